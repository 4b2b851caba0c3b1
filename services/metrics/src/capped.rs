//! A counter family labelled by something unbounded (a subscription id), kept to a
//! bounded number of series: the first `cap` values counted get a series each, every
//! later value counts under one overflow value.
//!
//! Why first come rather than "the top N now": a counter's series must only go up, so a
//! value cannot move between its own series and the overflow one as rankings change.
//! The values that get a series are those that showed up first since the process
//! started; PromQL's `topk` ranks them at query time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::registry::{Counter, Family};

/// Counters by one label, at most `cap` values plus the overflow one.
pub struct CappedCounters {
    family: Arc<Family<Counter>>,
    cap: usize,
    /// The values admitted so far, at most `cap` of them.
    admitted: Mutex<HashMap<String, Arc<Counter>>>,
    overflow: Arc<Counter>,
}

impl CappedCounters {
    /// `family` has exactly one label; `overflow` is the value every value past the
    /// first `cap` counts under (choose one no real value can be). Its series is
    /// rendered from the start, at 0.
    pub fn new(family: Arc<Family<Counter>>, cap: usize, overflow: &str) -> Self {
        let overflow = family.with(&[overflow]);
        Self { family, cap, admitted: Mutex::new(HashMap::with_capacity(cap)), overflow }
    }

    /// Counts one for `value`, under its own series if it has one or there is still
    /// room for it, else under the overflow value.
    pub fn inc(&self, value: &str) {
        self.counter(value).inc();
    }

    fn counter(&self, value: &str) -> Arc<Counter> {
        let mut admitted = self.admitted.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(counter) = admitted.get(value) {
            return counter.clone();
        }
        if admitted.len() >= self.cap {
            return self.overflow.clone();
        }
        let counter = self.family.with(&[value]);
        admitted.insert(value.to_string(), counter.clone());
        counter
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;

    fn samples(registry: &Registry) -> Vec<(String, f64)> {
        let family = registry.gather().remove(0);
        family.samples.iter().map(|s| (s.labels[0].1.clone(), s.value)).collect()
    }

    #[test]
    fn values_past_the_cap_count_under_the_overflow_value() {
        let registry = Registry::new();
        let family = registry.counter_family("dl_total", "dead letters", &["subscription_id"]);
        let capped = CappedCounters::new(family, 2, "other");
        assert_eq!(samples(&registry), vec![("other".to_string(), 0.0)], "the overflow series is there from the start");
        for value in ["a", "b", "a", "c", "d", "b", "c"] {
            capped.inc(value);
        }
        assert_eq!(
            samples(&registry),
            vec![("a".to_string(), 2.0), ("b".to_string(), 2.0), ("other".to_string(), 3.0)],
            "a and b came first; c and d share the overflow series"
        );
    }

    #[test]
    fn a_cap_of_zero_counts_everything_under_the_overflow_value() {
        let registry = Registry::new();
        let capped = CappedCounters::new(registry.counter_family("x_total", "x", &["k"]), 0, "other");
        capped.inc("a");
        assert_eq!(samples(&registry), vec![("other".to_string(), 1.0)]);
    }
}
