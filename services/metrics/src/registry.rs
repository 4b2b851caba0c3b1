//! The registry: counters, gauges and histograms in families with fixed label names,
//! and collectors that produce samples at scrape time.
//!
//! Families are got-or-created by name, so two parts of the process (or two test
//! instances of a role) asking for the same family share it. Label values are chosen
//! by the callers from fixed sets: this type does not bound them, its users do.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::text;

/// The Prometheus type of a family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// One sample line: `{family}{suffix}{labels} value`.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// `""`, or `_bucket`, `_sum`, `_count` for histograms.
    pub suffix: &'static str,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// A family as it is at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct FamilySnapshot {
    pub name: String,
    pub help: String,
    pub kind: Kind,
    pub samples: Vec<Sample>,
}

impl FamilySnapshot {
    pub fn new(name: impl Into<String>, help: impl Into<String>, kind: Kind) -> Self {
        Self { name: name.into(), help: help.into(), kind, samples: Vec::new() }
    }

    /// Adds a plain sample (counter or gauge).
    pub fn push(&mut self, labels: &[(&str, &str)], value: f64) {
        let labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.samples.push(Sample { suffix: "", labels, value });
    }
}

/// Produces families at scrape time (values kept elsewhere, or read from the system).
pub trait Collector: Send + Sync {
    fn collect(&self, out: &mut Vec<FamilySnapshot>);
}

/// A value that lives in a family.
pub trait Metric: Send + Sync + 'static {
    const KIND: Kind;
    fn samples(&self, labels: &[(String, String)], out: &mut Vec<Sample>);
}

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.inc_by(1);
    }

    pub fn inc_by(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Metric for Counter {
    const KIND: Kind = Kind::Counter;
    fn samples(&self, labels: &[(String, String)], out: &mut Vec<Sample>) {
        out.push(Sample { suffix: "", labels: labels.to_vec(), value: self.get() as f64 });
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    pub fn set(&self, value: i64) {
        self.0.store(value, Ordering::Relaxed);
    }

    pub fn add(&self, delta: i64) {
        self.0.fetch_add(delta, Ordering::Relaxed);
    }

    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Metric for Gauge {
    const KIND: Kind = Kind::Gauge;
    fn samples(&self, labels: &[(String, String)], out: &mut Vec<Sample>) {
        out.push(Sample { suffix: "", labels: labels.to_vec(), value: self.get() as f64 });
    }
}

/// Observations counted in buckets with fixed upper bounds.
#[derive(Debug)]
pub struct Histogram {
    bounds: Arc<[f64]>,
    /// Not cumulative: one count per bound, plus one for +Inf.
    buckets: Box<[AtomicU64]>,
    /// The sum's f64 bits (there is no atomic f64).
    sum: AtomicU64,
}

impl Histogram {
    fn new(bounds: Arc<[f64]>) -> Self {
        let buckets = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Self { bounds, buckets, sum: AtomicU64::new(0f64.to_bits()) }
    }

    pub fn observe(&self, value: f64) {
        let slot = self.bounds.iter().position(|bound| value <= *bound).unwrap_or(self.bounds.len());
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        // fetch_update retries until no other observer raced us; the closure never refuses.
        let _ = self
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| Some((f64::from_bits(bits) + value).to_bits()));
    }

    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }
}

impl Metric for Histogram {
    const KIND: Kind = Kind::Histogram;
    fn samples(&self, labels: &[(String, String)], out: &mut Vec<Sample>) {
        let mut cumulative = 0u64;
        let bounds = self.bounds.iter().map(|b| text::float(*b)).chain(std::iter::once("+Inf".to_string()));
        for (bound, bucket) in bounds.zip(self.buckets.iter()) {
            cumulative += bucket.load(Ordering::Relaxed);
            let mut with_le = labels.to_vec();
            with_le.push(("le".to_string(), bound));
            out.push(Sample { suffix: "_bucket", labels: with_le, value: cumulative as f64 });
        }
        let sum = f64::from_bits(self.sum.load(Ordering::Relaxed));
        out.push(Sample { suffix: "_sum", labels: labels.to_vec(), value: sum });
        out.push(Sample { suffix: "_count", labels: labels.to_vec(), value: cumulative as f64 });
    }
}

/// Metrics of one name, one per combination of label values.
pub struct Family<M> {
    name: String,
    help: String,
    label_names: Vec<&'static str>,
    make: Box<dyn Fn() -> M + Send + Sync>,
    members: Mutex<BTreeMap<Vec<String>, Arc<M>>>,
}

impl<M: Metric> Family<M> {
    fn new(name: &str, help: &str, label_names: &[&'static str], make: Box<dyn Fn() -> M + Send + Sync>) -> Self {
        Self {
            name: name.to_string(),
            help: help.to_string(),
            label_names: label_names.to_vec(),
            make,
            members: Mutex::new(BTreeMap::new()),
        }
    }

    /// The metric for these label values (one per label name, in order), created at
    /// first use. Keep the result where a hot path uses it often.
    pub fn with(&self, values: &[&str]) -> Arc<M> {
        debug_assert_eq!(values.len(), self.label_names.len(), "label values of {}", self.name);
        let key: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        self.lock().entry(key).or_insert_with(|| Arc::new((self.make)())).clone()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<Vec<String>, Arc<M>>> {
        self.members.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<M: Metric> Collector for Family<M> {
    fn collect(&self, out: &mut Vec<FamilySnapshot>) {
        let mut family = FamilySnapshot::new(&self.name, &self.help, M::KIND);
        for (values, metric) in self.lock().iter() {
            let labels: Vec<(String, String)> =
                self.label_names.iter().map(|n| n.to_string()).zip(values.iter().cloned()).collect();
            metric.samples(&labels, &mut family.samples);
        }
        out.push(family);
    }
}

/// Every metric of a process.
#[derive(Default)]
pub struct Registry {
    collectors: Mutex<Vec<Arc<dyn Collector>>>,
    /// Families by name, to hand out the same family to every asker.
    families: Mutex<HashMap<String, Arc<dyn Any + Send + Sync>>>,
}

impl Registry {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn counter_family(&self, name: &str, help: &str, labels: &[&'static str]) -> Arc<Family<Counter>> {
        self.family(name, help, labels, Box::new(Counter::default))
    }

    pub fn gauge_family(&self, name: &str, help: &str, labels: &[&'static str]) -> Arc<Family<Gauge>> {
        self.family(name, help, labels, Box::new(Gauge::default))
    }

    /// `bounds`: the buckets' upper bounds, ascending.
    pub fn histogram_family(
        &self,
        name: &str,
        help: &str,
        labels: &[&'static str],
        bounds: &[f64],
    ) -> Arc<Family<Histogram>> {
        let bounds: Arc<[f64]> = bounds.into();
        self.family(name, help, labels, Box::new(move || Histogram::new(bounds.clone())))
    }

    pub fn counter(&self, name: &str, help: &str) -> Arc<Counter> {
        self.counter_family(name, help, &[]).with(&[])
    }

    pub fn gauge(&self, name: &str, help: &str) -> Arc<Gauge> {
        self.gauge_family(name, help, &[]).with(&[])
    }

    /// Adds a collector whose families are rendered with the others; a family it
    /// produces under the name of another is merged into it.
    pub fn register(&self, collector: Arc<dyn Collector>) {
        self.collectors.lock().unwrap_or_else(PoisonError::into_inner).push(collector);
    }

    /// Every family, merged by name and sorted by name.
    pub fn gather(&self) -> Vec<FamilySnapshot> {
        let collectors = self.collectors.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let mut collected = Vec::new();
        for collector in collectors {
            collector.collect(&mut collected);
        }
        let mut merged: BTreeMap<String, FamilySnapshot> = BTreeMap::new();
        for family in collected {
            match merged.get_mut(&family.name) {
                Some(existing) if existing.kind == family.kind => existing.samples.extend(family.samples),
                Some(existing) => {
                    tracing::error!(name = %family.name, first = existing.kind.as_str(), second = family.kind.as_str(), "metric family registered with two types; the second is left out");
                }
                None => {
                    merged.insert(family.name.clone(), family);
                }
            }
        }
        merged.into_values().collect()
    }

    /// The Prometheus text exposition (format 0.0.4) of every family.
    pub fn render(&self) -> String {
        text::render(&self.gather())
    }

    fn family<M: Metric>(
        &self,
        name: &str,
        help: &str,
        labels: &[&'static str],
        make: Box<dyn Fn() -> M + Send + Sync>,
    ) -> Arc<Family<M>> {
        let mut families = self.families.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(existing) = families.get(name) {
            if let Ok(family) = existing.clone().downcast::<Family<M>>() {
                return family;
            }
            // A programming error: counting still works, the family is just not rendered.
            tracing::error!(name, "metric family asked for with another type; this one is not rendered");
            return Arc::new(Family::new(name, help, labels, make));
        }
        let family = Arc::new(Family::new(name, help, labels, make));
        families.insert(name.to_string(), family.clone());
        self.collectors.lock().unwrap_or_else(PoisonError::into_inner).push(family.clone());
        family
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_shared_by_name() {
        let registry = Registry::new();
        let a = registry.counter_family("x_total", "x", &["k"]);
        let b = registry.counter_family("x_total", "x", &["k"]);
        a.with(&["v"]).inc();
        b.with(&["v"]).inc();
        assert_eq!(a.with(&["v"]).get(), 2);
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let registry = Registry::new();
        let h = registry.histogram_family("h_seconds", "h", &[], &[0.1, 1.0]).with(&[]);
        for v in [0.05, 0.5, 0.5, 3.0] {
            h.observe(v);
        }
        let family = registry.gather().remove(0);
        let values: Vec<(&str, f64)> = family.samples.iter().map(|s| (s.suffix, s.value)).collect();
        assert_eq!(values, vec![("_bucket", 1.0), ("_bucket", 3.0), ("_bucket", 4.0), ("_sum", 4.05), ("_count", 4.0)]);
        assert_eq!(h.count(), 4);
    }

    #[test]
    fn collected_samples_merge_into_a_family_of_the_same_name() {
        struct Extra;
        impl Collector for Extra {
            fn collect(&self, out: &mut Vec<FamilySnapshot>) {
                let mut family = FamilySnapshot::new("req_total", "requests", Kind::Counter);
                family.push(&[("source", "log")], 5.0);
                out.push(family);
            }
        }
        let registry = Registry::new();
        registry.counter_family("req_total", "requests", &["source"]).with(&["rest"]).inc();
        registry.register(Arc::new(Extra));
        let families = registry.gather();
        assert_eq!(families.len(), 1);
        assert_eq!(families[0].samples.len(), 2);
    }
}
