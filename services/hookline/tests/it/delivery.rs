//! Delivery end to end: success, retries with measured delays, permanent failure,
//! timeouts and dropped connections, deleted subscriptions, filters.

use std::time::Duration;

use hookline_domain::signature::{ingest_signature, verify_standard_webhooks};
use hookline_testkit::receiver::{Receiver, Reply, Script};

use crate::common::Service;

const T: Duration = Duration::from_secs(20);

#[tokio::test]
async fn delivers_the_raw_body_signed_with_stable_id() {
    let receiver = Receiver::start().await;
    let service = Service::start(&[]).await;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let sub = service.subscribe(&receiver.url("/hook"), Some(secret), None).await;
    // Key order, spacing and an integer too big for a double must all survive.
    let body = r#"{"z": 1, "a": 123456789012345678901234567890, "nested": {"b": [1.50, "é"]}}"#;
    let signature = ingest_signature(secret, body.as_bytes());
    let task_id =
        service.ingest_ok(&sub, body, &[("X-Hub-Signature-256", &signature), ("X-Event-Type", "order.créé")]).await;

    let got = receiver.wait_for("/hook", 1, T).await;
    let request = &got[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.body, body.as_bytes(), "the receiver must get the exact bytes ingested");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("webhook-id"), Some(task_id.as_str()));
    assert_eq!(request.header("x-event-type"), Some("order.créé"));
    let timestamp: i64 = request.header("webhook-timestamp").expect("webhook-timestamp").parse().expect("seconds");
    assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 60);
    let signature = request.header("webhook-signature").expect("webhook-signature");
    assert!(verify_standard_webhooks(secret, &task_id, timestamp, body.as_bytes(), signature), "bad signature");

    let task = service.wait_task(&task_id, "succeeded", T).await;
    assert_eq!(task["attempts_count"], 1);
    assert_eq!(task["subscription_id"], sub.as_str());
    assert_eq!(task["last_http_status"], 200);
    assert_eq!(task["attempts"][0]["outcome"], "success");
    assert_eq!(task["attempts"][0]["http_status"], 200);
}

#[tokio::test]
async fn retries_with_exponential_backoff_then_succeeds() {
    let receiver = Receiver::start().await;
    receiver.set("/flaky", Script::then(vec![Reply::Status(500), Reply::Status(503)], Reply::Status(200)));
    let service = Service::start(&[]).await;
    let sub = service.subscribe(&receiver.url("/flaky"), None, None).await;
    let task_id = service.ingest_ok(&sub, r#"{"n":1}"#, &[]).await;

    let got = receiver.wait_for("/flaky", 3, T).await;
    let gaps: Vec<f64> = got.windows(2).map(|w| (w[1].at - w[0].at).as_secs_f64()).collect();
    println!("measured retry gaps: {gaps:?} (schedule 1 s, 2 s)");
    assert!((gaps[0] - 1.0).abs() < 0.5, "first retry after {:.2} s, expected 1 s", gaps[0]);
    assert!((gaps[1] - 2.0).abs() < 0.5, "second retry after {:.2} s, expected 2 s", gaps[1]);
    assert!(got.iter().all(|r| r.header("webhook-id") == Some(task_id.as_str())), "webhook-id must be stable");

    let task = service.wait_task(&task_id, "succeeded", T).await;
    let outcomes: Vec<&str> =
        task["attempts"].as_array().unwrap().iter().map(|a| a["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["failed_attempt", "failed_attempt", "success"]);
    assert_eq!(task["attempts"][0]["http_status"], 500);
    assert_eq!(task["attempts"][1]["http_status"], 503);

    let (code, recent) = service.get(&format!("/api/status/subscriptions/{sub}/attempts?limit=2")).await;
    assert_eq!(code, 200);
    let numbers: Vec<u64> = recent.as_array().unwrap().iter().map(|a| a["attempt_number"].as_u64().unwrap()).collect();
    assert_eq!(numbers, [3, 2], "newest first, limited to 2");
}

#[tokio::test]
async fn gives_up_after_max_attempts() {
    let receiver = Receiver::start().await;
    receiver.set("/down", Script::always(Reply::Status(500)));
    let service = Service::start(&[]).await;
    let sub = service.subscribe(&receiver.url("/down"), None, None).await;
    let task_id = service.ingest_ok(&sub, "{}", &[]).await;

    let task = service.wait_task(&task_id, "failed", T).await;
    assert_eq!(task["attempts_count"], 4);
    let attempts = task["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 4);
    assert_eq!(attempts[3]["outcome"], "permanently_failed");
    assert!(attempts[..3].iter().all(|a| a["outcome"] == "failed_attempt"));
    assert_eq!(task["next_attempt_at"], serde_json::Value::Null);
    assert_eq!(receiver.requests("/down").len(), 4, "no attempt after the last");
}

#[tokio::test]
async fn hangs_timeouts_and_dropped_connections_are_failed_attempts() {
    let receiver = Receiver::start().await;
    receiver.set("/hang", Script::then(vec![Reply::Hang], Reply::Status(200)));
    receiver.set("/close", Script::then(vec![Reply::Close], Reply::Status(204)));
    receiver.set("/redirect", Script::always(Reply::Redirect(302, receiver.url("/elsewhere"))));
    let service = Service::start(&[("DELIVERY_TIMEOUT_SECONDS", "1")]).await;
    let hang = service.subscribe(&receiver.url("/hang"), None, None).await;
    let close = service.subscribe(&receiver.url("/close"), None, None).await;
    let redirect = service.subscribe(&receiver.url("/redirect"), None, None).await;
    let hang_task = service.ingest_ok(&hang, "{}", &[]).await;
    let close_task = service.ingest_ok(&close, "{}", &[]).await;
    let redirect_task = service.ingest_ok(&redirect, "{}", &[]).await;

    let task = service.wait_task(&hang_task, "succeeded", T).await;
    let first = &task["attempts"][0];
    assert_eq!(first["outcome"], "failed_attempt");
    assert!(first["error_details"].as_str().unwrap().contains("timed out"), "{first}");
    assert!(first["latency_ms"].as_u64().unwrap() >= 900, "{first}");

    let task = service.wait_task(&close_task, "succeeded", T).await;
    assert_eq!(task["attempts"][0]["outcome"], "failed_attempt");
    assert_eq!(task["attempts"][0]["http_status"], serde_json::Value::Null);
    assert_eq!(task["attempts"][1]["http_status"], 204);

    let task = service.wait_task(&redirect_task, "failed", T).await;
    assert_eq!(task["attempts"][0]["http_status"], 302);
    assert!(receiver.requests("/elsewhere").is_empty(), "redirects must not be followed");
}

#[tokio::test]
async fn deleting_a_subscription_ends_its_pending_tasks() {
    let receiver = Receiver::start().await;
    receiver.set("/gone", Script::always(Reply::Status(500)));
    let service = Service::start(&[("RETRY_BASE_DELAY_SECONDS", "2")]).await;
    let sub = service.subscribe(&receiver.url("/gone"), None, None).await;
    let task_id = service.ingest_ok(&sub, "{}", &[]).await;
    receiver.wait_for("/gone", 1, T).await;
    let resp = service.client.delete(service.url(&format!("/api/subscriptions/{sub}"))).send().await.unwrap();
    assert_eq!(resp.status(), 200);

    let task = service.wait_task(&task_id, "failed", T).await;
    let last = task["attempts"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["outcome"], "permanently_failed");
    assert_eq!(last["error_details"], "subscription deleted");
    assert_eq!(receiver.requests("/gone").len(), 1, "no request after the delete");
}

#[tokio::test]
async fn updated_target_is_used_by_the_next_attempt() {
    let receiver = Receiver::start().await;
    receiver.set("/old", Script::always(Reply::Status(500)));
    let service = Service::start(&[("RETRY_BASE_DELAY_SECONDS", "2")]).await;
    let sub = service.subscribe(&receiver.url("/old"), None, None).await;
    let task_id = service.ingest_ok(&sub, r#"{"k":"v"}"#, &[]).await;
    receiver.wait_for("/old", 1, T).await;
    let resp = service
        .client
        .put(service.url(&format!("/api/v1/subscriptions/{sub}")))
        .json(&serde_json::json!({"target_url": receiver.url("/new")}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let got = receiver.wait_for("/new", 1, T).await;
    assert_eq!(got[0].header("webhook-id"), Some(task_id.as_str()));
    let task = service.wait_task(&task_id, "succeeded", T).await;
    assert_eq!(task["attempts_count"], 2);
}

#[tokio::test]
async fn filtered_events_are_accepted_but_not_delivered() {
    let receiver = Receiver::start().await;
    let service = Service::start(&[]).await;
    let sub = service.subscribe(&receiver.url("/orders"), None, Some("order.created")).await;

    let (code, answer) = service.ingest(&sub, "{}", &[("X-Event-Type", "order.deleted")]).await;
    assert_eq!(code, 202);
    assert_eq!(answer["message"], "Event type 'order.deleted' filtered, delivery skipped");
    assert!(answer.get("task_id").is_none());
    let (code, answer) = service.ingest(&sub, "{}", &[]).await;
    assert_eq!(code, 202, "{answer}");
    assert!(answer.get("task_id").is_none());

    let task_id = service.ingest_ok(&sub, r#"{"id":7}"#, &[("X-Event-Type", "order.created")]).await;
    service.wait_task(&task_id, "succeeded", T).await;
    assert_eq!(receiver.requests("/orders").len(), 1, "only the matching event is delivered");
}
