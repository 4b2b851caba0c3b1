//! Idempotency keys on webhooks produced straight into Kafka: a repeat of a key is
//! never a second delivery, whether it comes in the same consumed batch, a later one,
//! or to another ingest process.

use std::collections::HashMap;
use std::time::Duration;

use hookline_domain::signature::ingest_signature;
use hookline_log::NewRecord;
use hookline_testkit::process::wait_until;
use hookline_testkit::receiver::Receiver;

use crate::common::{engines, Deployment, Service};

const T: Duration = Duration::from_secs(90);
const SECRET: &str = "idempotency-secret";

fn keyed(sub: &str, key: &str, n: usize) -> NewRecord {
    let body = format!(r#"{{"key":"{key}","n":{n}}}"#);
    NewRecord {
        topic: "hookline.ingest".into(),
        key: sub.as_bytes().to_vec(),
        headers: vec![
            ("signature".into(), ingest_signature(SECRET, body.as_bytes()).into_bytes()),
            ("idempotency_key".into(), key.as_bytes().to_vec()),
        ],
        value: body.into_bytes(),
    }
}

/// Deliveries per `webhook-id` at `path`.
fn deliveries(receiver: &Receiver, path: &str) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for request in receiver.requests(path) {
        *counts.entry(request.header("webhook-id").unwrap_or_default().to_string()).or_default() += 1;
    }
    counts
}

/// Produces 200 keyed webhooks, then at once 10 repeating the first 10 keys, and
/// waits until every key is delivered; then checks that none was delivered twice.
async fn repeats_are_not_delivered_again(service: &Service, engines: &crate::common::Engines, deployment: &Deployment) {
    let receiver = Receiver::start().await;
    let sub = service.subscribe(&receiver.url("/keyed"), Some(SECRET), None).await;
    let log = crate::distributed::kafka(engines, deployment).await;
    let first: Vec<NewRecord> = (0..200).map(|n| keyed(&sub, &format!("order-{n}"), n)).collect();
    let repeats: Vec<NewRecord> = (0..10).map(|n| keyed(&sub, &format!("order-{n}"), 1000 + n)).collect();
    log.append(first).await.expect("produce");
    log.append(repeats).await.expect("produce the repeats");
    // A marker after the repeats: once it is delivered, so would the repeats have been.
    log.append(vec![keyed(&sub, "marker", 9999)]).await.expect("produce the marker");

    wait_until(T, "201 keys delivered", || async { (deliveries(&receiver, "/keyed").len() >= 201).then_some(()) })
        .await;
    let counts = deliveries(&receiver, "/keyed");
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    println!("direct keyed webhooks: {} keys delivered, repeated: {twice:?}", counts.len());
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    assert_no_repeat_body(&receiver);
}

/// No body of a repeat (numbered from 1000, below the marker's 9999) was delivered.
fn assert_no_repeat_body(receiver: &Receiver) {
    for request in receiver.requests("/keyed") {
        let n = request.json().expect("a JSON body")["n"].as_u64().expect("numbered");
        assert!(!(1000..9999).contains(&n), "the body of repeat {n} was delivered");
    }
}

#[tokio::test]
async fn repeated_idempotency_keys_on_kafka_are_delivered_once() {
    let Some(engines) = engines("repeated_idempotency_keys_on_kafka_are_delivered_once") else { return };
    let deployment = Deployment::new(&engines, &[]).await;
    let service = deployment.start("all", &[]).await;
    repeats_are_not_delivered_again(&service, &engines, &deployment).await;
}

/// The partition moves to another ingest process between a key and its repeat, while
/// the projector is stopped: the views still know the key, because the consumer that
/// accepted it wrote it there before committing.
#[tokio::test]
async fn a_repeat_read_by_another_ingest_process_is_not_delivered_again() {
    let Some(engines) = engines("a_repeat_read_by_another_ingest_process_is_not_delivered_again") else { return };
    let receiver = Receiver::start().await;
    let deployment = Deployment::new(&engines, &[]).await;
    let api = deployment.start("api", &[]).await;
    let mut projector = deployment.start("projector", &[]).await;
    let _delivery = deployment.start("delivery", &[]).await;
    let mut ingest_a = deployment.start("ingest", &[]).await;
    let sub = api.subscribe(&receiver.url("/keyed"), Some(SECRET), None).await;
    wait_until(T, "the subscription in the views", || async {
        (api.get(&format!("/api/subscriptions/{sub}")).await.0 == 200).then_some(())
    })
    .await;
    assert!(projector.process.terminate(Duration::from_secs(30)).await.success());

    let log = crate::distributed::kafka(&engines, &deployment).await;
    log.append((0..200).map(|n| keyed(&sub, &format!("order-{n}"), n)).collect()).await.expect("produce");
    wait_until(T, "200 keys delivered", || async { (deliveries(&receiver, "/keyed").len() >= 200).then_some(()) })
        .await;
    assert!(ingest_a.process.terminate(Duration::from_secs(30)).await.success());

    let _ingest_b = deployment.start("ingest", &[]).await;
    let mut repeats: Vec<NewRecord> = (0..10).map(|n| keyed(&sub, &format!("order-{n}"), 1000 + n)).collect();
    repeats.push(keyed(&sub, "marker", 9999));
    log.append(repeats).await.expect("produce the repeats");
    wait_until(T, "the marker delivered", || async { (deliveries(&receiver, "/keyed").len() >= 201).then_some(()) })
        .await;
    let counts = deliveries(&receiver, "/keyed");
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    println!("keyed webhooks across ingest processes: {} keys delivered, repeated: {twice:?}", counts.len());
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    assert_no_repeat_body(&receiver);
}
