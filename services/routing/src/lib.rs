//! Tenants, their tokens, and which subscriptions want an event, as every process
//! that serves or routes events needs them at once: in memory, folded from the log.
//!
//! Consumes: the tenants and subscriptions topics, from their first record, with no
//! consumer group (both are kept for ever). Produces: answers to "which tenant does
//! this token belong to", "which subscriptions of this tenant want this event type",
//! "who owns this subscription", "which subscriptions are disabled, and why". Guarantees: every process folds the same records by
//! the same rules ([`TenantRegistry`], [`RoutingIndex`]), so all agree once they have
//! read as far; [`Directory::wait_for`] lets a writer see its own append before it
//! answers; a revoked token stops working on a process as soon as its follower reads
//! the revocation (milliseconds on a live log).
//!
//! Memory: every tenant and token (about 300 bytes each) and every subscription ever
//! created (about 150 bytes each, see [`RoutingIndex`]) are held; 100,000
//! subscriptions take about 15 MB; a disabled subscription about 300 bytes more.

mod disabled;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hookline_domain::routing::RoutingIndex;
use hookline_domain::tenant::TenantRegistry;
use hookline_domain::{topics, SubscriptionEvent, SubscriptionId, Tenant, TenantEvent, TenantId, TenantToken};
use hookline_log::{Appended, ConsumerSpec, EventLog, LogError, Record, StartFrom};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::disabled::DisabledIndex;
pub use crate::disabled::DisabledSubscription;

/// How far the follower has read: for each topic and partition, the next offset to fold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Progress {
    next: HashMap<(String, u32), u64>,
    /// Whether it has read up to the ends the topics had when it started.
    caught_up: bool,
}

impl Progress {
    fn has_folded(&self, topic: &str, appended: &Appended) -> bool {
        self.next.get(&(topic.to_string(), appended.partition)).is_some_and(|next| *next > appended.offset)
    }
}

/// Why waiting for the directory ended without what was asked.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WaitError {
    #[error("the directory did not read that far within {0:?}")]
    TimedOut(Duration),
    #[error("the directory stopped following the log")]
    Stopped,
}

/// Tenants, tokens and the routing index of one process.
pub struct Directory {
    tenants: RwLock<TenantRegistry>,
    routes: RwLock<RoutingIndex>,
    disabled: RwLock<DisabledIndex>,
    progress: watch::Sender<Progress>,
}

impl Default for Directory {
    fn default() -> Self {
        Self::new()
    }
}

impl Directory {
    /// An empty directory: only the default tenant, no subscription. [`Directory::follow`] fills it.
    pub fn new() -> Self {
        Self {
            tenants: RwLock::new(TenantRegistry::new()),
            routes: RwLock::new(RoutingIndex::new()),
            disabled: RwLock::new(DisabledIndex::default()),
            progress: watch::Sender::new(Progress::default()),
        }
    }

    /// A live tenant.
    pub fn tenant(&self, id: &TenantId) -> Option<Tenant> {
        self.read_tenants().tenant(id).cloned()
    }

    /// Whether a tenant id was deleted (and may not be used again).
    pub fn tenant_was_deleted(&self, id: &TenantId) -> bool {
        self.read_tenants().was_deleted(id)
    }

    /// Live tenants in id order after `after`, `limit` at most.
    pub fn tenants_after(&self, after: Option<&TenantId>, limit: usize) -> Vec<Tenant> {
        self.read_tenants().tenants_after(after, limit).into_iter().cloned().collect()
    }

    /// The live token whose digest ([`hookline_domain::tenant::token_digest`]) is `digest`.
    pub fn token_by_digest(&self, digest: &str) -> Option<TenantToken> {
        self.read_tenants().token_by_digest(digest).cloned()
    }

    /// A tenant's live tokens, oldest first.
    pub fn tokens_of(&self, tenant: &TenantId) -> Vec<TenantToken> {
        self.read_tenants().tokens_of(tenant).into_iter().cloned().collect()
    }

    /// The enabled subscriptions of `tenant` that want `event_type`, in id order.
    pub fn matching(&self, tenant: &TenantId, event_type: &str) -> Vec<SubscriptionId> {
        self.read_routes().matching(tenant, event_type)
    }

    /// The enabled subscriptions of `tenant`, in id order.
    pub fn enabled_subscriptions(&self, tenant: &TenantId) -> Vec<SubscriptionId> {
        self.read_routes().enabled(tenant)
    }

    /// The tenant that owns (or owned, if deleted) a subscription.
    pub fn owner(&self, subscription: SubscriptionId) -> Option<TenantId> {
        self.read_routes().owner(subscription).cloned()
    }

    /// The disabled subscriptions of `tenant` (every tenant's when `None`), most recently
    /// disabled first, `limit` at most, and how many there are in all.
    pub fn disabled(&self, tenant: Option<&TenantId>, limit: usize) -> (Vec<DisabledSubscription>, usize) {
        self.disabled.read().unwrap_or_else(|e| e.into_inner()).list(tenant, limit)
    }

    /// How many live subscriptions `tenant` has.
    pub fn live_subscriptions(&self, tenant: &TenantId) -> usize {
        self.read_routes().live_count(tenant)
    }

    /// (tenants, tokens, subscriptions known) now: what the directory holds in memory.
    pub fn sizes(&self) -> (usize, usize, usize) {
        let tenants = self.read_tenants();
        (tenants.tenant_count(), tenants.token_count(), self.read_routes().len())
    }

    /// Whether the follower has read as far as the log reached when it started.
    pub fn is_caught_up(&self) -> bool {
        self.progress.borrow().caught_up
    }

    /// Waits until the follower has folded the record `appended` to `topic` (a writer's
    /// own append, so that its next request sees it), `timeout` at most.
    pub async fn wait_for(&self, topic: &str, appended: &Appended, timeout: Duration) -> Result<(), WaitError> {
        let mut progress = self.progress.subscribe();
        let folded = async { progress.wait_for(|progress| progress.has_folded(topic, appended)).await.is_ok() };
        match tokio::time::timeout(timeout, folded).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(WaitError::Stopped),
            Err(_) => Err(WaitError::TimedOut(timeout)),
        }
    }

    /// Waits until the follower has read as far as the log reached when it started.
    pub async fn caught_up(&self) {
        let mut progress = self.progress.subscribe();
        // The sender lives as long as `self`.
        let _ = progress.wait_for(|progress| progress.caught_up).await;
    }

    /// Folds the tenants and subscriptions topics from their first record, then follows
    /// them, until `shutdown`. A record that does not decode is logged and passed: it
    /// changes nothing, as for every other reader.
    pub async fn follow(&self, log: Arc<dyn EventLog>, shutdown: CancellationToken) -> Result<(), LogError> {
        let followed = [topics::TENANTS, topics::SUBSCRIPTIONS];
        let mut ends: HashMap<(String, u32), u64> = HashMap::new();
        for topic in followed {
            for (partition, end) in log.end_offsets(topic).await? {
                if end > 0 {
                    ends.insert((topic.to_string(), partition), end);
                }
            }
        }
        let consumer = log
            .consumer(ConsumerSpec {
                group: None,
                topics: followed.iter().map(|t| t.to_string()).collect(),
                start: StartFrom::Earliest,
            })
            .await?;
        self.mark_progress(&[], &ends);
        loop {
            let records = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                polled = consumer.poll(1024, Duration::from_millis(500)) => polled,
            };
            let records = match records {
                Ok(records) => records,
                Err(e) if e.is_retryable() => {
                    tracing::warn!(error = %e, "directory follower: log unavailable, retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            for record in &records {
                self.fold(record);
            }
            self.mark_progress(&records, &ends);
        }
    }

    fn fold(&self, record: &Record) {
        if record.topic == topics::TENANTS {
            match serde_json::from_slice::<TenantEvent>(&record.value) {
                Ok(event) => {
                    self.tenants.write().unwrap_or_else(|e| e.into_inner()).apply(&event);
                }
                Err(e) => {
                    tracing::warn!(partition = record.partition, offset = record.offset, error = %e, "undecodable tenant event")
                }
            }
        } else {
            match serde_json::from_slice::<SubscriptionEvent>(&record.value) {
                Ok(event) => {
                    let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
                    if routes.apply(&event) {
                        let owner = routes.owner(event.subscription_id()).cloned().unwrap_or_default();
                        self.disabled.write().unwrap_or_else(|e| e.into_inner()).apply(&event, owner);
                    }
                }
                Err(e) => {
                    tracing::warn!(partition = record.partition, offset = record.offset, error = %e, "undecodable subscription event")
                }
            }
        }
    }

    fn mark_progress(&self, records: &[Record], ends: &HashMap<(String, u32), u64>) {
        self.progress.send_modify(|progress| {
            for record in records {
                let next = progress.next.entry((record.topic.clone(), record.partition)).or_default();
                *next = (*next).max(record.offset + 1);
            }
            if !progress.caught_up {
                progress.caught_up = ends.iter().all(|(tp, end)| progress.next.get(tp).is_some_and(|next| next >= end));
            }
        });
    }

    fn read_tenants(&self) -> std::sync::RwLockReadGuard<'_, TenantRegistry> {
        self.tenants.read().unwrap_or_else(|e| e.into_inner())
    }

    fn read_routes(&self) -> std::sync::RwLockReadGuard<'_, RoutingIndex> {
        self.routes.read().unwrap_or_else(|e| e.into_inner())
    }
}
