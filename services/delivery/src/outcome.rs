//! The records an attempt leaves in the log: always an `AttemptRecorded`, then either
//! a `RetryScheduled` in the tier that holds the next attempt or, with no attempts
//! left, a `TaskDeadLettered`. They are appended together in one call, so the outcome
//! of an attempt is durable as a whole or not at all. Pure: the random draw of the
//! jitter is passed in.
//!
//! A 410 Gone ends the task at once: the receiver said it is gone for good. A 429 or
//! 503 with `Retry-After` delays the next attempt at least that long (capped). A task
//! of a disabled subscription is parked: put back in the longest tier, unattempted.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use hookline_domain::retry::{Jitter, NextStep};
use hookline_domain::{
    topics, AttemptRecorded, Outcome, ReplayMark, RetryPolicy, RetryScheduled, RetrySchedules, TaskAccepted,
    TaskDeadLettered,
};
use hookline_log::{NewRecord, Record};
use hookline_records::{event_record, put_back};

use crate::decode::Work;
use crate::http::Response;

/// Header naming why a record was dead-lettered without an attempt.
pub const ERROR_HEADER: &str = "hookline-error";

/// How the next attempt is timed.
#[derive(Clone, Copy, Debug)]
pub struct Backoff<'a> {
    pub policy: &'a RetryPolicy,
    pub jitter: Jitter,
    /// This attempt's random draw in `[0, 1]`.
    pub draw: f64,
}

/// What one attempt came to, whatever the cause.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptReport {
    pub http_status: Option<u16>,
    /// `None` on success.
    pub error: Option<String>,
    pub response_body: Option<String>,
    pub latency_ms: u64,
    /// No later attempt can succeed: dead-letter now, whatever attempts are left.
    pub permanent: bool,
    /// The receiver asked for the next attempt to wait at least this long.
    pub retry_after: Option<Duration>,
}

impl AttemptReport {
    pub fn from_response(response: Response) -> Self {
        let gone = response.status == Some(410);
        Self {
            http_status: response.status,
            error: if gone { Some("HTTP 410: receiver gone".into()) } else { response.error },
            response_body: response.body,
            latency_ms: u64::try_from(response.latency.as_millis()).unwrap_or(u64::MAX),
            permanent: gone,
            retry_after: response.retry_after,
        }
    }

    /// A failure found before any request was made.
    pub fn without_request(error: impl Into<String>, permanent: bool) -> Self {
        Self {
            http_status: None,
            error: Some(error.into()),
            response_body: None,
            latency_ms: 0,
            permanent,
            retry_after: None,
        }
    }
}

/// The records to append for attempt `attempt` of `task`, made at `attempted_at`. An
/// attempt a replay queued (`replay`) is recorded with the replay's id, and its retry
/// carries the mark on.
pub fn outcome_records(
    backoff: Backoff<'_>,
    task: &TaskAccepted,
    attempt: u32,
    replay: Option<&ReplayMark>,
    attempted_at: DateTime<Utc>,
    report: AttemptReport,
) -> Vec<NewRecord> {
    let subscription = task.subscription_id;
    let next = match (&report.error, report.permanent) {
        (None, _) => None,
        (Some(_), true) => Some(NextStep::GiveUp),
        (Some(_), false) => {
            Some(backoff.policy.after_failure_with(attempt, backoff.jitter, backoff.draw, report.retry_after))
        }
    };
    let (outcome, next_attempt_at, follow_up) = match next {
        None => (Outcome::Success, None, None),
        Some(NextStep::Retry { attempt: next_attempt, delay, tier }) => {
            let due_at = TimeDelta::from_std(delay)
                .ok()
                .and_then(|delta| attempted_at.checked_add_signed(delta))
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            let retry = RetryScheduled { task: task.clone(), attempt: next_attempt, due_at, replay: replay.cloned() };
            (
                Outcome::FailedAttempt,
                Some(due_at),
                Some(event_record(&tier, subscription, RetryScheduled::KIND, &retry)),
            )
        }
        Some(NextStep::GiveUp) => {
            let dead = TaskDeadLettered {
                task: task.clone(),
                attempts: attempt,
                last_error: report.error.clone(),
                failed_at: attempted_at,
            };
            (
                Outcome::PermanentlyFailed,
                None,
                Some(event_record(topics::DLQ, subscription, TaskDeadLettered::KIND, &dead)),
            )
        }
    };
    let attempt_event = AttemptRecorded {
        task_id: task.task_id,
        subscription_id: task.subscription_id,
        attempt_number: attempt,
        outcome,
        http_status: report.http_status,
        error: report.error,
        latency_ms: report.latency_ms,
        response_body: report.response_body,
        attempted_at,
        next_attempt_at,
        task_accepted_at: task.accepted_at,
        event_type: task.event_type.clone(),
        replay_id: replay.map(|mark| mark.replay_id),
    };
    let mut records = vec![event_record(topics::ATTEMPTS, subscription, AttemptRecorded::KIND, &attempt_event)];
    records.extend(follow_up);
    records
}

/// The record that puts a retry whose due time is beyond its tier's delay back in the
/// tier for what is left of its wait (at `now`), unchanged otherwise: the tier, of any
/// schedule's, that holds what is left. `None` when there are no tiers.
pub fn rescheduled(schedules: &RetrySchedules, work: &Work, now: DateTime<Utc>) -> Option<NewRecord> {
    let due_at = work.due_at?;
    deferred_until(schedules, &work.task, work.attempt, work.replay.as_ref(), due_at, now)
}

/// The record that keeps `task`'s `attempt`, not yet made (with its replay's mark, if any), waiting in the log until
/// `due_at` (a rate limit's turn, or what is left of a long wait): in the tier, of any
/// schedule's, that holds the wait from `now`. `None` when there are no tiers.
pub fn deferred_until(
    schedules: &RetrySchedules,
    task: &TaskAccepted,
    attempt: u32,
    replay: Option<&ReplayMark>,
    due_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<NewRecord> {
    let tier = schedules.tier_for((due_at - now).to_std().unwrap_or_default())?;
    let retry = RetryScheduled { task: task.clone(), attempt, due_at, replay: replay.cloned() };
    Some(event_record(&tier, task.subscription_id, RetryScheduled::KIND, &retry))
}

/// The record that parks `task` while its subscription is disabled: the same attempt,
/// due after the longest tier's delay from `now`, in that tier — so it comes round
/// again, and is attempted then if the subscription was enabled meanwhile. `None`
/// when the policy has no tiers. A replay's attempt keeps its mark.
pub fn parked(
    policy: &RetryPolicy,
    task: &TaskAccepted,
    attempt: u32,
    replay: Option<&ReplayMark>,
    now: DateTime<Utc>,
) -> Option<NewRecord> {
    put_back(*policy.tier_delays().last()?, task, attempt, replay, now)
}

/// The record that defers `task` while its subscription has a long line of attempts
/// running and waiting that drains slowly: the same attempt, in the shortest tier, so
/// that the slow subscription's backlog waits in the log rather than in this worker's
/// memory, where it would stop the consumer from reading records for everyone else.
/// A replay's attempt keeps its mark.
pub fn deferred(
    policy: &RetryPolicy,
    task: &TaskAccepted,
    attempt: u32,
    replay: Option<&ReplayMark>,
    now: DateTime<Utc>,
) -> Option<NewRecord> {
    put_back(*policy.tier_delays().first()?, task, attempt, replay, now)
}

/// A copy of a record that cannot be decoded, for the DLQ, with the reason in a header.
pub fn undecodable_copy(record: &Record, reason: &str) -> NewRecord {
    let mut headers = record.headers.clone();
    headers.push((ERROR_HEADER.to_string(), reason.as_bytes().to_vec()));
    NewRecord { topic: topics::DLQ.to_string(), key: record.key.clone(), headers, value: record.value.clone() }
}

#[cfg(test)]
mod tests {
    use hookline_domain::{SubscriptionId, TaskId};
    use serde_json::value::RawValue;

    use super::*;

    fn task() -> TaskAccepted {
        TaskAccepted {
            task_id: TaskId::new(),
            subscription_id: SubscriptionId::new(),
            event_type: Some("order.created".into()),
            accepted_at: Utc::now(),
            payload: RawValue::from_string(r#"{"n":123456789012345678901234567890}"#.into()).unwrap(),
            event_id: None,
            ordering_key: None,
            trace: None,
        }
    }

    fn policy() -> RetryPolicy {
        RetryPolicy::exponential(3, 10, 3, 900)
    }

    fn on_schedule(policy: &RetryPolicy) -> Backoff<'_> {
        Backoff { policy, jitter: Jitter::NONE, draw: 0.0 }
    }

    fn failed(error: &str) -> AttemptReport {
        AttemptReport {
            http_status: Some(500),
            error: Some(error.into()),
            response_body: Some("oops".into()),
            latency_ms: 12,
            permanent: false,
            retry_after: None,
        }
    }

    fn answered(status: u16, retry_after: Option<Duration>) -> AttemptReport {
        AttemptReport::from_response(Response {
            status: Some(status),
            error: Some(format!("HTTP {status}")),
            body: Some(String::new()),
            latency: Duration::from_millis(5),
            retry_after,
            timed_out: false,
        })
    }

    fn decode<T: serde::de::DeserializeOwned>(record: &NewRecord) -> T {
        serde_json::from_slice(&record.value).unwrap()
    }

    #[test]
    fn success_is_one_attempt_record() {
        let task = task();
        let now = Utc::now();
        let report = AttemptReport {
            http_status: Some(204),
            error: None,
            response_body: None,
            latency_ms: 3,
            permanent: false,
            retry_after: None,
        };
        let records = outcome_records(on_schedule(&policy()), &task, 1, None, now, report);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].topic, topics::ATTEMPTS);
        assert_eq!(records[0].key, task.subscription_id.to_string().into_bytes());
        assert_eq!(records[0].headers, vec![(topics::EVENT_HEADER.to_string(), b"AttemptRecorded".to_vec())]);
        let attempt: AttemptRecorded = decode(&records[0]);
        assert_eq!(attempt.outcome, Outcome::Success);
        assert_eq!(attempt.next_attempt_at, None);
        assert_eq!(attempt.task_accepted_at, task.accepted_at);
        assert_eq!(attempt.event_type.as_deref(), Some("order.created"));
    }

    #[test]
    fn failure_with_attempts_left_schedules_the_next_in_its_tier() {
        let task = task();
        let now = Utc::now();
        let records = outcome_records(on_schedule(&policy()), &task, 2, None, now, failed("HTTP 500"));
        assert_eq!(records.len(), 2);
        let attempt: AttemptRecorded = decode(&records[0]);
        assert_eq!(attempt.outcome, Outcome::FailedAttempt);
        assert_eq!(attempt.attempt_number, 2);
        assert_eq!(records[1].topic, "hookline.retry.30s");
        let retry: RetryScheduled = decode(&records[1]);
        assert_eq!(retry.attempt, 3);
        assert_eq!(retry.due_at, now + TimeDelta::seconds(30));
        assert_eq!(attempt.next_attempt_at, Some(retry.due_at));
        assert_eq!(retry.task.payload.get(), task.payload.get());
    }

    #[test]
    fn last_failure_dead_letters_the_task() {
        let task = task();
        let records = outcome_records(on_schedule(&policy()), &task, 3, None, Utc::now(), failed("HTTP 503"));
        let attempt: AttemptRecorded = decode(&records[0]);
        assert_eq!(attempt.outcome, Outcome::PermanentlyFailed);
        assert_eq!(records[1].topic, topics::DLQ);
        let dead: TaskDeadLettered = decode(&records[1]);
        assert_eq!(dead.attempts, 3);
        assert_eq!(dead.last_error.as_deref(), Some("HTTP 503"));
    }

    #[test]
    fn a_permanent_failure_skips_the_remaining_attempts() {
        let records = outcome_records(
            on_schedule(&policy()),
            &task(),
            1,
            None,
            Utc::now(),
            AttemptReport::without_request("subscription deleted", true),
        );
        let attempt: AttemptRecorded = decode(&records[0]);
        assert_eq!(attempt.outcome, Outcome::PermanentlyFailed);
        assert_eq!(attempt.error.as_deref(), Some("subscription deleted"));
        assert_eq!(records[1].topic, topics::DLQ);
    }

    #[test]
    fn gone_ends_the_task_after_one_attempt() {
        let records = outcome_records(on_schedule(&policy()), &task(), 1, None, Utc::now(), answered(410, None));
        let attempt: AttemptRecorded = decode(&records[0]);
        assert_eq!(attempt.outcome, Outcome::PermanentlyFailed);
        assert_eq!(attempt.http_status, Some(410));
        assert_eq!(attempt.error.as_deref(), Some("HTTP 410: receiver gone"));
        assert_eq!(records[1].topic, topics::DLQ);
    }

    #[test]
    fn retry_after_pushes_the_next_attempt_into_a_tier_that_holds_it() {
        let now = Utc::now();
        let policy = policy();
        let records =
            outcome_records(on_schedule(&policy), &task(), 1, None, now, answered(429, Some(Duration::from_secs(25))));
        assert_eq!(records[1].topic, "hookline.retry.30s");
        let retry: RetryScheduled = decode(&records[1]);
        assert_eq!(retry.due_at, now + TimeDelta::seconds(25));
        // Beyond MAX_RETRY_DELAY_SECONDS: capped, in the longest tier.
        let records = outcome_records(
            on_schedule(&policy),
            &task(),
            1,
            None,
            now,
            answered(503, Some(Duration::from_secs(7200))),
        );
        assert_eq!(records[1].topic, "hookline.retry.30s");
        let retry: RetryScheduled = decode(&records[1]);
        assert_eq!(retry.due_at, now + TimeDelta::seconds(900));
    }

    #[test]
    fn jitter_only_ever_brings_a_retry_forward() {
        let now = Utc::now();
        let policy = policy();
        let backoff = Backoff { policy: &policy, jitter: Jitter::new(0.2).unwrap(), draw: 1.0 };
        let records = outcome_records(backoff, &task(), 1, None, now, failed("HTTP 500"));
        assert_eq!(records[1].topic, "hookline.retry.10s");
        let retry: RetryScheduled = decode(&records[1]);
        assert_eq!(retry.due_at, now + TimeDelta::seconds(8));
    }

    #[test]
    fn a_retry_due_beyond_its_tier_goes_back_in_the_tier_for_what_is_left() {
        let now = Utc::now();
        let task = task();
        let work = Work { task: task.clone(), attempt: 2, due_at: Some(now + TimeDelta::seconds(500)), replay: None };
        let schedules = RetrySchedules::new(policy());
        let record = rescheduled(&schedules, &work, now).expect("a tier holds it");
        // Beyond the configured schedule's tiers, the production preset's hold it.
        assert_eq!(record.topic, "hookline.retry.1800s");
        assert_eq!(record.key, task.subscription_id.to_string().into_bytes());
        let retry: RetryScheduled = decode(&record);
        assert_eq!((retry.attempt, retry.due_at), (2, now + TimeDelta::seconds(500)));
        let soon = Work { due_at: Some(now + TimeDelta::seconds(4)), ..work };
        assert_eq!(rescheduled(&schedules, &soon, now).expect("a tier holds it").topic, "hookline.retry.5s");
        let later = Work { due_at: Some(now + TimeDelta::seconds(25)), ..soon };
        assert_eq!(rescheduled(&schedules, &later, now).expect("a tier holds it").topic, "hookline.retry.30s");
    }

    #[test]
    fn a_parked_task_waits_in_the_longest_tier_for_the_same_attempt() {
        let (now, task) = (Utc::now(), task());
        let record = parked(&policy(), &task, 1, None, now).expect("the policy has tiers");
        assert_eq!(record.topic, "hookline.retry.30s");
        let retry: RetryScheduled = decode(&record);
        assert_eq!((retry.attempt, retry.due_at), (1, now + TimeDelta::seconds(30)));
        assert_eq!(parked(&RetryPolicy { max_attempts: 1, ..policy() }, &task, 1, None, now), None);
    }

    #[test]
    fn an_attempt_past_the_last_scheduled_one_ends_the_task_either_way() {
        // The policy gives 3 attempts: attempt 4 is a retry by hand.
        let task = task();
        let records = outcome_records(on_schedule(&policy()), &task, 4, None, Utc::now(), failed("HTTP 500"));
        let attempt: AttemptRecorded = decode(&records[0]);
        assert_eq!((attempt.attempt_number, attempt.outcome), (4, Outcome::PermanentlyFailed));
        assert_eq!(records[1].topic, topics::DLQ);
        let dead: TaskDeadLettered = decode(&records[1]);
        assert_eq!(dead.attempts, 4);
        let ok = AttemptReport {
            http_status: Some(200),
            error: None,
            response_body: None,
            latency_ms: 1,
            permanent: false,
            retry_after: None,
        };
        let records = outcome_records(on_schedule(&policy()), &task, 4, None, Utc::now(), ok);
        assert_eq!(records.len(), 1);
        assert_eq!(decode::<AttemptRecorded>(&records[0]).outcome, Outcome::Success);
    }

    #[test]
    fn a_replayed_attempt_names_its_replay_and_its_retries_keep_the_mark() {
        let (task, now) = (task(), Utc::now());
        let mark = ReplayMark {
            replay_id: hookline_domain::ReplayId::new(),
            target_url: Some("https://elsewhere.example/hook".into()),
        };
        let records = outcome_records(on_schedule(&policy()), &task, 1, Some(&mark), now, failed("HTTP 500"));
        let attempt: AttemptRecorded = decode(&records[0]);
        assert_eq!(attempt.replay_id, Some(mark.replay_id));
        let retry: RetryScheduled = decode(&records[1]);
        assert_eq!(retry.replay.as_ref(), Some(&mark));
        let last = outcome_records(on_schedule(&policy()), &task, 3, Some(&mark), now, failed("HTTP 500"));
        assert_eq!(decode::<AttemptRecorded>(&last[0]).replay_id, Some(mark.replay_id));
        assert_eq!(last[1].topic, topics::DLQ, "a dead letter needs no mark");

        let parked: RetryScheduled = decode(&parked(&policy(), &task, 2, Some(&mark), now).unwrap());
        assert_eq!(parked.replay.as_ref(), Some(&mark));
        let deferred: RetryScheduled = decode(&deferred(&policy(), &task, 2, Some(&mark), now).unwrap());
        assert_eq!(deferred.replay.as_ref(), Some(&mark));
        let work = Work { task, attempt: 2, due_at: Some(now + TimeDelta::seconds(500)), replay: Some(mark.clone()) };
        let again: RetryScheduled = decode(&rescheduled(&RetrySchedules::new(policy()), &work, now).unwrap());
        assert_eq!(again.replay, Some(mark));
    }

    #[test]
    fn undecodable_records_keep_their_bytes_and_say_why() {
        let record = Record {
            topic: topics::DELIVERIES.into(),
            partition: 0,
            offset: 7,
            timestamp_ms: 0,
            key: b"k".to_vec(),
            headers: vec![("a".into(), b"b".to_vec())],
            value: b"not json".to_vec(),
        };
        let copy = undecodable_copy(&record, "bad json");
        assert_eq!(copy.topic, topics::DLQ);
        assert_eq!(copy.value, b"not json");
        assert_eq!(copy.headers[1], (ERROR_HEADER.to_string(), b"bad json".to_vec()));
    }
}
