//! One attempt, from its turn in the concurrency gates to its durable outcome, and
//! what it means for the subscription: a task of a disabled subscription is parked
//! instead of attempted, and a receiver that is gone or keeps failing gets its
//! subscription disabled.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use hookline_domain::retry::Jitter;
use hookline_domain::{
    topics as topic_names, Outcome, RetryPolicy, Subscription, SubscriptionEvent, SubscriptionId, SubscriptionState,
};
use hookline_log::{EventLog, LogError, NewRecord};
use hookline_lookup::{SubscriptionDirectory, Verdict as LogVerdict};
use hookline_quarantine::SetAside;
use hookline_records::subscription_record;
use hookline_views::ViewError;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::decode::Work;
use crate::disable::{Streaks, Verdict};
use crate::drain::Deferral;
use crate::gates::Gates;
use crate::http::{Outgoing, Sender};
use crate::metrics::{AttemptTally, DeadLetterCause, DeliveryMetrics};
use crate::outcome::{deferred, outcome_records, parked, AttemptReport, Backoff};

/// The error of a task kept for a disabled subscription until it passed the retention.
pub const DISABLED_PAST_RETENTION: &str = "subscription disabled past the retention";

/// How an attempt ended for the record that carried it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settled {
    /// The outcome is durable: the record is done.
    Done,
    /// Shutdown came before the attempt started: the record is not done and will be
    /// read again by the next run.
    Abandoned,
}

/// Everything an attempt needs, shared by every consumer of the role.
pub struct Attempter {
    pub sender: Sender,
    pub log: Arc<dyn EventLog>,
    pub directory: Arc<SubscriptionDirectory>,
    pub gates: Gates,
    pub retry: RetryPolicy,
    pub jitter: Jitter,
    /// How long to keep retrying a lookup the view store says may succeed later.
    pub lookup_patience: Duration,
    pub metrics: DeliveryMetrics,
    /// Failure streaks, to disable subscriptions whose receivers keep failing.
    pub streaks: Streaks,
    /// How long a task is kept for a disabled subscription, from its acceptance.
    pub retention: Duration,
    /// When a task waits in the shortest tier instead of in its subscription's line
    /// (`None`: there is no tier).
    pub deferral: Option<Deferral>,
    /// Where records that cannot be worked on, or whose outcome the log refuses for
    /// good, are set aside.
    pub set_aside: SetAside,
}

/// What a task's turn came to.
enum Turn {
    /// An attempt was made, or the task ended without one. `receiver`: the
    /// subscription attempted and what the attempt told about its receiver.
    Attempted { records: Vec<NewRecord>, tally: AttemptTally, receiver: Option<(Subscription, Verdict)> },
    /// The subscription is disabled: the task goes back to the longest tier, the same
    /// attempt still to make, and is not counted as an attempt.
    Parked(NewRecord),
}

impl Attempter {
    /// Waits for a turn (unless `stop` comes first), makes the attempt and appends its
    /// outcome, retrying the append until it is durable.
    pub async fn run(self: Arc<Self>, work: Work, stop: CancellationToken) -> Result<Settled, LogError> {
        let span = tracing::info_span!(
            "attempt",
            task_id = %work.task.task_id,
            subscription_id = %work.task.subscription_id,
            attempt = work.attempt,
            replay_id = work.replay.as_ref().map(|mark| tracing::field::display(mark.replay_id)),
        );
        async move {
            // A subscription whose line is long and drains slowly (a slow or dead receiver): its
            // next records wait in the log (shortest tier), not here, so the consumer keeps
            // reading for others.
            let line = self.gates.line(work.task.subscription_id);
            if self.deferral.is_some_and(|deferral| deferral.applies(&line)) {
                if let Some(record) = deferred(&self.retry, &work.task, work.attempt, work.replay.as_ref(), Utc::now())
                {
                    tracing::debug!(
                        topic = record.topic,
                        waiting = line.waiting,
                        drain_per_s = line.drain_rate,
                        "line long and slow, task deferred"
                    );
                    append_durably(self.log.as_ref(), vec![record]).await?;
                    return Ok(Settled::Done);
                }
            }
            let _pass = tokio::select! {
                biased;
                _ = stop.cancelled() => return Ok(Settled::Abandoned),
                pass = self.gates.enter(work.task.subscription_id) => pass,
            };
            let _running = self.metrics.running();
            match self.attempt(&work).await {
                Turn::Parked(record) => {
                    tracing::debug!(topic = record.topic, "subscription disabled, task parked");
                    append_durably(self.log.as_ref(), vec![record]).await?;
                }
                Turn::Attempted { records, tally, receiver } => {
                    append_durably(self.log.as_ref(), records).await?;
                    self.metrics.attempt_settled(work.task.subscription_id, tally);
                    if let Some((subscription, verdict)) = receiver {
                        self.judge(&subscription, verdict).await?;
                    }
                }
            }
            Ok(Settled::Done)
        }
        .instrument(span)
        .await
    }

    /// Makes the attempt (or parks the task); returns the records of its outcome and
    /// what to count once they are durable. An attempt a replay queued goes to the
    /// replay's target URL when it names one (guarded and signed like any other), else
    /// to the subscription's.
    async fn attempt(&self, work: &Work) -> Turn {
        let (task, attempt, replay) = (&work.task, work.attempt, work.replay.as_ref());
        let state = self.lookup(task.subscription_id).await;
        let attempted_at = Utc::now();
        let mut attempted = None;
        let report = match state.as_ref().map(|state| state.as_deref()) {
            Ok(Some(SubscriptionState::Live(subscription))) if !subscription.enabled => {
                let kept_for = (attempted_at - task.accepted_at).to_std().unwrap_or_default();
                match parked(&self.retry, task, attempt, replay, attempted_at) {
                    Some(record) if kept_for < self.retention => return Turn::Parked(record),
                    Some(_) => AttemptReport::without_request(DISABLED_PAST_RETENTION, true),
                    // No retry tier to keep it in.
                    None => AttemptReport::without_request("subscription disabled", true),
                }
            }
            Ok(Some(SubscriptionState::Live(subscription))) => {
                let elsewhere = replay.and_then(|mark| mark.target_url.as_deref());
                let url = elsewhere.unwrap_or(&subscription.target_url);
                let outgoing = Outgoing {
                    url,
                    webhook_id: task.webhook_id().to_string(),
                    timestamp: attempted_at.timestamp(),
                    body: Bytes::copy_from_slice(task.payload.get().as_bytes()),
                    event_type: task.event_type.as_deref(),
                    // The previous secret signs too until its grace ends, checked now.
                    secrets: subscription.secrets_at(attempted_at),
                };
                let response = self.sender.send(outgoing).await;
                self.metrics.request_took(response.latency);
                let report = AttemptReport::from_response(response);
                let verdict = match (report.http_status, &report.error) {
                    (Some(410), _) => Verdict::Gone,
                    (_, None) => Verdict::Succeeded,
                    (_, Some(_)) => Verdict::Failed,
                };
                // Another receiver's answers tell nothing about the subscription's own.
                if elsewhere.is_none() {
                    attempted = Some((subscription.clone(), verdict));
                }
                report
            }
            Ok(Some(SubscriptionState::Deleted { .. })) => AttemptReport::without_request("subscription deleted", true),
            Ok(None) => AttemptReport::without_request("subscription not found", false),
            Err(e) => AttemptReport::without_request(format!("subscription lookup failed: {e}"), false),
        };
        tracing::info!(
            status = report.http_status,
            error = report.error.as_deref(),
            latency_ms = report.latency_ms,
            "attempt made"
        );
        let (http_status, permanent) = (report.http_status, report.permanent);
        let backoff = Backoff { policy: &self.retry, jitter: self.jitter, draw: rand::random() };
        let records = outcome_records(backoff, task, attempt, replay, attempted_at, report);
        // The records say what happened: an attempt alone, or followed by a retry or a dead letter.
        let dead_lettered = records.get(1).is_some_and(|follow_up| follow_up.topic == topic_names::DLQ);
        let tally = match (records.len(), dead_lettered) {
            (1, _) => AttemptTally { outcome: Outcome::Success, http_status, dead_letter: None },
            (_, false) => AttemptTally { outcome: Outcome::FailedAttempt, http_status, dead_letter: None },
            (_, true) => AttemptTally {
                outcome: Outcome::PermanentlyFailed,
                http_status,
                dead_letter: Some(if permanent { DeadLetterCause::Permanent } else { DeadLetterCause::Exhausted }),
            },
        };
        Turn::Attempted { records, tally, receiver: attempted }
    }

    /// Notes what an attempt told about its receiver and, when the subscription must be
    /// disabled, appends the change to the subscriptions topic and tells the directory.
    ///
    /// The change states the version it builds on, like any other: when another change
    /// (a user's edit, a deletion) lands first, it is built again on the new current
    /// state — not at all if that one is deleted or already disabled.
    async fn judge(&self, attempted: &Subscription, verdict: Verdict) -> Result<(), LogError> {
        let now = Utc::now();
        let Some(reason) = self.streaks.observe(attempted.id, verdict, now) else {
            return Ok(());
        };
        for _ in 0..DISABLE_ATTEMPTS {
            let current = match self.directory.current(attempted.id).await {
                Ok(Some(state)) => match state.live() {
                    Some(live) if live.enabled => live.clone(),
                    _ => return Ok(()),
                },
                Ok(None) => return Ok(()),
                Err(e) => {
                    tracing::warn!(error = %e, reason, "subscription not disabled: views unreadable (a later failure tries again)");
                    return Ok(());
                }
            };
            let write_id = Uuid::new_v4();
            let disabled = current.disabled(reason.as_str(), later_than(current.updated_at, now));
            let event = SubscriptionEvent::SubscriptionUpdated { subscription: disabled.next_version(write_id) };
            let change = subscription_record(&self.directory.sealer().seal_event(&event));
            append_durably(self.log.as_ref(), vec![change]).await?;
            match self.directory.verdict(current.id, event.version(), write_id, VERDICT_PATIENCE).await {
                Ok(LogVerdict::Applied) => {
                    self.directory.remember(&event);
                    tracing::warn!(reason, "subscription disabled");
                    return Ok(());
                }
                Ok(LogVerdict::Refused) => {
                    tracing::debug!(reason, "another change landed before the disabling; building it again")
                }
                Ok(LogVerdict::Unknown) => {
                    tracing::warn!(reason, "subscription disabling recorded, not yet confirmed by the views");
                    return Ok(());
                }
                Err(e) => {
                    tracing::warn!(error = %e, reason, "subscription disabling recorded, views unreadable to confirm it");
                    return Ok(());
                }
            }
        }
        tracing::warn!(reason, "subscription not disabled: it kept changing meanwhile (a later failure tries again)");
        Ok(())
    }

    /// The subscription's state; a passing view-store outage is waited out for a while
    /// rather than charged to the receiver as a failed attempt.
    async fn lookup(&self, id: SubscriptionId) -> Result<Option<Arc<SubscriptionState>>, ViewError> {
        let give_up_at = Instant::now() + self.lookup_patience;
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.directory.get(id).await {
                Err(e) if e.is_retryable() && Instant::now() + backoff < give_up_at => {
                    tracing::warn!(error = %e, "subscription lookup failed, retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
                result => return result,
            }
        }
    }
}

/// How many times a disabling is built again after other changes landed first.
const DISABLE_ATTEMPTS: usize = 16;
/// How long a disabling waits for the views to say whether it was applied.
const VERDICT_PATIENCE: Duration = Duration::from_secs(10);

/// `now` to the microsecond (the precision the API shows), and strictly after `previous`.
fn later_than(previous: DateTime<Utc>, now: DateTime<Utc>) -> DateTime<Utc> {
    let now = now.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(now);
    now.max(previous + TimeDelta::microseconds(1))
}

/// Appends records, retrying with backoff for as long as the log says it may help:
/// an outcome is never dropped. A permanent log error is returned.
pub async fn append_durably(log: &dyn EventLog, records: Vec<NewRecord>) -> Result<(), LogError> {
    let mut backoff = Duration::from_millis(100);
    loop {
        match log.append(records.clone()).await {
            Ok(_) => return Ok(()),
            Err(e) if e.is_retryable() => {
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "outcome append failed, retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e),
        }
    }
}
