//! Domain events as log records: one place decides how every role writes an event,
//! and how a task is read back from a record that holds it.
//!
//! Consumes: domain events; records read back from the log. Produces: [`NewRecord`]s
//! ready to append; the task a record holds. Guarantees: an event goes to its topic,
//! keyed by its subscription id (so that a subscription's records stay in order in
//! one partition), with its kind in [`topics::EVENT_HEADER`] and its JSON as the value.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use hookline_domain::{
    topics, EventAccepted, OperationalEvent, ReplayEvent, ReplayMark, RetryPolicy, RetryScheduled, SubscriptionEvent,
    SubscriptionId, TaskAccepted, TaskDeadLettered, TenantEvent,
};
use hookline_log::{NewRecord, Record};
use serde::Serialize;

/// `value` as a record of `topic` for `subscription`, its kind named in the header.
pub fn event_record(topic: &str, subscription: SubscriptionId, kind: &str, value: &impl Serialize) -> NewRecord {
    keyed_record(topic, subscription.to_string().into_bytes(), kind, value)
}

/// `value` as a record of `topic` under `key`, its kind named in the header.
fn keyed_record(topic: &str, key: Vec<u8>, kind: &str, value: &impl Serialize) -> NewRecord {
    NewRecord {
        topic: topic.to_string(),
        key,
        headers: vec![(topics::EVENT_HEADER.to_string(), kind.as_bytes().to_vec())],
        // The events are plain structs with string keys and raw JSON payloads: serializing cannot fail.
        value: serde_json::to_vec(value).expect("domain events always serialize"),
    }
}

/// A subscription change for `hookline.subscriptions` (pass it with its secrets
/// sealed when they are stored sealed).
pub fn subscription_record(event: &SubscriptionEvent) -> NewRecord {
    event_record(topics::SUBSCRIPTIONS, event.subscription_id(), event.kind(), event)
}

/// A tenant or token change for `hookline.tenants`, keyed by tenant id.
pub fn tenant_record(event: &TenantEvent) -> NewRecord {
    keyed_record(topics::TENANTS, event.tenant_id().as_str().as_bytes().to_vec(), event.kind(), event)
}

/// An event sent to a tenant, for `hookline.fanout`, keyed by tenant id.
pub fn event_accepted_record(event: &EventAccepted) -> NewRecord {
    keyed_record(topics::FANOUT, event.tenant_id.as_str().as_bytes().to_vec(), EventAccepted::KIND, event)
}

/// A replay's request, progress, cancellation or end, for `hookline.replays`, keyed
/// by replay id.
pub fn replay_record(event: &ReplayEvent) -> NewRecord {
    keyed_record(topics::REPLAYS, event.replay_id().to_string().into_bytes(), event.kind(), event)
}

/// A decision for `hookline.operational`, keyed by tenant id.
pub fn operational_record(event: &OperationalEvent) -> NewRecord {
    keyed_record(topics::OPERATIONAL, event.tenant_id.as_str().as_bytes().to_vec(), OperationalEvent::KIND, event)
}

/// Header of an operational record that a subscription change made: the version the
/// change stated and its write id (`<version>:<write id>`). The change and the record
/// are appended together, but the log may refuse the change (another landed first):
/// whoever acts on the record first learns whether the change was applied.
pub const DECIDED_BY_HEADER: &str = "hookline-decided-by";

/// A subscription change (pass it sealed, see [`subscription_record`]) and the
/// decision it records, if any, for one append: the change first, then the decision,
/// marked with the change that made it ([`DECIDED_BY_HEADER`]).
pub fn change_records(change: &SubscriptionEvent, decision: Option<&OperationalEvent>) -> Vec<NewRecord> {
    let mut records = vec![subscription_record(change)];
    if let Some(decision) = decision {
        let mut record = operational_record(decision);
        if let Some(write_id) = change.write_id() {
            let made_by = format!("{}:{write_id}", change.version());
            record.headers.push((DECIDED_BY_HEADER.to_string(), made_by.into_bytes()));
        }
        records.push(record);
    }
    records
}

/// The change (version stated, write id) an operational record was made by, when a
/// subscription change made it.
pub fn decided_by(record: &Record) -> Option<(u64, uuid::Uuid)> {
    let text = std::str::from_utf8(record.header(DECIDED_BY_HEADER)?).ok()?;
    let (version, write_id) = text.split_once(':')?;
    Some((version.parse().ok()?, write_id.parse().ok()?))
}

/// An accepted webhook for `hookline.deliveries`.
pub fn task_accepted_record(accepted: &TaskAccepted) -> NewRecord {
    event_record(topics::DELIVERIES, accepted.subscription_id, TaskAccepted::KIND, accepted)
}

/// `retry` in the retry tier of `delay`.
pub fn retry_in_tier(delay: Duration, retry: &RetryScheduled) -> NewRecord {
    event_record(&topics::retry_tier(delay.as_secs()), retry.task.subscription_id, RetryScheduled::KIND, retry)
}

/// `task`, its `attempt` not yet made (carrying `replay`, the mark of the replay that
/// queued it, if one did), in the retry tier of `delay`, due after it from `now`;
/// `None` if that moment cannot be represented.
pub fn put_back(
    delay: Duration,
    task: &TaskAccepted,
    attempt: u32,
    replay: Option<&ReplayMark>,
    now: DateTime<Utc>,
) -> Option<NewRecord> {
    let due_at = TimeDelta::from_std(delay).ok().and_then(|delta| now.checked_add_signed(delta))?;
    let retry = RetryScheduled { task: task.clone(), attempt, due_at, replay: replay.cloned() };
    Some(retry_in_tier(delay, &retry))
}

/// The record that sends a task again on someone's request: attempt `attempt` (one
/// past its last, whatever the policy's number of attempts), due at `due_at`, in the
/// shortest tier, so that it is made as soon as that tier's consumer reads it and it
/// is due. A retry by hand is due at once and carries no mark; a replay marks each
/// attempt it queues with `replay` and paces them by their due times, each due no
/// further ahead of its append than the shortest tier's delay (a tier holds a record at
/// most its delay). Its outcome is recorded as any attempt's: a failure past the last
/// scheduled attempt ends the task dead-lettered again. `None` when the policy has no
/// tiers.
pub fn retried_by_hand(
    policy: &RetryPolicy,
    task: &TaskAccepted,
    attempt: u32,
    due_at: DateTime<Utc>,
    replay: Option<ReplayMark>,
) -> Option<NewRecord> {
    let retry = RetryScheduled { task: task.clone(), attempt, due_at, replay };
    Some(retry_in_tier(*policy.tier_delays().first()?, &retry))
}

/// Why a record read back holds no task.
#[derive(Debug, thiserror::Error)]
pub enum TaskRecordError {
    #[error("a {kind} record holds no task")]
    NotATask { kind: String },
    #[error("malformed {kind} record: {source}")]
    Malformed { kind: &'static str, source: serde_json::Error },
}

/// The task a TaskAccepted or TaskDeadLettered record holds, payload byte for byte:
/// where the views point for a task's payload.
pub fn task_of_record(record: &Record) -> Result<TaskAccepted, TaskRecordError> {
    let kind = record.header(topics::EVENT_HEADER).unwrap_or_default();
    let malformed = |kind| move |source| TaskRecordError::Malformed { kind, source };
    if kind == TaskAccepted::KIND.as_bytes() {
        serde_json::from_slice(&record.value).map_err(malformed(TaskAccepted::KIND))
    } else if kind == TaskDeadLettered::KIND.as_bytes() {
        let dead: TaskDeadLettered =
            serde_json::from_slice(&record.value).map_err(malformed(TaskDeadLettered::KIND))?;
        Ok(dead.task)
    } else {
        Err(TaskRecordError::NotATask { kind: String::from_utf8_lossy(kind).into_owned() })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::value::RawValue;

    use super::*;

    fn task() -> TaskAccepted {
        TaskAccepted {
            task_id: hookline_domain::TaskId::new(),
            subscription_id: SubscriptionId::new(),
            event_type: Some("order.paid".into()),
            accepted_at: Utc::now(),
            payload: RawValue::from_string(r#"{"n": 1}"#.into()).unwrap(),
            event_id: None,
            ordering_key: None,
            trace: None,
        }
    }

    #[test]
    fn an_accepted_task_goes_to_deliveries_keyed_by_its_subscription() {
        let task = task();
        let record = task_accepted_record(&task);
        assert_eq!(record.topic, topics::DELIVERIES);
        assert_eq!(record.key, task.subscription_id.to_string().into_bytes());
        assert_eq!(record.headers, vec![(topics::EVENT_HEADER.to_string(), TaskAccepted::KIND.as_bytes().to_vec())]);
        let back: TaskAccepted = serde_json::from_slice(&record.value).unwrap();
        assert_eq!((back.task_id, back.payload.get()), (task.task_id, r#"{"n": 1}"#));
    }

    /// `record` as the log hands it back.
    fn read_back(record: NewRecord) -> Record {
        Record {
            topic: record.topic,
            partition: 0,
            offset: 9,
            timestamp_ms: 0,
            key: record.key,
            headers: record.headers,
            value: record.value,
        }
    }

    #[test]
    fn a_task_is_read_back_from_its_acceptance_or_its_dead_letter() {
        let task = task();
        let accepted = read_back(task_accepted_record(&task));
        assert_eq!(task_of_record(&accepted).unwrap().payload.get(), task.payload.get());
        let dead = TaskDeadLettered { task: task.clone(), attempts: 5, last_error: None, failed_at: Utc::now() };
        let dead = read_back(event_record(topics::DLQ, task.subscription_id, TaskDeadLettered::KIND, &dead));
        let back = task_of_record(&dead).unwrap();
        assert_eq!((back.task_id, back.payload.get()), (task.task_id, task.payload.get()));
        let retry = read_back(put_back(Duration::from_secs(10), &task, 2, None, Utc::now()).unwrap());
        assert!(matches!(task_of_record(&retry), Err(TaskRecordError::NotATask { kind }) if kind == "RetryScheduled"));
        let broken = Record { value: b"{".to_vec(), ..accepted };
        assert!(matches!(task_of_record(&broken), Err(TaskRecordError::Malformed { .. })));
    }

    #[test]
    fn a_decision_travels_with_its_change_and_names_it() {
        let at = Utc::now();
        let live = hookline_domain::Subscription::new(SubscriptionId::new(), "https://example.com/h", at);
        let write_id = uuid::Uuid::new_v4();
        let disabled = live.next_version(write_id).disabled("disabled by user", at);
        let decision =
            OperationalEvent::of_change(&live, &disabled, hookline_domain::operational::DisableCause::ByHand);
        let change = SubscriptionEvent::SubscriptionUpdated { subscription: disabled };
        let records = change_records(&change, decision.as_ref());
        assert_eq!(
            records.iter().map(|r| r.topic.as_str()).collect::<Vec<_>>(),
            [topics::SUBSCRIPTIONS, topics::OPERATIONAL]
        );
        assert_eq!(decided_by(&read_back(records[1].clone())), Some((2, write_id)));
        assert_eq!(decided_by(&read_back(operational_record(decision.as_ref().unwrap()))), None);
        assert_eq!(change_records(&change, None).len(), 1);
    }

    #[test]
    fn a_retry_by_hand_is_due_now_in_the_shortest_tier() {
        let (task, now) = (task(), Utc::now());
        let policy = RetryPolicy::default();
        let record = retried_by_hand(&policy, &task, 6, now, None).unwrap();
        let shortest = policy.tier_delays()[0].as_secs();
        assert_eq!(record.topic, topics::retry_tier(shortest));
        assert_eq!(record.key, task.subscription_id.to_string().into_bytes());
        assert_eq!(record.headers, vec![(topics::EVENT_HEADER.to_string(), RetryScheduled::KIND.as_bytes().to_vec())]);
        let retry: RetryScheduled = serde_json::from_slice(&record.value).unwrap();
        assert_eq!((retry.attempt, retry.due_at, retry.task.payload.get()), (6, now, task.payload.get()));
        assert_eq!(retry.replay, None);
        assert_eq!(retried_by_hand(&RetryPolicy { max_attempts: 1, ..policy.clone() }, &task, 2, now, None), None);
        let mark = ReplayMark { replay_id: hookline_domain::ReplayId::new(), target_url: None };
        let later = put_back(Duration::from_secs(10), &task, 2, Some(&mark), now).unwrap();
        let retry: RetryScheduled = serde_json::from_slice(&later.value).unwrap();
        assert_eq!((retry.due_at, retry.replay), (now + TimeDelta::seconds(10), Some(mark.clone())));
        let paced = now + TimeDelta::milliseconds(2500);
        let replayed = retried_by_hand(&policy, &task, 6, paced, Some(mark.clone())).unwrap();
        let retry: RetryScheduled = serde_json::from_slice(&replayed.value).unwrap();
        assert_eq!((replayed.topic, retry.due_at, retry.replay), (topics::retry_tier(shortest), paced, Some(mark)));
    }
}
