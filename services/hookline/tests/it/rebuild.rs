//! The log is the truth: dropping the views and replaying the log rebuilds them identically.

use std::time::Duration;

use hookline_testkit::receiver::{Receiver, Reply, Script};
use serde_json::Value;

use crate::common::{binary, Service};

async fn snapshot(service: &Service, subs: &[String], tasks: &[String]) -> Value {
    let (_, subscriptions) = service.get("/api/subscriptions").await;
    let mut attempts = Vec::new();
    for sub in subs {
        attempts.push(service.get(&format!("/api/status/subscriptions/{sub}/attempts?limit=1000")).await.1);
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(service.task(task).await.1);
    }
    serde_json::json!({"subscriptions": subscriptions, "attempts": attempts, "tasks": statuses})
}

#[tokio::test]
async fn rebuilt_views_equal_the_originals() {
    let receiver = Receiver::start().await;
    receiver.set("/fails", Script::always(Reply::Status(500)));
    receiver.set("/flaky", Script::then(vec![Reply::Status(502)], Reply::Status(200)));
    let dir = tempfile::tempdir().unwrap();
    let mut service = Service::start_in(dir.path(), &[]).await;
    let mut subs = Vec::new();
    for path in ["/ok", "/fails", "/flaky"] {
        subs.push(service.subscribe(&receiver.url(path), Some("s3cret-key"), None).await);
    }
    let deleted = service.subscribe(&receiver.url("/ok"), None, Some("x")).await;
    service.client.delete(service.url(&format!("/api/subscriptions/{deleted}"))).send().await.unwrap();
    let updated = &subs[0];
    service
        .client
        .put(service.url(&format!("/api/subscriptions/{updated}")))
        .json(&serde_json::json!({"event_type_filter": null, "target_url": receiver.url("/ok?v=2")}))
        .send()
        .await
        .unwrap();

    let mut tasks = Vec::new();
    for (i, sub) in subs.iter().enumerate() {
        for n in 0..3 {
            let body = format!(r#"{{"sub":{i},"n":{n}}}"#);
            let sig = hookline_domain::signature::ingest_signature("s3cret-key", body.as_bytes());
            tasks.push(service.ingest_ok(sub, &body, &[("X-Hub-Signature-256", &sig)]).await);
        }
    }
    for (i, task) in tasks.iter().enumerate() {
        let end = if i / 3 == 1 { "failed" } else { "succeeded" };
        service.wait_task(task, end, Duration::from_secs(30)).await;
    }
    let before = snapshot(&service, &subs, &tasks).await;
    assert!(service.process.terminate(Duration::from_secs(20)).await.success());

    let output = tokio::process::Command::new(binary())
        .args(["rebuild-views", "--data-dir", dir.path().to_str().unwrap()])
        // The embedded stores of this data directory, whatever engines the test run has.
        .envs([("KAFKA_BROKERS", ""), ("SCYLLA_NODES", "")])
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "rebuild-views failed: {}", String::from_utf8_lossy(&output.stderr));
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(said.contains("rebuilt the views from"), "{said}");
    assert!(!dir.path().join("views.redb").metadata().map(|m| m.len() == 0).unwrap_or(true));

    let service = Service::start_in(dir.path(), &[]).await;
    let after = snapshot(&service, &subs, &tasks).await;
    assert_eq!(before, after, "views rebuilt from the log must equal the originals");
    assert_eq!(before["subscriptions"].as_array().unwrap().len(), 3, "the deleted subscription stays deleted");
}
