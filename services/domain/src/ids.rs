//! Typed identifiers, so a task id can never be passed where a subscription id belongs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new random (time-ordered) id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }

            pub fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(Uuid::from_bytes(bytes))
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(SubscriptionId, "Identifies a subscription.");
id_type!(TaskId, "Identifies a delivery task; stable across retries.");
id_type!(ReplayId, "Identifies a replay: tasks sent again from the log, as one operation with its progress.");
id_type!(EventId, "Identifies an event sent to a tenant, which fans out into one task per matching subscription; sent as `webhook-id` with each of them.");

impl TaskId {
    /// A task id derived from a stable name (for example an idempotency key or a
    /// log position), so that processing the same input twice yields the same task.
    pub fn derived(subscription: SubscriptionId, name: &[u8]) -> Self {
        Self(Uuid::new_v5(&subscription.0, name))
    }

    /// The task that delivers `event` to `subscription`: the same whoever expands the
    /// event and however often, so that expanding it again after a crash adds nothing.
    pub fn for_event(event: EventId, subscription: SubscriptionId) -> Self {
        Self(Uuid::new_v5(&event.0, subscription.as_bytes()))
    }
}

/// The namespace of event ids derived from names.
const EVENT_NAMESPACE: Uuid = Uuid::from_u128(0x6b1c_0e2a_51f4_4f6e_9d35_7a0c_e1b2_44d8);

impl EventId {
    /// An event id derived from a stable name within a tenant (an idempotency key, or
    /// the position a record was read at), so that the same input names the same event.
    pub fn derived(tenant: &crate::tenant::TenantId, name: &[u8]) -> Self {
        let scoped = [tenant.as_str().as_bytes(), b"\0", name].concat();
        Self(Uuid::new_v5(&EVENT_NAMESPACE, &scoped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::TenantId;

    #[test]
    fn event_and_task_ids_are_derived_stably_and_apart() {
        let acme = TenantId::parse("acme").unwrap();
        let other = TenantId::parse("other").unwrap();
        assert_eq!(EventId::derived(&acme, b"key:1"), EventId::derived(&acme, b"key:1"));
        assert_ne!(EventId::derived(&acme, b"key:1"), EventId::derived(&other, b"key:1"));
        let event = EventId::derived(&acme, b"key:1");
        let (a, b) = (SubscriptionId::new(), SubscriptionId::new());
        assert_eq!(TaskId::for_event(event, a), TaskId::for_event(event, a));
        assert_ne!(TaskId::for_event(event, a), TaskId::for_event(event, b));
    }
}
