//! The Kafka adapter of the [`EventLog`](hookline_log::EventLog) port, on librdkafka
//! (through `rdkafka`).
//!
//! Consumes: a Kafka cluster (`KafkaSettings::brokers`) and the records the roles
//! append. Produces: those records to consumers, with Kafka's own partitioning
//! (murmur2 of the key, the same partition the embedded adapter picks), offsets,
//! consumer groups and static membership.
//!
//! Guarantees: `append` returns only once every record is acknowledged by all in-sync
//! replicas (idempotent producer, `acks=all`), records of one key keep their order;
//! offsets are committed only by an explicit [`Consumer::commit`](hookline_log::Consumer::commit)
//! (auto commit and auto offset store are off); a consumer returned by
//! [`KafkaLog::consumer`](hookline_log::EventLog::consumer) has joined its group, so a
//! `Latest` consumer sees every record appended after it was returned. Broker trouble
//! never panics: calls fail with the retryable `LogError::Unavailable` and librdkafka
//! reconnects by itself. Passes `hookline_log::conformance`.

mod client_config;
mod committed;
mod consumer;
mod errors;
mod events;
mod produce;
mod read;
mod topics;

pub use client_config::{protected_setting, refused_overrides};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use hookline_log::{
    Appended, Consumer, ConsumerSpec, EventLog, LogError, NewRecord, Record, TopicPartition, TopicSpec,
};
use rdkafka::admin::AdminClient;
use rdkafka::producer::{FutureProducer, Producer};

use crate::events::LogContext;

/// How long `connect` waits for a first answer from the cluster.
const CONNECT_DEADLINE: Duration = Duration::from_secs(10);

/// How to reach the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KafkaSettings {
    /// `host:port[,host:port…]`.
    pub brokers: String,
    pub client_id: String,
    /// librdkafka settings passed through as they are, applied after ours, for tuning:
    /// those the guarantees depend on (`enable.idempotence`, `acks`, the auto-commit
    /// settings, see [`refused_overrides`]) are refused.
    pub overrides: Vec<(String, String)>,
    /// Prefix of `group.instance.id` (static membership): a consumer restarted with the
    /// same prefix gets its partitions back without waiting for a rebalance.
    pub instance_id: Option<String>,
    /// Replication factor of the topics `ensure_topics` creates; `None`: the broker's default.
    pub replication_factor: Option<i32>,
    /// `retention.bytes` (per partition) of the topics `ensure_topics` creates with a
    /// time retention; topics kept for ever are never cut by size. `None`: by time only.
    pub retention_bytes: Option<u64>,
}

impl KafkaSettings {
    /// Settings for `brokers` with client id `hookline`, no overrides, no static membership.
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            client_id: "hookline".into(),
            overrides: Vec::new(),
            instance_id: None,
            replication_factor: None,
            retention_bytes: None,
        }
    }
}

/// The log on a Kafka cluster: one shared producer and one admin client; each consumer
/// is its own librdkafka client.
pub struct KafkaLog {
    settings: KafkaSettings,
    producer: FutureProducer<LogContext>,
    admin: AdminClient<LogContext>,
    /// The producer's `message.max.bytes`, reported in `LogError::TooLarge`.
    max_message_bytes: usize,
    /// Reads single records by position; shared, as reads are rare.
    reader: Arc<read::RecordReader>,
    /// Reads other groups' committed offsets, for backlogs.
    committed: Arc<committed::CommittedReader>,
    /// Consumers started per group, numbering static member ids so that a restarted
    /// process that starts its consumers in the same order reclaims the same ids.
    members_per_group: Mutex<HashMap<String, u32>>,
}

impl KafkaLog {
    /// Connects to the cluster; fails with `Unavailable` when no broker answers within
    /// about ten seconds.
    pub async fn connect(settings: KafkaSettings) -> Result<Arc<KafkaLog>, LogError> {
        if let Some(problem) = client_config::refused_overrides(&settings.overrides).into_iter().next() {
            return Err(LogError::Invalid(problem));
        }
        let producer: FutureProducer<LogContext> =
            client_config::producer(&settings)
                .create_with_context(LogContext)
                .map_err(|e| LogError::Invalid(format!("kafka producer settings: {e}")))?;
        let admin: AdminClient<LogContext> = client_config::admin(&settings)
            .create_with_context(LogContext)
            .map_err(|e| LogError::Invalid(format!("kafka admin settings: {e}")))?;
        let probe = producer.clone();
        let answered = tokio::task::spawn_blocking(move || probe.client().fetch_metadata(None, CONNECT_DEADLINE))
            .await
            .map_err(|e| LogError::Unavailable(format!("metadata probe task failed: {e}")))?;
        if let Err(e) = answered {
            return Err(LogError::Unavailable(format!("no Kafka broker answered at {}: {e}", settings.brokers)));
        }
        let max_message_bytes = client_config::max_message_bytes(&settings);
        let reader = Arc::new(read::RecordReader::new(&settings)?);
        Ok(Arc::new(KafkaLog {
            reader,
            committed: Arc::default(),
            settings,
            producer,
            admin,
            max_message_bytes,
            members_per_group: Mutex::new(HashMap::new()),
        }))
    }

    /// The next static member id for `group`, when static membership is configured.
    fn next_instance_id(&self, group: &str) -> Option<String> {
        let prefix = self.settings.instance_id.as_ref()?;
        let mut members = self.members_per_group.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let n = members.entry(group.to_string()).or_insert(0);
        *n += 1;
        Some(format!("{prefix}.{group}.{n}"))
    }
}

#[async_trait]
impl EventLog for KafkaLog {
    async fn ensure_topics(&self, topics: &[TopicSpec]) -> Result<(), LogError> {
        topics::ensure(&self.settings, &self.admin, &self.producer, topics).await
    }

    async fn missing_topics(&self, topics: &[String]) -> Result<Vec<String>, LogError> {
        topics::missing(&self.producer, topics).await
    }

    async fn append(&self, records: Vec<NewRecord>) -> Result<Vec<Appended>, LogError> {
        produce::append(&self.producer, records, self.max_message_bytes).await
    }

    async fn consumer(&self, spec: ConsumerSpec) -> Result<Arc<dyn Consumer>, LogError> {
        let missing = self.missing_topics(&spec.topics).await?;
        if let Some(topic) = missing.into_iter().next() {
            return Err(LogError::UnknownTopic(topic));
        }
        let instance_id = spec.group.as_deref().and_then(|group| self.next_instance_id(group));
        let consumer = consumer::KafkaConsumer::start(&self.settings, spec, instance_id).await?;
        Ok(consumer)
    }

    async fn end_offsets(&self, topic: &str) -> Result<Vec<(u32, u64)>, LogError> {
        topics::end_offsets(&self.producer, topic).await
    }

    async fn committed_offsets(&self, group: &str, topic: &str) -> Result<Vec<(u32, u64)>, LogError> {
        topics::committed_offsets(&self.producer, &self.committed, &self.settings, group, topic).await
    }

    async fn retention(&self, topic: &str) -> Result<Option<Duration>, LogError> {
        topics::retention(&self.admin, &self.producer, topic).await
    }

    async fn read(&self, tp: &TopicPartition, offset: u64) -> Result<Option<Record>, LogError> {
        let (reader, tp) = (self.reader.clone(), tp.clone());
        tokio::task::spawn_blocking(move || reader.read(&tp, offset))
            .await
            .map_err(|e| LogError::Unavailable(format!("kafka read task failed: {e}")))?
    }

    fn max_record_bytes(&self) -> usize {
        self.max_message_bytes
    }

    fn record_bytes(&self, record: &NewRecord) -> usize {
        produce::wire_size(record)
    }
}
