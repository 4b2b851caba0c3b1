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

/// Calls `$each!` once with the name of every case of the suite: each adapter's tests
/// turn the names into tests of their own (`every_conformance_case!(cases)`, with
/// `cases` a macro of the test file), so that a case added here runs against every
/// adapter.
#[macro_export]
macro_rules! every_conformance_case {
    ($each:ident) => {
        $each!(
            subscription_lifecycle,
            subscription_changes_follow_versions,
            subscription_listing_pages_in_id_order,
            subscription_listing_rejects_invalid_cursor,
            task_fold_ignores_order_and_repeats,
            repeated_attempt_keeps_the_higher_rank,
            attempts_for_task_oldest_first,
            attempts_for_subscription_newest_first,
            rows_expire_and_are_purged,
            old_events_are_not_written,
            task_listing_filters_newest_first,
            task_listing_pages_with_a_cursor,
            task_listing_rejects_invalid_cursor,
            task_listing_hides_expired_tasks,
            task_payload_positions_are_kept_for_retries,
            task_listing_keeps_an_acceptance_window,
            subscriptions_keep_their_tenant_and_event_types,
            subscriptions_keep_their_delivery_settings,
            events_fold_ignores_order_and_repeats,
            event_listing_pages_newest_first_with_filters,
            event_listing_rejects_invalid_cursor,
            events_expire_with_the_retention,
            tokens_last_used_keeps_the_latest,
            lines_answer_whose_turn_it_is,
            lines_fold_ignores_order_repeats_and_copies,
            replay_fold_ignores_order_and_repeats,
            replay_counts_tasks_by_their_best_outcome,
            replay_listing_pages_newest_first,
            replays_expire_with_the_retention,
            attempts_and_tasks_keep_their_replay,
        );
    };
}

macro_rules! run_in_turn {
    ($($case:ident),* $(,)?) => {
        /// Runs every case, one after the other.
        pub async fn run_all(factory: &impl ViewStoreFactory) {
            $($case(factory).await;)*
        }
    };
}

crate::every_conformance_case!(run_in_turn);
