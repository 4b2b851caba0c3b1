//! `POST /events`: an event sent to a tenant, routed at acceptance to every enabled
//! subscription of the tenant whose patterns match its type (see
//! [`hookline_ingest::EventIntake`]). The 202 lists the tasks it will become, one per
//! subscription, each [`hookline_domain::TaskId::for_event`].

use std::sync::Arc;
use std::time::Instant;

use hookline_domain::{EventId, TaskId};
use hookline_ingest::{EventOutcome, EventRequest};
use serde::Serialize;
use warp::http::{HeaderMap, StatusCode};

use crate::body::{read_json, BodyLimits, BodyStream};
use crate::caller::{tenant_param, Caller};
use crate::error::ApiError;
use crate::ingest::IDEMPOTENCY_KEY;
use crate::query;
use crate::reply::ApiReply;
use crate::state::ApiState;

/// The body of a 202.
#[derive(Serialize)]
struct Accepted {
    event_id: EventId,
    task_ids: Vec<TaskId>,
}

pub(crate) async fn send(
    state: Arc<ApiState>,
    caller: Caller,
    raw_query: String,
    headers: HeaderMap,
    body: BodyStream,
) -> Result<ApiReply, ApiError> {
    let params = query::parse(&raw_query, &["tenant_id"])?;
    let tenant = caller.tenant_named(tenant_param(&params)?)?;
    let limits = BodyLimits { bytes: state.config.max_body_bytes, time: state.config.body_read_timeout };
    let body = read_json(&headers, body, limits).await?;
    let request = EventRequest {
        tenant: &tenant,
        event_type: headers.get(state.config.event_type_header.as_str()).map(|v| v.as_bytes()),
        body: &body,
        idempotency_key: headers.get(IDEMPOTENCY_KEY).map(|v| v.as_bytes()),
        dedup_name: None,
    };
    // Limits are spent once the event would be accepted: a refused one costs nothing.
    // The API-wide limit was spent at the edge, once the caller's token was checked.
    let admit = || state.admit_tenant(&tenant, Instant::now());
    match state.deps.events.accept_admitted(request, admit).await? {
        EventOutcome::Accepted { event_id, task_ids } => {
            ApiReply::json(StatusCode::ACCEPTED, &Accepted { event_id, task_ids })
        }
        EventOutcome::Replayed { event_id, task_ids } => {
            Ok(ApiReply::json(StatusCode::ACCEPTED, &Accepted { event_id, task_ids })?
                .with_header("idempotent-replayed", "true".into()))
        }
    }
}
