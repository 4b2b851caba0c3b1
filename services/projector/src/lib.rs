//! The projector role: folds the log into the views.
//!
//! Consumes: `hookline.subscriptions`, `hookline.deliveries`, `hookline.attempts`, the
//! dead letters of `hookline.dlq`, the events of `hookline.fanout` and the records of
//! replays in `hookline.replays` (consumer group `hookline-projector`). Produces: the
//! subscription, task (with where its payload is), attempt, event and replay views
//! through the `ViewStore` port, and purges rows past their retention.
//! Guarantees: offsets are committed only after the views hold the batch; the fold is
//! idempotent and order-insensitive, so replaying the log from the start rebuilds the
//! same views. Offsets are committed every [`ProjectorConfig::commit_every`] under load,
//! at once when the log is quiet, and on the way out, rather than after every batch: a
//! crash then folds in again what the views already hold, which changes nothing.
//!
//! A record it cannot decode is set aside in `hookline.quarantine` and passed, so no
//! record stops the projector. Waiting for the views to come back gives way to
//! shutdown, and then what they do not hold is not committed.

mod decode;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hookline_domain::topics;
use hookline_log::{Consumer, ConsumerSpec, EventLog, LogError, Record, StartFrom, TopicPartition};
use hookline_metrics::Registry;
use hookline_quarantine::{Reason, SetAside};
use hookline_views::{ViewChange, ViewError, ViewStore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use decode::decode;

/// Settings of the projector.
#[derive(Clone, Debug)]
pub struct ProjectorConfig {
    /// The consumer group.
    pub group: String,
    /// Records folded into the views per `apply`, at most.
    pub batch: usize,
    /// How long a batch that has records but is not full waits for more: under load,
    /// fewer and larger view transactions (each one is an fsync), for views this much
    /// later.
    pub linger: Duration,
    /// How often, under load, the offsets of the batches the views hold are committed;
    /// once the log is quiet they are committed at once.
    pub commit_every: Duration,
    /// How often rows past their retention are purged.
    pub purge_interval: Duration,
}

impl Default for ProjectorConfig {
    fn default() -> Self {
        Self {
            group: "hookline-projector".into(),
            batch: 2000,
            linger: Duration::from_millis(20),
            commit_every: Duration::from_secs(1),
            purge_interval: Duration::from_secs(10),
        }
    }
}

pub struct ProjectorDeps {
    pub log: Arc<dyn EventLog>,
    pub views: Arc<dyn ViewStore>,
    /// Where records set aside are counted.
    pub metrics: Arc<Registry>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    #[error("log: {0}")]
    Log(#[from] LogError),
    #[error("views: {0}")]
    Views(#[from] ViewError),
}

/// The topics the projector reads.
pub fn topics() -> Vec<String> {
    [topics::SUBSCRIPTIONS, topics::DELIVERIES, topics::ATTEMPTS, topics::DLQ, topics::FANOUT, topics::REPLAYS]
        .map(String::from)
        .to_vec()
}

/// Projects until `shutdown`, purging expired rows every `purge_interval`.
pub async fn run(
    config: ProjectorConfig,
    deps: ProjectorDeps,
    shutdown: CancellationToken,
) -> Result<(), ProjectorError> {
    let purger = tokio::spawn(purge_loop(deps.views.clone(), config.purge_interval, shutdown.clone()));
    let result = project(&config, &deps, Until::Shutdown(shutdown.clone())).await;
    shutdown.cancel();
    let _ = purger.await;
    result.map(|_| ())
}

/// Rebuilds the views from the start of the log: moves the group back to the first
/// record of every partition, then projects until everything present now is folded
/// in. Returns how many records were projected. Run it with the views emptied and the
/// service stopped.
pub async fn rebuild(config: &ProjectorConfig, deps: &ProjectorDeps) -> Result<u64, ProjectorError> {
    let consumer = deps.log.consumer(spec(config)).await?;
    let mut rewind = Vec::new();
    for topic in topics() {
        for (partition, _) in deps.log.end_offsets(&topic).await? {
            rewind.push((TopicPartition::new(topic.clone(), partition), 0));
        }
    }
    consumer.commit(&rewind).await?;
    drop(consumer);
    project(config, deps, Until::CaughtUp).await
}

enum Until {
    Shutdown(CancellationToken),
    /// Stop once a poll finds nothing more to read.
    CaughtUp,
}

fn spec(config: &ProjectorConfig) -> ConsumerSpec {
    ConsumerSpec { group: Some(config.group.clone()), topics: topics(), start: StartFrom::Earliest }
}

/// Folds batches into the views until `until`, then commits the offsets of every batch
/// the views hold, and returns how many records were projected.
async fn project(config: &ProjectorConfig, deps: &ProjectorDeps, until: Until) -> Result<u64, ProjectorError> {
    let consumer = deps.log.consumer(spec(config)).await?;
    let mut applied = Applied::default();
    let outcome = fold(config, deps, consumer.as_ref(), &until, &mut applied).await;
    let committed = applied.commit(consumer.as_ref()).await;
    let projected = outcome?;
    committed?;
    Ok(projected)
}

/// The next offsets of the records whose changes the views hold, not yet committed.
#[derive(Default)]
struct Applied {
    next_offsets: BTreeMap<TopicPartition, u64>,
}

impl Applied {
    fn add(&mut self, records: &[Record]) {
        for record in records {
            let next = self.next_offsets.entry(record.topic_partition()).or_default();
            *next = (*next).max(record.offset + 1);
        }
    }

    /// Commits what the views hold. A commit the log may accept later (broker away, a
    /// rebalance under way) is kept for the next try: the views already hold those
    /// changes, and replaying them is harmless.
    async fn commit(&mut self, consumer: &dyn Consumer) -> Result<(), LogError> {
        if self.next_offsets.is_empty() {
            return Ok(());
        }
        let offsets: Vec<(TopicPartition, u64)> = self.next_offsets.iter().map(|(tp, &n)| (tp.clone(), n)).collect();
        match consumer.commit(&offsets).await {
            Ok(()) => {
                self.next_offsets.clear();
                Ok(())
            }
            Err(e) if e.is_retryable() => {
                tracing::warn!(error = %e, "projector: commit failed, keeping the offsets for the next one");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

async fn fold(
    config: &ProjectorConfig,
    deps: &ProjectorDeps,
    consumer: &dyn Consumer,
    until: &Until,
    applied: &mut Applied,
) -> Result<u64, ProjectorError> {
    let mut projected = 0u64;
    let mut committed_at = Instant::now();
    // A rebuild replays records set aside before: it skips them again, but only the
    // running projector sets them aside (once).
    let (set_aside, token) = match until {
        Until::Shutdown(token) => (Some(SetAside::new(deps.log.clone(), &deps.metrics, "projector")), token.clone()),
        Until::CaughtUp => (None, CancellationToken::new()),
    };
    loop {
        let polled = match until {
            Until::Shutdown(token) => tokio::select! {
                _ = token.cancelled() => return Ok(projected),
                polled = poll_batch(consumer, config, Duration::from_millis(500)) => polled,
            },
            Until::CaughtUp => poll_batch(consumer, config, Duration::from_millis(300)).await,
        };
        let records = match polled {
            Ok(records) => records,
            Err(e) if e.is_retryable() => {
                tracing::warn!(error = %e, "projector: log unavailable, retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if records.is_empty() {
            if matches!(until, Until::CaughtUp) {
                return Ok(projected);
            }
            // Quiet: nothing to wait for before committing what the views hold.
            applied.commit(consumer).await?;
            committed_at = Instant::now();
            continue;
        }
        let done = fold_in(deps, &set_aside, &records, &token).await?;
        if !done {
            // Shutdown while waiting: the batch is not held by the views, nothing of it is committed.
            return Ok(projected);
        }
        projected += records.len() as u64;
        applied.add(&records);
        if committed_at.elapsed() >= config.commit_every {
            applied.commit(consumer).await?;
            committed_at = Instant::now();
        }
    }
}

/// Up to `config.batch` records: waits up to `wait` for the first, then up to
/// `config.linger` for the batch to fill.
async fn poll_batch(
    consumer: &dyn Consumer,
    config: &ProjectorConfig,
    wait: Duration,
) -> Result<Vec<Record>, LogError> {
    let mut records = consumer.poll(config.batch, wait).await?;
    if records.is_empty() {
        return Ok(records);
    }
    let deadline = Instant::now() + config.linger;
    while records.len() < config.batch {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match consumer.poll(config.batch - records.len(), left).await {
            Ok(more) if !more.is_empty() => records.extend(more),
            Ok(_) => break,
            // The records already polled must be applied, not dropped: the next poll meets the error again.
            Err(e) => {
                tracing::debug!(error = %e, "projector: topping up a batch failed, applying what came");
                break;
            }
        }
    }
    Ok(records)
}

/// Folds the records of a batch into the views. A record that does not decode is set
/// aside (by the running projector; a rebuild skips it). Returns false when shutdown came
/// while waiting for the log or the views: then the views may not hold the batch.
async fn fold_in(
    deps: &ProjectorDeps,
    set_aside: &Option<SetAside>,
    records: &[Record],
    shutdown: &CancellationToken,
) -> Result<bool, ProjectorError> {
    let mut changes = Vec::with_capacity(records.len());
    for record in records {
        match decode(record) {
            Ok(Some(change)) => changes.push(change),
            Ok(None) => {}
            Err(e) => match set_aside {
                Some(aside) => {
                    let message = e.to_string();
                    if aside.set_aside(record, Reason::Undecodable, &message, None, shutdown).await?.is_none() {
                        return Ok(false);
                    }
                }
                None => {
                    tracing::warn!(topic = %record.topic, partition = record.partition, offset = record.offset, error = %e, "projector: skipping undecodable record")
                }
            },
        }
    }
    // A change the views refuse for good stops the projector: that is the views failing
    // (a full disk, a missing table), not a record to pass.
    Ok(apply_with_retry(deps.views.as_ref(), changes, shutdown).await?)
}

/// Applies the changes, waiting while the views are unavailable; `Ok(false)` when
/// shutdown came first.
async fn apply_with_retry(
    views: &dyn ViewStore,
    changes: Vec<ViewChange>,
    shutdown: &CancellationToken,
) -> Result<bool, ViewError> {
    let mut backoff = Duration::from_millis(100);
    loop {
        match views.apply(changes.clone()).await {
            Ok(()) => return Ok(true),
            Err(e) if e.is_retryable() => {
                tracing::warn!(error = %e, "projector: views unavailable, retrying");
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(false),
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e),
        }
    }
}

async fn purge_loop(views: Arc<dyn ViewStore>, every: Duration, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        match views.purge_expired(chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "purged expired view rows"),
            Err(e) => tracing::warn!(error = %e, "purging expired view rows failed"),
        }
    }
}
