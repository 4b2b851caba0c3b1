//! What one attempt sends and how each kind of receiver behaviour is recorded.

use std::time::Duration;

use hookline_delivery::ERROR_HEADER;
use hookline_domain::signature::verify_standard_webhooks;
use hookline_domain::{topics, Outcome, TaskDeadLettered};
use hookline_log::{EventLog, NewRecord};
use hookline_testkit::{wait_until, Receiver, Reply, Script};

use crate::harness::{fast_config, Node};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn success_sends_the_exact_bytes_with_standard_webhooks_headers() {
    let receiver = Receiver::start().await;
    let node = Node::start(fast_config()).await;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let sub = node.subscribe(&receiver.url("/hook"), Some(secret)).await;
    // Key order, spacing and a number no f64 can hold must all survive.
    let payload = r#"{"zeta":1, "big":123456789012345678901234567890,"alpha":[1.50,"é"]}"#;
    let task = node.accept(sub, payload, Some("order.created")).await;

    let request = receiver.wait_for("/hook", 1, WAIT).await.remove(0);
    assert_eq!(request.method, "POST");
    assert_eq!(request.body, payload.as_bytes());
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert!(request.header("user-agent").is_some_and(|ua| ua.starts_with("hookline/")));
    assert_eq!(request.header("x-event-type"), Some("order.created"));
    let task_id = task.task_id.to_string();
    assert_eq!(request.header("webhook-id"), Some(task_id.as_str()));
    let timestamp: i64 = request.header("webhook-timestamp").expect("timestamp").parse().expect("unix seconds");
    assert!((chrono::Utc::now().timestamp() - timestamp).abs() < 10);
    let signature = request.header("webhook-signature").expect("signed");
    assert!(verify_standard_webhooks(secret, &task_id, timestamp, &request.body, signature));

    let attempts = node.wait_attempts(task.task_id, 1, WAIT).await;
    assert_eq!(attempts.len(), 1);
    let attempt = &attempts[0];
    assert_eq!(attempt.outcome, Outcome::Success);
    assert_eq!(attempt.attempt_number, 1);
    assert_eq!(attempt.http_status, Some(200));
    assert_eq!(attempt.error, None);
    assert_eq!(attempt.response_body.as_deref(), Some("ok"));
    assert_eq!(attempt.next_attempt_at, None);
    assert_eq!(attempt.task_accepted_at, task.accepted_at);
    assert_eq!(attempt.event_type.as_deref(), Some("order.created"));
    assert_eq!(attempt.attempted_at.timestamp(), timestamp);

    let records = node.read_all(topics::ATTEMPTS).await;
    assert_eq!(records[0].key, sub.to_string().into_bytes());
    assert_eq!(records[0].header(topics::EVENT_HEADER), Some(&b"AttemptRecorded"[..]));
}

#[tokio::test]
async fn no_secret_means_no_signature_and_no_event_type_means_no_header() {
    let receiver = Receiver::start().await;
    let node = Node::start(fast_config()).await;
    let sub = node.subscribe(&receiver.url("/plain"), None).await;
    node.accept(sub, "{}", None).await;
    let request = receiver.wait_for("/plain", 1, WAIT).await.remove(0);
    assert_eq!(request.header("webhook-signature"), None);
    assert_eq!(request.header("x-event-type"), None);
}

#[tokio::test]
async fn a_redirect_is_a_failure_and_is_not_followed() {
    let receiver = Receiver::start().await;
    receiver.set("/moved", Script::always(Reply::Redirect(302, receiver.url("/elsewhere"))));
    let node = Node::start(fast_config()).await;
    let sub = node.subscribe(&receiver.url("/moved"), None).await;
    let task = node.accept(sub, r#"{"a":1}"#, None).await;

    let attempts = node.wait_attempts(task.task_id, 2, WAIT).await;
    assert_eq!(attempts[0].outcome, Outcome::FailedAttempt);
    assert_eq!(attempts[0].http_status, Some(302));
    assert_eq!(attempts[0].error.as_deref(), Some("HTTP 302"));
    assert!(receiver.requests("/elsewhere").is_empty(), "the redirect target must never be hit");
}

#[tokio::test]
async fn a_hanging_receiver_times_out_as_a_failed_attempt() {
    let receiver = Receiver::start().await;
    receiver.set("/hang", Script::then(vec![Reply::Hang], Reply::Status(200)));
    let node =
        Node::start(hookline_delivery::DeliveryConfig { timeout: Duration::from_secs(1), ..fast_config() }).await;
    let sub = node.subscribe(&receiver.url("/hang"), None).await;
    let task = node.accept(sub, "{}", None).await;

    let attempts = node.wait_attempts(task.task_id, 2, WAIT).await;
    assert_eq!(attempts[0].outcome, Outcome::FailedAttempt);
    assert_eq!(attempts[0].http_status, None);
    assert_eq!(attempts[0].error.as_deref(), Some("timed out after 1s"));
    assert!((900..2000).contains(&attempts[0].latency_ms), "latency {} ms", attempts[0].latency_ms);
    assert_eq!(attempts[1].outcome, Outcome::Success);
}

#[tokio::test]
async fn a_connection_closed_without_answer_is_a_failed_attempt() {
    let receiver = Receiver::start().await;
    receiver.set("/close", Script::then(vec![Reply::Close], Reply::Status(204)));
    let node = Node::start(fast_config()).await;
    let sub = node.subscribe(&receiver.url("/close"), None).await;
    let task = node.accept(sub, "{}", None).await;

    let attempts = node.wait_attempts(task.task_id, 2, WAIT).await;
    assert_eq!(attempts[0].outcome, Outcome::FailedAttempt);
    assert_eq!(attempts[0].http_status, None);
    assert_eq!(attempts[0].error.as_deref(), Some("connection closed before response"));
    assert_eq!(attempts[1].http_status, Some(204));
}

#[tokio::test]
async fn a_refused_connection_is_a_failed_attempt() {
    let receiver = Receiver::start().await;
    let url = receiver.url("/gone");
    receiver.stop().await;
    let node = Node::start(fast_config()).await;
    let sub = node.subscribe(&url, None).await;
    let task = node.accept(sub, "{}", None).await;

    let attempts = node.wait_attempts(task.task_id, 1, WAIT).await;
    assert_eq!(attempts[0].outcome, Outcome::FailedAttempt);
    assert_eq!(attempts[0].error.as_deref(), Some("connection refused"));
}

#[tokio::test]
async fn a_huge_response_body_is_cut_to_the_cap() {
    let receiver = Receiver::start().await;
    receiver.set("/huge", Script::always(Reply::Huge { status: 200, bytes: 64 << 20 }));
    let node = Node::start(fast_config()).await;
    let sub = node.subscribe(&receiver.url("/huge"), None).await;
    let task = node.accept(sub, "{}", None).await;

    let attempts = node.wait_attempts(task.task_id, 1, WAIT).await;
    assert_eq!(attempts[0].outcome, Outcome::Success);
    let body = attempts[0].response_body.as_deref().expect("body kept");
    assert_eq!(body.len(), hookline_domain::limits::RESPONSE_BODY_CAP);
}

#[tokio::test]
async fn a_deleted_subscription_is_dead_lettered_without_a_request() {
    let receiver = Receiver::start().await;
    let node = Node::start(fast_config()).await;
    let sub = node.subscribe(&receiver.url("/deleted"), None).await;
    node.delete(sub).await;
    let task = node.accept(sub, "{}", None).await;

    let attempts = node.wait_attempts(task.task_id, 1, WAIT).await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].outcome, Outcome::PermanentlyFailed);
    assert_eq!(attempts[0].error.as_deref(), Some("subscription deleted"));
    let dead = node.read_all(topics::DLQ).await;
    assert_eq!(dead.len(), 1);
    let dead: TaskDeadLettered = serde_json::from_slice(&dead[0].value).expect("dead letter decodes");
    assert_eq!(dead.task.task_id, task.task_id);
    assert_eq!(dead.last_error.as_deref(), Some("subscription deleted"));
    assert!(receiver.requests("/deleted").is_empty());
}

#[tokio::test]
async fn an_unknown_subscription_is_retried_until_it_appears() {
    let receiver = Receiver::start().await;
    let node = Node::start(fast_config()).await;
    let unknown = hookline_domain::SubscriptionId::new();
    let task = node.accept(unknown, "{}", None).await;

    let first = node.wait_attempts(task.task_id, 1, WAIT).await;
    assert_eq!(first[0].outcome, Outcome::FailedAttempt);
    assert_eq!(first[0].error.as_deref(), Some("subscription not found"));
    // Created under the same id, as the API would after the view caught up.
    node.subscribe_as(unknown, &receiver.url("/late"), None).await;
    let attempts = node.wait_attempts(task.task_id, 2, WAIT).await;
    assert_eq!(attempts[1].outcome, Outcome::Success);
    assert_eq!(receiver.requests("/late").len(), 1);
}

#[tokio::test]
async fn an_undecodable_record_is_copied_to_the_dlq_and_does_not_block() {
    let receiver = Receiver::start().await;
    let node = Node::start(fast_config()).await;
    let sub = node.subscribe(&receiver.url("/after"), None).await;
    let key = sub.to_string().into_bytes();
    let garbage = NewRecord { topic: topics::DELIVERIES.into(), key, headers: vec![], value: b"{not json".to_vec() };
    node.log.append(vec![garbage]).await.expect("append garbage");
    let task = node.accept(sub, "{}", None).await;

    node.wait_attempts(task.task_id, 1, WAIT).await;
    let dead = wait_until(WAIT, "the undecodable record in the dlq", || async {
        let dead = node.read_all(topics::DLQ).await;
        (!dead.is_empty()).then_some(dead)
    })
    .await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].value, b"{not json");
    let reason = String::from_utf8_lossy(dead[0].header(ERROR_HEADER).expect("reason header")).into_owned();
    assert!(reason.contains("TaskAccepted"), "reason: {reason}");
}
