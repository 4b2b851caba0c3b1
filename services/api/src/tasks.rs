//! Delivery tasks for a dashboard: the listing, newest first, and the retry by hand
//! of a failed task.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use chrono::Utc;
use hookline_domain::{SubscriptionId, SubscriptionState, TaskAccepted, TaskId, TaskStatus, TaskView};
use hookline_replay::payload::{read_task, StoredTask};
use hookline_views::{Page, TaskFilter};
use quick_cache::sync::Cache;
use serde::Serialize;
use warp::http::StatusCode;

use crate::caller::{tenant_param, Caller};
use crate::error::ApiError;
use crate::query;
use crate::reply::ApiReply;
use crate::shapes::TaskSummaryBody;
use crate::state::{task_id, ApiState};

const DEFAULT_TASKS: usize = 50;
const MAX_TASKS: usize = 100;
const STATUSES: [TaskStatus; 4] =
    [TaskStatus::Pending, TaskStatus::Retrying, TaskStatus::Succeeded, TaskStatus::Failed];

/// Retries queued here, by task and attempt number, so that a second request made
/// before the views show the first one's attempt (a double click) queues nothing.
pub(crate) struct QueuedRetries {
    queued: Cache<(TaskId, u32), ()>,
}

impl QueuedRetries {
    /// Enough for every retry of the views' lag; an older entry names an attempt the
    /// views already show, which no request asks for again.
    const CAPACITY: usize = 10_000;

    pub(crate) fn new() -> Self {
        Self { queued: Cache::new(Self::CAPACITY) }
    }
}

#[derive(Serialize)]
struct TaskList {
    tasks: Vec<TaskSummaryBody>,
    next_cursor: Option<String>,
}

#[derive(Serialize)]
struct RetryQueued {
    message: &'static str,
    task_id: String,
    attempt_number: u32,
}

/// Tasks newest first (see [`page_in_scope`]).
pub(crate) async fn list(state: Arc<ApiState>, caller: Caller, raw_query: String) -> Result<ApiReply, ApiError> {
    let params = query::parse(&raw_query, &["subscription_id", "status", "limit", "cursor", "tenant_id"])?;
    let limit = query::limit(&params, DEFAULT_TASKS, MAX_TASKS)?;
    let filter = TaskFilter {
        subscription: subscription_param(&params)?,
        status: status_param(&params)?,
        ..TaskFilter::default()
    };
    let page = page_in_scope(&state, &caller, &params, filter, limit).await?;
    let body = TaskList { tasks: page.items.iter().map(TaskSummaryBody::from).collect(), next_cursor: page.next };
    ApiReply::json(StatusCode::OK, &body)
}

/// One page of the tasks `filter` keeps, newest first, from `cursor` on. Narrowed to
/// one tenant (a tenant caller's own, or the operator's `tenant_id`), a page is the
/// views' page with other tenants' tasks left out: it may hold fewer than `limit`,
/// and the cursor goes on.
pub(crate) async fn page_in_scope(
    state: &ApiState,
    caller: &Caller,
    params: &HashMap<String, String>,
    filter: TaskFilter,
    limit: usize,
) -> Result<Page<TaskView>, ApiError> {
    let scope = caller.list_scope(tenant_param(params)?)?;
    if let Some(tenant) = &scope {
        state.deps.routing.tenant(tenant).ok_or(ApiError::TenantNotFound)?;
    }
    let mut page = state.deps.views.tasks(filter, limit, params.get("cursor").map(String::as_str)).await?;
    if let Some(tenant) = &scope {
        page.items.retain(|task| state.deps.routing.owner(task.subscription_id).as_ref() == Some(tenant));
    }
    Ok(page)
}

/// The `subscription_id` parameter, if given.
pub(crate) fn subscription_param(params: &HashMap<String, String>) -> Result<Option<SubscriptionId>, ApiError> {
    params
        .get("subscription_id")
        .map(|raw| {
            SubscriptionId::from_str(raw)
                .map_err(|_| ApiError::BadRequest(format!("Invalid subscription_id '{raw}': must be a UUID")))
        })
        .transpose()
}

fn status_param(params: &HashMap<String, String>) -> Result<Option<TaskStatus>, ApiError> {
    params
        .get("status")
        .map(|raw| {
            STATUSES.into_iter().find(|status| status.as_str() == raw).ok_or_else(|| {
                let known: Vec<&str> = STATUSES.iter().map(|status| status.as_str()).collect();
                ApiError::BadRequest(format!("Invalid status '{raw}': must be one of {}", known.join(", ")))
            })
        })
        .transpose()
}

/// Queues one more attempt of a failed task, numbered after its last, due at once;
/// answers once the record is durable in the log.
pub(crate) async fn retry(id: String, state: Arc<ApiState>, caller: Caller) -> Result<ApiReply, ApiError> {
    let id = task_id(&id)?;
    let Some(task) = state.deps.views.task(id).await? else {
        // Accepted here a moment ago and not yet in the views: pending.
        return Err(match state.recent_tasks.get(id) {
            Some(task) if state.shows_subscription(&caller, task.subscription_id) => not_failed(TaskStatus::Pending),
            Some(_) | None => ApiError::TaskNotFound,
        });
    };
    if !state.shows_subscription(&caller, task.subscription_id) {
        return Err(ApiError::TaskNotFound);
    }
    if task.status() != TaskStatus::Failed {
        return Err(not_failed(task.status()));
    }
    match state.deps.directory.get(task.subscription_id).await?.as_deref() {
        Some(SubscriptionState::Live(subscription)) if subscription.enabled => {}
        Some(SubscriptionState::Live(_)) => {
            return Err(ApiError::Conflict(
                "The task's subscription is disabled: enable it before retrying the task".into(),
            ))
        }
        Some(SubscriptionState::Deleted { .. }) | None => {
            return Err(ApiError::Conflict("The task's subscription was deleted: the task cannot be retried".into()))
        }
    }
    let accepted = accepted_task(&state, id).await?;
    let attempt = task.attempts_count() + 1;
    let record = hookline_records::retried_by_hand(&state.config.retry, &accepted, attempt, Utc::now(), None)
        .ok_or_else(|| ApiError::Conflict("Retries are off (MAX_RETRIES is 1): a task cannot be retried".into()))?;
    // A concurrent request for the same attempt waits here until this one is durable
    // (then it is refused) or has failed (then it tries itself).
    match state.queued_retries.queued.get_value_or_guard_async(&(id, attempt)).await {
        Ok(()) => return Err(ApiError::Conflict(format!("Attempt {attempt} of the task is already queued"))),
        Err(guard) => {
            state.deps.log.append(vec![record]).await?;
            let _ = guard.insert(());
        }
    }
    tracing::info!(task_id = %id, subscription_id = %task.subscription_id, attempt, "retry by hand queued");
    let body = RetryQueued { message: "Retry queued", task_id: id.to_string(), attempt_number: attempt };
    ApiReply::json(StatusCode::ACCEPTED, &body)
}

/// The task as it was accepted, payload included, read from the log where the views
/// point: the views keep no copy of a payload.
async fn accepted_task(state: &ApiState, id: TaskId) -> Result<TaskAccepted, ApiError> {
    match read_task(state.deps.views.as_ref(), state.deps.log.as_ref(), id).await? {
        StoredTask::Found(task) => Ok(task),
        StoredTask::NotKept => {
            Err(ApiError::Conflict("The task's payload is no longer kept: the task cannot be retried".into()))
        }
        StoredTask::Gone(position) => Err(ApiError::Conflict(format!(
            "The log no longer holds the task's payload ({position}, past the log's retention): the task cannot be retried"
        ))),
    }
}

fn not_failed(status: TaskStatus) -> ApiError {
    ApiError::Conflict(format!("The task is {}: only a failed task can be retried", status.as_str()))
}
