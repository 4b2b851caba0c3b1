//! `POST /ingest/{sub_id}`: size and content-type checks at the edge, then the
//! shared ingest checks and a durable TaskAccepted.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use hookline_domain::{TaskId, TraceContext};
use hookline_ingest::{signed_message, IngestError, IngestOutcome, IngestRequest};
use serde::Serialize;
use warp::http::{HeaderMap, StatusCode};

use crate::body::{read_json, BodyLimits, BodyStream};
use crate::caller::{identify, Caller};
use crate::error::ApiError;
use crate::rate_limit::retry_after_seconds;
use crate::reply::ApiReply;
use crate::state::{subscription_id, ApiState};
use crate::traced::{incoming, traced};

pub(crate) async fn ingest(
    sub_id: String,
    state: Arc<ApiState>,
    headers: HeaderMap,
    body: BodyStream,
) -> Result<ApiReply, ApiError> {
    let trace = incoming(&headers);
    traced("/api/ingest/{id}", trace.as_ref(), answer(&sub_id, &state, &headers, body, trace.as_ref())).await
}

async fn answer(
    sub_id: &str,
    state: &ApiState,
    headers: &HeaderMap,
    body: BodyStream,
    trace: Option<&TraceContext>,
) -> Result<ApiReply, ApiError> {
    let outcome = accept(sub_id, state, headers, body, trace).await;
    state.metrics.ingested(&outcome);
    let answer = match outcome? {
        IngestOutcome::Queued(task_id) => {
            Answer { message: "Webhook received and queued".into(), task_id: Some(task_id) }
        }
        IngestOutcome::Replayed(task_id) => {
            let answer = Answer { message: "Webhook already received and queued".into(), task_id: Some(task_id) };
            return Ok(ApiReply::json(StatusCode::ACCEPTED, &answer)?.with_header("idempotent-replayed", "true".into()));
        }
        IngestOutcome::Filtered(Some(event_type)) => {
            Answer { message: format!("Event type '{event_type}' filtered, delivery skipped").into(), task_id: None }
        }
        IngestOutcome::Filtered(None) => {
            Answer { message: "No event type provided, delivery skipped".into(), task_id: None }
        }
    };
    ApiReply::json(StatusCode::ACCEPTED, &answer)
}

/// The header naming a webhook for good: repeats within the retention get the same task.
pub(crate) const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The header carrying a webhook's or an event's ordering key (see `docs/ordering.md`).
pub(crate) const ORDERING_KEY: &str = "x-ordering-key";

/// The body of a 202.
#[derive(Serialize)]
struct Answer {
    message: Cow<'static, str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    task_id: Option<TaskId>,
}

/// The checks at the edge, then the shared ones; a queued task is remembered for status reads.
async fn accept(
    sub_id: &str,
    state: &ApiState,
    headers: &HeaderMap,
    body: BodyStream,
    trace: Option<&TraceContext>,
) -> Result<IngestOutcome, ApiError> {
    let subscription_id = subscription_id(sub_id)?;
    let span = tracing::Span::current();
    hookline_traces::record(&span, "subscription_id", subscription_id);
    // The task's attempts join this request's span (or the producer's, when traces are off).
    let trace = hookline_traces::handed_on(&span, trace);
    let limits = BodyLimits { bytes: state.config.max_body_bytes, time: state.config.body_read_timeout };
    let body = read_json(headers, body, limits).await?;
    // A tenant's token sends only to its own subscriptions, answered where an unknown one is.
    let caller = identify(state, headers).unwrap_or(Caller::Operator);
    if !state.shows_subscription(&caller, subscription_id) {
        return Err(ApiError::Ingest(IngestError::UnknownSubscription));
    }
    let event_type = headers.get(state.config.event_type_header.as_str()).map(|v| v.as_bytes());
    let signature = headers.get(state.config.secret_header.as_str()).map(|v| v.as_bytes());
    let idempotency_key = headers.get(IDEMPOTENCY_KEY).map(|v| v.as_bytes());
    let signed_message = signed_message(|name| headers.get(name).map(|v| v.as_bytes()));
    let request = IngestRequest {
        subscription_id,
        body: &body,
        event_type,
        signature,
        signed_message,
        idempotency_key,
        dedup_name: None,
        ordering_key: headers.get(ORDERING_KEY).map(|v| v.as_bytes()),
        trace: trace.as_ref(),
    };
    // Limits are spent once the webhook is known good (subscription, signature, body):
    // nobody can spend a subscription's allowance, or the API's, without its secret.
    let admit = || {
        let now = Instant::now();
        let limiter = &state.rate_limiter;
        let limited = |scope, wait| ApiError::RateLimited { scope, retry_after_seconds: retry_after_seconds(wait) };
        limiter.admit_webhook(subscription_id, now).map_err(|wait| limited(" for this subscription", wait))?;
        let tenant = state.deps.routing.owner(subscription_id).unwrap_or_default();
        state.admit_tenant(&tenant, now)?;
        limiter.admit_request(now).map_err(|wait| limited("", wait))
    };
    let outcome = state.deps.ingestor.ingest_admitted(request, admit).await?;
    if let IngestOutcome::Queued(task_id) | IngestOutcome::Replayed(task_id) = &outcome {
        hookline_traces::record(&span, "task_id", task_id);
    }
    if let IngestOutcome::Queued(task_id) = &outcome {
        // The ingestor accepted this header, so it is UTF-8; it keeps it trimmed, blank as none.
        let event_type = event_type
            .and_then(|raw| std::str::from_utf8(raw).ok())
            .map(str::trim)
            .filter(|text| !text.is_empty())
            .map(str::to_string);
        state.recent_tasks.accepted(*task_id, subscription_id, event_type, Utc::now());
    }
    Ok(outcome)
}
