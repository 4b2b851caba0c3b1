//! Topic management: creating topics, finding missing ones, reading end offsets and
//! groups' committed offsets.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use hookline_log::{LogError, TopicSpec};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::metadata::MetadataTopic;
use rdkafka::producer::{FutureProducer, Producer};

use crate::committed::CommittedReader;
use crate::errors;
use crate::events::LogContext;
use crate::KafkaSettings;

/// Bound on one metadata or offset request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `ensure` waits for new topics to show up with a leader for every partition.
const VISIBLE_DEADLINE: Duration = Duration::from_secs(30);
/// How long `end_offsets` waits for a partition's leadership to settle.
const LEADER_MOVE_DEADLINE: Duration = Duration::from_secs(10);
/// Pause between two looks at the metadata of a topic being created.
const VISIBLE_RECHECK: Duration = Duration::from_millis(50);

/// Creates the topics that do not exist; waits until the producer sees each of them.
pub(crate) async fn ensure(
    settings: &KafkaSettings,
    admin: &AdminClient<LogContext>,
    producer: &FutureProducer<LogContext>,
    topics: &[TopicSpec],
) -> Result<(), LogError> {
    if topics.is_empty() {
        return Ok(());
    }
    let configs: Vec<(String, i32, String, String)> = topics
        .iter()
        .map(|spec| {
            let partitions = i32::try_from(spec.partitions)
                .map_err(|_| LogError::Invalid(format!("{} partitions for {}", spec.partitions, spec.name)))?;
            let retention_ms = spec.retention.map_or(-1, |kept| i64::try_from(kept.as_millis()).unwrap_or(i64::MAX));
            let retention_bytes = retention_bytes(spec, settings.retention_bytes);
            Ok((spec.name.clone(), partitions, retention_ms.to_string(), retention_bytes.to_string()))
        })
        .collect::<Result<_, LogError>>()?;
    let max_message_bytes = crate::client_config::MAX_MESSAGE_BYTES.to_string();
    // -1: the broker's default replication factor.
    let replication_factor = settings.replication_factor.unwrap_or(-1);
    let new_topics: Vec<NewTopic<'_>> = configs
        .iter()
        .map(|(name, partitions, retention_ms, retention_bytes)| {
            NewTopic::new(name, *partitions, TopicReplication::Fixed(replication_factor))
                .set("retention.ms", retention_ms)
                .set("retention.bytes", retention_bytes)
                // Room for a whole 1 MiB webhook inside its event envelope (the broker's default is 1 MB).
                .set("max.message.bytes", &max_message_bytes)
                // `Record::timestamp_ms` is when the log accepted the record.
                .set("message.timestamp.type", "LogAppendTime")
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(REQUEST_TIMEOUT)).request_timeout(Some(REQUEST_TIMEOUT));
    let results =
        admin.create_topics(&new_topics, &options).await.map_err(|e| errors::unavailable("creating topics", &e))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((
                name,
                code @ (RDKafkaErrorCode::InvalidTopic
                | RDKafkaErrorCode::InvalidPartitions
                | RDKafkaErrorCode::InvalidReplicationFactor
                | RDKafkaErrorCode::InvalidConfig
                | RDKafkaErrorCode::PolicyViolation
                | RDKafkaErrorCode::TopicAuthorizationFailed
                | RDKafkaErrorCode::ClusterAuthorizationFailed),
            )) => return Err(LogError::Invalid(format!("kafka refused to create topic {name}: {code}"))),
            Err((name, code)) => return Err(LogError::Unavailable(format!("creating kafka topic {name}: {code}"))),
        }
    }
    let producer = producer.clone();
    let names: Vec<String> = topics.iter().map(|spec| spec.name.clone()).collect();
    blocking(move || wait_until_visible(&producer, &names)).await
}

/// The topic's `retention.ms` as the broker has it now (`None`: kept for ever).
pub(crate) async fn retention(
    admin: &AdminClient<LogContext>,
    producer: &FutureProducer<LogContext>,
    topic: &str,
) -> Result<Option<Duration>, LogError> {
    // The broker describes the configuration of a missing topic as if it existed.
    if !missing(producer, &[topic.to_string()]).await?.is_empty() {
        return Err(LogError::UnknownTopic(topic.into()));
    }
    let options = AdminOptions::new().request_timeout(Some(REQUEST_TIMEOUT));
    let described = admin
        .describe_configs([&ResourceSpecifier::Topic(topic)], &options)
        .await
        .map_err(|e| errors::unavailable("describing a topic", &e))?;
    let resource = match described.into_iter().next() {
        Some(Ok(resource)) => resource,
        Some(Err(RDKafkaErrorCode::UnknownTopicOrPartition)) | None => {
            return Err(LogError::UnknownTopic(topic.into()))
        }
        Some(Err(code)) => return Err(LogError::Unavailable(format!("describing kafka topic {topic}: {code}"))),
    };
    let value = resource.get("retention.ms").and_then(|entry| entry.value.as_deref()).unwrap_or("-1");
    let millis: i64 =
        value.parse().map_err(|_| LogError::Invalid(format!("topic {topic} has retention.ms {value:?}")))?;
    Ok(u64::try_from(millis).ok().map(Duration::from_millis))
}

/// The `retention.bytes` of a new topic: the size retention for topics with a time
/// retention, -1 (no limit) for topics kept for ever.
fn retention_bytes(spec: &TopicSpec, retention_bytes: Option<u64>) -> i64 {
    match (spec.retention, retention_bytes) {
        (Some(_), Some(bytes)) => i64::try_from(bytes).unwrap_or(i64::MAX),
        _ => -1,
    }
}

/// Asking through the producer also refreshes its own view, so the first append to a
/// new topic does not find it unknown.
fn wait_until_visible(producer: &FutureProducer<LogContext>, names: &[String]) -> Result<(), LogError> {
    let deadline = std::time::Instant::now() + VISIBLE_DEADLINE;
    for name in names {
        loop {
            let metadata = producer
                .client()
                .fetch_metadata(Some(name), REQUEST_TIMEOUT)
                .map_err(|e| errors::unavailable("reading topic metadata", &e))?;
            if let Some(topic) = metadata.topics().iter().find(|topic| topic.name() == name && has_leaders(topic)) {
                // The metadata may name a leader before that broker serves the partition.
                for partition in topic.partitions() {
                    high_watermark(producer, name, partition.id(), deadline)?;
                }
                break;
            }
            if std::time::Instant::now() >= deadline {
                return Err(LogError::Unavailable(format!("kafka topic {name} not ready within {VISIBLE_DEADLINE:?}")));
            }
            std::thread::sleep(VISIBLE_RECHECK);
        }
    }
    Ok(())
}

fn has_leaders(topic: &MetadataTopic) -> bool {
    topic.error().is_none()
        && !topic.partitions().is_empty()
        && topic.partitions().iter().all(|p| p.error().is_none() && p.leader() >= 0)
}

/// Those of `names` the cluster does not have.
pub(crate) async fn missing(producer: &FutureProducer<LogContext>, names: &[String]) -> Result<Vec<String>, LogError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let producer = producer.clone();
    let existing: HashSet<String> = blocking(move || {
        let metadata = producer
            .client()
            .fetch_metadata(None, REQUEST_TIMEOUT)
            .map_err(|e| errors::unavailable("reading cluster metadata", &e))?;
        Ok(metadata.topics().iter().filter(|t| t.error().is_none()).map(|t| t.name().to_string()).collect())
    })
    .await?;
    Ok(names.iter().filter(|name| !existing.contains(*name)).cloned().collect())
}

/// The high watermark of each partition of `topic`.
pub(crate) async fn end_offsets(
    producer: &FutureProducer<LogContext>,
    topic: &str,
) -> Result<Vec<(u32, u64)>, LogError> {
    let producer = producer.clone();
    let topic = topic.to_string();
    blocking(move || {
        let deadline = std::time::Instant::now() + LEADER_MOVE_DEADLINE;
        partitions(&producer, &topic)?
            .into_iter()
            .map(|partition| {
                let high = high_watermark(&producer, &topic, partition, deadline)?;
                Ok((u32::try_from(partition).unwrap_or_default(), u64::try_from(high).unwrap_or_default()))
            })
            .collect()
    })
    .await
}

/// The offsets `group` committed in the partitions of `topic`, read by `reader`.
pub(crate) async fn committed_offsets(
    producer: &FutureProducer<LogContext>,
    reader: &Arc<CommittedReader>,
    settings: &KafkaSettings,
    group: &str,
    topic: &str,
) -> Result<Vec<(u32, u64)>, LogError> {
    let (producer, reader, settings) = (producer.clone(), reader.clone(), settings.clone());
    let (group, topic) = (group.to_string(), topic.to_string());
    blocking(move || {
        let numbers: Vec<u32> =
            partitions(&producer, &topic)?.into_iter().filter_map(|p| u32::try_from(p).ok()).collect();
        reader.committed(&settings, &group, &topic, &numbers)
    })
    .await
}

/// Blocking: the partition numbers of `topic`.
fn partitions(producer: &FutureProducer<LogContext>, topic: &str) -> Result<Vec<i32>, LogError> {
    let metadata = producer
        .client()
        .fetch_metadata(Some(topic), REQUEST_TIMEOUT)
        .map_err(|e| errors::unavailable("reading topic metadata", &e))?;
    metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map(|t| t.partitions().iter().map(|p| p.id()).collect())
        .ok_or_else(|| LogError::UnknownTopic(topic.to_string()))
}

/// The next offset to be written in one partition, asked again while its leadership is
/// moving (a new topic, a broker restart) until `deadline`.
fn high_watermark(
    producer: &FutureProducer<LogContext>,
    topic: &str,
    partition: i32,
    deadline: std::time::Instant,
) -> Result<i64, LogError> {
    loop {
        match producer.client().fetch_watermarks(topic, partition, REQUEST_TIMEOUT) {
            Ok((_, high)) => return Ok(high),
            Err(error)
                if matches!(
                    error.rdkafka_error_code(),
                    Some(RDKafkaErrorCode::NotLeaderForPartition | RDKafkaErrorCode::LeaderNotAvailable)
                ) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(VISIBLE_RECHECK);
            }
            Err(error) => {
                return Err(errors::unavailable(&format!("reading the end offset of {topic}/{partition}"), &error))
            }
        }
    }
}

/// Runs librdkafka's blocking calls off the async workers.
async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, LogError> + Send + 'static,
) -> Result<T, LogError> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|e| LogError::Unavailable(format!("kafka request task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(retention: Option<Duration>) -> TopicSpec {
        TopicSpec { name: "t".into(), partitions: 1, retention }
    }

    #[test]
    fn only_topics_with_a_time_retention_are_cut_by_size() {
        let day = Some(Duration::from_secs(86_400));
        assert_eq!(retention_bytes(&spec(day), Some(1 << 30)), 1 << 30);
        assert_eq!(retention_bytes(&spec(day), None), -1);
        assert_eq!(retention_bytes(&spec(None), Some(1 << 30)), -1, "a topic kept for ever stays whole");
    }
}
