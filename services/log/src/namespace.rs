//! A namespace over any log: every topic and consumer group gets a prefix on the way
//! in and loses it on the way out, so several hookline deployments (or test runs)
//! can share one Kafka cluster without seeing each other's records. The roles keep
//! using the plain topic names.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::{Appended, Consumer, ConsumerSpec, EventLog, LogError, NewRecord, Record, TopicPartition, TopicSpec};

/// `inner` with every topic and group name prefixed by `prefix` (e.g. `"staging."`).
pub struct Namespaced {
    inner: Arc<dyn EventLog>,
    prefix: String,
}

impl Namespaced {
    pub fn new(inner: Arc<dyn EventLog>, prefix: impl Into<String>) -> Arc<Self> {
        Arc::new(Self { inner, prefix: prefix.into() })
    }
}

fn outer(prefix: &str, name: &str) -> String {
    format!("{prefix}{name}")
}

fn inner_name(prefix: &str, name: &str) -> String {
    name.strip_prefix(prefix).unwrap_or(name).to_string()
}

/// Errors name topics as the roles know them.
fn plain_error(prefix: &str, error: LogError) -> LogError {
    match error {
        LogError::UnknownTopic(topic) => LogError::UnknownTopic(inner_name(prefix, &topic)),
        other => other,
    }
}

fn outer_tp(prefix: &str, tp: &TopicPartition) -> TopicPartition {
    TopicPartition::new(outer(prefix, &tp.topic), tp.partition)
}

#[async_trait]
impl EventLog for Namespaced {
    async fn ensure_topics(&self, topics: &[TopicSpec]) -> Result<(), LogError> {
        let specs: Vec<TopicSpec> =
            topics.iter().map(|t| TopicSpec { name: outer(&self.prefix, &t.name), ..t.clone() }).collect();
        self.inner.ensure_topics(&specs).await.map_err(|e| plain_error(&self.prefix, e))
    }

    async fn missing_topics(&self, topics: &[String]) -> Result<Vec<String>, LogError> {
        let names: Vec<String> = topics.iter().map(|t| outer(&self.prefix, t)).collect();
        let missing = self.inner.missing_topics(&names).await?;
        Ok(missing.iter().map(|t| inner_name(&self.prefix, t)).collect())
    }

    async fn append(&self, records: Vec<NewRecord>) -> Result<Vec<Appended>, LogError> {
        let records = records.into_iter().map(|r| NewRecord { topic: outer(&self.prefix, &r.topic), ..r }).collect();
        self.inner.append(records).await.map_err(|e| plain_error(&self.prefix, e))
    }

    async fn consumer(&self, spec: ConsumerSpec) -> Result<Arc<dyn Consumer>, LogError> {
        let spec = ConsumerSpec {
            group: spec.group.map(|g| outer(&self.prefix, &g)),
            topics: spec.topics.iter().map(|t| outer(&self.prefix, t)).collect(),
            start: spec.start,
        };
        let inner = self.inner.consumer(spec).await.map_err(|e| plain_error(&self.prefix, e))?;
        Ok(Arc::new(NamespacedConsumer { inner, prefix: self.prefix.clone() }))
    }

    async fn end_offsets(&self, topic: &str) -> Result<Vec<(u32, u64)>, LogError> {
        self.inner.end_offsets(&outer(&self.prefix, topic)).await.map_err(|e| plain_error(&self.prefix, e))
    }

    async fn committed_offsets(&self, group: &str, topic: &str) -> Result<Vec<(u32, u64)>, LogError> {
        let (group, topic) = (outer(&self.prefix, group), outer(&self.prefix, topic));
        self.inner.committed_offsets(&group, &topic).await.map_err(|e| plain_error(&self.prefix, e))
    }

    async fn retention(&self, topic: &str) -> Result<Option<Duration>, LogError> {
        self.inner.retention(&outer(&self.prefix, topic)).await.map_err(|e| plain_error(&self.prefix, e))
    }

    fn max_record_bytes(&self) -> usize {
        self.inner.max_record_bytes()
    }

    fn record_bytes(&self, record: &NewRecord) -> usize {
        self.inner.record_bytes(record)
    }

    async fn read(&self, tp: &TopicPartition, offset: u64) -> Result<Option<Record>, LogError> {
        let record =
            self.inner.read(&outer_tp(&self.prefix, tp), offset).await.map_err(|e| plain_error(&self.prefix, e))?;
        Ok(record.map(|r| Record { topic: inner_name(&self.prefix, &r.topic), ..r }))
    }
}

struct NamespacedConsumer {
    inner: Arc<dyn Consumer>,
    prefix: String,
}

#[async_trait]
impl Consumer for NamespacedConsumer {
    async fn poll(&self, max: usize, timeout: Duration) -> Result<Vec<Record>, LogError> {
        let records = self.inner.poll(max, timeout).await.map_err(|e| plain_error(&self.prefix, e))?;
        Ok(records.into_iter().map(|r| Record { topic: inner_name(&self.prefix, &r.topic), ..r }).collect())
    }

    fn pause(&self, tp: &TopicPartition) -> Result<(), LogError> {
        self.inner.pause(&outer_tp(&self.prefix, tp))
    }

    fn resume(&self, tp: &TopicPartition) -> Result<(), LogError> {
        self.inner.resume(&outer_tp(&self.prefix, tp))
    }

    async fn commit(&self, offsets: &[(TopicPartition, u64)]) -> Result<(), LogError> {
        let offsets: Vec<(TopicPartition, u64)> =
            offsets.iter().map(|(tp, offset)| (outer_tp(&self.prefix, tp), *offset)).collect();
        self.inner.commit(&offsets).await.map_err(|e| plain_error(&self.prefix, e))
    }

    fn assignment(&self) -> Vec<TopicPartition> {
        self.inner
            .assignment()
            .into_iter()
            .map(|tp| TopicPartition::new(inner_name(&self.prefix, &tp.topic), tp.partition))
            .collect()
    }
}
