//! A small OpenTelemetry collector on 127.0.0.1: `POST /v1/traces` with an OTLP/HTTP
//! protobuf body (`ExportTraceServiceRequest`), decoded with `opentelemetry-proto`, every
//! span kept for a test's assertions. It also counts the TCP connections it accepts, so
//! that a test can show that nothing tried to reach it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use prost::Message;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::http::{accept_until_stopped, HttpConnection, Request};

/// The most spans kept; later ones are counted but not kept.
pub const MAX_KEPT_SPANS: usize = 100_000;

/// One span as it arrived, ids as lowercase hex.
#[derive(Clone, Debug, PartialEq)]
pub struct CollectedSpan {
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    pub name: String,
    /// `server`, `client`, `producer`, `consumer`, `internal` or `unspecified`.
    pub kind: &'static str,
    /// The `service.name` of the resource it came with.
    pub service_name: Option<String>,
    /// Every attribute, its value as text.
    pub attributes: BTreeMap<String, String>,
    /// Whether its status is `error`.
    pub failed: bool,
    pub start_unix_nanos: u64,
}

impl CollectedSpan {
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).map(String::as_str)
    }
}

#[derive(Default)]
struct Kept {
    spans: Vec<CollectedSpan>,
    requests: u64,
    refused: Vec<String>,
}

/// A collector serving until stopped or dropped.
pub struct Collector {
    addr: SocketAddr,
    kept: Arc<Mutex<Kept>>,
    connections: Arc<AtomicU64>,
    stop: CancellationToken,
}

impl Collector {
    /// Starts on a free port of 127.0.0.1.
    pub async fn start() -> Collector {
        Collector::start_on("127.0.0.1:0".parse().expect("loopback address")).await.expect("binding the collector")
    }

    /// Starts on `addr` (e.g. the OTLP default `127.0.0.1:4318`).
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<Collector> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let (kept, connections, stop) = (Arc::default(), Arc::new(AtomicU64::new(0)), CancellationToken::new());
        let serving = (Arc::clone(&kept), Arc::clone(&connections), stop.clone());
        tokio::spawn(async move {
            let (kept, connections, stop) = serving;
            let tasks = TaskTracker::new();
            let serve = |mut connection: HttpConnection| {
                connections.fetch_add(1, Ordering::SeqCst);
                let kept = Arc::clone(&kept);
                async move { converse(&kept, &mut connection).await }
            };
            accept_until_stopped(listener, stop, tasks.clone(), serve).await;
            tasks.close();
            tasks.wait().await;
        });
        Ok(Collector { addr, kept, connections, stop })
    }

    /// The base URL, as `OTEL_EXPORTER_OTLP_ENDPOINT` takes it.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every span received so far, in arrival order.
    pub fn spans(&self) -> Vec<CollectedSpan> {
        self.lock().spans.clone()
    }

    /// The spans of one trace.
    pub fn trace(&self, trace_id: &str) -> Vec<CollectedSpan> {
        self.lock().spans.iter().filter(|span| span.trace_id == trace_id).cloned().collect()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }

    /// Export requests received so far (decoded or not).
    pub fn requests(&self) -> u64 {
        self.lock().requests
    }

    /// Why requests were refused (not `POST /v1/traces`, or not a decodable body).
    pub fn refused(&self) -> Vec<String> {
        self.lock().refused.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn converse(kept: &Mutex<Kept>, connection: &mut HttpConnection) {
    while let Some(request) = connection.next_request().await {
        let close = !request.head.keep_alive();
        let (status, content_type, body) = answer(kept, &request);
        let headers = [("content-type".to_owned(), content_type.to_owned())];
        if connection.respond(status, &headers, &body, close).await.is_err() || close {
            return;
        }
    }
}

fn answer(kept: &Mutex<Kept>, request: &Request) -> (u16, &'static str, Vec<u8>) {
    let mut kept = kept.lock().unwrap_or_else(PoisonError::into_inner);
    kept.requests += 1;
    if (request.head.method.as_str(), request.head.path()) != ("POST", "/v1/traces") {
        kept.refused.push(format!("{} {}", request.head.method, request.head.target));
        return (404, "text/plain", b"not found".to_vec());
    }
    match ExportTraceServiceRequest::decode(request.body.as_ref()) {
        Ok(export) => {
            let room = MAX_KEPT_SPANS.saturating_sub(kept.spans.len());
            kept.spans.extend(spans_of(export).into_iter().take(room));
            // An empty ExportTraceServiceResponse: everything accepted.
            (200, "application/x-protobuf", Vec::new())
        }
        Err(error) => {
            kept.refused.push(format!("undecodable body: {error}"));
            (400, "text/plain", error.to_string().into_bytes())
        }
    }
}

fn spans_of(export: ExportTraceServiceRequest) -> Vec<CollectedSpan> {
    let mut spans = Vec::new();
    for resource_spans in export.resource_spans {
        let resource = resource_spans.resource.map(|resource| attributes(&resource.attributes)).unwrap_or_default();
        let service_name = resource.get("service.name").cloned();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                spans.push(CollectedSpan {
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    name: span.name,
                    kind: match span.kind {
                        1 => "internal",
                        2 => "server",
                        3 => "client",
                        4 => "producer",
                        5 => "consumer",
                        _ => "unspecified",
                    },
                    service_name: service_name.clone(),
                    attributes: attributes(&span.attributes),
                    // STATUS_CODE_ERROR
                    failed: span.status.is_some_and(|status| status.code == 2),
                    start_unix_nanos: span.start_time_unix_nano,
                });
            }
        }
    }
    spans
}

fn attributes(pairs: &[KeyValue]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|pair| {
            let value = match pair.value.as_ref().and_then(|value| value.value.as_ref()) {
                Some(Value::StringValue(text)) => text.clone(),
                Some(Value::IntValue(n)) => n.to_string(),
                Some(Value::BoolValue(b)) => b.to_string(),
                Some(Value::DoubleValue(x)) => x.to_string(),
                Some(other) => format!("{other:?}"),
                None => String::new(),
            };
            (pair.key.clone(), value)
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

    use super::*;

    #[tokio::test]
    async fn spans_posted_as_protobuf_are_kept_and_other_requests_refused() {
        let collector = Collector::start().await;
        let export = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span {
                        trace_id: vec![0xab; 16],
                        span_id: vec![0x01; 8],
                        name: "attempt".into(),
                        kind: 3,
                        ..Span::default()
                    }],
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        };
        let client = reqwest::Client::new();
        let url = format!("{}/v1/traces", collector.endpoint());
        let answer = client.post(&url).body(export.encode_to_vec()).send().await.unwrap();
        assert_eq!(answer.status(), 200);
        let spans = collector.spans();
        assert_eq!(spans.len(), 1);
        assert_eq!((spans[0].name.as_str(), spans[0].kind), ("attempt", "client"));
        assert_eq!(spans[0].trace_id, "ab".repeat(16));
        assert_eq!(spans[0].parent_span_id, "");

        let bad = client.post(&url).body(vec![0xff, 0xff, 0xff]).send().await.unwrap();
        assert_eq!(bad.status(), 400);
        let wrong = client.get(format!("{}/v1/metrics", collector.endpoint())).send().await.unwrap();
        assert_eq!(wrong.status(), 404);
        assert_eq!(collector.requests(), 3);
        assert_eq!(collector.refused().len(), 2);
        assert!(collector.connections() >= 1);
    }
}
