//! The operational role: hookline tells the operator and each tenant what it decided.
//!
//! Consumes: `hookline.operational` (`OperationalEvent`, key = tenant id, group
//! `hookline-operational`), written with the decisions themselves (a subscription
//! disabled or enabled, by the delivery role or the API; a replay completed, by the
//! replay role) and by this role (tasks exhausted); and `hookline.dlq` (group
//! `hookline-operational.dlq`), whose dead letters it gathers into one
//! `hookline.task.exhausted` per subscription per minute ([`exhausted`]).
//! Produces: one `EventAccepted` per decision in `hookline.fanout` (its tenant, the
//! decision's event id, type and JSON), naming the operator's subscription and the
//! tenant's subscriptions that asked for hookline's own events; the fan-out and
//! delivery roles then send them like any webhook. Also reconciles the operator's
//! subscription at start ([`operator`]).
//!
//! Guarantees: a decision's event is committed only once its `EventAccepted` is
//! durable, and a dead letter only once the summary that counts it is: a crash
//! repeats, never loses (a repeated decision carries the same id, hence the same
//! `webhook-id` and task ids). Nothing here is on the path of ordinary deliveries:
//! notifications are tasks of their own, and an attempt's outcome never waits for one.
//! Memory: at most [`OperationalConfig::max_gathered`] subscriptions are gathered at
//! once (about 3 KB each at most); past that the role reads no further dead letters
//! until the oldest window closes.

mod dead_letters;
mod error;
mod exhausted;
mod metrics;
mod notify;
mod operator;

use std::sync::Arc;
use std::time::Duration;

use hookline_domain::topics;
use hookline_log::consume::consume_batches;
use hookline_log::{ConsumerSpec, EventLog, StartFrom};
use hookline_lookup::SubscriptionDirectory;
use hookline_metrics::Registry;
use hookline_quarantine::SetAside;
use hookline_routing::Directory;
use tokio_util::sync::CancellationToken;

pub use error::OperationalError;
pub use metrics::{GATHERING_METRIC, NOTIFICATIONS_METRIC, OVERTAKEN_METRIC};
pub use operator::{OperatorWebhook, OPERATOR_PATTERN, UNSET_REASON};

use dead_letters::DeadLetters;
use exhausted::Gatherer;
use metrics::OperationalMetrics;
use notify::Notifier;

/// Settings of the operational role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperationalConfig {
    /// The consumer group on `hookline.operational`.
    pub group: String,
    /// The consumer group on `hookline.dlq`.
    pub dead_letter_group: String,
    /// Most records read and handled together.
    pub batch: usize,
    /// How long dead letters of one subscription are gathered into one summary.
    pub summary_window: Duration,
    /// Most subscriptions gathered at once.
    pub max_gathered: usize,
    /// How long to wait for the views' word on a subscription change (a decision's, or
    /// the operator's subscription's).
    pub verdict_patience: Duration,
    /// The operator's URL and secret (`HOOKLINE_OPERATOR_WEBHOOK_URL`, `…_SECRET`).
    pub operator: Option<OperatorWebhook>,
}

impl Default for OperationalConfig {
    fn default() -> Self {
        Self {
            group: "hookline-operational".to_string(),
            dead_letter_group: "hookline-operational.dlq".to_string(),
            batch: 500,
            summary_window: Duration::from_secs(60),
            max_gathered: 4096,
            verdict_patience: Duration::from_secs(10),
            operator: None,
        }
    }
}

impl OperationalConfig {
    /// The consumer groups of the role.
    pub fn groups(&self) -> [&str; 2] {
        [&self.group, &self.dead_letter_group]
    }

    /// What is wrong with the settings; empty when they are valid.
    fn problems(&self) -> Vec<&'static str> {
        let mut problems = Vec::new();
        if self.group.trim().is_empty() || self.dead_letter_group.trim().is_empty() {
            problems.push("groups must not be empty");
        }
        if self.group == self.dead_letter_group {
            problems.push("the two groups must differ");
        }
        if self.batch == 0 {
            problems.push("batch must be at least 1");
        }
        if self.summary_window.is_zero() {
            problems.push("summary_window must be positive");
        }
        if self.max_gathered == 0 {
            problems.push("max_gathered must be at least 1");
        }
        problems
    }
}

/// What the operational role runs on.
pub struct OperationalDeps {
    pub log: Arc<dyn EventLog>,
    /// Subscription writes (the operator's) and verdicts, with the process's sealer.
    pub directory: Arc<SubscriptionDirectory>,
    /// Who owns a subscription and which want an event; followed by the process.
    pub routing: Arc<Directory>,
    /// Where the role's metrics, and the records it sets aside, are counted.
    pub metrics: Arc<Registry>,
}

/// Reconciles the operator's subscription, then delivers decisions and gathers dead
/// letters until `shutdown`, committing what is durable. Returns an error when the
/// settings are invalid, a topic is missing, or the log fails for good.
pub async fn run(
    config: OperationalConfig,
    deps: OperationalDeps,
    shutdown: CancellationToken,
) -> Result<(), OperationalError> {
    let problems = config.problems();
    if !problems.is_empty() {
        return Err(OperationalError::Config(problems.join("; ")));
    }
    let outputs = [topics::FANOUT, topics::OPERATIONAL, topics::QUARANTINE].map(String::from);
    deps.log.require_topics(&outputs).await?;
    // Routing needs every subscription the log holds; the operator's one is written on
    // what the views hold.
    tokio::select! {
        _ = shutdown.cancelled() => return Ok(()),
        _ = deps.routing.caught_up() => {}
    }
    operator::reconcile(config.operator.as_ref(), deps.log.as_ref(), &deps.directory, config.verdict_patience).await?;

    let metrics = OperationalMetrics::new(&deps.metrics);
    let decisions = deps
        .log
        .consumer(ConsumerSpec {
            group: Some(config.group.clone()),
            topics: vec![topics::OPERATIONAL.to_string()],
            start: StartFrom::Earliest,
        })
        .await?;
    let dead_letters = DeadLetters {
        consumer: deps
            .log
            .consumer(ConsumerSpec {
                group: Some(config.dead_letter_group.clone()),
                topics: vec![topics::DLQ.to_string()],
                start: StartFrom::Earliest,
            })
            .await?,
        log: deps.log.clone(),
        routing: deps.routing.clone(),
        metrics: metrics.clone(),
        batch: config.batch,
        gatherer: Gatherer::new(dead_letters::window(config.summary_window), config.max_gathered),
    };
    let notifier = Notifier {
        routing: deps.routing.clone(),
        directory: deps.directory.clone(),
        set_aside: SetAside::new(deps.log.clone(), &deps.metrics, "operational"),
        metrics,
        verdict_patience: config.verdict_patience,
    };
    tracing::info!(group = %config.group, dead_letter_group = %config.dead_letter_group, "operational running");
    // Either loop ending (on an error) stops the other: the role fails, and the process with it.
    let stop = shutdown.child_token();
    let notifying = async {
        let result = consume_batches(decisions, config.batch, &stop, |records| {
            let (notifier, stop) = (&notifier, &stop);
            async move { notifier.notify(&records, stop).await }
        })
        .await;
        stop.cancel();
        result
    };
    let gathering = async {
        let result = dead_letters.run(&stop).await;
        stop.cancel();
        result
    };
    let (notified, gathered) = tokio::join!(notifying, gathering);
    tracing::info!(group = %config.group, "operational stopped");
    notified?;
    gathered?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_bad_settings_are_all_listed() {
        assert!(OperationalConfig::default().problems().is_empty());
        let bad = OperationalConfig {
            group: "g".into(),
            dead_letter_group: "g".into(),
            batch: 0,
            summary_window: Duration::ZERO,
            max_gathered: 0,
            ..OperationalConfig::default()
        };
        assert_eq!(
            bad.problems(),
            [
                "the two groups must differ",
                "batch must be at least 1",
                "summary_window must be positive",
                "max_gathered must be at least 1"
            ]
        );
    }
}
