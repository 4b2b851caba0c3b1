//! The history of one scope (everything, or one tenant): per-interval counts and latency
//! percentiles over the last window, in a ring. Only the open interval keeps sketches;
//! an interval is reduced to its p50 and p99 when it closes, so a closed interval is
//! about 90 bytes and a scope's hour at most about 32 KB. Intervals with nothing in them
//! are not stored. Pure: time is passed in, as seconds since the Unix epoch.

use std::collections::VecDeque;

use serde::Serialize;

use crate::sketch::{Percentiles, Sketch};

/// How many of each kind happened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Webhooks and events accepted (one per 202: a webhook sent to one subscription,
    /// or an event sent to a tenant however many subscriptions it went to).
    pub accepted: u64,
    /// Attempts that succeeded.
    pub delivered: u64,
    /// Attempts that failed (whether retried later or not).
    pub failed: u64,
    /// Tasks dead-lettered.
    pub dead_lettered: u64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.accepted += other.accepted;
        self.delivered += other.delivered;
        self.failed += other.failed;
        self.dead_lettered += other.dead_lettered;
    }
}

/// What one record adds to the history.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Happened {
    Accepted,
    /// An attempt: whether it succeeded, how long it took, and (for a success) how long
    /// since its task was accepted.
    Attempt {
        succeeded: bool,
        attempt_ms: f64,
        end_to_end_ms: Option<f64>,
    },
    DeadLettered,
}

#[derive(Clone, Debug)]
struct Closed {
    start: i64,
    counts: Counts,
    attempt: Option<Percentiles>,
    end_to_end: Option<Percentiles>,
}

#[derive(Clone, Debug, Default)]
struct Open {
    start: i64,
    counts: Counts,
    attempt: Sketch,
    end_to_end: Sketch,
}

impl Open {
    fn close(&self) -> Closed {
        Closed {
            start: self.start,
            counts: self.counts,
            attempt: self.attempt.percentiles(),
            end_to_end: self.end_to_end.percentiles(),
        }
    }

    fn is_empty(&self) -> bool {
        self.counts == Counts::default()
    }
}

/// Per-interval history, oldest first, as the API shows it: one value per interval in
/// each array (`null` latencies for intervals without attempts).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Series {
    /// Start of the first interval, seconds since the Unix epoch.
    #[serde(skip)]
    pub start: i64,
    pub interval_seconds: i64,
    pub accepted: Vec<u64>,
    pub delivered: Vec<u64>,
    pub failed: Vec<u64>,
    pub dead_lettered: Vec<u64>,
    pub attempt_ms: Vec<Option<Percentiles>>,
    pub end_to_end_ms: Vec<Option<Percentiles>>,
}

#[derive(Clone, Debug)]
pub(crate) struct Ring {
    interval: i64,
    /// Intervals kept, the open one included.
    len: i64,
    closed: VecDeque<Closed>,
    open: Open,
    /// When this scope last had something happen (for evicting idle tenants).
    pub last_active: i64,
}

impl Ring {
    pub fn new(interval: i64, len: i64, now: i64) -> Self {
        let open = Open { start: now - now.rem_euclid(interval), ..Open::default() };
        Self { interval, len, closed: VecDeque::new(), open, last_active: now }
    }

    pub fn record(&mut self, happened: Happened, now: i64) {
        self.advance(now);
        self.last_active = now;
        let open = &mut self.open;
        match happened {
            Happened::Accepted => open.counts.accepted += 1,
            Happened::DeadLettered => open.counts.dead_lettered += 1,
            Happened::Attempt { succeeded, attempt_ms, end_to_end_ms } => {
                if succeeded {
                    open.counts.delivered += 1;
                } else {
                    open.counts.failed += 1;
                }
                open.attempt.record(attempt_ms);
                if let Some(ms) = end_to_end_ms {
                    open.end_to_end.record(ms);
                }
            }
        }
    }

    /// Closes the open interval if `now` is past it, and forgets intervals out of the window.
    pub fn advance(&mut self, now: i64) {
        let start = now - now.rem_euclid(self.interval);
        if start > self.open.start {
            if !self.open.is_empty() {
                self.closed.push_back(self.open.close());
            }
            self.open = Open { start, ..Open::default() };
        }
        let oldest = self.open.start - (self.len - 1) * self.interval;
        while self.closed.front().is_some_and(|closed| closed.start < oldest) {
            self.closed.pop_front();
        }
    }

    /// Everything in the window, the open interval included.
    pub fn totals(&self) -> Counts {
        let mut totals = self.open.counts;
        for closed in &self.closed {
            totals.add(&closed.counts);
        }
        totals
    }

    /// The closed intervals of the window from `from` (seconds since the epoch, rounded
    /// down to an interval) on; the open one is left out, being incomplete.
    pub fn series(&self, from: i64) -> Series {
        let window_start = self.open.start - (self.len - 1) * self.interval;
        let start = (from - from.rem_euclid(self.interval)).clamp(window_start, self.open.start);
        let slots = ((self.open.start - start) / self.interval) as usize;
        let mut series = Series {
            start,
            interval_seconds: self.interval,
            accepted: vec![0; slots],
            delivered: vec![0; slots],
            failed: vec![0; slots],
            dead_lettered: vec![0; slots],
            attempt_ms: vec![None; slots],
            end_to_end_ms: vec![None; slots],
        };
        for closed in self.closed.iter().filter(|closed| closed.start >= start) {
            let slot = ((closed.start - start) / self.interval) as usize;
            series.accepted[slot] = closed.counts.accepted;
            series.delivered[slot] = closed.counts.delivered;
            series.failed[slot] = closed.counts.failed;
            series.dead_lettered[slot] = closed.counts.dead_lettered;
            series.attempt_ms[slot] = closed.attempt;
            series.end_to_end_ms[slot] = closed.end_to_end;
        }
        series
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000;

    fn attempt(succeeded: bool, ms: f64) -> Happened {
        Happened::Attempt { succeeded, attempt_ms: ms, end_to_end_ms: succeeded.then_some(ms * 2.0) }
    }

    #[test]
    fn counts_land_in_their_interval_and_the_open_one_is_left_out_of_the_series() {
        let mut ring = Ring::new(10, 360, T0);
        ring.record(Happened::Accepted, T0);
        ring.record(attempt(true, 20.0), T0 + 1);
        ring.record(attempt(false, 30.0), T0 + 25);
        ring.record(Happened::DeadLettered, T0 + 26);
        ring.advance(T0 + 31);
        assert_eq!(ring.totals(), Counts { accepted: 1, delivered: 1, failed: 1, dead_lettered: 1 });
        let series = ring.series(T0);
        assert_eq!(series.start, T0);
        assert_eq!(series.accepted, [1, 0, 0]);
        assert_eq!(series.delivered, [1, 0, 0]);
        assert_eq!(series.failed, [0, 0, 1]);
        assert_eq!(series.dead_lettered, [0, 0, 1]);
        assert!(series.attempt_ms[0].is_some() && series.attempt_ms[1].is_none());
        assert!(series.end_to_end_ms[0].unwrap().p50 > series.attempt_ms[0].unwrap().p50);
        assert_eq!(series.end_to_end_ms[2], None, "a failure has no end-to-end latency");
    }

    #[test]
    fn the_window_forgets_what_is_older_than_an_hour() {
        let mut ring = Ring::new(10, 360, T0);
        ring.record(Happened::Accepted, T0);
        ring.record(Happened::Accepted, T0 + 1800);
        ring.advance(T0 + 3600);
        assert_eq!(ring.totals().accepted, 1, "the first interval left the window");
        let series = ring.series(0);
        assert_eq!(series.accepted.len(), 359);
        assert_eq!(series.accepted.iter().sum::<u64>(), 1);
        assert_eq!(series.start, T0 + 10);
    }

    #[test]
    fn a_long_silence_empties_the_ring() {
        let mut ring = Ring::new(10, 360, T0);
        ring.record(attempt(true, 5.0), T0);
        ring.advance(T0 + 86_400);
        assert_eq!(ring.totals(), Counts::default());
        assert!(ring.series(T0).delivered.iter().all(|n| *n == 0));
    }
}
