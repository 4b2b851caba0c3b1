//! Replays end to end: a receiver down for a while, the tasks that failed meanwhile
//! counted by a dry run, sent again exactly once each at the asked pace with their
//! original `webhook-id`s and bodies, through a `kill -9` part way, cancelled, sent to
//! another receiver, refused when asked wrongly, and kept within a tenant. On the
//! embedded default, and on Kafka + CQL.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use hookline_testkit::process::wait_until;
use hookline_testkit::receiver::{ReceivedRequest, Receiver, Reply, Script};
use serde_json::{json, Value};

use crate::common::{engines, Deployment, Service};

const PATIENCE: Duration = Duration::from_secs(60);

/// Two attempts a second apart, then failed: tasks run out of attempts within seconds.
/// The shortest tier is 1 s, so a replay queues each attempt 1 s before it is due.
/// Sustained failures must not disable the subscription while the receiver is down.
const SHORT_RETRIES: &[(&str, &str)] = &[
    ("MAX_RETRIES", "2"),
    ("RETRY_BASE_DELAY_SECONDS", "1"),
    ("RETRY_FACTOR", "1"),
    ("MAX_RETRY_DELAY_SECONDS", "1"),
    ("HOOKLINE_DISABLE_AFTER_FAILING_SECONDS", "3600"),
];

/// A subscription whose receiver answered 500 while `count` webhooks were sent, every
/// one of them failed for good.
struct Outage {
    sub: String,
    /// The failed tasks' ids (each its own `webhook-id`), with their bodies.
    failed: BTreeMap<String, String>,
    /// Just before the first webhook was sent.
    since: String,
}

async fn outage(service: &Service, receiver: &Receiver, path: &str, count: usize) -> Outage {
    receiver.set(path, Script::always(Reply::Status(500)));
    let since = chrono::Utc::now() - chrono::TimeDelta::seconds(1);
    let sub = service.subscribe(&receiver.url(path), Some("replay-secret"), None).await;
    let mut failed = BTreeMap::new();
    for n in 0..count {
        let body = format!(r#"{{"order":{n}}}"#);
        let signature = hookline_domain::signature::ingest_signature("replay-secret", body.as_bytes());
        let task = service.ingest_ok(&sub, &body, &[("X-Hub-Signature-256", &signature)]).await;
        failed.insert(task, body);
    }
    let listed = wait_until(PATIENCE, &format!("{count} tasks failed"), || async {
        let listed = listing(service, &sub, "failed").await;
        (listed.len() == count).then_some(listed)
    })
    .await;
    assert_eq!(listed, failed.keys().cloned().collect::<BTreeSet<_>>());
    Outage { sub, failed, since: since.to_rfc3339() }
}

/// The ids of the subscription's tasks of `status`, as the task listing gives them.
async fn listing(service: &Service, sub: &str, status: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/tasks?subscription_id={sub}&status={status}&limit=100");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let (code, page) = service.get(&path).await;
        assert_eq!(code, 200, "{page}");
        ids.extend(page["tasks"].as_array().unwrap().iter().map(|t| t["task_id"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return ids,
        }
    }
}

async fn post(service: &Service, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut request = service.client.post(service.url("/api/v1/replays")).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let resp = request.send().await.expect("post");
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

async fn get_as(service: &Service, token: &str, path: &str) -> (u16, Value) {
    let resp = service.client.get(service.url(path)).bearer_auth(token).send().await.expect("get");
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

async fn cancel(service: &Service, replay: &str) -> (u16, Value) {
    let resp = service.client.delete(service.url(&format!("/api/replays/{replay}"))).send().await.expect("delete");
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

/// Asks for a replay of `outage`; returns its id and how many it matched.
async fn replay(service: &Service, outage: &Outage, extra: Value) -> (String, u64) {
    let mut body = json!({"subscription_id": outage.sub, "since": outage.since});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let (code, answer) = post(service, None, body).await;
    assert_eq!(code, 202, "{answer}");
    (answer["replay_id"].as_str().expect("replay_id").to_string(), answer["matched"].as_u64().unwrap())
}

async fn wait_state(service: &Service, replay: &str, state: &str) -> Value {
    wait_until(PATIENCE, &format!("replay {replay} {state}"), || async {
        let (code, shown) = service.get(&format!("/api/v1/replays/{replay}")).await;
        (code == 200 && shown["state"] == state).then_some(shown)
    })
    .await
}

fn webhook_ids(requests: &[ReceivedRequest]) -> BTreeSet<String> {
    requests.iter().map(|r| r.header("webhook-id").expect("webhook-id").to_string()).collect()
}

/// Requests per one-second window from the first, printed; the largest.
fn busiest_second(requests: &[ReceivedRequest]) -> usize {
    let Some(first) = requests.iter().map(|r| r.at).min() else { return 0 };
    let mut per_second: BTreeMap<u64, usize> = BTreeMap::new();
    for request in requests {
        *per_second.entry(request.at.duration_since(first).as_secs()).or_default() += 1;
    }
    println!("requests per second at the receiver: {:?}", per_second.values().collect::<Vec<_>>());
    per_second.values().copied().max().unwrap_or(0)
}

/// The whole scenario on one deployment: dry run, replay, pace, ids, completion.
async fn sends_again_exactly_what_failed(service: &Service, count: usize, rate: u64) {
    let receiver = Receiver::start().await;
    let outage = outage(service, &receiver, "/down", count).await;
    assert_eq!(receiver.requests("/down").len(), 2 * count, "two attempts each");
    receiver.set("/down", Script::always(Reply::Status(200)));

    let body = json!({"subscription_id": outage.sub, "since": outage.since, "dry_run": true});
    let (code, dry) = post(service, None, body).await;
    assert_eq!(code, 200, "{dry}");
    assert_eq!(dry, json!({"replay_id": null, "matched": count, "matched_exact": true, "dry_run": true}));
    // A dry run writes nothing: no replay is listed.
    let (_, listed) = service.get("/api/v1/replays").await;
    assert_eq!(listed["replays"], json!([]), "{listed}");

    let started = Instant::now();
    let (replay_id, matched) = replay(service, &outage, json!({"rate_per_second": rate})).await;
    assert_eq!(matched, count as u64);
    // Answered at once, before the projector has folded it.
    let (code, shown) = service.get(&format!("/api/replays/{replay_id}")).await;
    assert_eq!(code, 200, "{shown}");
    assert_eq!((shown["state"].clone(), shown["matched"].clone()), (json!("running"), json!(count)));
    assert_eq!(shown["selection"]["status"], json!(["failed"]));

    let all = receiver.wait_for("/down", 3 * count, PATIENCE).await;
    let replayed: Vec<ReceivedRequest> = all[2 * count..].to_vec();
    assert_eq!(webhook_ids(&replayed), outage.failed.keys().cloned().collect(), "each failed task, by its own id");
    for request in &replayed {
        let id = request.header("webhook-id").unwrap();
        assert_eq!(String::from_utf8_lossy(&request.body), outage.failed[id], "the original body");
        assert!(request.header("webhook-signature").is_some(), "signed");
    }
    let busiest = busiest_second(&replayed);
    let took = replayed.iter().map(|r| r.at).max().unwrap() - replayed.iter().map(|r| r.at).min().unwrap();
    println!("{count} replayed at {rate}/s over {took:?} ({:?} after the request)", started.elapsed());
    // Due times are 1/rate apart. The delivery loop starts an attempt when it is due,
    // but a pause of its own (a commit to the broker: tens of ms) lets the two or three
    // that fell due meanwhile start together, so a second may see two more; never a
    // burst beyond that, and never more than the rate over the whole replay.
    assert!(busiest as u64 <= rate + 2, "{busiest} in one second at {rate}/s");
    assert!(took >= Duration::from_secs_f64((count as f64 - 1.0) / rate as f64 * 0.98), "{took:?}");

    let done = wait_state(service, &replay_id, "completed").await;
    assert_eq!(
        (done["queued"].clone(), done["delivered"].clone(), done["failed"].clone()),
        (json!(count), json!(count), json!(0))
    );
    assert!(done["finished_at"].is_string(), "{done}");
    let one = outage.failed.keys().next().unwrap();
    let (_, task) = service.task(one).await;
    assert_eq!(task["status"], "succeeded", "{task}");
    assert_eq!(task["last_replay_id"], replay_id.as_str(), "{task}");
    let attempts = task["attempts"].as_array().unwrap();
    assert_eq!((attempts.len(), attempts[2]["replay_id"].clone()), (3, json!(replay_id)), "{task}");
    assert_eq!(attempts[0]["replay_id"], Value::Null);
    let (_, listed) = service.get("/api/v1/replays?limit=5").await;
    assert_eq!(listed["replays"][0]["replay_id"], replay_id.as_str(), "{listed}");
    let (code, refused) = cancel(service, &replay_id).await;
    assert_eq!(code, 409, "an ended replay cannot be cancelled: {refused}");
}

#[tokio::test]
async fn a_replay_sends_again_exactly_what_failed_at_its_pace() {
    let service = Service::start(SHORT_RETRIES).await;
    sends_again_exactly_what_failed(&service, 500, 100).await;
}

#[tokio::test]
async fn on_kafka_and_cql_a_replay_sends_again_exactly_what_failed_at_its_pace() {
    let Some(engines) = engines("on_kafka_and_cql_a_replay_sends_again_exactly_what_failed_at_its_pace") else {
        return;
    };
    let deployment = Deployment::new(&engines, SHORT_RETRIES).await;
    let service = deployment.start("all", &[]).await;
    sends_again_exactly_what_failed(&service, 200, 50).await;
}

/// Where a test's service runs, so that it can be started again after a `kill -9`.
enum Place<'a> {
    /// The embedded default, on this data directory.
    Embedded(&'a std::path::Path),
    /// Kafka + CQL, one process with every role.
    Engines(&'a Deployment),
}

impl Place<'_> {
    async fn start(&self) -> Service {
        match self {
            Place::Embedded(dir) => Service::start_in(dir, SHORT_RETRIES).await,
            Place::Engines(deployment) => deployment.start("all", &[]).await,
        }
    }
}

async fn killed_part_way_skips_nothing(place: Place<'_>) {
    let mut service = place.start().await;
    let receiver = Receiver::start().await;
    let count = 300;
    let outage = outage(&service, &receiver, "/down", count).await;
    receiver.set("/down", Script::always(Reply::Status(200)));
    let (replay_id, _) = replay(&service, &outage, json!({"rate_per_second": 50})).await;
    receiver.wait_for("/down", 2 * count + 40, PATIENCE).await;
    service.process.kill9();

    let service = place.start().await;
    wait_until(PATIENCE, "every failed task sent again", || async {
        let seen = webhook_ids(&receiver.requests("/down")[2 * count..]);
        (seen.len() == count).then_some(())
    })
    .await;
    let seen = webhook_ids(&receiver.requests("/down")[2 * count..]);
    assert_eq!(seen, outage.failed.keys().cloned().collect(), "nothing skipped");
    let done = wait_state(&service, &replay_id, "completed").await;
    assert_eq!((done["delivered"].clone(), done["matched"].clone()), (json!(count), json!(count)), "{done}");
    println!("{} requests for {count} tasks (a crash may repeat)", receiver.requests("/down").len() - 2 * count);
}

#[tokio::test]
async fn a_replay_killed_part_way_resumes_and_skips_nothing() {
    let dir = tempfile::tempdir().unwrap();
    killed_part_way_skips_nothing(Place::Embedded(dir.path())).await;
}

#[tokio::test]
async fn on_kafka_and_cql_a_replay_killed_part_way_resumes_and_skips_nothing() {
    let Some(engines) = engines("on_kafka_and_cql_a_replay_killed_part_way_resumes_and_skips_nothing") else {
        return;
    };
    let deployment = Deployment::new(&engines, SHORT_RETRIES).await;
    killed_part_way_skips_nothing(Place::Engines(&deployment)).await;
}

#[tokio::test]
async fn cancelling_stops_the_replay_and_what_was_queued_still_arrives() {
    let service = Service::start(SHORT_RETRIES).await;
    let receiver = Receiver::start().await;
    let count = 200;
    let outage = outage(&service, &receiver, "/down", count).await;
    receiver.set("/down", Script::always(Reply::Status(200)));
    let (replay_id, _) = replay(&service, &outage, json!({"rate_per_second": 20})).await;
    receiver.wait_for("/down", 2 * count + 20, PATIENCE).await;

    let (code, cancelled) = cancel(&service, &replay_id).await;
    assert_eq!(code, 202, "{cancelled}");
    assert_eq!(cancelled["replay_id"], replay_id.as_str());
    let message = cancelled["message"].as_str().unwrap();
    assert!(
        message.starts_with("Replay cancelled: nothing more is queued; tasks already queued (")
            && message.ends_with(") are still delivered"),
        "{message}"
    );
    let shown = wait_state(&service, &replay_id, "cancelled").await;
    assert!(shown["cancelled_at"].is_string(), "{shown}");
    // What was queued is still delivered, and nothing beyond it.
    let queued = shown["queued"].as_u64().unwrap() as usize;
    receiver.wait_for("/down", 2 * count + queued, PATIENCE).await;
    let after = receiver.requests("/down").len();
    assert_eq!(after, 2 * count + queued, "no request beyond the queued ones");
    let replayed = after - 2 * count;
    println!("{replayed} of {count} sent before the cancel took effect");
    assert!(replayed < count, "the cancel stopped it: {replayed}");
    let (code, again) = cancel(&service, &replay_id).await;
    assert_eq!(code, 409, "{again}");
}

#[tokio::test]
async fn a_replay_with_a_target_url_goes_to_the_other_receiver_signed_as_usual() {
    let service = Service::start(SHORT_RETRIES).await;
    let receiver = Receiver::start().await;
    let other = Receiver::start().await;
    let outage = outage(&service, &receiver, "/down", 5).await;
    let (replay_id, _) = replay(&service, &outage, json!({"target_url": other.url("/elsewhere")})).await;
    let arrived = other.wait_for("/elsewhere", 5, PATIENCE).await;
    assert_eq!(webhook_ids(&arrived), outage.failed.keys().cloned().collect());
    for request in &arrived {
        let (id, at) = (request.header("webhook-id").unwrap(), request.header("webhook-timestamp").unwrap());
        let signature = request.header("webhook-signature").unwrap();
        assert!(
            hookline_domain::signature::verify_standard_webhooks(
                "replay-secret",
                id,
                at.parse().unwrap(),
                &request.body,
                signature
            ),
            "signed with the subscription's secret"
        );
    }
    assert_eq!(receiver.requests("/down").len(), 10, "nothing more to the subscription's own URL");
    let done = wait_state(&service, &replay_id, "completed").await;
    assert_eq!(done["target_url"], other.url("/elsewhere"));
}

#[tokio::test]
async fn bad_replay_requests_are_refused_with_what_is_wrong() {
    let service = Service::start(SHORT_RETRIES).await;
    let sub = service.subscribe("http://127.0.0.1:9/hook", None, None).await;
    let since = "2026-01-01T00:00:00Z";
    let (code, answer) = post(&service, None, json!({"subscription_id": sub})).await;
    assert_eq!((code, answer["errors"]["since"].clone()), (400, json!("is required (RFC 3339)")), "{answer}");
    let (code, answer) = post(
        &service,
        None,
        json!({
            "subscription_id": sub,
            "since": "yesterday",
            "status": ["failed", "lost"],
            "rate_per_second": 100000,
            "target_url": "http://169.254.169.254/latest",
            "dry_run": "yes",
        }),
    )
    .await;
    assert_eq!(code, 400, "{answer}");
    let fields: Vec<&str> = answer["errors"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(fields, ["dry_run", "rate_per_second", "since", "status", "target_url"], "{answer}");
    let (code, answer) = post(&service, None, json!({"subscription_id": sub, "since": since, "until": since})).await;
    assert_eq!((code, answer["errors"]["until"].clone()), (400, json!("must be after since")));
    let (code, answer) = post(&service, None, json!({"since": since})).await;
    assert_eq!(code, 400, "the operator names a subscription or a tenant: {answer}");
    let (code, answer) =
        post(&service, None, json!({"subscription_id": sub, "tenant_id": "default", "since": since})).await;
    assert_eq!(code, 400, "{answer}");

    let unknown = hookline_domain::ReplayId::new().to_string();
    let (code, _) = post(&service, None, json!({"subscription_id": unknown, "since": since})).await;
    assert_eq!(code, 404);
    let (code, _) = post(&service, None, json!({"tenant_id": "nobody", "since": since})).await;
    assert_eq!(code, 404);
    let resp = service
        .client
        .put(service.url(&format!("/api/v1/subscriptions/{sub}")))
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (code, answer) = post(&service, None, json!({"subscription_id": sub, "since": since})).await;
    assert_eq!(code, 409, "{answer}");
    assert!(answer["message"].as_str().unwrap().contains("enable it first"), "{answer}");

    let (code, _) = service.get(&format!("/api/v1/replays/{unknown}")).await;
    assert_eq!(code, 404);
    let (code, _) = service.get("/api/v1/replays/not-a-uuid").await;
    assert_eq!(code, 400);
    let (code, _) = cancel(&service, &unknown).await;
    assert_eq!(code, 404);
    let (code, _) = service.get("/api/v1/replays?limit=0").await;
    assert_eq!(code, 400);
}

#[tokio::test]
async fn a_tenant_replays_its_own_subscriptions_and_sees_no_other_tenants_replays() {
    let service = Service::start(SHORT_RETRIES).await;
    let receiver = Receiver::start().await;
    for tenant in ["acme", "globex"] {
        let resp = service
            .client
            .post(service.url("/api/v1/tenants"))
            .json(&json!({"id": tenant, "name": tenant}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
    }
    let token = |tenant: &'static str| {
        let service = &service;
        async move {
            let url = service.url(&format!("/api/v1/tenants/{tenant}/tokens"));
            let created: Value = service.client.post(url).json(&json!({})).send().await.unwrap().json().await.unwrap();
            created["token"].as_str().unwrap().to_string()
        }
    };
    let (acme, globex) = (token("acme").await, token("globex").await);
    receiver.set("/acme", Script::always(Reply::Status(500)));
    let body = json!({"tenant_id": "acme", "target_url": receiver.url("/acme")});
    let sub = service.subscription_with(&body).await;
    let since = (chrono::Utc::now() - chrono::TimeDelta::seconds(1)).to_rfc3339();
    let task = service.ingest_ok(&sub, "{}", &[]).await;
    service.wait_task(&task, "failed", PATIENCE).await;
    receiver.set("/acme", Script::always(Reply::Status(200)));

    // Another tenant's subscription answers as an unknown one.
    let (code, _) = post(&service, Some(&globex), json!({"subscription_id": sub, "since": since})).await;
    assert_eq!(code, 404);
    let (code, _) = post(&service, Some(&globex), json!({"tenant_id": "acme", "since": since})).await;
    assert_eq!(code, 404);
    // A tenant's token naming nothing replays its own tenant.
    let (code, answer) = post(&service, Some(&acme), json!({"since": since})).await;
    assert_eq!((code, answer["matched"].clone()), (202, json!(1)), "{answer}");
    let replay_id = answer["replay_id"].as_str().unwrap().to_string();
    let arrived = receiver.wait_for("/acme", 3, PATIENCE).await;
    assert_eq!(arrived[2].header("webhook-id"), Some(task.as_str()));

    let path = format!("/api/v1/replays/{replay_id}");
    let (code, shown) = get_as(&service, &acme, &path).await;
    assert_eq!(code, 200, "{shown}");
    assert_eq!((shown["tenant_id"].clone(), shown["selection"]["tenant_id"].clone()), (json!("acme"), json!("acme")));
    assert_eq!(shown["selection"]["subscription_id"], Value::Null);
    let (code, _) = get_as(&service, &globex, &path).await;
    assert_eq!(code, 404);
    let resp = service.client.delete(service.url(&path)).bearer_auth(&globex).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let (_, theirs) = get_as(&service, &globex, "/api/v1/replays").await;
    assert_eq!(theirs["replays"], json!([]), "{theirs}");
    let (code, _) = get_as(&service, &globex, "/api/v1/replays?tenant_id=acme").await;
    assert_eq!(code, 404);
    wait_state(&service, &replay_id, "completed").await;
    let (_, ours) = get_as(&service, &acme, "/api/v1/replays").await;
    assert_eq!(ours["replays"][0]["replay_id"], replay_id.as_str(), "{ours}");
}
