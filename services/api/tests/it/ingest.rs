//! Ingesting webhooks: signatures, filters, content checks, and the task status
//! right after the 202.

use hookline_domain::signature::ingest_signature;
use serde_json::{json, Value};
use warp::http::StatusCode;

use crate::support::{api, api_with_limit, call, Answer, Api, PREFIXES};

const BODY: &str = r#"{"event":"order.created","data":{"order_id":12345,"amount":100.0}}"#;

fn ingest(prefix: &str, sub_id: &str) -> crate::support::Call {
    call("POST", format!("{prefix}/ingest/{sub_id}")).header("content-type", "application/json").body(BODY)
}

fn task_id(answer: &Answer) -> String {
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{answer:?}");
    assert_eq!(answer.message(), "Webhook received and queued");
    let task_id = answer.json["task_id"].as_str().expect("a task id").to_string();
    assert!(uuid::Uuid::parse_str(&task_id).is_ok());
    task_id
}

async fn subscription<F>(api: &Api<F>, body: Value) -> String
where
    F: warp::Filter<Error = std::convert::Infallible> + Clone + Send + Sync + 'static,
    F::Extract: warp::Reply + Send,
{
    api.create("/api", body).await["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn accepted_webhooks_are_pending_at_once() {
    let api = api().await;
    let id = subscription(&api, json!({"target_url": "http://127.0.0.1:9/hook"})).await;
    for prefix in PREFIXES {
        let task = task_id(&api.send(ingest(prefix, &id)).await);
        let status = api.send(call("GET", format!("{prefix}/status/delivery_tasks/{task}"))).await;
        assert_eq!(status.status, StatusCode::OK, "{status:?}");
        assert_eq!(status.json["task_id"], task.as_str());
        assert_eq!(status.json["subscription_id"], id.as_str());
        assert_eq!(status.json["status"], "pending");
        assert_eq!(status.json["attempts_count"], 0);
        assert_eq!(status.json["attempts"], json!([]));
        assert_eq!(status.json["last_attempt_at"], Value::Null);
    }
}

#[tokio::test]
async fn signatures_are_checked_when_the_subscription_has_a_secret() {
    let api = api().await;
    let id = subscription(&api, json!({"target_url": "http://127.0.0.1:9/hook", "secret": "my-secure-secret"})).await;
    let good = ingest_signature("my-secure-secret", BODY.as_bytes());
    task_id(&api.send(ingest("/api/v1", &id).header("X-Hub-Signature-256", &good)).await);

    let missing = api.send(ingest("/api", &id)).await;
    assert_eq!(
        (missing.status, missing.json),
        (StatusCode::UNAUTHORIZED, json!({"message": "Signature header missing"}))
    );
    let other_secret = ingest_signature("another-secret", BODY.as_bytes());
    for bad in [other_secret.as_str(), "sha256=zz", "sha256=", "abc", "md5=00", &good[..good.len() - 1]] {
        let answer = api.send(ingest("/api", &id).header("x-hub-signature-256", bad)).await;
        assert_eq!(
            (answer.status, answer.json),
            (StatusCode::UNAUTHORIZED, json!({"message": "Invalid signature"})),
            "{bad}"
        );
    }
    // The signature covers the exact bytes: the same JSON spaced differently fails.
    let respaced = call("POST", format!("/api/ingest/{id}"))
        .header("content-type", "application/json")
        .header("X-Hub-Signature-256", &good)
        .body(BODY.replace(':', ": "));
    assert_eq!(api.send(respaced).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn event_type_filters() {
    let api = api().await;
    let id =
        subscription(&api, json!({"target_url": "http://127.0.0.1:9/hook", "event_type_filter": "commande.créée"}))
            .await;
    let matching = api.send(ingest("/api", &id).header("X-Event-Type", "commande.créée")).await;
    let task = task_id(&matching);
    let status = api.send(call("GET", format!("/api/status/delivery_tasks/{task}"))).await;
    assert_eq!(status.json["event_type"], "commande.créée");

    let other = api.send(ingest("/api", &id).header("X-Event-Type", "commande.payée")).await;
    assert_eq!(
        (other.status, other.json),
        (StatusCode::ACCEPTED, json!({"message": "Event type 'commande.payée' filtered, delivery skipped"}))
    );
    let none = api.send(ingest("/api", &id)).await;
    assert_eq!(
        (none.status, none.json),
        (StatusCode::ACCEPTED, json!({"message": "No event type provided, delivery skipped"}))
    );
    let invalid = api.send(ingest("/api", &id).header("X-Event-Type", "a\tb")).await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
    assert!(invalid.message().starts_with("Invalid event type"), "{invalid:?}");

    // Without a filter every event type, unicode included, is queued.
    let open = subscription(&api, json!({"target_url": "http://127.0.0.1:9/hook"})).await;
    task_id(&api.send(ingest("/api", &open).header("X-Event-Type", "注文.作成")).await);
    task_id(&api.send(ingest("/api", &open)).await);
}

#[tokio::test]
async fn unknown_deleted_and_malformed_subscriptions() {
    let api = api().await;
    let unknown = api.send(ingest("/api", &uuid::Uuid::new_v4().to_string())).await;
    assert_eq!((unknown.status, unknown.json), (StatusCode::NOT_FOUND, json!({"message": "Subscription not found"})));
    let id = subscription(&api, json!({"target_url": "http://127.0.0.1:9/hook"})).await;
    assert_eq!(api.send(call("DELETE", format!("/api/subscriptions/{id}"))).await.status, StatusCode::OK);
    let deleted = api.send(ingest("/api/v1", &id)).await;
    assert_eq!(deleted.status, StatusCode::NOT_FOUND);
    let malformed = api.send(ingest("/api", "12345")).await;
    assert_eq!(
        (malformed.status, malformed.json),
        (StatusCode::BAD_REQUEST, json!({"message": "Invalid subscription id: must be a UUID"}))
    );
}

#[tokio::test]
async fn bodies_must_be_json_and_small_enough() {
    let api = api_with_limit(1024).await;
    let id = subscription(&api, json!({"target_url": "http://127.0.0.1:9/hook"})).await;
    let post = || call("POST", format!("/api/ingest/{id}"));
    let json_415 = json!({"message": "Request body must be JSON"});

    let text = api.send(post().header("content-type", "text/plain").body(BODY)).await;
    assert_eq!((text.status, &text.json), (StatusCode::UNSUPPORTED_MEDIA_TYPE, &json_415));
    let missing = api.send(post().body(BODY)).await;
    assert_eq!(missing.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let not_json = api.send(post().header("content-type", "application/json").body("{not json")).await;
    assert_eq!((not_json.status, &not_json.json), (StatusCode::UNSUPPORTED_MEDIA_TYPE, &json_415));
    let cloudevents = post().header("content-type", "application/cloudevents+json; charset=UTF-8").body(BODY);
    task_id(&api.send(cloudevents).await);

    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(2000));
    let too_large = api.send(post().header("content-type", "application/json").body(&big)).await;
    assert_eq!(too_large.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(too_large.message().starts_with("Request body too large:"), "{too_large:?}");
    assert!(too_large.message().contains("1024"), "{too_large:?}");
    let exactly = format!("{{\"p\":\"{}\"}}", "x".repeat(1024 - 8));
    assert_eq!(exactly.len(), 1024);
    task_id(&api.send(post().header("content-type", "application/json").body(&exactly)).await);
}
