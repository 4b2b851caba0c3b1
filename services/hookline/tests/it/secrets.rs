//! Subscription secrets end to end: generated secrets, rotation with a grace period
//! (both signatures on deliveries, both accepted at ingest), and sealing at rest with
//! HOOKLINE_ENCRYPTION_KEY (nothing in the data directory shows a secret; another key
//! refuses to start, naming the subscription).

use std::path::Path;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hookline_domain::signature::{ingest_signature, verify_standard_webhooks};
use hookline_testkit::receiver::{ReceivedRequest, Receiver};
use serde_json::{json, Value};

use crate::common::{refused, Service, FAST_RETRIES};

const T: Duration = Duration::from_secs(20);
const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const OTHER_KEY: &str = "HxwdHhscGRoXGBUWExQREg8QDQ4LDAkKBwgFBgMEAQI=";
const BODY: &str = r#"{"order":42}"#;

impl Service {
    async fn rotate(&self, sub: &str, body: Value) -> Value {
        let path = format!("/api/v1/subscriptions/{sub}/secret/rotate");
        let (status, rotated) = self.send_json(reqwest::Method::POST, &path, &body).await;
        assert_eq!(status, 200, "{rotated}");
        rotated
    }

    /// Ingests `BODY` signed with `secret`; returns the status.
    async fn ingest_signed(&self, sub: &str, secret: &str) -> u16 {
        self.ingest(sub, BODY, &[("X-Hub-Signature-256", &ingest_signature(secret, BODY.as_bytes()))]).await.0
    }
}

fn text(value: &Value, field: &str) -> String {
    value[field].as_str().unwrap_or_else(|| panic!("no {field} in {value}")).to_string()
}

/// The entries of the delivery's `webhook-signature`, and whether each verifies with each of `secrets`.
fn signatures(request: &ReceivedRequest, secrets: &[&str]) -> Vec<Vec<bool>> {
    let id = request.header("webhook-id").expect("webhook-id");
    let timestamp: i64 = request.header("webhook-timestamp").expect("timestamp").parse().expect("seconds");
    let header = request.header("webhook-signature").expect("webhook-signature");
    header
        .split(' ')
        .map(|entry| {
            secrets.iter().map(|secret| verify_standard_webhooks(secret, id, timestamp, &request.body, entry)).collect()
        })
        .collect()
}

#[tokio::test]
async fn generated_secrets_are_strong_and_cannot_come_with_one() {
    let service = Service::start(&[]).await;
    let created =
        service.create_subscription(&json!({"target_url": "http://127.0.0.1:9/hook", "generate_secret": true})).await;
    let secret = text(&created, "secret");
    let encoded = secret.strip_prefix("whsec_").unwrap_or_else(|| panic!("{secret} lacks whsec_"));
    assert_eq!(B64.decode(encoded).expect("base64").len(), 24);
    let other =
        service.create_subscription(&json!({"target_url": "http://127.0.0.1:9/hook", "generate_secret": true})).await;
    assert_ne!(text(&other, "secret"), secret);

    let both = json!({"target_url": "http://127.0.0.1:9/hook", "generate_secret": true, "secret": "mine"});
    let (status, refused) = service.send_json(reqwest::Method::POST, "/api/v1/subscriptions", &both).await;
    assert_eq!(status, 400);
    assert!(refused["errors"]["generate_secret"].as_str().is_some_and(|m| m.contains("secret")), "{refused}");

    // A PUT that changes the secret is a rotation with the configured grace (a day).
    let sub = text(&created, "id");
    let path = format!("/api/v1/subscriptions/{sub}");
    let (status, changed) = service.send_json(reqwest::Method::PUT, &path, &json!({"secret": "n3w"})).await;
    assert_eq!(status, 200, "{changed}");
    let until = chrono::DateTime::parse_from_rfc3339(&text(&changed, "previous_secret_expires_at")).unwrap();
    let left = until.signed_duration_since(chrono::Utc::now()).num_seconds();
    assert!((86_000..=86_400).contains(&left), "grace of {left} s");
    assert_eq!(service.ingest_signed(&sub, &secret).await, 202, "the generated secret still counts");
}

#[tokio::test]
async fn during_the_grace_both_secrets_count_and_after_it_only_the_new_one() {
    let receiver = Receiver::start().await;
    let service = Service::start(&[]).await;
    let sub = text(
        &service.create_subscription(&json!({"target_url": receiver.url("/hook"), "secret": "old-secret"})).await,
        "id",
    );

    let rotated = service.rotate(&sub, json!({"secret": "new-secret", "grace_seconds": 3600})).await;
    assert_eq!(rotated["secret"], "new-secret");
    assert!(rotated["previous_secret_expires_at"].is_string(), "{rotated}");
    assert_eq!(service.ingest_signed(&sub, "old-secret").await, 202);
    assert_eq!(service.ingest_signed(&sub, "new-secret").await, 202);
    assert_eq!(service.ingest_signed(&sub, "other").await, 401);
    for request in receiver.wait_for("/hook", 2, T).await {
        // Two signatures, the new secret's first, each made with exactly one of them.
        assert_eq!(signatures(&request, &["new-secret", "old-secret"]), [[true, false], [false, true]]);
    }

    // No grace: the replaced secret stops counting at once.
    let rotated = service.rotate(&sub, json!({"secret": "newest-secret", "grace_seconds": 0})).await;
    assert_eq!(rotated["previous_secret_expires_at"], Value::Null);
    assert_eq!(service.ingest_signed(&sub, "new-secret").await, 401);
    assert_eq!(service.ingest_signed(&sub, "old-secret").await, 401);
    assert_eq!(service.ingest_signed(&sub, "newest-secret").await, 202);
    let delivered = receiver.wait_for("/hook", 3, T).await;
    assert_eq!(signatures(&delivered[2], &["newest-secret", "new-secret"]), [[true, false]]);
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            found.extend(files(&path));
        } else {
            found.push(path);
        }
    }
    found
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

/// Whether any file under `dir` holds `needle`.
fn stored_anywhere(dir: &Path, needle: &str) -> bool {
    files(dir).iter().any(|file| contains(&std::fs::read(file).expect("read file"), needle.as_bytes()))
}

/// Starts the binary on `dir` expecting it to refuse; returns what it printed.
async fn refused_start(dir: &Path, env: &[(&str, &str)]) -> String {
    let mut all = FAST_RETRIES.to_vec();
    all.extend([("KAFKA_BROKERS", ""), ("SCYLLA_NODES", "")]);
    all.extend_from_slice(env);
    refused(&["serve", "--listen", "127.0.0.1:0", "--data-dir", dir.to_str().expect("utf-8 path")], &all).await
}

#[tokio::test]
async fn with_a_key_secrets_are_sealed_at_rest_and_another_key_is_refused() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let keyed = [("HOOKLINE_ENCRYPTION_KEY", KEY)];
    let mut service = Service::start_in(dir.path(), &keyed).await;
    let created =
        service.create_subscription(&json!({"target_url": receiver.url("/hook"), "generate_secret": true})).await;
    let (sub, first) = (text(&created, "id"), text(&created, "secret"));
    let current = text(&service.rotate(&sub, json!({"grace_seconds": 3600})).await, "secret");
    assert_eq!(service.ingest_signed(&sub, &current).await, 202);
    let delivered = receiver.wait_for("/hook", 1, T).await;
    assert_eq!(signatures(&delivered[0], &[current.as_str(), first.as_str()]), [[true, false], [false, true]]);
    let (status, listed) = service.get("/api/v1/subscriptions").await;
    assert_eq!((status, listed[0]["secret"].as_str()), (200, Some(current.as_str())), "the API shows plaintext");
    service.process.terminate(T).await;

    // Neither secret is in the log segments or the views file, only sealed text is.
    for secret in [&first, &current] {
        assert!(!stored_anywhere(dir.path(), secret), "a secret is stored in plaintext");
        assert!(!stored_anywhere(dir.path(), &secret["whsec_".len()..]), "a secret's key is stored in plaintext");
    }
    assert!(stored_anywhere(dir.path().join("log").as_path(), "hlenc:v1:"), "the log holds sealed secrets");
    assert!(stored_anywhere(dir.path(), "hlenc:v1:"));

    // The same key: it all still works.
    let mut service = Service::start_in(dir.path(), &keyed).await;
    let (status, shown) = service.get(&format!("/api/v1/subscriptions/{sub}")).await;
    assert_eq!((status, text(&shown, "secret")), (200, current.clone()));
    assert_eq!(service.ingest_signed(&sub, &first).await, 202, "the previous secret is still in its grace");
    let delivered = receiver.wait_for("/hook", 2, T).await;
    assert_eq!(signatures(&delivered[1], &[current.as_str(), first.as_str()]), [[true, false], [false, true]]);
    service.process.terminate(T).await;

    // Another key, or none: the process refuses to start and names the subscription.
    for env in [&[("HOOKLINE_ENCRYPTION_KEY", OTHER_KEY)][..], &[]] {
        let printed = refused_start(dir.path(), env).await;
        assert!(printed.contains("HOOKLINE_ENCRYPTION_KEY"), "{printed}");
        assert!(printed.contains(&sub), "{printed}");
        assert!(!printed.contains(&current) && !printed.contains(OTHER_KEY), "{printed}");
    }
    let printed = refused_start(dir.path(), &[("HOOKLINE_ENCRYPTION_KEY", "c2hvcnQ=")]).await;
    assert!(printed.contains("HOOKLINE_ENCRYPTION_KEY must decode to 32 bytes"), "{printed}");
}

#[tokio::test]
async fn secrets_stored_before_a_key_was_set_keep_working() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut service = Service::start_in(dir.path(), &[]).await;
    let sub = text(
        &service.create_subscription(&json!({"target_url": receiver.url("/hook"), "secret": "plain-secret"})).await,
        "id",
    );
    service.process.terminate(T).await;

    let service = Service::start_in(dir.path(), &[("HOOKLINE_ENCRYPTION_KEY", KEY)]).await;
    assert_eq!(service.ingest_signed(&sub, "plain-secret").await, 202);
    let delivered = receiver.wait_for("/hook", 1, T).await;
    assert_eq!(signatures(&delivered[0], &["plain-secret"]), [[true]]);
    // Its next write seals it; it keeps working.
    let rotated = service.rotate(&sub, json!({"secret": "sealed-secret", "grace_seconds": 0})).await;
    assert_eq!(rotated["secret"], "sealed-secret");
    assert_eq!(service.ingest_signed(&sub, "sealed-secret").await, 202);
    let delivered = receiver.wait_for("/hook", 2, T).await;
    assert_eq!(signatures(&delivered[1], &["sealed-secret"]), [[true]]);
}
