//! Token buckets: one for the whole API and one per subscription for ingest. A
//! refused request learns how long to wait (`Retry-After`).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hookline_domain::SubscriptionId;

/// A sustained rate with a burst allowance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub per_second: NonZeroU32,
    /// How many requests may come at once after a quiet spell (at least 1).
    pub burst: NonZeroU32,
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

    fn is_full(&mut self, rate: Rate, now: Instant) -> bool {
        self.refill(rate, now);
        self.tokens >= f64::from(rate.burst.get())
    }
}

/// Past this many subscriptions with a bucket, full buckets (the same as none) are
/// dropped; if that frees nothing, a subscription without a bucket is let through
/// untracked until some do, so the buckets never take more than about 4 MB.
const TRACKED_SUBSCRIPTIONS: usize = 100_000;

/// The buckets of one process.
pub(crate) struct RateLimiter {
    limits: RateLimits,
    api: Mutex<Option<TokenBucket>>,
    subscriptions: Mutex<HashMap<SubscriptionId, TokenBucket>>,
}

impl RateLimiter {
    pub fn new(limits: RateLimits) -> Self {
        Self { limits, api: Mutex::new(None), subscriptions: Mutex::new(HashMap::new()) }
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
        let mut buckets = self.subscriptions.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        Self::admit_tracked(&mut buckets, TRACKED_SUBSCRIPTIONS, subscription, rate, now)
    }

    fn admit_tracked(
        buckets: &mut HashMap<SubscriptionId, TokenBucket>,
        capacity: usize,
        subscription: SubscriptionId,
        rate: Rate,
        now: Instant,
    ) -> Result<(), Duration> {
        if buckets.len() >= capacity && !buckets.contains_key(&subscription) {
            buckets.retain(|_, bucket| !bucket.is_full(rate, now));
            if buckets.len() >= capacity {
                return Ok(());
            }
        }
        buckets.entry(subscription).or_insert_with(|| TokenBucket::full(rate, now)).take(rate, now)
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
    fn buckets_are_capped() {
        let mut buckets = HashMap::new();
        let (limit, now) = (rate(1, 1), Instant::now());
        for _ in 0..10 {
            assert!(RateLimiter::admit_tracked(&mut buckets, 4, SubscriptionId::new(), limit, now).is_ok());
        }
        assert_eq!(buckets.len(), 4, "only the first four are tracked while none is full again");
        // A second later every bucket is full again: they make room for new ones.
        let later = now + Duration::from_secs(1);
        let newcomer = SubscriptionId::new();
        assert!(RateLimiter::admit_tracked(&mut buckets, 4, newcomer, limit, later).is_ok());
        assert_eq!(buckets.len(), 1);
        assert!(RateLimiter::admit_tracked(&mut buckets, 4, newcomer, limit, later).is_err());
    }

    #[test]
    fn waits_round_up_to_whole_seconds() {
        assert_eq!(retry_after_seconds(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_seconds(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_seconds(Duration::from_millis(2001)), 3);
    }
}
