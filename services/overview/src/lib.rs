//! What hookline is doing at a glance, for the dashboard's overview and
//! `GET /api/v1/overview`: events accepted, attempts delivered and failed, dead letters,
//! attempt and end-to-end latency over the last hour; the delivery backlog of each
//! retry tier; the subscriptions failing most; the disabled ones and why.
//!
//! Consumes: `hookline.fanout`, `hookline.deliveries`, `hookline.attempts` and
//! `hookline.dlq`, followed from their end with no consumer group (as the routing
//! directory follows its topics), so every api process counts every record whichever
//! process wrote it; the delivery role's end and committed offsets through the log port
//! (the backlog); the routing directory (who owns a subscription, which are disabled).
//! Produces: a [`Snapshot`] per scope (everything, or one tenant).
//!
//! Guarantees: history starts when the process starts following (it is not rebuilt
//! from the log); counts are bucketed by when this process read the record, within a
//! second of its append on a live log. Memory is bounded whatever the load: one ring of
//! at most [`OverviewConfig::intervals`] intervals for everything and one per tenant for
//! the [`OverviewConfig::tenant_scopes`] most recently active tenants (about 32 KB per
//! full hour each), and [`OverviewConfig::failing_subscriptions`] tracked failing
//! subscriptions (about 600 bytes each). A snapshot costs a walk of those, never a read
//! of the views or the log.

mod backlog;
mod failing;
mod observe;
mod ring;
mod sketch;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use hookline_domain::{topics, SubscriptionId, TenantId};
use hookline_log::{ConsumerSpec, EventLog, LogError, Record, StartFrom};
use hookline_routing::Directory;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

pub use backlog::{Backlog, BacklogSource, SourceBacklog, BACKLOG_EVERY};
pub use failing::FailingSubscription;
pub use ring::{Counts, Series};
pub use sketch::Percentiles;

use failing::FailingBook;
use observe::{observe, Observed};
use ring::Ring;

/// The topics the overview follows.
pub const FOLLOWED: [&str; 4] = [topics::FANOUT, topics::DELIVERIES, topics::ATTEMPTS, topics::DLQ];
/// Failing and disabled subscriptions listed at most.
const LISTED: usize = 10;

/// The overview's bounds.
#[derive(Clone, Debug)]
pub struct OverviewConfig {
    /// Length of one interval of the history.
    pub interval: Duration,
    /// Intervals kept (the window is `interval × intervals`).
    pub intervals: usize,
    /// Tenants with a history of their own, at most; the least recently active one is
    /// forgotten to make room.
    pub tenant_scopes: usize,
    /// Failing subscriptions tracked, at most.
    pub failing_subscriptions: usize,
    /// Where the delivery role's backlog is.
    pub backlog_sources: Vec<BacklogSource>,
}

impl Default for OverviewConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(10),
            intervals: 360,
            tenant_scopes: 128,
            failing_subscriptions: 512,
            backlog_sources: Vec::new(),
        }
    }
}

/// The overview of one scope, as `GET /api/v1/overview` answers it.
#[derive(Clone, Debug, Serialize)]
pub struct Snapshot {
    /// The tenant it is about; `None`: every tenant.
    pub tenant_id: Option<TenantId>,
    #[serde(serialize_with = "rfc3339")]
    pub generated_at: DateTime<Utc>,
    /// Since when this process has counted: when it started following the log.
    #[serde(serialize_with = "rfc3339")]
    pub counting_since: DateTime<Utc>,
    pub window_seconds: i64,
    /// Everything counted in the window (or since `counting_since`), up to now.
    pub totals: Counts,
    /// Per interval, oldest first, up to the last complete one.
    pub series: SeriesBody,
    /// The delivery role's backlog; `None` for a tenant (the topics are shared) and
    /// before the first sample.
    pub backlog: Option<Backlog>,
    pub failing_subscriptions: Vec<FailingSubscription>,
    pub disabled_subscriptions: DisabledBody,
}

/// [`Series`] with its start as a timestamp.
#[derive(Clone, Debug, Serialize)]
pub struct SeriesBody {
    #[serde(serialize_with = "rfc3339")]
    pub start: DateTime<Utc>,
    #[serde(flatten)]
    pub series: Series,
}

/// The disabled subscriptions of the scope: the most recently disabled, and how many.
#[derive(Clone, Debug, Serialize)]
pub struct DisabledBody {
    pub total: usize,
    pub items: Vec<DisabledItem>,
}

#[derive(Clone, Debug, Serialize)]
pub struct DisabledItem {
    pub subscription_id: SubscriptionId,
    pub tenant_id: TenantId,
    pub target_url: String,
    pub reason: Option<String>,
    #[serde(serialize_with = "rfc3339")]
    pub disabled_at: DateTime<Utc>,
}

/// Everything the follower has counted.
struct History {
    all: Ring,
    tenants: HashMap<TenantId, Ring>,
    failing: FailingBook,
}

/// The overview of one process.
pub struct Overview {
    config: OverviewConfig,
    routing: Arc<Directory>,
    counting_since: Mutex<DateTime<Utc>>,
    history: Mutex<History>,
    backlog: Mutex<Option<Backlog>>,
}

impl Overview {
    pub fn new(config: OverviewConfig, routing: Arc<Directory>) -> Self {
        let now = Utc::now();
        let history = History {
            all: Ring::new(config.interval_seconds(), config.intervals as i64, now.timestamp()),
            tenants: HashMap::new(),
            failing: FailingBook::new(config.failing_subscriptions),
        };
        Self {
            config,
            routing,
            counting_since: Mutex::new(now),
            history: Mutex::new(history),
            backlog: Mutex::new(None),
        }
    }

    /// Follows the topics from their end until `shutdown`, counting what they carry.
    /// A record that does not decode counts for nothing.
    pub async fn follow(&self, log: Arc<dyn EventLog>, shutdown: CancellationToken) -> Result<(), LogError> {
        let spec = ConsumerSpec {
            group: None,
            topics: FOLLOWED.iter().map(|t| t.to_string()).collect(),
            start: StartFrom::Latest,
        };
        let consumer = log.consumer(spec).await?;
        *lock(&self.counting_since) = Utc::now();
        loop {
            let polled = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                polled = consumer.poll(1024, Duration::from_millis(500)) => polled,
            };
            match polled {
                Ok(records) => self.fold(&records, Utc::now()),
                Err(e) if e.is_retryable() => {
                    tracing::warn!(error = %e, "overview follower: log unavailable, retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Samples the delivery role's backlog every `every` until `shutdown`.
    pub async fn sample_backlog(&self, log: Arc<dyn EventLog>, every: Duration, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticker.tick() => {
                    let sampled = backlog::sample(log.as_ref(), &self.config.backlog_sources).await;
                    *lock(&self.backlog) = Some(sampled);
                }
            }
        }
    }

    /// The overview of `tenant` (every tenant when `None`) now.
    pub fn snapshot(&self, tenant: Option<&TenantId>) -> Snapshot {
        let now = Utc::now();
        let counting_since = *lock(&self.counting_since);
        let (totals, series, failing) = {
            let mut history = lock(&self.history);
            let history = &mut *history;
            let (totals, series) = match tenant {
                None => Some(&mut history.all),
                Some(tenant) => history.tenants.get_mut(tenant),
            }
            .map_or_else(
                || {
                    // A tenant with nothing counted yet: an empty history.
                    let empty =
                        Ring::new(self.config.interval_seconds(), self.config.intervals as i64, now.timestamp());
                    (empty.totals(), empty.series(counting_since.timestamp()))
                },
                |ring| {
                    ring.advance(now.timestamp());
                    (ring.totals(), ring.series(counting_since.timestamp()))
                },
            );
            (totals, series, history.failing.top(tenant, LISTED, now.timestamp()))
        };
        let (disabled, total) = self.routing.disabled(tenant, LISTED);
        Snapshot {
            tenant_id: tenant.cloned(),
            generated_at: now,
            counting_since,
            window_seconds: self.config.interval_seconds() * self.config.intervals as i64,
            totals,
            series: SeriesBody { start: DateTime::from_timestamp(series.start, 0).unwrap_or(now), series },
            backlog: if tenant.is_none() { lock(&self.backlog).clone() } else { None },
            failing_subscriptions: failing,
            disabled_subscriptions: DisabledBody {
                total,
                items: disabled
                    .into_iter()
                    .map(|d| DisabledItem {
                        subscription_id: d.id,
                        tenant_id: d.tenant_id,
                        target_url: d.target_url,
                        reason: d.reason,
                        disabled_at: d.since,
                    })
                    .collect(),
            },
        }
    }

    /// Counts a batch of records read at `now`: decoded first, then added under one lock.
    fn fold(&self, records: &[Record], now: DateTime<Utc>) {
        let observed: Vec<Observed> = records.iter().filter_map(|r| observe(r, &self.routing)).collect();
        if observed.is_empty() {
            return;
        }
        let now = now.timestamp();
        let (interval, intervals) = (self.config.interval_seconds(), self.config.intervals as i64);
        let mut history = lock(&self.history);
        for Observed { tenant, happened, attempt } in observed {
            if let Some(attempt) = attempt {
                history.failing.record(attempt, now);
            }
            history.all.record(happened, now);
            let Some(tenant) = tenant else { continue };
            if !history.tenants.contains_key(&tenant) && history.tenants.len() >= self.config.tenant_scopes {
                let idlest = history.tenants.iter().min_by_key(|(_, ring)| ring.last_active).map(|(id, _)| id.clone());
                if let Some(idlest) = idlest {
                    history.tenants.remove(&idlest);
                }
            }
            history.tenants.entry(tenant).or_insert_with(|| Ring::new(interval, intervals, now)).record(happened, now);
        }
    }
}

impl OverviewConfig {
    fn interval_seconds(&self) -> i64 {
        self.interval.as_secs().max(1) as i64
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Timestamps as the rest of the API writes them (RFC 3339, microseconds).
fn rfc3339<S: serde::Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&at.to_rfc3339_opts(SecondsFormat::Micros, false))
}
