//! The ingest consumer: reads `hookline.ingest` in batches, turns each batch into
//! tasks and rejected copies with one append, then commits past it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hookline_domain::topics;
use hookline_log::{Consumer, ConsumerSpec, EventLog, LogError, StartFrom, TopicPartition};
use hookline_metrics::Registry;
use hookline_quarantine::SetAside;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::batch;
use crate::error::IngestConsumerError;
use crate::ingestor::Ingestor;
use crate::metrics::IngestCounters;

/// Longest one poll waits for records (shutdown is served meanwhile).
const POLL_WAIT: Duration = Duration::from_secs(1);

/// Settings of the ingest consumer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IngestConsumerConfig {
    /// The consumer group on `hookline.ingest`.
    pub group: String,
    /// Most records read, checked and appended together.
    pub batch: usize,
}

impl Default for IngestConsumerConfig {
    fn default() -> Self {
        Self { group: "hookline-ingest".to_string(), batch: 500 }
    }
}

/// What the ingest consumer runs on.
pub struct IngestConsumerDeps {
    pub log: Arc<dyn EventLog>,
    /// The same ingestor the REST API uses, so both ways in apply the same checks.
    pub ingestor: Arc<Ingestor>,
    /// Where the consumer counts what it did; keep a clone to read them.
    pub counters: Arc<IngestCounters>,
    /// Where records set aside are counted.
    pub metrics: Arc<Registry>,
}

/// Consumes `hookline.ingest` until `shutdown` is cancelled, then commits what is done
/// and returns. Returns an error when the settings are invalid, a topic is missing, or
/// the log or views fail for good; passing failures are retried and never committed past.
pub async fn run_consumer(
    config: IngestConsumerConfig,
    deps: IngestConsumerDeps,
    shutdown: CancellationToken,
) -> Result<(), IngestConsumerError> {
    check_config(&config)?;
    let outputs = [topics::DELIVERIES, topics::INGEST_REJECTED, topics::QUARANTINE].map(String::from);
    let missing = deps.log.missing_topics(&outputs).await?;
    if !missing.is_empty() {
        return Err(LogError::UnknownTopic(missing.join(", ")).into());
    }
    let consumer = deps
        .log
        .consumer(ConsumerSpec {
            group: Some(config.group.clone()),
            topics: vec![topics::INGEST.to_string()],
            start: StartFrom::Earliest,
        })
        .await?;
    tracing::info!(group = %config.group, batch = config.batch, "ingest consumer running");

    let set_aside = SetAside::new(deps.log.clone(), &deps.metrics, "ingest");
    let mut commits = Commits::new(consumer.clone());
    let mut backoff = Backoff::new();
    let outcome = loop {
        let polled = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break Ok(()),
            polled = consumer.poll(config.batch, POLL_WAIT) => polled,
        };
        let records = match polled {
            Ok(records) => {
                backoff.reset();
                records
            }
            Err(error) if error.is_retryable() => {
                tracing::warn!(%error, "poll failed, retrying");
                if backoff.wait(&shutdown).await {
                    continue;
                }
                break Ok(());
            }
            Err(error) => break Err(error.into()),
        };
        if !records.is_empty() {
            match batch::process(&deps.ingestor, &set_aside, &deps.counters, &records, &shutdown).await {
                Ok(done) => commits.note(done),
                Err(error) => break Err(error),
            }
        }
        if let Err(error) = commits.commit().await {
            break Err(error.into());
        }
    };
    // What is durable is committed even when stopping on an error, so a restart does less again.
    let committed = commits.commit().await.map_err(IngestConsumerError::from);
    tracing::info!(group = %config.group, "ingest consumer stopped");
    outcome.and(committed)
}

fn check_config(config: &IngestConsumerConfig) -> Result<(), IngestConsumerError> {
    let mut problems = Vec::new();
    if config.group.trim().is_empty() {
        problems.push("group must not be empty");
    }
    if config.batch == 0 {
        problems.push("batch must be at least 1");
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(IngestConsumerError::Config(problems.join("; ")))
    }
}

/// Commit points not yet committed.
struct Commits {
    consumer: Arc<dyn Consumer>,
    pending: BTreeMap<TopicPartition, u64>,
}

impl Commits {
    fn new(consumer: Arc<dyn Consumer>) -> Self {
        Self { consumer, pending: BTreeMap::new() }
    }

    fn note(&mut self, done: Vec<(TopicPartition, u64)>) {
        for (tp, next) in done {
            let point = self.pending.entry(tp).or_insert(next);
            *point = (*point).max(next);
        }
    }

    /// Commits the pending points. A passing failure keeps them for the next call
    /// (after the next poll): the records are durable already, only re-reading is at stake.
    async fn commit(&mut self) -> Result<(), LogError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let offsets: Vec<_> = self.pending.iter().map(|(tp, next)| (tp.clone(), *next)).collect();
        match self.consumer.commit(&offsets).await {
            Ok(()) => {
                self.pending.clear();
                Ok(())
            }
            Err(error) if error.is_retryable() => {
                tracing::warn!(%error, "commit failed, retrying after the next poll");
                Ok(())
            }
            Err(error) => Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_bad_settings_are_all_listed() {
        assert!(check_config(&IngestConsumerConfig::default()).is_ok());
        let bad = IngestConsumerConfig { group: " ".into(), batch: 0 };
        match check_config(&bad) {
            Err(IngestConsumerError::Config(text)) => {
                assert_eq!(text, "group must not be empty; batch must be at least 1")
            }
            other => panic!("expected a config error, got {other:?}"),
        }
    }
}
