//! The delivery role's backlog, read the same way from any process: for each topic the
//! role reads (first attempts, then each retry tier), the end offsets minus the offsets
//! its consumer group committed, through the log port. So a process that does not run
//! the delivery role (an api process of a split deployment) shows the same numbers as
//! one that does. Sampled every few seconds, never per request.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hookline_domain::topics;
use hookline_log::{EventLog, LogError};
use serde::Serialize;

use crate::rfc3339;

/// A topic the delivery role reads, and the group that reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BacklogSource {
    pub topic: String,
    pub group: String,
}

/// The backlog at one moment.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Backlog {
    #[serde(serialize_with = "rfc3339")]
    pub sampled_at: DateTime<Utc>,
    pub sources: Vec<SourceBacklog>,
}

/// Records of one topic its group has not finished.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SourceBacklog {
    pub topic: String,
    /// The tier's delay; `None` for `hookline.deliveries` (first attempts).
    pub delay_seconds: Option<u64>,
    /// `None` when the log could not say (the topic's offsets could not be read).
    pub records: Option<u64>,
}

/// Reads the backlog of every source now.
pub(crate) async fn sample(log: &dyn EventLog, sources: &[BacklogSource]) -> Backlog {
    let mut out = Vec::with_capacity(sources.len());
    for source in sources {
        let records = match unfinished(log, source).await {
            Ok(records) => Some(records),
            Err(e) => {
                tracing::warn!(topic = %source.topic, group = %source.group, error = %e, "cannot read a backlog");
                None
            }
        };
        out.push(SourceBacklog { topic: source.topic.clone(), delay_seconds: tier_delay(&source.topic), records });
    }
    Backlog { sampled_at: Utc::now(), sources: out }
}

/// End offsets minus committed offsets, summed over the partitions (a partition the
/// group never committed counts from offset 0).
async fn unfinished(log: &dyn EventLog, source: &BacklogSource) -> Result<u64, LogError> {
    let ends = log.end_offsets(&source.topic).await?;
    let committed: HashMap<u32, u64> = log.committed_offsets(&source.group, &source.topic).await?.into_iter().collect();
    Ok(ends.iter().map(|(partition, end)| end.saturating_sub(committed.get(partition).copied().unwrap_or(0))).sum())
}

fn tier_delay(topic: &str) -> Option<u64> {
    topic.strip_prefix(topics::RETRY_PREFIX)?.strip_suffix('s')?.parse().ok()
}

/// How often the backlog is sampled.
pub const BACKLOG_EVERY: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use hookline_log::embedded::{EmbeddedLog, EmbeddedOptions};
    use hookline_log::{ConsumerSpec, NewRecord, StartFrom, TopicPartition, TopicSpec};

    use super::*;

    #[test]
    fn tiers_say_their_delay() {
        assert_eq!(tier_delay("hookline.retry.90s"), Some(90));
        assert_eq!(tier_delay("hookline.deliveries"), None);
    }

    #[tokio::test]
    async fn the_backlog_is_what_the_group_has_not_committed() {
        let dir = tempfile::tempdir().unwrap();
        let log: Arc<dyn EventLog> = EmbeddedLog::open(dir.path(), EmbeddedOptions::default()).unwrap();
        let tier = "hookline.retry.10s".to_string();
        log.ensure_topics(&[TopicSpec { name: tier.clone(), partitions: 2, retention: None }]).await.unwrap();
        let record =
            |key: &str| NewRecord { topic: tier.clone(), key: key.into(), headers: vec![], value: b"{}".to_vec() };
        log.append((0..10).map(|n| record(&format!("k{n}"))).collect()).await.unwrap();
        let source = BacklogSource { topic: tier.clone(), group: "g".into() };
        let before = sample(log.as_ref(), std::slice::from_ref(&source)).await;
        assert_eq!(before.sources[0].records, Some(10), "nothing committed: all of it");
        assert_eq!(before.sources[0].delay_seconds, Some(10));

        let spec = ConsumerSpec { group: Some("g".into()), topics: vec![tier.clone()], start: StartFrom::Earliest };
        let consumer = log.consumer(spec).await.unwrap();
        let ends = log.end_offsets(&tier).await.unwrap();
        let (partition, end) = ends.iter().find(|(_, end)| *end > 0).copied().unwrap();
        consumer.commit(&[(TopicPartition::new(&tier, partition), end)]).await.unwrap();
        let after = sample(log.as_ref(), &[source, BacklogSource { topic: "missing".into(), group: "g".into() }]).await;
        assert_eq!(after.sources[0].records, Some(10 - end));
        assert_eq!(after.sources[1].records, None, "a topic the log cannot read has no number");
    }
}
