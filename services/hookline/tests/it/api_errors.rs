//! Bad input over real HTTP: always a 4xx with a JSON message, never a 500, and what
//! was already accepted is not harmed.

use std::time::Duration;

use hookline_domain::signature::ingest_signature;
use hookline_testkit::receiver::Receiver;
use serde_json::Value;

use crate::common::Service;

async fn send(service: &Service, method: &str, path: &str, content_type: Option<&str>, body: Vec<u8>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = service.client.request(method, service.url(path)).body(body);
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    let resp = request.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: answer is not JSON: {text:?}"));
    (status, json)
}

/// What is sent, how, and the status expected: (what, method, path, content type, body, status).
type Case<'a> = (&'a str, &'a str, String, Option<&'a str>, Vec<u8>, u16);

#[tokio::test]
async fn every_bad_input_gets_a_json_4xx() {
    let receiver = Receiver::start().await;
    let service = Service::start(&[("HOOKLINE_MAX_BODY_BYTES", "1024")]).await;
    let secret = "topsecret";
    let sub = service.subscribe(&receiver.url("/ok"), Some(secret), None).await;
    let good_body = r#"{"fine":true}"#;
    let good_sig = ingest_signature(secret, good_body.as_bytes());
    let accepted_before = service.ingest_ok(&sub, good_body, &[("X-Hub-Signature-256", &good_sig)]).await;

    let json = Some("application/json");
    let ingest = format!("/api/ingest/{sub}");
    let unknown = "/api/ingest/00000000-0000-0000-0000-000000000000";
    let big = format!(r#"{{"pad":"{}"}}"#, "x".repeat(2000));
    let cases: Vec<Case> = vec![
        ("malformed subscription JSON", "POST", "/api/subscriptions".into(), json, b"{not json".to_vec(), 400),
        ("subscription without target_url", "POST", "/api/subscriptions".into(), json, b"{}".to_vec(), 400),
        (
            "subscription with bad URL",
            "POST",
            "/api/subscriptions".into(),
            json,
            br#"{"target_url":"ftp://x"}"#.to_vec(),
            400,
        ),
        (
            "subscription with unknown field",
            "POST",
            "/api/subscriptions".into(),
            json,
            br#"{"target_url":"http://a.example/","colour":1}"#.to_vec(),
            400,
        ),
        ("subscription as an array", "POST", "/api/subscriptions".into(), json, b"[1,2]".to_vec(), 400),
        ("subscription as text", "POST", "/api/subscriptions".into(), Some("text/plain"), b"hello".to_vec(), 415),
        ("invalid subscription uuid", "GET", "/api/subscriptions/not-a-uuid".into(), None, vec![], 400),
        (
            "unknown subscription",
            "GET",
            "/api/v1/subscriptions/00000000-0000-0000-0000-000000000000".into(),
            None,
            vec![],
            404,
        ),
        ("invalid task uuid", "GET", "/api/status/delivery_tasks/123".into(), None, vec![], 400),
        (
            "unknown task",
            "GET",
            "/api/status/delivery_tasks/00000000-0000-0000-0000-000000000000".into(),
            None,
            vec![],
            404,
        ),
        (
            "attempts with bad limit",
            "GET",
            format!("/api/status/subscriptions/{sub}/attempts?limit=abc"),
            None,
            vec![],
            400,
        ),
        ("ingest to unknown subscription", "POST", unknown.into(), json, b"{}".to_vec(), 404),
        ("ingest to invalid uuid", "POST", "/api/ingest/xyz".into(), json, b"{}".to_vec(), 400),
        ("ingest without signature", "POST", ingest.clone(), json, b"{}".to_vec(), 401),
        ("ingest not JSON content type", "POST", ingest.clone(), Some("text/plain"), b"{}".to_vec(), 415),
        ("ingest without content type", "POST", ingest.clone(), None, b"{}".to_vec(), 415),
        ("ingest over the size limit", "POST", ingest.clone(), json, big.into_bytes(), 413),
        ("unknown route", "GET", "/api/nothing-here".into(), None, vec![], 404),
        ("wrong method", "PATCH", "/api/subscriptions".into(), json, b"{}".to_vec(), 405),
    ];
    for (what, method, path, content_type, body, expected) in cases {
        let (status, answer) = send(&service, method, &path, content_type, body).await;
        assert_eq!(status, expected, "{what}: {answer}");
        assert!(answer["message"].is_string(), "{what}: no message in {answer}");
    }

    // Signature problems, each a 401 with the seed's message.
    for (header, message) in [
        ("sha256=00", "Invalid signature"),
        ("sha256=zzzz", "Invalid signature"),
        ("md5=abcd", "Invalid signature"),
        ("", "Signature header missing"),
    ] {
        let (status, answer) = service.ingest(&sub, good_body, &[("X-Hub-Signature-256", header)]).await;
        assert_eq!((status, answer["message"].as_str()), (401, Some(message)), "signature {header:?}");
    }
    // A valid signature over a body that is not JSON.
    let not_json = "{oops";
    let sig = ingest_signature(secret, not_json.as_bytes());
    let (status, answer) = service.ingest(&sub, not_json, &[("X-Hub-Signature-256", &sig)]).await;
    assert_eq!((status, answer["message"].as_str()), (415, Some("Request body must be JSON")));
    // Unicode event types are fine; control characters are not.
    let (status, _) =
        service.ingest(&sub, good_body, &[("X-Hub-Signature-256", &good_sig), ("X-Event-Type", "订单.创建")]).await;
    assert_eq!(status, 202);

    // Nothing accepted before was harmed.
    let (status, task) = service.task(&accepted_before).await;
    assert_eq!(status, 200, "{task}");
    service.wait_task(&accepted_before, "succeeded", Duration::from_secs(20)).await;
}

/// A client that writes its whole body before reading the answer (Python's `urllib`)
/// gets the 413 and its JSON message, not a broken pipe.
#[tokio::test]
async fn a_client_that_writes_a_whole_oversized_body_first_still_reads_the_413() {
    let service = Service::start(&[]).await;
    let sub = service.subscribe("http://127.0.0.1:9/big", None, None).await;
    let script = r#"
import json, sys, urllib.request, urllib.error
url, size = sys.argv[1], int(sys.argv[2])
request = urllib.request.Request(url, data=b"[" + b"1," * (size // 2) + b"1]", method="POST",
                                 headers={"Content-Type": "application/json"})
try:
    urllib.request.urlopen(request, timeout=30)
    print("accepted")
except urllib.error.HTTPError as e:
    print(e.code, json.loads(e.read())["message"])
"#;
    for (path, size) in [(format!("/api/ingest/{sub}"), 3 << 20), ("/api/subscriptions".to_string(), 1 << 20)] {
        let output = tokio::process::Command::new("python3")
            .args(["-c", script, &service.url(&path), &size.to_string()])
            .output()
            .await
            .expect("python3 runs");
        let printed = String::from_utf8_lossy(&output.stdout);
        let errors = String::from_utf8_lossy(&output.stderr);
        assert!(printed.starts_with("413 Request body too large"), "{path}: {printed}{errors}");
    }
    assert_eq!(service.get("/health").await.0, 200);
}
