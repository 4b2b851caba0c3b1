//! The retry schedule: how long to wait before each attempt, and which tier topic
//! holds a task while it waits, with random jitter and the receiver's `Retry-After`.
//!
//! Jitter only ever shortens a delay (a delay `d` becomes one drawn from
//! `[d × (1 − j), d]`). A tier topic holds records written one after another with
//! (nominally) the same delay, and its consumer releases them in order; because no
//! record is due later than its tier's delay after it was written, a record never
//! waits behind an earlier one for more than `j × d` past its own due time, and
//! never past the un-jittered schedule.

use std::time::Duration;

use crate::topics;

/// How many attempts a task gets and how long each retry waits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (`MAX_RETRIES`).
    pub max_attempts: u32,
    /// The delays between attempts.
    pub schedule: Schedule,
}

/// The delays between attempts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// `min(base × factor^(n−1), max)` seconds after failed attempt `n`: the seed's
    /// `RETRY_BASE_DELAY_SECONDS`, `RETRY_FACTOR` and `MAX_RETRY_DELAY_SECONDS`.
    Exponential { base_delay_secs: u64, factor: u64, max_delay_secs: u64 },
    /// The delay after failed attempt `n` is the `n`-th of the list (seconds); past the
    /// end of the list, its last delay again.
    Fixed(Vec<u64>),
}

/// The production preset (`HOOKLINE_RETRY_SCHEDULE=production`): the Standard Webhooks
/// recommendation (immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h), with 10 h
/// retries continued, as Stripe does, until about three days have passed: 12 attempts
/// over 67 h 35 min 5 s, within the default 72 h retention.
pub const PRODUCTION_DELAYS_SECS: [u64; 11] =
    [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000, 36_000, 36_000, 36_000, 36_000];

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::exponential(5, 10, 3, 900)
    }
}

/// The default spread of backoff delays (`HOOKLINE_RETRY_JITTER`).
pub const DEFAULT_JITTER: f64 = 0.2;

/// Random spread of backoff delays, so that receivers that failed together are not
/// retried together: each delay `d` is drawn from `[d × (1 − fraction), d]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Jitter {
    fraction: f64,
}

/// A jitter fraction outside `[0, 1)`.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
#[error("HOOKLINE_RETRY_JITTER must be at least 0 and below 1 (got {0})")]
pub struct JitterError(pub f64);

impl Jitter {
    /// Every delay exactly as scheduled.
    pub const NONE: Jitter = Jitter { fraction: 0.0 };

    pub fn new(fraction: f64) -> Result<Jitter, JitterError> {
        if (0.0..1.0).contains(&fraction) {
            Ok(Jitter { fraction })
        } else {
            Err(JitterError(fraction))
        }
    }

    pub fn fraction(&self) -> f64 {
        self.fraction
    }

    /// `delay × (1 − fraction × draw)`, for a random `draw` in `[0, 1]` (clamped to it).
    pub fn apply(&self, delay: Duration, draw: f64) -> Duration {
        let draw = if draw.is_nan() { 0.0 } else { draw.clamp(0.0, 1.0) };
        delay.mul_f64(1.0 - self.fraction * draw)
    }
}

impl Default for Jitter {
    fn default() -> Self {
        Jitter { fraction: DEFAULT_JITTER }
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
    /// Exponential backoff with a cap: the seed's schedule.
    pub fn exponential(max_attempts: u32, base_delay_secs: u64, factor: u64, max_delay_secs: u64) -> Self {
        Self { max_attempts, schedule: Schedule::Exponential { base_delay_secs, factor, max_delay_secs } }
    }

    /// The production preset: [`PRODUCTION_DELAYS_SECS`], one attempt more than delays.
    pub fn production() -> Self {
        let delays = PRODUCTION_DELAYS_SECS.to_vec();
        Self { max_attempts: delays.len() as u32 + 1, schedule: Schedule::Fixed(delays) }
    }

    /// The delay after failed attempt `attempt` (1-based), never below one second.
    pub fn delay_after(&self, attempt: u32) -> Duration {
        let index = attempt.saturating_sub(1);
        let secs = match &self.schedule {
            Schedule::Exponential { base_delay_secs, factor, max_delay_secs } => {
                let mut secs = (*base_delay_secs).max(1);
                for _ in 0..index {
                    secs = secs.saturating_mul((*factor).max(1));
                    if secs >= *max_delay_secs {
                        break;
                    }
                }
                secs.min((*max_delay_secs).max(1))
            }
            Schedule::Fixed(delays) => {
                let at = usize::try_from(index).unwrap_or(usize::MAX).min(delays.len().saturating_sub(1));
                delays.get(at).copied().unwrap_or(1).max(1)
            }
        };
        Duration::from_secs(secs)
    }

    /// The longest delay of the schedule: `Retry-After` is honoured up to it.
    pub fn max_delay(&self) -> Duration {
        match &self.schedule {
            Schedule::Exponential { max_delay_secs, .. } => Duration::from_secs(*max_delay_secs),
            Schedule::Fixed(delays) => Duration::from_secs(delays.iter().copied().max().unwrap_or(1).max(1)),
        }
    }

    /// What follows a failed attempt `attempt`, exactly on schedule.
    pub fn after_failure(&self, attempt: u32) -> NextStep {
        self.after_failure_with(attempt, Jitter::NONE, 0.0, None)
    }

    /// What follows a failed attempt `attempt`: the scheduled delay shortened by
    /// `jitter` (with the random `draw` in `[0, 1]`), unless the receiver asked for a
    /// longer wait with `Retry-After` — honoured up to `MAX_RETRY_DELAY_SECONDS`, in
    /// the shortest tier that holds it (or the longest tier, see [`Self::tier_for`]).
    pub fn after_failure_with(
        &self,
        attempt: u32,
        jitter: Jitter,
        draw: f64,
        retry_after: Option<Duration>,
    ) -> NextStep {
        if attempt >= self.max_attempts {
            return NextStep::GiveUp;
        }
        let scheduled = self.delay_after(attempt);
        let jittered = jitter.apply(scheduled, draw);
        let asked = retry_after.map(|wait| wait.min(self.max_delay()));
        match asked {
            Some(wait) if wait > jittered => NextStep::Retry {
                attempt: attempt + 1,
                delay: wait,
                tier: self.tier_for(wait).unwrap_or_else(|| topics::retry_tier(scheduled.as_secs())),
            },
            _ => {
                NextStep::Retry { attempt: attempt + 1, delay: jittered, tier: topics::retry_tier(scheduled.as_secs()) }
            }
        }
    }

    /// The tier topic that holds a wait of `wait`: the one with the shortest delay at
    /// least as long, or else the longest (whose consumer, once its delay has passed,
    /// puts the record back in the tier for what is left, so no partition is ever held
    /// longer than its tier's delay). `None` when the policy makes no retries.
    pub fn tier_for(&self, wait: Duration) -> Option<String> {
        let delays = self.tier_delays();
        let tier = delays.iter().find(|delay| **delay >= wait).or(delays.last())?;
        Some(topics::retry_tier(tier.as_secs()))
    }

    /// Every distinct delay this policy uses, shortest first: one tier topic each.
    pub fn tier_delays(&self) -> Vec<Duration> {
        let mut delays: Vec<Duration> = (1..self.max_attempts).map(|a| self.delay_after(a)).collect();
        delays.sort();
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
        match &self.schedule {
            Schedule::Exponential { base_delay_secs, factor, max_delay_secs } => {
                if *base_delay_secs == 0 {
                    out.push("RETRY_BASE_DELAY_SECONDS must be at least 1".into());
                }
                if *factor == 0 {
                    out.push("RETRY_FACTOR must be at least 1".into());
                }
                if max_delay_secs < base_delay_secs {
                    out.push("MAX_RETRY_DELAY_SECONDS must not be below RETRY_BASE_DELAY_SECONDS".into());
                }
            }
            Schedule::Fixed(delays) => {
                if delays.is_empty() || delays.contains(&0) {
                    out.push("a fixed retry schedule needs delays of at least 1 second".into());
                }
            }
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

    #[test]
    fn the_production_preset_is_the_documented_multi_day_schedule() {
        let p = RetryPolicy::production();
        assert_eq!(p.max_attempts, 12);
        assert!(p.problems().is_empty());
        let secs: Vec<u64> = (1..12).map(|a| p.delay_after(a).as_secs()).collect();
        assert_eq!(secs, vec![5, 300, 1_800, 7_200, 18_000, 36_000, 36_000, 36_000, 36_000, 36_000, 36_000]);
        // About three days from the first attempt to the last.
        assert_eq!(secs.iter().sum::<u64>(), 67 * 3600 + 35 * 60 + 5);
        assert_eq!(
            p.tier_topics(),
            vec![
                "hookline.retry.5s",
                "hookline.retry.300s",
                "hookline.retry.1800s",
                "hookline.retry.7200s",
                "hookline.retry.18000s",
                "hookline.retry.36000s",
            ]
        );
        assert_eq!(p.max_delay(), Duration::from_secs(36_000));
        assert_eq!(p.after_failure(12), NextStep::GiveUp);
        assert_eq!(
            p.after_failure_with(3, Jitter::NONE, 0.0, Some(Duration::from_secs(3600))),
            NextStep::Retry { attempt: 4, delay: Duration::from_secs(3600), tier: "hookline.retry.7200s".into() }
        );
        // A fixed list shorter than the attempts repeats its last delay.
        let short = RetryPolicy { max_attempts: 5, schedule: Schedule::Fixed(vec![2, 7]) };
        assert_eq!((1..5).map(|a| short.delay_after(a).as_secs()).collect::<Vec<_>>(), vec![2, 7, 7, 7]);
        assert_eq!(short.tier_delays(), vec![Duration::from_secs(2), Duration::from_secs(7)]);
        assert_eq!(RetryPolicy { schedule: Schedule::Fixed(vec![]), ..short }.problems().len(), 1);
    }

    #[test]
    fn retry_after_longer_than_the_schedule_wins_up_to_the_cap() {
        let p = RetryPolicy::default();
        let step = |retry_after| p.after_failure_with(1, Jitter::NONE, 0.0, retry_after);
        let retry = |delay, tier: &str| NextStep::Retry { attempt: 2, delay, tier: tier.into() };
        assert_eq!(step(None), retry(Duration::from_secs(10), "hookline.retry.10s"));
        // Shorter than the schedule: the schedule stands.
        assert_eq!(step(Some(Duration::from_secs(3))), retry(Duration::from_secs(10), "hookline.retry.10s"));
        // Longer: the shortest tier that holds it.
        assert_eq!(step(Some(Duration::from_secs(11))), retry(Duration::from_secs(11), "hookline.retry.30s"));
        assert_eq!(step(Some(Duration::from_secs(90))), retry(Duration::from_secs(90), "hookline.retry.90s"));
        // Longer than every tier: the longest tier, re-scheduled from there.
        assert_eq!(step(Some(Duration::from_secs(600))), retry(Duration::from_secs(600), "hookline.retry.270s"));
        // Capped by MAX_RETRY_DELAY_SECONDS.
        assert_eq!(step(Some(Duration::from_secs(86_400))), retry(Duration::from_secs(900), "hookline.retry.270s"));
        assert_eq!(p.after_failure_with(5, Jitter::NONE, 0.0, Some(Duration::from_secs(60))), NextStep::GiveUp);
    }

    #[test]
    fn tiers_for_waits() {
        let p = RetryPolicy::default();
        assert_eq!(p.tier_for(Duration::ZERO).as_deref(), Some("hookline.retry.10s"));
        assert_eq!(p.tier_for(Duration::from_millis(10_001)).as_deref(), Some("hookline.retry.30s"));
        assert_eq!(p.tier_for(Duration::from_secs(270)).as_deref(), Some("hookline.retry.270s"));
        assert_eq!(p.tier_for(Duration::from_secs(271)).as_deref(), Some("hookline.retry.270s"));
        assert_eq!(RetryPolicy { max_attempts: 1, ..p }.tier_for(Duration::ZERO), None);
    }

    #[test]
    fn jitter_fractions_are_checked() {
        assert_eq!(Jitter::default().fraction(), 0.2);
        assert!(Jitter::new(0.0).is_ok() && Jitter::new(0.99).is_ok());
        for bad in [-0.1, 1.0, 2.0, f64::NAN, f64::INFINITY] {
            assert!(Jitter::new(bad).is_err(), "{bad}");
        }
        let jitter = Jitter::new(0.2).unwrap();
        assert_eq!(jitter.apply(Duration::from_secs(10), 0.0), Duration::from_secs(10));
        assert_eq!(jitter.apply(Duration::from_secs(10), 1.0), Duration::from_secs(8));
        assert_eq!(jitter.apply(Duration::from_secs(10), 7.0), Duration::from_secs(8));
        assert_eq!(jitter.apply(Duration::from_secs(10), f64::NAN), Duration::from_secs(10));
    }

    proptest! {
        #[test]
        fn jittered_delays_stay_within_their_tier(fraction in 0.0f64..0.99, draw in 0.0f64..=1.0, attempt in 1u32..5) {
            let p = RetryPolicy::default();
            let jitter = Jitter::new(fraction).unwrap();
            let scheduled = p.delay_after(attempt);
            let NextStep::Retry { delay, tier, .. } = p.after_failure_with(attempt, jitter, draw, None) else {
                panic!("attempts are left");
            };
            prop_assert!(delay <= scheduled);
            prop_assert!(delay >= scheduled.mul_f64(1.0 - fraction) - Duration::from_nanos(1));
            prop_assert_eq!(tier, topics::retry_tier(scheduled.as_secs()));
        }

        #[test]
        fn retry_after_is_never_undercut_and_never_exceeds_the_cap(secs in 0u64..100_000, draw in 0.0f64..=1.0) {
            let p = RetryPolicy::default();
            let NextStep::Retry { delay, tier, .. } =
                p.after_failure_with(2, Jitter::default(), draw, Some(Duration::from_secs(secs)))
            else {
                panic!("attempts are left");
            };
            prop_assert!(delay >= Duration::from_secs(secs).min(p.max_delay()));
            prop_assert!(delay <= p.max_delay());
            prop_assert!(p.tier_topics().contains(&tier));
        }

        #[test]
        fn backoff_is_monotone_and_capped(base in 1u64..1000, factor in 1u64..10, cap in 1u64..100_000, max in 1u32..60) {
            let p = RetryPolicy::exponential(max, base, factor, cap.max(base));
            let mut last = Duration::ZERO;
            for a in 1..=max {
                let d = p.delay_after(a);
                prop_assert!(d >= last);
                prop_assert!(d <= p.max_delay());
                last = d;
            }
            let tiers = p.tier_delays();
            prop_assert!(tiers.windows(2).all(|w| w[0] < w[1]));
        }
    }
}
