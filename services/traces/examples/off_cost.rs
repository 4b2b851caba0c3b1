//! What traces cost a webhook while they are off (no OTLP endpoint): every step the
//! pipeline added for them, timed against the work it sits next to. Run in release:
//! `cargo run --release -p hookline-traces --example off_cost`; figures in
//! docs/benchmarks.md.

use std::hint::black_box;
use std::time::Instant;

use chrono::{DateTime, Utc};
use hookline_domain::{SubscriptionId, TaskAccepted, TaskId, TraceContext};
use hookline_traces::Kind;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tracing::field::Empty;

/// TaskAccepted as it was before it carried a trace: the record codec's "before".
#[derive(Serialize, Deserialize)]
struct TaskAcceptedBefore {
    task_id: TaskId,
    subscription_id: SubscriptionId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    event_type: Option<String>,
    accepted_at: DateTime<Utc>,
    payload: Box<RawValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    event_id: Option<hookline_domain::EventId>,
}

const ROUNDS: u32 = 50_000;
/// Runs of ROUNDS calls each: the machine is shared, so the best run is the figure.
const RUNS: usize = 15;
const TRACEPARENT: &[u8] = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// Nanoseconds per call of one run of ROUNDS calls.
fn one_run(work: &mut dyn FnMut()) -> f64 {
    let started = Instant::now();
    for _ in 0..ROUNDS {
        work();
    }
    started.elapsed().as_nanos() as f64 / f64::from(ROUNDS)
}

/// Nanoseconds per call of each of `works`, the best of RUNS runs, the runs of all
/// interleaved so that a busy moment of the machine weighs on each alike.
fn ns_per_call<const N: usize>(mut works: [&mut dyn FnMut(); N]) -> [f64; N] {
    let mut best = [f64::INFINITY; N];
    for _ in 0..RUNS {
        for (work, best) in works.iter_mut().zip(best.iter_mut()) {
            *best = best.min(one_run(*work));
        }
    }
    best
}

fn main() {
    // Logs as `hookline serve` has them by default: text at info, here to a sink.
    let subscriber = tracing_subscriber::fmt().with_writer(std::io::sink).with_max_level(tracing::Level::INFO).finish();
    let _default = tracing::subscriber::set_default(subscriber);
    assert!(!hookline_traces::enabled());

    let payload = format!(r#"{{"order":"{}"}}"#, "x".repeat(1_000));
    let task = TaskAccepted {
        task_id: TaskId::new(),
        subscription_id: SubscriptionId::new(),
        event_type: Some("order.created".into()),
        accepted_at: Utc::now(),
        payload: RawValue::from_string(payload).unwrap(),
        event_id: None,
        ordering_key: None,
        trace: None,
    };
    let encoded = serde_json::to_vec(&task).unwrap();
    let before = TaskAcceptedBefore {
        task_id: task.task_id,
        subscription_id: task.subscription_id,
        event_type: task.event_type.clone(),
        accepted_at: task.accepted_at,
        payload: task.payload.clone(),
        event_id: None,
    };
    let traced =
        TaskAccepted { trace: TraceContext::from_headers(Some(TRACEPARENT), Some(b"vendor=abc")), ..task.clone() };
    let traced_encoded = serde_json::to_vec(&traced).unwrap();
    println!(
        "TaskAccepted of {} bytes ({} with a trace), best run of {RUNS} of {ROUNDS} calls",
        encoded.len(),
        traced_encoded.len()
    );

    let [codec_before, codec_after, codec_traced] = ns_per_call([
        &mut || {
            let bytes = serde_json::to_vec(black_box(&before)).unwrap();
            black_box(serde_json::from_slice::<TaskAcceptedBefore>(&bytes).unwrap());
        },
        &mut || {
            let bytes = serde_json::to_vec(black_box(&task)).unwrap();
            black_box(serde_json::from_slice::<TaskAccepted>(&bytes).unwrap());
        },
        &mut || {
            let bytes = serde_json::to_vec(black_box(&traced)).unwrap();
            black_box(serde_json::from_slice::<TaskAccepted>(&bytes).unwrap());
        },
    ]);
    println!("record codec, encode + decode: before {codec_before:.0} ns, after {codec_after:.0} ns, with a trace {codec_traced:.0} ns");

    // Every call traces added to a webhook's way, with no traceparent: the REST request
    // (headers read, context handed on, ids recorded, the append's span), then the attempt.
    let mut untraced = || {
        let incoming = TraceContext::from_headers(black_box(None), black_box(None));
        let request = hookline_traces::server_span("POST", "/api/ingest/{id}", incoming.as_ref());
        let current = tracing::Span::current();
        hookline_traces::record(&current, "task_id", "x");
        let stored = hookline_traces::handed_on(&current, incoming.as_ref());
        black_box((request, hookline_traces::append_span("hookline.deliveries", 1)));
        let attempt = tracing::Span::none();
        hookline_traces::continue_trace(&attempt, stored.as_ref(), Kind::Client);
        hookline_traces::attribute(&attempt, "hookline.attempt.outcome", "success");
        black_box(hookline_traces::handed_on(&attempt, stored.as_ref()));
    };
    // The same with a producer's traceparent, which is then parsed, kept and sent on.
    let mut traced_steps = || {
        let incoming = TraceContext::from_headers(black_box(Some(TRACEPARENT)), black_box(Some(b"vendor=abc")));
        let current = tracing::Span::current();
        let stored = hookline_traces::handed_on(&current, incoming.as_ref());
        black_box(hookline_traces::handed_on(&tracing::Span::none(), stored.as_ref()));
    };
    let [steps_untraced, steps_traced] = ns_per_call([&mut untraced, &mut traced_steps]);
    println!("added steps per webhook: {steps_untraced:.0} ns without a traceparent, {steps_traced:.0} ns with one");

    // The attempt span gained one field (`otel.kind`, empty): created and entered under the fmt subscriber.
    let (task_id, subscription_id) = (task.task_id, task.subscription_id);
    let mut span_before = || {
        let span =
            tracing::info_span!("attempt", task_id = %task_id, subscription_id = %subscription_id, attempt = 1u32);
        let entered = span.enter();
        black_box(&entered);
    };
    let mut span_after = || {
        let span = tracing::info_span!(
            "attempt",
            task_id = %task_id,
            subscription_id = %subscription_id,
            attempt = 1u32,
            otel.kind = Empty
        );
        let entered = span.enter();
        black_box(&entered);
    };
    let [span_before, span_after] = ns_per_call([&mut span_before, &mut span_after]);
    println!("attempt span, created and entered: before {span_before:.0} ns, after {span_after:.0} ns");
}
