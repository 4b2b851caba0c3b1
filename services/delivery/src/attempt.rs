//! One attempt, from its turn in the concurrency gates to its durable outcome, and
//! what it means for the subscription: a task of a disabled subscription is parked
//! instead of attempted, and a receiver that is gone or keeps failing gets its
//! subscription disabled. The subscription's delivery settings shape each step: its
//! rate limit (a task whose turn is far off waits in a retry tier), its in-flight
//! bound (fixed, or adaptive: every answer is weighed), its extra headers, its
//! timeout, and the schedule its retries follow.

use std::sync::{Arc, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use hookline_domain::operational::DisableCause;
use hookline_domain::retry::Jitter;
use hookline_domain::{
    topics as topic_names, DeliverySettings, OperationalEvent, OrderingMode, Outcome, RetryPolicy, RetrySchedules,
    Subscription, SubscriptionEvent, SubscriptionId, SubscriptionState,
};
use hookline_log::{EventLog, LogError, NewRecord};
use hookline_lookup::{ChangeError, SubscriptionDirectory, Verdict as LogVerdict};
use hookline_quarantine::SetAside;
use hookline_traces::Kind;
use hookline_views::ViewError;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::field::Empty;
use tracing::{Instrument, Span};
use uuid::Uuid;

use crate::decode::Work;
use crate::disable::{Streaks, Verdict};
use crate::drain::Deferral;
use crate::gates::{Bound, Gates, Pass};
use crate::http::{Outgoing, Response, Sender};
use crate::limiter::Signal;
use crate::lines::{Gate, Lines};
use crate::metrics::{AttemptTally, DeadLetterCause, DeliveryMetrics, TurnResult};
use crate::outcome::{deferred, deferred_until, outcome_records, parked, AttemptReport, Backoff};
use crate::pace::{Admission, Pacer};

/// The error of a task kept for a disabled subscription until it passed the retention.
pub const DISABLED_PAST_RETENTION: &str = "subscription disabled past the retention";

/// How an attempt ended for the record that carried it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settled {
    /// The outcome is durable: the record is done.
    Done,
    /// Shutdown came before the attempt started and the task could not be put back in
    /// a tier: the record is not done and will be read again by the next run.
    Abandoned,
}

/// Everything an attempt needs, shared by every consumer of the role.
pub struct Attempter {
    pub sender: Sender,
    pub log: Arc<dyn EventLog>,
    pub directory: Arc<SubscriptionDirectory>,
    pub gates: Gates,
    /// The configured retry schedule: where tasks are parked and deferred.
    pub retry: RetryPolicy,
    /// Every schedule a subscription may follow.
    pub schedules: RetrySchedules,
    pub jitter: Jitter,
    /// Per-attempt timeout of subscriptions that set none (`DELIVERY_TIMEOUT_SECONDS`),
    /// and the most any may set (`HOOKLINE_MAX_TIMEOUT_SECONDS`).
    pub timeout: Duration,
    pub max_timeout: Duration,
    /// The turns of rate-limited subscriptions.
    pub pacer: std::sync::Mutex<Pacer>,
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
    /// Ordering per key: whose turn it is in each line.
    pub lines: Lines,
}

/// What a task's turn came to.
enum Turn {
    /// An attempt was made, or the task ended without one. `receiver`: the
    /// subscription attempted and what the attempt told about its receiver.
    Attempted { records: Vec<NewRecord>, tally: AttemptTally, receiver: Option<(Box<Subscription>, Verdict)> },
    /// The subscription is disabled: the task goes back to the longest tier, the same
    /// attempt still to make, and is not counted as an attempt.
    Parked(NewRecord),
    /// Its turn under the subscription's rate limit is far off: the task waits for it in
    /// a retry tier, the same attempt still to make.
    Deferred(NewRecord),
}

impl Attempter {
    /// Waits for a turn (unless `stop` comes first), makes the attempt and appends its
    /// outcome, retrying the append until it is durable. `source`: the topic the task
    /// was read from (its retry tier).
    pub async fn run(self: Arc<Self>, work: Work, source: &str, stop: CancellationToken) -> Result<Settled, LogError> {
        let span = tracing::info_span!(
            "attempt",
            task_id = %work.task.task_id,
            subscription_id = %work.task.subscription_id,
            attempt = work.attempt,
            otel.kind = Empty,
            replay_id = work.replay.as_ref().map(|mark| tracing::field::display(mark.replay_id)),
        );
        // Every attempt is a span of the trace the task carries, a sibling of the others.
        hookline_traces::continue_trace(&span, work.task.trace.as_ref(), Kind::Client);
        if hookline_traces::enabled() {
            hookline_traces::attribute(&span, "hookline.retry.tier", source.to_string());
        }
        async move {
            // Ordering per key first: a keyed task of an ordered subscription that is
            // deferred below (rate limit, a slow line, shutdown) comes back with the same
            // attempt number and asks for its turn again, while the task after it in its
            // line waits, since this one has not ended.
            if let Some(settled) = self.wait_for_ordering_turn(&work, &stop).await? {
                return Ok(settled);
            }
            let id = work.task.subscription_id;
            // What the subscription asks of its deliveries, as the cache knows it now. Not
            // waited for: a task that waited here could be overtaken by later ones and
            // lose its place in the line. The attempt reads the subscription again once it
            // has its turn, and applies what changed (or what the cache did not know).
            let settings = self.directory.cached(id).and_then(|state| state.live().map(|live| live.delivery.clone()));
            // A rate-limited subscription's task whose turn is far off waits for it in the log.
            let mut admitted = false;
            if let Some(per_second) = settings.as_ref().and_then(|settings| settings.rate_limit_per_second) {
                if let Some(record) = self.admit(&work, per_second) {
                    append_durably(self.log.as_ref(), vec![record]).await?;
                    self.metrics.rate_deferred();
                    return Ok(Settled::Done);
                }
                admitted = true;
            }
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
                    hookline_traces::attribute(&Span::current(), "hookline.attempt.outcome", "deferred");
                    append_durably(self.log.as_ref(), vec![record]).await?;
                    return Ok(Settled::Done);
                }
            }
            let bound = settings.as_ref().map(bound_of);
            let mut pass = tokio::select! {
                biased;
                _ = stop.cancelled() => return self.put_back_at_shutdown(&work).await,
                pass = self.gates.enter(id, bound) => pass,
            };
            let _running = self.metrics.running();
            match self.attempt(&work, admitted, &mut pass).await {
                Turn::Parked(record) => {
                    tracing::debug!(topic = record.topic, "subscription disabled, task parked");
                    hookline_traces::attribute(&Span::current(), "hookline.attempt.outcome", "parked");
                    append_durably(self.log.as_ref(), vec![record]).await?;
                }
                Turn::Deferred(record) => {
                    append_durably(self.log.as_ref(), vec![record]).await?;
                    self.metrics.rate_deferred();
                }
                Turn::Attempted { records, tally, receiver } => {
                    append_durably(self.log.as_ref(), records).await?;
                    self.metrics.attempt_settled(work.task.subscription_id, tally);
                    let ended = tally.outcome == Outcome::Success || tally.dead_letter.is_some();
                    if ended && work.task.ordering_key.is_some() {
                        self.lines.ended(work.task.task_id);
                    }
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

    /// Ordering per key: the first attempt of a keyed task of a subscription ordered by
    /// key waits for its turn (see `lines`). `Some` when the record is settled without
    /// an attempt: the task ended already, it was deferred to the shortest tier to wait
    /// there, or shutdown came first. A disabled subscription's task is not held here:
    /// it is parked unattempted like any other, and asks again when it comes round.
    async fn wait_for_ordering_turn(&self, work: &Work, stop: &CancellationToken) -> Result<Option<Settled>, LogError> {
        if work.attempt != 1 || work.task.ordering_key.is_none() {
            return Ok(None);
        }
        let ordered = match self.lookup(work.task.subscription_id).await {
            Ok(Some(state)) => state.live().is_some_and(|live| live.enabled && live.ordering == OrderingMode::Key),
            Ok(None) => false,
            // Unknown: it may be ordered, and waiting is safe where guessing is not.
            Err(_) => true,
        };
        if !ordered {
            return Ok(None);
        }
        loop {
            match self.lines.turn(work.task.task_id, stop).await {
                Gate::Go => {
                    self.metrics.turn(TurnResult::Went);
                    return Ok(None);
                }
                Gate::Ended => {
                    tracing::debug!("task ended already, not attempted again");
                    self.metrics.turn(TurnResult::Ended);
                    return Ok(Some(Settled::Done));
                }
                Gate::Stopped => return self.put_back_at_shutdown(work).await.map(Some),
                Gate::Defer => {
                    // Without a retry tier there is nowhere else to wait: it waits here.
                    let Some(record) =
                        deferred(&self.retry, &work.task, work.attempt, work.replay.as_ref(), Utc::now())
                    else {
                        continue;
                    };
                    tracing::debug!(topic = record.topic, "not its turn yet, task deferred");
                    append_durably(self.log.as_ref(), vec![record]).await?;
                    self.metrics.turn(TurnResult::Deferred);
                    return Ok(Some(Settled::Done));
                }
            }
        }
    }

    /// Makes the attempt (or parks or defers the task); returns the records of its
    /// outcome and what to count once they are durable. The answer is weighed by the
    /// line's adaptive limit, and the subscription's slot given back, through `pass`.
    /// `admitted`: the rate limit let the task in already, before its line. An attempt a
    /// replay queued goes to the replay's target URL when it names one (guarded and
    /// signed like any other), else to the subscription's.
    async fn attempt(&self, work: &Work, admitted: bool, pass: &mut Pass) -> Turn {
        let (task, attempt, replay) = (&work.task, work.attempt, work.replay.as_ref());
        let state = self.lookup(task.subscription_id).await;
        let mut attempted_at = Utc::now();
        let mut attempted = None;
        let mut policy = None;
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
                let span = Span::current();
                traced_request(&span, url);
                let settings = &subscription.delivery;
                // As the subscription is now: the line's bound, and its rate limit if the
                // cache did not know it when the task arrived.
                self.gates.bound(subscription.id, bound_of(settings));
                if let Some(per_second) = settings.rate_limit_per_second {
                    if !admitted {
                        if let Some(record) = self.admit(work, per_second) {
                            return Turn::Deferred(record);
                        }
                    }
                    self.wait_for_turn(subscription.id, per_second).await;
                    attempted_at = Utc::now();
                }
                policy = Some(self.schedules.policy_for(settings.retry_schedule.as_ref()));
                let outgoing = Outgoing {
                    url,
                    webhook_id: task.webhook_id().to_string(),
                    timestamp: attempted_at.timestamp(),
                    body: Bytes::copy_from_slice(task.payload.get().as_bytes()),
                    event_type: task.event_type.as_deref(),
                    // The previous secret signs too until its grace ends, checked now.
                    secrets: subscription.secrets_at(attempted_at),
                    // The receiver's parent span is this attempt (the producer's, when traces are off).
                    trace: hookline_traces::handed_on(&span, task.trace.as_ref()),
                    headers: &settings.headers,
                    timeout: settings.timeout(self.timeout, self.max_timeout),
                };
                let response = self.sender.send(outgoing).await;
                self.metrics.request_took(response.latency);
                pass.answered(response.latency, capacity_signal(&response));
                let report = AttemptReport::from_response(response);
                let verdict = match (report.http_status, &report.error) {
                    (Some(410), _) => Verdict::Gone,
                    (_, None) => Verdict::Succeeded,
                    (_, Some(_)) => Verdict::Failed,
                };
                // Another receiver's answers tell nothing about the subscription's own.
                if elsewhere.is_none() {
                    attempted = Some((Box::new(subscription.clone()), verdict));
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
        let (http_status, permanent, latency_ms) = (report.http_status, report.permanent, report.latency_ms);
        let error = hookline_traces::enabled().then(|| report.error.clone()).flatten();
        // Retries follow the subscription's schedule as it is at this failure.
        let backoff =
            Backoff { policy: policy.as_ref().unwrap_or(&self.retry), jitter: self.jitter, draw: rand::random() };
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
        traced_outcome(&Span::current(), &tally, error.as_deref(), latency_ms);
        Turn::Attempted { records, tally, receiver: attempted }
    }

    /// Notes what an attempt told about its receiver and, when the subscription must be
    /// disabled, appends the change to the subscriptions topic with its decision
    /// (`hookline.subscription.disabled`, cause `gone` for a 410, else
    /// `sustained_failure`) in the same append, and tells the directory.
    ///
    /// The change states the version it builds on, like any other: when another change
    /// (a user's edit, a deletion) lands first, it is built again on the new current
    /// state — not at all if that one is deleted or already disabled.
    async fn judge(&self, attempted: &Subscription, verdict: Verdict) -> Result<(), LogError> {
        let now = Utc::now();
        let Some(reason) = self.streaks.observe(attempted.id, verdict, now) else {
            return Ok(());
        };
        let cause = if verdict == Verdict::Gone { DisableCause::Gone } else { DisableCause::SustainedFailure };
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
            let disabled =
                current.disabled(reason.as_str(), later_than(current.updated_at, now)).next_version(Uuid::new_v4());
            let decision = OperationalEvent::of_change(&current, &disabled, cause);
            let change = SubscriptionEvent::SubscriptionUpdated { subscription: disabled };
            let recorded =
                self.directory.record_change(self.log.as_ref(), &change, decision.as_ref(), VERDICT_PATIENCE).await;
            match recorded.map(|recorded| recorded.verdict) {
                Ok(LogVerdict::Applied) => {
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
                Err(ChangeError::Log(e)) if e.is_retryable() => {
                    tracing::warn!(error = %e, reason, "recording a disabling failed, building it again");
                    tokio::time::sleep(RECORD_RETRY_DELAY).await;
                }
                Err(ChangeError::Log(e)) => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, reason, "subscription disabling recorded, views unreadable to confirm it");
                    return Ok(());
                }
            }
        }
        tracing::warn!(reason, "subscription not disabled: it kept changing meanwhile (a later failure tries again)");
        Ok(())
    }

    /// Waits until a request to the rate-limited `id` may leave.
    async fn wait_for_turn(&self, id: SubscriptionId, per_second: u32) {
        let pacer = || self.pacer.lock().unwrap_or_else(PoisonError::into_inner);
        let mut wake_at = pacer().send_at(id, per_second, Instant::now());
        loop {
            tokio::time::sleep_until(wake_at).await;
            match pacer().go(id, per_second, Instant::now()) {
                Ok(()) => return,
                Err(again) => wake_at = again,
            }
        }
    }

    /// Shutdown came while the task waited in its line: it is put back, unattempted, in
    /// the shortest tier, so that the record is done and the commit passes it. Left
    /// unfinished, it would hold back the commit of every later record of its partition,
    /// and those already delivered would be delivered again by the next run (a line
    /// whose limit is low holds many tasks, in an order its tasks reached it, not
    /// always their records' order). Without a tier it is left for the next run.
    async fn put_back_at_shutdown(&self, work: &Work) -> Result<Settled, LogError> {
        let Some(record) = deferred(&self.retry, &work.task, work.attempt, work.replay.as_ref(), Utc::now()) else {
            return Ok(Settled::Abandoned);
        };
        tracing::debug!(topic = record.topic, "shutting down: waiting task put back in a tier");
        append_durably(self.log.as_ref(), vec![record]).await?;
        Ok(Settled::Done)
    }

    /// Lets a task of a subscription limited to `per_second` go on to its turn, or
    /// returns the record that defers it, unattempted, to its turn in a retry tier.
    fn admit(&self, work: &Work, per_second: u32) -> Option<NewRecord> {
        let id = work.task.subscription_id;
        let admission = self.pacer.lock().unwrap_or_else(PoisonError::into_inner).admit(id, per_second, Instant::now());
        let Admission::Defer { due } = admission else { return None };
        let wait = due.saturating_duration_since(Instant::now());
        let due_at = Utc::now() + TimeDelta::from_std(wait).unwrap_or_default();
        let record =
            deferred_until(&self.schedules, &work.task, work.attempt, work.replay.as_ref(), due_at, Utc::now())?;
        tracing::debug!(topic = record.topic, due_at = %due_at, "rate limit: task deferred to its turn");
        Some(record)
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

/// The HTTP client attributes of an attempt's span: the target without its query or
/// credentials (which may hold secrets), never a header or the body.
fn traced_request(span: &Span, target: &str) {
    if !hookline_traces::enabled() {
        return;
    }
    hookline_traces::attribute(span, "http.request.method", "POST");
    if let Some(url) = hookline_traces::url_without_secrets(target) {
        hookline_traces::attribute(span, "url.full", url);
    }
    if let Ok(url) = reqwest::Url::parse(target) {
        if let Some(host) = url.host_str() {
            hookline_traces::attribute(span, "server.address", host.to_string());
        }
        if let Some(port) = url.port_or_known_default() {
            hookline_traces::attribute(span, "server.port", i64::from(port));
        }
    }
}

/// What an attempt came to, on its span: status, outcome, latency; a failure marks it failed.
fn traced_outcome(span: &Span, tally: &AttemptTally, error: Option<&str>, latency_ms: u64) {
    if !hookline_traces::enabled() {
        return;
    }
    if let Some(status) = tally.http_status {
        hookline_traces::attribute(span, "http.response.status_code", i64::from(status));
    }
    hookline_traces::attribute(span, "hookline.attempt.outcome", tally.outcome.as_str());
    hookline_traces::attribute(span, "hookline.attempt.latency_ms", i64::try_from(latency_ms).unwrap_or(i64::MAX));
    if let Some(error) = error {
        // The status code, or the class of failure: low-cardinality, as error.type asks.
        let error_type = tally.http_status.map_or_else(|| error_class(error), |status| status.to_string());
        hookline_traces::attribute(span, "error.type", error_type);
        hookline_traces::failed(span, error_type_description(error));
    }
}

/// The kind of a failure without an answer: the words before any detail.
fn error_class(error: &str) -> String {
    error.split([':', '(']).next().unwrap_or(error).trim().to_string()
}

/// The description a failed span carries: hookline's own error text, which names
/// statuses and network failures, never a payload or a secret.
fn error_type_description(error: &str) -> String {
    error.chars().take(200).collect()
}

/// The in-flight bound `settings` ask for: a fixed `max_in_flight`, else adaptive.
fn bound_of(settings: &DeliverySettings) -> Bound {
    settings.max_in_flight.map_or(Bound::Adaptive, |max| Bound::Fixed(max as usize))
}

/// What an answer tells the adaptive limit: 429, 503 and timeouts say "too much".
fn capacity_signal(response: &Response) -> Signal {
    match response.status {
        _ if response.timed_out => Signal::Overload,
        Some(429 | 503) => Signal::Overload,
        Some(status) if (200..300).contains(&status) => Signal::Success,
        _ => Signal::Failure,
    }
}

/// How many times a disabling is built again after other changes landed first.
const DISABLE_ATTEMPTS: usize = 16;
/// How long to wait before building a disabling again after the log failed to take it.
const RECORD_RETRY_DELAY: Duration = Duration::from_millis(500);
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
