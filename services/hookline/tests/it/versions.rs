//! Concurrent subscription writes: every change is applied or refused with 412,
//! none is lost silently, a rotation is never reverted by an edit that read the
//! secret before it, and a deleted subscription never comes back — on the embedded
//! default (one process) and on Kafka with two API processes.

use std::time::Duration;

use futures::future::join_all;
use hookline_testkit::process::wait_until;
use hookline_testkit::receiver::{Receiver, Reply, Script};
use serde_json::{json, Value};

use crate::common::{engines, Deployment, Service};

const T: Duration = Duration::from_secs(60);
const WRITERS: usize = 50;

/// One answered write: its status, the version in its `ETag` and its body.
struct Answer {
    writer: usize,
    status: u16,
    version: Option<u64>,
    body: Value,
}

fn version_of(resp: &reqwest::Response) -> Option<u64> {
    let tag = resp.headers().get("etag")?.to_str().ok()?;
    tag.trim_matches('"').parse().ok()
}

async fn read(service: &Service, sub: &str) -> (u16, Option<u64>, Value) {
    let resp = service.client.get(service.url(&format!("/api/subscriptions/{sub}"))).send().await.expect("get");
    let (status, version) = (resp.status().as_u16(), version_of(&resp));
    (status, version, resp.json().await.unwrap_or(Value::Null))
}

/// What writer `i` changes: a filter or a target of its own, so that its change can
/// be told apart from every other one.
fn patch(i: usize, receiver: &Receiver) -> Value {
    if i.is_multiple_of(2) {
        json!({ "event_type_filter": format!("type.{i}") })
    } else {
        json!({ "target_url": receiver.url(&format!("/w{i}")) })
    }
}

/// Writer `i` through `service`: odd-numbered writers among the first half send
/// `If-Match` with the version they just read; the others send none. Writer
/// `WRITERS` rotates the secret instead.
async fn write(i: usize, service: &Service, sub: &str, receiver: &Receiver) -> Answer {
    let with_if_match = i < WRITERS / 2;
    let request = if i == WRITERS {
        service
            .client
            .post(service.url(&format!("/api/subscriptions/{sub}/secret/rotate")))
            .json(&json!({ "secret": "rotated-secret", "grace_seconds": 0 }))
    } else {
        service.client.put(service.url(&format!("/api/v1/subscriptions/{sub}"))).json(&patch(i, receiver))
    };
    let request = if with_if_match {
        let (_, version, _) = read(service, sub).await;
        request.header("if-match", format!("\"{}\"", version.expect("GET gives an ETag")))
    } else {
        request
    };
    let resp = request.send().await.expect("write");
    let (status, version) = (resp.status().as_u16(), version_of(&resp));
    let body = resp.json().await.unwrap_or(Value::Null);
    Answer { writer: i, status, version, body }
}

/// Times to the millisecond, the precision a CQL view keeps (a change built on a
/// state read from the views carries its times as the views hold them).
fn to_the_millisecond(value: &Value) -> Value {
    match value.as_str().map(chrono::DateTime::parse_from_rfc3339) {
        Some(Ok(at)) => json!(at.timestamp_millis()),
        _ => value.clone(),
    }
}

/// The fields a change may leave different from the version it built on.
fn touched(writer: usize) -> &'static [&'static str] {
    if writer == WRITERS {
        &["secret", "previous_secret_expires_at", "updated_at"]
    } else if writer.is_multiple_of(2) {
        // The seed's filter and the patterns are one list, in two spellings.
        &["event_type_filter", "event_types", "updated_at"]
    } else {
        &["target_url", "updated_at"]
    }
}

/// Races `WRITERS` edits and a rotation of one subscription through `services` (in
/// turn) and checks that the applied ones form one chain of versions, each built on
/// the one before, and that the others were answered 412.
async fn race(services: &[&Service], receiver: &Receiver) {
    let first = services[0];
    let sub = first.subscribe(&receiver.url("/start"), Some("first-secret"), None).await;
    let (status, created, start) = read(first, &sub).await;
    assert_eq!((status, created), (200, Some(1)), "a new subscription is version 1: {start}");

    let writes = (0..=WRITERS).map(|i| write(i, services[i % services.len()], &sub, receiver));
    let answers = join_all(writes).await;

    let mut applied: Vec<&Answer> = Vec::new();
    for answer in &answers {
        match answer.status {
            200 => applied.push(answer),
            412 => assert!(answer.writer < WRITERS / 2, "412 without If-Match (writer {})", answer.writer),
            other => panic!("writer {} answered {other}: {}", answer.writer, answer.body),
        }
    }
    let refused = answers.len() - applied.len();
    println!(
        "{} writers through {} process(es): {} applied, {refused} refused with 412",
        answers.len(),
        services.len(),
        applied.len()
    );
    assert!(
        answers.iter().filter(|a| a.writer >= WRITERS / 2).all(|a| a.status == 200),
        "changes without If-Match all apply"
    );

    // One version per applied change, no version twice: none overwrote another unseen.
    applied.sort_by_key(|a| a.version);
    let versions: Vec<u64> = applied.iter().map(|a| a.version.expect("a 200 carries an ETag")).collect();
    let expected: Vec<u64> = (2..2 + applied.len() as u64).collect();
    assert_eq!(versions, expected, "applied changes make consecutive versions");

    // Each applied change was built on the one just before it: what it did not touch is
    // exactly what the previous version held.
    let mut previous = &start;
    for answer in &applied {
        for (field, value) in answer.body.as_object().expect("object") {
            if !touched(answer.writer).contains(&field.as_str()) {
                assert_eq!(
                    to_the_millisecond(value),
                    to_the_millisecond(&previous[field]),
                    "version {:?} (writer {}) changed {field}",
                    answer.version,
                    answer.writer
                );
            }
        }
        previous = &answer.body;
    }

    // Every process now shows the last version, with the rotated secret kept.
    for service in services {
        let (status, version, last) = read(service, &sub).await;
        assert_eq!((status, version), (200, versions.last().copied()));
        let fields = last.as_object().expect("object").keys();
        assert!(fields.into_iter().all(|f| to_the_millisecond(&last[f]) == to_the_millisecond(&previous[f])));
        assert_eq!(last["secret"], "rotated-secret", "the rotation survives every edit");
    }
}

/// Subscriptions whose receiver answers 410 Gone (which disables them at once) are
/// deleted while their first webhook is delivered: each ends deleted, for good.
async fn delete_while_disabling(service: &Service, receiver: &Receiver) {
    receiver.set("/gone", Script::always(Reply::Status(410)));
    let mut subs = Vec::new();
    for _ in 0..20 {
        subs.push(service.subscribe(&receiver.url("/gone"), None, None).await);
    }
    let races = subs.iter().map(|sub| async move {
        service.ingest_ok(sub, r#"{"k":1}"#, &[]).await;
        // As soon as the delivery has started, so that the disabling races the deletion.
        tokio::time::sleep(Duration::from_millis(2)).await;
        let resp = service.client.delete(service.url(&format!("/api/subscriptions/{sub}"))).send().await.unwrap();
        resp.status().as_u16()
    });
    let statuses = join_all(races).await;
    assert!(statuses.iter().all(|s| *s == 200), "every deletion applies: {statuses:?}");
    receiver.wait_for("/gone", subs.len(), T).await;
    // Give any disabling still in flight the time to land, then look again.
    wait_until(T, "every subscription to stay deleted", || async {
        for sub in &subs {
            if read(service, sub).await.0 != 404 {
                return None;
            }
        }
        Some(())
    })
    .await;
    // A disabling still in flight must not bring one back: watch them for a while.
    let watch_until = tokio::time::Instant::now() + Duration::from_secs(2);
    while tokio::time::Instant::now() < watch_until {
        let (_, listed) = service.get("/api/subscriptions?limit=1000").await;
        for sub in &subs {
            assert_eq!(read(service, sub).await.0, 404, "{sub} came back");
            assert!(listed.as_array().unwrap().iter().all(|s| s["id"] != sub.as_str()), "{sub} listed again");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn concurrent_writes_are_applied_or_refused_never_lost_embedded() {
    let receiver = Receiver::start().await;
    let service = Service::start(&[]).await;
    race(&[&service], &receiver).await;
    delete_while_disabling(&service, &receiver).await;
}

#[tokio::test]
async fn concurrent_writes_through_two_api_processes_on_kafka() {
    let Some(engines) = engines("concurrent_writes_through_two_api_processes_on_kafka") else { return };
    let receiver = Receiver::start().await;
    let deployment = Deployment::new(&engines, &[]).await;
    let all = deployment.start("all", &[]).await;
    let api = deployment.start("api", &[]).await;
    race(&[&all, &api], &receiver).await;
    delete_while_disabling(&all, &receiver).await;
}

#[tokio::test]
async fn if_match_is_checked_and_etags_follow_versions() {
    let receiver = Receiver::start().await;
    let service = Service::start(&[]).await;
    let sub = service.subscribe(&receiver.url("/a"), None, None).await;
    let url = service.url(&format!("/api/subscriptions/{sub}"));
    let put = |if_match: &str, body: Value| service.client.put(&url).header("if-match", if_match).json(&body).send();

    let resp = put("\"1\"", json!({"event_type_filter": "a"})).await.unwrap();
    assert_eq!((resp.status().as_u16(), version_of(&resp)), (200, Some(2)));
    let resp = put("\"1\"", json!({"event_type_filter": "b"})).await.unwrap();
    assert_eq!(resp.status().as_u16(), 412, "a stale If-Match");
    let body: Value = resp.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("If-Match"), "{body}");
    assert_eq!(read(&service, &sub).await.2["event_type_filter"], "a", "the stale write changed nothing");
    let resp = put("*", json!({"event_type_filter": "c"})).await.unwrap();
    assert_eq!((resp.status().as_u16(), version_of(&resp)), (200, Some(3)));
    let resp = put("not-an-etag", json!({"event_type_filter": "d"})).await.unwrap();
    assert_eq!(resp.status().as_u16(), 400);

    let delete = |if_match: &'static str| service.client.delete(&url).header("if-match", if_match).send();
    assert_eq!(delete("\"2\"").await.unwrap().status().as_u16(), 412);
    assert_eq!(delete("\"3\"").await.unwrap().status().as_u16(), 200);
    assert_eq!(read(&service, &sub).await.0, 404);
    let resp = put("*", json!({"event_type_filter": "e"})).await.unwrap();
    assert_eq!(resp.status().as_u16(), 404, "a deleted subscription stays deleted");
}
