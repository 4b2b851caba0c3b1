//! Subscription lookups for ingest and delivery.
//!
//! Consumes: the subscriptions topic (to keep the cache fresh) and the subscription
//! view (on a miss). Produces: [`SubscriptionState`]s. Guarantees: a subscription
//! written through this instance ([`SubscriptionDirectory::remember`]) is seen at
//! once by later lookups on this instance; changes made anywhere else are seen as
//! soon as they reach the log tailer, and at the latest after the cache expiry.
//! Every lookup is counted as a cache hit or miss ([`CacheStats`]).
//!
//! Secrets are kept sealed in the log and the views when an encryption key is set:
//! the directory opens them with its [`SecretSealer`] as it reads, so what it hands
//! out holds plaintext, and writers seal with the same sealer ([`SubscriptionDirectory::sealer`]).
//! A secret that does not open is an error for that subscription, never a missing secret.

mod metrics;

use std::sync::Arc;
use std::time::{Duration, Instant};

use hookline_domain::{topics, SubscriptionEvent, SubscriptionId, SubscriptionState};
use hookline_log::{ConsumerSpec, EventLog, LogError, StartFrom};
use hookline_secrets::SecretSealer;
use hookline_views::{ViewError, ViewStore};
use quick_cache::sync::Cache;
use tokio_util::sync::CancellationToken;

pub use metrics::CacheStats;

#[derive(Clone)]
struct Entry {
    state: Option<Arc<SubscriptionState>>,
    fetched: Instant,
}

/// A cache of subscriptions in front of the subscription view.
pub struct SubscriptionDirectory {
    views: Arc<dyn ViewStore>,
    cache: Cache<SubscriptionId, Entry>,
    expiry: Duration,
    stats: Arc<CacheStats>,
    sealer: SecretSealer,
}

impl SubscriptionDirectory {
    /// `capacity` entries at most, each trusted for `expiry` (`CACHE_EXPIRY_SECONDS`).
    pub fn new(views: Arc<dyn ViewStore>, capacity: usize, expiry: Duration) -> Self {
        Self {
            views,
            cache: Cache::new(capacity.max(16)),
            expiry,
            stats: Arc::new(CacheStats::default()),
            sealer: SecretSealer::without_key(),
        }
    }

    /// Opens sealed secrets with `sealer` (by default there is no key: secrets are
    /// plaintext and sealed ones are refused).
    pub fn with_sealer(self, sealer: SecretSealer) -> Self {
        Self { sealer, ..self }
    }

    /// The sealer every write of a subscription change must seal with.
    pub fn sealer(&self) -> &SecretSealer {
        &self.sealer
    }

    /// The subscription's state, from the cache or else the view. `None`: never seen.
    pub async fn get(&self, id: SubscriptionId) -> Result<Option<Arc<SubscriptionState>>, ViewError> {
        if let Some(entry) = self.cache.get(&id) {
            if entry.fetched.elapsed() < self.expiry {
                self.stats.hit();
                return Ok(entry.state);
            }
        }
        self.stats.miss();
        let state = match self.views.subscription(id).await? {
            Some(SubscriptionState::Live(stored)) => Some(SubscriptionState::Live(
                self.sealer.open_subscription(stored).map_err(|e| ViewError::Corrupt(e.to_string()))?,
            )),
            other => other,
        }
        .map(Arc::new);
        // An unknown id is not cached: it may be created on another instance a moment later.
        if state.is_some() {
            self.cache.insert(id, Entry { state: state.clone(), fetched: Instant::now() });
        }
        Ok(state)
    }

    /// The hit and miss counts of [`SubscriptionDirectory::get`]; register them to render them.
    pub fn cache_stats(&self) -> Arc<CacheStats> {
        self.stats.clone()
    }

    /// Records a change this instance has just made durable (its secrets in plaintext).
    pub fn remember(&self, event: &SubscriptionEvent) {
        let state = match event {
            SubscriptionEvent::SubscriptionCreated { subscription }
            | SubscriptionEvent::SubscriptionUpdated { subscription } => SubscriptionState::Live(subscription.clone()),
            SubscriptionEvent::SubscriptionDeleted { id, deleted_at } => {
                SubscriptionState::Deleted { id: *id, deleted_at: *deleted_at }
            }
        };
        self.cache.insert(event.subscription_id(), Entry { state: Some(Arc::new(state)), fetched: Instant::now() });
    }

    /// Follows the subscriptions topic from its end and applies every change to the
    /// cache, until `shutdown`. Undecodable records are logged and skipped: the view
    /// stays the fallback.
    pub async fn follow(&self, log: Arc<dyn EventLog>, shutdown: CancellationToken) -> Result<(), LogError> {
        let consumer = log
            .consumer(ConsumerSpec {
                group: None,
                topics: vec![topics::SUBSCRIPTIONS.to_string()],
                start: StartFrom::Latest,
            })
            .await?;
        loop {
            let records = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                polled = consumer.poll(256, Duration::from_secs(1)) => polled,
            };
            let records = match records {
                Ok(records) => records,
                Err(e) if e.is_retryable() => {
                    tracing::warn!(error = %e, "subscription follower: log unavailable, retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            for record in records {
                match serde_json::from_slice::<SubscriptionEvent>(&record.value) {
                    Ok(event) => {
                        let id = event.subscription_id();
                        match self.sealer.open_event(event) {
                            Ok(event) => self.remember(&event),
                            Err(e) => {
                                // Forgotten, so that lookups go to the view and report the error.
                                self.cache.remove(&id);
                                tracing::error!(subscription_id = %id, error = %e, "subscription secret does not open")
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(offset = record.offset, partition = record.partition, error = %e, "undecodable subscription event")
                    }
                }
            }
        }
    }
}
