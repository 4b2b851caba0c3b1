//! What the benchmark receiver counts, and the `/stats` report built from it.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::histogram::Histogram;

/// One delivery as the benchmark receiver saw it.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
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
    ids: HashSet<String>,
    duplicates: u64,
    latency_us: Histogram,
    first_at_us: Option<u64>,
    last_at_us: Option<u64>,
}

/// The JSON answered on `GET /stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsReport {
    pub requests: u64,
    /// Answered 2xx.
    pub ok: u64,
    /// Answered anything else.
    pub failed: u64,
    /// Distinct `webhook-id` values seen.
    pub distinct_ids: u64,
    /// Requests whose `webhook-id` had been seen before (redeliveries).
    pub duplicates: u64,
    /// End-to-end latency (arrival − `sent_at_us`) over the requests that carried the stamp.
    pub latency_us: LatencyReport,
    /// Arrival of the first and last counted request, µs since the Unix epoch.
    pub first_at_us: Option<u64>,
    pub last_at_us: Option<u64>,
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
            // Look up before inserting so a duplicate costs no allocation.
            if self.ids.contains(id) {
                self.duplicates += 1;
            } else {
                self.ids.insert(id.to_owned());
            }
        }
        if let Some(sent_at_us) = delivery.sent_at_us {
            // A stamp from a clock ahead of ours counts as zero rather than wrapping around.
            self.latency_us.record(delivery.at_us.saturating_sub(sent_at_us));
        }
        self.first_at_us.get_or_insert(delivery.at_us);
        self.last_at_us = Some(delivery.at_us);
    }

    pub fn report(&self) -> StatsReport {
        let latency = &self.latency_us;
        StatsReport {
            requests: self.requests,
            ok: self.ok,
            failed: self.failed,
            distinct_ids: self.ids.len() as u64,
            duplicates: self.duplicates,
            latency_us: LatencyReport {
                samples: latency.samples(),
                p50: latency.quantile(0.50),
                p95: latency.quantile(0.95),
                p99: latency.quantile(0.99),
                max: latency.max(),
            },
            first_at_us: self.first_at_us,
            last_at_us: self.last_at_us,
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
        Delivery { id, sent_at_us, at_us, ok }
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
    fn the_stamp_is_found_wherever_it_sits() {
        assert_eq!(sent_at_us(br#"{"sent_at_us":1700000000000000,"n":1}"#), Some(1_700_000_000_000_000));
        assert_eq!(sent_at_us(br#"{"data": {"n": 1, "sent_at_us" : 42.9}}"#), Some(42));
        assert_eq!(sent_at_us(br#"{"sent_at_us":"soon"}"#), None);
        assert_eq!(sent_at_us(br#"{"sent_at_us":-5}"#), None);
        assert_eq!(sent_at_us(br#"{"other":1}"#), None);
        assert_eq!(sent_at_us(b""), None);
    }
}
