//! Metrics for every hookline process, and what the roles' consumers are doing.
//!
//! Consumes: counts, gauges and latencies from the roles (each crate declares its own
//! in its `metrics.rs`), `/proc/self`, the data directory, and the log port (every
//! grouped consumer, through [`ObservedLog`], and end offsets). Produces: the Prometheus
//! text exposition ([`Registry::render`], content type [`CONTENT_TYPE`]), consumer lag
//! per group, topic and partition ([`ConsumerLag`]), the data directory's disk
//! ([`DataDisk`]), and whether every expected consumer group is consuming
//! ([`ConsumerBook::problems`], for `/ready`).
//!
//! Guarantees: a family is rendered once under its name whoever registered it, label
//! values are escaped, output is sorted by family name. Labels are bounded by their
//! callers (fixed outcome sets, configured topics and partitions); an id only through
//! [`CappedCounters`], which keeps a bounded number of values.
//!
//! Why a small registry of our own rather than `prometheus-client` (0.26): that crate
//! renders OpenMetrics (`# EOF`, counter families typed without their `_total`
//! samples), while `/metrics` promises the Prometheus 0.0.4 text format; and we need
//! families merged across a live counter and scrape-time collectors (REST and log
//! ingest share one family). Counters, gauges and fixed-bucket histograms over
//! atomics are a few dozen lines.

mod capped;
mod consumers;
mod disk;
mod lag;
mod process;
mod registry;
mod text;

pub use capped::CappedCounters;
pub use consumers::{ConsumerBook, GroupProgress, ObservedLog};
pub use disk::DataDisk;
pub use lag::{ConsumerLag, LAG_METRIC};
pub use process::ProcessCollector;
pub use registry::{Collector, Counter, Family, FamilySnapshot, Gauge, Histogram, Kind, Metric, Registry, Sample};
pub use text::CONTENT_TYPE;

/// Seconds buckets for request and attempt latencies: 5 ms to 30 s.
pub const LATENCY_BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
