//! Turning log records into view changes.

use chrono::{DateTime, Utc};
use hookline_domain::{
    topics, AttemptRecorded, EventAccepted, LogPosition, ReplayEvent, SubscriptionEvent, SubscriptionId,
    TaskDeadLettered, TaskId, TaskView,
};
use hookline_log::Record;
use hookline_views::{EventView, ViewChange};
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unexpected topic {0}")]
    UnexpectedTopic(String),
    #[error("malformed event: {0}")]
    Malformed(#[from] serde_json::Error),
}

/// A TaskAccepted as the views need it: everything but the payload, which stays in
/// the log (serde skips over it without keeping it).
#[derive(Deserialize)]
struct AcceptedHead {
    task_id: TaskId,
    subscription_id: SubscriptionId,
    #[serde(default)]
    event_type: Option<String>,
    accepted_at: DateTime<Utc>,
}

impl AcceptedHead {
    fn into_view(self) -> TaskView {
        TaskView {
            task_id: self.task_id,
            subscription_id: self.subscription_id,
            event_type: self.event_type,
            created_at: self.accepted_at,
            last_attempt: None,
        }
    }
}

/// A TaskDeadLettered as the views need it.
#[derive(Deserialize)]
struct DeadLetterHead {
    task: AcceptedHead,
    failed_at: DateTime<Utc>,
}

/// The view change a record of one of the projector's topics stands for; `None`
/// for a record the views have no use for (a dead-letter topic copy of a record
/// that could not be worked on, which is no `TaskDeadLettered`). A task's or an
/// event's change points at the record, which holds its payload.
pub fn decode(record: &Record) -> Result<Option<ViewChange>, DecodeError> {
    let change = match record.topic.as_str() {
        topics::SUBSCRIPTIONS => ViewChange::Subscription(serde_json::from_slice::<SubscriptionEvent>(&record.value)?),
        topics::DELIVERIES => {
            let head: AcceptedHead = serde_json::from_slice(&record.value)?;
            ViewChange::Task { task: head.into_view(), payload_at: position(record) }
        }
        topics::ATTEMPTS => ViewChange::Attempt(serde_json::from_slice::<AttemptRecorded>(&record.value)?),
        topics::DLQ if is_dead_letter(record) => {
            let head: DeadLetterHead = serde_json::from_slice(&record.value)?;
            ViewChange::DeadLettered {
                task: head.task.into_view(),
                failed_at: head.failed_at,
                payload_at: position(record),
            }
        }
        topics::DLQ => return Ok(None),
        topics::FANOUT => {
            let event: EventAccepted = serde_json::from_slice(&record.value)?;
            ViewChange::Event(Box::new(EventView::of(&event, position(record))))
        }
        topics::REPLAYS => ViewChange::Replay(serde_json::from_slice::<ReplayEvent>(&record.value)?),
        other => return Err(DecodeError::UnexpectedTopic(other.to_string())),
    };
    Ok(Some(change))
}

fn position(record: &Record) -> LogPosition {
    LogPosition { topic: record.topic.clone(), partition: record.partition, offset: record.offset }
}

fn is_dead_letter(record: &Record) -> bool {
    record
        .headers
        .iter()
        .any(|(name, value)| name == topics::EVENT_HEADER && value == TaskDeadLettered::KIND.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(topic: &str, kind: &str, value: &str) -> Record {
        Record {
            topic: topic.into(),
            partition: 4,
            offset: 77,
            timestamp_ms: 0,
            key: Vec::new(),
            headers: vec![(topics::EVENT_HEADER.to_string(), kind.as_bytes().to_vec())],
            value: value.as_bytes().to_vec(),
        }
    }

    const TASK: &str = r#"{"task_id":"0190a5b4-7f43-7cc2-9a3e-2b1f6c8d9e01","subscription_id":"0190a5b4-7f43-7cc2-9a3e-2b1f6c8d9e02","accepted_at":"2024-01-01T00:00:00Z","payload":{"b":1,  "a":12345678901234567890123}}"#;

    #[test]
    fn accepted_tasks_point_at_their_record() {
        let Some(ViewChange::Task { task, payload_at }) =
            decode(&record(topics::DELIVERIES, "TaskAccepted", TASK)).unwrap()
        else {
            panic!("a TaskAccepted is a Task change");
        };
        assert_eq!(task.task_id.to_string(), "0190a5b4-7f43-7cc2-9a3e-2b1f6c8d9e01");
        assert_eq!((task.created_at.to_rfc3339(), task.last_attempt), ("2024-01-01T00:00:00+00:00".into(), None));
        assert_eq!(payload_at, LogPosition { topic: topics::DELIVERIES.into(), partition: 4, offset: 77 });
    }

    #[test]
    fn dead_letters_point_at_their_record_and_copies_of_bad_records_are_skipped() {
        let dead =
            format!(r#"{{"task":{TASK},"attempts":5,"last_error":"HTTP 500","failed_at":"2024-01-01T00:05:00Z"}}"#);
        let change = decode(&record(topics::DLQ, TaskDeadLettered::KIND, &dead)).unwrap();
        let Some(ViewChange::DeadLettered { task, failed_at, payload_at }) = change else {
            panic!("a dead letter is a DeadLettered change");
        };
        let task_id = task.task_id;
        assert_eq!(
            (task_id.to_string(), failed_at.to_rfc3339()),
            ("0190a5b4-7f43-7cc2-9a3e-2b1f6c8d9e01".into(), "2024-01-01T00:05:00+00:00".into())
        );
        assert_eq!(payload_at, LogPosition { topic: topics::DLQ.into(), partition: 4, offset: 77 });
        assert!(decode(&record(topics::DLQ, "TaskAccepted", "not json")).unwrap().is_none());
        assert!(decode(&record(topics::DLQ, TaskDeadLettered::KIND, "not json")).is_err());
        assert!(decode(&record("hookline.elsewhere", "TaskAccepted", TASK)).is_err());
    }

    #[test]
    fn replay_records_are_replay_changes() {
        let progressed = r#"{"type":"ReplayProgressed","replay_id":"0190a5b4-7f43-7cc2-9a3e-2b1f6c8d9e04","queued":7,"next":{"subscription_index":1,"page":"c"},"at":"2024-01-01T00:00:00Z"}"#;
        let Some(ViewChange::Replay(event)) = decode(&record(topics::REPLAYS, "ReplayProgressed", progressed)).unwrap()
        else {
            panic!("a replay record is a Replay change");
        };
        assert_eq!(
            (event.kind(), event.replay_id().to_string()),
            ("ReplayProgressed", "0190a5b4-7f43-7cc2-9a3e-2b1f6c8d9e04".into())
        );
        assert!(decode(&record(topics::REPLAYS, "ReplayProgressed", r#"{"type":"ReplayExploded"}"#)).is_err());
    }

    #[test]
    fn events_point_at_their_record_without_their_payload() {
        let event = r#"{"event_id":"0190a5b4-7f43-7cc2-9a3e-2b1f6c8d9e03","tenant_id":"acme","event_type":"order.created","accepted_at":"2024-01-01T00:00:00Z","idempotency_key":"k-1","subscriptions":["0190a5b4-7f43-7cc2-9a3e-2b1f6c8d9e02"],"payload":{"b":1}}"#;
        let Some(ViewChange::Event(view)) = decode(&record(topics::FANOUT, EventAccepted::KIND, event)).unwrap() else {
            panic!("an EventAccepted is an Event change");
        };
        assert_eq!(view.event_id.to_string(), "0190a5b4-7f43-7cc2-9a3e-2b1f6c8d9e03");
        assert_eq!((view.tenant_id.as_str(), view.event_type.as_str()), ("acme", "order.created"));
        assert_eq!(view.idempotency_key.as_deref(), Some("k-1"));
        assert_eq!(view.subscriptions.len(), 1);
        assert_eq!(view.payload_at, LogPosition { topic: topics::FANOUT.into(), partition: 4, offset: 77 });
        assert!(decode(&record(topics::FANOUT, EventAccepted::KIND, "not json")).is_err());
        let bad_tenant = event.replace(r#""acme""#, r#""Not A Tenant""#);
        assert!(decode(&record(topics::FANOUT, EventAccepted::KIND, &bad_tenant)).is_err());
    }
}
