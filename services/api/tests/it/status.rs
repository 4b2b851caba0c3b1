//! Delivery status: a task with its attempts, and a subscription's recent attempts,
//! as the projector folds the attempts the delivery role records.

use hookline_domain::{topics, LogPosition, Outcome, TaskId};
use hookline_views::ViewChange;
use serde_json::{json, Value};
use warp::http::StatusCode;

use crate::support::{api, attempt, call, eventually};

#[tokio::test]
async fn a_task_shows_its_attempts_oldest_first() {
    let api = api().await;
    let sub =
        api.create("/api", json!({"target_url": "http://127.0.0.1:9/hook"})).await["id"].as_str().unwrap().to_string();
    let accepted = api
        .send(call("POST", format!("/api/ingest/{sub}")).header("content-type", "application/json").body("{\"n\":1}"))
        .await;
    let task = accepted.json["task_id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/status/delivery_tasks/{task}");

    api.stack.record_attempt(&attempt(&task, &sub, 1, Outcome::FailedAttempt, 503)).await;
    let retrying = eventually("the first attempt in the task view", || async {
        let answer = api.send(call("GET", &path)).await;
        (answer.json["status"] == "retrying").then_some(answer)
    })
    .await;
    assert_eq!(retrying.json["attempts_count"], 1);
    assert_eq!(retrying.json["last_http_status"], 503);
    assert_eq!(retrying.json["last_error"], "HTTP 503");
    assert!(retrying.json["next_attempt_at"].is_string());

    api.stack.record_attempt(&attempt(&task, &sub, 2, Outcome::Success, 200)).await;
    let succeeded = eventually("the second attempt in the task view", || async {
        let answer = api.send(call("GET", &path)).await;
        (answer.json["status"] == "succeeded" && answer.json["attempts"].as_array().is_some_and(|a| a.len() == 2))
            .then_some(answer)
    })
    .await;
    let body = &succeeded.json;
    assert_eq!(body["attempts_count"], 2);
    assert_eq!(body["last_http_status"], 200);
    assert_eq!(body["last_error"], Value::Null);
    assert_eq!(body["next_attempt_at"], Value::Null);
    assert_eq!(body["subscription_id"], sub.as_str());
    let first = &body["attempts"][0];
    assert_eq!(first["attempt_number"], 1);
    assert_eq!(first["outcome"], "failed_attempt");
    assert_eq!(first["http_status"], 503);
    assert_eq!(first["error_details"], "HTTP 503");
    assert_eq!(first["latency_ms"], 13);
    assert_eq!(first["response_body"], "body 1");
    assert!(first["timestamp"].as_str().unwrap().ends_with("+00:00"));
    assert!(first["next_attempt_at"].is_string());
    assert!(first.get("task_id").is_none());
    assert_eq!(body["attempts"][1]["outcome"], "success");
    assert_eq!(body["last_attempt_at"], body["attempts"][1]["timestamp"]);
}

#[tokio::test]
async fn a_failed_task_and_the_subscription_attempt_log() {
    let api = api().await;
    let sub =
        api.create("/api", json!({"target_url": "http://127.0.0.1:9/hook"})).await["id"].as_str().unwrap().to_string();
    let (task_a, task_b) = (TaskId::new().to_string(), TaskId::new().to_string());
    api.stack.record_attempt(&attempt(&task_a, &sub, 1, Outcome::FailedAttempt, 500)).await;
    api.stack.record_attempt(&attempt(&task_b, &sub, 3, Outcome::PermanentlyFailed, 410)).await;
    let path = format!("/api/status/subscriptions/{sub}/attempts");
    let listed = eventually("both attempts in the subscription log", || async {
        let answer = api.send(call("GET", &path)).await;
        (answer.json.as_array().is_some_and(|a| a.len() == 2)).then_some(answer)
    })
    .await;
    assert_eq!(listed.status, StatusCode::OK);
    // Newest first, each naming its task.
    assert_eq!(listed.json[0]["task_id"], task_b.as_str());
    assert_eq!(listed.json[0]["outcome"], "permanently_failed");
    assert_eq!(listed.json[1]["task_id"], task_a.as_str());

    let failed = api.send(call("GET", format!("/api/status/delivery_tasks/{task_b}"))).await;
    assert_eq!(failed.json["status"], "failed");

    let one = api.send(call("GET", format!("/api/v1/status/subscriptions/{sub}/attempts?limit=1"))).await;
    assert_eq!(one.json.as_array().unwrap().len(), 1);
    assert_eq!(one.json[0]["task_id"], task_b.as_str());
    for bad in ["limit=0", "limit=1001", "limit=x", "since=yesterday"] {
        let answer = api.send(call("GET", format!("{path}?{bad}"))).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}");
    }

    // A deleted subscription keeps its history; one never seen has none.
    api.send(call("DELETE", format!("/api/subscriptions/{sub}"))).await;
    assert_eq!(api.send(call("GET", &path)).await.json.as_array().unwrap().len(), 2);
    let unknown = api.send(call("GET", format!("/api/status/subscriptions/{}/attempts", uuid::Uuid::new_v4()))).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.json["message"], "Subscription not found");
    let invalid = api.send(call("GET", "/api/status/subscriptions/nope/attempts")).await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn unknown_and_malformed_task_ids() {
    let api = api().await;
    let unknown = api.send(call("GET", format!("/api/status/delivery_tasks/{}", uuid::Uuid::new_v4()))).await;
    assert_eq!((unknown.status, unknown.json), (StatusCode::NOT_FOUND, json!({"message": "Delivery task not found"})));
    let invalid = api.send(call("GET", "/api/v1/status/delivery_tasks/42")).await;
    assert_eq!(
        (invalid.status, invalid.json),
        (StatusCode::BAD_REQUEST, json!({"message": "Invalid task id: must be a UUID"}))
    );
}

/// The views keep where a failed task's payload is in the log. When the log no longer
/// holds that record (its retention passed), a retry by hand is refused, saying why, and
/// nothing is queued.
#[tokio::test]
async fn a_task_whose_payload_left_the_log_is_not_retried() {
    let api = api().await;
    let sub =
        api.create("/api", json!({"target_url": "http://127.0.0.1:9/hook"})).await["id"].as_str().unwrap().to_string();
    let ingest = call("POST", format!("/api/ingest/{sub}")).header("content-type", "application/json").body("{}");
    let task = api.send(ingest).await.json["task_id"].as_str().expect("a task id").to_string();
    api.stack.record_attempt(&attempt(&task, &sub, 1, Outcome::PermanentlyFailed, 410)).await;
    let path = format!("/api/status/delivery_tasks/{task}");
    eventually("the task failed", || async {
        (api.send(call("GET", &path)).await.json["status"] == "failed").then_some(())
    })
    .await;
    // Its latest dead letter, at an offset the log does not hold (any more).
    let view = api.stack.deps.views.task(task.parse().unwrap()).await.unwrap().expect("the task's view");
    let gone = LogPosition { topic: topics::DLQ.into(), partition: 0, offset: 1_000_000 };
    let dead = ViewChange::DeadLettered { task: view, failed_at: chrono::Utc::now(), payload_at: gone };
    api.stack.deps.views.apply(vec![dead]).await.unwrap();

    let refused = api.send(call("POST", format!("/api/v1/tasks/{task}/retry"))).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.json);
    assert!(refused.message().contains("log no longer holds the task's payload"), "{}", refused.json);
    let tiers = hookline_api::ApiConfig::default().retry.tier_topics();
    for tier in tiers {
        let ends = api.stack.log.end_offsets(&tier).await.unwrap();
        assert!(ends.iter().all(|(_, end)| *end == 0), "nothing queued in {tier}: {ends:?}");
    }
}
