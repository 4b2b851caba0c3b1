//! Operational events: what hookline decided on its own or was told to do, for the
//! operator and the tenant concerned (topic `hookline.operational`, key = tenant id).
//! They are also sent as webhooks, as events of their tenant whose type starts with
//! the reserved [`OPERATIONAL_TYPE_PREFIX`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{EventId, ReplayId, SubscriptionId, TaskId};
use crate::replay::ReplayState;
use crate::subscription::Subscription;
use crate::tenant::TenantId;

/// Event types that start with this are hookline's own: nobody else may send them.
pub const OPERATIONAL_TYPE_PREFIX: &str = "hookline.";
/// At most this many task ids are listed in one `task.exhausted`.
pub const EXHAUSTED_TASKS_LISTED: usize = 100;

/// Why a subscription was disabled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisableCause {
    /// The receiver answered 410 Gone.
    Gone,
    /// Every attempt failed for a sustained period.
    SustainedFailure,
    /// Someone disabled it through the API or the page.
    ByHand,
}

/// One decision: `type` names it, `data` holds its fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum OperationalData {
    #[serde(rename = "hookline.subscription.disabled")]
    SubscriptionDisabled {
        subscription_id: SubscriptionId,
        target_url: String,
        cause: DisableCause,
        /// The reason as the subscription shows it.
        reason: String,
    },
    #[serde(rename = "hookline.subscription.enabled")]
    SubscriptionEnabled { subscription_id: SubscriptionId, target_url: String },
    /// Tasks of one subscription that ran out of attempts, gathered over at most a minute.
    #[serde(rename = "hookline.task.exhausted")]
    TasksExhausted {
        subscription_id: SubscriptionId,
        count: u64,
        first_failed_at: DateTime<Utc>,
        last_failed_at: DateTime<Utc>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_error: Option<String>,
        /// The first [`EXHAUSTED_TASKS_LISTED`] of them.
        task_ids: Vec<TaskId>,
    },
    #[serde(rename = "hookline.replay.completed")]
    ReplayCompleted { replay_id: ReplayId, state: ReplayState, matched: u64, queued: u64, delivered: u64, failed: u64 },
}

impl OperationalData {
    /// The event type: what the webhook's type and a subscription's patterns name.
    pub fn event_type(&self) -> &'static str {
        match self {
            OperationalData::SubscriptionDisabled { .. } => "hookline.subscription.disabled",
            OperationalData::SubscriptionEnabled { .. } => "hookline.subscription.enabled",
            OperationalData::TasksExhausted { .. } => "hookline.task.exhausted",
            OperationalData::ReplayCompleted { .. } => "hookline.replay.completed",
        }
    }

    /// The subscription it is about, if one.
    pub fn subscription_id(&self) -> Option<SubscriptionId> {
        match self {
            OperationalData::SubscriptionDisabled { subscription_id, .. }
            | OperationalData::SubscriptionEnabled { subscription_id, .. }
            | OperationalData::TasksExhausted { subscription_id, .. } => Some(*subscription_id),
            OperationalData::ReplayCompleted { .. } => None,
        }
    }
}

/// A decision as recorded: also the body of its webhook (`type`, `timestamp`, `data`
/// are the Standard Webhooks payload fields).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationalEvent {
    /// Derived by the writer from the decision (see [`OperationalEvent::id_for`]), so
    /// that recording it twice sends one webhook id.
    pub event_id: EventId,
    pub tenant_id: TenantId,
    pub timestamp: DateTime<Utc>,
    #[serde(flatten)]
    pub data: OperationalData,
}

impl OperationalEvent {
    pub const KIND: &'static str = "OperationalEvent";

    /// The id of the event that records a decision named `decision` (for example the
    /// subscription and the version its disabling made).
    pub fn id_for(tenant: &TenantId, decision: &[u8]) -> EventId {
        EventId::derived(tenant, &[b"operational\0".as_slice(), decision].concat())
    }

    pub fn event_type(&self) -> &'static str {
        self.data.event_type()
    }

    /// The decision a subscription change records, if it is one: `before` enabled and
    /// `after` not is a disabling (for `cause`), the other way round an enabling. Its id
    /// names the subscription and the version the change made, so that writing the
    /// same change again names the same event.
    pub fn of_change(before: &Subscription, after: &Subscription, cause: DisableCause) -> Option<OperationalEvent> {
        let data = match (before.enabled, after.enabled) {
            (true, false) => OperationalData::SubscriptionDisabled {
                subscription_id: after.id,
                target_url: after.target_url.clone(),
                cause,
                reason: after.disabled_reason.clone().unwrap_or_default(),
            },
            (false, true) => {
                OperationalData::SubscriptionEnabled { subscription_id: after.id, target_url: after.target_url.clone() }
            }
            _ => return None,
        };
        let decision = [after.id.as_bytes().as_slice(), &after.version.to_be_bytes()].concat();
        Some(OperationalEvent {
            event_id: OperationalEvent::id_for(&after.tenant_id, &decision),
            tenant_id: after.tenant_id.clone(),
            timestamp: after.updated_at,
            data,
        })
    }
}

/// The id of the operator's subscription (the one `HOOKLINE_OPERATOR_WEBHOOK_URL`
/// makes, in the default tenant): the same in every process and every run, so that
/// each start finds the one the previous made.
pub fn operator_subscription_id() -> SubscriptionId {
    SubscriptionId(uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, b"hookline.operator-webhook"))
}

/// Whether an event type is hookline's own (refused from senders).
pub fn is_operational_type(event_type: &str) -> bool {
    event_type.starts_with(OPERATIONAL_TYPE_PREFIX)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn the_type_tag_is_the_event_type() {
        let event = OperationalEvent {
            event_id: OperationalEvent::id_for(&TenantId::default(), b"x"),
            tenant_id: TenantId::default(),
            timestamp: Utc.timestamp_opt(1_800_000_000, 0).unwrap(),
            data: OperationalData::SubscriptionDisabled {
                subscription_id: SubscriptionId::new(),
                target_url: "https://example.com/hook".into(),
                cause: DisableCause::Gone,
                reason: "the receiver answered 410 Gone".into(),
            },
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], event.event_type());
        assert_eq!(json["data"]["cause"], "gone");
        assert!(is_operational_type(event.event_type()));
        assert!(!is_operational_type("order.created"));
        assert_eq!(OperationalEvent::id_for(&TenantId::default(), b"x"), event.event_id);
        let back: OperationalEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn a_change_of_the_enabled_flag_is_a_decision_named_by_its_version() {
        let at = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let live = Subscription::new(SubscriptionId::new(), "https://example.com/hook", at);
        let disabled = live.next_version(uuid::Uuid::new_v4()).disabled("receiver answered 410 Gone", at);
        let event = OperationalEvent::of_change(&live, &disabled, DisableCause::Gone).expect("a disabling");
        assert_eq!(event.event_type(), "hookline.subscription.disabled");
        let OperationalData::SubscriptionDisabled { cause, reason, subscription_id, .. } = &event.data else {
            panic!("{event:?}")
        };
        assert_eq!(
            (*cause, reason.as_str(), *subscription_id),
            (DisableCause::Gone, "receiver answered 410 Gone", live.id)
        );
        // The same change written again names the same event; another version another one.
        assert_eq!(OperationalEvent::of_change(&live, &disabled, DisableCause::Gone).unwrap().event_id, event.event_id);
        let again = live.next_version(uuid::Uuid::new_v4()).next_version(uuid::Uuid::new_v4()).disabled("x", at);
        assert_ne!(OperationalEvent::of_change(&live, &again, DisableCause::Gone).unwrap().event_id, event.event_id);

        let enabled =
            Subscription { enabled: true, disabled_reason: None, ..disabled.next_version(uuid::Uuid::new_v4()) };
        let event = OperationalEvent::of_change(&disabled, &enabled, DisableCause::ByHand).expect("an enabling");
        assert_eq!(event.event_type(), "hookline.subscription.enabled");
        // Nothing else is a decision.
        assert_eq!(
            OperationalEvent::of_change(&live, &live.next_version(uuid::Uuid::new_v4()), DisableCause::ByHand),
            None
        );
        assert_eq!(OperationalEvent::of_change(&disabled, &disabled, DisableCause::ByHand), None);
        // docs/operational-events.md names it.
        assert_eq!(operator_subscription_id().to_string(), "273940f0-8012-59bd-917c-c4f39bf8b3c4");
    }
}
