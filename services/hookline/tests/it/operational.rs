//! Operational events end to end: hookline's own decisions (a subscription disabled or
//! enabled, tasks exhausted) reach the operator's URL and the tenant's own
//! `hookline.*` subscriptions as signed Standard Webhooks, once each; `*` does not get
//! them, nobody may send them, and a failing operator URL does not slow anything else.
//! On the embedded default and on Kafka + CQL (where a plain consumer of
//! `hookline.operational` sees them too).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use hookline_domain::operational::operator_subscription_id;
use hookline_domain::signature::verify_standard_webhooks;
use hookline_log::NewRecord;
use hookline_testkit::process::wait_until;
use hookline_testkit::receiver::{ReceivedRequest, Receiver, Reply, Script};
use serde_json::{json, Value};

use crate::common::{engines, Deployment, Service};
use crate::distributed::{kafka, read_all};

const OPERATOR_TOKEN: &str = "operator-token-0123456789";
const OPERATOR_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const PATIENCE: Duration = Duration::from_secs(30);
/// How long a receiver is watched for a notification that must not come.
const QUIET: Duration = Duration::from_secs(3);

/// The operator's URL and secret on `receiver`'s `/ops`, plus `extra`.
fn operator_env(receiver: &Receiver, extra: &[(&'static str, &'static str)]) -> Vec<(String, String)> {
    let mut env = vec![
        ("HOOKLINE_OPERATOR_WEBHOOK_URL".to_string(), receiver.url("/ops")),
        ("HOOKLINE_OPERATOR_WEBHOOK_SECRET".to_string(), OPERATOR_SECRET.to_string()),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    env
}

fn borrowed(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// The operational events `path` received of `event_type`, in arrival order.
fn notifications(receiver: &Receiver, path: &str, event_type: &str) -> Vec<(Value, ReceivedRequest)> {
    receiver
        .requests(path)
        .into_iter()
        .filter_map(|request| request.json().ok().map(|body| (body, request)))
        .filter(|(body, _)| body["type"] == event_type)
        .collect()
}

/// Waits for the first notification of `event_type` about `subscription` on `path`.
async fn notified(receiver: &Receiver, path: &str, event_type: &str, subscription: &str) -> (Value, ReceivedRequest) {
    wait_until(PATIENCE, &format!("{event_type} about {subscription} at {path}"), || async {
        notifications(receiver, path, event_type)
            .into_iter()
            .find(|(body, _)| body["data"]["subscription_id"] == subscription)
    })
    .await
}

/// Checks a notification as its receiver would: signed with `secret` (Standard
/// Webhooks), its `webhook-id` the event id, its body the event.
fn check_signed(body: &Value, request: &ReceivedRequest, secret: &str) {
    let event_id = body["event_id"].as_str().expect("an event id");
    assert_eq!(request.header("webhook-id"), Some(event_id), "webhook-id is the event id");
    let timestamp: i64 = request.header("webhook-timestamp").expect("timestamp").parse().expect("a number");
    let signature = request.header("webhook-signature").expect("signed");
    assert!(verify_standard_webhooks(secret, event_id, timestamp, &request.body, signature), "signature verifies");
    assert_eq!(request.header("x-event-type"), body["type"].as_str());
    for field in ["event_id", "tenant_id", "timestamp", "type", "data"] {
        assert!(body.get(field).is_some(), "{field} in {body}");
    }
}

async fn put(service: &Service, sub: &str, body: Value) -> Value {
    let resp =
        service.client.put(service.url(&format!("/api/v1/subscriptions/{sub}"))).json(&body).send().await.expect("put");
    assert_eq!(resp.status(), 200);
    resp.json().await.expect("json")
}

/// A receiver answering 410 is disabled and the operator told once, signed; a
/// subscription disabled and enabled by hand is told as `by_hand`, then `enabled`.
/// The operator's subscription is a real one: its deliveries show in the API.
async fn the_operator_is_told_of_disablings(service: &Service, receiver: &Receiver) {
    receiver.set("/gone", Script::always(Reply::Status(410)));
    let gone = service.subscribe(&receiver.url("/gone"), None, None).await;
    service.ingest_ok(&gone, r#"{"n":1}"#, &[]).await;

    let started = Instant::now();
    let (body, request) = notified(receiver, "/ops", "hookline.subscription.disabled", &gone).await;
    println!("the operator was told of a 410 disabling {} ms after the webhook", started.elapsed().as_millis());
    check_signed(&body, &request, OPERATOR_SECRET);
    assert_eq!(body["tenant_id"], "default");
    assert_eq!(body["data"]["cause"], "gone");
    assert_eq!(body["data"]["target_url"], receiver.url("/gone"));
    let reason = body["data"]["reason"].as_str().expect("a reason");
    assert!(reason.starts_with("receiver answered 410 Gone at "), "{reason}");
    let (_, shown) = service.get(&format!("/api/v1/subscriptions/{gone}")).await;
    assert_eq!(shown["disabled_reason"].as_str(), Some(reason), "the reason the subscription shows");

    // By hand, then enabled again.
    let by_hand = service.subscribe("http://127.0.0.1:9/never", None, Some("order.created")).await;
    put(service, &by_hand, json!({"enabled": false})).await;
    let (disabled, request) = notified(receiver, "/ops", "hookline.subscription.disabled", &by_hand).await;
    check_signed(&disabled, &request, OPERATOR_SECRET);
    assert_eq!(
        (disabled["data"]["cause"].as_str(), disabled["data"]["reason"].as_str()),
        (Some("by_hand"), Some("disabled by user"))
    );
    put(service, &by_hand, json!({"enabled": true})).await;
    let (enabled, request) = notified(receiver, "/ops", "hookline.subscription.enabled", &by_hand).await;
    check_signed(&enabled, &request, OPERATOR_SECRET);
    assert!(disabled["timestamp"].as_str() < enabled["timestamp"].as_str(), "{disabled} then {enabled}");

    // Exactly one of each: nothing repeated, nothing about anything else.
    tokio::time::sleep(QUIET).await;
    let ids = |event_type| -> Vec<String> {
        notifications(receiver, "/ops", event_type).iter().map(|(body, _)| body["event_id"].to_string()).collect()
    };
    assert_eq!(ids("hookline.subscription.disabled").len(), 2, "{:?}", ids("hookline.subscription.disabled"));
    assert_eq!(ids("hookline.subscription.enabled").len(), 1);

    // The operator's subscription, as the API shows it, with its attempts.
    let operator = operator_subscription_id().to_string();
    let (status, shown) = service.get(&format!("/api/v1/subscriptions/{operator}")).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(
        (shown["target_url"].as_str(), shown["tenant_id"].as_str()),
        (Some(receiver.url("/ops").as_str()), Some("default"))
    );
    assert_eq!(shown["event_types"], json!(["hookline.*"]));
    let attempts = wait_until(PATIENCE, "the operator's attempts in the API", || async {
        let (_, attempts) = service.get(&format!("/api/v1/status/subscriptions/{operator}/attempts")).await;
        attempts.as_array().filter(|attempts| attempts.len() >= 3).cloned()
    })
    .await;
    assert!(attempts.iter().all(|attempt| attempt["outcome"] == "success"), "{attempts:?}");

    let metrics = service.client.get(service.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for (event_type, count) in [("hookline.subscription.disabled", 2), ("hookline.subscription.enabled", 1)] {
        let line = format!("hookline_operational_notifications_total{{type=\"{event_type}\"}} {count}");
        assert!(metrics.lines().any(|l| l == line), "{line} in /metrics");
    }
}

#[tokio::test]
async fn gone_and_by_hand_disablings_reach_the_operator_once_signed() {
    let receiver = Receiver::start().await;
    let env = operator_env(&receiver, &[]);
    let service = Service::start(&borrowed(&env)).await;
    the_operator_is_told_of_disablings(&service, &receiver).await;
}

/// `count` webhooks to a receiver that always fails; returns their task ids.
async fn exhaust(service: &Service, receiver: &Receiver, path: &str, count: usize) -> (String, BTreeSet<String>) {
    receiver.set(path, Script::always(Reply::Status(500)));
    let sub = service.subscribe(&receiver.url(path), None, None).await;
    let mut tasks = BTreeSet::new();
    for n in 0..count {
        tasks.insert(service.ingest_ok(&sub, &format!(r#"{{"n":{n}}}"#), &[]).await);
    }
    (sub, tasks)
}

/// Waits for the one `task.exhausted` about `sub` and checks it counts `tasks`.
async fn summed_once(receiver: &Receiver, sub: &str, tasks: &BTreeSet<String>, patience: Duration) -> Value {
    let (body, request) = wait_until(patience, "a task.exhausted summary", || async {
        notifications(receiver, "/ops", "hookline.task.exhausted")
            .into_iter()
            .find(|(body, _)| body["data"]["subscription_id"] == sub)
    })
    .await;
    check_signed(&body, &request, OPERATOR_SECRET);
    assert_eq!(body["data"]["count"], tasks.len(), "{body}");
    let listed: BTreeSet<String> = body["data"]["task_ids"]
        .as_array()
        .expect("task ids")
        .iter()
        .map(|id| id.as_str().unwrap().to_string())
        .collect();
    assert_eq!(&listed, tasks);
    assert_eq!(body["data"]["last_error"], "HTTP 500", "{body}");
    assert!(body["data"]["first_failed_at"].as_str() <= body["data"]["last_failed_at"].as_str());
    tokio::time::sleep(QUIET).await;
    let about_sub = notifications(receiver, "/ops", "hookline.task.exhausted")
        .into_iter()
        .filter(|(body, _)| body["data"]["subscription_id"] == sub)
        .count();
    assert_eq!(about_sub, 1, "one summary for the window");
    body
}

#[tokio::test]
async fn tasks_exhausted_within_a_minute_are_one_summary_with_their_count() {
    let receiver = Receiver::start().await;
    let env = operator_env(&receiver, &[]);
    let service = Service::start(&borrowed(&env)).await;
    // Four attempts over 7 s (FAST_RETRIES): the five tasks exhaust within a second of each other.
    let (sub, tasks) = exhaust(&service, &receiver, "/down", 5).await;
    let started = Instant::now();
    summed_once(&receiver, &sub, &tasks, Duration::from_secs(100)).await;
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(60), "a summary covers a minute: came after {waited:?}");
}

#[tokio::test]
async fn a_tenant_gets_its_own_decisions_only_and_nobody_may_send_them() {
    let receiver = Receiver::start().await;
    let env = operator_env(&receiver, &[("HOOKLINE_API_TOKENS", OPERATOR_TOKEN)]);
    let service = Service::start(&borrowed(&env)).await;
    for (id, name) in [("acme", "Acme"), ("globex", "Globex")] {
        let resp = service
            .client
            .post(service.url("/api/v1/tenants"))
            .bearer_auth(OPERATOR_TOKEN)
            .json(&json!({"id": id, "name": name}))
            .send()
            .await;
        assert_eq!(resp.expect("tenant").status(), 201);
    }
    let acme_secret = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX";
    let subscribe = |tenant: &str, path: &str, patterns: Option<&[&str]>| {
        let secret = (path == "/acme-ops").then_some(acme_secret);
        let body =
            json!({"tenant_id": tenant, "target_url": receiver.url(path), "event_types": patterns, "secret": secret});
        let (service, path) = (&service, path.to_string());
        async move {
            let resp = service
                .client
                .post(service.url("/api/v1/subscriptions"))
                .bearer_auth(OPERATOR_TOKEN)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 201, "{path}");
            resp.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_string()
        }
    };
    let acme_own = subscribe("acme", "/acme-ops", Some(&["hookline.*"])).await;
    let _acme_star = subscribe("acme", "/acme-star", Some(&["*"])).await;
    let _acme_all = subscribe("acme", "/acme-all", None).await;
    let _globex_own = subscribe("globex", "/globex-ops", Some(&["hookline.*"])).await;
    receiver.set("/acme-gone", Script::always(Reply::Status(410)));
    let acme_gone = subscribe("acme", "/acme-gone", Some(&["order.*"])).await;

    let resp = service
        .client
        .post(service.url("/api/v1/events?tenant_id=acme"))
        .bearer_auth(OPERATOR_TOKEN)
        .header("x-event-type", "order.created")
        .json(&json!({"order": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let (body, request) = notified(&receiver, "/acme-ops", "hookline.subscription.disabled", &acme_gone).await;
    assert_eq!((body["tenant_id"].as_str(), body["data"]["cause"].as_str()), (Some("acme"), Some("gone")));
    check_signed(&body, &request, acme_secret);
    // The operator hears of every tenant's decisions, under the same event id.
    let (to_operator, _) = notified(&receiver, "/ops", "hookline.subscription.disabled", &acme_gone).await;
    assert_eq!(to_operator["event_id"], body["event_id"]);

    tokio::time::sleep(QUIET).await;
    assert!(receiver.requests("/globex-ops").is_empty(), "another tenant's decision");
    for path in ["/acme-star", "/acme-all"] {
        let types: Vec<String> =
            receiver.requests(path).iter().filter_map(|r| r.header("x-event-type").map(String::from)).collect();
        assert_eq!(types, ["order.created"], "{path} gets the tenant's events, not hookline's own");
    }

    // The tenant sees the event among its own, with its own subscriptions only; the
    // operator sees where else it went.
    let resp = service
        .client
        .post(service.url("/api/v1/tenants/acme/tokens"))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let acme_token = resp.json::<Value>().await.unwrap()["token"].as_str().unwrap().to_string();
    let event_path = format!("/api/v1/events/{}", body["event_id"].as_str().unwrap());
    let seen = |token: String| {
        let (service, path) = (&service, event_path.clone());
        async move {
            wait_until(PATIENCE, "the operational event in the event views", || async {
                let resp = service.client.get(service.url(&path)).bearer_auth(&token).send().await.unwrap();
                let shown: Value = resp.json().await.unwrap();
                shown["subscription_ids"].as_array().filter(|ids| !ids.is_empty()).cloned()
            })
            .await
        }
    };
    let operator_id = json!(operator_subscription_id().to_string());
    let to_tenant = seen(acme_token).await;
    assert!(!to_tenant.contains(&operator_id) && to_tenant.contains(&json!(acme_own)), "{to_tenant:?}");
    assert!(seen(OPERATOR_TOKEN.to_string()).await.contains(&operator_id));

    // Nobody may send hookline's own types.
    let resp = service
        .client
        .post(service.url("/api/v1/events?tenant_id=acme"))
        .bearer_auth(OPERATOR_TOKEN)
        .header("x-event-type", "hookline.subscription.disabled")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let refused: Value = resp.json().await.unwrap();
    assert_eq!(
        refused["message"],
        "Event type \"hookline.subscription.disabled\" is reserved: types starting with \"hookline.\" are hookline's own operational events"
    );
}

#[tokio::test]
async fn a_failing_operator_url_does_not_slow_ordinary_deliveries() {
    let receiver = Receiver::start().await;
    receiver.set("/ops", Script::always(Reply::Status(500)));
    let env = operator_env(&receiver, &[]);
    let service = Service::start(&borrowed(&env)).await;
    receiver.set("/gone", Script::always(Reply::Status(410)));
    let gone = service.subscribe(&receiver.url("/gone"), None, None).await;
    service.ingest_ok(&gone, "{}", &[]).await;
    notified(&receiver, "/ops", "hookline.subscription.disabled", &gone).await;

    // While the notification is retried (1 s, 2 s, 4 s), ordinary webhooks go through at once.
    let ok = service.subscribe(&receiver.url("/ok"), None, None).await;
    for n in 0..20 {
        let sent = Instant::now();
        service.ingest_ok(&ok, &format!(r#"{{"n":{n}}}"#), &[]).await;
        receiver.wait_for("/ok", n + 1, PATIENCE).await;
        let took = sent.elapsed();
        assert!(took < Duration::from_secs(1), "webhook {n} took {took:?} while the operator URL fails");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let retried = notifications(&receiver, "/ops", "hookline.subscription.disabled").len();
    assert!(retried >= 2, "the notification is retried like any webhook ({retried} attempts so far)");
    let ids: BTreeSet<String> = notifications(&receiver, "/ops", "hookline.subscription.disabled")
        .iter()
        .map(|(_, request)| request.header("webhook-id").unwrap_or_default().to_string())
        .collect();
    assert_eq!(ids.len(), 1, "every retry carries the same webhook-id");
}

#[tokio::test]
async fn on_kafka_and_cql_decisions_reach_the_operator_and_the_operational_topic() {
    let Some(engines) = engines("operational events on Kafka and CQL") else { return };
    let receiver = Receiver::start().await;
    let env = operator_env(&receiver, &[("HOOKLINE_EXHAUSTED_SUMMARY_SECONDS", "5")]);
    let deployment = Deployment::new(&engines, &borrowed(&env)).await;
    let service = deployment.start("all", &[]).await;
    the_operator_is_told_of_disablings(&service, &receiver).await;
    let (sub, tasks) = exhaust(&service, &receiver, "/down", 3).await;
    let summary = summed_once(&receiver, &sub, &tasks, Duration::from_secs(60)).await;

    // A plain consumer of the topic sees every decision, as recorded.
    let log = kafka(&engines, &deployment).await;
    let records = read_all(&log, "hookline.operational", 4).await;
    let recorded: Vec<Value> =
        records.iter().map(|record| serde_json::from_slice(&record.value).expect("JSON")).collect();
    let types: BTreeSet<&str> = recorded.iter().filter_map(|event| event["type"].as_str()).collect();
    assert_eq!(
        types,
        BTreeSet::from(["hookline.subscription.disabled", "hookline.subscription.enabled", "hookline.task.exhausted"])
    );
    assert!(recorded.contains(&summary), "the summary delivered is the record");
    for record in &records {
        assert_eq!(record.key, b"default", "keyed by tenant");
        assert_eq!(record.header("hookline-event"), Some(b"OperationalEvent".as_slice()));
    }

    // A producer may not write hookline's own types either.
    log.append(vec![NewRecord {
        topic: "hookline.events".into(),
        key: b"default".to_vec(),
        headers: vec![("event_type".into(), b"hookline.task.exhausted".to_vec())],
        value: b"{}".to_vec(),
    }])
    .await
    .expect("produce");
    let rejected = read_all(&log, "hookline.ingest.rejected", 1).await;
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].header("hookline-reject-reason"), Some(b"reserved_event_type".as_slice()));
}
