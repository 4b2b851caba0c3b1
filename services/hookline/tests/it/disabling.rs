//! Disabled subscriptions end to end: 410 Gone and a sustained failure disable a
//! subscription (visible in the API with the reason), a PUT enables or disables it by
//! hand, and webhooks that arrive while it is disabled are kept and delivered once it
//! is enabled again.

use std::time::Duration;

use hookline_testkit::process::wait_until;
use hookline_testkit::receiver::{Receiver, Reply, Script};
use serde_json::{json, Value};

use crate::common::Service;

const T: Duration = Duration::from_secs(30);

async fn put(service: &Service, sub: &str, body: Value) -> (u16, Value) {
    let resp =
        service.client.put(service.url(&format!("/api/v1/subscriptions/{sub}"))).json(&body).send().await.expect("put");
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

/// Waits until GET shows the subscription disabled; returns it.
async fn wait_disabled(service: &Service, sub: &str) -> Value {
    wait_until(T, &format!("subscription {sub} disabled"), || async {
        let (code, shown) = service.get(&format!("/api/subscriptions/{sub}")).await;
        (code == 200 && shown["enabled"] == false).then_some(shown)
    })
    .await
}

#[tokio::test]
async fn gone_disables_and_webhooks_received_meanwhile_are_delivered_after_a_put() {
    let receiver = Receiver::start().await;
    receiver.set("/gone", Script::then(vec![Reply::Status(410)], Reply::Status(200)));
    let service = Service::start(&[]).await;
    let sub = service.subscribe(&receiver.url("/gone"), None, None).await;
    let (_, created) = service.get(&format!("/api/subscriptions/{sub}")).await;
    assert_eq!((created["enabled"].clone(), created["disabled_reason"].clone()), (json!(true), Value::Null));

    let first = service.ingest_ok(&sub, "{}", &[]).await;
    let task = service.wait_task(&first, "failed", T).await;
    assert_eq!(task["attempts_count"], 1);
    let shown = wait_disabled(&service, &sub).await;
    let reason = shown["disabled_reason"].as_str().expect("a reason");
    assert!(reason.starts_with("receiver answered 410 Gone at "), "{reason}");

    // Webhooks keep being accepted, and are kept without being attempted.
    let kept = [service.ingest_ok(&sub, r#"{"n":1}"#, &[]).await, service.ingest_ok(&sub, r#"{"n":2}"#, &[]).await];
    for task_id in &kept {
        let task = service.wait_task(task_id, "pending", T).await;
        assert_eq!(task["attempts_count"], 0, "{task}");
    }
    assert_eq!(receiver.requests("/gone").len(), 1);

    let (code, enabled) = put(&service, &sub, json!({"enabled": true})).await;
    assert_eq!(code, 200, "{enabled}");
    assert_eq!((enabled["enabled"].clone(), enabled["disabled_reason"].clone()), (json!(true), Value::Null));
    for task_id in &kept {
        let task = service.wait_task(task_id, "succeeded", T).await;
        assert_eq!(task["attempts_count"], 1, "{task}");
    }
    assert_eq!(receiver.requests("/gone").len(), 3);
}

#[tokio::test]
async fn a_sustained_failure_disables_until_re_enabled() {
    let receiver = Receiver::start().await;
    receiver.set("/down", Script::always(Reply::Status(503)));
    let service = Service::start(&[
        ("MAX_RETRIES", "30"),
        ("RETRY_BASE_DELAY_SECONDS", "1"),
        ("RETRY_FACTOR", "1"),
        ("MAX_RETRY_DELAY_SECONDS", "1"),
        ("HOOKLINE_DISABLE_AFTER_FAILING_SECONDS", "3"),
        ("HOOKLINE_DISABLE_AFTER_ATTEMPTS", "3"),
    ])
    .await;
    let sub = service.subscribe(&receiver.url("/down"), None, None).await;
    let task_id = service.ingest_ok(&sub, "{}", &[]).await;

    let shown = wait_disabled(&service, &sub).await;
    let reason = shown["disabled_reason"].as_str().expect("a reason");
    assert!(reason.starts_with("every attempt failed since ") && reason.ends_with("attempts, no success)"), "{reason}");
    let (_, task) = service.task(&task_id).await;
    let attempts = task["attempts_count"].as_u64().expect("a count");
    assert!(attempts >= 3, "{task}");

    receiver.set("/down", Script::always(Reply::Status(200)));
    let (code, _) = put(&service, &sub, json!({"enabled": true})).await;
    assert_eq!(code, 200);
    let task = service.wait_task(&task_id, "succeeded", T).await;
    let last = task["attempts"].as_array().and_then(|a| a.last()).expect("attempts").clone();
    assert_eq!(last["outcome"], "success", "{task}");
}

#[tokio::test]
async fn a_put_disables_and_enables_by_hand() {
    let service = Service::start(&[]).await;
    let sub = service.subscribe("http://127.0.0.1:9/hook", None, None).await;

    let (code, disabled) = put(&service, &sub, json!({"enabled": false})).await;
    assert_eq!(code, 200);
    assert_eq!(
        (disabled["enabled"].clone(), disabled["disabled_reason"].clone()),
        (json!(false), json!("disabled by user"))
    );
    let (_, shown) = service.get(&format!("/api/subscriptions/{sub}")).await;
    assert_eq!(shown["disabled_reason"], "disabled by user");
    // Other changes keep the state.
    let (_, renamed) = put(&service, &sub, json!({"event_type_filter": "order.created"})).await;
    assert_eq!(renamed["enabled"], false);

    let (code, refused) = put(&service, &sub, json!({"enabled": "yes"})).await;
    assert_eq!(code, 400);
    assert_eq!(refused["errors"]["enabled"], "must be true or false");

    let (_, enabled) = put(&service, &sub, json!({"enabled": true})).await;
    assert_eq!((enabled["enabled"].clone(), enabled["disabled_reason"].clone()), (json!(true), Value::Null));
}
