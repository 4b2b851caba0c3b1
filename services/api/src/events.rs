//! Events sent to a tenant. `POST /events` routes one at acceptance to every enabled
//! subscription of the tenant whose patterns match its type (see
//! [`hookline_ingest::EventIntake`]); the 202 lists the tasks it will become, one per
//! subscription, each [`hookline_domain::TaskId::for_event`]. `GET /events/{id}` reads
//! one back with its payload and where each of its tasks stands, `GET /events` lists a
//! tenant's newest first. The views keep no payload: it is read from the log where the
//! event's view points, as a retry by hand reads a task's.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use hookline_domain::subscription::validate_event_type;
use hookline_domain::{EventAccepted, EventId, TaskId, TaskView, TraceContext};
use hookline_ingest::{EventOutcome, EventRequest};
use hookline_log::TopicPartition;
use hookline_views::{EventFilter, EventView};
use serde::Serialize;
use serde_json::value::RawValue;
use warp::http::{HeaderMap, StatusCode};

use crate::body::{read_json, BodyLimits, BodyStream};
use crate::caller::{tenant_param, Caller};
use crate::error::{ApiError, IdKind};
use crate::ingest::{IDEMPOTENCY_KEY, ORDERING_KEY};
use crate::query;
use crate::reply::ApiReply;
use crate::shapes::{timestamp, TaskSummaryBody};
use crate::state::ApiState;
use crate::traced::{incoming, traced};

const DEFAULT_EVENTS: usize = 50;
const MAX_EVENTS: usize = 100;

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
    let trace = incoming(&headers);
    traced("/api/v1/events", trace.as_ref(), accept(state, caller, raw_query, headers, body, trace.as_ref())).await
}

async fn accept(
    state: Arc<ApiState>,
    caller: Caller,
    raw_query: String,
    headers: HeaderMap,
    body: BodyStream,
    trace: Option<&TraceContext>,
) -> Result<ApiReply, ApiError> {
    let params = query::parse(&raw_query, &["tenant_id"])?;
    let tenant = caller.tenant_named(tenant_param(&params)?)?;
    let span = tracing::Span::current();
    hookline_traces::record(&span, "tenant_id", &tenant);
    // The event's deliveries join this request's span (or the producer's, when traces are off).
    let trace = hookline_traces::handed_on(&span, trace);
    let limits = BodyLimits { bytes: state.config.max_body_bytes, time: state.config.body_read_timeout };
    let body = read_json(&headers, body, limits).await?;
    let request = EventRequest {
        tenant: &tenant,
        event_type: headers.get(state.config.event_type_header.as_str()).map(|v| v.as_bytes()),
        body: &body,
        idempotency_key: headers.get(IDEMPOTENCY_KEY).map(|v| v.as_bytes()),
        dedup_name: None,
        ordering_key: headers.get(ORDERING_KEY).map(|v| v.as_bytes()),
        trace: trace.as_ref(),
    };
    // Limits are spent once the event would be accepted: a refused one costs nothing.
    // The API-wide limit was spent at the edge, once the caller's token was checked.
    let admit = || state.admit_tenant(&tenant, Instant::now());
    let outcome = state.deps.events.accept_admitted(request, admit).await?;
    let (EventOutcome::Accepted { event_id, .. } | EventOutcome::Replayed { event_id, .. }) = &outcome;
    hookline_traces::record(&span, "event_id", event_id);
    match outcome {
        EventOutcome::Accepted { event_id, task_ids } => {
            ApiReply::json(StatusCode::ACCEPTED, &Accepted { event_id, task_ids })
        }
        EventOutcome::Replayed { event_id, task_ids } => {
            Ok(ApiReply::json(StatusCode::ACCEPTED, &Accepted { event_id, task_ids })?
                .with_header("idempotent-replayed", "true".into()))
        }
    }
}

/// An event as listed: what it was and where it went, without its payload.
#[derive(Serialize)]
struct EventSummaryBody {
    event_id: EventId,
    tenant_id: String,
    event_type: String,
    accepted_at: String,
    idempotency_key: Option<String>,
    subscription_ids: Vec<String>,
}

impl From<&EventView> for EventSummaryBody {
    fn from(event: &EventView) -> Self {
        Self {
            event_id: event.event_id,
            tenant_id: event.tenant_id.to_string(),
            event_type: event.event_type.clone(),
            accepted_at: timestamp(event.accepted_at),
            idempotency_key: event.idempotency_key.clone(),
            subscription_ids: event.subscriptions.iter().map(ToString::to_string).collect(),
        }
    }
}

#[derive(Serialize)]
struct EventBody {
    #[serde(flatten)]
    event: EventSummaryBody,
    /// The event as sent; null once the log no longer holds it.
    payload: Option<Box<RawValue>>,
    /// One per subscription it went to, in the same order.
    tasks: Vec<TaskSummaryBody>,
}

#[derive(Serialize)]
struct EventList {
    events: Vec<EventSummaryBody>,
    next_cursor: Option<String>,
}

pub(crate) async fn get(id: String, state: Arc<ApiState>, caller: Caller) -> Result<ApiReply, ApiError> {
    let id = EventId::from_str(&id).map_err(|_| ApiError::InvalidId(IdKind::Event))?;
    let event = match state.deps.views.event(id).await? {
        Some(event) if caller.sees(&event.tenant_id) => seen_by(&state, &caller, event),
        Some(_) | None => return Err(ApiError::EventNotFound),
    };
    let payload = payload(&state, &event).await?;
    let mut tasks = Vec::with_capacity(event.subscriptions.len());
    for (subscription_id, task_id) in event.subscriptions.iter().zip(event.task_ids()) {
        // Not in the views yet (the fan-out or the projector is behind): pending.
        let task = state.deps.views.task(task_id).await?.unwrap_or_else(|| TaskView {
            task_id,
            subscription_id: *subscription_id,
            event_type: Some(event.event_type.clone()),
            created_at: event.accepted_at,
            last_attempt: None,
        });
        tasks.push(TaskSummaryBody::from(&task));
    }
    ApiReply::json(StatusCode::OK, &EventBody { event: EventSummaryBody::from(&event), payload, tasks })
}

/// What `caller` may see of an event of its tenant: the subscriptions it went to
/// that the caller may see. An operational event of a tenant also goes to the
/// operator's subscription (of the default tenant), which that tenant does not see.
fn seen_by(state: &ApiState, caller: &Caller, mut event: EventView) -> EventView {
    event.subscriptions.retain(|id| state.deps.routing.owner(*id).is_none_or(|owner| caller.sees(&owner)));
    event
}

/// The payload, read from the record the view points at; `None` once the log no
/// longer holds it.
async fn payload(state: &ApiState, event: &EventView) -> Result<Option<Box<RawValue>>, ApiError> {
    let at = &event.payload_at;
    let Some(record) = state.deps.log.read(&TopicPartition::new(at.topic.clone(), at.partition), at.offset).await?
    else {
        return Ok(None);
    };
    match serde_json::from_slice::<EventAccepted>(&record.value) {
        Ok(accepted) if accepted.event_id == event.event_id => Ok(Some(accepted.payload)),
        // The log was replaced under the views (a new data directory, a new cluster).
        _ => {
            tracing::warn!(event_id = %event.event_id, position = %at, "the views point at a record that is not the event's");
            Ok(None)
        }
    }
}

/// A tenant's events, newest first: the caller's own tenant, or the one the operator
/// names (`tenant_id`, else `default`).
pub(crate) async fn list(state: Arc<ApiState>, caller: Caller, raw_query: String) -> Result<ApiReply, ApiError> {
    let params = query::parse(&raw_query, &["tenant_id", "event_type", "since", "limit", "cursor"])?;
    let limit = query::limit(&params, DEFAULT_EVENTS, MAX_EVENTS)?;
    let tenant = caller.tenant_named(tenant_param(&params)?)?;
    state.deps.routing.tenant(&tenant).ok_or(ApiError::TenantNotFound)?;
    let event_type = params
        .get("event_type")
        .map(|raw| validate_event_type("event_type", raw).map(|()| raw.clone()))
        .transpose()
        .map_err(|e| ApiError::BadRequest(format!("Invalid event_type: {}", e.message)))?;
    let since = query::time(&params, "since")?;
    let filter = EventFilter { event_type, since };
    let page = state.deps.views.events(&tenant, &filter, limit, params.get("cursor").map(String::as_str)).await?;
    let events = page.items.into_iter().map(|event| EventSummaryBody::from(&seen_by(&state, &caller, event))).collect();
    let body = EventList { events, next_cursor: page.next };
    ApiReply::json(StatusCode::OK, &body)
}
