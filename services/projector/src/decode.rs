//! Turning log records into view changes.

use hookline_domain::{topics, AttemptRecorded, SubscriptionEvent, TaskAccepted, TaskDeadLettered};
use hookline_log::Record;
use hookline_views::ViewChange;

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unexpected topic {0}")]
    UnexpectedTopic(String),
    #[error("malformed event: {0}")]
    Malformed(#[from] serde_json::Error),
}

/// The view change a record of one of the projector's topics stands for; `None`
/// for a record the views have no use for (a dead-letter topic copy of a record
/// that could not be worked on, which is no `TaskDeadLettered`).
pub fn decode(record: &Record) -> Result<Option<ViewChange>, DecodeError> {
    let change = match record.topic.as_str() {
        topics::SUBSCRIPTIONS => ViewChange::Subscription(serde_json::from_slice::<SubscriptionEvent>(&record.value)?),
        // The payload is kept raw, as ingested, for a retry by hand.
        topics::DELIVERIES => ViewChange::Task(serde_json::from_slice::<TaskAccepted>(&record.value)?),
        topics::ATTEMPTS => ViewChange::Attempt(serde_json::from_slice::<AttemptRecorded>(&record.value)?),
        topics::DLQ if is_dead_letter(record) => {
            ViewChange::DeadLettered(serde_json::from_slice::<TaskDeadLettered>(&record.value)?)
        }
        topics::DLQ => return Ok(None),
        other => return Err(DecodeError::UnexpectedTopic(other.to_string())),
    };
    Ok(Some(change))
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
            partition: 0,
            offset: 0,
            timestamp_ms: 0,
            key: Vec::new(),
            headers: vec![(topics::EVENT_HEADER.to_string(), kind.as_bytes().to_vec())],
            value: value.as_bytes().to_vec(),
        }
    }

    const TASK: &str = r#"{"task_id":"0190a5b4-7f43-7cc2-9a3e-2b1f6c8d9e01","subscription_id":"0190a5b4-7f43-7cc2-9a3e-2b1f6c8d9e02","accepted_at":"2024-01-01T00:00:00Z","payload":{"b":1,  "a":12345678901234567890123}}"#;

    #[test]
    fn accepted_tasks_keep_their_raw_payload() {
        let Some(ViewChange::Task(task)) = decode(&record(topics::DELIVERIES, "TaskAccepted", TASK)).unwrap() else {
            panic!("a TaskAccepted is a Task change");
        };
        assert_eq!(task.payload.get(), r#"{"b":1,  "a":12345678901234567890123}"#);
    }

    #[test]
    fn dead_letters_keep_their_payload_and_copies_of_bad_records_are_skipped() {
        let dead =
            format!(r#"{{"task":{TASK},"attempts":5,"last_error":"HTTP 500","failed_at":"2024-01-01T00:05:00Z"}}"#);
        let change = decode(&record(topics::DLQ, TaskDeadLettered::KIND, &dead)).unwrap();
        assert!(matches!(change, Some(ViewChange::DeadLettered(d)) if d.attempts == 5));
        assert!(decode(&record(topics::DLQ, "TaskAccepted", "not json")).unwrap().is_none());
        assert!(decode(&record(topics::DLQ, TaskDeadLettered::KIND, "not json")).is_err());
        assert!(decode(&record("hookline.elsewhere", "TaskAccepted", TASK)).is_err());
    }
}
