//! Cache hits and misses of subscription lookups, rendered as
//! `hookline_subscription_cache_lookups_total{result="hit|miss"}`.

use std::sync::atomic::{AtomicU64, Ordering};

use hookline_metrics::{Collector, FamilySnapshot, Kind};

/// Counts of lookups answered by the cache and of lookups that went to the view.
#[derive(Debug, Default)]
pub struct CacheStats {
    hits: AtomicU64,
    misses: AtomicU64,
}

impl CacheStats {
    pub(crate) fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }
}

impl Collector for CacheStats {
    fn collect(&self, out: &mut Vec<FamilySnapshot>) {
        let mut family = FamilySnapshot::new(
            "hookline_subscription_cache_lookups_total",
            "Subscription lookups, by whether the in-process cache answered (hit) or the view was read (miss).",
            Kind::Counter,
        );
        family.push(&[("result", "hit")], self.hits() as f64);
        family.push(&[("result", "miss")], self.misses() as f64);
        out.push(family);
    }
}
