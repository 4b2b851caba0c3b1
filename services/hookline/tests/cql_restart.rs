//! The CQL database restarts under load: webhooks keep being accepted and delivered
//! (the log is the truth), status reads answer 503 while the views are away, and the
//! projector catches up by itself once they are back. Its own test binary, because it
//! stops the database every other test shares.

#[allow(dead_code)]
#[path = "it/common.rs"]
mod common;

use std::time::Duration;

use common::{engines, Deployment};
use hookline_testkit::process::wait_until;
use hookline_testkit::receiver::Receiver;

async fn cassandra_script(action: &str) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/cassandra.sh");
    let output = tokio::process::Command::new("bash").arg(script).arg(action).output().await.unwrap();
    assert!(output.status.success(), "cassandra.sh {action} failed: {}", String::from_utf8_lossy(&output.stderr));
}

#[tokio::test]
async fn the_views_recover_after_a_database_restart() {
    let Some(engines) = engines("the_views_recover_after_a_database_restart") else { return };
    let receiver = Receiver::start().await;
    let deployment = Deployment::new(&engines, &[]).await;
    let service = deployment.start("all", &[]).await;
    let sub = service.subscribe(&receiver.url("/v"), None, None).await;
    let before = service.ingest_ok(&sub, r#"{"before":true}"#, &[]).await;
    service.wait_task(&before, "succeeded", Duration::from_secs(60)).await;

    cassandra_script("stop").await;
    // Accepting and delivering need only the log and the cached subscription.
    let mut during = Vec::new();
    for n in 0..20 {
        during.push(service.ingest_ok(&sub, &format!(r#"{{"during":{n}}}"#), &[]).await);
    }
    receiver.wait_for("/v", 21, Duration::from_secs(60)).await;
    let (status, answer) = service.task(&before).await;
    println!("status read while the database is down: {status} {answer}");
    assert_eq!(status, 503, "a status read without views is a retryable 503, not a 500: {answer}");

    cassandra_script("start").await;
    for task in &during {
        service.wait_task(task, "succeeded", Duration::from_secs(120)).await;
    }
    let (status, _) = service.get(&format!("/api/status/subscriptions/{sub}/attempts?limit=100")).await;
    assert_eq!(status, 200);
    wait_until(Duration::from_secs(30), "all 21 attempts projected", || async {
        let (_, attempts) = service.get(&format!("/api/status/subscriptions/{sub}/attempts?limit=100")).await;
        (attempts.as_array().map_or(0, Vec::len) == 21).then_some(())
    })
    .await;
}
