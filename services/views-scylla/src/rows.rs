//! The CQL user-defined types of `views.cql` and their conversions to domain values.

use chrono::{DateTime, Utc};
use hookline_domain::task::LastAttempt;
use hookline_domain::{AttemptRecorded, LogPosition, Outcome, ReplayId, SubscriptionId, TaskId};
use hookline_views::ViewError;
use scylla::{DeserializeValue, SerializeValue};
use uuid::Uuid;

/// `attempt_record`: one attempt (its task id is the row's key).
#[derive(Clone, Debug, PartialEq, SerializeValue, DeserializeValue)]
pub(crate) struct AttemptUdt {
    attempt_number: i32,
    subscription_id: Uuid,
    outcome: String,
    http_status: Option<i32>,
    error: Option<String>,
    latency_ms: i64,
    response_body: Option<String>,
    attempted_at: DateTime<Utc>,
    next_attempt_at: Option<DateTime<Utc>>,
    task_accepted_at: DateTime<Utc>,
    event_type: Option<String>,
    replay_id: Option<Uuid>,
}

/// `last_attempt`: what a task view keeps of its latest attempt.
#[derive(Clone, Debug, PartialEq, SerializeValue, DeserializeValue)]
pub(crate) struct LastAttemptUdt {
    attempt_number: i32,
    outcome: String,
    attempted_at: DateTime<Utc>,
    http_status: Option<i32>,
    error: Option<String>,
    next_attempt_at: Option<DateTime<Utc>>,
    replay_id: Option<Uuid>,
}

/// CQL has no unsigned integers; attempt numbers beyond i32 are clamped (never seen:
/// retries are counted in tens).
pub(crate) fn cql_number(number: u32) -> i32 {
    i32::try_from(number).unwrap_or(i32::MAX)
}

/// A position in the log as CQL stores it: CQL has signed integers only, and a
/// partition or offset past their range cannot occur in a log.
pub(crate) fn cql_position(position: &LogPosition) -> (String, i32, i64) {
    let partition = i32::try_from(position.partition).unwrap_or(i32::MAX);
    let offset = i64::try_from(position.offset).unwrap_or(i64::MAX);
    (position.topic.clone(), partition, offset)
}

/// A stored position in the log; `what` names the table for the error.
pub(crate) fn domain_position(
    topic: String,
    partition: i32,
    offset: i64,
    what: &str,
) -> Result<LogPosition, ViewError> {
    let corrupt = || ViewError::Corrupt(format!("{what}: {topic}/{partition}@{offset}"));
    Ok(LogPosition {
        partition: u32::try_from(partition).map_err(|_| corrupt())?,
        offset: u64::try_from(offset).map_err(|_| corrupt())?,
        topic,
    })
}

fn domain_number(number: i32, what: &str) -> Result<u32, ViewError> {
    u32::try_from(number).map_err(|_| ViewError::Corrupt(format!("{what}: negative attempt number {number}")))
}

fn parse_outcome(text: &str, what: &str) -> Result<Outcome, ViewError> {
    [Outcome::Success, Outcome::FailedAttempt, Outcome::PermanentlyFailed]
        .into_iter()
        .find(|o| o.as_str() == text)
        .ok_or_else(|| ViewError::Corrupt(format!("{what}: unknown outcome {text:?}")))
}

fn http_status(status: Option<i32>, what: &str) -> Result<Option<u16>, ViewError> {
    status
        .map(|s| u16::try_from(s).map_err(|_| ViewError::Corrupt(format!("{what}: HTTP status {s} out of range"))))
        .transpose()
}

impl AttemptUdt {
    pub(crate) fn from_domain(attempt: &AttemptRecorded) -> Self {
        Self {
            attempt_number: cql_number(attempt.attempt_number),
            subscription_id: attempt.subscription_id.0,
            outcome: attempt.outcome.as_str().to_string(),
            http_status: attempt.http_status.map(i32::from),
            error: attempt.error.clone(),
            latency_ms: i64::try_from(attempt.latency_ms).unwrap_or(i64::MAX),
            response_body: attempt.response_body.clone(),
            attempted_at: attempt.attempted_at,
            next_attempt_at: attempt.next_attempt_at,
            task_accepted_at: attempt.task_accepted_at,
            event_type: attempt.event_type.clone(),
            replay_id: attempt.replay_id.map(|id| id.0),
        }
    }

    pub(crate) fn attempted_at(&self) -> DateTime<Utc> {
        self.attempted_at
    }

    pub(crate) fn into_domain(self, task_id: TaskId) -> Result<AttemptRecorded, ViewError> {
        let what = "attempt_record";
        Ok(AttemptRecorded {
            task_id,
            subscription_id: SubscriptionId(self.subscription_id),
            attempt_number: domain_number(self.attempt_number, what)?,
            outcome: parse_outcome(&self.outcome, what)?,
            http_status: http_status(self.http_status, what)?,
            error: self.error,
            latency_ms: u64::try_from(self.latency_ms).unwrap_or(0),
            response_body: self.response_body,
            attempted_at: self.attempted_at,
            next_attempt_at: self.next_attempt_at,
            task_accepted_at: self.task_accepted_at,
            event_type: self.event_type,
            replay_id: self.replay_id.map(ReplayId),
        })
    }
}

impl LastAttemptUdt {
    pub(crate) fn from_domain(last: &LastAttempt) -> Self {
        Self {
            attempt_number: cql_number(last.number),
            outcome: last.outcome.as_str().to_string(),
            attempted_at: last.at,
            http_status: last.http_status.map(i32::from),
            error: last.error.clone(),
            next_attempt_at: last.next_attempt_at,
            replay_id: last.replay_id.map(|id| id.0),
        }
    }

    pub(crate) fn into_domain(self) -> Result<LastAttempt, ViewError> {
        let what = "last_attempt";
        Ok(LastAttempt {
            number: domain_number(self.attempt_number, what)?,
            outcome: parse_outcome(&self.outcome, what)?,
            at: self.attempted_at,
            http_status: http_status(self.http_status, what)?,
            error: self.error,
            next_attempt_at: self.next_attempt_at,
            replay_id: self.replay_id.map(ReplayId),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(outcome: Outcome) -> AttemptRecorded {
        let at = DateTime::from_timestamp_millis(1_700_000_000_123).expect("valid");
        AttemptRecorded {
            task_id: TaskId::new(),
            subscription_id: SubscriptionId::new(),
            attempt_number: 3,
            outcome,
            http_status: Some(503),
            error: Some("503".into()),
            latency_ms: 17,
            response_body: Some("busy".into()),
            attempted_at: at,
            next_attempt_at: Some(at),
            task_accepted_at: at,
            event_type: Some("order.created".into()),
            replay_id: (outcome != Outcome::FailedAttempt).then(ReplayId::new),
        }
    }

    #[test]
    fn records_round_trip() {
        for outcome in [Outcome::Success, Outcome::FailedAttempt, Outcome::PermanentlyFailed] {
            let attempt = sample(outcome);
            let back = AttemptUdt::from_domain(&attempt).into_domain(attempt.task_id).expect("decodes");
            assert_eq!(back, attempt);
            let last = hookline_domain::TaskView::from_attempt(&attempt).last_attempt.expect("an attempt");
            assert_eq!(LastAttemptUdt::from_domain(&last).into_domain().expect("decodes"), last);
        }
    }

    #[test]
    fn foreign_values_are_corrupt_not_panics() {
        let attempt = sample(Outcome::Success);
        let mut udt = AttemptUdt::from_domain(&attempt);
        udt.outcome = "maybe".into();
        assert!(matches!(udt.clone().into_domain(attempt.task_id), Err(ViewError::Corrupt(_))));
        udt.outcome = "success".into();
        udt.http_status = Some(70_000);
        assert!(matches!(udt.clone().into_domain(attempt.task_id), Err(ViewError::Corrupt(_))));
        udt.http_status = None;
        udt.attempt_number = -1;
        assert!(matches!(udt.into_domain(attempt.task_id), Err(ViewError::Corrupt(_))));
    }
}
