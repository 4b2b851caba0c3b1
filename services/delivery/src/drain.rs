//! Whether a task joining a long line of attempts to its subscription should rather
//! wait in the shortest retry tier, judged by how fast that line drains.
//!
//! Deferring keeps a slow or dead subscription's backlog in the log instead of in this
//! worker's memory, where it would use up a source's allowance and stop the consumer
//! reading for everyone else. It costs the task a tier's delay, so it only pays when
//! the task would otherwise wait in the line longer than that: a busy but healthy
//! subscription, whose line drains in well under a tier's delay, keeps its tasks.

use std::time::Duration;

use tokio::time::Instant;

/// Time constants of the moving completion rates. The short one shows a receiver that
/// stops answering as slow within a few seconds; the long one smooths out the bursts of
/// a line whose attempts end together (a hanging receiver's, all at the timeout), which
/// the short one would read as fast just after each burst. The slower of the two counts.
const WINDOWS: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(10)];

/// A moving estimate of how many attempts per second a subscription's line completes:
/// for each of [`WINDOWS`], a count of completions that decays with that time constant.
#[derive(Clone, Copy, Debug)]
pub struct DrainRate {
    started: Instant,
    /// Decayed counts of completions, one per window, as of `updated`.
    completions: [f64; 2],
    updated: Instant,
}

impl DrainRate {
    /// A line that starts at `now`, with nothing completed yet.
    pub fn new(now: Instant) -> Self {
        Self { started: now, completions: [0.0; 2], updated: now }
    }

    /// An attempt of the line ended at `now`.
    pub fn completed(&mut self, now: Instant) {
        for (window, completions) in WINDOWS.iter().zip(&mut self.completions) {
            *completions = decayed(*completions, *window, now.saturating_duration_since(self.updated)) + 1.0;
        }
        self.updated = self.updated.max(now);
    }

    /// Completions per second of late, the slower of the windows' figures; 0 when none
    /// was seen.
    pub fn per_second(&self, now: Instant) -> f64 {
        let since = now.saturating_duration_since(self.updated);
        let age = now.saturating_duration_since(self.started).max(Duration::from_millis(1));
        WINDOWS
            .iter()
            .zip(self.completions)
            .map(|(window, completions)| {
                // A young line has not been counting for a whole window: divide by the
                // part it has (its life, decayed), so that its first figures are its
                // plain average rather than an underestimate.
                let counted = window.as_secs_f64() * -(-age.as_secs_f64() / window.as_secs_f64()).exp_m1();
                decayed(completions, *window, since) / counted
            })
            .fold(f64::INFINITY, f64::min)
    }
}

/// `completions` counted `since` ago, decayed with time constant `window`.
fn decayed(completions: f64, window: Duration, since: Duration) -> f64 {
    completions * (-since.as_secs_f64() / window.as_secs_f64()).exp()
}

/// A subscription's line as a task finds it when it arrives.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Line {
    /// Attempts running or waiting.
    pub occupancy: usize,
    /// Of those, the attempts still waiting for a slot: all go before the arriving task.
    pub waiting: usize,
    /// Completions per second of late ([`DrainRate::per_second`]): 0 when none.
    pub drain_rate: f64,
}

/// When a task goes to the shortest tier instead of joining its subscription's line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deferral {
    /// Attempts running or waiting from which a line is long enough to weigh deferring.
    pub backlog: usize,
    /// How long a deferred task waits: the shortest tier's delay.
    pub tier_delay: Duration,
}

impl Deferral {
    /// True when the line is long and the task would wait in it longer than in the tier.
    /// A line that has completed nothing of late counts as slow: it may be a dead
    /// receiver, and a line that filled up before its first answer (a subscription
    /// that just started) has not shown that it drains either — deferring such a burst
    /// risks one tier's delay, keeping it risks a stalled consumer. A healthy receiver
    /// answers long before its line reaches the backlog, so it is not caught by this.
    pub fn applies(&self, line: &Line) -> bool {
        if line.occupancy < self.backlog {
            return false;
        }
        if line.drain_rate <= 0.0 {
            return true;
        }
        // The arriving task starts once everything waiting ahead of it and one more has completed.
        let wait_in_line = (line.waiting as f64 + 1.0) / line.drain_rate;
        wait_in_line > self.tier_delay.as_secs_f64()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const DEFERRAL: Deferral = Deferral { backlog: 1024, tier_delay: Duration::from_secs(10) };

    /// A line that ran `attempts` at a time, each ending `took` after it started, from
    /// `start` for `span`; returns its rate at the end of the span.
    fn rate_of(attempts: usize, took: Duration, span: Duration) -> f64 {
        let start = Instant::now();
        let mut rate = DrainRate::new(start);
        let mut at = start + took;
        while at <= start + span {
            for _ in 0..attempts {
                rate.completed(at);
            }
            at += took;
        }
        rate.per_second(start + span)
    }

    fn full_line(drain_rate: f64) -> Line {
        Line { occupancy: 1100, waiting: 1036, drain_rate }
    }

    #[test]
    fn a_steady_line_is_measured_at_its_rate() {
        // 64 at a time, 20 ms each: 3,200 a second, whether young or old.
        for span in [Duration::from_millis(100), Duration::from_secs(5)] {
            let rate = rate_of(64, Duration::from_millis(20), span);
            assert!((rate - 3200.0).abs() < 3200.0 * 0.1, "{rate} after {span:?}");
        }
    }

    #[test]
    fn a_healthy_busy_line_is_not_deferred() {
        // A receiver answering in ~1 ms, 64 attempts at a time, but slowed by a busy
        // machine to 10 ms: thousands a second, the line drains in well under a second.
        let line = full_line(rate_of(64, Duration::from_millis(10), Duration::from_secs(3)));
        assert!(!DEFERRAL.applies(&line), "{line:?}");
    }

    #[test]
    fn a_hanging_line_is_deferred() {
        // Every attempt ends only at the 10 s delivery timeout: 64 (or 128) every 10 s,
        // just after a burst of timeouts as much as between them.
        for attempts in [64, 128] {
            for span in [Duration::from_secs(10), Duration::from_millis(10_500), Duration::from_secs(60)] {
                let line = full_line(rate_of(attempts, Duration::from_secs(10), span));
                assert!(DEFERRAL.applies(&line), "{line:?}: {attempts} at a time, after {span:?}");
            }
        }
        // And before its first timeout it has completed nothing at all.
        let line = full_line(rate_of(64, Duration::from_secs(10), Duration::from_secs(5)));
        assert_eq!(line.drain_rate, 0.0);
        assert!(DEFERRAL.applies(&line));
    }

    #[test]
    fn a_receiver_that_stops_answering_is_soon_deferred() {
        let start = Instant::now();
        let mut rate = DrainRate::new(start);
        for n in 1..=3000 {
            rate.completed(start + Duration::from_millis(n));
        }
        let stopped = start + Duration::from_secs(3);
        let line = |quiet: Duration| full_line(rate.per_second(stopped + quiet));
        assert!(!DEFERRAL.applies(&line(Duration::ZERO)));
        assert!(DEFERRAL.applies(&line(Duration::from_secs(3))));
    }

    #[test]
    fn a_line_that_just_started_is_deferred_until_it_completes_something() {
        let start = Instant::now();
        let mut rate = DrainRate::new(start);
        let young = |rate: &DrainRate| full_line(rate.per_second(start + Duration::from_millis(5)));
        assert!(DEFERRAL.applies(&young(&rate)));
        // A handful of answers in its first milliseconds shows it drains.
        for n in 1..=20 {
            rate.completed(start + Duration::from_micros(200 * n));
        }
        assert!(!DEFERRAL.applies(&young(&rate)));
    }

    #[test]
    fn a_short_line_is_never_deferred() {
        let line = Line { occupancy: 1023, waiting: 959, drain_rate: 0.0 };
        assert!(!DEFERRAL.applies(&line));
    }

    #[test]
    fn the_wait_in_line_is_weighed_against_the_tier() {
        // 1,036 waiting plus the task itself, at 100 a second: 10.37 s, just over the tier.
        assert!(DEFERRAL.applies(&full_line(100.0)));
        // At 110 a second: 9.4 s, just under.
        assert!(!DEFERRAL.applies(&full_line(110.0)));
    }

    proptest! {
        /// A faster line is never deferred where a slower one of the same length is not.
        #[test]
        fn deferral_is_monotone_in_the_rate(occupancy in 0usize..4096, waiting in 0usize..4096,
                                            slow in 0.0f64..10_000.0, faster in 0.0f64..10_000.0) {
            let slow_line = Line { occupancy, waiting, drain_rate: slow };
            let fast_line = Line { drain_rate: slow + faster, ..slow_line };
            prop_assert!(DEFERRAL.applies(&slow_line) || !DEFERRAL.applies(&fast_line));
        }

        /// Rates never go negative or infinite, however completions fall.
        #[test]
        fn rates_stay_finite(gaps in proptest::collection::vec(0u64..5_000, 0..200), after in 0u64..20_000) {
            let start = Instant::now();
            let mut rate = DrainRate::new(start);
            let mut at = start;
            for gap in gaps {
                at += Duration::from_millis(gap);
                rate.completed(at);
            }
            let per_second = rate.per_second(at + Duration::from_millis(after));
            prop_assert!(per_second.is_finite() && per_second >= 0.0);
        }
    }
}
