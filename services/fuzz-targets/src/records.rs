//! Log records as the consumers decode them: the delivery role's work and the
//! projector's view changes. What decodes, written back as the record it stands for,
//! decodes to the same thing.

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
    assert_eq!((again.attempt, again.due_at), (work.attempt, work.due_at));
    assert_eq!(serialize(&again.task), serialize(&work.task));
}

/// The record value `work` was decoded from, up to the spelling of its JSON.
fn work_record_value(kind: SourceKind, work: &Work) -> Vec<u8> {
    match (kind, work.due_at) {
        (SourceKind::FirstAttempts, _) => serialize(&work.task),
        (SourceKind::RetryTier, Some(due_at)) => {
            serialize(&RetryScheduled { task: work.task.clone(), attempt: work.attempt, due_at })
        }
        (SourceKind::RetryTier, None) => panic!("a retry decoded without a due time"),
    }
}

/// The projector's topics, and one it does not read.
const PROJECTOR_TOPICS: [&str; 5] =
    [topics::SUBSCRIPTIONS, topics::DELIVERIES, topics::ATTEMPTS, topics::DLQ, topics::INGEST];

/// Input: one byte choosing the topic and whether the record names its kind in
/// [`topics::EVENT_HEADER`] (as every record hookline writes does), then the value.
pub fn projector_record(data: &[u8]) {
    let Some((choice, value)) = data.split_first() else { return };
    let topic = PROJECTOR_TOPICS[usize::from(*choice) % PROJECTOR_TOPICS.len()];
    let mut original = record(topic, value.to_vec());
    if choice / 5 % 2 == 1 {
        original.headers.push((topics::EVENT_HEADER.to_string(), TaskDeadLettered::KIND.as_bytes().to_vec()));
    }
    let change = match decode_change(&original) {
        Err(_) => return,
        Ok(None) => {
            // Only the dead-letter topic's copies of undecodable records are skipped.
            assert_eq!(topic, topics::DLQ, "a {topic} record skipped");
            assert!(original.header(topics::EVENT_HEADER).is_none(), "a dead letter skipped");
            return;
        }
        Ok(Some(change)) => change,
    };

    let again = change_record(&change);
    assert_eq!(again.topic, topic, "a {topic} record decoded as {change:?}");
    let decoded_again = decode_change(&again).unwrap_or_else(|e| panic!("re-encoded {change:?}: {e}"));
    let decoded_again = decoded_again.unwrap_or_else(|| panic!("re-encoded {change:?} skipped"));
    assert_eq!(String::from_utf8_lossy(&change_record(&decoded_again).value), String::from_utf8_lossy(&again.value));
}

/// The record hookline writes for the event `change` stands for.
fn change_record(change: &ViewChange) -> Record {
    let (topic, kind, value) = match change {
        ViewChange::Subscription(event) => (topics::SUBSCRIPTIONS, event.kind(), serialize(event)),
        ViewChange::Task(task) => (topics::DELIVERIES, TaskAccepted::KIND, serialize(task)),
        ViewChange::Attempt(attempt) => (topics::ATTEMPTS, AttemptRecorded::KIND, serialize(attempt)),
        ViewChange::DeadLettered(dead) => (topics::DLQ, TaskDeadLettered::KIND, serialize(dead)),
    };
    let mut record = record(topic, value);
    record.headers.push((topics::EVENT_HEADER.to_string(), kind.as_bytes().to_vec()));
    record
}
