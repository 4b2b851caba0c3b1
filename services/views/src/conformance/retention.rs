//! Retention: task and attempt rows vanish once their retention has passed, are
//! purged, and are never written when already expired. Subscriptions never expire.

use std::time::Duration;

use chrono::Utc;
use hookline_domain::{Outcome, SubscriptionEvent, SubscriptionId, SubscriptionState, TaskId};

use super::fixtures::{
    accept, accepted, apply, attempt, attempts_for_subscription, attempts_for_task, now, secs, subscription, task,
    wait_until,
};
use super::ViewStoreFactory;
use crate::{Retention, ViewChange};

/// Short enough to wait for, long enough to read a row back before it expires.
const SHORT: Retention = Retention { ttl: Duration::from_secs(2) };
/// How long the rows of a [`SHORT`] store may take to vanish, slack included.
const VANISH_DEADLINE: Duration = Duration::from_secs(20);

/// Rows written now are readable, become invisible once the retention has passed,
/// and `purge_expired` deletes them and counts them; rows not yet expired survive it.
pub async fn rows_expire_and_are_purged(factory: &impl ViewStoreFactory) {
    let store = factory.open(SHORT).await;
    let sub = SubscriptionId::new();
    // A second ahead, so that a slow machine still reads the rows before they expire.
    let t0 = now() + secs(1);
    let short_lived = accepted(TaskId::new(), sub, t0);
    let short_attempt = attempt(&short_lived, 1, Outcome::FailedAttempt, t0);
    // Stamped an hour ahead, so its retention ends an hour after the others'.
    let lasting = accepted(TaskId::new(), sub, t0 + secs(3600));
    let lasting_attempt = attempt(&lasting, 1, Outcome::Success, t0 + secs(3600));
    apply(
        &store,
        vec![
            accept(&short_lived),
            ViewChange::Attempt(short_attempt.clone()),
            accept(&lasting),
            ViewChange::Attempt(lasting_attempt.clone()),
        ],
    )
    .await;

    assert!(task(&store, short_lived.task_id).await.is_some(), "a task written now must be readable at once");
    assert_eq!(attempts_for_task(&store, short_lived.task_id).await, vec![short_attempt.clone()]);
    assert_eq!(attempts_for_subscription(&store, sub, 10).await, vec![lasting_attempt.clone(), short_attempt]);

    let s = &store;
    wait_until("the task row expires", VANISH_DEADLINE, || async move { task(s, short_lived.task_id).await.is_none() })
        .await;
    wait_until("the attempt row expires", VANISH_DEADLINE, || async move {
        attempts_for_task(s, short_lived.task_id).await.is_empty()
    })
    .await;
    assert_eq!(
        attempts_for_subscription(&store, sub, 10).await,
        vec![lasting_attempt.clone()],
        "expired attempts must leave the subscription's listing"
    );

    // How many rows a purge reports depends on the store: one that expires rows itself
    // (CQL TTL) has nothing left to delete. What every store must show is the result.
    store.purge_expired(Utc::now()).await.unwrap_or_else(|e| panic!("purge_expired failed: {e}"));
    assert!(task(&store, short_lived.task_id).await.is_none(), "a purged task must stay gone");
    assert_eq!(
        task(&store, lasting.task_id).await,
        Some(lasting.clone().merge(hookline_domain::TaskView::from_attempt(&lasting_attempt))),
        "a row not yet expired must survive purge_expired"
    );
    assert_eq!(attempts_for_task(&store, lasting.task_id).await, vec![lasting_attempt.clone()]);
    assert_eq!(attempts_for_subscription(&store, sub, 10).await, vec![lasting_attempt]);
}

/// Task and attempt events older than the retention are not written (a replay of an
/// old log does not bring them back), while a task's recent attempt still is;
/// subscriptions are kept whatever their age.
pub async fn old_events_are_not_written(factory: &impl ViewStoreFactory) {
    let store = factory.open(Retention { ttl: Duration::from_secs(3600) }).await;
    let sub = SubscriptionId::new();
    let long_ago = now() - secs(2 * 3600);

    let old = accepted(TaskId::new(), sub, long_ago);
    let old_changes = vec![
        accept(&old),
        ViewChange::Attempt(attempt(&old, 1, Outcome::FailedAttempt, long_ago + secs(10))),
        ViewChange::Attempt(attempt(&old, 2, Outcome::Success, long_ago + secs(30))),
    ];
    apply(&store, old_changes.clone()).await;
    apply(&store, old_changes).await;
    assert_eq!(task(&store, old.task_id).await, None, "a task whose retention has passed must not be written");
    assert_eq!(attempts_for_task(&store, old.task_id).await, vec![], "expired attempts must not be written");
    assert_eq!(attempts_for_subscription(&store, sub, 10).await, vec![], "nor listed for the subscription");

    // Accepted long ago, retried a moment ago: the task lives on, with its old attempt gone.
    let retried = accepted(TaskId::new(), sub, long_ago);
    let stale = attempt(&retried, 1, Outcome::FailedAttempt, long_ago + secs(10));
    let recent = attempt(&retried, 2, Outcome::Success, now() - secs(1));
    apply(&store, vec![accept(&retried), ViewChange::Attempt(stale)]).await;
    apply(&store, vec![ViewChange::Attempt(recent.clone())]).await;
    let view = task(&store, retried.task_id).await.expect("a task with a recent attempt must be readable");
    assert_eq!(view.created_at, long_ago, "the task keeps its acceptance time");
    assert_eq!(view.attempts_count(), 2, "the recent attempt decides the task view");
    assert_eq!(attempts_for_task(&store, retried.task_id).await, vec![recent], "only the recent attempt is kept");

    let ancient = subscription(SubscriptionId::new(), "https://example.com/old", long_ago - secs(2 * 365 * 86_400));
    apply(
        &store,
        vec![ViewChange::Subscription(SubscriptionEvent::SubscriptionCreated { subscription: ancient.clone() })],
    )
    .await;
    let state = store.subscription(ancient.id).await.unwrap_or_else(|e| panic!("subscription failed: {e}"));
    assert_eq!(state, Some(SubscriptionState::Live(ancient)), "subscriptions never expire");
}
