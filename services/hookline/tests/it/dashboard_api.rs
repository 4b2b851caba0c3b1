//! What a dashboard reads and does: the task listing (filters, pages), a failed task
//! retried by hand, and a subscription's statistics, against the real binary.

use std::time::Duration;

use hookline_testkit::process::wait_until;
use hookline_testkit::receiver::{Receiver, Reply, Script};
use serde_json::Value;

use crate::common::Service;

const T: Duration = Duration::from_secs(20);
/// Two attempts in all, one second apart: a task against a dead receiver fails fast.
const TWO_ATTEMPTS: &[(&str, &str)] = &[("MAX_RETRIES", "2")];

fn ids(tasks: &Value) -> Vec<String> {
    tasks.as_array().expect("an array of tasks").iter().map(|t| t["task_id"].as_str().unwrap().to_string()).collect()
}

async fn post(service: &Service, path: &str) -> (u16, Value) {
    let resp = service.client.post(service.url(path)).send().await.expect("post");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn tasks_are_listed_newest_first_filtered_and_paged() {
    let receiver = Receiver::start().await;
    receiver.set("/down", Script::always(Reply::Status(500)));
    let service = Service::start(TWO_ATTEMPTS).await;
    let ok = service.subscribe(&receiver.url("/ok"), None, None).await;
    let down = service.subscribe(&receiver.url("/down"), None, None).await;
    let mut ok_tasks = Vec::new();
    for n in 0..3 {
        ok_tasks.push(service.ingest_ok(&ok, &format!(r#"{{"n":{n}}}"#), &[]).await);
    }
    let mut down_tasks = Vec::new();
    for n in 0..2 {
        down_tasks.push(service.ingest_ok(&down, &format!(r#"{{"n":{n}}}"#), &[]).await);
    }
    for task in &ok_tasks {
        service.wait_task(task, "succeeded", T).await;
    }
    for task in &down_tasks {
        service.wait_task(task, "failed", T).await;
    }
    ok_tasks.reverse();
    down_tasks.reverse();

    let (code, listed) = service.get(&format!("/api/v1/tasks?subscription_id={ok}")).await;
    assert_eq!(code, 200, "{listed}");
    assert_eq!(ids(&listed["tasks"]), ok_tasks, "the subscription's tasks, newest first");
    assert_eq!(listed["next_cursor"], Value::Null);
    // Each item is the task as its status endpoint shows it, without the attempts.
    for item in listed["tasks"].as_array().unwrap() {
        let (_, mut task) = service.task(item["task_id"].as_str().unwrap()).await;
        task.as_object_mut().unwrap().remove("attempts");
        assert_eq!(item, &task);
    }

    let (code, failed) = service.get(&format!("/api/tasks?subscription_id={down}&status=failed")).await;
    assert_eq!(code, 200, "{failed}");
    assert_eq!(ids(&failed["tasks"]), down_tasks, "the failed tasks, under /api as well");
    assert!(failed["tasks"].as_array().unwrap().iter().all(|t| t["status"] == "failed" && t["attempts_count"] == 2));
    let (_, none) = service.get(&format!("/api/v1/tasks?subscription_id={down}&status=succeeded")).await;
    assert_eq!(none["tasks"], serde_json::json!([]));
    let (_, all_failed) = service.get("/api/v1/tasks?status=failed").await;
    assert_eq!(ids(&all_failed["tasks"]), down_tasks, "failed tasks of every subscription");
    let (_, everything) = service.get("/api/v1/tasks").await;
    assert_eq!(everything["tasks"].as_array().unwrap().len(), 5);
    assert_eq!(ids(&everything["tasks"])[..2], down_tasks[..], "the newest tasks first");

    let (_, first) = service.get(&format!("/api/v1/tasks?subscription_id={ok}&limit=2")).await;
    assert_eq!(ids(&first["tasks"]), ok_tasks[..2]);
    let cursor = first["next_cursor"].as_str().expect("a cursor after a full page with more");
    let (code, second) = service.get(&format!("/api/v1/tasks?subscription_id={ok}&limit=2&cursor={cursor}")).await;
    assert_eq!(code, 200, "{second}");
    assert_eq!(ids(&second["tasks"]), ok_tasks[2..]);
    assert_eq!(second["next_cursor"], Value::Null, "the last page");

    let unknown = hookline_domain::SubscriptionId::new();
    let (code, empty) = service.get(&format!("/api/v1/tasks?subscription_id={unknown}")).await;
    assert_eq!((code, &empty["tasks"]), (200, &serde_json::json!([])));
    for bad in ["limit=0", "limit=101", "limit=x", "status=lost", "subscription_id=nope", "cursor=garbage", "color=red"]
    {
        let (code, error) = service.get(&format!("/api/v1/tasks?{bad}")).await;
        assert_eq!(code, 400, "{bad}: {error}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{bad}: {error}");
    }
}

#[tokio::test]
async fn a_failed_task_retried_by_hand_gets_one_more_attempt_with_the_same_body() {
    let receiver = Receiver::start().await;
    receiver.set("/flaky", Script::always(Reply::Status(500)));
    let service = Service::start(TWO_ATTEMPTS).await;
    let sub = service.subscribe(&receiver.url("/flaky"), None, None).await;
    let body = r#"{"z": 1, "a": 123456789012345678901234567890,  "list": [1.50]}"#;
    let task_id = service.ingest_ok(&sub, body, &[("X-Event-Type", "order.created")]).await;
    let task = service.wait_task(&task_id, "failed", T).await;
    assert_eq!(task["attempts_count"], 2);

    // Still failing: the extra attempt is made, fails, and the task is failed again.
    let (code, queued) = post(&service, &format!("/api/v1/tasks/{task_id}/retry")).await;
    assert_eq!(code, 202, "{queued}");
    assert_eq!(queued, serde_json::json!({"message": "Retry queued", "task_id": task_id, "attempt_number": 3}));
    let task = wait_until(T, "the retry to fail", || async {
        let (_, task) = service.task(&task_id).await;
        (task["status"] == "failed" && task["attempts_count"] == 3).then_some(task)
    })
    .await;
    assert_eq!(task["attempts"][2]["outcome"], "permanently_failed");
    assert_eq!(task["next_attempt_at"], Value::Null, "no attempt scheduled after a failed retry");

    receiver.set("/flaky", Script::always(Reply::Status(200)));
    let (code, queued) = post(&service, &format!("/api/tasks/{task_id}/retry")).await;
    assert_eq!((code, &queued["attempt_number"]), (202, &serde_json::json!(4)), "{queued}");
    let task = service.wait_task(&task_id, "succeeded", T).await;
    assert_eq!(task["attempts_count"], 4);
    let last = &task["attempts"][3];
    assert_eq!(
        (&last["attempt_number"], &last["outcome"], &last["http_status"]),
        (&4.into(), &"success".into(), &200.into())
    );
    let got = receiver.requests("/flaky");
    assert_eq!(got.len(), 4, "two scheduled attempts and two by hand");
    for request in &got {
        assert_eq!(request.body, body.as_bytes(), "every attempt carries the exact bytes ingested");
        assert_eq!(request.header("webhook-id"), Some(task_id.as_str()));
        assert_eq!(request.header("x-event-type"), Some("order.created"));
    }

    let (code, conflict) = post(&service, &format!("/api/v1/tasks/{task_id}/retry")).await;
    assert_eq!(code, 409, "{conflict}");
    assert_eq!(conflict["error"], "conflict");
    assert!(conflict["message"].as_str().unwrap().contains("succeeded"), "{conflict}");
    let (code, _) = post(&service, &format!("/api/v1/tasks/{}/retry", hookline_domain::TaskId::new())).await;
    assert_eq!(code, 404);
    let (code, _) = post(&service, "/api/v1/tasks/not-a-uuid/retry").await;
    assert_eq!(code, 400);
    let (code, _) = service.get(&format!("/api/v1/tasks/{task_id}/retry")).await;
    assert_eq!(code, 405);
    assert_eq!(receiver.requests("/flaky").len(), 4, "refused retries make no attempt");
}

#[tokio::test]
async fn a_task_of_a_deleted_subscription_is_not_retried() {
    let receiver = Receiver::start().await;
    receiver.set("/down", Script::always(Reply::Status(500)));
    let service = Service::start(TWO_ATTEMPTS).await;
    let sub = service.subscribe(&receiver.url("/down"), None, None).await;
    let task_id = service.ingest_ok(&sub, "{}", &[]).await;
    service.wait_task(&task_id, "failed", T).await;
    let resp = service.client.delete(service.url(&format!("/api/subscriptions/{sub}"))).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let (code, conflict) = post(&service, &format!("/api/v1/tasks/{task_id}/retry")).await;
    assert_eq!(code, 409, "{conflict}");
    assert!(conflict["message"].as_str().unwrap().contains("deleted"), "{conflict}");
}

#[tokio::test]
async fn subscription_stats_match_what_the_receiver_saw() {
    let receiver = Receiver::start().await;
    receiver.set("/mixed", Script::then(vec![Reply::Status(500), Reply::Status(503)], Reply::Status(200)));
    let service = Service::start(&[]).await;
    let sub = service.subscribe(&receiver.url("/mixed"), None, None).await;
    let (code, empty) = service.get(&format!("/api/v1/subscriptions/{sub}/stats")).await;
    assert_eq!(code, 200, "{empty}");
    assert_eq!(empty["window"], serde_json::json!({"attempts": 0, "from": null, "to": null}));
    assert_eq!(empty["success_rate"], Value::Null);
    assert_eq!(empty["latency_ms"], serde_json::json!({"p50": null, "p95": null, "max": null}));

    let first = service.ingest_ok(&sub, r#"{"n":1}"#, &[]).await;
    service.wait_task(&first, "succeeded", T).await;
    let second = service.ingest_ok(&sub, r#"{"n":2}"#, &[]).await;
    service.wait_task(&second, "succeeded", T).await;
    let seen = receiver.requests("/mixed");
    assert_eq!(seen.len(), 4);

    let (code, stats) = service.get(&format!("/api/subscriptions/{sub}/stats")).await;
    assert_eq!(code, 200, "{stats}");
    assert_eq!(stats["subscription_id"], sub.as_str());
    assert_eq!(stats["window"]["attempts"], 4);
    assert_eq!(stats["outcomes"], serde_json::json!({"success": 2, "failed_attempt": 2, "permanently_failed": 0}));
    assert_eq!(stats["success_rate"], 0.5);
    let recent = stats["recent"].as_array().unwrap();
    let statuses: Vec<u64> = recent.iter().map(|a| a["http_status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [200, 200, 503, 500], "what the receiver answered, newest first");
    let tasks: Vec<&str> = recent.iter().map(|a| a["task_id"].as_str().unwrap()).collect();
    assert_eq!(tasks, [second.as_str(), first.as_str(), first.as_str(), first.as_str()]);
    let numbers: Vec<u64> = recent.iter().map(|a| a["attempt_number"].as_u64().unwrap()).collect();
    assert_eq!(numbers, [1, 3, 2, 1]);
    assert_eq!(stats["window"]["to"], recent[0]["timestamp"]);
    assert_eq!(stats["window"]["from"], recent[3]["timestamp"]);
    let latency = |key: &str| stats["latency_ms"][key].as_u64().expect("a latency");
    let max_seen = recent.iter().map(|a| a["latency_ms"].as_u64().unwrap()).max().unwrap();
    assert_eq!(latency("max"), max_seen);
    assert!(latency("p50") <= latency("p95") && latency("p95") <= latency("max"), "{stats}");

    let (code, _) =
        service.get(&format!("/api/v1/subscriptions/{}/stats", hookline_domain::SubscriptionId::new())).await;
    assert_eq!(code, 404);
    let (code, _) = service.get("/api/v1/subscriptions/nope/stats").await;
    assert_eq!(code, 400);
}
