//! Subscription lookups for ingest and delivery, and what writers of subscription
//! changes need ([`Verdict`]s, the current state).
//!
//! Consumes: the subscriptions topic (to keep the cache fresh) and the subscription
//! view (on a miss). Produces: [`SubscriptionState`]s. Guarantees: a change this
//! instance wrote and saw applied ([`SubscriptionDirectory::remember`]) is seen at
//! once by later lookups on this instance; changes made anywhere else are seen as
//! soon as they reach the log tailer, and at the latest after the cache expiry. The
//! cache never holds a change the log refused: the tailer folds a change into a
//! cached state only when that state itself came from the log (a change remembered
//! or folded here), and otherwise forgets the entry, so that the next lookup reads
//! the views, which fold by the same rule.
//! Every lookup is counted as a cache hit or miss ([`CacheStats`]).
//!
//! Secrets are kept sealed in the log and the views when an encryption key is set:
//! the directory opens them with its [`SecretSealer`] as it reads, so what it hands
//! out holds plaintext, and writers seal with the same sealer ([`SubscriptionDirectory::sealer`]).
//! A secret that does not open is an error for that subscription, never a missing secret.

mod limits;
mod metrics;
mod writes;

use std::sync::Arc;
use std::time::{Duration, Instant};

use hookline_domain::{topics, versions, SubscriptionEvent, SubscriptionId, SubscriptionState};
use hookline_log::{ConsumerSpec, EventLog, LogError, StartFrom};
use hookline_secrets::SecretSealer;
use hookline_views::{ViewError, ViewStore};
use quick_cache::sync::Cache;
use tokio_util::sync::CancellationToken;

pub use limits::InFlightLimits;
pub use metrics::CacheStats;
pub use writes::{ChangeError, Recorded, Verdict};

/// How long a state read from the views is trusted when the tailer has just seen a
/// change it could not fold: the views may not have folded it yet.
const UNSETTLED_TRUST: Duration = Duration::from_secs(1);

#[derive(Clone)]
struct Entry {
    state: Option<Arc<SubscriptionState>>,
    fetched: Instant,
    /// How long the entry is trusted.
    trust: Duration,
    /// Whether the state comes from the log (a change remembered or folded by the
    /// tailer), which the tailer may fold later changes into.
    from_log: bool,
}

/// A cache of subscriptions in front of the subscription view.
pub struct SubscriptionDirectory {
    views: Arc<dyn ViewStore>,
    cache: Cache<SubscriptionId, Entry>,
    expiry: Duration,
    stats: Arc<CacheStats>,
    sealer: SecretSealer,
    /// Ids the tailer saw change without being able to fold the change: lookups
    /// trust what the views say of them only briefly.
    unsettled: Cache<SubscriptionId, Instant>,
    /// What the delivery role of this process applies to each subscription now.
    in_flight: Arc<InFlightLimits>,
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
            unsettled: Cache::new(capacity.clamp(16, 4096)),
            in_flight: Arc::new(InFlightLimits::new(capacity.clamp(16, 65_536))),
        }
    }

    /// Opens sealed secrets with `sealer` (by default there is no key: secrets are
    /// plaintext and sealed ones are refused).
    pub fn with_sealer(self, sealer: SecretSealer) -> Self {
        Self { sealer, ..self }
    }

    /// The in-flight limits the delivery role of this process posts, for the API.
    pub fn in_flight_limits(&self) -> Arc<InFlightLimits> {
        self.in_flight.clone()
    }

    /// The sealer every write of a subscription change must seal with.
    pub fn sealer(&self) -> &SecretSealer {
        &self.sealer
    }

    /// The subscription's state if the cache holds it now, without reading the views:
    /// for decisions that must not wait (a lookup that waits lets later work overtake).
    pub fn cached(&self, id: SubscriptionId) -> Option<Arc<SubscriptionState>> {
        self.cache.get(&id).filter(|entry| entry.fetched.elapsed() < entry.trust).and_then(|entry| entry.state)
    }

    /// The subscription's state, from the cache or else the view. `None`: never seen.
    pub async fn get(&self, id: SubscriptionId) -> Result<Option<Arc<SubscriptionState>>, ViewError> {
        if let Some(entry) = self.cache.get(&id) {
            if entry.fetched.elapsed() < entry.trust {
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
            let unsettled = self.unsettled.get(&id).is_some_and(|since| since.elapsed() < self.expiry);
            let trust = if unsettled { UNSETTLED_TRUST.min(self.expiry) } else { self.expiry };
            self.cache.insert(id, Entry { state: state.clone(), fetched: Instant::now(), trust, from_log: false });
        }
        Ok(state)
    }

    /// The hit and miss counts of [`SubscriptionDirectory::get`]; register them to render them.
    pub fn cache_stats(&self) -> Arc<CacheStats> {
        self.stats.clone()
    }

    /// Records a change this instance has just seen applied (its secrets in plaintext).
    pub fn remember(&self, event: &SubscriptionEvent) {
        let state = match event {
            SubscriptionEvent::SubscriptionCreated { subscription }
            | SubscriptionEvent::SubscriptionUpdated { subscription } => SubscriptionState::Live(subscription.clone()),
            SubscriptionEvent::SubscriptionDeleted { id, deleted_at, .. } => {
                SubscriptionState::Deleted { id: *id, deleted_at: *deleted_at }
            }
        };
        self.keep(event.subscription_id(), state);
    }

    fn keep(&self, id: SubscriptionId, state: SubscriptionState) {
        let entry = Entry { state: Some(Arc::new(state)), fetched: Instant::now(), trust: self.expiry, from_log: true };
        self.cache.insert(id, entry);
    }

    /// Folds a change read from the log into the cache: into a state that came from
    /// the log by the log's rule; otherwise the entry is forgotten (the views decide).
    fn fold(&self, event: &SubscriptionEvent) {
        let id = event.subscription_id();
        let cached = self.cache.get(&id);
        if let Some(Entry { state: Some(state), from_log: true, .. }) = &cached {
            // This instance's own change, remembered when it was applied.
            if let SubscriptionState::Live(live) = state.as_ref() {
                if event.write_id().is_some() && live.write_id == event.write_id() && live.version == event.version() {
                    return;
                }
            }
            if let Some(next) = versions::apply(Some(state), event) {
                self.keep(id, next);
                return;
            }
            if matches!(state.as_ref(), SubscriptionState::Deleted { .. }) {
                return;
            }
        }
        self.cache.remove(&id);
        self.unsettled.insert(id, Instant::now());
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
                            Ok(event) => self.fold(&event),
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
