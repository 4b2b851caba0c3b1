//! Tenants, event types and fan-out over REST, end to end: the real binary routes one event to
//! every subscription of its tenant that wants it, once each, with one `webhook-id`;
//! tenants' tokens keep them apart; a crash between acceptance and expansion loses and
//! repeats nothing. On the embedded default, and on Kafka + CQL with two processes.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use hookline_testkit::process::wait_until;
use hookline_testkit::receiver::Receiver;
use serde_json::{json, Value};

use crate::common::{engines, Deployment, Service};

const OPERATOR: &str = "operator-token-0123456789";
const PATIENCE: Duration = Duration::from_secs(30);
/// How long a receiver is watched for a delivery that must not come.
const QUIET: Duration = Duration::from_secs(2);

/// Requests as one caller: the operator or a tenant's token.
struct Caller<'a> {
    service: &'a Service,
    token: String,
}

impl<'a> Caller<'a> {
    fn new(service: &'a Service, token: &str) -> Self {
        Self { service, token: token.to_string() }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut request = self.service.client.request(method, self.service.url(path)).bearer_auth(&self.token);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let resp = request.send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None, &[]).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body), &[]).await
    }

    async fn created(&self, path: &str, body: Value) -> Value {
        let (status, answer) = self.post(path, body).await;
        assert_eq!(status, 201, "POST {path}: {answer}");
        answer
    }

    async fn subscribe(&self, tenant: &str, target: &str, patterns: &[&str]) -> String {
        let body = json!({"tenant_id": tenant, "target_url": target, "event_types": patterns});
        self.created("/api/v1/subscriptions", body).await["id"].as_str().unwrap().to_string()
    }

    /// Sends an event; the status and the answer.
    async fn event(&self, query: &str, event_type: &str, body: Value, key: Option<&str>) -> (u16, Value) {
        let mut headers = vec![("x-event-type", event_type)];
        headers.extend(key.map(|key| ("idempotency-key", key)));
        self.send(reqwest::Method::POST, &format!("/api/v1/events{query}"), Some(body), &headers).await
    }
}

fn ids(answer: &Value, field: &str) -> BTreeSet<String> {
    answer[field].as_array().unwrap_or(&Vec::new()).iter().map(|v| v.as_str().unwrap().to_string()).collect()
}

fn webhook_ids(receiver: &Receiver, path: &str) -> Vec<String> {
    receiver.requests(path).iter().map(|r| r.header("webhook-id").unwrap_or_default().to_string()).collect()
}

/// The scenario on `api` (where tenants and subscriptions are managed) and
/// `other` (a second process on the same data, or the same process on the embedded log).
async fn route_and_isolate(api: &Service, other: &Service) {
    let receiver = Receiver::start().await;
    let operator = Caller::new(api, OPERATOR);
    operator.created("/api/v1/tenants", json!({"id": "acme", "name": "Acme"})).await;
    operator.created("/api/v1/tenants", json!({"id": "globex", "name": "Globex"})).await;
    let created = operator.subscribe("acme", &receiver.url("/created"), &["order.created"]).await;
    let orders = operator.subscribe("acme", &receiver.url("/orders"), &["order.*"]).await;
    let _invoices = operator.subscribe("acme", &receiver.url("/invoices"), &["invoice.*"]).await;
    let _globex_all = operator.subscribe("globex", &receiver.url("/globex"), &["*"]).await;
    let acme_token = operator.created("/api/v1/tenants/acme/tokens", json!({"name": "acme ci"})).await;
    let acme = Caller::new(api, acme_token["token"].as_str().unwrap());
    let globex_token = operator.created("/api/v1/tenants/globex/tokens", json!({})).await;
    let globex = Caller::new(api, globex_token["token"].as_str().unwrap());

    // One event reaches exactly the two subscriptions that want it, once each, with one webhook-id.
    let (status, sent) = acme.event("", "order.created", json!({"order": 7}), Some("order-7")).await;
    assert_eq!(status, 202, "{sent}");
    let event_id = sent["event_id"].as_str().unwrap().to_string();
    assert_eq!(ids(&sent, "task_ids").len(), 2, "{sent}");
    for path in ["/created", "/orders"] {
        let got = receiver.wait_for(path, 1, PATIENCE).await;
        assert_eq!(got[0].header("webhook-id"), Some(event_id.as_str()), "{path}");
        assert_eq!(got[0].json().unwrap(), json!({"order": 7}));
    }
    // The repeat answers the same event and tasks and delivers nothing again.
    let (status, again) = acme.event("", "order.created", json!({"order": 7}), Some("order-7")).await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(
        (again["event_id"].as_str(), ids(&again, "task_ids")),
        (Some(event_id.as_str()), ids(&sent, "task_ids"))
    );
    tokio::time::sleep(QUIET).await;
    assert_eq!(webhook_ids(&receiver, "/created"), vec![event_id.clone()]);
    assert_eq!(webhook_ids(&receiver, "/orders"), vec![event_id.clone()]);
    assert!(receiver.requests("/invoices").is_empty() && receiver.requests("/globex").is_empty());

    // The event and its tasks, as its tenant sees them.
    let (status, event) = wait_until(PATIENCE, "the event's tasks succeeded", || async {
        let (status, event) = acme.get(&format!("/api/v1/events/{event_id}")).await;
        let done = event["tasks"]
            .as_array()
            .is_some_and(|tasks| tasks.len() == 2 && tasks.iter().all(|task| task["status"] == "succeeded"));
        done.then_some((status, event))
    })
    .await;
    assert_eq!(
        (status, event["tenant_id"].as_str(), event["event_type"].as_str()),
        (200, Some("acme"), Some("order.created"))
    );

    // Another tenant's token finds none of it: 404, as for what does not exist.
    let task_id = ids(&sent, "task_ids").into_iter().next().unwrap();
    for path in [
        format!("/api/v1/subscriptions/{created}"),
        format!("/api/v1/subscriptions/{orders}/attempts"),
        format!("/api/v1/status/delivery_tasks/{task_id}"),
        format!("/api/v1/events/{event_id}"),
    ] {
        let (status, answer) = globex.get(&path).await;
        assert_eq!(status, 404, "{path}: {answer}");
    }
    let (_, listed) = globex.get("/api/v1/subscriptions").await;
    let listed: Vec<&Value> = listed.as_array().map(|s| s.iter().collect()).unwrap_or_default();
    assert!(listed.iter().all(|s| s["tenant_id"] == "globex") && listed.len() == 1, "{listed:?}");

    // A revoked token is refused within a second, on every process.
    let other_acme = Caller::new(other, &acme.token);
    assert_eq!(other_acme.get("/api/v1/subscriptions").await.0, 200);
    let token_id = acme_token["id"].as_str().unwrap();
    let (status, _) =
        operator.send(reqwest::Method::DELETE, &format!("/api/v1/tenants/acme/tokens/{token_id}"), None, &[]).await;
    assert_eq!(status, 204);
    let revoked_at = std::time::Instant::now();
    for caller in [&acme, &other_acme] {
        wait_until(Duration::from_secs(1), "the revoked token refused", || async {
            (caller.get("/api/v1/subscriptions").await.0 == 401).then_some(())
        })
        .await;
    }
    println!(
        "a revoked token was refused on both processes {} ms after the revocation",
        revoked_at.elapsed().as_millis()
    );
}

fn operator_env() -> Vec<(&'static str, &'static str)> {
    vec![("HOOKLINE_API_TOKENS", OPERATOR)]
}

#[tokio::test]
async fn an_event_reaches_every_subscription_that_wants_it_once_and_tenants_stay_apart() {
    let service = Service::start(&operator_env()).await;
    route_and_isolate(&service, &service).await;
}

#[tokio::test]
async fn on_kafka_and_cql_two_processes_route_alike_and_revoke_within_a_second() {
    let Some(engines) = engines("fan-out on Kafka and CQL") else { return };
    let deployment = Deployment::new(&engines, &operator_env()).await;
    let all = deployment.start("all", &[]).await;
    let api = deployment.start("api", &[]).await;
    route_and_isolate(&all, &api).await;
}

/// Sends `count` events of one tenant; the task ids every 202 named, by event id.
async fn send_events(caller: &Caller<'_>, count: usize) -> HashMap<String, BTreeSet<String>> {
    let mut accepted = HashMap::new();
    for n in 0..count {
        let (status, answer) = caller.event("?tenant_id=acme", "order.created", json!({"n": n}), None).await;
        assert_eq!(status, 202, "{answer}");
        accepted.insert(answer["event_id"].as_str().unwrap().to_string(), ids(&answer, "task_ids"));
    }
    accepted
}

#[tokio::test]
async fn a_crash_between_acceptance_and_expansion_loses_no_task_and_repeats_none() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let env = operator_env();
    // No fanout role: events are accepted (and subscriptions projected), nothing expands them yet.
    let mut accepting: Vec<(&str, &str)> = env.clone();
    accepting.push(("HOOKLINE_ROLES", "api,projector"));
    let mut service = Service::start_in(dir.path(), &accepting).await;
    let accepted = {
        let operator = Caller::new(&service, OPERATOR);
        operator.created("/api/v1/tenants", json!({"id": "acme", "name": "Acme"})).await;
        operator.subscribe("acme", &receiver.url("/a"), &["order.*"]).await;
        operator.subscribe("acme", &receiver.url("/b"), &["*"]).await;
        send_events(&operator, 200).await
    };
    service.process.kill9();
    assert!(receiver.requests("/a").is_empty(), "nothing was expanded before the crash");

    let _service = Service::start_in(dir.path(), &env).await;
    let want: usize = accepted.values().map(BTreeSet::len).sum();
    assert_eq!(want, 400);
    wait_until(PATIENCE, "every task of every accepted event delivered", || async {
        (receiver.requests("/a").len() + receiver.requests("/b").len() >= want).then_some(())
    })
    .await;
    tokio::time::sleep(QUIET).await;
    for path in ["/a", "/b"] {
        let got = webhook_ids(&receiver, path);
        let distinct: BTreeSet<&String> = got.iter().collect();
        assert_eq!(got.len(), accepted.len(), "{path}: one delivery per event, none repeated");
        assert_eq!(distinct.len(), accepted.len(), "{path}");
        assert!(got.iter().all(|id| accepted.contains_key(id)), "{path}: only accepted events");
    }
}
