//! The distributed mode on real engines: Kafka as the log, a CQL database (Cassandra,
//! standing in for ScyllaDB) as the views, each role in its own process.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use hookline_log::namespace::Namespaced;
use hookline_log::{ConsumerSpec, EventLog, NewRecord, StartFrom};
use hookline_log_kafka::{KafkaLog, KafkaSettings};
use hookline_testkit::process::wait_until;
use hookline_testkit::receiver::{Receiver, Reply, Script};

use crate::common::{engines, Deployment, Engines};

const T: Duration = Duration::from_secs(60);

/// A client of the deployment's namespace on the broker, as an external producer would be.
pub async fn kafka(engines: &Engines, deployment: &Deployment) -> Arc<dyn EventLog> {
    let log = KafkaLog::connect(KafkaSettings {
        client_id: "hookline-it-producer".into(),
        ..KafkaSettings::new(engines.kafka_brokers.clone())
    })
    .await
    .expect("kafka client");
    Namespaced::new(log, deployment.namespace.clone())
}

/// Every record of `topic` now in the log.
pub async fn read_all(log: &Arc<dyn EventLog>, topic: &str, expect: usize) -> Vec<hookline_log::Record> {
    let spec = ConsumerSpec { group: None, topics: vec![topic.into()], start: StartFrom::Earliest };
    let consumer = log.consumer(spec).await.unwrap();
    let mut records = Vec::new();
    let deadline = std::time::Instant::now() + T;
    while records.len() < expect && std::time::Instant::now() < deadline {
        records.extend(consumer.poll(100, Duration::from_secs(1)).await.unwrap());
    }
    records
}

fn delivered(receiver: &Receiver, path: &str) -> (HashSet<String>, usize) {
    let requests = receiver.requests(path);
    (requests.iter().filter_map(|r| r.header("webhook-id").map(str::to_string)).collect(), requests.len())
}

#[tokio::test]
async fn separate_role_processes_deliver_rest_and_direct_kafka_webhooks() {
    let Some(engines) = engines("separate_role_processes_deliver_rest_and_direct_kafka_webhooks") else { return };
    let receiver = Receiver::start().await;
    let deployment = Deployment::new(&engines, &[]).await;
    let api = deployment.start("api", &[]).await;
    let _projector = deployment.start("projector", &[]).await;
    let _delivery_a = deployment.start("delivery", &[("HOOKLINE_INSTANCE_ID", "delivery-a")]).await;
    let _delivery_b = deployment.start("delivery", &[("HOOKLINE_INSTANCE_ID", "delivery-b")]).await;
    let _ingest = deployment.start("ingest", &[]).await;

    let sub = api.subscribe(&receiver.url("/d"), Some("kafka-secret"), None).await;
    let mut rest_tasks = Vec::new();
    for n in 0..100 {
        let body = format!(r#"{{"via":"rest","n":{n}}}"#);
        let sig = hookline_domain::signature::ingest_signature("kafka-secret", body.as_bytes());
        rest_tasks.push(api.ingest_ok(&sub, &body, &[("X-Hub-Signature-256", &sig), ("X-Event-Type", "e")]).await);
    }

    // External producers append raw webhooks straight to the ingest topic.
    let log = kafka(&engines, &deployment).await;
    let mut direct = Vec::new();
    for n in 0..50 {
        let body = format!(r#"{{"via":"kafka","n":{n}}}"#);
        let sig = hookline_domain::signature::ingest_signature("kafka-secret", body.as_bytes());
        direct.push(NewRecord {
            topic: "hookline.ingest".into(),
            key: sub.clone().into_bytes(),
            headers: vec![("event_type".into(), b"e".to_vec()), ("signature".into(), sig.into_bytes())],
            value: body.into_bytes(),
        });
    }
    // One with a wrong signature: it must end in the rejected topic, never delivered.
    direct.push(NewRecord {
        topic: "hookline.ingest".into(),
        key: sub.clone().into_bytes(),
        headers: vec![("signature".into(), b"sha256=00".to_vec())],
        value: br#"{"via":"kafka","forged":true}"#.to_vec(),
    });
    log.append(direct).await.expect("produce to hookline.ingest");

    wait_until(T, "150 distinct deliveries", || async { (delivered(&receiver, "/d").0.len() >= 150).then_some(()) })
        .await;
    let (ids, total) = delivered(&receiver, "/d");
    println!("distributed: 150 webhooks (100 REST, 50 Kafka), {} distinct delivered, {total} deliveries", ids.len());
    assert_eq!(ids.len(), 150);
    assert!(rest_tasks.iter().all(|t| ids.contains(t)), "every REST task delivered");
    let kafka_bodies = receiver.requests("/d").iter().filter(|r| r.body.starts_with(br#"{"via":"kafka""#)).count();
    assert!(kafka_bodies >= 50, "direct Kafka webhooks delivered with their raw bodies");
    assert!(receiver.requests("/d").iter().all(|r| !r.body.windows(6).any(|w| w == b"forged")), "forged one delivered");

    let rejected = read_all(&log, "hookline.ingest.rejected", 1).await;
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].header("hookline-reject-reason"), Some(&b"signature_invalid"[..]));

    // The status comes from the CQL views the projector process writes.
    for task in rest_tasks.iter().take(5) {
        let status = api.wait_task(task, "succeeded", T).await;
        assert_eq!(status["attempts"][0]["http_status"], 200);
    }
}

#[tokio::test]
async fn retries_go_through_kafka_tiers_and_end_in_the_dead_letter_topic() {
    let Some(engines) = engines("retries_go_through_kafka_tiers_and_end_in_the_dead_letter_topic") else { return };
    let receiver = Receiver::start().await;
    receiver.set("/flaky", Script::then(vec![Reply::Status(500), Reply::Status(503)], Reply::Status(200)));
    receiver.set("/down", Script::always(Reply::Status(500)));
    let deployment = Deployment::new(&engines, &[]).await;
    let service = deployment.start("all", &[]).await;
    let flaky = service.subscribe(&receiver.url("/flaky"), None, None).await;
    let down = service.subscribe(&receiver.url("/down"), None, None).await;
    let flaky_task = service.ingest_ok(&flaky, r#"{"k":1}"#, &[]).await;
    let down_task = service.ingest_ok(&down, r#"{"k":2}"#, &[]).await;

    let got = receiver.wait_for("/flaky", 3, T).await;
    let gaps: Vec<f64> = got.windows(2).map(|w| (w[1].at - w[0].at).as_secs_f64()).collect();
    println!("kafka retry gaps: {gaps:?} (schedule 1 s, 2 s)");
    assert!((gaps[0] - 1.0).abs() < 1.0 && gaps[0] >= 0.9, "first retry after {:.2} s", gaps[0]);
    assert!((gaps[1] - 2.0).abs() < 1.0 && gaps[1] >= 1.9, "second retry after {:.2} s", gaps[1]);
    service.wait_task(&flaky_task, "succeeded", T).await;

    let failed = service.wait_task(&down_task, "failed", T).await;
    assert_eq!(failed["attempts_count"], 4);
    let log = kafka(&engines, &deployment).await;
    let dead = read_all(&log, "hookline.dlq", 1).await;
    assert_eq!(dead.len(), 1);
    let letter: serde_json::Value = serde_json::from_slice(&dead[0].value).unwrap();
    assert_eq!(letter["task"]["task_id"], down_task.as_str());
    assert_eq!(letter["attempts"], 4);
}

#[tokio::test]
async fn killing_a_delivery_worker_under_load_loses_nothing() {
    let Some(engines) = engines("killing_a_delivery_worker_under_load_loses_nothing") else { return };
    let receiver = Receiver::start().await;
    let deployment = Deployment::new(&engines, &[]).await;
    let api = deployment.start("api,projector", &[]).await;
    let mut worker_a = deployment.start("delivery", &[("HOOKLINE_INSTANCE_ID", "worker-a")]).await;
    let _worker_b = deployment.start("delivery", &[("HOOKLINE_INSTANCE_ID", "worker-b")]).await;
    let sub = api.subscribe(&receiver.url("/load"), None, None).await;

    let mut accepted = Vec::new();
    for n in 0..600 {
        accepted.push(api.ingest_ok(&sub, &format!(r#"{{"n":{n}}}"#), &[]).await);
        if n == 300 {
            worker_a.process.kill9();
        }
    }
    let want: HashSet<String> = accepted.into_iter().collect();
    wait_until(Duration::from_secs(120), "every accepted task delivered after the kill", || async {
        want.is_subset(&delivered(&receiver, "/load").0).then_some(())
    })
    .await;
    let (ids, total) = delivered(&receiver, "/load");
    println!(
        "kill -9 of one of two Kafka delivery workers: {} accepted, {} distinct delivered, {} repeated",
        want.len(),
        ids.len(),
        total - ids.len()
    );
}
