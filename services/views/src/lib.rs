//! The `ViewStore` port: the read models the projector builds from the log
//! (subscriptions, delivery tasks with where their payloads are in the log, task
//! listings newest first, attempts by task, recent attempts by subscription), with
//! retention by TTL, and its embedded adapter. The views keep no copy of a payload:
//! the log holds it, and a view points at the record.
//!
//! Consumes: domain events, in any order and any number of times. Produces: the
//! views the REST API reads. Guarantees: applying the same events in any order
//! yields the same views; task and attempt rows vanish from reads once
//! `retention` has passed since their event time, and are purged later.
//!
//! Every adapter must pass [`conformance`].

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hookline_domain::{
    AttemptRecorded, LogPosition, Subscription, SubscriptionEvent, SubscriptionId, SubscriptionState, TaskAccepted,
    TaskId, TaskView,
};
use uuid::Uuid;

pub mod conformance;
pub mod embedded;
mod listing;

pub use listing::{
    Listed, ListingFilter, ListingId, ListingPosition, PageBuilder, TaskFilter, TaskPosition, LISTING_SCAN_BUDGET,
};

/// One event to fold into the views.
#[derive(Clone, Debug)]
pub enum ViewChange {
    Subscription(SubscriptionEvent),
    /// A TaskAccepted: the task as accepted, and where its record (which holds the
    /// payload) is in the log.
    Task {
        task: TaskView,
        payload_at: LogPosition,
    },
    Attempt(AttemptRecorded),
    /// A task that ran out of attempts at `failed_at` (the task as its dead letter holds
    /// it, without attempts), and where its dead letter (which holds the payload too)
    /// is: the position is kept for the retention from then, so that a failed task can
    /// be retried by hand as long as it is shown.
    DeadLettered {
        task: TaskView,
        failed_at: DateTime<Utc>,
        payload_at: LogPosition,
    },
}

impl ViewChange {
    /// The change a TaskAccepted makes, its record being at `payload_at`.
    pub fn accepted(task: &TaskAccepted, payload_at: LogPosition) -> ViewChange {
        ViewChange::Task { task: TaskView::from_accepted(task), payload_at }
    }
}

/// A page of results and the cursor for the next one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("view store unavailable: {0}")]
    Unavailable(String),
    #[error("view store error: {0}")]
    Storage(String),
    #[error("view data corrupt: {0}")]
    Corrupt(String),
    #[error("invalid cursor")]
    InvalidCursor,
}

impl ViewError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, ViewError::Unavailable(_))
    }
}

/// Settings every adapter honours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retention {
    /// How long task and attempt rows live after their event time (`LOG_RETENTION_HOURS`).
    pub ttl: Duration,
}

#[async_trait]
pub trait ViewStore: Send + Sync + 'static {
    /// Folds a batch of changes into the views; idempotent and, across topics,
    /// order-insensitive. Subscription changes are folded in log order by the rule of
    /// [`hookline_domain::versions`]: refused ones change nothing.
    /// Task and attempt rows older than the retention are not written.
    async fn apply(&self, changes: Vec<ViewChange>) -> Result<(), ViewError>;

    /// What the views know of a subscription: live, deleted (a tombstone), or nothing.
    async fn subscription(&self, id: SubscriptionId) -> Result<Option<SubscriptionState>, ViewError>;

    /// The write (its `write_id`) that made `version` of a subscription, once the
    /// views have folded it and while they remember it (the latest few dozen
    /// versions at least, for a day at least): how a writer learns whether the log
    /// accepted its change. `None`: no write made that version yet (or it is forgotten).
    async fn subscription_write(&self, id: SubscriptionId, version: u64) -> Result<Option<Uuid>, ViewError>;

    /// Live subscriptions in id order, `limit` at most, after the cursor of a previous page.
    async fn subscriptions(&self, limit: usize, cursor: Option<&str>) -> Result<Page<Subscription>, ViewError>;

    /// A task, unless unknown or expired.
    async fn task(&self, id: TaskId) -> Result<Option<TaskView>, ViewError>;

    /// Tasks newest first (acceptance time to the millisecond, then task id, both
    /// descending), those `filter` keeps, `limit` at most, after the position of a
    /// previous page's cursor. The status is that of the moment of the read. A page
    /// examines at most [`LISTING_SCAN_BUDGET`] tasks beyond those it returns: a page
    /// may hold fewer than `limit` tasks (none even) while `next` is set, and `next`
    /// is `None` only once the listing is exhausted. A cursor no page gave out is
    /// [`ViewError::InvalidCursor`].
    async fn tasks(&self, filter: TaskFilter, limit: usize, cursor: Option<&str>) -> Result<Page<TaskView>, ViewError>;

    /// Where the record holding a task's payload is in the log, while kept: its
    /// TaskAccepted from its acceptance, or its latest dead letter from its failure,
    /// until the retention has passed.
    async fn payload_position(&self, id: TaskId) -> Result<Option<LogPosition>, ViewError>;

    /// A task's attempts, oldest first (one per attempt number: a repeated attempt
    /// replaces the earlier record of the same number).
    async fn attempts_for_task(&self, id: TaskId) -> Result<Vec<AttemptRecorded>, ViewError>;

    /// A subscription's most recent attempts, newest first, `limit` at most.
    async fn attempts_for_subscription(
        &self,
        id: SubscriptionId,
        limit: usize,
    ) -> Result<Vec<AttemptRecorded>, ViewError>;

    /// Deletes rows whose retention has passed as of `now`; returns how many (0 for a
    /// store whose database expires rows by itself, through TTL).
    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, ViewError>;
}
