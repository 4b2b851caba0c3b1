//! Replays: the tasks a selection names, sent again from the log at a paced rate.
//!
//! [`walk`] is the walk over the tasks a replay selects, shared by the API (the count
//! of a dry run and of a request) and the role. [`payload`] reads a task back from the
//! log where the views point, for the role and for the API's retry by hand.
//!
//! The role ([`run`]) consumes `hookline.replays` (one partition, consumer group
//! `hookline-replay`: one process at a time runs replays) and folds its records:
//! requested, progressed, cancelled, ended. It runs at most
//! [`ReplayConfig::max_running`] replays at once, the others waiting in the order
//! they were asked for. Running one queues each task it selects as one more attempt,
//! marked with the replay, in the shortest retry tier, paced by due times (see
//! [`pace`]); the delivery role then makes them like any attempt (target policy,
//! signatures, per-subscription limits, retries). After each page it appends a
//! `ReplayProgressed`; once everything is queued, it waits until the views count
//! every queued attempt as delivered or failed for good, then appends a
//! `ReplayEnded` and, in the same append, a `hookline.replay.completed` operational
//! event (`hookline.operational`). A cancelled replay stops queueing at once (what is
//! queued is still delivered) and ends `cancelled`.
//!
//! Guarantees: the role commits only up to the request of the oldest replay not ended,
//! so a restart takes each unfinished replay up from its last progress: a task may be
//! queued twice, none is skipped. Memory: one small entry per unfinished replay, and
//! one page ([`ReplayConfig::page_size`] tasks and their payloads) per running replay.

mod book;
mod error;
mod metrics;
pub mod pace;
pub mod payload;
mod runner;
pub mod walk;

use std::sync::Arc;
use std::time::Duration;

use hookline_domain::replay::ReplayEvent;
use hookline_domain::{topics, ReplayId, RetryPolicy};
use hookline_log::consume::Backoff;
use hookline_log::{Consumer, ConsumerSpec, EventLog, Record, StartFrom, TopicPartition};
use hookline_metrics::Registry;
use hookline_quarantine::{Reason, SetAside};
use hookline_views::ViewStore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use error::ReplayError;
pub use metrics::{ENDED_METRIC, RUNNING_METRIC, TASKS_QUEUED_METRIC, TASKS_SKIPPED_METRIC, WAITING_METRIC};

use book::{Book, Folded};
use metrics::ReplayMetrics;
use runner::Runner;

/// Longest one poll waits for records (the loop serves its other events meanwhile).
const POLL_WAIT: Duration = Duration::from_secs(1);
/// Records read at most per poll.
const POLL_BATCH: usize = 256;
/// How often the commit point is committed and the assignment checked.
const COMMIT_EVERY: Duration = Duration::from_secs(1);

/// Settings of the replay role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayConfig {
    /// The consumer group on `hookline.replays`.
    pub group: String,
    /// Replays run at once; later ones wait for one of them to end.
    pub max_running: usize,
    /// Tasks per page of a replay's walk (and per progress record).
    pub page_size: usize,
    /// How often a replay that queued everything reads the views to see whether its
    /// attempts have all ended.
    pub watch_every: Duration,
    /// The retry policy of the delivery role: its shortest tier takes the attempts.
    pub retry: RetryPolicy,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        Self {
            group: "hookline-replay".to_string(),
            max_running: 4,
            page_size: 200,
            watch_every: Duration::from_secs(1),
            retry: RetryPolicy::default(),
        }
    }
}

impl ReplayConfig {
    /// What is wrong with the settings; empty when they are valid.
    fn problems(&self) -> Vec<&'static str> {
        let mut problems = Vec::new();
        if self.group.trim().is_empty() {
            problems.push("group must not be empty");
        }
        if self.max_running == 0 {
            problems.push("max_running must be at least 1");
        }
        if self.page_size == 0 {
            problems.push("page_size must be at least 1");
        }
        if self.watch_every.is_zero() {
            problems.push("watch_every must be longer than zero");
        }
        problems
    }
}

/// What the replay role runs on.
pub struct ReplayDeps {
    pub log: Arc<dyn EventLog>,
    pub views: Arc<dyn ViewStore>,
    /// Where the role's metrics, and the records it sets aside, are counted.
    pub metrics: Arc<Registry>,
}

/// Runs replays until `shutdown` is cancelled, then stops them where they are (each
/// is taken up again from its last progress), commits and returns. Returns an error
/// when the settings are invalid, a topic is missing, or the log fails for good.
pub async fn run(config: ReplayConfig, deps: ReplayDeps, shutdown: CancellationToken) -> Result<(), ReplayError> {
    let problems = config.problems();
    if !problems.is_empty() {
        return Err(ReplayError::Config(problems.join("; ")));
    }
    let mut outputs =
        vec![topics::REPLAYS.to_string(), topics::OPERATIONAL.to_string(), topics::QUARANTINE.to_string()];
    outputs.extend(config.retry.tier_delays().first().map(|delay| topics::retry_tier(delay.as_secs())));
    deps.log.require_topics(&outputs).await?;
    let consumer = deps
        .log
        .consumer(ConsumerSpec {
            group: Some(config.group.clone()),
            topics: vec![topics::REPLAYS.to_string()],
            start: StartFrom::Earliest,
        })
        .await?;
    let metrics = Arc::new(ReplayMetrics::new(&deps.metrics));
    let runner = Arc::new(Runner {
        log: deps.log.clone(),
        views: deps.views.clone(),
        retry: config.retry.clone(),
        page_size: config.page_size,
        watch_every: config.watch_every,
        metrics: metrics.clone(),
    });
    let role = Role {
        log: deps.log.clone(),
        consumer,
        runner,
        metrics,
        set_aside: SetAside::new(deps.log.clone(), &deps.metrics, "replay"),
        book: Book::default(),
        running: JoinSet::new(),
        cancels: std::collections::HashMap::new(),
        owned_from: None,
        committed: None,
        max_running: config.max_running,
        stop: shutdown.child_token(),
    };
    tracing::info!(group = %config.group, max_running = config.max_running, "replay role running");
    let outcome = role.run(&shutdown).await;
    tracing::info!(group = %config.group, "replay role stopped");
    outcome
}

/// The one partition of `hookline.replays`.
fn replays_partition() -> TopicPartition {
    TopicPartition::new(topics::REPLAYS, 0)
}

struct Role {
    log: Arc<dyn EventLog>,
    consumer: Arc<dyn Consumer>,
    runner: Arc<Runner>,
    metrics: Arc<ReplayMetrics>,
    set_aside: SetAside,
    book: Book,
    running: JoinSet<(ReplayId, Result<(), ReplayError>)>,
    /// The cancellation of each running replay.
    cancels: std::collections::HashMap<ReplayId, CancellationToken>,
    /// Set while this process holds the partition: the end of the log when it got it.
    /// Replays start only once everything before it was read, so that a replay is
    /// taken up from its furthest progress, not from a record read before it.
    owned_from: Option<u64>,
    committed: Option<u64>,
    max_running: usize,
    /// Stops the running replays where they are (shutdown, or the partition lost).
    stop: CancellationToken,
}

impl Role {
    async fn run(mut self, shutdown: &CancellationToken) -> Result<(), ReplayError> {
        let mut tick = tokio::time::interval(COMMIT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut backoff = Backoff::new();
        let outcome = loop {
            let step = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break Ok(()),
                Some(joined) = self.running.join_next() => self.finished(joined),
                _ = tick.tick() => self.tick().await,
                polled = self.consumer.poll(POLL_BATCH, POLL_WAIT) => match polled {
                    Ok(records) => {
                        backoff.reset();
                        self.take(records, shutdown).await
                    }
                    Err(e) if e.is_retryable() => {
                        tracing::warn!(error = %e, "poll failed, retrying");
                        if !backoff.wait(shutdown).await {
                            break Ok(());
                        }
                        Ok(())
                    }
                    Err(e) => Err(e.into()),
                },
            };
            if let Err(e) = step {
                break Err(e);
            }
        };
        // Stop every replay where it is; each returns promptly (no end is written).
        self.stop.cancel();
        while let Some(joined) = self.running.join_next().await {
            if let Err(e) = self.finished(joined) {
                tracing::error!(error = %e, "replay failed while stopping");
            }
        }
        let committed = self.commit().await;
        outcome.and(committed)
    }

    /// Folds polled records, then starts what may start.
    async fn take(&mut self, records: Vec<Record>, shutdown: &CancellationToken) -> Result<(), ReplayError> {
        self.check_assignment().await?;
        for record in records {
            match serde_json::from_slice::<ReplayEvent>(&record.value) {
                Ok(event) => {
                    if let Folded::Cancelled(id) = self.book.fold(record.offset, event) {
                        if let Some(cancel) = self.cancels.get(&id) {
                            tracing::info!(replay_id = %id, "replay cancelled, nothing more is queued");
                            cancel.cancel();
                        }
                    }
                }
                Err(e) => {
                    let reason = format!("not a replay record: {e}");
                    tracing::warn!(offset = record.offset, reason, "replay record set aside");
                    match self.set_aside.set_aside(&record, Reason::Undecodable, &reason, None, shutdown).await? {
                        Some(_) => self.book.passed(record.offset),
                        // Shutdown came first: read again by the next run.
                        None => return Ok(()),
                    }
                }
            }
        }
        self.start_waiting();
        Ok(())
    }

    /// Starts waiting replays while there is room, once the log was read as far as it
    /// reached when this process got the partition.
    fn start_waiting(&mut self) {
        let caught_up = match self.owned_from {
            Some(end) => self.book.read_to().is_some_and(|read| read >= end),
            None => false,
        };
        if caught_up {
            let room = self.max_running.saturating_sub(self.running.len());
            for resume in self.book.hand_out(room) {
                let id = resume.request.replay_id;
                let cancel = CancellationToken::new();
                self.cancels.insert(id, cancel.clone());
                let (runner, stop) = (self.runner.clone(), self.stop.clone());
                self.running.spawn(async move { (id, runner.run(resume, cancel, stop).await) });
            }
        }
        self.metrics.running.set(self.running.len() as i64);
        self.metrics.waiting.set(self.book.waiting() as i64);
    }

    /// A replay's task returned: it ended, or stopped with the process.
    fn finished(
        &mut self,
        joined: Result<(ReplayId, Result<(), ReplayError>), tokio::task::JoinError>,
    ) -> Result<(), ReplayError> {
        let (id, result) = joined.map_err(|e| ReplayError::Worker(e.to_string()))?;
        self.cancels.remove(&id);
        self.metrics.running.set(self.running.len() as i64);
        result
    }

    async fn tick(&mut self) -> Result<(), ReplayError> {
        self.check_assignment().await?;
        self.start_waiting();
        self.commit().await
    }

    /// Notes whether this process holds the partition. Gaining it: replays start once
    /// the log is read to where it ends now. Losing it: every replay stops where it is
    /// (its new holder takes it up from its records) and the book is forgotten.
    async fn check_assignment(&mut self) -> Result<(), ReplayError> {
        let holds = self.consumer.assignment().contains(&replays_partition());
        match (holds, self.owned_from.is_some()) {
            (true, false) => {
                let ends = self.log.end_offsets(topics::REPLAYS).await?;
                self.owned_from = Some(ends.iter().find(|(p, _)| *p == 0).map_or(0, |(_, end)| *end));
            }
            (false, true) => {
                tracing::warn!("the replays partition went to another process: replays stop here");
                self.stop.cancel();
                while let Some(joined) = self.running.join_next().await {
                    if let Err(e) = self.finished(joined) {
                        tracing::error!(error = %e, "replay failed while stopping");
                    }
                }
                self.stop = CancellationToken::new();
                self.book.clear();
                self.owned_from = None;
                self.committed = None;
            }
            _ => {}
        }
        Ok(())
    }

    /// Commits the book's commit point when it moved. A passing failure is retried on
    /// the next tick.
    async fn commit(&mut self) -> Result<(), ReplayError> {
        let Some(point) = self.book.commit_point() else { return Ok(()) };
        if self.committed == Some(point) || self.owned_from.is_none() {
            return Ok(());
        }
        match self.consumer.commit(&[(replays_partition(), point)]).await {
            Ok(()) => {
                self.committed = Some(point);
                Ok(())
            }
            Err(e) if e.is_retryable() => {
                tracing::warn!(error = %e, "commit failed, retrying");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_bad_settings_are_all_listed() {
        assert!(ReplayConfig::default().problems().is_empty());
        let bad = ReplayConfig {
            group: " ".into(),
            max_running: 0,
            page_size: 0,
            watch_every: Duration::ZERO,
            ..ReplayConfig::default()
        };
        assert_eq!(bad.problems().len(), 4);
    }
}
