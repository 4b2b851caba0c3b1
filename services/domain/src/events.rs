//! The events that make up the log. Each topic carries one kind of value, except
//! the subscriptions topic which carries [`SubscriptionEvent`]; the record header
//! [`crate::topics::EVENT_HEADER`] names the kind.
//!
//! Payloads are kept as the raw JSON text that was ingested ([`RawValue`]): the
//! receiver gets exactly the bytes that were sent, big integers and key order
//! included. That is also why these structs are never internally tagged or
//! flattened: serde would buffer the payload and lose its exact text.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::ids::{EventId, ReplayId, SubscriptionId, TaskId};
use crate::replay::ReplayMark;
use crate::subscription::Subscription;
use crate::tenant::TenantId;
use crate::trace::TraceContext;

/// A change to a subscription (topic `hookline.subscriptions`, key = subscription id).
/// Created and Updated carry the whole subscription as it is after the change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum SubscriptionEvent {
    SubscriptionCreated {
        subscription: Subscription,
    },
    SubscriptionUpdated {
        subscription: Subscription,
    },
    SubscriptionDeleted {
        id: SubscriptionId,
        deleted_at: DateTime<Utc>,
        /// The version this deletion would be: one more than the version it read. 0 in
        /// events written before versions existed.
        #[serde(default)]
        version: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        write_id: Option<uuid::Uuid>,
    },
}

impl SubscriptionEvent {
    pub fn subscription_id(&self) -> SubscriptionId {
        match self {
            SubscriptionEvent::SubscriptionCreated { subscription }
            | SubscriptionEvent::SubscriptionUpdated { subscription } => subscription.id,
            SubscriptionEvent::SubscriptionDeleted { id, .. } => *id,
        }
    }

    /// The version the change would give the subscription (0: written before versions).
    pub fn version(&self) -> u64 {
        match self {
            SubscriptionEvent::SubscriptionCreated { subscription }
            | SubscriptionEvent::SubscriptionUpdated { subscription } => subscription.version,
            SubscriptionEvent::SubscriptionDeleted { version, .. } => *version,
        }
    }

    /// The write the change comes from, when its writer named one.
    pub fn write_id(&self) -> Option<uuid::Uuid> {
        match self {
            SubscriptionEvent::SubscriptionCreated { subscription }
            | SubscriptionEvent::SubscriptionUpdated { subscription } => subscription.write_id,
            SubscriptionEvent::SubscriptionDeleted { write_id, .. } => *write_id,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            SubscriptionEvent::SubscriptionCreated { .. } => "SubscriptionCreated",
            SubscriptionEvent::SubscriptionUpdated { .. } => "SubscriptionUpdated",
            SubscriptionEvent::SubscriptionDeleted { .. } => "SubscriptionDeleted",
        }
    }
}

/// An accepted webhook that must be delivered (topic `hookline.deliveries`,
/// key = subscription id). Appending it durably is what a 202 promises.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaskAccepted {
    pub task_id: TaskId,
    pub subscription_id: SubscriptionId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    pub accepted_at: DateTime<Utc>,
    pub payload: Box<RawValue>,
    /// The event this task delivers, when it came from one sent to a tenant (absent
    /// for a webhook sent to one subscription).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<EventId>,
    /// The ordering key it was sent with (see [`crate::ordering`]): on a subscription
    /// ordered by key, it is delivered after every earlier task with the same key
    /// has ended. Absent: unordered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering_key: Option<String>,
    /// The trace its attempts belong to: the span that accepted it (or expanded its
    /// event) when traces are exported, else the producer's `traceparent` as received.
    /// Retries and dead letters hold the whole task, so it follows them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceContext>,
}

impl TaskAccepted {
    pub const KIND: &'static str = "TaskAccepted";

    /// The `webhook-id` its deliveries carry: the event's id, the same for every
    /// subscription the event went to; otherwise the task's own id.
    pub fn webhook_id(&self) -> uuid::Uuid {
        self.event_id.map_or(self.task_id.0, |event| event.0)
    }
}

/// An event sent to a tenant (topic `hookline.fanout`, key = tenant id): one append,
/// however many subscriptions want it. The subscriptions were chosen when it was
/// accepted; expanding it into their tasks happens behind the 202, and gives every
/// task the id [`TaskId::for_event`], so that expanding it twice adds nothing.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EventAccepted {
    pub event_id: EventId,
    pub tenant_id: TenantId,
    pub event_type: String,
    pub accepted_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// Every enabled subscription of the tenant whose patterns matched, in id order.
    pub subscriptions: Vec<SubscriptionId>,
    pub payload: Box<RawValue>,
    /// The ordering key it was sent with, which each of its tasks carries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering_key: Option<String>,
    /// The trace it belongs to: the span that accepted it when traces are exported,
    /// else the producer's `traceparent` as received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceContext>,
}

impl EventAccepted {
    pub const KIND: &'static str = "EventAccepted";

    /// Its tasks' ids, in the order of its subscriptions.
    pub fn task_ids(&self) -> Vec<TaskId> {
        self.subscriptions.iter().map(|sub| TaskId::for_event(self.event_id, *sub)).collect()
    }

    /// The task that delivers it to `subscription`.
    pub fn task_for(&self, subscription: SubscriptionId) -> TaskAccepted {
        TaskAccepted {
            task_id: TaskId::for_event(self.event_id, subscription),
            subscription_id: subscription,
            event_type: Some(self.event_type.clone()),
            accepted_at: self.accepted_at,
            payload: self.payload.clone(),
            event_id: Some(self.event_id),
            ordering_key: self.ordering_key.clone(),
            trace: self.trace.clone(),
        }
    }
}

/// A task waiting in a retry tier for its next attempt (topic `hookline.retry.<delay>`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RetryScheduled {
    pub task: TaskAccepted,
    /// The number of the attempt to make when due (2 for the first retry).
    pub attempt: u32,
    pub due_at: DateTime<Utc>,
    /// Set on an attempt a replay queued, and kept on its retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<ReplayMark>,
}

impl RetryScheduled {
    pub const KIND: &'static str = "RetryScheduled";
}

/// The outcome of one attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Success,
    FailedAttempt,
    PermanentlyFailed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::FailedAttempt => "failed_attempt",
            Outcome::PermanentlyFailed => "permanently_failed",
        }
    }
}

/// One delivery attempt (topic `hookline.attempts`, key = subscription id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRecorded {
    pub task_id: TaskId,
    pub subscription_id: SubscriptionId,
    pub attempt_number: u32,
    pub outcome: Outcome,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    pub latency_ms: u64,
    /// The first [`crate::limits::RESPONSE_BODY_CAP`] bytes of the response, lossily decoded.
    pub response_body: Option<String>,
    pub attempted_at: DateTime<Utc>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When the task was accepted, so that the task view knows it even when the
    /// attempt is projected before the TaskAccepted.
    pub task_accepted_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    /// The replay that queued this attempt (or the one it retries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_id: Option<ReplayId>,
}

impl AttemptRecorded {
    pub const KIND: &'static str = "AttemptRecorded";
}

/// A task that ran out of attempts or can never be delivered (topic `hookline.dlq`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaskDeadLettered {
    pub task: TaskAccepted,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub failed_at: DateTime<Utc>,
}

impl TaskDeadLettered {
    pub const KIND: &'static str = "TaskDeadLettered";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_text_survives_a_round_trip() {
        let raw = r#"{"z":1,"a":123456789012345678901234567890,  "n":[1.50]}"#;
        let task = TaskAccepted {
            task_id: TaskId::new(),
            subscription_id: SubscriptionId::new(),
            event_type: Some("order.created".into()),
            accepted_at: Utc::now(),
            payload: RawValue::from_string(raw.to_string()).unwrap(),
            event_id: None,
            ordering_key: None,
            trace: None,
        };
        let encoded =
            serde_json::to_vec(&RetryScheduled { task, attempt: 2, due_at: Utc::now(), replay: None }).unwrap();
        let decoded: RetryScheduled = serde_json::from_slice(&encoded).unwrap();
        assert_eq!(decoded.task.payload.get(), raw);
    }

    #[test]
    fn an_event_expands_into_the_same_tasks_every_time() {
        let event = EventAccepted {
            event_id: EventId::new(),
            tenant_id: TenantId::default(),
            event_type: "order.created".into(),
            accepted_at: Utc::now(),
            idempotency_key: None,
            subscriptions: vec![SubscriptionId::new(), SubscriptionId::new()],
            payload: RawValue::from_string("{}".into()).unwrap(),
            ordering_key: Some("customer-42".into()),
            trace: None,
        };
        let tasks: Vec<TaskId> = event.subscriptions.iter().map(|s| event.task_for(*s).task_id).collect();
        assert_eq!(tasks, event.task_ids());
        let first = event.task_for(event.subscriptions[0]);
        let second = event.task_for(event.subscriptions[1]);
        assert_eq!(first.webhook_id(), event.event_id.0);
        assert_eq!(first.webhook_id(), second.webhook_id());
        assert_ne!(first.task_id, second.task_id);
        assert_eq!(first.ordering_key.as_deref(), Some("customer-42"));
    }
}
