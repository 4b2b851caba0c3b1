//! A tenant's API tokens: made, listed (with when each was last used, see
//! `token_use`) and revoked by the operator or by the tenant itself. A token is shown
//! once, in the answer that makes it; only its digest and first characters are kept. A revocation takes effect on each process as soon as
//! its routing directory reads it; this instance has read it before it answers.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{Duration as ChronoDuration, DurationRound, Utc};
use hookline_domain::{TenantEvent, TenantToken, TokenId};
use hookline_secrets::generate_tenant_token;
use serde::Serialize;
use warp::http::{HeaderMap, StatusCode};

use crate::body::{read_limited, require_json, BodyLimits, BodyStream};
use crate::caller::Caller;
use crate::error::{ApiError, IdKind};
use crate::reply::ApiReply;
use crate::shapes::timestamp;
use crate::state::ApiState;
use crate::tenant_input::parse_token_name;
use crate::tenants::{record, visible_tenant, TENANT_BODY_LIMIT};

/// A token as made: the only answer that shows the token itself.
#[derive(Serialize)]
struct NewTokenBody {
    id: String,
    token: String,
    prefix: String,
    name: Option<String>,
    created_at: String,
}

#[derive(Serialize)]
struct TokenBody {
    id: String,
    prefix: String,
    name: Option<String>,
    created_at: String,
    /// When the token was last used (recorded at most once a minute); null if never.
    last_used_at: Option<String>,
}

#[derive(Serialize)]
struct TokenList {
    tokens: Vec<TokenBody>,
}

pub(crate) async fn create(
    tenant_id: String,
    state: Arc<ApiState>,
    caller: Caller,
    headers: HeaderMap,
    body: BodyStream,
) -> Result<ApiReply, ApiError> {
    let tenant = visible_tenant(&state, &caller, &tenant_id)?;
    let body =
        read_limited(&headers, body, BodyLimits { bytes: TENANT_BODY_LIMIT, time: state.config.body_read_timeout })
            .await?;
    // The body is optional; one that is sent must be JSON.
    if !body.iter().all(u8::is_ascii_whitespace) {
        require_json(&headers)?;
    }
    let name = parse_token_name(&body)?;
    let token = generate_tenant_token();
    let now = Utc::now();
    let at = now.duration_trunc(ChronoDuration::microseconds(1)).unwrap_or(now);
    let kept = TenantToken::of(TokenId::new(), tenant.id, name, &token, at);
    record(&state, &TenantEvent::TokenCreated { token: kept.clone() }).await?;
    // The tenant may have been deleted first in the log: then the token never lived.
    if state.deps.routing.token_by_digest(&kept.digest).is_none() {
        return Err(ApiError::TenantNotFound);
    }
    tracing::info!(tenant_id = %kept.tenant_id, token_id = %kept.id, "tenant token created");
    let body = NewTokenBody {
        id: kept.id.to_string(),
        token,
        prefix: kept.prefix,
        name: kept.name,
        created_at: timestamp(kept.created_at),
    };
    ApiReply::json(StatusCode::CREATED, &body)
}

pub(crate) async fn list(tenant_id: String, state: Arc<ApiState>, caller: Caller) -> Result<ApiReply, ApiError> {
    let tenant = visible_tenant(&state, &caller, &tenant_id)?;
    let live = state.deps.routing.tokens_of(&tenant.id);
    let ids: Vec<TokenId> = live.iter().map(|token| token.id).collect();
    let last_used = state.deps.views.tokens_last_used(&ids).await?;
    let tokens = live
        .into_iter()
        .map(|token| TokenBody {
            id: token.id.to_string(),
            last_used_at: last_used.get(&token.id).copied().map(timestamp),
            prefix: token.prefix,
            name: token.name,
            created_at: timestamp(token.created_at),
        })
        .collect();
    ApiReply::json(StatusCode::OK, &TokenList { tokens })
}

pub(crate) async fn revoke(
    tenant_id: String,
    token_id: String,
    state: Arc<ApiState>,
    caller: Caller,
) -> Result<ApiReply, ApiError> {
    let tenant = visible_tenant(&state, &caller, &tenant_id)?;
    let token_id = TokenId::from_str(&token_id).map_err(|_| ApiError::InvalidId(IdKind::Token))?;
    if !state.deps.routing.tokens_of(&tenant.id).iter().any(|token| token.id == token_id) {
        return Err(ApiError::TokenNotFound);
    }
    record(&state, &TenantEvent::TokenRevoked { tenant_id: tenant.id.clone(), token_id, revoked_at: Utc::now() })
        .await?;
    tracing::info!(tenant_id = %tenant.id, %token_id, "tenant token revoked");
    Ok(ApiReply::no_content())
}
