//! Callbacks of the librdkafka clients: log lines and errors go to `tracing`; the
//! consumer's rebalances are logged, applied, and announced to `KafkaConsumer::start`.

use std::time::Duration;

use hookline_log::StartFrom;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaError;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use tokio::sync::watch;

/// Bound on each broker lookup made while a rebalance is applied.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

/// The producer's and admin client's context: librdkafka's log lines to `tracing`.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogContext;

impl ClientContext for LogContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        forward_log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(%error, reason, "kafka client error");
    }
}

/// The reader's consumer (assigned, never subscribed) has no rebalances to handle.
impl ConsumerContext for LogContext {}

fn forward_log(level: RDKafkaLogLevel, facility: &str, message: &str) {
    match level {
        RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical | RDKafkaLogLevel::Error => {
            tracing::error!(facility, "librdkafka: {message}")
        }
        RDKafkaLogLevel::Warning => tracing::warn!(facility, "librdkafka: {message}"),
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => tracing::info!(facility, "librdkafka: {message}"),
        RDKafkaLogLevel::Debug => tracing::debug!(facility, "librdkafka: {message}"),
    }
}

/// A consumer's context: logs rebalances, pins `Latest` start positions, and flips
/// `joined` once the first assignment is applied.
pub struct ConsumerEvents {
    group: String,
    start: StartFrom,
    joined: watch::Sender<bool>,
}

impl ConsumerEvents {
    pub fn new(group: String, start: StartFrom) -> (Self, watch::Receiver<bool>) {
        let (joined, joined_rx) = watch::channel(false);
        (Self { group, start, joined }, joined_rx)
    }

    /// For partitions the group has no committed offset for, starts `Latest` at the end
    /// offset read now, rather than at an end librdkafka would look up later: a record
    /// appended after `consumer()` returned must not be skipped.
    fn pin_latest(&self, consumer: &BaseConsumer<Self>, assigned: &mut TopicPartitionList) {
        let committed = match consumer.committed_offsets(assigned.clone(), LOOKUP_TIMEOUT) {
            Ok(committed) => committed,
            Err(error) => {
                tracing::warn!(group = %self.group, %error, "reading committed offsets failed; latest resolved later");
                return;
            }
        };
        for tp in committed.elements() {
            if tp.offset() != Offset::Invalid {
                continue;
            }
            let end = match consumer.fetch_watermarks(tp.topic(), tp.partition(), LOOKUP_TIMEOUT) {
                Ok((_, high)) => high,
                Err(error) => {
                    tracing::warn!(group = %self.group, %error, "reading an end offset failed; latest resolved later");
                    continue;
                }
            };
            if let Err(error) = assigned.set_partition_offset(tp.topic(), tp.partition(), Offset::Offset(end)) {
                tracing::warn!(group = %self.group, %error, "pinning a start offset failed");
            }
        }
    }
}

impl ClientContext for ConsumerEvents {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        forward_log(level, facility, message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(group = %self.group, %error, reason, "kafka consumer error");
    }
}

impl ConsumerContext for ConsumerEvents {
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        let cooperative = matches!(consumer.rebalance_protocol(), RebalanceProtocol::Cooperative);
        let partitions = describe(tpl);
        let applied = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                tracing::info!(group = %self.group, %partitions, "kafka partitions assigned");
                if self.start == StartFrom::Latest && tpl.count() > 0 {
                    blocking(|| self.pin_latest(consumer, tpl));
                }
                let applied = if cooperative { consumer.incremental_assign(tpl) } else { consumer.assign(tpl) };
                self.joined.send_replace(true);
                applied
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let lost = consumer.assignment_lost();
                tracing::info!(group = %self.group, %partitions, lost, "kafka partitions revoked");
                if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                }
            }
            other => {
                tracing::warn!(group = %self.group, error = ?other, "kafka rebalance failed; dropping the assignment");
                if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                }
            }
        };
        if let Err(error) = applied {
            tracing::error!(group = %self.group, %error, "applying a kafka rebalance failed");
        }
    }
}

/// `topic/partition` list for logs.
fn describe(tpl: &TopicPartitionList) -> String {
    let parts: Vec<String> = tpl.elements().iter().map(|tp| format!("{}/{}", tp.topic(), tp.partition())).collect();
    parts.join(",")
}

/// Runs broker lookups made inside a rebalance callback, which librdkafka calls from
/// the polling task: on a multi-threaded runtime the worker is handed over first.
fn blocking<T>(lookup: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(lookup)
        }
        _ => lookup(),
    }
}
