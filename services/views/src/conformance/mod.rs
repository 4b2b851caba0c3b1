//! The conformance suite every [`ViewStore`] adapter must pass.
//!
//! Each case is a public async function that takes a [`ViewStoreFactory`] (any
//! `Fn(Retention) -> impl Future<Output = Arc<dyn ViewStore>>`), opens the stores it
//! needs, and panics with a message saying what went wrong.
//!
//! Cases use fresh random ids and never assume the store is empty, so they may all
//! run against one shared database (a Cassandra keyspace, say), concurrently.
//! [`rows_expire_and_are_purged`], [`events_expire_with_the_retention`] and
//! [`replays_expire_with_the_retention`] call
//! `purge_expired`, which may delete other cases' expired rows: they check what a
//! purge leaves, never how many rows it counts. Timestamps are whole milliseconds, as CQL
//! stores them.

mod attempts;
mod events;
mod fixtures;
mod lines;
mod replays;
mod retention;
mod subscriptions;
mod task_listing;
mod tasks;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use self::attempts::{attempts_for_subscription_newest_first, attempts_for_task_oldest_first};
pub use self::events::{
    event_listing_pages_newest_first_with_filters, event_listing_rejects_invalid_cursor,
    events_expire_with_the_retention, events_fold_ignores_order_and_repeats, tokens_last_used_keeps_the_latest,
};
pub use self::lines::{lines_answer_whose_turn_it_is, lines_fold_ignores_order_repeats_and_copies};
pub use self::replays::{
    attempts_and_tasks_keep_their_replay, replay_counts_tasks_by_their_best_outcome,
    replay_fold_ignores_order_and_repeats, replay_listing_pages_newest_first, replays_expire_with_the_retention,
};
pub use self::retention::{old_events_are_not_written, rows_expire_and_are_purged};
pub use self::subscriptions::{
    subscription_changes_follow_versions, subscription_lifecycle, subscription_listing_pages_in_id_order,
    subscription_listing_rejects_invalid_cursor, subscriptions_keep_their_delivery_settings,
    subscriptions_keep_their_tenant_and_event_types,
};
pub use self::task_listing::{
    task_listing_filters_newest_first, task_listing_hides_expired_tasks, task_listing_keeps_an_acceptance_window,
    task_listing_pages_with_a_cursor, task_listing_rejects_invalid_cursor, task_payload_positions_are_kept_for_retries,
};
pub use self::tasks::{repeated_attempt_keeps_the_higher_rank, task_fold_ignores_order_and_repeats};
use crate::{Retention, ViewStore};

/// Opens a store with the given retention. Implemented by every matching closure.
pub trait ViewStoreFactory {
    fn open(&self, retention: Retention) -> impl Future<Output = Arc<dyn ViewStore>>;
}

impl<F, Fut> ViewStoreFactory for F
where
    F: Fn(Retention) -> Fut,
    Fut: Future<Output = Arc<dyn ViewStore>>,
{
    fn open(&self, retention: Retention) -> impl Future<Output = Arc<dyn ViewStore>> {
        self(retention)
    }
}

/// The retention of the cases that are not about retention: long enough that
/// nothing they write expires while they run.
pub const LONG_RETENTION: Retention = Retention { ttl: Duration::from_secs(24 * 60 * 60) };

/// Runs every case, one after the other.
pub async fn run_all(factory: &impl ViewStoreFactory) {
    subscription_lifecycle(factory).await;
    subscription_changes_follow_versions(factory).await;
    subscription_listing_pages_in_id_order(factory).await;
    subscription_listing_rejects_invalid_cursor(factory).await;
    task_fold_ignores_order_and_repeats(factory).await;
    repeated_attempt_keeps_the_higher_rank(factory).await;
    attempts_for_task_oldest_first(factory).await;
    attempts_for_subscription_newest_first(factory).await;
    task_listing_filters_newest_first(factory).await;
    task_listing_pages_with_a_cursor(factory).await;
    task_listing_rejects_invalid_cursor(factory).await;
    task_listing_hides_expired_tasks(factory).await;
    task_payload_positions_are_kept_for_retries(factory).await;
    task_listing_keeps_an_acceptance_window(factory).await;
    rows_expire_and_are_purged(factory).await;
    old_events_are_not_written(factory).await;
    subscriptions_keep_their_tenant_and_event_types(factory).await;
    subscriptions_keep_their_delivery_settings(factory).await;
    events_fold_ignores_order_and_repeats(factory).await;
    event_listing_pages_newest_first_with_filters(factory).await;
    event_listing_rejects_invalid_cursor(factory).await;
    events_expire_with_the_retention(factory).await;
    tokens_last_used_keeps_the_latest(factory).await;
    lines_answer_whose_turn_it_is(factory).await;
    lines_fold_ignores_order_repeats_and_copies(factory).await;
    replay_fold_ignores_order_and_repeats(factory).await;
    replay_counts_tasks_by_their_best_outcome(factory).await;
    replay_listing_pages_newest_first(factory).await;
    replays_expire_with_the_retention(factory).await;
    attempts_and_tasks_keep_their_replay(factory).await;
}
