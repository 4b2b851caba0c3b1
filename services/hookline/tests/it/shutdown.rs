//! SIGTERM under load, five times in a row on the same data directory: each time the
//! process exits 0 within its grace period, and in the end every accepted task is
//! delivered and no delivery that was complete before its cycle's SIGTERM is repeated.
//!
//! "Complete before the SIGTERM" is measured from the service itself: just before the
//! signal, the subscription's attempt log (a view the projector builds from durable
//! `AttemptRecorded` records) is read, and every task with a `success` attempt there
//! had its outcome durable before the signal. Nothing of those may reach the receiver
//! twice; repeats may only come from attempts still unfinished at the signal.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hookline_testkit::process::wait_until;
use hookline_testkit::receiver::{Receiver, Reply, Script};
use serde_json::Value;

use crate::common::{client, Service};

const CYCLES: usize = 5;
const WEBHOOKS_PER_CYCLE: usize = 400;
const GRACE: Duration = Duration::from_secs(10);
/// Slow enough answers that deliveries are still flowing when the signal comes.
const RECEIVER_DELAY: Duration = Duration::from_millis(100);

/// Sends `count` webhooks from 16 concurrent clients; returns the task ids answered 202.
/// Requests refused because the service is going away are not accepted, and not counted.
async fn send_webhooks(base: String, sub: String, count: usize) -> Vec<String> {
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let next = Arc::new(AtomicUsize::new(0));
    let mut senders = Vec::new();
    for _ in 0..16 {
        let (base, sub, accepted, next) = (base.clone(), sub.clone(), accepted.clone(), next.clone());
        senders.push(tokio::spawn(async move {
            let client = client();
            while next.fetch_add(1, Ordering::Relaxed) < count {
                let sent = client
                    .post(format!("{base}/api/ingest/{sub}"))
                    .header("content-type", "application/json")
                    .body(r#"{"load":true}"#)
                    .send()
                    .await;
                let Ok(response) = sent else { return };
                if response.status() != 202 {
                    continue;
                }
                let Ok(answer) = response.json::<Value>().await else { return };
                if let Some(task_id) = answer["task_id"].as_str() {
                    accepted.lock().unwrap().push(task_id.to_string());
                }
            }
        }));
    }
    for sender in senders {
        sender.await.expect("sender task");
    }
    let ids = accepted.lock().unwrap().clone();
    ids
}

/// Tasks of `sub` whose successful attempt the service has durably recorded.
async fn durably_succeeded(service: &Service, sub: &str) -> HashSet<String> {
    let (status, attempts) = service.get(&format!("/api/status/subscriptions/{sub}/attempts?limit=1000")).await;
    assert_eq!(status, 200, "{attempts}");
    let attempts = attempts.as_array().expect("an array of attempts");
    attempts
        .iter()
        .filter(|attempt| attempt["outcome"] == "success")
        .filter_map(|attempt| attempt["task_id"].as_str().map(str::to_string))
        .collect()
}

/// How many times each task id reached the receiver, over every cycle's path.
fn deliveries(receiver: &Receiver) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for cycle in 0..CYCLES {
        for request in receiver.requests(&format!("/cycle{cycle}")) {
            if let Some(id) = request.header("webhook-id") {
                *counts.entry(id.to_string()).or_insert(0) += 1;
            }
        }
    }
    counts
}

/// Waits until the delivery group has nothing left in `hookline.deliveries` (as sampled
/// for `/metrics`), so that no repeat can still be on its way.
async fn wait_until_deliveries_are_committed(service: &Service) {
    wait_until(Duration::from_secs(30), "the delivery group's lag to reach zero", || async {
        let text = service.client.get(service.url("/metrics")).send().await.ok()?.text().await.ok()?;
        let lags: Vec<f64> = text
            .lines()
            .filter(|line| {
                line.starts_with(
                    r#"hookline_consumer_lag_records{group="hookline-delivery",topic="hookline.deliveries""#,
                )
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse().ok())
            .collect();
        // FAST_RETRIES runs two partitions.
        (lags.len() == 2 && lags.iter().all(|lag| *lag == 0.0)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn five_sigterms_under_load_lose_nothing_and_repeat_nothing_that_was_done() {
    let receiver = Receiver::start().await;
    for cycle in 0..CYCLES {
        receiver.set(&format!("/cycle{cycle}"), Script::always(Reply::Delay(RECEIVER_DELAY, 200)));
    }
    let dir = tempfile::tempdir().unwrap();
    let grace = GRACE.as_secs().to_string();
    let env = [("HOOKLINE_SHUTDOWN_GRACE_SECONDS", grace.as_str())];

    let mut accepted: Vec<String> = Vec::new();
    let mut done_before_signal: Vec<HashSet<String>> = Vec::new();
    let mut signals: Vec<Instant> = Vec::new();
    for cycle in 0..CYCLES {
        let mut service = Service::start_in(dir.path(), &env).await;
        let path = format!("/cycle{cycle}");
        let sub = service.subscribe(&receiver.url(&path), None, None).await;
        let load = tokio::spawn(send_webhooks(service.url(""), sub.clone(), WEBHOOKS_PER_CYCLE));
        wait_until(Duration::from_secs(30), "deliveries of this cycle flowing", || async {
            (receiver.requests(&path).len() >= WEBHOOKS_PER_CYCLE / 2).then_some(())
        })
        .await;

        let done = durably_succeeded(&service, &sub).await;
        let signalled = Instant::now();
        let status = service.process.terminate(GRACE * 2).await;
        let took = signalled.elapsed();
        assert!(status.success(), "cycle {cycle}: SIGTERM must exit 0, got {status:?}");
        assert!(took < GRACE, "cycle {cycle}: exit took {took:?}, longer than the {GRACE:?} grace");

        let sent = load.await.expect("load task");
        let delivered_so_far = receiver.requests(&path).len();
        println!(
            "cycle {cycle}: {} accepted, {} delivered to this cycle's path, {} durably done before SIGTERM, exit in {took:?}",
            sent.len(),
            delivered_so_far,
            done.len()
        );
        assert!(!sent.is_empty(), "cycle {cycle}: nothing was accepted");
        accepted.extend(sent);
        done_before_signal.push(done);
        signals.push(signalled);
    }

    let service = Service::start_in(dir.path(), &env).await;
    let want: HashSet<String> = accepted.iter().cloned().collect();
    assert_eq!(want.len(), accepted.len(), "every 202 carries its own task id");
    wait_until(Duration::from_secs(60), "every accepted task delivered", || async {
        let delivered = deliveries(&receiver);
        want.iter().all(|id| delivered.contains_key(id)).then_some(())
    })
    .await;
    wait_until_deliveries_are_committed(&service).await;

    let delivered = deliveries(&receiver);
    let total: usize = delivered.values().sum();
    let repeated = total - delivered.len();
    println!(
        "after {CYCLES} SIGTERMs: {} accepted, {} delivered, {total} deliveries in all, {repeated} repeated",
        want.len(),
        delivered.len()
    );
    assert!(delivered.keys().all(|id| want.contains(id)), "only accepted tasks are delivered");
    // Where each repeated task first reached the receiver, relative to its cycle's SIGTERM.
    let mut offsets_ms = Vec::new();
    for (cycle, signal) in signals.iter().enumerate() {
        let mut seen = HashSet::new();
        for request in receiver.requests(&format!("/cycle{cycle}")) {
            let Some(id) = request.header("webhook-id") else { continue };
            if delivered[id] > 1 && seen.insert(id.to_string()) {
                let after = request.at.checked_duration_since(*signal).map(|d| d.as_millis() as i64);
                offsets_ms.push(after.unwrap_or_else(|| -(signal.duration_since(request.at).as_millis() as i64)));
            }
        }
    }
    offsets_ms.sort_unstable();
    println!(
        "first delivery of each repeated task, in ms after its cycle's SIGTERM (negative: before): {offsets_ms:?}"
    );
    for (cycle, done) in done_before_signal.iter().enumerate() {
        let repeated_after_done: Vec<(&String, usize)> =
            done.iter().map(|id| (id, delivered[id])).filter(|(_, times)| *times > 1).collect();
        assert!(
            repeated_after_done.is_empty(),
            "cycle {cycle}: tasks durably done before the SIGTERM were delivered again: {repeated_after_done:?}"
        );
    }
}
