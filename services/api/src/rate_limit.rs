//! Token buckets: one for the whole API, one per subscription for ingest and one per
//! tenant for its events and webhooks. A refused request learns how long to wait
//! (`Retry-After`).

use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hookline_domain::{SubscriptionId, TenantId};
use quick_cache::sync::Cache;

/// A sustained rate with a burst allowance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub per_second: NonZeroU32,
    /// How many requests may come at once after a quiet spell (at least 1).
    pub burst: NonZeroU32,
}

impl Rate {
    /// `per_second`, with one second's worth as the burst.
    pub fn per_second(per_second: NonZeroU32) -> Rate {
        Rate { per_second, burst: per_second }
    }
}

/// The rate limits of the API; `None` leaves that limit off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimits {
    /// Every `/api` request, ingest included (`HOOKLINE_RATE_LIMIT`).
    pub api: Option<Rate>,
    /// Ingest requests of one subscription (`HOOKLINE_INGEST_RATE_LIMIT`).
    pub ingest_per_subscription: Option<Rate>,
}

#[derive(Clone, Copy, Debug)]
struct TokenBucket {
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    fn full(rate: Rate, now: Instant) -> Self {
        Self { tokens: f64::from(rate.burst.get()), updated: now }
    }

    fn refill(&mut self, rate: Rate, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * f64::from(rate.per_second.get())).min(f64::from(rate.burst.get()));
        self.updated = now;
    }

    /// Takes one token, or says how long until one is there.
    fn take(&mut self, rate: Rate, now: Instant) -> Result<(), Duration> {
        self.refill(rate, now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / f64::from(rate.per_second.get())))
        }
    }
}

/// Subscriptions (or tenants) with a bucket, at most: about 10 MB. Past it the
/// coldest bucket is dropped (a dropped bucket starts full again), and a lookup costs
/// the same however many there are: a hash lookup in one shard of the cache, under
/// that shard's lock. Buckets are made only for webhooks whose signature was checked
/// and for tenants that exist, so nobody can fill the cache with ids of their own
/// invention.
const TRACKED_KEYS: usize = 100_000;

/// One bucket per key, bounded (see [`TRACKED_KEYS`]). The rate is given with each
/// request, so that a key's rate can change (a tenant's limit) without a new bucket.
struct KeyedBuckets<K> {
    buckets: Cache<K, Arc<Mutex<TokenBucket>>>,
}

impl<K: Eq + Hash + Clone> KeyedBuckets<K> {
    fn new(capacity: usize) -> Self {
        Self { buckets: Cache::new(capacity) }
    }

    fn take(&self, key: &K, rate: Rate, now: Instant) -> Result<(), Duration> {
        let full = || Arc::new(Mutex::new(TokenBucket::full(rate, now)));
        let bucket = self.buckets.get_or_insert_with(key, || Ok::<_, ()>(full())).unwrap_or_else(|()| full());
        let mut bucket = bucket.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        bucket.take(rate, now)
    }
}

/// The buckets of one process.
pub(crate) struct RateLimiter {
    limits: RateLimits,
    api: Mutex<Option<TokenBucket>>,
    subscriptions: KeyedBuckets<SubscriptionId>,
    tenants: KeyedBuckets<TenantId>,
}

impl RateLimiter {
    pub fn new(limits: RateLimits) -> Self {
        Self::with_capacity(limits, TRACKED_KEYS)
    }

    fn with_capacity(limits: RateLimits, capacity: usize) -> Self {
        Self {
            limits,
            api: Mutex::new(None),
            subscriptions: KeyedBuckets::new(capacity),
            tenants: KeyedBuckets::new(capacity),
        }
    }

    /// One request to the API; `Err` carries how long to wait.
    pub fn admit_request(&self, now: Instant) -> Result<(), Duration> {
        let Some(rate) = self.limits.api else { return Ok(()) };
        let mut bucket = self.api.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        bucket.get_or_insert_with(|| TokenBucket::full(rate, now)).take(rate, now)
    }

    /// One webhook for `subscription`; `Err` carries how long to wait.
    pub fn admit_webhook(&self, subscription: SubscriptionId, now: Instant) -> Result<(), Duration> {
        let Some(rate) = self.limits.ingest_per_subscription else { return Ok(()) };
        self.subscriptions.take(&subscription, rate, now)
    }

    /// One event or webhook of `tenant`, whose limit is `rate` (`None`: no limit).
    pub fn admit_tenant(&self, tenant: &TenantId, rate: Option<Rate>, now: Instant) -> Result<(), Duration> {
        let Some(rate) = rate else { return Ok(()) };
        self.tenants.take(tenant, rate, now)
    }
}

/// Whole seconds to wait, rounded up: what `Retry-After` carries.
pub(crate) fn retry_after_seconds(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(per_second: u32, burst: u32) -> Rate {
        Rate { per_second: NonZeroU32::new(per_second).unwrap(), burst: NonZeroU32::new(burst).unwrap() }
    }

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let limiter = RateLimiter::new(RateLimits { api: Some(rate(10, 3)), ingest_per_subscription: None });
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.admit_request(start).is_ok());
        }
        let wait = limiter.admit_request(start).unwrap_err();
        assert_eq!(wait, Duration::from_millis(100));
        assert_eq!(retry_after_seconds(wait), 1);
        // 100 ms later one token is back, and only one.
        let later = start + Duration::from_millis(100);
        assert!(limiter.admit_request(later).is_ok());
        assert!(limiter.admit_request(later).is_err());
        // A long pause refills to the burst, not beyond.
        let much_later = start + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(limiter.admit_request(much_later).is_ok());
        }
        assert!(limiter.admit_request(much_later).is_err());
    }

    #[test]
    fn each_subscription_has_its_own_bucket() {
        let limiter = RateLimiter::new(RateLimits { api: None, ingest_per_subscription: Some(rate(1, 2)) });
        let (noisy, quiet) = (SubscriptionId::new(), SubscriptionId::new());
        let now = Instant::now();
        assert!(limiter.admit_webhook(noisy, now).is_ok());
        assert!(limiter.admit_webhook(noisy, now).is_ok());
        assert_eq!(limiter.admit_webhook(noisy, now), Err(Duration::from_secs(1)));
        assert!(limiter.admit_webhook(quiet, now).is_ok());
        assert!(limiter.admit_request(now).is_ok(), "no API-wide limit configured");
    }

    #[test]
    fn buckets_are_capped_and_a_busy_one_is_kept() {
        let limits = RateLimits { api: None, ingest_per_subscription: Some(rate(1, 1)) };
        let limiter = RateLimiter::with_capacity(limits, 64);
        let (busy, now) = (SubscriptionId::new(), Instant::now());
        assert!(limiter.admit_webhook(busy, now).is_ok());
        for _ in 0..10_000 {
            assert!(limiter.admit_webhook(SubscriptionId::new(), now).is_ok(), "a new bucket starts full");
            assert!(limiter.admit_webhook(busy, now).is_err(), "the busy subscription stays limited");
        }
        let kept = limiter.subscriptions.buckets.len();
        assert!(kept <= 64, "{kept} buckets kept");
    }

    #[test]
    fn each_tenant_has_its_own_bucket_at_its_own_rate() {
        let limiter = RateLimiter::new(RateLimits::default());
        let (acme, globex) = (TenantId::parse("acme").unwrap(), TenantId::parse("globex").unwrap());
        let now = Instant::now();
        let two = Some(Rate::per_second(NonZeroU32::new(2).unwrap()));
        assert!(limiter.admit_tenant(&acme, two, now).is_ok());
        assert!(limiter.admit_tenant(&acme, two, now).is_ok());
        assert_eq!(limiter.admit_tenant(&acme, two, now), Err(Duration::from_millis(500)));
        assert!(limiter.admit_tenant(&globex, two, now).is_ok());
        assert!(limiter.admit_tenant(&acme, None, now).is_ok(), "no limit, no refusal");
    }

    #[test]
    fn waits_round_up_to_whole_seconds() {
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_seconds(Duration::from_millis(2001)), 3);
    }
}
