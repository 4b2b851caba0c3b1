//! Subscription CRUD. Writes go to the log (and the directory of this instance) and
//! wait for the views; single reads go through the directory, lists through the views.

use std::sync::Arc;

use chrono::{DateTime, Duration as ChronoDuration, DurationRound, Utc};
use hookline_domain::subscription::DISABLED_BY_USER;
use hookline_domain::{Secret, Subscription, SubscriptionEvent, SubscriptionId, SubscriptionState};
use serde_json::json;
use warp::http::{HeaderMap, StatusCode};
use warp::path::FullPath;

use crate::body::{read_limited, require_json, BodyStream};
use crate::error::ApiError;
use crate::query;
use crate::reply::ApiReply;
use crate::shapes::SubscriptionBody;
use crate::state::{subscription_id, ApiState};
use crate::subscription_input::{parse_new, parse_patch};
use crate::subscription_writes::record;

/// A subscription request is a few fields; anything much bigger is not one.
const SUBSCRIPTION_BODY_LIMIT: usize = 64 * 1024;
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

/// Now, to the microsecond: the precision the API shows, so answers match later reads.
fn now() -> DateTime<Utc> {
    let now = Utc::now();
    now.duration_trunc(ChronoDuration::microseconds(1)).unwrap_or(now)
}

async fn json_body(headers: &HeaderMap, body: BodyStream) -> Result<bytes::Bytes, ApiError> {
    require_json(headers)?;
    read_limited(headers, body, SUBSCRIPTION_BODY_LIMIT).await
}

/// The live subscription `id`, as this instance knows it.
async fn live(state: &ApiState, id: SubscriptionId) -> Result<Subscription, ApiError> {
    match state.deps.directory.get(id).await?.as_deref() {
        Some(SubscriptionState::Live(subscription)) => Ok(subscription.clone()),
        Some(SubscriptionState::Deleted { .. }) | None => Err(ApiError::SubscriptionNotFound),
    }
}

pub(crate) async fn create(state: Arc<ApiState>, headers: HeaderMap, body: BodyStream) -> Result<ApiReply, ApiError> {
    let new = parse_new(&json_body(&headers, body).await?, &state.config.target_policy)?;
    let at = now();
    let subscription = Subscription {
        id: SubscriptionId::new(),
        target_url: new.target_url,
        secret: new.secret.map(Secret::new),
        event_type_filter: new.event_type_filter,
        created_at: at,
        updated_at: at,
        enabled: new.enabled,
        disabled_reason: (!new.enabled).then(|| DISABLED_BY_USER.to_string()),
    };
    let answer = ApiReply::json(StatusCode::CREATED, &SubscriptionBody::from(&subscription))?;
    record(&state, SubscriptionEvent::SubscriptionCreated { subscription }).await?;
    Ok(answer)
}

pub(crate) async fn list(state: Arc<ApiState>, path: FullPath, raw_query: String) -> Result<ApiReply, ApiError> {
    let params = query::parse(&raw_query, &["limit", "cursor"])?;
    let limit = query::limit(&params, DEFAULT_PAGE, MAX_PAGE)?;
    let page = state.deps.views.subscriptions(limit, params.get("cursor").map(String::as_str)).await?;
    let items: Vec<SubscriptionBody> = page.items.iter().map(SubscriptionBody::from).collect();
    let mut answer = ApiReply::json(StatusCode::OK, &items)?;
    if let Some(next) = page.next {
        let next_query = form_urlencoded::Serializer::new(String::new())
            .append_pair("limit", &limit.to_string())
            .append_pair("cursor", &next)
            .finish();
        answer = answer
            .with_header("link", format!("<{}?{next_query}>; rel=\"next\"", path.as_str()))
            .with_header("x-next-cursor", next);
    }
    Ok(answer)
}

pub(crate) async fn get(id: String, state: Arc<ApiState>) -> Result<ApiReply, ApiError> {
    let subscription = live(&state, subscription_id(&id)?).await?;
    ApiReply::json(StatusCode::OK, &SubscriptionBody::from(&subscription))
}

pub(crate) async fn update(
    id: String,
    state: Arc<ApiState>,
    headers: HeaderMap,
    body: BodyStream,
) -> Result<ApiReply, ApiError> {
    let id = subscription_id(&id)?;
    let patch = parse_patch(&json_body(&headers, body).await?, &state.config.target_policy)?;
    let current = live(&state, id).await?;
    // Strictly later than the version it replaces, even within one microsecond.
    let updated_at = now().max(current.updated_at + ChronoDuration::microseconds(1));
    // Enabling clears the reason; disabling an enabled subscription records the user
    // as the reason; a subscription already disabled keeps the reason it has.
    let (enabled, disabled_reason) = match patch.enabled {
        None => (current.enabled, current.disabled_reason),
        Some(true) => (true, None),
        Some(false) if current.enabled => (false, Some(DISABLED_BY_USER.to_string())),
        Some(false) => (false, current.disabled_reason.or_else(|| Some(DISABLED_BY_USER.to_string()))),
    };
    let subscription = Subscription {
        id,
        target_url: patch.target_url.unwrap_or(current.target_url),
        secret: patch.secret.apply(current.secret.map(|s| s.expose().to_string())).map(Secret::new),
        event_type_filter: patch.event_type_filter.apply(current.event_type_filter),
        created_at: current.created_at,
        updated_at,
        enabled,
        disabled_reason,
    };
    let answer = ApiReply::json(StatusCode::OK, &SubscriptionBody::from(&subscription))?;
    record(&state, SubscriptionEvent::SubscriptionUpdated { subscription }).await?;
    Ok(answer)
}

pub(crate) async fn delete(id: String, state: Arc<ApiState>) -> Result<ApiReply, ApiError> {
    let id = subscription_id(&id)?;
    live(&state, id).await?;
    record(&state, SubscriptionEvent::SubscriptionDeleted { id, deleted_at: now() }).await?;
    ApiReply::json(StatusCode::OK, &json!({ "message": "Subscription deleted" }))
}
