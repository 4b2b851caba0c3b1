//! A Kafka broker restart under load: the service answers 503 (never 500) while the
//! broker is away, recovers by itself when it is back, and loses no accepted webhook.
//! Its own test binary, because it stops the broker every other test shares.

#[allow(dead_code)]
#[path = "it/common.rs"]
mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{engines, Deployment};
use hookline_testkit::process::wait_until;
use hookline_testkit::receiver::Receiver;

/// How long the broker stays down with an ingest request waiting on it.
const OUTAGE: Duration = Duration::from_secs(2);

async fn kafka_script(action: &str) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/kafka.sh");
    let output = tokio::process::Command::new("bash").arg(script).arg(action).output().await.unwrap();
    assert!(output.status.success(), "kafka.sh {action} failed: {}", String::from_utf8_lossy(&output.stderr));
}

#[tokio::test]
async fn a_broker_restart_loses_nothing() {
    let Some(engines) = engines("a_broker_restart_loses_nothing") else { return };
    let receiver = Receiver::start().await;
    let deployment = Deployment::new(&engines, &[]).await;
    let service = deployment.start("all", &[]).await;
    let sub = service.subscribe(&receiver.url("/r"), None, None).await;

    let mut accepted = Vec::new();
    for n in 0..100 {
        accepted.push(service.ingest_ok(&sub, &format!(r#"{{"before":{n}}}"#), &[]).await);
    }
    kafka_script("stop").await;
    // An ingest while the broker is away waits for it (up to the producer's timeout) and
    // is then either accepted, once durable, or refused as retryable: never a 500.
    let during = {
        let url = service.url(&format!("/api/ingest/{sub}"));
        tokio::spawn(async move {
            let client = reqwest::Client::builder().timeout(Duration::from_secs(120)).build().unwrap();
            let resp = client
                .post(url)
                .header("content-type", "application/json")
                .body(r#"{"during":true}"#)
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<serde_json::Value>().await.unwrap_or_default())
        })
    };
    // The outage itself is the scenario: the broker stays away this long with a request waiting.
    tokio::time::sleep(OUTAGE).await;
    kafka_script("start").await;
    let (status, answer) = during.await.unwrap();
    println!("ingest while the broker was down: {status} {answer}");
    assert!(status == 503 || status == 202, "while the broker was down: {status} {answer}");
    if status == 202 {
        accepted.push(answer["task_id"].as_str().unwrap().to_string());
    }
    for n in 0..100 {
        let body = format!(r#"{{"after":{n}}}"#);
        let task = wait_until(Duration::from_secs(60), "ingest accepted again", || async {
            let (status, answer) = service.ingest(&sub, &body, &[]).await;
            (status == 202).then(|| answer["task_id"].as_str().unwrap().to_string())
        })
        .await;
        accepted.push(task);
    }
    let want: HashSet<String> = accepted.into_iter().collect();
    wait_until(Duration::from_secs(120), "every accepted webhook delivered", || async {
        let got: HashSet<String> =
            receiver.requests("/r").iter().filter_map(|r| r.header("webhook-id").map(str::to_string)).collect();
        want.is_subset(&got).then_some(())
    })
    .await;
    let total = receiver.requests("/r").len();
    println!("broker restart: {} accepted, {total} deliveries ({} repeated)", want.len(), total - want.len());
}
