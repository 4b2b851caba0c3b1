//! The retry schedule: how long to wait before each attempt, and which tier topic
//! holds a task while it waits.

use std::time::Duration;

use crate::topics;

/// Exponential backoff with a cap, counted in attempts in all (the first included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (`MAX_RETRIES`).
    pub max_attempts: u32,
    /// Delay before the second attempt (`RETRY_BASE_DELAY_SECONDS`).
    pub base_delay_secs: u64,
    /// Multiplier between consecutive delays (`RETRY_FACTOR`).
    pub factor: u64,
    /// Longest delay (`MAX_RETRY_DELAY_SECONDS`).
    pub max_delay_secs: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self { max_attempts: 5, base_delay_secs: 10, factor: 3, max_delay_secs: 900 }
    }
}

/// What to do after an attempt failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NextStep {
    /// Try again after `delay` through the tier topic `tier`.
    Retry { attempt: u32, delay: Duration, tier: String },
    /// No attempts left.
    GiveUp,
}

impl RetryPolicy {
    /// The delay after failed attempt `attempt` (1-based):
    /// `min(base * factor^(attempt-1), max)`, never below one second.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1);
        let mut secs = self.base_delay_secs.max(1);
        for _ in 0..exponent {
            secs = secs.saturating_mul(self.factor.max(1));
            if secs >= self.max_delay_secs {
                break;
            }
        }
        Duration::from_secs(secs.min(self.max_delay_secs.max(1)))
    }

    /// What follows a failed attempt `attempt`.
    pub fn after_failure(&self, attempt: u32) -> NextStep {
        if attempt >= self.max_attempts {
            return NextStep::GiveUp;
        }
        let delay = self.delay_after(attempt);
        NextStep::Retry { attempt: attempt + 1, delay, tier: topics::retry_tier(delay.as_secs()) }
    }

    /// Every distinct delay this policy uses, shortest first: one tier topic each.
    pub fn tier_delays(&self) -> Vec<Duration> {
        let mut delays: Vec<Duration> = (1..self.max_attempts).map(|a| self.delay_after(a)).collect();
        delays.dedup();
        delays
    }

    /// Every tier topic name, shortest delay first.
    pub fn tier_topics(&self) -> Vec<String> {
        self.tier_delays().into_iter().map(|d| topics::retry_tier(d.as_secs())).collect()
    }

    /// Problems with the settings, one line each.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.max_attempts == 0 {
            out.push("MAX_RETRIES must be at least 1".into());
        }
        if self.max_attempts > 100 {
            out.push("MAX_RETRIES must be at most 100".into());
        }
        if self.base_delay_secs == 0 {
            out.push("RETRY_BASE_DELAY_SECONDS must be at least 1".into());
        }
        if self.factor == 0 {
            out.push("RETRY_FACTOR must be at least 1".into());
        }
        if self.max_delay_secs < self.base_delay_secs {
            out.push("MAX_RETRY_DELAY_SECONDS must not be below RETRY_BASE_DELAY_SECONDS".into());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn seed_defaults_give_the_seed_schedule() {
        let p = RetryPolicy::default();
        let secs: Vec<u64> = (1..5).map(|a| p.delay_after(a).as_secs()).collect();
        assert_eq!(secs, vec![10, 30, 90, 270]);
        assert_eq!(
            p.tier_topics(),
            vec!["hookline.retry.10s", "hookline.retry.30s", "hookline.retry.90s", "hookline.retry.270s"]
        );
        assert_eq!(p.after_failure(5), NextStep::GiveUp);
        assert_eq!(
            p.after_failure(1),
            NextStep::Retry { attempt: 2, delay: Duration::from_secs(10), tier: "hookline.retry.10s".into() }
        );
    }

    #[test]
    fn cap_applies() {
        let p = RetryPolicy { max_attempts: 10, ..RetryPolicy::default() };
        assert_eq!(p.delay_after(9).as_secs(), 900);
        assert_eq!(p.tier_delays().last().unwrap().as_secs(), 900);
    }

    proptest! {
        #[test]
        fn backoff_is_monotone_and_capped(base in 1u64..1000, factor in 1u64..10, cap in 1u64..100_000, max in 1u32..60) {
            let p = RetryPolicy { max_attempts: max, base_delay_secs: base, factor, max_delay_secs: cap.max(base) };
            let mut last = Duration::ZERO;
            for a in 1..=max {
                let d = p.delay_after(a);
                prop_assert!(d >= last);
                prop_assert!(d.as_secs() <= p.max_delay_secs);
                last = d;
            }
            let tiers = p.tier_delays();
            prop_assert!(tiers.windows(2).all(|w| w[0] < w[1]));
        }
    }
}
