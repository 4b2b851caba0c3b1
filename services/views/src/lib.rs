//! The `ViewStore` port: the read models the projector builds from the log
//! (subscriptions, delivery tasks with where their payloads are in the log, task
//! listings newest first, attempts by task, recent attempts by subscription, events
//! sent to tenants and their listings newest first, when tenant tokens were last
//! used, replays with the outcomes of what they queued), with retention by TTL, and
//! its embedded adapter. The views keep no copy
//! of a payload: the log holds it, and a view points at the record.
//!
//! Consumes: domain events, in any order and any number of times. Produces: the
//! views the REST API reads. Guarantees: applying the same events in any order
//! yields the same views; task, attempt and event rows vanish from reads once
//! `retention` has passed since their event time, and are purged later.
//!
//! Every adapter must pass [`conformance`].

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hookline_domain::{
    AttemptRecorded, EventAccepted, EventId, LogPosition, ReplayEvent, ReplayId, Subscription, SubscriptionEvent,
    SubscriptionId, SubscriptionState, TaskAccepted, TaskId, TaskView, TenantId, TokenId,
};
use uuid::Uuid;

pub mod conformance;
pub mod embedded;
mod listing;
mod replay;

pub use listing::{
    EventPosition, Listed, ListingFilter, ListingId, ListingPosition, PageBuilder, TaskFilter, TaskPosition,
    LISTING_SCAN_BUDGET,
};
pub use replay::{
    ReplayEnd, ReplayFilter, ReplayOutcomes, ReplayPosition, ReplayProgress, ReplayRecords, ReplayTaskOutcome,
    ReplayView,
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
    /// An AttemptRecorded; one with a `replay_id` also counts towards that replay's
    /// delivered or failed tasks.
    Attempt(AttemptRecorded),
    /// A record of topic `hookline.replays`.
    Replay(ReplayEvent),
    /// A task that ran out of attempts at `failed_at` (the task as its dead letter holds
    /// it, without attempts), and where its dead letter (which holds the payload too)
    /// is: the position is kept for the retention from then, so that a failed task can
    /// be retried by hand as long as it is shown.
    DeadLettered {
        task: TaskView,
        failed_at: DateTime<Utc>,
        payload_at: LogPosition,
    },
    /// An EventAccepted. Records of one event (an append repeated) fold into the one
    /// earliest in its partition.
    Event(Box<EventView>),
    /// A tenant token was used at `at` (written by the api itself, at most once a minute per token and process).
    TokenUsed {
        token_id: TokenId,
        at: DateTime<Utc>,
    },
}

impl ViewChange {
    /// The change a TaskAccepted makes, its record being at `payload_at`.
    pub fn accepted(task: &TaskAccepted, payload_at: LogPosition) -> ViewChange {
        ViewChange::Task { task: TaskView::from_accepted(task), payload_at }
    }
}

/// An event sent to a tenant, as the views keep it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventView {
    pub event_id: EventId,
    pub tenant_id: TenantId,
    pub event_type: String,
    pub accepted_at: DateTime<Utc>,
    pub idempotency_key: Option<String>,
    /// The subscriptions it was sent to, in id order; the task for each is `TaskId::for_event`.
    pub subscriptions: Vec<SubscriptionId>,
    /// Where its EventAccepted record (which holds the payload) is in the log.
    pub payload_at: LogPosition,
}

impl EventView {
    /// The view of an EventAccepted whose record is at `payload_at`: all of it but the payload.
    pub fn of(event: &EventAccepted, payload_at: LogPosition) -> Self {
        Self {
            event_id: event.event_id,
            tenant_id: event.tenant_id.clone(),
            event_type: event.event_type.clone(),
            accepted_at: event.accepted_at,
            idempotency_key: event.idempotency_key.clone(),
            subscriptions: event.subscriptions.clone(),
            payload_at,
        }
    }

    /// Its tasks' ids, in the order of its subscriptions.
    pub fn task_ids(&self) -> Vec<TaskId> {
        self.subscriptions.iter().map(|sub| TaskId::for_event(self.event_id, *sub)).collect()
    }
}

/// Which of a tenant's events a listing keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only events of exactly this type.
    pub event_type: Option<String>,
    /// Only events accepted at or after this time.
    pub since: Option<DateTime<Utc>>,
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
    /// How long task, attempt and event rows live after their event time (`LOG_RETENTION_HOURS`).
    pub ttl: Duration,
}

#[async_trait]
pub trait ViewStore: Send + Sync + 'static {
    /// Folds a batch of changes into the views; idempotent and, across topics,
    /// order-insensitive. Subscription changes are folded in log order by the rule of
    /// [`hookline_domain::versions`]: refused ones change nothing.
    /// Task, attempt, event and replay rows older than the retention are not written.
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

    /// An event, unless unknown or past the retention (counted from accepted_at, like tasks).
    async fn event(&self, id: EventId) -> Result<Option<EventView>, ViewError>;

    /// A tenant's events, newest first (accepted_at to the millisecond, then event id,
    /// both descending), those the filter keeps (event_type: exact; since:
    /// `accepted_at >= since`), limit at most, after a previous page's cursor; same
    /// paging rules as `tasks` (scan budget allowed, `next` None only when exhausted,
    /// a cursor no page gave out is InvalidCursor).
    async fn events(
        &self,
        tenant: &TenantId,
        filter: &EventFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<EventView>, ViewError>;

    /// A replay, unless unknown (its request not folded yet) or past the retention,
    /// which counts from its latest activity (request, progress, cancellation, end).
    async fn replay(&self, id: ReplayId) -> Result<Option<ReplayView>, ViewError>;

    /// Replays newest first (requested_at to the millisecond, then replay id, both
    /// descending), only `tenant`'s when given, `limit` at most, after a previous
    /// page's cursor; same paging rules as `events`.
    async fn replays(
        &self,
        tenant: Option<&TenantId>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<ReplayView>, ViewError>;

    /// When each of these tokens was last used (the latest TokenUsed folded,
    /// order-insensitive); tokens never used are absent.
    async fn tokens_last_used(&self, ids: &[TokenId]) -> Result<HashMap<TokenId, DateTime<Utc>>, ViewError>;

    /// Deletes rows whose retention has passed as of `now`; returns how many (0 for a
    /// store whose database expires rows by itself, through TTL).
    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, ViewError>;
}
