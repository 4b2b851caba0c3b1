//! The embedded adapter of [`ViewStore`]: the views in one redb file, for a single
//! machine. Every redb call runs on tokio's blocking pool; `apply` commits one durable
//! write transaction, `purge_expired` as many bounded ones as it takes, reads each use
//! one read transaction (so a read never sees half a batch).
//!
//! Tables and keys are described in `schema.rs`.

mod codec;
mod error;
mod purge;
mod read;
mod replays;
mod schema;
mod stored;
mod write;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use hookline_domain::{
    AttemptRecorded, EventId, LogPosition, ReplayId, Subscription, SubscriptionId, SubscriptionState, TaskId, TaskView,
    TenantId, TokenId,
};
use redb::Database;
use uuid::Uuid;

use self::error::EmbeddedError;
use self::schema::clock_ms;
use crate::{
    EventFilter, EventPosition, EventView, Page, ReplayPosition, ReplayView, Retention, TaskFilter, TaskPosition,
    ViewChange, ViewError, ViewStore,
};

/// The default page cache of the views (redb's own default is 1 GiB).
pub const DEFAULT_CACHE_BYTES: usize = 32 << 20;

/// The views in a redb database file.
pub struct EmbeddedViews {
    db: Arc<Database>,
    ttl: Duration,
}

impl EmbeddedViews {
    /// Opens the database file at `path`, creating it (and its parent directories) if
    /// needed. A file can be open once at a time: a second open fails with
    /// [`ViewError::Unavailable`] until the first handle is dropped.
    ///
    /// This blocks on file I/O; call it at start-up or from a blocking task.
    pub fn open(path: &Path, retention: Retention) -> Result<Arc<EmbeddedViews>, ViewError> {
        Self::open_with_cache(path, retention, DEFAULT_CACHE_BYTES)
    }

    /// [`EmbeddedViews::open`] with a page cache of `cache_bytes` (reads and the
    /// write buffer together): what the views hold in memory however large the file.
    pub fn open_with_cache(
        path: &Path,
        retention: Retention,
        cache_bytes: usize,
    ) -> Result<Arc<EmbeddedViews>, ViewError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| ViewError::Storage(format!("create {}: {e}", parent.display())))?;
        }
        let db = Database::builder().set_cache_size(cache_bytes).create(path).map_err(EmbeddedError::from)?;
        schema::create_tables(&db)?;
        write::list_unlisted_tasks(&db)?;
        Ok(Arc::new(EmbeddedViews { db: Arc::new(db), ttl: retention.ttl }))
    }

    /// Runs `work` on the blocking pool with the database and the retention.
    async fn blocking<T, W>(&self, work: W) -> Result<T, ViewError>
    where
        T: Send + 'static,
        W: FnOnce(&Database, Duration) -> Result<T, EmbeddedError> + Send + 'static,
    {
        let (db, ttl) = (Arc::clone(&self.db), self.ttl);
        tokio::task::spawn_blocking(move || work(&db, ttl))
            .await
            .map_err(|e| ViewError::Storage(format!("view store task failed: {e}")))?
            .map_err(ViewError::from)
    }
}

#[async_trait]
impl ViewStore for EmbeddedViews {
    async fn apply(&self, changes: Vec<ViewChange>) -> Result<(), ViewError> {
        if changes.is_empty() {
            return Ok(());
        }
        let now = clock_ms(Utc::now());
        self.blocking(move |db, ttl| write::apply(db, ttl, now, changes)).await
    }

    async fn subscription(&self, id: SubscriptionId) -> Result<Option<SubscriptionState>, ViewError> {
        self.blocking(move |db, _| read::subscription(db, id)).await
    }

    async fn subscription_write(&self, id: SubscriptionId, version: u64) -> Result<Option<Uuid>, ViewError> {
        self.blocking(move |db, _| read::subscription_write(db, id, version)).await
    }

    async fn subscriptions(&self, limit: usize, cursor: Option<&str>) -> Result<Page<Subscription>, ViewError> {
        let after = cursor.map(|c| c.parse::<SubscriptionId>().map_err(|_| ViewError::InvalidCursor)).transpose()?;
        self.blocking(move |db, _| read::subscriptions(db, limit, after)).await
    }

    async fn task(&self, id: TaskId) -> Result<Option<TaskView>, ViewError> {
        let now = clock_ms(Utc::now());
        self.blocking(move |db, _| read::task(db, id, now)).await
    }

    async fn tasks(&self, filter: TaskFilter, limit: usize, cursor: Option<&str>) -> Result<Page<TaskView>, ViewError> {
        let after = cursor.map(TaskPosition::from_cursor).transpose()?;
        let now = clock_ms(Utc::now());
        self.blocking(move |db, _| read::tasks(db, filter, limit, after, now)).await
    }

    async fn payload_position(&self, id: TaskId) -> Result<Option<LogPosition>, ViewError> {
        let now = clock_ms(Utc::now());
        self.blocking(move |db, ttl| read::payload_position(db, id, ttl, now)).await
    }

    async fn attempts_for_task(&self, id: TaskId) -> Result<Vec<AttemptRecorded>, ViewError> {
        let now = clock_ms(Utc::now());
        self.blocking(move |db, _| read::attempts_for_task(db, id, now)).await
    }

    async fn attempts_for_subscription(
        &self,
        id: SubscriptionId,
        limit: usize,
    ) -> Result<Vec<AttemptRecorded>, ViewError> {
        let now = clock_ms(Utc::now());
        self.blocking(move |db, _| read::attempts_for_subscription(db, id, limit, now)).await
    }

    async fn event(&self, id: EventId) -> Result<Option<EventView>, ViewError> {
        let now = clock_ms(Utc::now());
        self.blocking(move |db, _| read::event(db, id, now)).await
    }

    async fn events(
        &self,
        tenant: &TenantId,
        filter: &EventFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<EventView>, ViewError> {
        let after = cursor.map(EventPosition::from_cursor).transpose()?;
        let (tenant, filter, now) = (tenant.clone(), filter.clone(), clock_ms(Utc::now()));
        self.blocking(move |db, _| read::events(db, &tenant, filter, limit, after, now)).await
    }

    async fn replay(&self, id: ReplayId) -> Result<Option<ReplayView>, ViewError> {
        let now = clock_ms(Utc::now());
        self.blocking(move |db, _| read::replay(db, id, now)).await
    }

    async fn replays(
        &self,
        tenant: Option<&TenantId>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page<ReplayView>, ViewError> {
        let after = cursor.map(ReplayPosition::from_cursor).transpose()?;
        let (tenant, now) = (tenant.cloned(), clock_ms(Utc::now()));
        self.blocking(move |db, _| read::replays(db, tenant, limit, after, now)).await
    }

    async fn tokens_last_used(&self, ids: &[TokenId]) -> Result<HashMap<TokenId, DateTime<Utc>>, ViewError> {
        let ids = ids.to_vec();
        self.blocking(move |db, _| read::tokens_last_used(db, &ids)).await
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, ViewError> {
        let now = clock_ms(now);
        // Transaction after transaction, so that the projector's writes go in between.
        let mut rows = 0;
        loop {
            let purged = self.blocking(move |db, _| purge::purge_expired(db, now)).await?;
            rows += purged.rows;
            if !purged.more {
                return Ok(rows);
            }
        }
    }
}
