//! The operator's subscription: `HOOKLINE_OPERATOR_WEBHOOK_URL` and its secret made a
//! real subscription of the default tenant, with a fixed id
//! ([`operator_subscription_id`]) and the pattern `hookline.*`, so that its
//! deliveries are retried, logged, paged and disabled like any other's.
//!
//! Reconciled at start by the process that runs the operational role, through the
//! write path every writer uses (versions, secrets sealed at rest, decisions recorded
//! with the change): created when missing; updated when the URL or secret changed
//! (and then enabled again); disabled, with [`UNSET_REASON`], when the URL is unset
//! (a deletion would be final, and the id is fixed). A subscription hookline disabled
//! (its receiver failing) stays disabled across restarts until the URL or secret
//! changes or someone enables it through the API.

use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use hookline_domain::event_types::EventTypePattern;
use hookline_domain::operational::{operator_subscription_id, DisableCause};
use hookline_domain::{OperationalEvent, Secret, Subscription, SubscriptionEvent, SubscriptionState};
use hookline_log::EventLog;
use hookline_lookup::{SubscriptionDirectory, Verdict};
use uuid::Uuid;

use crate::error::OperationalError;

/// The reason the operator's subscription shows while no URL is configured.
pub const UNSET_REASON: &str = "HOOKLINE_OPERATOR_WEBHOOK_URL is not set";
/// What the operator's subscription wants: every operational event.
pub const OPERATOR_PATTERN: &str = "hookline.*";

/// How many times a change is built again after another change landed first.
const WRITE_ATTEMPTS: usize = 16;

/// Where the operator is told of hookline's decisions.
#[derive(Clone, PartialEq, Eq)]
pub struct OperatorWebhook {
    pub url: String,
    /// A Standard Webhooks secret (`whsec_…`), checked at start.
    pub secret: Secret,
}

impl std::fmt::Debug for OperatorWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorWebhook").field("url", &self.url).field("secret", &self.secret).finish()
    }
}

/// Brings the operator's subscription in line with `wanted`.
pub(crate) async fn reconcile(
    wanted: Option<&OperatorWebhook>,
    log: &dyn EventLog,
    directory: &SubscriptionDirectory,
    patience: Duration,
) -> Result<(), OperationalError> {
    let id = operator_subscription_id();
    for _ in 0..WRITE_ATTEMPTS {
        let current = directory.current(id).await?;
        let Some(change) = change_for(wanted, current.as_ref(), now()) else {
            return Ok(());
        };
        let decision = match (&change, &current) {
            (SubscriptionEvent::SubscriptionUpdated { subscription }, Some(SubscriptionState::Live(before))) => {
                OperationalEvent::of_change(before, subscription, DisableCause::ByHand)
            }
            _ => None,
        };
        match directory.record_change(log, &change, decision.as_ref(), patience).await?.verdict {
            Verdict::Applied => {
                tracing::info!(subscription_id = %id, kind = change.kind(), "operator's subscription reconciled");
                return Ok(());
            }
            Verdict::Refused => {
                tracing::debug!(subscription_id = %id, "another change landed first; building it again")
            }
            Verdict::Unknown => {
                tracing::warn!(subscription_id = %id, "operator's subscription change recorded, not yet confirmed by the views");
                return Ok(());
            }
        }
    }
    tracing::warn!(subscription_id = %id, "operator's subscription not reconciled: it kept changing meanwhile");
    Ok(())
}

/// The change that makes `current` what `wanted` asks for, made at `at`; `None` when
/// nothing is to change.
fn change_for(
    wanted: Option<&OperatorWebhook>,
    current: Option<&SubscriptionState>,
    at: DateTime<Utc>,
) -> Option<SubscriptionEvent> {
    let write_id = Uuid::new_v4();
    match (wanted, current) {
        (None, None) => None,
        (Some(_), Some(SubscriptionState::Deleted { id, .. })) => {
            tracing::error!(
                subscription_id = %id,
                "the operator's subscription was deleted through the API, and deletions are final: the operator URL gets no notifications"
            );
            None
        }
        (None, Some(SubscriptionState::Deleted { .. })) => None,
        (Some(wanted), None) => {
            let subscription = Subscription {
                secret: Some(wanted.secret.clone()),
                write_id: Some(write_id),
                ..Subscription::new(operator_subscription_id(), wanted.url.clone(), at)
            }
            .with_patterns(Some(vec![operator_pattern()]));
            Some(SubscriptionEvent::SubscriptionCreated { subscription })
        }
        (None, Some(SubscriptionState::Live(live))) if !live.enabled => None,
        (None, Some(SubscriptionState::Live(live))) => {
            let disabled = live.disabled(UNSET_REASON, later(live.updated_at, at));
            Some(SubscriptionEvent::SubscriptionUpdated { subscription: disabled.next_version(write_id) })
        }
        (Some(wanted), Some(SubscriptionState::Live(live))) => {
            let moved = live.target_url != wanted.url || live.secret.as_ref() != Some(&wanted.secret);
            let patterns_kept = live.patterns() == Some(vec![operator_pattern()]);
            let unset_before = !live.enabled && live.disabled_reason.as_deref() == Some(UNSET_REASON);
            if !moved && patterns_kept && !unset_before {
                return None;
            }
            let updated_at = later(live.updated_at, at);
            // The configuration is the truth: the replaced secret stops signing at once.
            let rotated = live.with_rotated_secret(Some(wanted.secret.clone()), TimeDelta::zero(), updated_at);
            let enable = moved || unset_before;
            let subscription = Subscription {
                target_url: wanted.url.clone(),
                enabled: live.enabled || enable,
                disabled_reason: if enable { None } else { live.disabled_reason.clone() },
                ..rotated
            }
            .with_patterns(Some(vec![operator_pattern()]));
            Some(SubscriptionEvent::SubscriptionUpdated { subscription: subscription.next_version(write_id) })
        }
    }
}

fn operator_pattern() -> EventTypePattern {
    EventTypePattern::parse("event_types", OPERATOR_PATTERN).expect("`hookline.*` is a valid pattern")
}

/// Now, to the microsecond (the precision the API shows).
fn now() -> DateTime<Utc> {
    let now = Utc::now();
    now.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(now)
}

/// `at`, and strictly after `previous`.
fn later(previous: DateTime<Utc>, at: DateTime<Utc>) -> DateTime<Utc> {
    at.max(previous + TimeDelta::microseconds(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(url: &str, secret: &str) -> OperatorWebhook {
        OperatorWebhook { url: url.into(), secret: Secret::new(secret) }
    }

    fn applied(change: SubscriptionEvent) -> SubscriptionState {
        match change {
            SubscriptionEvent::SubscriptionCreated { subscription }
            | SubscriptionEvent::SubscriptionUpdated { subscription } => SubscriptionState::Live(subscription),
            other => panic!("{other:?}"),
        }
    }

    fn live(state: &SubscriptionState) -> &Subscription {
        state.live().expect("live")
    }

    #[test]
    fn created_updated_disabled_when_unset_and_enabled_again_when_set() {
        let at = Utc::now();
        let first = wanted("https://ops.example.com/hook", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let created = applied(change_for(Some(&first), None, at).expect("created"));
        let subscription = live(&created);
        assert_eq!(subscription.id, operator_subscription_id());
        assert_eq!(subscription.tenant_id, hookline_domain::TenantId::default());
        assert_eq!(subscription.patterns(), Some(vec![operator_pattern()]));
        assert!(subscription.enabled && subscription.secret == Some(first.secret.clone()));
        // The same settings again: nothing to do.
        assert!(change_for(Some(&first), Some(&created), at).is_none());

        let moved = wanted("https://ops.example.com/other", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let updated = applied(change_for(Some(&moved), Some(&created), at).expect("updated"));
        assert_eq!((live(&updated).target_url.as_str(), live(&updated).version), ("https://ops.example.com/other", 2));
        assert!(live(&updated).previous_secret.is_none());

        let unset = applied(change_for(None, Some(&updated), at).expect("disabled"));
        assert_eq!((live(&unset).enabled, live(&unset).disabled_reason.as_deref()), (false, Some(UNSET_REASON)));
        assert!(change_for(None, Some(&unset), at).is_none());
        let back = applied(change_for(Some(&moved), Some(&unset), at).expect("enabled again"));
        assert!(live(&back).enabled && live(&back).disabled_reason.is_none());
    }

    #[test]
    fn a_subscription_hookline_disabled_stays_disabled_until_its_settings_change() {
        let at = Utc::now();
        let settings = wanted("https://ops.example.com/hook", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let created = applied(change_for(Some(&settings), None, at).unwrap());
        let gone = SubscriptionState::Live(live(&created).disabled("receiver answered 410 Gone", at));
        assert!(change_for(Some(&settings), Some(&gone), at).is_none());
        let new_secret = wanted("https://ops.example.com/hook", "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX");
        let enabled = applied(change_for(Some(&new_secret), Some(&gone), at).expect("changed"));
        assert!(live(&enabled).enabled);
        let deleted = SubscriptionState::Deleted { id: operator_subscription_id(), deleted_at: at };
        assert!(change_for(Some(&settings), Some(&deleted), at).is_none(), "deletions are final");
    }
}
