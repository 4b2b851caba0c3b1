//! OpenTelemetry traces end to end: a producer's `traceparent` followed through ingest,
//! fan-out, every attempt and the receiver, as an OTLP collector on loopback receives
//! the spans (OTLP/HTTP protobuf, decoded); on the embedded default and across role
//! processes on Kafka. Without an endpoint nothing connects anywhere.

use std::time::Duration;

use hookline_domain::TenantId;
use hookline_log::NewRecord;
use hookline_testkit::collector::{CollectedSpan, Collector};
use hookline_testkit::process::wait_until;
use hookline_testkit::receiver::{ReceivedRequest, Receiver, Reply, Script};

use crate::common::{engines, Deployment, Service};
use crate::distributed::kafka;

const T: Duration = Duration::from_secs(30);

/// The producer's trace: trace id, the producer's span id, sampled.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PRODUCER_SPAN: &str = "00f067aa0ba902b7";
const TRACESTATE: &str = "vendor=abc";

fn traceparent(trace_id: &str) -> String {
    format!("00-{trace_id}-{PRODUCER_SPAN}-01")
}

/// Settings that export every span to `collector` within a tenth of a second.
fn exported_to(collector: &Collector, service_name: &str) -> Vec<(&'static str, String)> {
    vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint()),
        ("OTEL_SERVICE_NAME", service_name.to_string()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_string()),
    ]
}

fn as_env<'a>(settings: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    settings.iter().map(|(name, value)| (*name, value.as_str())).collect()
}

/// The trace id and parent span id of the `traceparent` a receiver got.
fn parent_of(request: &ReceivedRequest) -> (String, String) {
    let traceparent = request.header("traceparent").expect("the receiver gets a traceparent");
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    (parts[1].to_string(), parts[2].to_string())
}

/// Waits until the trace holds spans named as `names` says, and returns them all.
async fn trace_with(collector: &Collector, trace_id: &str, names: &[(&str, usize)]) -> Vec<CollectedSpan> {
    let what = format!("spans {names:?} in trace {trace_id}");
    wait_until(T, &what, || async {
        let spans = collector.trace(trace_id);
        let complete = names.iter().all(|(name, n)| spans.iter().filter(|span| span.name == *name).count() >= *n);
        complete.then_some(spans)
    })
    .await
}

fn named<'a>(spans: &'a [CollectedSpan], name: &str) -> Vec<&'a CollectedSpan> {
    spans.iter().filter(|span| span.name == name).collect()
}

/// No attribute of any span holds any of `secrets` (a payload, a signature, a secret).
fn assert_nothing_secret(spans: &[CollectedSpan], secrets: &[&str]) {
    for span in spans {
        for (key, value) in &span.attributes {
            for secret in secrets {
                assert!(!value.contains(secret), "span {:?} attribute {key} = {value:?} holds {secret:?}", span.name);
            }
        }
    }
}

#[tokio::test]
async fn a_producer_trace_runs_through_ingest_and_every_attempt_to_the_receiver() {
    let collector = Collector::start().await;
    let receiver = Receiver::start().await;
    receiver.set("/flaky", Script::then(vec![Reply::Status(500)], Reply::Status(200)));
    let settings = exported_to(&collector, "hookline-it");
    let service = Service::start(&as_env(&settings)).await;
    let secret = "whsec_tracesMfKQ9r8GKYqrTwjUPD8ILPZ";
    let sub = service.subscribe(&format!("{}?token=query-secret", receiver.url("/flaky")), Some(secret), None).await;
    let body = r#"{"card":"payload-marker-4242"}"#;
    let signature = hookline_domain::signature::ingest_signature(secret, body.as_bytes());
    let task_id = service
        .ingest_ok(
            &sub,
            body,
            &[("X-Hub-Signature-256", &signature), ("traceparent", &traceparent(TRACE_ID)), ("tracestate", TRACESTATE)],
        )
        .await;

    // Both attempts reach the receiver in the producer's trace, each as its own child.
    let got = receiver.wait_for("/flaky", 2, T).await;
    service.wait_task(&task_id, "succeeded", T).await;
    let received: Vec<(String, String)> = got.iter().map(parent_of).collect();
    assert!(received.iter().all(|(trace, _)| trace == TRACE_ID), "{received:?}");
    assert_ne!(received[0].1, received[1].1, "each attempt is its own parent span");
    assert!(got.iter().all(|request| request.header("tracestate") == Some(TRACESTATE)));

    let spans = trace_with(&collector, TRACE_ID, &[("POST /api/ingest/{id}", 1), ("attempt", 2)]).await;
    let ingest = named(&spans, "POST /api/ingest/{id}")[0];
    assert_eq!(ingest.kind, "server");
    assert_eq!(ingest.parent_span_id, PRODUCER_SPAN, "ingest continues the producer's span");
    assert_eq!(ingest.service_name.as_deref(), Some("hookline-it"));
    assert_eq!(ingest.attribute("http.request.method"), Some("POST"));
    assert_eq!(ingest.attribute("http.response.status_code"), Some("202"));
    assert_eq!(ingest.attribute("subscription_id"), Some(sub.as_str()));
    assert_eq!(ingest.attribute("task_id"), Some(task_id.as_str()));

    let append = named(&spans, "send hookline.deliveries")[0];
    assert_eq!((append.kind, append.parent_span_id.as_str()), ("producer", ingest.span_id.as_str()));
    assert_eq!(append.attribute("messaging.destination.name"), Some("hookline.deliveries"));

    let mut attempts = named(&spans, "attempt");
    attempts.sort_by_key(|span| span.attribute("attempt").map(str::to_string));
    for (attempt, (status, tier)) in attempts.iter().zip([("500", "hookline.deliveries"), ("200", "hookline.retry.1s")])
    {
        assert_eq!(attempt.kind, "client");
        assert_eq!(attempt.parent_span_id, ingest.span_id, "every attempt is a child of the ingest span");
        assert_eq!(attempt.attribute("http.response.status_code"), Some(status));
        assert_eq!(attempt.attribute("hookline.retry.tier"), Some(tier));
        assert_eq!(attempt.attribute("task_id"), Some(task_id.as_str()));
        assert_eq!(attempt.attribute("subscription_id"), Some(sub.as_str()));
        assert_eq!(attempt.attribute("url.full"), Some(receiver.url("/flaky").as_str()), "no query in url.full");
    }
    assert_eq!(attempts[0].attribute("hookline.attempt.outcome"), Some("failed_attempt"));
    assert!(attempts[0].failed && !attempts[1].failed);
    assert_eq!(attempts[1].attribute("hookline.attempt.outcome"), Some("success"));
    // What the receiver got names the attempt that sent it.
    assert_eq!(received[0].1, attempts[0].span_id);
    assert_eq!(received[1].1, attempts[1].span_id);

    // Projection batches are traces of their own.
    wait_until(T, "a projection batch span", || async {
        collector.spans().into_iter().find(|span| span.name == "project batch" && span.parent_span_id.is_empty())
    })
    .await;
    assert_nothing_secret(&collector.spans(), &[secret, "payload-marker-4242", &signature, "query-secret"]);

    // A graceful stop sends the spans still queued, and exits cleanly.
    let mut service = service;
    let status = service.process.terminate(T).await;
    assert!(status.success(), "stopped cleanly with traces on: {status:?}");
}

#[tokio::test]
async fn an_event_trace_runs_through_its_fan_out_and_hookline_starts_one_when_none_came() {
    let collector = Collector::start().await;
    let receiver = Receiver::start().await;
    let settings = exported_to(&collector, "hookline-it");
    let service = Service::start(&as_env(&settings)).await;
    service.subscribe(&receiver.url("/a"), None, None).await;
    service.subscribe(&receiver.url("/b"), None, None).await;
    let event_trace = "0af7651916cd43dd8448eb211c80319c";
    let sent = service
        .client
        .post(service.url("/api/v1/events"))
        .header("content-type", "application/json")
        .header("X-Event-Type", "order.paid")
        .header("traceparent", traceparent(event_trace))
        .body(r#"{"order":7}"#)
        .send()
        .await
        .expect("send an event");
    assert_eq!(sent.status(), 202);

    let to_a = receiver.wait_for("/a", 1, T).await.remove(0);
    let to_b = receiver.wait_for("/b", 1, T).await.remove(0);
    let spans = trace_with(
        &collector,
        event_trace,
        &[("POST /api/v1/events", 1), ("expand hookline.fanout", 1), ("attempt", 2)],
    )
    .await;
    let request = named(&spans, "POST /api/v1/events")[0];
    assert_eq!(request.parent_span_id, PRODUCER_SPAN);
    assert_eq!(request.attribute("tenant_id"), Some("default"));
    let expand = named(&spans, "expand hookline.fanout")[0];
    assert_eq!((expand.kind, expand.parent_span_id.as_str()), ("consumer", request.span_id.as_str()));
    assert_eq!(expand.attribute("tasks"), Some("2"));
    let attempts = named(&spans, "attempt");
    assert!(
        attempts.iter().all(|attempt| attempt.parent_span_id == expand.span_id),
        "attempts are the expansion's children"
    );
    for delivered in [&to_a, &to_b] {
        let (trace, parent) = parent_of(delivered);
        assert_eq!(trace, event_trace);
        assert!(attempts.iter().any(|attempt| attempt.span_id == parent));
    }

    // A webhook without a traceparent: hookline starts a trace of its own, which the receiver joins.
    let sub = service.subscribe(&receiver.url("/c"), None, None).await;
    service.ingest_ok(&sub, "{}", &[]).await;
    let (trace, parent) = parent_of(&receiver.wait_for("/c", 1, T).await[0]);
    assert_ne!(trace, event_trace);
    let spans = trace_with(&collector, &trace, &[("POST /api/ingest/{id}", 1), ("attempt", 1)]).await;
    let ingest = named(&spans, "POST /api/ingest/{id}")[0];
    assert!(ingest.parent_span_id.is_empty(), "a root span");
    assert_eq!(named(&spans, "attempt")[0].span_id, parent);
}

#[tokio::test]
async fn without_an_endpoint_nothing_connects_and_a_producer_trace_is_passed_on_unchanged() {
    // The OTLP/HTTP default port: an exporter set up by mistake would connect here.
    let collector = Collector::start_on("127.0.0.1:4318".parse().unwrap())
        .await
        .expect("127.0.0.1:4318 must be free for this test (the OTLP default port)");
    let receiver = Receiver::start().await;
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", ""),
        ("OTEL_SERVICE_NAME", "hookline-off"),
        ("OTEL_TRACES_SAMPLER", "always_on"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    let mut service = Service::start(&env).await;
    let sub = service.subscribe(&receiver.url("/off"), None, None).await;
    let traced = service
        .ingest_ok(&sub, r#"{"n":1}"#, &[("traceparent", &traceparent(TRACE_ID)), ("tracestate", TRACESTATE)])
        .await;
    let untraced = service.ingest_ok(&sub, r#"{"n":2}"#, &[]).await;
    let invalid = service.ingest_ok(&sub, r#"{"n":3}"#, &[("traceparent", "00-not-a-trace-01")]).await;
    for task in [&traced, &untraced, &invalid] {
        service.wait_task(task, "succeeded", T).await;
    }
    let got = receiver.wait_for("/off", 3, T).await;
    let by_task =
        |task: &str| got.iter().find(|request| request.header("webhook-id") == Some(task)).expect("delivered");
    // Deliveries as before, plus the producer's own context, unchanged.
    let delivered = by_task(&traced);
    assert_eq!(delivered.body, br#"{"n":1}"#);
    assert_eq!(delivered.header("traceparent"), Some(traceparent(TRACE_ID).as_str()));
    assert_eq!(delivered.header("tracestate"), Some(TRACESTATE));
    for task in [&untraced, &invalid] {
        assert_eq!(by_task(task).header("traceparent"), None, "no trace is made up while traces are off");
    }

    // A graceful stop sends whatever spans are queued: none, and no connection was tried.
    let status = service.process.terminate(T).await;
    assert!(status.success(), "stopped cleanly: {status:?}");
    assert_eq!(collector.connections(), 0, "something connected to the OTLP default port");
    assert!(collector.spans().is_empty());
}

#[tokio::test]
async fn the_trace_crosses_role_processes_on_kafka() {
    let Some(engines) = engines("the_trace_crosses_role_processes_on_kafka") else { return };
    let collector = Collector::start().await;
    let receiver = Receiver::start().await;
    receiver.set("/k", Script::then(vec![Reply::Status(500)], Reply::Status(200)));
    let deployment = Deployment::new(&engines, &[]).await;
    let api = deployment.start("api,projector", &[]).await;
    // Each wants one of the two: the event goes to the tenant's subscriptions that match.
    let sub = api.subscribe(&receiver.url("/k"), None, Some("webhook.sent")).await;
    let events_sub = api.subscribe(&receiver.url("/e"), None, Some("order.paid")).await;
    let ingest_settings = exported_to(&collector, "hookline-ingest");
    let _ingest = deployment.start("ingest", &as_env(&ingest_settings)).await;
    let delivery_settings = exported_to(&collector, "hookline-delivery");
    let _delivery = deployment.start("delivery,fanout", &as_env(&delivery_settings)).await;

    // Produced straight into Kafka with the W3C headers.
    let (webhook_trace, event_trace) = ("11111111111111111111111111111111", "22222222222222222222222222222222");
    let headers = |trace_id: &str| {
        vec![("traceparent".to_string(), traceparent(trace_id).into_bytes()), ("tracestate".into(), TRACESTATE.into())]
    };
    let log = kafka(&engines, &deployment).await;
    let mut event_headers = headers(event_trace);
    event_headers.push(("event_type".into(), b"order.paid".to_vec()));
    log.append(vec![
        NewRecord {
            topic: "hookline.ingest".into(),
            key: sub.clone().into_bytes(),
            headers: [headers(webhook_trace), vec![("event_type".into(), b"webhook.sent".to_vec())]].concat(),
            value: br#"{"via":"kafka"}"#.to_vec(),
        },
        NewRecord {
            topic: "hookline.events".into(),
            key: TenantId::default().as_str().as_bytes().to_vec(),
            headers: event_headers,
            value: br#"{"event":"kafka"}"#.to_vec(),
        },
    ])
    .await
    .expect("produce to hookline.ingest and hookline.events");

    // The webhook: consumed by the ingest process, attempted twice by the delivery process.
    let got = receiver.wait_for("/k", 2, Duration::from_secs(60)).await;
    let spans = trace_with(&collector, webhook_trace, &[("ingest_record", 1), ("attempt", 2)]).await;
    let consumed = named(&spans, "ingest_record")[0];
    assert_eq!(consumed.service_name.as_deref(), Some("hookline-ingest"));
    assert_eq!((consumed.kind, consumed.parent_span_id.as_str()), ("consumer", PRODUCER_SPAN));
    assert_eq!(consumed.attribute("messaging.system"), Some("kafka"));
    assert!(consumed.attribute("messaging.destination.name").is_some_and(|topic| topic.ends_with("hookline.ingest")));
    let attempts = named(&spans, "attempt");
    for attempt in &attempts {
        assert_eq!(attempt.service_name.as_deref(), Some("hookline-delivery"));
        assert_eq!(attempt.parent_span_id, consumed.span_id, "the attempt's parent lives in the ingest process");
    }
    for request in &got {
        let (trace, parent) = parent_of(request);
        assert_eq!(trace, webhook_trace);
        assert!(attempts.iter().any(|attempt| attempt.span_id == parent));
    }

    // The event: ingest process, then expanded and delivered by the other.
    let delivered = receiver.wait_for("/e", 1, Duration::from_secs(60)).await.remove(0);
    let spans =
        trace_with(&collector, event_trace, &[("ingest_event", 1), ("expand hookline.fanout", 1), ("attempt", 1)])
            .await;
    let consumed = named(&spans, "ingest_event")[0];
    let expand = named(&spans, "expand hookline.fanout")[0];
    let attempt = named(&spans, "attempt")[0];
    assert_eq!(consumed.parent_span_id, PRODUCER_SPAN);
    assert_eq!(
        (expand.parent_span_id.as_str(), expand.service_name.as_deref()),
        (consumed.span_id.as_str(), Some("hookline-delivery"))
    );
    assert_eq!(attempt.parent_span_id, expand.span_id);
    assert_eq!(attempt.attribute("subscription_id"), Some(events_sub.as_str()));
    assert_eq!(parent_of(&delivered), (event_trace.to_string(), attempt.span_id.clone()));
}
