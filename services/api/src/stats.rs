//! A subscription's delivery statistics, computed from its most recent attempts.

use std::sync::Arc;

use hookline_domain::{AttemptRecorded, Outcome};
use serde::Serialize;
use serde_json::Value;
use warp::http::StatusCode;

use crate::caller::Caller;
use crate::error::ApiError;
use crate::reply::ApiReply;
use crate::shapes::{max_in_flight, timestamp};
use crate::state::{subscription_id, ApiState};

/// The attempts the statistics cover: the subscription's most recent ones.
const WINDOW: usize = 1000;
/// The attempts listed one by one.
const RECENT: usize = 100;

#[derive(Debug, Default, PartialEq, Serialize)]
pub(crate) struct Outcomes {
    success: usize,
    failed_attempt: usize,
    permanently_failed: usize,
}

#[derive(Debug, PartialEq, Serialize)]
pub(crate) struct Latency {
    p50: Option<u64>,
    p95: Option<u64>,
    max: Option<u64>,
}

/// What a window of attempts (newest first) adds up to.
#[derive(Debug, PartialEq)]
pub(crate) struct Summary {
    attempts: usize,
    outcomes: Outcomes,
    /// Successes per attempt; `None` without attempts.
    success_rate: Option<f64>,
    latency_ms: Latency,
}

pub(crate) fn summarize(attempts: &[AttemptRecorded]) -> Summary {
    let mut outcomes = Outcomes::default();
    for attempt in attempts {
        match attempt.outcome {
            Outcome::Success => outcomes.success += 1,
            Outcome::FailedAttempt => outcomes.failed_attempt += 1,
            Outcome::PermanentlyFailed => outcomes.permanently_failed += 1,
        }
    }
    let mut latencies: Vec<u64> = attempts.iter().map(|a| a.latency_ms).collect();
    latencies.sort_unstable();
    Summary {
        attempts: attempts.len(),
        success_rate: (!attempts.is_empty()).then(|| outcomes.success as f64 / attempts.len() as f64),
        outcomes,
        latency_ms: Latency {
            p50: percentile(&latencies, 50),
            p95: percentile(&latencies, 95),
            max: latencies.last().copied(),
        },
    }
}

/// The nearest-rank percentile of sorted values: the smallest value that at least
/// `p` percent of the values do not exceed.
fn percentile(sorted: &[u64], p: usize) -> Option<u64> {
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

#[derive(Serialize)]
struct Window {
    attempts: usize,
    from: Option<String>,
    to: Option<String>,
}

#[derive(Serialize)]
struct RecentAttempt {
    task_id: String,
    attempt_number: u32,
    outcome: &'static str,
    http_status: Option<u16>,
    latency_ms: u64,
    timestamp: String,
}

/// How many attempts the subscription may have in flight.
#[derive(Serialize)]
struct Concurrency {
    /// As set: `"auto"` or a number.
    max_in_flight: Value,
    /// The limit the delivery role of this process applies now (found by adaptive
    /// concurrency under `"auto"`); null when this process runs no delivery role or
    /// did not attempt the subscription lately.
    current_limit: Option<u32>,
}

#[derive(Serialize)]
struct StatsBody {
    subscription_id: String,
    window: Window,
    outcomes: Outcomes,
    success_rate: Option<f64>,
    latency_ms: Latency,
    recent: Vec<RecentAttempt>,
    concurrency: Concurrency,
}

pub(crate) async fn subscription_stats(
    sub_id: String,
    state: Arc<ApiState>,
    caller: Caller,
) -> Result<ApiReply, ApiError> {
    let id = subscription_id(&sub_id)?;
    // A deleted subscription still has its history; one never seen has none.
    if !state.shows_subscription(&caller, id) {
        return Err(ApiError::SubscriptionNotFound);
    }
    let Some(known) = state.deps.directory.get(id).await? else {
        return Err(ApiError::SubscriptionNotFound);
    };
    let settings = known.live().map(|live| live.delivery.clone()).unwrap_or_default();
    let attempts = state.deps.views.attempts_for_subscription(id, WINDOW).await?;
    let summary = summarize(&attempts);
    let body = StatsBody {
        subscription_id: id.to_string(),
        window: Window {
            attempts: summary.attempts,
            from: attempts.iter().map(|a| a.attempted_at).min().map(timestamp),
            to: attempts.iter().map(|a| a.attempted_at).max().map(timestamp),
        },
        outcomes: summary.outcomes,
        success_rate: summary.success_rate,
        latency_ms: summary.latency_ms,
        recent: attempts
            .iter()
            .take(RECENT)
            .map(|a| RecentAttempt {
                task_id: a.task_id.to_string(),
                attempt_number: a.attempt_number,
                outcome: a.outcome.as_str(),
                http_status: a.http_status,
                latency_ms: a.latency_ms,
                timestamp: timestamp(a.attempted_at),
            })
            .collect(),
        concurrency: Concurrency {
            max_in_flight: max_in_flight(&settings),
            current_limit: state.deps.directory.in_flight_limits().current(id),
        },
    };
    ApiReply::json(StatusCode::OK, &body)
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use hookline_domain::{SubscriptionId, TaskId};

    use super::*;

    fn attempt(outcome: Outcome, latency_ms: u64) -> AttemptRecorded {
        let at = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        AttemptRecorded {
            task_id: TaskId::new(),
            subscription_id: SubscriptionId::new(),
            attempt_number: 1,
            outcome,
            http_status: None,
            error: None,
            latency_ms,
            response_body: None,
            attempted_at: at,
            next_attempt_at: None,
            task_accepted_at: at,
            event_type: None,
            replay_id: None,
        }
    }

    #[test]
    fn no_attempts_give_zeros_and_nulls() {
        let summary = summarize(&[]);
        assert_eq!(summary.attempts, 0);
        assert_eq!(summary.outcomes, Outcomes::default());
        assert_eq!(summary.success_rate, None);
        assert_eq!(summary.latency_ms, Latency { p50: None, p95: None, max: None });
    }

    #[test]
    fn outcomes_rate_and_latency_percentiles() {
        // Latencies 1..=20 ms: the 10th is the median, the 19th the 95th percentile.
        let attempts: Vec<AttemptRecorded> = (1..=20)
            .map(|ms| {
                let outcome = match ms % 4 {
                    0 => Outcome::FailedAttempt,
                    1 => Outcome::PermanentlyFailed,
                    _ => Outcome::Success,
                };
                attempt(outcome, 21 - ms)
            })
            .collect();
        let summary = summarize(&attempts);
        assert_eq!(summary.attempts, 20);
        assert_eq!(summary.outcomes, Outcomes { success: 10, failed_attempt: 5, permanently_failed: 5 });
        assert_eq!(summary.success_rate, Some(0.5));
        assert_eq!(summary.latency_ms, Latency { p50: Some(10), p95: Some(19), max: Some(20) });
    }

    #[test]
    fn percentiles_of_one_value_are_that_value() {
        let summary = summarize(&[attempt(Outcome::Success, 7)]);
        assert_eq!(summary.latency_ms, Latency { p50: Some(7), p95: Some(7), max: Some(7) });
        assert_eq!(summary.success_rate, Some(1.0));
    }

    #[test]
    fn nearest_rank() {
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[5, 9], 50), Some(5));
        assert_eq!(percentile(&[5, 9], 95), Some(9));
        assert_eq!(percentile(&[1, 2, 3, 4], 75), Some(3));
    }
}
