//! With the OpenTelemetry layer installed and traces enabled: spans join the trace a
//! context names, and what is handed on names the span it was handed on from. Its own
//! test binary, since enabling traces is once per process.

use std::sync::{Arc, Mutex};

use hookline_domain::TraceContext;
use hookline_traces::{append_span, continue_trace, handed_on, server_span, Kind};
use opentelemetry::trace::{SpanKind, TracerProvider as _};
use opentelemetry::Value;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanData, SpanExporter};
use tracing::field::Empty;
use tracing_subscriber::layer::SubscriberExt;

/// Keeps every span it is given.
#[derive(Clone, Debug, Default)]
struct Kept(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Kept {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().unwrap().extend(batch);
        Ok(())
    }
}

const PRODUCER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| &kv.value)
}

/// Spans of this thread, exported as they end into what is returned (with the guard
/// that keeps it so), sampled as hookline's are: by the parent's decision, else always.
fn keep_spans() -> (Kept, tracing::subscriber::DefaultGuard) {
    let kept = Kept::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(kept.clone())
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
        .build();
    let subscriber =
        tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let guard = tracing::subscriber::set_default(subscriber);
    hookline_traces::enable("hookline");
    (kept, guard)
}

#[test]
fn spans_join_the_trace_they_are_given_and_hand_on_their_own() {
    let (kept, _default) = keep_spans();

    let producer = TraceContext::from_headers(Some(PRODUCER.as_bytes()), Some(b"vendor=abc")).unwrap();
    // A request continuing the producer's trace, with an append inside it.
    let request = server_span("POST", "/api/ingest/{id}", Some(&producer));
    let stored = request.in_scope(|| {
        append_span("hookline.deliveries", 1).in_scope(|| {});
        handed_on(&request, Some(&producer)).unwrap()
    });
    hookline_traces::answered(&request, 202);
    drop(request);
    assert_eq!(stored.trace_id(), producer.trace_id());
    assert_ne!(stored.parent_id(), producer.parent_id());
    assert!(stored.sampled());
    assert_eq!(stored.tracestate.as_deref(), Some("vendor=abc"));

    // Later, elsewhere: an attempt made from what was stored, with no span around it.
    let attempt = tracing::info_span!("attempt", otel.kind = Empty);
    continue_trace(&attempt, Some(&stored), Kind::Client);
    let sent = attempt.in_scope(|| handed_on(&attempt, Some(&stored)).unwrap());
    drop(attempt);
    assert_eq!(sent.trace_id(), producer.trace_id());

    // A task stored with no trace starts its own, even inside another span.
    let outer = tracing::info_span!("outer");
    let lone = outer.in_scope(|| {
        let lone = tracing::info_span!("attempt", otel.kind = Empty);
        continue_trace(&lone, None, Kind::Client);
        handed_on(&lone, None).unwrap()
    });
    drop(outer);
    assert_ne!(lone.trace_id(), producer.trace_id());

    let spans = kept.0.lock().unwrap().clone();
    let named = |name: &str| -> Vec<&SpanData> { spans.iter().filter(|s| s.name == name).collect() };
    let request = named("POST /api/ingest/{id}")[0];
    assert_eq!(request.span_kind, SpanKind::Server);
    assert_eq!(request.parent_span_id.to_string(), producer.parent_id());
    assert!(request.parent_span_is_remote);
    assert_eq!(request.span_context.span_id().to_string(), stored.parent_id());
    assert_eq!(attribute(request, "http.response.status_code"), Some(&Value::I64(202)));
    assert_eq!(attribute(request, "http.request.method"), Some(&Value::from("POST")));

    let append = named("send hookline.deliveries")[0];
    assert_eq!(append.span_kind, SpanKind::Producer);
    assert_eq!(append.parent_span_id, request.span_context.span_id());
    assert_eq!(attribute(append, "messaging.destination.name"), Some(&Value::from("hookline.deliveries")));

    let attempts = named("attempt");
    let attempt = attempts.iter().find(|s| s.span_context.trace_id().to_string() == producer.trace_id()).unwrap();
    assert_eq!(attempt.span_kind, SpanKind::Client);
    assert_eq!(attempt.parent_span_id, request.span_context.span_id());
    assert_eq!(attempt.span_context.span_id().to_string(), sent.parent_id());
    let lone_span = attempts.iter().find(|s| s.span_context.trace_id().to_string() == lone.trace_id()).unwrap();
    assert_eq!(lone_span.parent_span_id, opentelemetry::trace::SpanId::INVALID);
}

#[test]
fn an_unsampled_producer_trace_is_handed_on_unsampled() {
    let (kept, _default) = keep_spans();

    let producer =
        TraceContext::from_headers(Some(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"), None).unwrap();
    let request = server_span("POST", "/api/v1/events", Some(&producer));
    let stored = request.in_scope(|| handed_on(&request, Some(&producer)).unwrap());
    drop(request);
    assert_eq!(stored.trace_id(), producer.trace_id());
    assert!(!stored.sampled());
    assert!(kept.0.lock().unwrap().is_empty(), "an unsampled trace records nothing");
}
