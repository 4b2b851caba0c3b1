//! The fan-out role: every event sent to a tenant becomes one task per subscription it
//! matched.
//!
//! Consumes: `hookline.fanout` (`EventAccepted`, key = tenant id, consumer group
//! `hookline-fanout`), written by whoever accepted the event (`POST /api/v1/events`,
//! or the ingest role from `hookline.events`). Produces: one `TaskAccepted` per
//! subscription of the event in `hookline.deliveries` (key = subscription id), with the
//! task id [`hookline_domain::TaskId::for_event`] and the event id, which its deliveries
//! send as `webhook-id`.
//!
//! Guarantees: the tasks of a batch are appended together (in appends of at most
//! [`FanoutConfig::max_tasks_per_append`] records), and the batch is committed only once
//! every one is durable, so a crash expands its events again and loses none. Expanding
//! an event again writes the same task ids: the delivery role skips a first attempt it
//! started lately, and the views fold a task once. A record that is not an
//! `EventAccepted` is set aside in `hookline.quarantine` and passed; passing log
//! failures are retried and never committed past.

mod error;
mod expand;
mod metrics;

use std::sync::Arc;

use hookline_domain::topics;
use hookline_log::consume::consume_batches;
use hookline_log::{ConsumerSpec, EventLog, StartFrom};
use hookline_metrics::Registry;
use hookline_quarantine::SetAside;
use tokio_util::sync::CancellationToken;

pub use error::FanoutError;
pub use metrics::{EVENTS_METRIC, TASKS_METRIC};

use expand::Expander;
use metrics::FanoutMetrics;

/// Settings of the fan-out role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FanoutConfig {
    /// The consumer group on `hookline.fanout`.
    pub group: String,
    /// Most events read and expanded together.
    pub batch: usize,
    /// Most task records in one append: a batch of events with many subscriptions is
    /// written in several appends of this size, so that no append grows without bound.
    pub max_tasks_per_append: usize,
}

impl Default for FanoutConfig {
    fn default() -> Self {
        Self { group: "hookline-fanout".to_string(), batch: 500, max_tasks_per_append: 2048 }
    }
}

impl FanoutConfig {
    /// What is wrong with the settings; empty when they are valid.
    fn problems(&self) -> Vec<&'static str> {
        let mut problems = Vec::new();
        if self.group.trim().is_empty() {
            problems.push("group must not be empty");
        }
        if self.batch == 0 {
            problems.push("batch must be at least 1");
        }
        if self.max_tasks_per_append == 0 {
            problems.push("max_tasks_per_append must be at least 1");
        }
        problems
    }
}

/// What the fan-out role runs on.
pub struct FanoutDeps {
    pub log: Arc<dyn EventLog>,
    /// Where the role's metrics, and the records it sets aside, are counted.
    pub metrics: Arc<Registry>,
}

/// Expands events until `shutdown` is cancelled, then commits what is durable and
/// returns. Returns an error when the settings are invalid, a topic is missing, or the
/// log fails for good.
pub async fn run(config: FanoutConfig, deps: FanoutDeps, shutdown: CancellationToken) -> Result<(), FanoutError> {
    let problems = config.problems();
    if !problems.is_empty() {
        return Err(FanoutError::Config(problems.join("; ")));
    }
    let outputs = [topics::DELIVERIES, topics::QUARANTINE].map(String::from);
    deps.log.require_topics(&outputs).await?;
    let consumer = deps
        .log
        .consumer(ConsumerSpec {
            group: Some(config.group.clone()),
            topics: vec![topics::FANOUT.to_string()],
            start: StartFrom::Earliest,
        })
        .await?;
    tracing::info!(group = %config.group, batch = config.batch, "fan-out running");

    let expander = Expander {
        set_aside: SetAside::new(deps.log.clone(), &deps.metrics, "fanout"),
        metrics: FanoutMetrics::new(&deps.metrics),
        max_tasks_per_append: config.max_tasks_per_append,
    };
    let outcome = consume_batches(consumer, config.batch, &shutdown, |records| {
        let (expander, shutdown) = (&expander, &shutdown);
        async move { expander.expand(&records, shutdown).await }
    })
    .await;
    tracing::info!(group = %config.group, "fan-out stopped");
    outcome.map_err(FanoutError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_bad_settings_are_all_listed() {
        assert!(FanoutConfig::default().problems().is_empty());
        let bad = FanoutConfig { group: " ".into(), batch: 0, max_tasks_per_append: 0 };
        assert_eq!(
            bad.problems(),
            ["group must not be empty", "batch must be at least 1", "max_tasks_per_append must be at least 1"]
        );
    }
}
