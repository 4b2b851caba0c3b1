//! Making a subscription change durable, then waiting until the views show it, so a
//! list right after a 201/200 on this instance already reflects the write.

use std::time::Duration;

use hookline_domain::{SubscriptionEvent, SubscriptionId, SubscriptionState};
use hookline_records::subscription_record;
use hookline_views::ViewError;
use tokio::time::Instant;

use crate::error::ApiError;
use crate::state::ApiState;

/// How often the views are asked whether they caught up.
const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// Appends `event` to the subscriptions topic, tells the directory, then waits (up to
/// the configured timeout) for the views. Once the append returned the write is
/// durable: a slow projector only earns a warning, never an error.
pub(crate) async fn record(state: &ApiState, event: SubscriptionEvent) -> Result<(), ApiError> {
    // Stored with its secrets sealed (when a key is set); this instance remembers them in plaintext.
    let record = subscription_record(&state.deps.directory.sealer().seal_event(&event));
    state.deps.log.append(vec![record]).await?;
    state.deps.directory.remember(&event);
    tracing::debug!(subscription_id = %event.subscription_id(), kind = event.kind(), "subscription change recorded");
    await_views(state, &event).await;
    Ok(())
}

async fn await_views(state: &ApiState, event: &SubscriptionEvent) {
    let id = event.subscription_id();
    let deadline = Instant::now() + state.config.read_your_writes_timeout;
    loop {
        match shown(state, id).await {
            Ok(seen) => match progress(event, seen.as_ref()) {
                Progress::Shown => return,
                Progress::Superseded => {
                    tracing::debug!(subscription_id = %id, "subscription changed again before the views showed this write");
                    return;
                }
                Progress::Pending => {}
            },
            Err(e) => {
                tracing::debug!(subscription_id = %id, error = %e, "views not readable while waiting for a write")
            }
        }
        if Instant::now() >= deadline {
            tracing::warn!(
                subscription_id = %id,
                kind = event.kind(),
                timeout_ms = state.config.read_your_writes_timeout.as_millis() as u64,
                "views did not show a subscription write in time; answering anyway (the write is durable)"
            );
            return;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// What the views show of `id`, with its secrets opened to compare them.
async fn shown(state: &ApiState, id: SubscriptionId) -> Result<Option<SubscriptionState>, ViewError> {
    match state.deps.views.subscription(id).await? {
        Some(SubscriptionState::Live(stored)) => {
            let opened = state.deps.directory.sealer().open_subscription(stored);
            Ok(Some(SubscriptionState::Live(opened.map_err(|e| ViewError::Corrupt(e.to_string()))?)))
        }
        other => Ok(other),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Progress {
    Shown,
    /// The views moved past this write (the subscription was deleted meanwhile).
    Superseded,
    Pending,
}

fn progress(event: &SubscriptionEvent, seen: Option<&SubscriptionState>) -> Progress {
    match (event, seen) {
        (SubscriptionEvent::SubscriptionDeleted { .. }, Some(SubscriptionState::Deleted { .. })) => Progress::Shown,
        (
            SubscriptionEvent::SubscriptionCreated { subscription }
            | SubscriptionEvent::SubscriptionUpdated { subscription },
            Some(SubscriptionState::Live(shown)),
        ) => {
            // Compared to the millisecond: a view store may keep timestamps no finer.
            let same_content = shown.target_url == subscription.target_url
                && shown.secret == subscription.secret
                && shown.event_type_filter == subscription.event_type_filter
                && shown.enabled == subscription.enabled
                && shown.disabled_reason == subscription.disabled_reason;
            if same_content && shown.updated_at.timestamp_millis() >= subscription.updated_at.timestamp_millis() {
                Progress::Shown
            } else {
                Progress::Pending
            }
        }
        (_, Some(SubscriptionState::Deleted { .. })) => Progress::Superseded,
        _ => Progress::Pending,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration as ChronoDuration, Utc};
    use hookline_domain::Subscription;

    fn subscription(url: &str) -> Subscription {
        let now = Utc::now();
        Subscription::new(SubscriptionId::new(), url, now)
    }

    #[test]
    fn an_update_is_shown_once_its_content_is() {
        let old = subscription("http://a.example/");
        let mut new = old.clone();
        new.target_url = "http://b.example/".into();
        new.updated_at = old.updated_at + ChronoDuration::microseconds(10);
        let event = SubscriptionEvent::SubscriptionUpdated { subscription: new.clone() };
        assert_eq!(progress(&event, None), Progress::Pending);
        assert_eq!(progress(&event, Some(&SubscriptionState::Live(old))), Progress::Pending);
        let mut truncated = new.clone();
        truncated.updated_at =
            new.updated_at - ChronoDuration::microseconds(i64::from(new.updated_at.timestamp_subsec_micros() % 1000));
        assert_eq!(progress(&event, Some(&SubscriptionState::Live(truncated))), Progress::Shown);
        let deleted = SubscriptionState::Deleted { id: new.id, deleted_at: Utc::now() };
        assert_eq!(progress(&event, Some(&deleted)), Progress::Superseded);
    }
}
