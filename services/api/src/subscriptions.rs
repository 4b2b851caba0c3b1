//! Subscription CRUD and secret rotation. Writes are changes that state the version
//! they build on (see `subscription_writes`); single reads go through the directory
//! and carry the version as their `ETag`, lists go through the views (their secrets
//! opened with the directory's sealer). Every subscription belongs to a tenant for
//! good; a tenant caller sees only its own (another's answers as unknown), and a
//! tenant has at most its `max_subscriptions` live ones.

use std::sync::Arc;

use chrono::{DateTime, Duration as ChronoDuration, DurationRound, TimeDelta, Utc};
use hookline_domain::subscription::DISABLED_BY_USER;
use hookline_domain::{Secret, Subscription, SubscriptionEvent, SubscriptionId, SubscriptionState, TenantId};
use hookline_secrets::generate_secret;
use hookline_views::ViewError;
use serde_json::json;
use warp::http::{HeaderMap, StatusCode};
use warp::path::FullPath;

use crate::body::{read_json, read_limited, require_json, BodyLimits, BodyStream};
use crate::caller::{tenant_param, Caller};
use crate::error::ApiError;
use crate::query;
use crate::reply::ApiReply;
use crate::shapes::SubscriptionBody;
use crate::state::{subscription_id, ApiState};
use crate::subscription_input::{parse_new, parse_patch, parse_rotation, DeliveryRules};
use crate::subscription_writes::{change, etag, record, Precondition};
use hookline_lookup::Verdict;
use uuid::Uuid;

/// A subscription request is a few fields; anything much bigger is not one.
const SUBSCRIPTION_BODY_LIMIT: usize = 64 * 1024;
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

/// Now, to the microsecond: the precision the API shows, so answers match later reads.
fn now() -> DateTime<Utc> {
    let now = Utc::now();
    now.duration_trunc(ChronoDuration::microseconds(1)).unwrap_or(now)
}

fn body_limits(state: &ApiState) -> BodyLimits {
    BodyLimits { bytes: SUBSCRIPTION_BODY_LIMIT, time: state.config.body_read_timeout }
}

async fn json_body(state: &ApiState, headers: &HeaderMap, body: BodyStream) -> Result<bytes::Bytes, ApiError> {
    read_json(headers, body, body_limits(state)).await
}

/// Strictly later than `previous`, even within one microsecond.
fn now_after(previous: DateTime<Utc>) -> DateTime<Utc> {
    now().max(previous + ChronoDuration::microseconds(1))
}

/// The live subscription `id`, as this instance knows it, if `caller` may see it.
async fn live(state: &ApiState, caller: &Caller, id: SubscriptionId) -> Result<Subscription, ApiError> {
    match state.deps.directory.get(id).await?.as_deref() {
        Some(SubscriptionState::Live(subscription)) if caller.sees(&subscription.tenant_id) => Ok(subscription.clone()),
        Some(_) | None => Err(ApiError::SubscriptionNotFound),
    }
}

/// Refuses a new subscription for `tenant` unless the tenant exists and is below its cap.
fn check_room(state: &ApiState, tenant: &TenantId) -> Result<(), ApiError> {
    let known = state.deps.routing.tenant(tenant).ok_or(ApiError::TenantNotFound)?;
    let cap = known.limits.max_subscriptions.unwrap_or(state.config.tenant_defaults.max_subscriptions);
    if state.deps.routing.live_subscriptions(tenant) >= cap as usize {
        return Err(ApiError::Conflict(format!(
            "Tenant '{tenant}' has reached its limit of {cap} live subscriptions: delete one first"
        )));
    }
    Ok(())
}

/// The answer for a subscription: its body, and its version as the `ETag`.
fn answer(status: StatusCode, subscription: &Subscription) -> Result<ApiReply, ApiError> {
    Ok(ApiReply::json(status, &SubscriptionBody::from(subscription))?.with_header("etag", etag(subscription.version)))
}

/// The subscription a change applied leaves.
fn applied(event: SubscriptionEvent) -> Result<Subscription, ApiError> {
    match event {
        SubscriptionEvent::SubscriptionCreated { subscription }
        | SubscriptionEvent::SubscriptionUpdated { subscription } => Ok(subscription),
        SubscriptionEvent::SubscriptionDeleted { .. } => {
            Err(ApiError::UnexpectedRejection("a deletion where a change was expected".into()))
        }
    }
}

pub(crate) async fn create(
    state: Arc<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    body: BodyStream,
) -> Result<ApiReply, ApiError> {
    let rules = DeliveryRules::of(&state.config);
    let new = parse_new(&json_body(&state, &headers, body).await?, &state.config.target_policy, &rules)?;
    let tenant_id = caller.tenant_named(new.tenant_id)?;
    check_room(&state, &tenant_id)?;
    let at = now();
    let subscription = Subscription {
        tenant_id,
        secret: new.secret.map(Secret::new),
        enabled: new.enabled,
        disabled_reason: (!new.enabled).then(|| DISABLED_BY_USER.to_string()),
        ordering: new.ordering,
        write_id: Some(Uuid::new_v4()),
        delivery: new.delivery,
        ..Subscription::new(SubscriptionId::new(), new.target_url, at)
    }
    .with_patterns(new.patterns);
    let reply = answer(StatusCode::CREATED, &subscription)?;
    match record(&state, &SubscriptionEvent::SubscriptionCreated { subscription }, None).await? {
        Verdict::Applied => Ok(reply),
        // A fresh id is refused only if the log already held it: not this request's doing.
        Verdict::Refused => Err(ApiError::UnexpectedRejection("a new subscription id was already taken".into())),
        Verdict::Unknown => Err(ApiError::Unsettled),
    }
}

/// Live subscriptions in id order. Narrowed to one tenant (a tenant caller's own, or
/// the operator's `tenant_id`) or to the enabled or disabled ones (`enabled`), a page
/// is the views' page of every subscription with the others left out: it may hold
/// fewer than `limit`, and the cursor goes on.
pub(crate) async fn list(
    state: Arc<ApiState>,
    caller: Caller,
    path: FullPath,
    raw_query: String,
) -> Result<ApiReply, ApiError> {
    let params = query::parse(&raw_query, &["limit", "cursor", "tenant_id", "enabled"])?;
    let limit = query::limit(&params, DEFAULT_PAGE, MAX_PAGE)?;
    let enabled = params
        .get("enabled")
        .map(|raw| match raw.as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(ApiError::BadRequest(format!("Invalid enabled '{raw}': must be true or false"))),
        })
        .transpose()?;
    let scope = caller.list_scope(tenant_param(&params)?)?;
    if let Some(tenant) = &scope {
        state.deps.routing.tenant(tenant).ok_or(ApiError::TenantNotFound)?;
    }
    let page = state.deps.views.subscriptions(limit, params.get("cursor").map(String::as_str)).await?;
    let sealer = state.deps.directory.sealer();
    let items = page
        .items
        .into_iter()
        .filter(|stored| scope.as_ref().is_none_or(|tenant| *tenant == stored.tenant_id))
        .filter(|stored| enabled.is_none_or(|enabled| enabled == stored.enabled))
        .map(|stored| {
            let subscription = sealer.open_subscription(stored).map_err(|e| ViewError::Corrupt(e.to_string()))?;
            Ok(SubscriptionBody::from(&subscription))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let mut answer = ApiReply::json(StatusCode::OK, &items)?;
    if let Some(next) = page.next {
        let mut next_query = form_urlencoded::Serializer::new(String::new());
        for name in ["tenant_id", "enabled"] {
            if let Some(value) = params.get(name) {
                next_query.append_pair(name, value);
            }
        }
        let next_query = next_query.append_pair("limit", &limit.to_string()).append_pair("cursor", &next).finish();
        answer = answer
            .with_header("link", format!("<{}?{next_query}>; rel=\"next\"", path.as_str()))
            .with_header("x-next-cursor", next);
    }
    Ok(answer)
}

pub(crate) async fn get(id: String, state: Arc<ApiState>, caller: Caller) -> Result<ApiReply, ApiError> {
    let subscription = live(&state, &caller, subscription_id(&id)?).await?;
    answer(StatusCode::OK, &subscription)
}

pub(crate) async fn update(
    id: String,
    state: Arc<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    body: BodyStream,
) -> Result<ApiReply, ApiError> {
    let id = subscription_id(&id)?;
    let precondition = Precondition::of(&headers)?;
    let rules = DeliveryRules::of(&state.config);
    let patch = parse_patch(&json_body(&state, &headers, body).await?, &state.config.target_policy, &rules)?;
    let grace = default_grace(&state);
    let event = change(&state, &caller, id, precondition, |current| {
        let updated_at = now_after(current.updated_at);
        // Enabling clears the reason; disabling an enabled subscription records the user
        // as the reason; a subscription already disabled keeps the reason it has.
        let (enabled, disabled_reason) = match patch.enabled {
            None => (current.enabled, current.disabled_reason.clone()),
            Some(true) => (true, None),
            Some(false) if current.enabled => (false, Some(DISABLED_BY_USER.to_string())),
            Some(false) => (false, current.disabled_reason.clone().or_else(|| Some(DISABLED_BY_USER.to_string()))),
        };
        // A changed secret is a rotation with the configured grace.
        let secret =
            patch.secret.clone().apply(current.secret.as_ref().map(|s| s.expose().to_string())).map(Secret::new);
        let rotated = current.with_rotated_secret(secret, grace, updated_at);
        let patterns = patch.patterns.clone().apply(rotated.patterns());
        let delivery = patch.delivery.clone().apply(rotated.delivery.clone());
        let subscription = Subscription {
            target_url: patch.target_url.clone().unwrap_or(rotated.target_url.clone()),
            enabled,
            disabled_reason,
            ordering: patch.ordering.unwrap_or(rotated.ordering),
            delivery,
            ..rotated
        }
        .with_patterns(patterns);
        Ok(SubscriptionEvent::SubscriptionUpdated { subscription: subscription.next_version(Uuid::new_v4()) })
    })
    .await?;
    answer(StatusCode::OK, &applied(event)?)
}

/// Replaces the secret (with the one given, or a generated one); the replaced secret
/// stays valid for the grace asked for, or the configured one.
pub(crate) async fn rotate_secret(
    id: String,
    state: Arc<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    body: BodyStream,
) -> Result<ApiReply, ApiError> {
    let id = subscription_id(&id)?;
    let precondition = Precondition::of(&headers)?;
    let body = read_limited(&headers, body, body_limits(&state)).await?;
    // The body is optional; one that is sent must be JSON.
    if !body.iter().all(u8::is_ascii_whitespace) {
        require_json(&headers)?;
    }
    let rotation = parse_rotation(&body)?;
    // Chosen once: a rotation built again after another change keeps its secret.
    let secret = Secret::new(rotation.secret.unwrap_or_else(generate_secret));
    let grace = match rotation.grace {
        Some(grace) => TimeDelta::from_std(grace).unwrap_or(TimeDelta::MAX),
        None => default_grace(&state),
    };
    let event = change(&state, &caller, id, precondition, |current| {
        let subscription = current.with_rotated_secret(Some(secret.clone()), grace, now_after(current.updated_at));
        Ok(SubscriptionEvent::SubscriptionUpdated { subscription: subscription.next_version(Uuid::new_v4()) })
    })
    .await?;
    answer(StatusCode::OK, &applied(event)?)
}

fn default_grace(state: &ApiState) -> TimeDelta {
    TimeDelta::from_std(state.config.secret_rotation_grace).unwrap_or(TimeDelta::MAX)
}

/// Deletes for good: no later change brings the subscription back.
pub(crate) async fn delete(
    id: String,
    state: Arc<ApiState>,
    caller: Caller,
    headers: HeaderMap,
) -> Result<ApiReply, ApiError> {
    let id = subscription_id(&id)?;
    let precondition = Precondition::of(&headers)?;
    change(&state, &caller, id, precondition, |current| {
        Ok(SubscriptionEvent::SubscriptionDeleted {
            id,
            deleted_at: now_after(current.updated_at),
            version: current.version + 1,
            write_id: Some(Uuid::new_v4()),
        })
    })
    .await?;
    ApiReply::json(StatusCode::OK, &json!({ "message": "Subscription deleted" }))
}
