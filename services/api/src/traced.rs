//! The server span of the requests that accept webhooks and events: it continues the
//! producer's trace (W3C `traceparent` / `tracestate` headers), and what they accept
//! carries the context to hand on (see `hookline_traces::handed_on`).

use std::future::Future;

use hookline_domain::trace::{TRACEPARENT_HEADER, TRACESTATE_HEADER};
use hookline_domain::TraceContext;
use tracing::Instrument;
use warp::http::HeaderMap;

use crate::error::ApiError;
use crate::reply::ApiReply;

/// The producer's trace context, when its headers hold a valid one (an invalid one is
/// ignored: a trace header never costs a producer its webhook).
pub(crate) fn incoming(headers: &HeaderMap) -> Option<TraceContext> {
    let header = |name| headers.get(name).map(|value: &warp::http::HeaderValue| value.as_bytes());
    TraceContext::from_headers(header(TRACEPARENT_HEADER), header(TRACESTATE_HEADER))
}

/// Runs `handler` in the server span of `POST route` (while traces are exported) and
/// records the status it answered with.
pub(crate) async fn traced(
    route: &'static str,
    incoming: Option<&TraceContext>,
    handler: impl Future<Output = Result<ApiReply, ApiError>>,
) -> Result<ApiReply, ApiError> {
    if !hookline_traces::enabled() {
        return handler.await;
    }
    let span = hookline_traces::server_span("POST", route, incoming);
    let result = handler.instrument(span.clone()).await;
    let status = match &result {
        Ok(reply) => reply.status(),
        Err(error) => error.to_reply().status,
    };
    hookline_traces::answered(&span, status.as_u16());
    result
}
