//! Log records as the consumers decode them: the delivery role's work and the
//! projector's view changes. What decodes, written back as the record it stands for,
//! decodes to the same thing; a task's or an event's change points at the record it
//! came from, and a task's agrees with the task that record holds.

use hookline_delivery::decode::{decode as decode_work, SourceKind, Work};
use hookline_domain::{topics, AttemptRecorded, RetryScheduled, TaskAccepted, TaskDeadLettered};
use hookline_log::Record;
use hookline_projector::decode as decode_change;
use hookline_views::ViewChange;

use crate::events::serialize;

fn record(topic: &str, value: Vec<u8>) -> Record {
    Record {
        topic: topic.to_string(),
        partition: 0,
        offset: 0,
        timestamp_ms: 0,
        key: Vec::new(),
        headers: Vec::new(),
        value,
    }
}

/// Input: one byte choosing the source (first attempts or a retry tier), then the value.
pub fn delivery_record(data: &[u8]) {
    let Some((choice, value)) = data.split_first() else { return };
    let kind = if choice % 2 == 0 { SourceKind::FirstAttempts } else { SourceKind::RetryTier };
    let Ok(work) = decode_work(kind, &record(topics::DELIVERIES, value.to_vec())) else { return };
    assert!(work.attempt >= 1, "attempt {}", work.attempt);
    if kind == SourceKind::FirstAttempts {
        assert_eq!((work.attempt, work.due_at), (1, None));
    }

    let again = decode_work(kind, &record(topics::DELIVERIES, work_record_value(kind, &work)))
        .unwrap_or_else(|e| panic!("re-encoded work does not decode: {e}"));
    assert_eq!((again.attempt, again.due_at, &again.replay), (work.attempt, work.due_at, &work.replay));
    assert_eq!(serialize(&again.task), serialize(&work.task));
}

/// The record value `work` was decoded from, up to the spelling of its JSON.
fn work_record_value(kind: SourceKind, work: &Work) -> Vec<u8> {
    match (kind, work.due_at) {
        (SourceKind::FirstAttempts, _) => serialize(&work.task),
        (SourceKind::RetryTier, Some(due_at)) => serialize(&RetryScheduled {
            task: work.task.clone(),
            attempt: work.attempt,
            due_at,
            replay: work.replay.clone(),
        }),
        (SourceKind::RetryTier, None) => panic!("a retry decoded without a due time"),
    }
}

/// The projector's topics, and one it does not read.
const PROJECTOR_TOPICS: [&str; 7] = [
    topics::SUBSCRIPTIONS,
    topics::DELIVERIES,
    topics::ATTEMPTS,
    topics::DLQ,
    topics::FANOUT,
    topics::REPLAYS,
    topics::INGEST,
];

/// Input: one byte choosing the topic and whether the record names its kind in
/// [`topics::EVENT_HEADER`] (as every record hookline writes does), then the value.
pub fn projector_record(data: &[u8]) {
    let Some((choice, value)) = data.split_first() else { return };
    let topic = PROJECTOR_TOPICS[usize::from(*choice) % PROJECTOR_TOPICS.len()];
    let mut original = record(topic, value.to_vec());
    (original.partition, original.offset) = (u32::from(*choice), u64::from(*choice) * 1000);
    if choice / 5 % 2 == 1 {
        original.headers.push((topics::EVENT_HEADER.to_string(), TaskDeadLettered::KIND.as_bytes().to_vec()));
    }
    let mut changes = match decode_change(&original) {
        Err(_) => return,
        Ok(changes) => changes.into_iter(),
    };
    let Some(change) = changes.next() else {
        // Only the dead-letter topic's copies of undecodable records are skipped.
        assert_eq!(topic, topics::DLQ, "a {topic} record skipped");
        assert!(original.header(topics::EVENT_HEADER).is_none(), "a dead letter skipped");
        return;
    };
    // The only second change: a keyed task's place in its line, at its own record.
    for extra in changes {
        let ViewChange::JoinedLine(entry) = &extra else { panic!("a {topic} record decoded as {extra:?} too") };
        let ViewChange::Task { task, .. } = &change else { panic!("a line entry without its task: {change:?}") };
        assert_eq!((entry.task_id, topic), (task.task_id, topics::DELIVERIES));
        assert_eq!((entry.position.partition, entry.position.offset), (original.partition, original.offset));
    }

    let (task_id, payload_at) = match &change {
        ViewChange::Task { task, payload_at } => (task.task_id, payload_at),
        ViewChange::DeadLettered { task, payload_at, .. } => (task.task_id, payload_at),
        ViewChange::Subscription(_) | ViewChange::Attempt(_) | ViewChange::Replay(_) => {
            let again = change_record(&change);
            assert_eq!(again.topic, topic, "a {topic} record decoded as {change:?}");
            let decoded_again = decode_change(&again).unwrap_or_else(|e| panic!("re-encoded {change:?}: {e}"));
            let decoded_again =
                decoded_again.into_iter().next().unwrap_or_else(|| panic!("re-encoded {change:?} skipped"));
            let value = |record: Record| String::from_utf8_lossy(&record.value).into_owned();
            assert_eq!(value(change_record(&decoded_again)), value(again));
            return;
        }
        ViewChange::Event(event) => {
            let at = &event.payload_at;
            assert_eq!(
                (at.topic.as_str(), at.partition, at.offset),
                (topic, original.partition, original.offset),
                "an event change must point at its own record"
            );
            return;
        }
        ViewChange::TokenUsed { .. } | ViewChange::JoinedLine(_) => {
            unreachable!("token uses have no topic, line entries come second: {change:?}")
        }
    };
    assert_eq!(
        (payload_at.topic.as_str(), payload_at.partition, payload_at.offset),
        (topic, original.partition, original.offset),
        "a task change must point at its own record"
    );
    // The record read back by that position holds the same task (unless it lacks a payload).
    if topic == topics::DELIVERIES {
        original.headers.push((topics::EVENT_HEADER.to_string(), TaskAccepted::KIND.as_bytes().to_vec()));
    }
    if let Ok(held) = hookline_records::task_of_record(&original) {
        assert_eq!(held.task_id, task_id, "the record holds another task");
    }
}

/// The record hookline writes for the subscription, attempt or replay event `change` stands for.
fn change_record(change: &ViewChange) -> Record {
    let (topic, kind, value) = match change {
        ViewChange::Subscription(event) => (topics::SUBSCRIPTIONS, event.kind(), serialize(event)),
        ViewChange::Attempt(attempt) => (topics::ATTEMPTS, AttemptRecorded::KIND, serialize(attempt)),
        ViewChange::Replay(event) => (topics::REPLAYS, event.kind(), serialize(event)),
        ViewChange::Task { .. }
        | ViewChange::DeadLettered { .. }
        | ViewChange::Event(_)
        | ViewChange::TokenUsed { .. }
        | ViewChange::JoinedLine(_) => unreachable!("only subscription, attempt and replay changes are re-encoded"),
    };
    let mut record = record(topic, value);
    record.headers.push((topics::EVENT_HEADER.to_string(), kind.as_bytes().to_vec()));
    record
}
