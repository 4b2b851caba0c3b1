//! Consumer lag: for every live group of the process and every partition assigned to
//! it, the end offset minus the group's position, sampled periodically (end offsets
//! are an async call, a scrape is not) and rendered as
//! `hookline_consumer_lag_records{group,topic,partition}`. Retry tier depths are the
//! lag of the tier topics.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hookline_log::EventLog;
use tokio_util::sync::CancellationToken;

use crate::consumers::ConsumerBook;
use crate::registry::{Collector, FamilySnapshot, Kind};

pub const LAG_METRIC: &str = "hookline_consumer_lag_records";

/// (group, topic, partition) → records not yet finished.
type Samples = BTreeMap<(String, String, u32), u64>;

/// The last lag sample of every group, as a collector.
pub struct ConsumerLag {
    book: Arc<ConsumerBook>,
    samples: Mutex<Samples>,
}

impl ConsumerLag {
    pub fn new(book: Arc<ConsumerBook>) -> Arc<Self> {
        Arc::new(Self { book, samples: Mutex::new(BTreeMap::new()) })
    }

    /// Samples every `every` until `shutdown`.
    pub async fn run(self: Arc<Self>, log: Arc<dyn EventLog>, every: Duration, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticker.tick() => self.sample(log.as_ref()).await,
            }
        }
    }

    /// Takes one sample now. A topic whose end offsets cannot be read keeps no samples
    /// (a stale number would look like progress or a stall that is not there).
    pub async fn sample(&self, log: &dyn EventLog) {
        let progress = self.book.progress();
        let mut ends: BTreeMap<String, Option<Vec<(u32, u64)>>> = BTreeMap::new();
        let mut samples = Samples::new();
        for group in progress {
            for (tp, position) in group.partitions {
                let Some(position) = position else { continue };
                if !ends.contains_key(&tp.topic) {
                    let read = match log.end_offsets(&tp.topic).await {
                        Ok(ends) => Some(ends),
                        Err(e) => {
                            tracing::warn!(topic = %tp.topic, error = %e, "cannot read end offsets for consumer lag");
                            None
                        }
                    };
                    ends.insert(tp.topic.clone(), read);
                }
                let end = ends[&tp.topic].as_ref().and_then(|ends| ends.iter().find(|(p, _)| *p == tp.partition));
                if let Some((_, end)) = end {
                    samples.insert((group.group.clone(), tp.topic.clone(), tp.partition), end.saturating_sub(position));
                }
            }
        }
        *self.samples.lock().unwrap_or_else(PoisonError::into_inner) = samples;
    }
}

impl Collector for ConsumerLag {
    fn collect(&self, out: &mut Vec<FamilySnapshot>) {
        let mut family = FamilySnapshot::new(
            LAG_METRIC,
            "Records of a partition the consumer group has not finished yet (end offset minus position), sampled every few seconds.",
            Kind::Gauge,
        );
        for ((group, topic, partition), lag) in self.samples.lock().unwrap_or_else(PoisonError::into_inner).iter() {
            family.push(&[("group", group), ("topic", topic), ("partition", &partition.to_string())], *lag as f64);
        }
        out.push(family);
    }
}
