//! Counters of the ingest consumer, readable at any time and rendered on `/metrics` as
//! [`REQUESTS_METRIC`]`{source="log", outcome}` (the REST API counts its own requests
//! in the same family with `source="rest"`).
//!
//! Labels are bounded: `queued`, `filtered`, or a rejection under one of [`REJECT_REASONS`].

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use hookline_metrics::{Collector, FamilySnapshot, Kind};

/// The family counting ingested webhooks by way in (`source`) and `outcome`.
pub const REQUESTS_METRIC: &str = "hookline_ingest_requests_total";
/// Its help text, shared by both ways in.
pub const REQUESTS_HELP: &str =
    "Webhooks received, by way in (rest, log) and outcome (queued, filtered, replayed, a refusal reason, error).";

/// Every reason a record of `hookline.ingest` or `hookline.events` can be rejected for:
/// `invalid_key`, then the [`crate::IngestError::reason`] of every refusal.
pub const REJECT_REASONS: [&str; 15] = [
    "invalid_key",
    "unknown_subscription",
    "unknown_tenant",
    "missing_event_type",
    "fan_out_too_large",
    "signature_missing",
    "signature_invalid",
    "signature_timestamp",
    "not_json",
    "not_utf8",
    "too_deep",
    "too_large",
    "invalid_event_type",
    "invalid_idempotency_key",
    "invalid_ordering_key",
];

/// What the ingest consumer has done with the records it read, since it started.
/// Counts move only once the batch's output is durable.
#[derive(Debug, Default)]
pub struct IngestCounters {
    accepted: AtomicU64,
    filtered: AtomicU64,
    replayed: AtomicU64,
    rejected: [AtomicU64; REJECT_REASONS.len()],
}

/// The counters at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IngestCounts {
    /// Records that became a TaskAccepted.
    pub accepted: u64,
    /// Records skipped by their subscription's filter.
    pub filtered: u64,
    /// Records whose idempotency key named a task accepted before.
    pub replayed: u64,
    /// Records copied to `hookline.ingest.rejected`, by reason (every reason listed).
    pub rejected: BTreeMap<&'static str, u64>,
}

impl IngestCounts {
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }
}

impl IngestCounters {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn snapshot(&self) -> IngestCounts {
        IngestCounts {
            accepted: self.accepted.load(Ordering::Relaxed),
            filtered: self.filtered.load(Ordering::Relaxed),
            replayed: self.replayed.load(Ordering::Relaxed),
            rejected: REJECT_REASONS
                .iter()
                .zip(&self.rejected)
                .map(|(reason, count)| (*reason, count.load(Ordering::Relaxed)))
                .collect(),
        }
    }

    /// Adds the tally of one durable batch.
    pub(crate) fn add(&self, tally: &Tally) {
        self.accepted.fetch_add(tally.accepted, Ordering::Relaxed);
        self.filtered.fetch_add(tally.filtered, Ordering::Relaxed);
        self.replayed.fetch_add(tally.replayed, Ordering::Relaxed);
        for (count, added) in self.rejected.iter().zip(tally.rejected) {
            count.fetch_add(added, Ordering::Relaxed);
        }
    }
}

impl Collector for IngestCounters {
    fn collect(&self, out: &mut Vec<FamilySnapshot>) {
        let counts = self.snapshot();
        let mut family = FamilySnapshot::new(REQUESTS_METRIC, REQUESTS_HELP, Kind::Counter);
        family.push(&[("source", "log"), ("outcome", "queued")], counts.accepted as f64);
        family.push(&[("source", "log"), ("outcome", "filtered")], counts.filtered as f64);
        family.push(&[("source", "log"), ("outcome", "replayed")], counts.replayed as f64);
        for (reason, count) in &counts.rejected {
            family.push(&[("source", "log"), ("outcome", reason)], *count as f64);
        }
        out.push(family);
    }
}

/// What one batch did, counted before its output is durable.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub accepted: u64,
    pub filtered: u64,
    pub replayed: u64,
    rejected: [u64; REJECT_REASONS.len()],
}

impl Tally {
    pub fn rejected(&mut self, reason: &str) {
        match REJECT_REASONS.iter().position(|known| *known == reason) {
            Some(slot) => self.rejected[slot] += 1,
            // Only a new refusal missing from REJECT_REASONS gets here; the unit test below guards it.
            None => tracing::error!(reason, "rejection reason missing from REJECT_REASONS, not counted"),
        }
    }
}

#[cfg(test)]
mod tests {
    use hookline_domain::signature::SignatureError;

    use super::*;
    use crate::IngestError;

    #[test]
    fn every_refusal_has_a_counter() {
        let refusals = [
            IngestError::UnknownSubscription,
            IngestError::Signature(SignatureError::Missing),
            IngestError::Signature(SignatureError::Invalid),
            IngestError::Signature(SignatureError::Timestamp),
            IngestError::NotJson,
            IngestError::NotUtf8,
            IngestError::TooDeep,
            IngestError::TooLarge { size: 2, limit: 1 },
            IngestError::InvalidEventType("x".into()),
            IngestError::InvalidIdempotencyKey("x".into()),
        ];
        for refusal in refusals {
            assert!(refusal.is_refusal());
            assert!(REJECT_REASONS.contains(&refusal.reason()), "{}", refusal.reason());
        }
    }

    #[test]
    fn a_tally_adds_up_by_reason() {
        let counters = IngestCounters::new();
        let mut tally = Tally { accepted: 2, filtered: 1, ..Tally::default() };
        tally.rejected("too_large");
        tally.rejected("too_large");
        tally.rejected("invalid_key");
        counters.add(&tally);
        counters.add(&tally);
        let counts = counters.snapshot();
        assert_eq!((counts.accepted, counts.filtered, counts.rejected_total()), (4, 2, 6));
        assert_eq!(counts.rejected["too_large"], 4);
        assert_eq!(counts.rejected["not_json"], 0);
        assert_eq!(counts.rejected.len(), REJECT_REASONS.len());

        let registry = hookline_metrics::Registry::new();
        registry.register(std::sync::Arc::new(counters));
        let text = registry.render();
        assert!(text.contains("hookline_ingest_requests_total{source=\"log\",outcome=\"queued\"} 4\n"), "{text}");
        assert!(text.contains("hookline_ingest_requests_total{source=\"log\",outcome=\"too_large\"} 4\n"), "{text}");
    }
}
