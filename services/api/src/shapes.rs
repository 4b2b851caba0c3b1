//! The JSON the API answers with, field for field as the seed service answered.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use hookline_domain::delivery_settings::DEFAULT_SCHEDULE;
use hookline_domain::event_types::filter_of_patterns;
use hookline_domain::{AttemptRecorded, DeliverySettings, Subscription, TaskView};
use serde::Serialize;
use serde_json::{json, Value};

/// RFC 3339 with microseconds and `+00:00`, as the seed (Python `isoformat()`) wrote.
pub(crate) fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, false)
}

#[derive(Serialize)]
pub(crate) struct SubscriptionBody {
    id: String,
    tenant_id: String,
    target_url: String,
    secret: Option<String>,
    /// The patterns wanted; null: every event.
    event_types: Option<Vec<String>>,
    /// The same, comma-joined, for the seed's clients.
    event_type_filter: Option<String>,
    created_at: String,
    updated_at: String,
    enabled: bool,
    disabled_reason: Option<String>,
    /// Until when the secret replaced by the last rotation is still valid; null once
    /// it is not (or there is none). The replaced secret itself is not shown again.
    previous_secret_expires_at: Option<String>,
    /// `key`: the tasks with the same ordering key go one at a time, in acceptance order.
    ordering: &'static str,
    /// Extra request headers, values shown like `secret`; `{}`: none.
    headers: BTreeMap<String, String>,
    /// Per-attempt timeout; null: `DELIVERY_TIMEOUT_SECONDS`.
    timeout_ms: Option<u64>,
    /// `"default"`, `"production"` or a list of delays in seconds.
    retry_schedule: Value,
    /// Null: no limit.
    rate_limit_per_second: Option<u32>,
    /// `"auto"` (adaptive concurrency) or a number.
    max_in_flight: Value,
}

/// How a subscription's `max_in_flight` reads: a number, or `"auto"`.
pub(crate) fn max_in_flight(settings: &DeliverySettings) -> Value {
    settings.max_in_flight.map_or_else(|| json!("auto"), |max| json!(max))
}

impl From<&Subscription> for SubscriptionBody {
    fn from(s: &Subscription) -> Self {
        let patterns = s.patterns();
        Self {
            id: s.id.to_string(),
            tenant_id: s.tenant_id.to_string(),
            target_url: s.target_url.clone(),
            secret: s.secret.as_ref().map(|secret| secret.expose().to_string()),
            event_type_filter: patterns.as_deref().map(filter_of_patterns),
            event_types: patterns.map(|patterns| patterns.into_iter().map(String::from).collect()),
            created_at: timestamp(s.created_at),
            updated_at: timestamp(s.updated_at),
            enabled: s.enabled,
            disabled_reason: s.disabled_reason.clone(),
            previous_secret_expires_at: s
                .previous_secret_at(Utc::now())
                .and(s.previous_secret_expires_at)
                .map(timestamp),
            ordering: s.ordering.as_str(),
            headers: s
                .delivery
                .headers
                .iter()
                .map(|(name, value)| (name.clone(), value.expose().to_string()))
                .collect(),
            timeout_ms: s.delivery.timeout_ms,
            retry_schedule: match &s.delivery.retry_schedule {
                None => json!(DEFAULT_SCHEDULE),
                Some(choice) => json!(choice),
            },
            rate_limit_per_second: s.delivery.rate_limit_per_second,
            max_in_flight: max_in_flight(&s.delivery),
        }
    }
}

#[derive(Serialize)]
pub(crate) struct AttemptBody {
    /// Present when attempts of several tasks are listed together.
    #[serde(skip_serializing_if = "Option::is_none")]
    task_id: Option<String>,
    attempt_number: u32,
    outcome: &'static str,
    http_status: Option<u16>,
    error_details: Option<String>,
    timestamp: String,
    latency_ms: u64,
    response_body: Option<String>,
    next_attempt_at: Option<String>,
    /// The replay that queued the attempt (or the one it retries); null for the others.
    replay_id: Option<String>,
}

impl AttemptBody {
    fn new(attempt: &AttemptRecorded, with_task_id: bool) -> Self {
        Self {
            task_id: with_task_id.then(|| attempt.task_id.to_string()),
            attempt_number: attempt.attempt_number,
            outcome: attempt.outcome.as_str(),
            http_status: attempt.http_status,
            error_details: attempt.error.clone(),
            timestamp: timestamp(attempt.attempted_at),
            latency_ms: attempt.latency_ms,
            response_body: attempt.response_body.clone(),
            next_attempt_at: attempt.next_attempt_at.map(timestamp),
            replay_id: attempt.replay_id.map(|id| id.to_string()),
        }
    }

    /// An attempt listed among other tasks' attempts.
    pub(crate) fn of_subscription(attempt: &AttemptRecorded) -> Self {
        Self::new(attempt, true)
    }
}

/// A task as listed: what [`TaskBody`] shows, but its attempts.
#[derive(Serialize)]
pub(crate) struct TaskSummaryBody {
    task_id: String,
    subscription_id: String,
    event_type: Option<String>,
    status: &'static str,
    attempts_count: u32,
    created_at: String,
    last_attempt_at: Option<String>,
    next_attempt_at: Option<String>,
    last_http_status: Option<u16>,
    last_error: Option<String>,
    /// The replay that queued the last attempt; null when it came from elsewhere.
    last_replay_id: Option<String>,
}

impl From<&TaskView> for TaskSummaryBody {
    fn from(task: &TaskView) -> Self {
        let last = task.last_attempt.as_ref();
        Self {
            task_id: task.task_id.to_string(),
            subscription_id: task.subscription_id.to_string(),
            event_type: task.event_type.clone(),
            status: task.status().as_str(),
            attempts_count: task.attempts_count(),
            created_at: timestamp(task.created_at),
            last_attempt_at: last.map(|a| timestamp(a.at)),
            next_attempt_at: last.and_then(|a| a.next_attempt_at).map(timestamp),
            last_http_status: last.and_then(|a| a.http_status),
            last_error: last.and_then(|a| a.error.clone()),
            last_replay_id: last.and_then(|a| a.replay_id).map(|id| id.to_string()),
        }
    }
}

#[derive(Serialize)]
pub(crate) struct TaskBody {
    #[serde(flatten)]
    task: TaskSummaryBody,
    /// Oldest first.
    attempts: Vec<AttemptBody>,
}

impl TaskBody {
    pub(crate) fn new(task: &TaskView, attempts: &[AttemptRecorded]) -> Self {
        Self {
            task: TaskSummaryBody::from(task),
            attempts: attempts.iter().map(|a| AttemptBody::new(a, false)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_look_like_the_seed() {
        let at = Utc.timestamp_opt(1_698_400_800, 123_456_789).unwrap();
        assert_eq!(timestamp(at), "2023-10-27T10:00:00.123456+00:00");
    }
}
