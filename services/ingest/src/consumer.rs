//! The ingest consumer: reads `hookline.ingest` and `hookline.events` in batches, turns
//! each batch into tasks, accepted events and rejected copies with one append, then
//! commits past it.

use std::sync::Arc;

use hookline_domain::topics;
use hookline_log::consume::consume_batches;
use hookline_log::{ConsumerSpec, EventLog, StartFrom};
use hookline_metrics::Registry;
use hookline_quarantine::SetAside;
use tokio_util::sync::CancellationToken;

use crate::batch::{self, Judges};
use crate::error::IngestConsumerError;
use crate::events::EventIntake;
use crate::ingestor::Ingestor;
use crate::metrics::IngestCounters;

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
    /// The same event intake the REST API uses, for records of `hookline.events`.
    pub intake: Arc<EventIntake>,
    /// Where the consumer counts what it did; keep a clone to read them.
    pub counters: Arc<IngestCounters>,
    /// Where records set aside are counted.
    pub metrics: Arc<Registry>,
}

/// Consumes `hookline.ingest` and `hookline.events` until `shutdown` is cancelled, then commits what is done
/// and returns. Returns an error when the settings are invalid, a topic is missing, or
/// the log or views fail for good; passing failures are retried and never committed past.
pub async fn run_consumer(
    config: IngestConsumerConfig,
    deps: IngestConsumerDeps,
    shutdown: CancellationToken,
) -> Result<(), IngestConsumerError> {
    check_config(&config)?;
    let outputs = [topics::DELIVERIES, topics::FANOUT, topics::INGEST_REJECTED, topics::QUARANTINE].map(String::from);
    deps.log.require_topics(&outputs).await?;
    // Events are routed by the directory: judged before it has read the log so far, a
    // record could be refused for a tenant that exists.
    tokio::select! {
        biased;
        _ = shutdown.cancelled() => return Ok(()),
        _ = deps.intake.routing().caught_up() => {}
    }
    let consumer = deps
        .log
        .consumer(ConsumerSpec {
            group: Some(config.group.clone()),
            topics: vec![topics::INGEST.to_string(), topics::EVENTS.to_string()],
            start: StartFrom::Earliest,
        })
        .await?;
    tracing::info!(group = %config.group, batch = config.batch, "ingest consumer running");

    let set_aside = SetAside::new(deps.log.clone(), &deps.metrics, "ingest");
    let judges = Judges { ingestor: &deps.ingestor, intake: &deps.intake, log: deps.log.as_ref() };
    let counters = &deps.counters;
    let outcome = consume_batches(consumer, config.batch, &shutdown, |records| {
        let (judges, set_aside, shutdown) = (&judges, &set_aside, &shutdown);
        async move { batch::process(judges, set_aside, counters, &records, shutdown).await }
    })
    .await;
    tracing::info!(group = %config.group, "ingest consumer stopped");
    outcome
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
