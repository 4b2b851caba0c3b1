//! Dead letters: the tasks that failed for good (every attempt failed, or none could
//! succeed), newest first, with when and why they failed. They are the `failed` tasks
//! of the task listing, paged the same way; the time a task failed for good is its
//! last attempt's.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use hookline_domain::{SubscriptionId, TaskStatus, TaskView};
use hookline_views::TaskFilter;
use serde::Serialize;
use warp::http::StatusCode;

use crate::caller::{tenant_param, Caller};
use crate::error::ApiError;
use crate::query;
use crate::reply::ApiReply;
use crate::shapes::timestamp;
use crate::state::ApiState;
use crate::tasks::{page_in_scope, subscription_param};

const DEFAULT_DEAD_LETTERS: usize = 50;
const MAX_DEAD_LETTERS: usize = 100;

#[derive(Serialize)]
struct DeadLetterBody {
    task_id: String,
    subscription_id: String,
    event_type: Option<String>,
    accepted_at: String,
    failed_at: String,
    attempts: u32,
    last_http_status: Option<u16>,
    last_error: Option<String>,
}

impl DeadLetterBody {
    /// The dead letter a failed task is; `None` for a task without an attempt, which
    /// has not failed.
    fn of(task: &TaskView) -> Option<Self> {
        let last = task.last_attempt.as_ref()?;
        Some(Self {
            task_id: task.task_id.to_string(),
            subscription_id: task.subscription_id.to_string(),
            event_type: task.event_type.clone(),
            accepted_at: timestamp(task.created_at),
            failed_at: timestamp(last.at),
            attempts: last.number,
            last_http_status: last.http_status,
            last_error: last.error.clone(),
        })
    }
}

#[derive(Serialize)]
struct DeadLetterList {
    dead_letters: Vec<DeadLetterBody>,
    next_cursor: Option<String>,
}

/// When a dead letter failed, as asked: `since` included, `until` not.
#[derive(Clone, Copy, Debug, PartialEq)]
struct FailedWithin {
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
}

impl FailedWithin {
    fn keeps(&self, task: &TaskView) -> bool {
        task.last_attempt.as_ref().is_some_and(|last| {
            self.since.is_none_or(|since| last.at >= since) && self.until.is_none_or(|until| last.at < until)
        })
    }
}

/// Dead letters newest first (by acceptance, as every task listing), of one
/// subscription, one tenant or (the operator) all; a page may hold fewer than `limit`
/// and the cursor goes on, as for tasks.
pub(crate) async fn list(state: Arc<ApiState>, caller: Caller, raw_query: String) -> Result<ApiReply, ApiError> {
    let params = query::parse(&raw_query, &["subscription_id", "tenant_id", "since", "until", "limit", "cursor"])?;
    let limit = query::limit(&params, DEFAULT_DEAD_LETTERS, MAX_DEAD_LETTERS)?;
    let subscription = subscription_param(&params)?;
    let within = FailedWithin { since: query::time(&params, "since")?, until: query::time(&params, "until")? };
    if let (Some(since), Some(until)) = (within.since, within.until) {
        if since >= until {
            return Err(ApiError::BadRequest("Invalid time range: since must be before until".into()));
        }
    }
    if let Some(id) = subscription {
        check_subscription(&state, &caller, &params, id).await?;
    }
    // A task failed after it was accepted: one accepted at or after `until` failed after it too.
    let filter = TaskFilter {
        subscription,
        status: Some(TaskStatus::Failed),
        accepted_before: within.until,
        ..TaskFilter::default()
    };
    let page = page_in_scope(&state, &caller, &params, filter, limit).await?;
    let dead_letters = page.items.iter().filter(|task| within.keeps(task)).filter_map(DeadLetterBody::of).collect();
    ApiReply::json(StatusCode::OK, &DeadLetterList { dead_letters, next_cursor: page.next })
}

/// A subscription asked for must be one the caller sees, within the tenant named if
/// one is: another tenant's answers as an unknown one. A deleted subscription keeps
/// its dead letters.
async fn check_subscription(
    state: &ApiState,
    caller: &Caller,
    params: &HashMap<String, String>,
    id: SubscriptionId,
) -> Result<(), ApiError> {
    let scope = caller.list_scope(tenant_param(params)?)?;
    let owner = state.deps.routing.owner(id);
    if scope.is_some_and(|tenant| owner != Some(tenant)) || state.deps.directory.get(id).await?.is_none() {
        return Err(ApiError::SubscriptionNotFound);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use hookline_domain::task::LastAttempt;
    use hookline_domain::{Outcome, TaskId};

    use super::*;

    fn failed_at(secs: i64) -> TaskView {
        let at = Utc.timestamp_opt(secs, 0).unwrap();
        TaskView {
            task_id: TaskId::new(),
            subscription_id: SubscriptionId::new(),
            event_type: Some("order.created".into()),
            created_at: Utc.timestamp_opt(0, 0).unwrap(),
            last_attempt: Some(LastAttempt {
                number: 4,
                outcome: Outcome::PermanentlyFailed,
                at,
                http_status: Some(500),
                error: Some("HTTP 500".into()),
                next_attempt_at: None,
                replay_id: None,
            }),
        }
    }

    #[test]
    fn the_range_is_on_the_time_of_the_last_attempt_since_included_until_not() {
        let at = |secs| Some(Utc.timestamp_opt(secs, 0).unwrap());
        let within = FailedWithin { since: at(100), until: at(200) };
        assert!(!within.keeps(&failed_at(99)));
        assert!(within.keeps(&failed_at(100)));
        assert!(within.keeps(&failed_at(199)));
        assert!(!within.keeps(&failed_at(200)));
        assert!(FailedWithin { since: None, until: None }.keeps(&failed_at(0)));
    }

    #[test]
    fn a_dead_letter_shows_its_last_attempt() {
        let task = failed_at(100);
        let body = serde_json::to_value(DeadLetterBody::of(&task).unwrap()).unwrap();
        assert_eq!(body["attempts"], 4);
        assert_eq!(body["last_http_status"], 500);
        assert_eq!(body["last_error"], "HTTP 500");
        assert_eq!(body["failed_at"], "1970-01-01T00:01:40.000000+00:00");
        assert_eq!(body["accepted_at"], "1970-01-01T00:00:00.000000+00:00");
        let pending = TaskView { last_attempt: None, ..task };
        assert!(DeadLetterBody::of(&pending).is_none());
    }
}
