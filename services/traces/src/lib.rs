//! Where a webhook's trace meets `tracing` spans: the roles set a span's parent from the
//! W3C trace context a request, record or task carries, and hand on the context of the
//! span they worked in, to the log and to the receiver.
//!
//! Consumes: [`TraceContext`]s (from headers, or from the log's records) and the
//! `tracing` spans of the roles. Produces: OpenTelemetry parents, kinds, attributes and
//! statuses on those spans, through `tracing-opentelemetry`; the exporter itself is
//! set up by the binary, which calls [`enable`] once it is installed.
//!
//! Guarantees: while traces are off (no [`enable`]), every function here is a load of
//! one atomic flag and nothing else, and [`handed_on`] returns the context received,
//! unchanged — a producer's `traceparent` still reaches the receiver. No function here
//! takes a payload, a secret or a header value other than the trace context's own: the
//! attributes set are the ones the callers name, all of them ids, counts, statuses,
//! topics and URLs without their query.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use hookline_domain::TraceContext;
use opentelemetry::trace::{SpanContext, SpanId, Status, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry::{Context, Value};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The `tracing` target prefix whose spans are exported: every hookline crate.
pub const TARGET_PREFIX: &str = "hookline";

static ENABLED: AtomicBool = AtomicBool::new(false);
static MESSAGING_SYSTEM: OnceLock<&'static str> = OnceLock::new();

/// Marks traces as exported: called once, by the binary, after it installed the
/// OpenTelemetry layer. `messaging_system` names the log in messaging attributes
/// (`kafka`, or `hookline` for the embedded log).
pub fn enable(messaging_system: &'static str) {
    let _ = MESSAGING_SYSTEM.set(messaging_system);
    ENABLED.store(true, Ordering::Release);
}

/// Whether spans are exported. Callers create spans that exist only for traces
/// (`Span::none()` otherwise) and skip building attributes when it is false.
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The span kinds hookline's spans have (OpenTelemetry `SpanKind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Answers a request: REST ingest.
    Server,
    /// Makes a request: a delivery attempt.
    Client,
    /// Writes records to the log.
    Producer,
    /// Works on records read from the log.
    Consumer,
    Internal,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Server => "server",
            Kind::Client => "client",
            Kind::Producer => "producer",
            Kind::Consumer => "consumer",
            Kind::Internal => "internal",
        }
    }
}

/// Makes `span` part of the trace `parent` names (a span in another process, or one
/// hookline recorded in the log), or the root of a new trace when there is none; gives
/// it its kind. `span` must declare the field `otel.kind` (as `Empty`) and must not have
/// been entered yet.
pub fn continue_trace(span: &Span, parent: Option<&TraceContext>, kind: Kind) {
    if !enabled() {
        return;
    }
    span.record("otel.kind", kind.as_str());
    // A span without a parent here would take the one it was created in.
    let context = parent.and_then(remote_context).unwrap_or_default();
    if let Err(error) = span.set_parent(context) {
        tracing::debug!(%error, "span parent not set");
    }
}

/// Gives a span that continues the trace it was created in its kind (see [`continue_trace`]).
pub fn kind(span: &Span, kind: Kind) {
    if enabled() {
        span.record("otel.kind", kind.as_str());
    }
}

/// The trace context to hand on from work done in `span`: the span's own when spans are
/// exported (so what follows is its child), else `received`, unchanged.
pub fn handed_on(span: &Span, received: Option<&TraceContext>) -> Option<TraceContext> {
    if !enabled() {
        return received.cloned();
    }
    let context = span.context();
    let span_context = context.span().span_context().clone();
    if !span_context.is_valid() {
        return received.cloned();
    }
    let tracestate = Some(span_context.trace_state().header()).filter(|state| !state.is_empty());
    Some(TraceContext::from_parts(
        span_context.trace_id().to_bytes(),
        span_context.span_id().to_bytes(),
        span_context.is_sampled(),
        tracestate,
    ))
}

/// The span of a REST request answered by `route` (e.g. `/api/ingest/{id}`), continuing
/// the producer's trace; `Span::none()` while traces are off. Its handler records
/// `subscription_id`, `task_id`, `tenant_id` and `event_id` as it learns them, and
/// [`answered`] the status.
pub fn server_span(method: &'static str, route: &'static str, parent: Option<&TraceContext>) -> Span {
    if !enabled() {
        return Span::none();
    }
    let span = tracing::info_span!(
        "request",
        otel.name = format!("{method} {route}"),
        otel.kind = tracing::field::Empty,
        http.request.method = method,
        http.route = route,
        http.response.status_code = tracing::field::Empty,
        subscription_id = tracing::field::Empty,
        task_id = tracing::field::Empty,
        tenant_id = tracing::field::Empty,
        event_id = tracing::field::Empty,
    );
    continue_trace(&span, parent, Kind::Server);
    span
}

/// Records the status a request was answered with; a 5xx marks the span failed.
pub fn answered(span: &Span, status: u16) {
    if enabled() {
        span.record("http.response.status_code", i64::from(status));
        if status >= 500 {
            failed(span, format!("HTTP {status}"));
        }
    }
}

/// The span of one durable append of `records` records to `topic`, a child of the
/// current span; `Span::none()` while traces are off.
pub fn append_span(topic: &str, records: usize) -> Span {
    if !enabled() {
        return Span::none();
    }
    let span = tracing::info_span!(
        "append",
        otel.name = format!("send {topic}"),
        otel.kind = tracing::field::Empty,
        messaging.batch.message_count = records,
    );
    kind(&span, Kind::Producer);
    messaging(&span, "send", topic);
    span
}

/// Records a field `span` declared (as `Empty`), while traces are exported: the ids a
/// request learns as it goes.
pub fn record(span: &Span, field: &'static str, value: impl std::fmt::Display) {
    if enabled() {
        span.record(field, tracing::field::display(value));
    }
}

/// Sets an attribute on `span`'s OpenTelemetry span (nothing while traces are off).
pub fn attribute(span: &Span, key: &'static str, value: impl Into<Value>) {
    if enabled() {
        span.set_attribute(key, value);
    }
}

/// The semantic-convention attributes of a span that writes to or reads from `topic`.
pub fn messaging(span: &Span, operation: &'static str, topic: &str) {
    if enabled() {
        span.set_attribute("messaging.system", *MESSAGING_SYSTEM.get().unwrap_or(&"hookline"));
        span.set_attribute("messaging.operation.type", operation);
        span.set_attribute("messaging.destination.name", topic.to_string());
    }
}

/// Marks `span` as failed, with a short description (never a payload or a secret).
pub fn failed(span: &Span, description: impl Into<String>) {
    if enabled() {
        span.set_status(Status::error(description.into()));
    }
}

/// `url` as `url.full` may show it: without user info, query or fragment, which may
/// hold credentials. `None` when it does not parse.
pub fn url_without_secrets(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['?', '#']).unwrap_or(rest.len());
    let rest = &rest[..end];
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    (!host.is_empty()).then(|| format!("{scheme}://{host}{path}"))
}

/// The OpenTelemetry context of a W3C trace context from outside this span tree.
fn remote_context(trace: &TraceContext) -> Option<Context> {
    let trace_id = TraceId::from_hex(trace.trace_id()).ok()?;
    let span_id = SpanId::from_hex(trace.parent_id()).ok()?;
    let flags = if trace.sampled() { TraceFlags::SAMPLED } else { TraceFlags::default() };
    // A tracestate OpenTelemetry reads more strictly than the W3C bounds is left out.
    let state = trace.tracestate.as_deref().and_then(|state| state.parse::<TraceState>().ok()).unwrap_or_default();
    let span_context = SpanContext::new(trace_id, span_id, flags, true, state);
    span_context.is_valid().then(|| Context::new().with_remote_span_context(span_context))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_credentials_query_and_fragment() {
        for (url, shown) in [
            ("https://hooks.example.com/in?token=s3cret", "https://hooks.example.com/in"),
            ("https://user:pass@hooks.example.com:8443/a/b#frag", "https://hooks.example.com:8443/a/b"),
            ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
            ("http://[::1]:9000/x?y", "http://[::1]:9000/x"),
        ] {
            assert_eq!(url_without_secrets(url).as_deref(), Some(shown), "{url}");
        }
        assert_eq!(url_without_secrets("not a url"), None);
    }

    #[test]
    fn while_off_the_received_context_is_handed_on_unchanged() {
        let received =
            TraceContext::from_headers(Some(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), Some(b"a=b"));
        let span = tracing::info_span!("work", otel.kind = tracing::field::Empty);
        continue_trace(&span, received.as_ref(), Kind::Consumer);
        assert_eq!(handed_on(&span, received.as_ref()), received);
        assert_eq!(handed_on(&span, None), None);
    }

    #[test]
    fn a_remote_context_keeps_the_ids_and_the_sampled_flag() {
        let trace =
            TraceContext::from_headers(Some(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"), Some(b"a=b"))
                .unwrap();
        let context = remote_context(&trace).unwrap();
        let span = context.span();
        let span_context = span.span_context();
        assert_eq!(span_context.trace_id().to_string(), trace.trace_id());
        assert_eq!(span_context.span_id().to_string(), trace.parent_id());
        assert!(!span_context.is_sampled());
        assert!(span_context.is_remote());
        assert_eq!(span_context.trace_state().header(), "a=b");
    }
}
