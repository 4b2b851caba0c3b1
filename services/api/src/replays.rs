//! Replays: `POST /replays` asks for one (or counts what it would send, with
//! `dry_run`), `GET /replays/{id}` shows where it stands, `GET /replays` lists them
//! newest first, `DELETE /replays/{id}` cancels it. The replay role does the work
//! (see `hookline_replay`); the API writes the request and the cancellation to
//! `hookline.replays` and reads the views.
//!
//! A replay names one subscription, or a tenant (its enabled subscriptions when asked,
//! fixed in the request). A tenant's token sees only its own tenant's replays; another
//! tenant's replay answers as an unknown one.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use hookline_domain::replay::{ReplayRequested, ReplayScope, ReplaySelection, ReplayState};
use hookline_domain::{ReplayEvent, ReplayId, SubscriptionId, SubscriptionState, TenantId};
use hookline_replay::walk::Walk;
use hookline_views::ReplayView;
use quick_cache::sync::Cache;
use serde::Serialize;
use warp::http::{HeaderMap, StatusCode};

use crate::body::{read_json, BodyLimits, BodyStream};
use crate::caller::{tenant_param, Caller};
use crate::error::{ApiError, IdKind};
use crate::query;
use crate::replay_input::{parse_replay, Named, NewReplay};
use crate::reply::ApiReply;
use crate::shapes::timestamp;
use crate::state::ApiState;

const DEFAULT_REPLAYS: usize = 20;
const MAX_REPLAYS: usize = 100;

/// Replays asked for here lately, so that a read right after the 202 finds the replay
/// (running, nothing queued yet) before the projector has folded its request.
pub(crate) struct RecentReplays {
    requested: Cache<ReplayId, ReplayRequested>,
}

impl RecentReplays {
    /// Far more than are asked for within the projector's lag.
    const CAPACITY: usize = 1_000;
    /// How long a replay is answered from here at most; past it only the views answer.
    const LAG_WINDOW: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

    pub(crate) fn new() -> Self {
        Self { requested: Cache::new(Self::CAPACITY) }
    }

    fn get(&self, id: ReplayId) -> Option<ReplayRequested> {
        self.requested.get(&id).filter(|request| Utc::now() - request.requested_at < Self::LAG_WINDOW)
    }
}

#[derive(Serialize)]
struct Requested {
    replay_id: Option<ReplayId>,
    matched: u64,
    /// False when the count stopped at its bound: at least `matched` tasks match.
    matched_exact: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    dry_run: bool,
}

#[derive(Serialize)]
struct SelectionBody {
    subscription_id: Option<SubscriptionId>,
    tenant_id: Option<String>,
    since: String,
    until: String,
    status: Vec<&'static str>,
    event_types: Option<Vec<String>>,
}

#[derive(Serialize)]
struct ReplayBody {
    replay_id: ReplayId,
    tenant_id: String,
    state: &'static str,
    selection: SelectionBody,
    target_url: Option<String>,
    rate_per_second: u32,
    matched: u64,
    queued: u64,
    delivered: u64,
    failed: u64,
    started_at: String,
    finished_at: Option<String>,
    cancelled_at: Option<String>,
    reason: Option<String>,
}

impl ReplayBody {
    fn new(view: &ReplayView) -> Self {
        let request = &view.request;
        let selection = &request.selection;
        let (subscription_id, tenant_id) = match &selection.scope {
            ReplayScope::Subscription(id) => (Some(*id), None),
            ReplayScope::Tenant(tenant) => (None, Some(tenant.to_string())),
        };
        Self {
            replay_id: request.replay_id,
            tenant_id: request.tenant_id.to_string(),
            state: view.state.as_str(),
            selection: SelectionBody {
                subscription_id,
                tenant_id,
                since: timestamp(selection.since),
                until: timestamp(selection.until),
                status: selection.statuses.iter().map(|status| status.as_str()).collect(),
                event_types: selection
                    .event_types
                    .as_ref()
                    .map(|patterns| patterns.iter().cloned().map(String::from).collect()),
            },
            target_url: request.target_url.clone(),
            rate_per_second: request.rate_per_second,
            matched: request.matched,
            queued: view.queued,
            delivered: view.delivered,
            failed: view.failed,
            started_at: timestamp(request.requested_at),
            finished_at: view.finished_at.map(timestamp),
            cancelled_at: view.cancelled_at.map(timestamp),
            reason: view.reason.clone(),
        }
    }
}

/// A replay asked for that the views do not show yet: running, nothing queued.
fn just_requested(request: ReplayRequested) -> ReplayView {
    ReplayView {
        request,
        state: ReplayState::Running,
        cancelled_at: None,
        queued: 0,
        all_queued: false,
        next: None,
        delivered: 0,
        failed: 0,
        finished_at: None,
        reason: None,
    }
}

#[derive(Serialize)]
struct ReplayList {
    replays: Vec<ReplayBody>,
    next_cursor: Option<String>,
}

#[derive(Serialize)]
struct Cancelled {
    message: String,
    replay_id: ReplayId,
}

/// Asks for a replay, or counts what it would send (`dry_run`). The 202 comes once the
/// request is durable in the log.
pub(crate) async fn create(
    state: Arc<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    body: BodyStream,
) -> Result<ApiReply, ApiError> {
    let limits = BodyLimits { bytes: state.config.max_body_bytes, time: state.config.body_read_timeout };
    let body = read_json(&headers, body, limits).await?;
    let now = Utc::now();
    let asked = parse_replay(&body, &state.config.target_policy, now)?;
    let (tenant_id, scope, subscriptions) = scope(&state, &caller, &asked.named).await?;
    if state.config.retry.tier_delays().is_empty() {
        return Err(ApiError::Conflict("Retries are off (MAX_RETRIES is 1): nothing can be replayed".into()));
    }
    let NewReplay { since, until, statuses, event_types, target_url, rate_per_second, dry_run, .. } = asked;
    let selection = ReplaySelection { scope, since, until, statuses, event_types };
    let count = Walk::new(state.deps.views.as_ref(), &selection, &subscriptions).count().await?;
    if dry_run {
        let body = Requested { replay_id: None, matched: count.matched, matched_exact: count.exact, dry_run: true };
        return ApiReply::json(StatusCode::OK, &body);
    }
    let request = ReplayRequested {
        replay_id: ReplayId::new(),
        tenant_id,
        selection,
        subscriptions,
        target_url,
        rate_per_second,
        matched: count.matched,
        requested_at: now,
    };
    let record = hookline_records::replay_record(&ReplayEvent::ReplayRequested(request.clone()));
    state.deps.log.append(vec![record]).await?;
    tracing::info!(replay_id = %request.replay_id, tenant_id = %request.tenant_id, matched = count.matched, "replay requested");
    let replay_id = request.replay_id;
    state.recent_replays.requested.insert(replay_id, request);
    let body =
        Requested { replay_id: Some(replay_id), matched: count.matched, matched_exact: count.exact, dry_run: false };
    ApiReply::json(StatusCode::ACCEPTED, &body)
}

/// The tenant, scope and subscriptions of a replay naming `named`, as `caller` may ask.
async fn scope(
    state: &ApiState,
    caller: &Caller,
    named: &Named,
) -> Result<(TenantId, ReplayScope, Vec<SubscriptionId>), ApiError> {
    match named {
        Named::Subscription(id) => {
            let subscription = match state.deps.directory.get(*id).await?.as_deref() {
                _ if !state.shows_subscription(caller, *id) => return Err(ApiError::SubscriptionNotFound),
                Some(SubscriptionState::Live(subscription)) if subscription.enabled => subscription.clone(),
                Some(SubscriptionState::Live(_)) => {
                    return Err(ApiError::Conflict(
                        "The subscription is disabled: enable it first, then replay its tasks".into(),
                    ))
                }
                Some(SubscriptionState::Deleted { .. }) => {
                    return Err(ApiError::Conflict("The subscription was deleted: its tasks cannot be replayed".into()))
                }
                None => return Err(ApiError::SubscriptionNotFound),
            };
            Ok((subscription.tenant_id.clone(), ReplayScope::Subscription(*id), vec![*id]))
        }
        Named::Tenant(tenant) => tenant_scope(state, caller.tenant_named(Some(tenant.clone()))?),
        Named::Nothing => match caller.tenant() {
            Some(own) => tenant_scope(state, own.clone()),
            None => Err(ApiError::Validation(
                [("subscription_id".to_string(), "name a subscription_id or a tenant_id".to_string())].into(),
            )),
        },
    }
}

fn tenant_scope(state: &ApiState, tenant: TenantId) -> Result<(TenantId, ReplayScope, Vec<SubscriptionId>), ApiError> {
    state.deps.routing.tenant(&tenant).ok_or(ApiError::TenantNotFound)?;
    let subscriptions = state.deps.routing.enabled_subscriptions(&tenant);
    Ok((tenant.clone(), ReplayScope::Tenant(tenant), subscriptions))
}

/// The replay `id` as `caller` may see it: from the views, else as asked for here lately.
async fn visible(state: &ApiState, caller: &Caller, id: &str) -> Result<ReplayView, ApiError> {
    let id = ReplayId::from_str(id).map_err(|_| ApiError::InvalidId(IdKind::Replay))?;
    let view = match state.deps.views.replay(id).await? {
        Some(view) => view,
        None => state.recent_replays.get(id).map(just_requested).ok_or(ApiError::ReplayNotFound)?,
    };
    if !caller.sees(&view.request.tenant_id) {
        return Err(ApiError::ReplayNotFound);
    }
    Ok(view)
}

pub(crate) async fn get(id: String, state: Arc<ApiState>, caller: Caller) -> Result<ApiReply, ApiError> {
    let view = visible(&state, &caller, &id).await?;
    ApiReply::json(StatusCode::OK, &ReplayBody::new(&view))
}

/// Replays newest first: a tenant caller's own, or the operator's `tenant_id` (every
/// tenant's when the operator names none).
pub(crate) async fn list(state: Arc<ApiState>, caller: Caller, raw_query: String) -> Result<ApiReply, ApiError> {
    let params = query::parse(&raw_query, &["tenant_id", "limit", "cursor"])?;
    let limit = query::limit(&params, DEFAULT_REPLAYS, MAX_REPLAYS)?;
    let scope = caller.list_scope(tenant_param(&params)?)?;
    if let Some(tenant) = &scope {
        state.deps.routing.tenant(tenant).ok_or(ApiError::TenantNotFound)?;
    }
    let page = state.deps.views.replays(scope.as_ref(), limit, params.get("cursor").map(String::as_str)).await?;
    let body = ReplayList { replays: page.items.iter().map(ReplayBody::new).collect(), next_cursor: page.next };
    ApiReply::json(StatusCode::OK, &body)
}

/// Cancels a replay: nothing more is queued; what is queued is still delivered.
pub(crate) async fn cancel(id: String, state: Arc<ApiState>, caller: Caller) -> Result<ApiReply, ApiError> {
    let view = visible(&state, &caller, &id).await?;
    if view.state.is_final() {
        return Err(ApiError::Conflict(format!("The replay already ended ({})", view.state.as_str())));
    }
    let replay_id = view.request.replay_id;
    let at: DateTime<Utc> = Utc::now();
    let record = hookline_records::replay_record(&ReplayEvent::ReplayCancelled { replay_id, at });
    state.deps.log.append(vec![record]).await?;
    tracing::info!(%replay_id, queued = view.queued, "replay cancelled");
    let message =
        format!("Replay cancelled: nothing more is queued; tasks already queued ({}) are still delivered", view.queued);
    ApiReply::json(StatusCode::ACCEPTED, &Cancelled { message, replay_id })
}
