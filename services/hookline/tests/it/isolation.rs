//! Bad receivers stay contained: a blackholed target does not slow the healthy ones, and
//! huge or dripping response bodies cost neither storage nor memory beyond their caps.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hookline_domain::limits::RESPONSE_BODY_CAP;
use hookline_testkit::process::wait_until;
use hookline_testkit::receiver::{Receiver, Reply, Script};
use serde_json::{json, Value};

use crate::common::{client, Service};

const T: Duration = Duration::from_secs(60);
const HEALTHY_SUBSCRIPTIONS: usize = 10;
const WEBHOOKS_PER_PHASE: usize = 300;
const SENDERS: usize = 16;

/// Sends `count` webhooks spread round-robin over `subs`, `SENDERS` at a time. Each body
/// carries its phase, its number and the wall-clock instant just before its POST.
async fn fire(base: String, subs: Vec<String>, phase: &'static str, count: usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let subs = Arc::new(subs);
    let mut senders = Vec::new();
    for _ in 0..SENDERS {
        let (base, subs, next) = (base.clone(), subs.clone(), next.clone());
        senders.push(tokio::spawn(async move {
            let client = client();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return;
                }
                let sub = &subs[n % subs.len()];
                let sent_at_ns = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
                let body = json!({"phase": phase, "n": n, "sent_at_ns": sent_at_ns}).to_string();
                let resp = client
                    .post(format!("{base}/api/ingest/{sub}"))
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .expect("ingest");
                assert_eq!(resp.status(), 202, "ingest of {phase} #{n}");
            }
        }));
    }
    for sender in senders {
        sender.await.expect("sender");
    }
}

/// Delivery latency (receiver arrival minus send instant) of each webhook of `phase` that
/// arrived on `paths`, by webhook number; a redelivery keeps the first arrival.
fn latencies(receiver: &Receiver, paths: &[String], phase: &str) -> HashMap<u64, Duration> {
    let mut by_number = HashMap::new();
    for path in paths {
        for request in receiver.requests(path) {
            let body: Value = request.json().expect("json body");
            if body["phase"] != phase {
                continue;
            }
            let sent = UNIX_EPOCH + Duration::from_nanos(body["sent_at_ns"].as_u64().expect("sent_at_ns"));
            // Both clocks are this machine's wall clock, so arrival is never before the send.
            let latency = request.received_at.duration_since(sent).unwrap_or_default();
            by_number
                .entry(body["n"].as_u64().expect("n"))
                .and_modify(|l: &mut Duration| *l = (*l).min(latency))
                .or_insert(latency);
        }
    }
    by_number
}

/// Waits until every webhook of `phase` has arrived and returns their sorted latencies.
async fn all_latencies(receiver: &Receiver, paths: &[String], phase: &str) -> Vec<Duration> {
    let by_number = wait_until(T, &format!("all {WEBHOOKS_PER_PHASE} {phase} webhooks delivered"), || async {
        let got = latencies(receiver, paths, phase);
        (got.len() == WEBHOOKS_PER_PHASE).then_some(got)
    })
    .await;
    let mut sorted: Vec<Duration> = by_number.into_values().collect();
    sorted.sort();
    sorted
}

/// The `p`-quantile (0 < p ≤ 1) of sorted values, nearest rank.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::test]
async fn a_blackholed_receiver_does_not_slow_the_healthy_ones() {
    let receiver = Receiver::start().await;
    receiver.set("/blackhole", Script::always(Reply::Hang));
    // A 3 s timeout keeps every blackholed attempt hanging through the whole loaded phase.
    let service = Service::start(&[("DELIVERY_TIMEOUT_SECONDS", "3")]).await;
    let healthy_paths: Vec<String> = (0..HEALTHY_SUBSCRIPTIONS).map(|i| format!("/healthy/{i}")).collect();
    let mut healthy = Vec::new();
    for path in &healthy_paths {
        healthy.push(service.subscribe(&receiver.url(path), None, None).await);
    }
    // The worst case: a fixed 64 in flight, all hanging (adaptive concurrency would cut
    // a blackhole's line down to one at its first timeouts).
    let body = json!({"target_url": receiver.url("/blackhole"), "max_in_flight": 64});
    let created: Value =
        client().post(service.url("/api/subscriptions")).json(&body).send().await.unwrap().json().await.unwrap();
    let blackhole = created["id"].as_str().expect("id").to_string();

    fire(service.url(""), healthy.clone(), "baseline", WEBHOOKS_PER_PHASE).await;
    let baseline = all_latencies(&receiver, &healthy_paths, "baseline").await;

    let blackholed = tokio::spawn(fire(service.url(""), vec![blackhole], "blackhole", WEBHOOKS_PER_PHASE));
    // Load the healthy ones only once the blackhole is really holding deliveries open.
    receiver.wait_for("/blackhole", 32, T).await;
    fire(service.url(""), healthy, "load", WEBHOOKS_PER_PHASE).await;
    let loaded = all_latencies(&receiver, &healthy_paths, "load").await;
    let hanging = receiver.requests("/blackhole").len();
    blackholed.await.expect("blackhole sender");

    let (base_p50, base_p99) = (percentile(&baseline, 0.5), percentile(&baseline, 0.99));
    let (load_p50, load_p99) = (percentile(&loaded, 0.5), percentile(&loaded, 0.99));
    println!(
        "healthy delivery latency: baseline p50 {:.1} ms p99 {:.1} ms; beside the blackhole ({hanging} hung requests) p50 {:.1} ms p99 {:.1} ms",
        ms(base_p50),
        ms(base_p99),
        ms(load_p50),
        ms(load_p99)
    );
    // Generous on purpose: the service, 16 senders, the receiver and the other tests share
    // 2 cores, and each 300-webhook burst queues briefly, so the baseline p99 alone varies
    // from 0.7 s to 1.6 s between runs (loaded p99 measured at 0.6 s to 0.9 s). What the
    // bound must catch is healthy deliveries queued behind hung ones: each such wait lasts
    // the 3 s timeout and, with 300 hung webhooks, they stack far above it.
    let bound = base_p99 * 3 + Duration::from_millis(250);
    assert!(load_p99 <= bound, "healthy p99 {load_p99:?} beside the blackhole exceeds {bound:?}");
}

/// Peak resident memory of process `pid`, in kB, from the kernel's high-water mark.
fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM line");
    line.split_whitespace().nth(1).expect("VmHWM value").parse().expect("VmHWM kB")
}

#[tokio::test]
async fn huge_and_dripping_response_bodies_keep_memory_bounded() {
    let receiver = Receiver::start().await;
    receiver.set("/huge", Script::always(Reply::Huge { status: 200, bytes: 200 * 1024 * 1024 }));
    receiver
        .set("/drip", Script::always(Reply::Drip { status: 500, bytes: 1_000_000, every: Duration::from_millis(10) }));
    let service = Service::start(&[("DELIVERY_TIMEOUT_SECONDS", "2")]).await;
    let huge = service.subscribe(&receiver.url("/huge"), None, None).await;
    let drip = service.subscribe(&receiver.url("/drip"), None, None).await;
    let mut huge_tasks = Vec::new();
    let mut drip_tasks = Vec::new();
    for n in 0..20 {
        huge_tasks.push(service.ingest_ok(&huge, &format!(r#"{{"n":{n}}}"#), &[]).await);
        drip_tasks.push(service.ingest_ok(&drip, &format!(r#"{{"n":{n}}}"#), &[]).await);
    }

    for task_id in &huge_tasks {
        let task = service.wait_task(task_id, "succeeded", T).await;
        let body = task["attempts"][0]["response_body"].as_str().expect("stored body");
        assert_eq!(body.len(), RESPONSE_BODY_CAP, "a 200 MB body is stored cut at the cap");
    }
    for task_id in &drip_tasks {
        let task = wait_until(T, &format!("drip task {task_id} to have its first attempt"), || async {
            let (code, task) = service.task(task_id).await;
            (code == 200 && (task["status"] == "retrying" || task["status"] == "failed")).then_some(task)
        })
        .await;
        for attempt in task["attempts"].as_array().expect("attempts") {
            let latency = attempt["latency_ms"].as_u64().expect("latency_ms");
            assert!((1_800..=3_500).contains(&latency), "a drip is cut at the 2 s timeout: {attempt}");
            let stored = attempt["response_body"].as_str().map_or(0, str::len);
            assert!(stored <= RESPONSE_BODY_CAP, "stored {stored} bytes of a dripped body");
        }
    }

    let peak_kb = peak_rss_kb(service.process.pid());
    println!("hookline peak RSS after 20 huge (200 MiB) and 20 dripping responses: {:.1} MB", peak_kb as f64 / 1024.0);
    assert!(peak_kb < 150 * 1024, "peak RSS {peak_kb} kB is not bounded by the body cap");
}
