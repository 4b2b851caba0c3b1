//! What the benchmark receiver counts, and the `/stats` report built from it.

use std::collections::hash_map::RandomState;
use std::collections::HashSet;
use std::hash::BuildHasher;

use serde::{Deserialize, Serialize};

use super::histogram::Histogram;

/// One delivery as the benchmark receiver saw it.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// The path it was posted to: each subscription of a run has its own, and one event
    /// sent to several of them carries one `webhook-id`.
    pub path: &'a str,
    /// The `webhook-id` header, when present.
    pub id: Option<&'a str>,
    /// The `sent_at_us` stamp of the body, when present (µs since the Unix epoch).
    pub sent_at_us: Option<u64>,
    /// Arrival time, µs since the Unix epoch.
    pub at_us: u64,
    /// Whether it was answered 2xx.
    pub ok: bool,
}

/// Running counts since start or the last reset.
#[derive(Debug, Default)]
pub struct Stats {
    requests: u64,
    ok: u64,
    failed: u64,
    ids: SeenIds,
    duplicates: u64,
    latency_us: Histogram,
    /// The latency of deliveries since the last [`take_window`](Stats::take_window).
    window_latency_us: Histogram,
    first_at_us: Option<u64>,
    last_at_us: Option<u64>,
}

/// The (path, `webhook-id`) pairs seen, kept as 128-bit keyed hashes rather than strings: a run of hours
/// sees millions of ids, and 16 bytes each keeps the receiver's memory (and allocator work)
/// small. Two ids collide with odds of about n² / 2¹²⁹, nil for any run.
#[derive(Debug, Default)]
struct SeenIds {
    hashes: HashSet<u128>,
    keys: [RandomState; 2],
}

impl SeenIds {
    /// Whether `id` is new at `path`, remembering it.
    fn insert(&mut self, path: &str, id: &str) -> bool {
        let [high, low] = &self.keys;
        let pair = (path, id);
        self.hashes.insert(u128::from(high.hash_one(pair)) << 64 | u128::from(low.hash_one(pair)))
    }

    fn len(&self) -> u64 {
        self.hashes.len() as u64
    }
}

/// The JSON answered on `GET /stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsReport {
    pub requests: u64,
    /// Answered 2xx.
    pub ok: u64,
    /// Answered anything else.
    pub failed: u64,
    /// Distinct `webhook-id` values seen, counted per path (per subscription of a run).
    pub distinct_ids: u64,
    /// Requests whose `webhook-id` had been seen before at the same path (redeliveries).
    pub duplicates: u64,
    /// End-to-end latency (arrival − `sent_at_us`) over the requests that carried the stamp.
    pub latency_us: LatencyReport,
    /// Arrival of the first and last counted request, µs since the Unix epoch.
    pub first_at_us: Option<u64>,
    pub last_at_us: Option<u64>,
}

/// The JSON answered on `POST /window`: the running totals, and the end-to-end latency of the
/// deliveries that arrived since the last `/window` (or start, or reset).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowReport {
    pub totals: StatsReport,
    pub window_latency_us: LatencyReport,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencyReport {
    pub samples: u64,
    pub p50: u64,
    pub p95: u64,
    pub p99: u64,
    pub max: u64,
}

impl Stats {
    pub fn record(&mut self, delivery: Delivery<'_>) {
        self.requests += 1;
        if delivery.ok {
            self.ok += 1;
        } else {
            self.failed += 1;
        }
        if let Some(id) = delivery.id {
            if !self.ids.insert(delivery.path, id) {
                self.duplicates += 1;
            }
        }
        if let Some(sent_at_us) = delivery.sent_at_us {
            // A stamp from a clock ahead of ours counts as zero rather than wrapping around.
            let latency = delivery.at_us.saturating_sub(sent_at_us);
            self.latency_us.record(latency);
            self.window_latency_us.record(latency);
        }
        self.first_at_us.get_or_insert(delivery.at_us);
        self.last_at_us = Some(delivery.at_us);
    }

    pub fn report(&self) -> StatsReport {
        StatsReport {
            requests: self.requests,
            ok: self.ok,
            failed: self.failed,
            distinct_ids: self.ids.len(),
            duplicates: self.duplicates,
            latency_us: LatencyReport::of(&self.latency_us),
            first_at_us: self.first_at_us,
            last_at_us: self.last_at_us,
        }
    }

    /// The totals and the latency of the window that ends now; the next window starts empty.
    pub fn take_window(&mut self) -> WindowReport {
        let window = std::mem::take(&mut self.window_latency_us);
        WindowReport { totals: self.report(), window_latency_us: LatencyReport::of(&window) }
    }
}

impl LatencyReport {
    /// The percentiles of `latency`.
    pub fn of(latency: &Histogram) -> LatencyReport {
        LatencyReport {
            samples: latency.samples(),
            p50: latency.quantile(0.50),
            p95: latency.quantile(0.95),
            p99: latency.quantile(0.99),
            max: latency.max(),
        }
    }
}

/// The first `"sent_at_us": <integer>` in a JSON body, at the top level or inside an envelope.
///
/// A byte scan rather than a JSON parse: it costs a fraction of a full parse per request and
/// finds the stamp whichever way the payload is wrapped. A fractional part is ignored.
pub fn sent_at_us(body: &[u8]) -> Option<u64> {
    const KEY: &[u8] = b"\"sent_at_us\"";
    let after_key = body.windows(KEY.len()).position(|window| window == KEY)? + KEY.len();
    let value = body[after_key..].trim_ascii_start().strip_prefix(b":")?.trim_ascii_start();
    let digits = value.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&value[..digits]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(id: Option<&str>, sent_at_us: Option<u64>, at_us: u64, ok: bool) -> Delivery<'_> {
        Delivery { path: "/hook", id, sent_at_us, at_us, ok }
    }

    #[test]
    fn one_id_at_several_paths_counts_once_per_path() {
        let mut stats = Stats::default();
        for path in ["/bench/0", "/bench/1", "/bench/0"] {
            stats.record(Delivery { path, ..delivery(Some("event-1"), None, 1_000, true) });
        }
        let report = stats.report();
        assert_eq!((report.distinct_ids, report.duplicates), (2, 1));
    }

    #[test]
    fn counts_outcomes_duplicates_latency_and_the_time_span() {
        let mut stats = Stats::default();
        stats.record(delivery(Some("a"), Some(1_000), 1_100, true));
        stats.record(delivery(Some("b"), Some(1_000), 1_300, false));
        stats.record(delivery(Some("a"), None, 1_400, true));
        stats.record(delivery(None, Some(2_000), 1_500, true));
        let report = stats.report();
        assert_eq!((report.requests, report.ok, report.failed), (4, 3, 1));
        assert_eq!((report.distinct_ids, report.duplicates), (2, 1));
        assert_eq!(report.latency_us, LatencyReport { samples: 3, p50: 100, p95: 300, p99: 300, max: 300 });
        assert_eq!((report.first_at_us, report.last_at_us), (Some(1_100), Some(1_500)));
    }

    #[test]
    fn a_window_holds_the_latency_since_the_last_one_and_the_totals_so_far() {
        let mut stats = Stats::default();
        stats.record(delivery(Some("a"), Some(1_000), 1_100, true));
        let first = stats.take_window();
        assert_eq!((first.window_latency_us.samples, first.window_latency_us.p99), (1, 100));
        stats.record(delivery(Some("b"), Some(1_000), 1_060, true));
        stats.record(delivery(Some("b"), Some(1_000), 1_090, true));
        let second = stats.take_window();
        assert_eq!((second.window_latency_us.samples, second.window_latency_us.max), (2, 90));
        assert_eq!(second.window_latency_us.p50, 60);
        assert_eq!((second.totals.distinct_ids, second.totals.duplicates, second.totals.latency_us.samples), (2, 1, 3));
        assert_eq!(stats.take_window().window_latency_us.samples, 0);
    }

    #[test]
    fn the_stamp_is_found_wherever_it_sits() {
        assert_eq!(sent_at_us(br#"{"sent_at_us":1700000000000000,"n":1}"#), Some(1_700_000_000_000_000));
        assert_eq!(sent_at_us(br#"{"data": {"n": 1, "sent_at_us" : 42.9}}"#), Some(42));
        assert_eq!(sent_at_us(br#"{"sent_at_us":"soon"}"#), None);
        assert_eq!(sent_at_us(br#"{"sent_at_us":-5}"#), None);
        assert_eq!(sent_at_us(br#"{"other":1}"#), None);
        assert_eq!(sent_at_us(b""), None);
    }
}
