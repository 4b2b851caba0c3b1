//! `GET /api/v1/overview` on the real binary: its numbers are what was sent (webhooks
//! and events accepted, attempts delivered and failed, dead letters, the subscription
//! failing most, the one a 410 disabled), each tenant sees its own, and a process that
//! runs the api role only (Kafka + CQL, delivery elsewhere) counts the same and reads
//! the retry tiers' backlog of the delivery role's groups.

use std::time::Duration;

use hookline_testkit::process::wait_until;
use hookline_testkit::receiver::{Receiver, Reply, Script};
use serde_json::{json, Value};

use crate::common::{engines, Deployment, Service};

const OPERATOR: &str = "operator-token-0123456789";
/// Enough for every attempt of the fast schedule (1 + 2 + 4 s) and a closed interval.
const PATIENCE: Duration = Duration::from_secs(40);

/// Calls with a bearer token.
async fn call(
    service: &Service,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = service.client.request(method, service.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn created(service: &Service, token: &str, path: &str, body: Value) -> Value {
    let (status, answer) = call(service, token, reqwest::Method::POST, path, Some(body)).await;
    assert_eq!(status, 201, "POST {path}: {answer}");
    answer
}

async fn subscribe(service: &Service, tenant: &str, target: String) -> String {
    let body = json!({"tenant_id": tenant, "target_url": target});
    created(service, OPERATOR, "/api/v1/subscriptions", body).await["id"].as_str().unwrap().to_string()
}

async fn webhook(service: &Service, sub: &str) {
    let (status, answer) =
        call(service, OPERATOR, reqwest::Method::POST, &format!("/api/v1/ingest/{sub}"), Some(json!({"n": 1}))).await;
    assert_eq!(status, 202, "{answer}");
}

async fn overview(service: &Service, token: &str, query: &str) -> (u16, Value) {
    call(service, token, reqwest::Method::GET, &format!("/api/v1/overview{query}"), None).await
}

/// Waits until the overview's totals are exactly `want` and its series, once the last
/// counted interval has closed, add up to the same; returns that overview.
async fn wait_totals(service: &Service, token: &str, query: &str, want: Value) -> Value {
    wait_until(PATIENCE, &format!("overview{query} totals {want}"), || async {
        let (status, seen) = overview(service, token, query).await;
        assert_eq!(status, 200, "{seen}");
        let series = &seen["series"];
        let sum = |name: &str| series[name].as_array().unwrap().iter().map(|n| n.as_u64().unwrap()).sum::<u64>();
        let summed = json!({
            "accepted": sum("accepted"), "delivered": sum("delivered"),
            "failed": sum("failed"), "dead_lettered": sum("dead_lettered"),
        });
        (seen["totals"] == want && summed == want).then_some(seen)
    })
    .await
}

/// The scenario on `api` (which answers the overview) whatever runs delivery: 5
/// webhooks delivered, 2 failing all 4 attempts, 1 to a receiver that is gone; 3 events
/// of tenant acme delivered to its one subscription.
async fn counts_what_was_sent(api: &Service) {
    let receiver = Receiver::start().await;
    receiver.set("/down", Script::always(Reply::Status(503)));
    receiver.set("/gone", Script::always(Reply::Status(410)));
    created(api, OPERATOR, "/api/v1/tenants", json!({"id": "acme", "name": "Acme"})).await;
    let ok = subscribe(api, "default", receiver.url("/ok")).await;
    let down = subscribe(api, "default", receiver.url("/down")).await;
    let gone = subscribe(api, "default", receiver.url("/gone")).await;
    let acme_sub = subscribe(api, "acme", receiver.url("/acme")).await;
    let acme_token = created(api, OPERATOR, "/api/v1/tenants/acme/tokens", json!({})).await;
    let acme_token = acme_token["token"].as_str().unwrap();
    for _ in 0..5 {
        webhook(api, &ok).await;
    }
    for _ in 0..2 {
        webhook(api, &down).await;
    }
    webhook(api, &gone).await;
    for n in 0..3 {
        let mut request = api.client.post(api.url("/api/v1/events")).bearer_auth(acme_token);
        request = request.header("x-event-type", "order.created").json(&json!({"n": n}));
        assert_eq!(request.send().await.unwrap().status(), 202);
    }

    // Everything: 11 accepted (8 webhooks, 3 events), 5 + 3 delivered, 2 × 4 + 1 failed,
    // 3 dead letters (2 exhausted, 1 gone).
    let all = json!({"accepted": 11, "delivered": 8, "failed": 9, "dead_lettered": 3});
    let seen = wait_totals(api, OPERATOR, "", all).await;
    assert_eq!(seen["tenant_id"], Value::Null);
    let failing = seen["failing_subscriptions"].as_array().unwrap();
    assert_eq!(failing[0]["subscription_id"], down.as_str(), "{seen}");
    assert_eq!((failing[0]["failed"].as_u64(), failing[0]["attempts"].as_u64()), (Some(8), Some(8)));
    assert_eq!((failing[0]["last_status"].as_u64(), &failing[0]["tenant_id"]), (Some(503), &json!("default")));
    assert_eq!(failing[1]["subscription_id"], gone.as_str());
    assert!(failing.iter().all(|f| f["subscription_id"] != ok.as_str() && f["subscription_id"] != acme_sub.as_str()));
    let disabled = &seen["disabled_subscriptions"];
    assert_eq!(disabled["total"], 1, "{disabled}");
    assert_eq!(disabled["items"][0]["subscription_id"], gone.as_str());
    assert!(disabled["items"][0]["reason"].as_str().unwrap().contains("410"), "{disabled}");
    let latencies = |name: &str| seen["series"][name].as_array().unwrap().iter().filter(|p| !p.is_null()).count();
    assert!(latencies("attempt_ms") >= 1 && latencies("end_to_end_ms") >= 1, "{}", seen["series"]);
    // Nothing is left to deliver: the backlog of first attempts and of every tier drains.
    wait_until(PATIENCE, "the backlog to drain", || async {
        let (_, seen) = overview(api, OPERATOR, "").await;
        let sources = seen["backlog"]["sources"].as_array()?.clone();
        let topics: Vec<&str> = sources.iter().map(|s| s["topic"].as_str().unwrap()).collect();
        // First attempts, then the configured schedule's tiers (the production preset's follow).
        assert_eq!(topics[..4], ["hookline.deliveries", "hookline.retry.1s", "hookline.retry.2s", "hookline.retry.4s"]);
        sources.iter().all(|s| s["records"] == 0).then_some(())
    })
    .await;

    // Each tenant sees its own: acme's 3 events, without the shared backlog.
    let acme = json!({"accepted": 3, "delivered": 3, "failed": 0, "dead_lettered": 0});
    let own = wait_totals(api, acme_token, "", acme.clone()).await;
    assert_eq!((&own["tenant_id"], &own["backlog"]), (&json!("acme"), &Value::Null));
    assert_eq!(own["failing_subscriptions"], json!([]));
    assert_eq!(own["disabled_subscriptions"], json!({"total": 0, "items": []}));
    wait_totals(api, OPERATOR, "?tenant_id=acme", acme).await;
    let default = json!({"accepted": 8, "delivered": 5, "failed": 9, "dead_lettered": 3});
    let seen = wait_totals(api, OPERATOR, "?tenant_id=default", default).await;
    assert_eq!(seen["disabled_subscriptions"]["total"], 1);
    assert_eq!(overview(api, acme_token, "?tenant_id=default").await.0, 404, "another tenant's is unknown");
    assert_eq!(overview(api, OPERATOR, "?tenant_id=nobody").await.0, 404);
    let (status, refused) = overview(api, OPERATOR, "?since=yesterday").await;
    assert_eq!(status, 400);
    assert!(refused["message"].as_str().unwrap().contains("since"), "{refused}");
}

#[tokio::test]
async fn the_overview_counts_what_was_sent_per_tenant() {
    let service = Service::start(&[("HOOKLINE_API_TOKENS", OPERATOR)]).await;
    counts_what_was_sent(&service).await;
}

#[tokio::test]
async fn an_api_process_without_delivery_counts_the_same_on_kafka_and_cql() {
    let Some(engines) = engines("overview on Kafka and CQL") else { return };
    let deployment = Deployment::new(&engines, &[("HOOKLINE_API_TOKENS", OPERATOR)]).await;
    let _workers = deployment.start("delivery,projector,fanout", &[]).await;
    let api = deployment.start("api", &[]).await;
    counts_what_was_sent(&api).await;
}

#[tokio::test]
async fn an_api_process_reads_the_retry_backlog_of_delivery_running_elsewhere() {
    let Some(engines) = engines("overview backlog on Kafka and CQL") else { return };
    // One retry, 30 s later: failed first attempts wait in hookline.retry.30s.
    let slow = [("HOOKLINE_API_TOKENS", OPERATOR), ("MAX_RETRIES", "2"), ("RETRY_BASE_DELAY_SECONDS", "30")];
    let deployment = Deployment::new(&engines, &slow).await;
    let _workers = deployment.start("delivery,projector,fanout", &[]).await;
    let api = deployment.start("api", &[]).await;
    let receiver = Receiver::start().await;
    receiver.set("/down", Script::always(Reply::Status(500)));
    let down = subscribe(&api, "default", receiver.url("/down")).await;
    for _ in 0..3 {
        webhook(&api, &down).await;
    }
    let backlog = wait_until(PATIENCE, "3 retries waiting in the 30 s tier", || async {
        let (_, seen) = overview(&api, OPERATOR, "").await;
        let sources = seen["backlog"]["sources"].as_array()?.clone();
        let tier = sources.iter().find(|s| s["topic"] == "hookline.retry.30s")?.clone();
        (tier["records"] == 3 && seen["totals"]["failed"] == 3).then_some(seen["backlog"].clone())
    })
    .await;
    assert_eq!(backlog["sources"][0], json!({"topic": "hookline.deliveries", "delay_seconds": null, "records": 0}));
    let sources = backlog["sources"].as_array().unwrap();
    let tier = sources.iter().find(|s| s["topic"] == "hookline.retry.30s").unwrap();
    assert_eq!(tier["delay_seconds"], 30, "{backlog}");
}
