//! Where deliveries stand: one task with its attempts, or a subscription's recent attempts.

use std::sync::Arc;

use warp::http::StatusCode;

use crate::caller::Caller;
use crate::error::ApiError;
use crate::query;
use crate::reply::ApiReply;
use crate::shapes::{AttemptBody, TaskBody};
use crate::state::{subscription_id, task_id, ApiState};

const DEFAULT_ATTEMPTS: usize = 50;
const MAX_ATTEMPTS: usize = 1000;

pub(crate) async fn delivery_task(id: String, state: Arc<ApiState>, caller: Caller) -> Result<ApiReply, ApiError> {
    let id = task_id(&id)?;
    // The views are the record; the recent-task cache only covers the projector's lag.
    let task = match state.deps.views.task(id).await? {
        Some(task) => {
            state.recent_tasks.forget(id);
            task
        }
        None => state.recent_tasks.get(id).ok_or(ApiError::TaskNotFound)?,
    };
    if !state.shows_subscription(&caller, task.subscription_id) {
        return Err(ApiError::TaskNotFound);
    }
    let attempts = state.deps.views.attempts_for_task(id).await?;
    ApiReply::json(StatusCode::OK, &TaskBody::new(&task, &attempts))
}

pub(crate) async fn subscription_attempts(
    sub_id: String,
    state: Arc<ApiState>,
    caller: Caller,
    raw_query: String,
) -> Result<ApiReply, ApiError> {
    let id = subscription_id(&sub_id)?;
    let params = query::parse(&raw_query, &["limit"])?;
    let limit = query::limit(&params, DEFAULT_ATTEMPTS, MAX_ATTEMPTS)?;
    // A deleted subscription still has its history; one never seen has none.
    if !state.shows_subscription(&caller, id) || state.deps.directory.get(id).await?.is_none() {
        return Err(ApiError::SubscriptionNotFound);
    }
    let attempts = state.deps.views.attempts_for_subscription(id, limit).await?;
    let body: Vec<AttemptBody> = attempts.iter().map(AttemptBody::of_subscription).collect();
    ApiReply::json(StatusCode::OK, &body)
}
