//! Ordering per key, black-box: a subscription with `ordering: "key"`, webhooks and
//! events carrying `X-Ordering-Key` (and, on Kafka, the `ordering_key` record header),
//! real receivers that fail, and kill -9 — on the embedded default and on Kafka + CQL
//! with the delivery role in its own process.
//!
//! What a user checks is what the receiver saw: for each key, the first successful
//! delivery of each task arrives in the order the tasks were accepted (the sequence
//! numbers in the bodies increase), and every task arrives.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use futures::future::join_all;
use hookline_log::NewRecord;
use hookline_testkit::process::wait_until;
use hookline_testkit::receiver::{ReceivedRequest, Receiver, Reply, Script};
use serde_json::{json, Value};

use crate::common::{engines, Deployment, Service};
use crate::distributed::kafka;

const T: Duration = Duration::from_secs(240);

/// Retries that never run out in these tests (12 attempts, at 30 % failures), 1 s apart:
/// one tier of 1 s, so a line behind a failing task waits about a second for it.
const PATIENT_RETRIES: &[(&str, &str)] = &[
    ("MAX_RETRIES", "12"),
    ("RETRY_BASE_DELAY_SECONDS", "1"),
    ("RETRY_FACTOR", "1"),
    ("MAX_RETRY_DELAY_SECONDS", "1"),
];

/// Where a test runs: the embedded default (one process, every role), or Kafka + CQL
/// with the api, projector, ingest and fanout roles in one process and the delivery
/// role in another.
struct Stack {
    api: Service,
    delivery: Option<Service>,
    place: Place,
}

enum Place {
    Embedded { dir: tempfile::TempDir, env: Vec<(String, String)> },
    Distributed(Deployment),
}

impl Stack {
    async fn embedded(env: &[(&str, &str)]) -> Stack {
        let dir = tempfile::tempdir().expect("temp dir");
        let api = Service::start_in(dir.path(), env).await;
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Stack { api, delivery: None, place: Place::Embedded { dir, env } }
    }

    async fn distributed(test: &str, env: &[(&str, &str)]) -> Option<Stack> {
        let engines = engines(test)?;
        let deployment = Deployment::new(&engines, env).await;
        let api = deployment.start("api,projector,ingest,fanout", &[]).await;
        let delivery = deployment.start("delivery", &[]).await;
        Some(Stack { api, delivery: Some(delivery), place: Place::Distributed(deployment) })
    }

    /// Kills the process that delivers (the only one, embedded) with SIGKILL and starts it again.
    async fn kill_9_and_restart_delivery(&mut self) {
        match &self.place {
            Place::Embedded { dir, env } => {
                self.api.process.kill9();
                let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                self.api = Service::start_in(Path::new(dir.path()), &env).await;
            }
            Place::Distributed(deployment) => {
                self.delivery.as_mut().expect("a delivery process").process.kill9();
                self.delivery = Some(deployment.start("delivery", &[]).await);
            }
        }
    }
}

/// Creates a subscription to `url` with the given ordering; returns its id.
async fn subscription(service: &Service, url: &str, ordering: &str) -> String {
    create(service, json!({"target_url": url, "ordering": ordering})).await
}

/// Creates a subscription from `body`, which names its ordering; returns its id.
async fn create(service: &Service, body: Value) -> String {
    let created = service.create_subscription(&body).await;
    assert_eq!(created["ordering"], body["ordering"]);
    created["id"].as_str().expect("id").to_string()
}

fn body(key: &str, seq: usize) -> String {
    format!(r#"{{"key":"{key}","seq":{seq}}}"#)
}

/// Sends a webhook with ordering key `key` (none when empty); returns its task id.
async fn send_webhook(service: &Service, sub: &str, key: &str, seq: usize) -> String {
    let headers: &[(&str, &str)] = if key.is_empty() { &[] } else { &[("X-Ordering-Key", key)] };
    service.ingest_ok(sub, &body(key, seq), headers).await
}

/// Sends an event to the default tenant with ordering key `key`.
async fn send_event(service: &Service, key: &str, seq: usize) {
    let resp = service
        .client
        .post(service.url("/api/v1/events"))
        .header("content-type", "application/json")
        .header("X-Event-Type", "order.updated")
        .header("X-Ordering-Key", key)
        .body(body(key, seq))
        .send()
        .await
        .expect("send an event");
    assert_eq!(resp.status(), 202, "{}", resp.text().await.unwrap_or_default());
}

/// Sends `per_key` webhooks for each key, each key's one after the other (each
/// accepted before the next is sent, so its sequence is its acceptance order), the
/// keys at once. Keys named in `as_events` go as events to the tenant instead.
async fn send_lines(service: &Service, sub: &str, keys: &[String], per_key: usize, as_events: &[&str]) {
    join_all(keys.iter().map(|key| async move {
        for seq in 0..per_key {
            if as_events.contains(&key.as_str()) {
                send_event(service, key, seq).await;
            } else {
                send_webhook(service, sub, key, seq).await;
            }
        }
    }))
    .await;
}

fn succeeded(request: &ReceivedRequest) -> bool {
    matches!(request.reply, Reply::Status(200) | Reply::StatusWithBody(200, _))
}

/// The first successful delivery of each task on `path`, in arrival order, as
/// (key, sequence number).
fn first_successes(receiver: &Receiver, path: &str) -> Vec<(String, u64)> {
    let mut seen = HashSet::new();
    receiver
        .requests(path)
        .into_iter()
        .filter(succeeded)
        .filter(|request| seen.insert(request.header("webhook-id").expect("webhook-id").to_string()))
        .map(|request| {
            let body = request.json().expect("a JSON body");
            (body["key"].as_str().expect("key").to_string(), body["seq"].as_u64().expect("seq"))
        })
        .collect()
}

/// Asserts that each key's first successes came in sequence order, and that each key
/// got every one of its `per_key` tasks; returns the sequences by key.
fn assert_in_order(successes: &[(String, u64)], per_key: usize) -> BTreeMap<String, Vec<u64>> {
    let mut by_key: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for (key, seq) in successes {
        by_key.entry(key.clone()).or_default().push(*seq);
    }
    for (key, seqs) in &by_key {
        assert!(seqs.windows(2).all(|pair| pair[0] < pair[1]), "key {key} out of order: {seqs:?}");
        assert_eq!(seqs.len(), per_key, "key {key}: {seqs:?}");
    }
    by_key
}

/// A receiver that fails about `percent` % of requests, the same ones on every run
/// (by arrival order, from a fixed seed), then succeeds once the script runs out.
fn flaky(percent: u64, requests: usize) -> Script {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let steps = (0..requests)
        .map(|_| {
            // xorshift64*
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let draw = state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33;
            if draw % 100 < percent {
                Reply::Status(500)
            } else {
                Reply::Status(200)
            }
        })
        .collect();
    Script::then(steps, Reply::Status(200))
}

fn keys(n: usize) -> Vec<String> {
    (0..n).map(|k| format!("k{k}")).collect()
}

/// 1,000 events over 10 keys to a receiver that fails ~30 % of requests: each key's
/// first successful deliveries arrive in acceptance order, and none is lost. Two keys
/// go as events to the tenant, the rest as webhooks to the subscription (on Kafka, one
/// more key comes straight from `hookline.ingest` with the `ordering_key` header).
async fn keys_arrive_in_order_through_failures(stack: Stack, engines_log: bool) {
    let receiver = Receiver::start().await;
    receiver.set("/ordered", flaky(30, 4000));
    let api = &stack.api;
    let sub = subscription(api, &receiver.url("/ordered"), "key").await;
    let keys = keys(10);
    let started = std::time::Instant::now();
    let (by_rest, direct) = if engines_log { keys.split_at(9) } else { keys.split_at(10) };
    if let (Some(key), Place::Distributed(deployment)) = (direct.first(), &stack.place) {
        let engines = engines("ordering over Kafka").expect("engines");
        let log = kafka(&engines, deployment).await;
        let records = (0..100)
            .map(|seq| NewRecord {
                topic: "hookline.ingest".into(),
                key: sub.clone().into_bytes(),
                headers: vec![("ordering_key".into(), key.clone().into_bytes())],
                value: body(key, seq).into_bytes(),
            })
            .collect();
        log.append(records).await.expect("produce keyed webhooks to hookline.ingest");
    }
    send_lines(api, &sub, by_rest, 100, &["k3", "k7"]).await;
    println!("ordering: 1,000 events accepted in {:.1} s", started.elapsed().as_secs_f64());

    wait_until(T, "1,000 first successes", || async {
        (first_successes(&receiver, "/ordered").len() >= 1000).then_some(())
    })
    .await;
    let successes = first_successes(&receiver, "/ordered");
    let by_key = assert_in_order(&successes, 100);
    let requests = receiver.requests("/ordered");
    let failures = requests.iter().filter(|r| !succeeded(r)).count();
    let counts: Vec<String> = by_key.iter().map(|(key, seqs)| format!("{key}: {}", seqs.len())).collect();
    println!(
        "ordering: 1,000 tasks in {:.1} s, {} requests ({failures} failed), in order per key ({})",
        started.elapsed().as_secs_f64(),
        requests.len(),
        counts.join(", ")
    );
}

#[tokio::test]
async fn keys_arrive_in_order_through_failures_embedded() {
    keys_arrive_in_order_through_failures(Stack::embedded(PATIENT_RETRIES).await, false).await;
}

#[tokio::test]
async fn keys_arrive_in_order_through_failures_on_kafka_and_cql() {
    let test = "keys_arrive_in_order_through_failures_on_kafka_and_cql";
    let Some(stack) = Stack::distributed(test, PATIENT_RETRIES).await else { return };
    keys_arrive_in_order_through_failures(stack, true).await;
}

/// A key whose receiver keeps failing holds back its own line only: every other key's
/// events arrive meanwhile; once its head has run out of attempts (4, over 7 s), its
/// next event goes on.
async fn a_stuck_key_holds_back_only_itself(stack: Stack) {
    let receiver = Receiver::start().await;
    let path = "/stuck";
    receiver
        .set(path, Script::always(Reply::Status(200)).except_bodies_containing(r#""key":"k0""#, Reply::Status(500)));
    let api = &stack.api;
    let sub = subscription(api, &receiver.url(path), "key").await;
    let head = send_webhook(api, &sub, "k0", 0).await;
    for seq in 1..3 {
        send_webhook(api, &sub, "k0", seq).await;
    }
    let others: Vec<String> = (1..5).map(|k| format!("k{k}")).collect();
    send_lines(api, &sub, &others, 20, &[]).await;

    wait_until(T, "the other keys' 80 events", || async {
        (first_successes(&receiver, path).len() >= 80).then_some(())
    })
    .await;
    let (_, head_now) = api.task(&head).await;
    assert_ne!(head_now["status"], "failed", "the others arrived only after k0's head ran out: {head_now}");
    let k0 = |receiver: &Receiver| -> Vec<u64> {
        let requests = receiver.requests(path);
        requests
            .iter()
            .filter_map(|r| r.json().ok())
            .filter(|b| b["key"] == "k0")
            .map(|b| b["seq"].as_u64().unwrap())
            .collect()
    };
    assert!(k0(&receiver).iter().all(|seq| *seq == 0), "k0's next went before its head ended: {:?}", k0(&receiver));
    assert_in_order(&first_successes(&receiver, path), 20);

    // The head runs out of attempts; then k0's next event goes on, and, the receiver
    // taking k0 again, k0's events arrive in order.
    api.wait_task(&head, "failed", T).await;
    receiver.set(path, Script::always(Reply::Status(200)));
    wait_until(T, "k0's other two events", || async { (first_successes(&receiver, path).len() >= 82).then_some(()) })
        .await;
    let seen = k0(&receiver);
    let head_attempts = seen.iter().take_while(|seq| **seq == 0).count();
    println!("ordering: k0's head tried {head_attempts} times, then k0 went on: {seen:?}");
    assert_eq!(head_attempts, 4, "the head's four attempts came first: {seen:?}");
    assert!(seen[head_attempts..].windows(2).all(|pair| pair[0] <= pair[1]), "k0 in order after its head: {seen:?}");
}

#[tokio::test]
async fn a_stuck_key_holds_back_only_itself_embedded() {
    a_stuck_key_holds_back_only_itself(Stack::embedded(&[]).await).await;
}

#[tokio::test]
async fn a_stuck_key_holds_back_only_itself_on_kafka_and_cql() {
    let Some(stack) = Stack::distributed("a_stuck_key_holds_back_only_itself_on_kafka_and_cql", &[]).await else {
        return;
    };
    a_stuck_key_holds_back_only_itself(stack).await;
}

/// kill -9 of the process that delivers while every key waits behind a failing head;
/// after the restart nothing is lost and each key's order holds.
async fn order_survives_kill_9(mut stack: Stack) {
    let receiver = Receiver::start().await;
    let path = "/crash";
    receiver.set(path, Script::always(Reply::Status(500)));
    let sub = subscription(&stack.api, &receiver.url(path), "key").await;
    let keys = keys(5);
    send_lines(&stack.api, &sub, &keys, 20, &[]).await;
    // Every head has failed twice: its retry waits in a tier, the rest of its line behind it.
    wait_until(T, "every head failing twice", || async {
        let requests = receiver.requests(path);
        let heads = keys.iter().filter(|key| {
            let tries = requests.iter().filter_map(|r| r.json().ok()).filter(|b| b["key"] == key.as_str()).count();
            tries >= 2
        });
        (heads.count() == keys.len()).then_some(())
    })
    .await;
    let before: Vec<Value> = receiver.requests(path).iter().filter_map(|r| r.json().ok()).collect();
    assert!(before.iter().all(|b| b["seq"] == 0), "only heads were tried before the crash: {before:?}");

    stack.kill_9_and_restart_delivery().await;
    receiver.set(path, flaky(30, 1000));
    wait_until(T, "100 first successes after the restart", || async {
        (first_successes(&receiver, path).len() >= 100).then_some(())
    })
    .await;
    let by_key = assert_in_order(&first_successes(&receiver, path), 20);
    let total = receiver.requests(path).len();
    println!(
        "ordering: kill -9 with 5 lines waiting; after the restart {} keys in order, {total} requests",
        by_key.len()
    );
}

#[tokio::test]
async fn order_survives_kill_9_embedded() {
    order_survives_kill_9(Stack::embedded(PATIENT_RETRIES).await).await;
}

#[tokio::test]
async fn order_survives_kill_9_of_the_delivery_process_on_kafka_and_cql() {
    let test = "order_survives_kill_9_of_the_delivery_process_on_kafka_and_cql";
    let Some(stack) = Stack::distributed(test, PATIENT_RETRIES).await else { return };
    order_survives_kill_9(stack).await;
}

/// Unordered subscriptions, and events without a key on an ordered one, go at once:
/// 20 webhooks to a receiver that answers after 1 s all arrive within that second. The
/// same key on an ordered subscription goes one at a time.
#[tokio::test]
async fn unordered_deliveries_go_at_once_and_one_key_goes_one_at_a_time() {
    let receiver = Receiver::start().await;
    for path in ["/unordered", "/keyless", "/one-key"] {
        receiver.set(path, Script::always(Reply::Delay(Duration::from_secs(1), 200)));
    }
    let service = Service::start(&[]).await;
    // A fixed limit: what is measured is ordering, not adaptive concurrency's slow start.
    let at_once = |path: &str, ordering: &str| json!({"target_url": receiver.url(path), "ordering": ordering, "max_in_flight": 64});
    let unordered = create(&service, at_once("/unordered", "none")).await;
    let ordered = create(&service, at_once("/keyless", "key")).await;
    let one_key = subscription(&service, &receiver.url("/one-key"), "key").await;
    for seq in 0..20 {
        send_webhook(&service, &unordered, "k0", seq).await;
        send_webhook(&service, &ordered, "", seq).await;
    }
    for seq in 0..3 {
        send_webhook(&service, &one_key, "k0", seq).await;
    }
    for path in ["/unordered", "/keyless"] {
        let arrived = receiver.wait_for(path, 20, Duration::from_secs(30)).await;
        let spread = arrived[19].at - arrived[0].at;
        println!("ordering: {path}: 20 deliveries within {:.2} s", spread.as_secs_f64());
        assert!(spread < Duration::from_millis(900), "{path}: 20 deliveries spread over {spread:?}");
    }
    let one_at_a_time = receiver.wait_for("/one-key", 3, Duration::from_secs(30)).await;
    let gaps: Vec<Duration> = one_at_a_time.windows(2).map(|pair| pair[1].at - pair[0].at).collect();
    assert!(gaps.iter().all(|gap| *gap >= Duration::from_millis(950)), "one key, one at a time: {gaps:?}");
    let seqs: Vec<u64> = one_at_a_time.iter().map(|r| r.json().unwrap()["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [0, 1, 2]);
}

/// Bad ordering modes and keys are refused with a 400 naming what is wrong.
#[tokio::test]
async fn bad_orderings_and_keys_are_refused() {
    let service = Service::start(&[]).await;
    let client = &service.client;
    for bad in [json!("fifo"), json!(5), json!(null), json!("KEY")] {
        let body = json!({"target_url": "http://127.0.0.1:9/h", "ordering": bad});
        let resp = client.post(service.url("/api/subscriptions")).json(&body).send().await.unwrap();
        assert_eq!(resp.status(), 400, "ordering {bad}");
        let answer: Value = resp.json().await.unwrap();
        assert_eq!(answer["errors"]["ordering"], r#"must be "key" or "none""#, "{answer}");
    }
    let sub = subscription(&service, "http://127.0.0.1:9/h", "none").await;
    let resp = client.put(service.url(&format!("/api/subscriptions/{sub}"))).json(&json!({"ordering": "x"})).send();
    assert_eq!(resp.await.unwrap().status(), 400);
    let resp = client.put(service.url(&format!("/api/subscriptions/{sub}"))).json(&json!({"ordering": "key"})).send();
    let changed: Value = resp.await.unwrap().json().await.unwrap();
    assert_eq!(changed["ordering"], "key");

    let long = "k".repeat(256);
    for bad in [long.as_str(), "", "tab\there", "caf\u{e9}"] {
        let (status, answer) = service.ingest(&sub, "{}", &[("X-Ordering-Key", bad)]).await;
        assert_eq!(status, 400, "key {bad:?}: {answer}");
        assert!(answer["message"].as_str().unwrap().starts_with("Invalid ordering key"), "{answer}");
        let value = reqwest::header::HeaderValue::from_bytes(bad.as_bytes()).unwrap();
        let resp = client
            .post(service.url("/api/v1/events"))
            .header("content-type", "application/json")
            .header("X-Event-Type", "order.updated")
            .header("X-Ordering-Key", value)
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "event with key {bad:?}");
    }
    let longest = "k".repeat(255);
    assert_eq!(service.ingest(&sub, "{}", &[("X-Ordering-Key", longest.as_str())]).await.0, 202);
}
