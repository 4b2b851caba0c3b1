//! Reading another group's committed offsets, for backlogs: one librdkafka consumer per
//! group asked about, configured with that `group.id` but never subscribed nor
//! assigned, so it never joins the group (no rebalance, no partitions taken) and only
//! sends offset fetches to the group's coordinator.
//!
//! The consumers are kept, one per group name asked: hookline asks about its own
//! groups only (the delivery role's, a few), so the map stays small.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hookline_log::LogError;
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};

use crate::errors::unavailable;
use crate::events::LogContext;
use crate::{client_config, KafkaSettings};

/// How long one offset fetch waits for the coordinator.
const FETCH_DEADLINE: Duration = Duration::from_secs(10);

#[derive(Default)]
pub(crate) struct CommittedReader {
    by_group: Mutex<HashMap<String, Arc<BaseConsumer<LogContext>>>>,
}

impl CommittedReader {
    /// Blocking: the committed offsets of `group` in `partitions` of `topic`, leaving
    /// out the partitions where it has none.
    pub(crate) fn committed(
        &self,
        settings: &KafkaSettings,
        group: &str,
        topic: &str,
        partitions: &[u32],
    ) -> Result<Vec<(u32, u64)>, LogError> {
        let consumer = self.consumer(settings, group)?;
        let mut wanted = TopicPartitionList::new();
        for partition in partitions {
            let number =
                i32::try_from(*partition).map_err(|_| LogError::Invalid(format!("no partition {partition}")))?;
            wanted.add_partition(topic, number);
        }
        let committed = consumer
            .committed_offsets(wanted, FETCH_DEADLINE)
            .map_err(|e| unavailable("reading committed offsets", &e))?;
        Ok(committed
            .elements()
            .iter()
            .filter_map(|element| match element.offset() {
                Offset::Offset(next) => Some((u32::try_from(element.partition()).ok()?, u64::try_from(next).ok()?)),
                _ => None,
            })
            .collect())
    }

    fn consumer(&self, settings: &KafkaSettings, group: &str) -> Result<Arc<BaseConsumer<LogContext>>, LogError> {
        let mut by_group = self.by_group.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(consumer) = by_group.get(group) {
            return Ok(consumer.clone());
        }
        let consumer: BaseConsumer<LogContext> = client_config::offsets_reader(settings, group)
            .create_with_context(LogContext)
            .map_err(|e| LogError::Invalid(format!("kafka offsets reader settings: {e}")))?;
        let consumer = Arc::new(consumer);
        by_group.insert(group.to_string(), consumer.clone());
        Ok(consumer)
    }
}
