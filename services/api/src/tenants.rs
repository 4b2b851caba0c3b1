//! Tenant CRUD, for the operator; a tenant caller may read its own tenant only.
//!
//! Each write is one TenantEvent appended to `hookline.tenants`; the answer waits
//! until this instance's routing directory has folded it (up to the read-your-writes
//! timeout, else 503), so that a read or a request with a new token right after the
//! answer sees it. The log's order decides between racing writes (the first creation
//! of an id wins, a deletion is final): the answer says what the directory holds.

use std::sync::Arc;

use chrono::{DateTime, Duration as ChronoDuration, DurationRound, Utc};
use hookline_domain::tenant::TenantLimits;
use hookline_domain::{topics, Tenant, TenantEvent, TenantId};
use hookline_records::tenant_record;
use hookline_views::ViewError;
use serde::Serialize;
use warp::http::{HeaderMap, StatusCode};

use crate::body::{read_json, BodyLimits, BodyStream};
use crate::caller::{parse_tenant_id, Caller};
use crate::error::ApiError;
use crate::query;
use crate::reply::ApiReply;
use crate::shapes::timestamp;
use crate::state::ApiState;
use crate::tenant_input::{parse_new_tenant, parse_tenant_patch};

/// A tenant request is a few fields; anything much bigger is not one.
pub(crate) const TENANT_BODY_LIMIT: usize = 16 * 1024;
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

#[derive(Serialize)]
struct LimitsBody {
    /// `null`: the operator's default.
    events_per_second: Option<u32>,
    max_subscriptions: Option<u32>,
}

#[derive(Serialize)]
struct TenantBody {
    id: String,
    name: String,
    limits: LimitsBody,
    created_at: String,
    updated_at: String,
}

impl From<&Tenant> for TenantBody {
    fn from(tenant: &Tenant) -> Self {
        let TenantLimits { events_per_second, max_subscriptions } = tenant.limits;
        Self {
            id: tenant.id.to_string(),
            name: tenant.name.clone(),
            limits: LimitsBody { events_per_second, max_subscriptions },
            created_at: timestamp(tenant.created_at),
            updated_at: timestamp(tenant.updated_at),
        }
    }
}

#[derive(Serialize)]
struct TenantList {
    tenants: Vec<TenantBody>,
    next_cursor: Option<String>,
}

/// Now, to the microsecond (the precision answers show), and after `previous`.
fn now_after(previous: DateTime<Utc>) -> DateTime<Utc> {
    let now = Utc::now();
    now.duration_trunc(ChronoDuration::microseconds(1)).unwrap_or(now).max(previous + ChronoDuration::microseconds(1))
}

/// Appends a tenant change and waits until this instance's directory has folded it.
pub(crate) async fn record(state: &ApiState, event: &TenantEvent) -> Result<(), ApiError> {
    let appended = state.deps.log.append(vec![tenant_record(event)]).await?;
    let appended =
        appended.first().ok_or_else(|| ApiError::UnexpectedRejection("an append without a position".into()))?;
    let patience = state.config.read_your_writes_timeout;
    state.deps.routing.wait_for(topics::TENANTS, appended, patience).await.map_err(|error| {
        tracing::warn!(tenant_id = %event.tenant_id(), kind = event.kind(), %error, "the directory did not fold a tenant change in time");
        ApiError::Unsettled
    })?;
    tracing::debug!(tenant_id = %event.tenant_id(), kind = event.kind(), "tenant change recorded");
    Ok(())
}

/// The live tenant a path names, if `caller` may see it.
pub(crate) fn visible_tenant(state: &ApiState, caller: &Caller, raw_id: &str) -> Result<Tenant, ApiError> {
    let id = parse_tenant_id(raw_id)?;
    if !caller.sees(&id) {
        return Err(ApiError::TenantNotFound);
    }
    state.deps.routing.tenant(&id).ok_or(ApiError::TenantNotFound)
}

async fn json_body(state: &ApiState, headers: &HeaderMap, body: BodyStream) -> Result<bytes::Bytes, ApiError> {
    read_json(headers, body, BodyLimits { bytes: TENANT_BODY_LIMIT, time: state.config.body_read_timeout }).await
}

pub(crate) async fn create(
    state: Arc<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    body: BodyStream,
) -> Result<ApiReply, ApiError> {
    caller.require_operator()?;
    let new = parse_new_tenant(&json_body(&state, &headers, body).await?)?;
    let id = new.id.unwrap_or_else(TenantId::generate);
    let taken = || ApiError::Conflict(format!("Tenant '{id}' already exists"));
    if state.deps.routing.tenant(&id).is_some() {
        return Err(taken());
    }
    if state.deps.routing.tenant_was_deleted(&id) {
        return Err(ApiError::Conflict(format!("Tenant '{id}' was deleted, and a tenant id is never used again")));
    }
    let at = now_after(DateTime::UNIX_EPOCH);
    let tenant = Tenant { id: id.clone(), name: new.name, limits: new.limits, created_at: at, updated_at: at };
    record(&state, &TenantEvent::TenantCreated { tenant: tenant.clone() }).await?;
    // Another creation of the same id may have come first in the log: it won.
    if state.deps.routing.tenant(&id).as_ref() != Some(&tenant) {
        return Err(taken());
    }
    ApiReply::json(StatusCode::CREATED, &TenantBody::from(&tenant))
}

/// Live tenants in id order; a tenant caller sees only its own.
pub(crate) async fn list(state: Arc<ApiState>, caller: Caller, raw_query: String) -> Result<ApiReply, ApiError> {
    let params = query::parse(&raw_query, &["limit", "cursor"])?;
    let limit = query::limit(&params, DEFAULT_PAGE, MAX_PAGE)?;
    // The cursor is the last id of the previous page.
    let after = params
        .get("cursor")
        .map(|raw| TenantId::parse(raw).map_err(|_| ApiError::Views(ViewError::InvalidCursor)))
        .transpose()?;
    let mut tenants = match caller.tenant() {
        None => state.deps.routing.tenants_after(after.as_ref(), limit + 1),
        Some(own) => state
            .deps
            .routing
            .tenant(own)
            .filter(|tenant| after.as_ref().is_none_or(|after| tenant.id > *after))
            .into_iter()
            .collect(),
    };
    let next_cursor = (tenants.len() > limit).then(|| {
        tenants.truncate(limit);
        tenants.last().map(|tenant| tenant.id.to_string())
    });
    let body =
        TenantList { tenants: tenants.iter().map(TenantBody::from).collect(), next_cursor: next_cursor.flatten() };
    ApiReply::json(StatusCode::OK, &body)
}

pub(crate) async fn get(id: String, state: Arc<ApiState>, caller: Caller) -> Result<ApiReply, ApiError> {
    let tenant = visible_tenant(&state, &caller, &id)?;
    ApiReply::json(StatusCode::OK, &TenantBody::from(&tenant))
}

pub(crate) async fn update(
    id: String,
    state: Arc<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    body: BodyStream,
) -> Result<ApiReply, ApiError> {
    caller.require_operator()?;
    let current = visible_tenant(&state, &caller, &id)?;
    let patch = parse_tenant_patch(&json_body(&state, &headers, body).await?)?;
    let tenant = Tenant {
        name: patch.name.unwrap_or(current.name),
        limits: patch.limits.apply(current.limits),
        updated_at: now_after(current.updated_at),
        ..current
    };
    record(&state, &TenantEvent::TenantUpdated { tenant: tenant.clone() }).await?;
    // What the log made of it: this change, or a later one, or a deletion that came first.
    let now = state.deps.routing.tenant(&tenant.id).ok_or(ApiError::TenantNotFound)?;
    ApiReply::json(StatusCode::OK, &TenantBody::from(&now))
}

/// Deletes for good: the id is never used again and its tokens stop working. The
/// default tenant, and a tenant that still owns live subscriptions, are kept.
pub(crate) async fn delete(id: String, state: Arc<ApiState>, caller: Caller) -> Result<ApiReply, ApiError> {
    caller.require_operator()?;
    let tenant = visible_tenant(&state, &caller, &id)?;
    if tenant.id.is_default() {
        return Err(ApiError::Conflict("The default tenant cannot be deleted".into()));
    }
    let live = state.deps.routing.live_subscriptions(&tenant.id);
    if live > 0 {
        return Err(ApiError::Conflict(format!(
            "Tenant '{}' still owns {live} live subscription(s): delete them first",
            tenant.id
        )));
    }
    record(&state, &TenantEvent::TenantDeleted { id: tenant.id, deleted_at: now_after(tenant.updated_at) }).await?;
    Ok(ApiReply::no_content())
}
