//! Safe delivery through the real binary: with `HOOKLINE_TARGET_ALLOWLIST` off, a
//! canary receiver on loopback gets no connection from any spelling of its address,
//! neither when a subscription names it (400, with the reason) nor when a subscription
//! made earlier, under another policy, is delivered; allowlisted, the same targets are
//! accepted and reached. Bad settings stop the start-up.

use std::time::Duration;

use hookline_testkit::receiver::Receiver;
use serde_json::{json, Value};

use crate::common::{binary, Service};

const T: Duration = Duration::from_secs(20);
/// The protection as shipped: no allowlist.
const PROTECTED: &[(&str, &str)] = &[("HOOKLINE_TARGET_ALLOWLIST", "")];

/// Spellings of the canary's address, each with its own path (`P` is the port).
fn spellings(port: u16) -> Vec<(String, String)> {
    [
        ("http://127.0.0.1:P/plain", "/plain"),
        ("http://2130706433:P/decimal", "/decimal"),
        ("http://0x7f.1:P/hex", "/hex"),
        ("http://017700000001:P/octal", "/octal"),
        ("http://127.1:P/short", "/short"),
        ("http://\u{ff11}\u{ff12}\u{ff17}.0.0.1:P/fullwidth", "/fullwidth"),
        ("http://[::ffff:127.0.0.1]:P/mapped", "/mapped"),
        ("http://localhost:P/name", "/name"),
        ("http://localhost.:P/dot", "/dot"),
    ]
    .iter()
    .map(|(url, path)| (url.replace('P', &port.to_string()), path.to_string()))
    .collect()
}

async fn create(service: &Service, target_url: &str) -> (u16, Value) {
    let resp = service
        .client
        .post(service.url("/api/subscriptions"))
        .json(&json!({ "target_url": target_url }))
        .send()
        .await
        .expect("create");
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn internal_targets_are_refused_at_creation_and_reached_when_allowlisted() {
    let canary = Receiver::start().await;
    let port = canary.addr().port();
    let service = Service::start(PROTECTED).await;
    for (url, _) in spellings(port) {
        let (status, answer) = create(&service, &url).await;
        assert_eq!(status, 400, "{url}: {answer}");
        let reason = answer["errors"]["target_url"].as_str().unwrap_or_default();
        assert!(reason.contains("set HOOKLINE_TARGET_ALLOWLIST to allow it"), "{url}: {reason}");
    }
    let (_, answer) = create(&service, &format!("http://0x7f.1:{port}/hex")).await;
    assert_eq!(
        answer["errors"]["target_url"],
        "resolves to a loopback address (127.0.0.1); set HOOKLINE_TARGET_ALLOWLIST to allow it"
    );
    for url in [
        format!("http://user@127.0.0.1:{port}/"),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        "http://[fd00:ec2::254]/".to_string(),
        "file:///etc/passwd".to_string(),
    ] {
        assert_eq!(create(&service, &url).await.0, 400, "{url}");
    }
    // A name is not resolved when the subscription is made; an update is checked too.
    let (status, public) = create(&service, "https://hooks.example.com/in").await;
    assert_eq!(status, 201);
    let resp = service
        .client
        .put(service.url(&format!("/api/subscriptions/{}", public["id"].as_str().unwrap())))
        .json(&json!({ "target_url": format!("http://2130706433:{port}/") }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(canary.connections(), 0, "the canary was reached");
    drop(service);

    // Loopback allowlisted (as the other tests run): the same targets are accepted and reached.
    let service = Service::start(&[]).await;
    for (url, path) in spellings(port) {
        let sub = service.subscribe(&url, None, None).await;
        let task = service.ingest_ok(&sub, "{}", &[]).await;
        service.wait_task(&task, "succeeded", T).await;
        assert_eq!(canary.requests(&path).len(), 1, "{url}");
    }
}

#[tokio::test]
async fn a_target_forbidden_since_it_was_made_is_refused_at_every_attempt() {
    let canary = Receiver::start().await;
    let data = tempfile::tempdir().unwrap();
    let mut service = Service::start_in(data.path(), &[]).await;
    let by_address = service.subscribe(&canary.url("/ip"), None, None).await;
    let by_name = service.subscribe(&format!("http://localhost:{}/name", canary.addr().port()), None, None).await;
    assert!(service.process.terminate(T).await.success());

    // The same subscriptions, delivered under the protection as shipped.
    let service = Service::start_in(data.path(), PROTECTED).await;
    for (sub, error) in [
        (by_address, "refused: 127.0.0.1 resolves to a forbidden address 127.0.0.1 (loopback)"),
        (by_name, "refused: localhost names the local host"),
    ] {
        let task_id = service.ingest_ok(&sub, "{}", &[]).await;
        let task = service.wait_task(&task_id, "failed", T).await;
        let attempts = task["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 4, "every attempt is checked");
        for attempt in attempts {
            assert_eq!(attempt["error_details"], error);
            assert_eq!(attempt["http_status"], Value::Null);
        }
    }
    assert_eq!(canary.connections(), 0, "the canary was reached");
}

#[tokio::test]
async fn bad_safety_settings_stop_the_start_up() {
    let data = tempfile::tempdir().unwrap();
    let output = tokio::process::Command::new(binary())
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", data.path().to_str().unwrap()])
        .envs([
            ("KAFKA_BROKERS", ""),
            ("SCYLLA_NODES", ""),
            ("HOOKLINE_TARGET_ALLOWLIST", "127.0.0.0/8,intranet"),
            ("HOOKLINE_RETRY_JITTER", "1.5"),
            ("HOOKLINE_OUTBOUND_PROXY", "proxy.internal:3128"),
        ])
        .output();
    let output = tokio::time::timeout(T, output).await.expect("exits at once").expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for setting in ["HOOKLINE_TARGET_ALLOWLIST", "HOOKLINE_RETRY_JITTER", "HOOKLINE_OUTBOUND_PROXY"] {
        assert!(stderr.contains(setting), "{setting} not named in:\n{stderr}");
    }
}
