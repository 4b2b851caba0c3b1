//! Turning log records into view changes.

use chrono::{DateTime, Utc};
use hookline_domain::{topics, AttemptRecorded, SubscriptionEvent, SubscriptionId, TaskId, TaskView};
use hookline_log::Record;
use hookline_views::ViewChange;
use serde::Deserialize;

/// The part of a TaskAccepted the views keep; the payload is skipped, not copied.
#[derive(Deserialize)]
struct TaskHead {
    task_id: TaskId,
    subscription_id: SubscriptionId,
    #[serde(default)]
    event_type: Option<String>,
    accepted_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unexpected topic {0}")]
    UnexpectedTopic(String),
    #[error("malformed event: {0}")]
    Malformed(#[from] serde_json::Error),
}

/// The view change a record of one of the projector's topics stands for.
pub fn decode(record: &Record) -> Result<ViewChange, DecodeError> {
    match record.topic.as_str() {
        topics::SUBSCRIPTIONS => {
            Ok(ViewChange::Subscription(serde_json::from_slice::<SubscriptionEvent>(&record.value)?))
        }
        topics::DELIVERIES => {
            let head: TaskHead = serde_json::from_slice(&record.value)?;
            Ok(ViewChange::Task(TaskView {
                task_id: head.task_id,
                subscription_id: head.subscription_id,
                event_type: head.event_type,
                created_at: head.accepted_at,
                last_attempt: None,
            }))
        }
        topics::ATTEMPTS => Ok(ViewChange::Attempt(serde_json::from_slice::<AttemptRecorded>(&record.value)?)),
        other => Err(DecodeError::UnexpectedTopic(other.to_string())),
    }
}
