//! Reading the task listings (see `listing.rs`) and the payload positions kept for
//! retries by hand.

use std::ops::ControlFlow;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hookline_domain::{LogPosition, SubscriptionId, TaskId, TaskView};
use hookline_views::{Page, TaskFilter, TaskPosition, ViewError};
use scylla::client::session::Session;
use scylla::response::PagingState;
use uuid::Uuid;

use crate::listing::{self, Before, BucketedListing, Entry};
use crate::read::{rows, task};
use crate::rows::domain_position;
use crate::stamps;
use crate::statements::Statements;

/// The listing of all tasks in `task_listing_buckets` (no subscription has this id).
pub(crate) const ALL_TASKS: Uuid = Uuid::nil();

/// The tasks of one subscription (days of `tasks_by_subscription`) or of everyone
/// (hours of `tasks_by_hour`).
struct TaskListing<'a> {
    session: &'a Session,
    statements: &'a Statements,
    subscription: Option<SubscriptionId>,
    retention: Duration,
    now: DateTime<Utc>,
}

impl BucketedListing for TaskListing<'_> {
    type Item = TaskView;

    fn bucket_of(&self, at: DateTime<Utc>) -> i32 {
        match self.subscription {
            Some(_) => stamps::day(at),
            None => stamps::hour(at),
        }
    }

    async fn buckets(&self, newest: i32) -> Result<Vec<i32>, ViewError> {
        let listing = self.subscription.map_or(ALL_TASKS, |sub| sub.0);
        let buckets: Vec<(i32,)> = rows(self.session, &self.statements.listing_buckets, (listing, newest)).await?;
        Ok(buckets.into_iter().map(|(bucket,)| bucket).collect())
    }

    async fn entries(
        &self,
        bucket: i32,
        before: &Before,
        paging: PagingState,
    ) -> Result<(Vec<Entry>, ControlFlow<(), PagingState>), ViewError> {
        let (session, statements) = (self.session, self.statements);
        match self.subscription {
            Some(sub) => {
                let values = (sub.0, bucket, before.at, before.id.clone());
                listing::entries_page(session, &statements.tasks_of_subscription_day, values, paging).await
            }
            None => {
                let values = (bucket, before.at, before.id.clone());
                listing::entries_page(session, &statements.tasks_of_hour, values, paging).await
            }
        }
    }

    async fn item(&self, id: TaskId) -> Result<Option<TaskView>, ViewError> {
        task(self.session, self.statements, id, self.retention, self.now).await
    }
}

pub(crate) async fn tasks(
    session: &Session,
    statements: &Statements,
    filter: TaskFilter,
    limit: usize,
    cursor: Option<&str>,
    retention: Duration,
    now: DateTime<Utc>,
) -> Result<Page<TaskView>, ViewError> {
    let after = filter.start_after(cursor.map(TaskPosition::from_cursor).transpose()?);
    let tasks = TaskListing { session, statements, subscription: filter.subscription, retention, now };
    listing::page(&tasks, filter, limit, after).await
}

/// Where the payload is, unless its retention (from its write timestamp) has passed.
pub(crate) async fn payload_position(
    session: &Session,
    statements: &Statements,
    id: TaskId,
    retention: Duration,
    now: DateTime<Utc>,
) -> Result<Option<LogPosition>, ViewError> {
    type Row = (Option<String>, Option<i32>, Option<i64>, Option<i64>);
    let found: Vec<Row> = rows(session, &statements.payload_position, (id.0,)).await?;
    let Some((Some(topic), Some(partition), Some(offset), Some(stamp))) = found.into_iter().next() else {
        return Ok(None);
    };
    if stamps::expiry(stamps::lived_from(stamp), retention) <= now {
        return Ok(None);
    }
    domain_position(topic, partition, offset, "task_payload_positions").map(Some)
}
