//! The ScyllaDB adapter of the `ViewStore` port: hookline's views (subscriptions,
//! delivery tasks and where their payloads are in the log, task listings, attempts by
//! task, recent attempts by subscription, events sent to tenants and their listings,
//! when tenant tokens were last used, replays and the outcomes of what they queued)
//! in a CQL keyspace, on ScyllaDB or Apache Cassandra.
//!
//! Consumes: batches of [`ViewChange`]s from the projector, in any order and any
//! number of times. Produces: the reads of the [`ViewStore`] port. Guarantees:
//! replaying the same changes in any order, from any number of projectors at once,
//! yields the same rows, because nothing is read before a write: every write
//! carries a timestamp that ranks it (`stamps.rs`). (Replays are read back after
//! their records are written, to make every cell live as long as the replay; see
//! `replays.rs`.) Task, attempt and event rows are
//! written with a TTL that ends at their event time plus the retention, so the
//! database itself deletes them; reads hide them from that instant (the TTL is in
//! whole seconds). Subscriptions and their tombstones never expire.
//!
//! The tables are in `schemas/scylla/*.cql`, embedded here and applied by
//! [`migrate`]; [`ScyllaViews::connect`] refuses a keyspace that lacks them.

mod error;
mod events;
mod listing;
mod read;
mod replays;
mod rows;
mod schema;
mod settings;
mod stamps;
mod statements;
mod task_listing;
mod write;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hookline_domain::{
    AttemptRecorded, EventId, LogPosition, ReplayId, Subscription, SubscriptionId, SubscriptionState, TaskId, TaskView,
    TenantId, TokenId,
};
use hookline_views::{
    EventFilter, EventPosition, EventView, Page, ReplayView, Retention, TaskFilter, ViewChange, ViewError, ViewStore,
};
use scylla::client::session::Session;
use uuid::Uuid;

pub use self::schema::{migrate, truncate};
pub use self::settings::ScyllaSettings;
use self::statements::Statements;
pub use scylla::statement::Consistency;

/// The views in a CQL keyspace prepared by [`migrate`].
pub struct ScyllaViews {
    session: Session,
    statements: Statements,
    consistency: Consistency,
    retention: Duration,
}

impl ScyllaViews {
    /// Connects to the cluster, checks that `migrate` has created the keyspace's
    /// tables, and prepares every statement.
    ///
    /// Fails with [`ViewError::Unavailable`] when no contact point answers, and with
    /// a [`ViewError::Storage`] naming `hookline migrate` when the keyspace or one
    /// of its tables is missing.
    pub async fn connect(settings: &ScyllaSettings, retention: Retention) -> Result<Arc<ScyllaViews>, ViewError> {
        let session = schema::open_session(settings).await?;
        schema::check(&session, &settings.keyspace).await?;
        session
            .use_keyspace(&settings.keyspace, false)
            .await
            .map_err(|e| ViewError::Storage(format!("use keyspace {}: {e}", settings.keyspace)))?;
        let statements = Statements::prepare(&session, settings.consistency).await?;
        Ok(Arc::new(ScyllaViews { session, statements, consistency: settings.consistency, retention: retention.ttl }))
    }
}

#[async_trait]
impl ViewStore for ScyllaViews {
    async fn apply(&self, changes: Vec<ViewChange>) -> Result<(), ViewError> {
        let (consistency, retention) = (self.consistency, self.retention);
        write::apply(&self.session, &self.statements, consistency, retention, Utc::now(), changes).await
    }

    async fn subscription(&self, id: SubscriptionId) -> Result<Option<SubscriptionState>, ViewError> {
        read::subscription(&self.session, &self.statements, id).await
    }

    async fn subscription_write(&self, id: SubscriptionId, version: u64) -> Result<Option<Uuid>, ViewError> {
        read::subscription_write(&self.session, &self.statements, id, version).await
    }

    async fn subscriptions(&self, limit: usize, cursor: Option<&str>) -> Result<Page<Subscription>, ViewError> {
        read::subscriptions(&self.session, &self.statements, limit, cursor).await
    }

    async fn task(&self, id: TaskId) -> Result<Option<TaskView>, ViewError> {
        read::task(&self.session, &self.statements, id, self.retention, Utc::now()).await
    }

    async fn tasks(&self, filter: TaskFilter, limit: usize, cursor: Option<&str>) -> Result<Page<TaskView>, ViewError> {
        task_listing::tasks(&self.session, &self.statements, filter, limit, cursor, self.retention, Utc::now()).await
    }

    async fn payload_position(&self, id: TaskId) -> Result<Option<LogPosition>, ViewError> {
        task_listing::payload_position(&self.session, &self.statements, id, self.retention, Utc::now()).await
    }

    async fn attempts_for_task(&self, id: TaskId) -> Result<Vec<AttemptRecorded>, ViewError> {
        read::attempts_for_task(&self.session, &self.statements, id, self.retention, Utc::now()).await
    }

    async fn attempts_for_subscription(
        &self,
        id: SubscriptionId,
        limit: usize,
    ) -> Result<Vec<AttemptRecorded>, ViewError> {
        read::attempts_for_subscription(&self.session, &self.statements, id, limit, self.retention, Utc::now()).await
    }

    async fn event(&self, id: EventId) -> Result<Option<EventView>, ViewError> {
        events::event(&self.session, &self.statements, id, self.retention, Utc::now()).await
    }

    async fn events(
        &self,
        tenant: &TenantId,
        filter: &EventFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<EventView>, ViewError> {
        let (session, statements, retention, now) = (&self.session, &self.statements, self.retention, Utc::now());
        let after = cursor.map(EventPosition::from_cursor).transpose()?;
        let events = events::EventListing { session, statements, tenant, retention, now };
        listing::page(&events, filter.clone(), limit, after).await
    }

    async fn tokens_last_used(&self, ids: &[TokenId]) -> Result<HashMap<TokenId, DateTime<Utc>>, ViewError> {
        events::tokens_last_used(&self.session, &self.statements, ids).await
    }

    async fn replay(&self, id: ReplayId) -> Result<Option<ReplayView>, ViewError> {
        replays::replay(&self.session, &self.statements, id, self.retention, Utc::now()).await
    }

    async fn replays(
        &self,
        tenant: Option<&TenantId>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<ReplayView>, ViewError> {
        replays::replays(&self.session, &self.statements, tenant, limit, cursor, self.retention, Utc::now()).await
    }

    /// Deletes nothing and returns 0: every task, attempt and event row was written with a
    /// TTL, so the database has already removed each row whose retention has
    /// passed (and reads hid it from its expiry on). There is nothing left for a
    /// purge to find, and no row it could honestly count.
    async fn purge_expired(&self, _now: DateTime<Utc>) -> Result<u64, ViewError> {
        Ok(0)
    }
}
