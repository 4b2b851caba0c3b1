//! Nothing a client writes to the log stops the service: on every topic hookline
//! consumes, a record as large as the log takes, garbage bytes and a record of another
//! schema are set aside, the service stays ready, and the next good webhook is
//! delivered. On a real Kafka broker and on the embedded log.

use std::sync::Arc;
use std::time::Duration;

use hookline_log::embedded::{EmbeddedLog, EmbeddedOptions};
use hookline_log::{EventLog, NewRecord};
use hookline_testkit::process::wait_until;
use hookline_testkit::receiver::Receiver;

use crate::common::{engines, Deployment, Service};

const T: Duration = Duration::from_secs(60);

/// The topics hookline consumes, each with the kind of event its records carry.
const CONSUMED: [(&str, &str); 6] = [
    ("hookline.ingest", ""),
    ("hookline.deliveries", "TaskAccepted"),
    ("hookline.retry.1s", "RetryScheduled"),
    ("hookline.subscriptions", "SubscriptionCreated"),
    ("hookline.attempts", "AttemptRecorded"),
    ("hookline.dlq", "TaskDeadLettered"),
];

/// For each consumed topic: a record at the log's limit, garbage, and another schema;
/// keyed by `sub` so that they sit in the partition of the good webhooks that follow.
fn poison(log: &dyn EventLog, sub: &str) -> Vec<NewRecord> {
    let mut records = Vec::new();
    for (topic, kind) in CONSUMED {
        let headers =
            if kind.is_empty() { vec![] } else { vec![("hookline-event".to_string(), kind.as_bytes().to_vec())] };
        let record = |key: &[u8], value: Vec<u8>| NewRecord {
            topic: topic.to_string(),
            key: key.to_vec(),
            headers: headers.clone(),
            value,
        };
        let mut at_limit = record(sub.as_bytes(), Vec::new());
        at_limit.value = vec![b' '; log.max_record_bytes() - log.record_bytes(&at_limit)];
        records.push(at_limit);
        records.push(record(sub.as_bytes(), vec![0xff, 0xfe, 0x00, 0x7b]));
        // Another event's JSON; on the ingest topic, a key that is no subscription.
        let other = br#"{"task_id":"0190a5b4-7f43-7cc2-9a3e-2b1f6c8d9e01","attempt_number":1}"#.to_vec();
        records.push(record(if kind.is_empty() { b"no-subscription" } else { sub.as_bytes() }, other));
    }
    records
}

/// A good webhook produced straight into the ingest topic.
fn direct_webhook(sub: &str, body: &str) -> NewRecord {
    NewRecord { topic: "hookline.ingest".into(), key: sub.as_bytes().to_vec(), headers: vec![], value: body.into() }
}

/// After the poison: ready, the good webhooks delivered, and every role's set-aside
/// records counted.
async fn still_serving(service: &Service, receiver: &Receiver, sub: &str) {
    service.ingest_ok(sub, r#"{"after":"rest"}"#, &[]).await;
    let got = receiver.wait_for("/after", 2, T).await;
    let bodies: Vec<&[u8]> = got.iter().map(|r| r.body.as_ref()).collect();
    assert!(bodies.contains(&&br#"{"after":"rest"}"#[..]), "the REST webhook delivered");
    assert!(bodies.contains(&&br#"{"after":"kafka"}"#[..]), "the direct webhook delivered");

    let (status, ready) = service.get("/ready").await;
    assert_eq!(status, 200, "ready after the poison: {ready}");
    let want = [
        r#"hookline_records_set_aside_total{role="ingest",topic="hookline.ingest",reason="too_large"} 1"#,
        r#"hookline_records_set_aside_total{role="delivery",topic="hookline.deliveries",reason="undecodable"} 3"#,
        r#"hookline_records_set_aside_total{role="delivery",topic="hookline.retry.1s",reason="undecodable"} 3"#,
        r#"hookline_records_set_aside_total{role="projector",topic="hookline.subscriptions",reason="undecodable"} 3"#,
        r#"hookline_records_set_aside_total{role="projector",topic="hookline.deliveries",reason="undecodable"} 3"#,
        r#"hookline_records_set_aside_total{role="projector",topic="hookline.attempts",reason="undecodable"} 3"#,
        r#"hookline_records_set_aside_total{role="projector",topic="hookline.dlq",reason="undecodable"} 3"#,
    ];
    let metrics = wait_until(T, "every poison record counted as set aside", || async {
        let text = service.client.get(service.url("/metrics")).send().await.ok()?.text().await.ok()?;
        want.iter().all(|line| text.contains(line)).then_some(text)
    })
    .await;
    assert!(metrics.contains("hookline_ingest_requests_total{source=\"log\",outcome=\"invalid_key\"} 1"), "{metrics}");
    assert_eq!(service.get("/ready").await.0, 200);
}

#[tokio::test]
async fn poison_records_on_kafka_are_set_aside_and_the_service_keeps_delivering() {
    let Some(engines) = engines("poison_records_on_kafka_are_set_aside_and_the_service_keeps_delivering") else {
        return;
    };
    let receiver = Receiver::start().await;
    let deployment = Deployment::new(&engines, &[]).await;
    let service = deployment.start("all", &[]).await;
    let sub = service.subscribe(&receiver.url("/after"), None, None).await;

    let log = crate::distributed::kafka(&engines, &deployment).await;
    let mut records = poison(log.as_ref(), &sub);
    records.push(direct_webhook(&sub, r#"{"after":"kafka"}"#));
    for record in records {
        log.append(vec![record]).await.expect("produce");
    }
    still_serving(&service, &receiver, &sub).await;
}

#[tokio::test]
async fn poison_records_on_the_embedded_log_are_set_aside_and_the_service_keeps_delivering() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut service = Service::start_in(dir.path(), &[]).await;
    let sub = service.subscribe(&receiver.url("/after"), None, None).await;
    assert!(service.process.terminate(Duration::from_secs(20)).await.success());

    // The log is the process's own: written while it is stopped, read when it starts again.
    {
        let log: Arc<dyn EventLog> =
            EmbeddedLog::open(&dir.path().join("log"), EmbeddedOptions::default()).expect("open the log");
        let mut records = poison(log.as_ref(), &sub);
        records.push(direct_webhook(&sub, r#"{"after":"kafka"}"#));
        log.append(records).await.expect("append");
    }
    let service = Service::start_in(dir.path(), &[]).await;
    still_serving(&service, &receiver, &sub).await;
}
