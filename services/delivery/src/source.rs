//! The consumer loop of one source topic (first attempts, or one retry tier).
//!
//! One select loop per source: it polls while it holds fewer records than its bound,
//! holds tier records until due (pausing their partition and waking exactly when the
//! head is due), dispatches attempts as tasks, notes which records are done, and
//! commits up to the lowest record not done. Nothing in the loop sleeps or spins.
//!
//! A partition is never held longer than its tier's delay. A record due later than
//! that (a `Retry-After` longer than every tier) is held for the tier's delay, then
//! put back in the tier for what is left of its wait instead of being attempted.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use hookline_log::{Consumer, EventLog, LogError, Record, TopicPartition};
use hookline_metrics::Gauge;
use hookline_quarantine::{Kept, Reason};
use tokio::task::{JoinError, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::attempt::{append_durably, Attempter, Settled};
use crate::decode::{decode, SourceKind, Work};
use crate::error::DeliveryError;
use crate::metrics::DeadLetterCause;
use crate::offsets::OffsetTracker;
use crate::outcome::{rescheduled, undecodable_copy};
use crate::overdue::Overdue;
use crate::schedule::{Admission, DueSchedule};
use crate::started::StartedTasks;

/// How often moved commit points are committed.
const COMMIT_EVERY: Duration = Duration::from_millis(200);
/// Longest one poll waits for records (the loop serves its other events meanwhile).
const POLL_WAIT: Duration = Duration::from_secs(1);
/// Most records taken in one poll.
const POLL_BATCH: usize = 512;
/// Pause before polling again after the log said it is unavailable.
const POLL_RETRY_AFTER: Duration = Duration::from_millis(500);
/// How far past `MAX_RETRY_DELAY_SECONDS` a record may be due and still be waited for:
/// clocks of different instances differ a little.
const CLOCK_TOLERANCE: Duration = Duration::from_secs(1);

/// A poll of the source's consumer, under way.
type Polling = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<Record>, LogError>> + Send>>;

/// A record waiting in the due schedule.
struct Pending {
    tp: TopicPartition,
    offset: u64,
    work: Work,
    /// Due beyond its tier's delay: once released, it goes back in a tier rather than being attempted.
    reschedule: bool,
}

/// What a finished task reports back to the loop.
struct Finished {
    tp: TopicPartition,
    offset: u64,
    result: Result<Settled, LogError>,
}

/// The settings a source loop runs with.
pub struct SourceSettings {
    pub kind: SourceKind,
    /// The longest a record of this source may be held: its tier's delay.
    pub longest_wait: Duration,
    /// The longest wait a retry may legitimately have (`MAX_RETRY_DELAY_SECONDS`): a
    /// record due further ahead than its tier's delay but within this is rescheduled
    /// once the tier's delay has passed; one due further still (a skewed clock, a bad
    /// record) is attempted then.
    pub longest_retry_delay: Duration,
    /// Records polled and not yet done, at most (then polling stops).
    pub held_limit: usize,
    pub shutdown_grace: Duration,
}

pub struct SourceLoop {
    settings: SourceSettings,
    consumer: Arc<dyn Consumer>,
    log: Arc<dyn EventLog>,
    attempter: Arc<Attempter>,
    offsets: OffsetTracker,
    schedule: DueSchedule<Pending>,
    tasks: JoinSet<Finished>,
    /// Records polled and not yet settled.
    held: usize,
    /// Shows `held` on `/metrics`.
    held_gauge: Arc<Gauge>,
    /// Retries dispatched and not finished, by due time (tier sources only).
    overdue: Option<(Overdue, Arc<Gauge>)>,
    /// First attempts started lately (the deliveries source only): another copy of one
    /// of those tasks is skipped.
    started: Option<StartedTasks>,
    /// Partitions whose resume failed and must be tried again.
    to_resume: BTreeSet<TopicPartition>,
    poll_after: Instant,
    /// Shutdown: stop polling, and attempts still waiting for their turn give up.
    stop: CancellationToken,
}

impl SourceLoop {
    pub fn new(
        settings: SourceSettings,
        consumer: Arc<dyn Consumer>,
        log: Arc<dyn EventLog>,
        attempter: Arc<Attempter>,
        stop: CancellationToken,
        topic: &str,
    ) -> Self {
        let held_gauge = attempter.metrics.held(topic);
        let started = (settings.kind == SourceKind::FirstAttempts).then(StartedTasks::new);
        let overdue =
            (settings.kind == SourceKind::RetryTier).then(|| (Overdue::default(), attempter.metrics.overdue(topic)));
        Self {
            settings,
            consumer,
            log,
            attempter,
            offsets: OffsetTracker::new(),
            schedule: DueSchedule::new(),
            tasks: JoinSet::new(),
            held: 0,
            held_gauge,
            overdue,
            started,
            to_resume: BTreeSet::new(),
            poll_after: Instant::now(),
            stop,
        }
    }

    /// Runs until `stop`, then lets in-flight attempts finish (up to the grace),
    /// commits what is done, and returns. Errors are fatal to the role.
    pub async fn run(mut self) -> Result<(), DeliveryError> {
        let stop = self.stop.clone();
        let mut commit_tick = tokio::time::interval(COMMIT_EVERY);
        commit_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The poll under way, kept across turns of the loop: dropped each time another
        // event came first (a commit every 200 ms), a poll of an idle partition would never
        // return, and never say that the partition is idle (its lag on /metrics).
        let mut polling: Option<Polling> = None;
        let outcome = loop {
            let wakeup = self.schedule.next_wakeup();
            let can_poll = self.held < self.settings.held_limit && Instant::now() >= self.poll_after;
            if polling.is_none() && can_poll {
                let batch = (self.settings.held_limit - self.held.min(self.settings.held_limit)).min(POLL_BATCH);
                let consumer = self.consumer.clone();
                polling = Some(Box::pin(async move { consumer.poll(batch, POLL_WAIT).await }));
            }
            let step = tokio::select! {
                _ = stop.cancelled() => break Ok(()),
                Some(joined) = self.tasks.join_next() => self.settle(joined),
                _ = sleep_until(wakeup) => self.release_due(),
                _ = commit_tick.tick() => self.tick().await,
                polled = async { polling.as_mut().expect("polled only while a poll is under way").await }, if polling.is_some() => {
                    polling = None;
                    self.take(polled)
                }
            };
            self.show_gauges();
            if let Err(e) = step {
                break Err(e);
            }
        };
        if outcome.is_err() {
            self.tasks.abort_all();
        }
        let drained = self.drain().await;
        self.show_gauges();
        let committed = self.commit().await;
        outcome.and(drained).and(committed)
    }

    /// Takes polled records: skips those seen before and copies of first attempts
    /// started lately, dead-letters undecodable ones, dispatches due ones and holds the rest.
    fn take(&mut self, polled: Result<Vec<Record>, LogError>) -> Result<(), DeliveryError> {
        let records = match polled {
            Ok(records) => records,
            Err(e) if e.is_retryable() => {
                tracing::warn!(error = %e, "poll failed, retrying");
                self.poll_after = Instant::now() + POLL_RETRY_AFTER;
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        };
        let now = Instant::now();
        let wall_now = Utc::now();
        for record in records {
            let tp = record.topic_partition();
            if !self.offsets.track(&tp, record.offset) {
                tracing::debug!(partition = %tp, offset = record.offset, "record seen before, skipped");
                continue;
            }
            self.held += 1;
            let work = match decode(self.settings.kind, &record) {
                Ok(work) => work,
                Err(reason) => {
                    self.dead_letter(record, reason);
                    continue;
                }
            };
            if let Some(started) = &mut self.started {
                if !started.start(work.task.task_id) {
                    tracing::debug!(task_id = %work.task.task_id, partition = %tp, offset = record.offset, "task started lately, copy skipped");
                    self.attempter.metrics.duplicate_skipped();
                    self.held -= 1;
                    self.offsets.finish(&tp, record.offset);
                    continue;
                }
            }
            // Wall-clock due times become monotonic instants once, here.
            let full_wait = work.due_at.and_then(|due| (due - wall_now).to_std().ok()).unwrap_or_default();
            let wait = full_wait.min(self.settings.longest_wait);
            let reschedule = full_wait > self.settings.longest_wait
                && full_wait <= self.settings.longest_retry_delay + CLOCK_TOLERANCE;
            let pending = Pending { tp: tp.clone(), offset: record.offset, work, reschedule };
            match self.schedule.admit(&tp, now + wait, pending, now) {
                Admission::Due(pending) => self.dispatch(pending),
                Admission::Held { pause: true } => match self.consumer.pause(&tp) {
                    Ok(()) => tracing::debug!(partition = %tp, wait_ms = wait.as_millis() as u64, "partition paused"),
                    // Harmless: later records of the partition queue up behind the held head.
                    Err(e) if e.is_retryable() => tracing::warn!(partition = %tp, error = %e, "pause failed"),
                    Err(e) => return Err(e.into()),
                },
                Admission::Held { pause: false } => {}
            }
        }
        Ok(())
    }

    /// Dispatches the held records that are due and resumes emptied partitions.
    fn release_due(&mut self) -> Result<(), DeliveryError> {
        let released = self.schedule.release_due(Instant::now());
        for pending in released.due {
            self.dispatch(pending);
        }
        self.to_resume.extend(released.resume);
        self.resume_partitions()
    }

    fn show_gauges(&self) {
        self.held_gauge.set(self.held as i64);
        if let Some((overdue, gauge)) = &self.overdue {
            gauge.set(overdue.seconds_late(Utc::now()));
        }
    }

    fn dispatch(&mut self, pending: Pending) {
        if let (Some((overdue, _)), Some(due)) = (&mut self.overdue, pending.work.due_at) {
            overdue.dispatched(&pending.tp, pending.offset, due);
        }
        if pending.reschedule {
            if let Some(record) = rescheduled(&self.attempter.schedules, &pending.work, Utc::now()) {
                tracing::debug!(task_id = %pending.work.task.task_id, topic = record.topic, "retry put back in a tier");
                let log = self.log.clone();
                self.tasks.spawn(async move {
                    let result = append_durably(log.as_ref(), vec![record]).await.map(|()| Settled::Done);
                    Finished { tp: pending.tp, offset: pending.offset, result }
                });
                return;
            }
        }
        let attempter = self.attempter.clone();
        let stop = self.stop.clone();
        self.tasks.spawn(async move {
            let result = attempter.run(pending.work, &pending.tp.topic, stop).await;
            Finished { tp: pending.tp, offset: pending.offset, result }
        });
    }

    /// Sets an undecodable record aside: a copy in the dead-letter topic, or, when the
    /// log cannot take that copy, a truncated one in the quarantine.
    fn dead_letter(&mut self, record: Record, reason: String) {
        let copy = undecodable_copy(&record, &reason);
        let (attempter, stop) = (self.attempter.clone(), self.stop.clone());
        let (tp, offset) = (record.topic_partition(), record.offset);
        self.tasks.spawn(async move {
            let kept = attempter.set_aside.set_aside(&record, Reason::Undecodable, &reason, Some(copy), &stop).await;
            if let Ok(Some(Kept::Copy)) = kept {
                attempter.metrics.dead_lettered(DeadLetterCause::Undecodable);
            }
            Finished { tp, offset, result: kept.map(settled) }
        });
    }

    /// Sets aside a record whose outcome the log refused for good (larger than the log
    /// takes, once the outcome carries it), so that it does not stop the source.
    fn set_aside_refused(&mut self, tp: TopicPartition, offset: u64, reason: Reason, error: LogError) {
        self.held += 1;
        let (attempter, stop) = (self.attempter.clone(), self.stop.clone());
        self.tasks.spawn(async move {
            let message = format!("the outcome of this record was refused by the log: {error}");
            let kept = attempter.set_aside.set_aside_at(&tp, offset, reason, &message, &stop).await;
            Finished { tp, offset, result: kept.map(settled) }
        });
    }

    fn settle(&mut self, joined: Result<Finished, JoinError>) -> Result<(), DeliveryError> {
        let finished = match joined {
            Ok(finished) => finished,
            Err(e) if e.is_cancelled() => {
                self.held -= 1;
                return Ok(());
            }
            Err(e) => return Err(DeliveryError::Worker(e.to_string())),
        };
        self.held -= 1;
        if let Some((overdue, _)) = &mut self.overdue {
            overdue.finished(&finished.tp, finished.offset);
        }
        match finished.result {
            Ok(Settled::Done) => self.offsets.finish(&finished.tp, finished.offset),
            Ok(Settled::Abandoned) => {}
            Err(e) => match Reason::of_refusal(&e) {
                Some(reason) => self.set_aside_refused(finished.tp, finished.offset, reason, e),
                None => return Err(e.into()),
            },
        }
        Ok(())
    }

    async fn tick(&mut self) -> Result<(), DeliveryError> {
        self.resume_partitions()?;
        self.commit().await
    }

    fn resume_partitions(&mut self) -> Result<(), DeliveryError> {
        while let Some(tp) = self.to_resume.first().cloned() {
            match self.consumer.resume(&tp) {
                Ok(()) => {
                    self.to_resume.remove(&tp);
                }
                Err(e) if e.is_retryable() => {
                    tracing::warn!(partition = %tp, error = %e, "resume failed, retrying");
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Commits every commit point that moved. A passing failure is retried on the next tick.
    async fn commit(&mut self) -> Result<(), DeliveryError> {
        let offsets = self.offsets.to_commit();
        if offsets.is_empty() {
            return Ok(());
        }
        match self.consumer.commit(&offsets).await {
            Ok(()) => {
                self.offsets.committed(&offsets);
                Ok(())
            }
            Err(e) if e.is_retryable() => {
                tracing::warn!(error = %e, "commit failed, retrying");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Waits for in-flight attempts up to the grace, then abandons what is left.
    async fn drain(&mut self) -> Result<(), DeliveryError> {
        let deadline = Instant::now() + self.settings.shutdown_grace;
        let mut first_error = Ok(());
        let mut aborted = false;
        loop {
            tokio::select! {
                joined = self.tasks.join_next() => match joined {
                    None => break,
                    Some(joined) => {
                        if let Err(e) = self.settle(joined) {
                            tracing::error!(error = %e, "attempt failed during shutdown");
                            first_error = first_error.and(Err(e));
                        }
                    }
                },
                _ = tokio::time::sleep_until(deadline), if !aborted => {
                    tracing::warn!(left = self.tasks.len(), "shutdown grace over, abandoning attempts");
                    self.tasks.abort_all();
                    aborted = true;
                }
            }
        }
        first_error
    }
}

/// A record set aside is done; on shutdown first, it is left for the next run.
fn settled(kept: Option<Kept>) -> Settled {
    if kept.is_some() {
        Settled::Done
    } else {
        Settled::Abandoned
    }
}

/// Sleeps until `at`, or for ever when there is nothing to wake for.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
