//! `GET /overview`: what hookline is doing at a glance, for the dashboard's first
//! screen. Cheap enough to poll every few seconds: it reads the process's overview
//! ([`hookline_overview::Overview`]) in memory, never the views or the log.

use std::sync::Arc;

use warp::http::StatusCode;

use crate::caller::{tenant_param, Caller};
use crate::error::ApiError;
use crate::query;
use crate::reply::ApiReply;
use crate::state::ApiState;

/// The operator sees every tenant, or the one named by `tenant_id`; a tenant sees its
/// own (naming another is told it does not exist), without the shared backlog.
pub(crate) async fn overview(state: Arc<ApiState>, caller: Caller, raw_query: String) -> Result<ApiReply, ApiError> {
    let params = query::parse(&raw_query, &["tenant_id"])?;
    let scope = caller.list_scope(tenant_param(&params)?)?;
    if let Some(tenant) = &scope {
        state.deps.routing.tenant(tenant).ok_or(ApiError::TenantNotFound)?;
    }
    ApiReply::json(StatusCode::OK, &state.deps.overview.snapshot(scope.as_ref()))
}
