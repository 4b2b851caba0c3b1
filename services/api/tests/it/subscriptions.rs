//! Subscription CRUD, as a seed client would use it.

use serde_json::{json, Value};
use warp::http::StatusCode;

use crate::support::{api, call, PREFIXES};

fn is_seed_timestamp(value: &Value) -> bool {
    // 2023-10-27T10:00:00.123456+00:00
    let Some(text) = value.as_str() else { return false };
    text.len() == 32
        && text.ends_with("+00:00")
        && text.as_bytes()[19] == b'.'
        && chrono::DateTime::parse_from_rfc3339(text).is_ok()
}

#[tokio::test]
async fn create_answers_201_with_the_seed_shape_under_both_prefixes() {
    let api = api().await;
    for prefix in PREFIXES {
        let created = api
            .create(
                prefix,
                json!({"target_url": "https://example.com/hook", "secret": "my-secret", "event_type_filter": "order.created"}),
            )
            .await;
        let keys: Vec<&str> = created.as_object().unwrap().keys().map(String::as_str).collect();
        // The seed's six fields, plus the subscription's state, its rotation grace, its
        // tenant, its event-type patterns, its ordering and its five delivery settings, as defaults.
        assert_eq!(keys.len(), 17, "{created}");
        assert_eq!(
            (&created["headers"], &created["timeout_ms"], &created["retry_schedule"]),
            (&json!({}), &Value::Null, &json!("default"))
        );
        assert_eq!((&created["rate_limit_per_second"], &created["max_in_flight"]), (&Value::Null, &json!("auto")));
        for key in ["id", "target_url", "secret", "event_type_filter", "created_at", "updated_at", "enabled"] {
            assert!(keys.contains(&key), "{key} missing from {created}");
        }
        assert!(uuid::Uuid::parse_str(created["id"].as_str().unwrap()).is_ok());
        assert_eq!(created["target_url"], "https://example.com/hook");
        assert_eq!(created["secret"], "my-secret");
        assert_eq!(created["event_type_filter"], "order.created");
        assert_eq!((&created["tenant_id"], &created["event_types"]), (&json!("default"), &json!(["order.created"])));
        assert!(is_seed_timestamp(&created["created_at"]), "{created}");
        assert_eq!(created["created_at"], created["updated_at"]);
        assert_eq!((created["enabled"].clone(), created["disabled_reason"].clone()), (json!(true), Value::Null));
        assert_eq!(created["ordering"], "none");

        let minimal = api.create(prefix, json!({"target_url": "http://localhost:9/x"})).await;
        assert_eq!(minimal["secret"], Value::Null);
        assert_eq!(minimal["event_type_filter"], Value::Null);
    }
}

#[tokio::test]
async fn a_list_right_after_a_create_contains_it() {
    let api = api().await;
    for prefix in PREFIXES {
        let created = api.create(prefix, json!({"target_url": "https://example.com/a"})).await;
        let listed = api.send(call("GET", format!("{prefix}/subscriptions"))).await;
        assert_eq!(listed.status, StatusCode::OK);
        assert!(listed.json.as_array().unwrap().contains(&created), "{} not in {}", created, listed.json);
    }
    let listed = api.send(call("GET", "/api/subscriptions")).await;
    assert_eq!(listed.json.as_array().unwrap().len(), 2);
    assert_eq!(listed.header("link"), None);
}

#[tokio::test]
async fn get_by_id() {
    let api = api().await;
    let created = api.create("/api", json!({"target_url": "https://example.com/a", "secret": "s"})).await;
    let id = created["id"].as_str().unwrap();
    for prefix in PREFIXES {
        let got = api.send(call("GET", format!("{prefix}/subscriptions/{id}"))).await;
        assert_eq!((got.status, &got.json), (StatusCode::OK, &created));
    }
    let unknown = api.send(call("GET", format!("/api/subscriptions/{}", uuid::Uuid::new_v4()))).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.json, json!({"message": "Subscription not found", "error": "Subscription not found"}));
    let invalid = api.send(call("GET", "/api/v1/subscriptions/not-a-uuid")).await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
    assert_eq!(invalid.json, json!({"message": "Invalid subscription id: must be a UUID"}));
}

#[tokio::test]
async fn put_replaces_present_fields_clears_nulls_and_keeps_absent_ones() {
    let api = api().await;
    let created = api
        .create(
            "/api",
            json!({"target_url": "https://example.com/a", "secret": "s1", "event_type_filter": "order.created"}),
        )
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    let put = |prefix: &str, body: Value| call("PUT", format!("{prefix}/subscriptions/{id}")).json(&body);

    let updated = api.send(put("/api/v1", json!({"target_url": "https://example.com/b"}))).await;
    assert_eq!(updated.status, StatusCode::OK, "{updated:?}");
    assert_eq!(updated.json["target_url"], "https://example.com/b");
    assert_eq!(updated.json["secret"], "s1");
    assert_eq!(updated.json["event_type_filter"], "order.created");
    assert_eq!(updated.json["created_at"], created["created_at"]);
    assert!(updated.json["updated_at"].as_str().unwrap() > created["updated_at"].as_str().unwrap());

    // A GET and a list right after the PUT show the change.
    let got = api.send(call("GET", format!("/api/subscriptions/{id}"))).await;
    assert_eq!(got.json, updated.json);
    let listed = api.send(call("GET", "/api/subscriptions")).await;
    assert_eq!(listed.json, json!([updated.json]));

    let cleared = api.send(put("/api", json!({"secret": null, "event_type_filter": "commande.créée"}))).await;
    assert_eq!(cleared.status, StatusCode::OK);
    assert_eq!(cleared.json["secret"], Value::Null);
    assert_eq!(cleared.json["event_type_filter"], "commande.créée");
    assert_eq!(cleared.json["target_url"], "https://example.com/b");
    let listed = api.send(call("GET", "/api/v1/subscriptions")).await;
    assert_eq!(listed.json, json!([cleared.json]));

    let unchanged = api.send(put("/api", json!({}))).await;
    assert_eq!(unchanged.status, StatusCode::OK);
    assert_eq!(unchanged.json["event_type_filter"], "commande.créée");

    let null_url = api.send(put("/api", json!({"target_url": null}))).await;
    assert_eq!(null_url.status, StatusCode::BAD_REQUEST);
    assert_eq!(null_url.json["message"], "Validation failed");
    assert!(null_url.json["errors"]["target_url"].is_string());

    let unknown = api.send(call("PUT", format!("/api/subscriptions/{}", uuid::Uuid::new_v4())).json(&json!({}))).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let invalid = api.send(call("PUT", "/api/subscriptions/123").json(&json!({}))).await;
    assert_eq!(invalid.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn delete_removes_it_once() {
    let api = api().await;
    let created = api.create("/api", json!({"target_url": "https://example.com/a"})).await;
    let id = created["id"].as_str().unwrap();
    let deleted = api.send(call("DELETE", format!("/api/v1/subscriptions/{id}"))).await;
    assert_eq!((deleted.status, deleted.json), (StatusCode::OK, json!({"message": "Subscription deleted"})));
    assert_eq!(api.send(call("GET", "/api/subscriptions")).await.json, json!([]));
    assert_eq!(api.send(call("GET", format!("/api/subscriptions/{id}"))).await.status, StatusCode::NOT_FOUND);
    let again = api.send(call("DELETE", format!("/api/subscriptions/{id}"))).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(again.json["error"], "Subscription not found");
    let put = api.send(call("PUT", format!("/api/subscriptions/{id}")).json(&json!({}))).await;
    assert_eq!(put.status, StatusCode::NOT_FOUND);
    let invalid = api.send(call("DELETE", "/api/subscriptions/zzz")).await;
    assert_eq!(invalid.json, json!({"message": "Invalid subscription id: must be a UUID"}));
}

#[tokio::test]
async fn validation_lists_every_problem() {
    let api = api().await;
    let answer = api
        .send(call("POST", "/api/subscriptions").json(&json!({
            "target_url": "ftp://example.com/",
            "secret": "has spaces",
            "event_type_filter": "",
            "colour": "red",
            "retries": 3,
        })))
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.message(), "Validation failed");
    let errors = answer.json["errors"].as_object().unwrap();
    let mut fields: Vec<&str> = errors.keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["colour", "event_type_filter", "retries", "secret", "target_url"]);
    assert_eq!(errors["colour"], "unknown field");

    let missing = api.send(call("POST", "/api/subscriptions").json(&json!({"secret": "x"}))).await;
    assert_eq!(missing.json["errors"], json!({"target_url": "is required"}));
    let wrong_type = api.send(call("POST", "/api/subscriptions").json(&json!({"target_url": 5, "secret": []}))).await;
    assert_eq!(wrong_type.json["errors"]["target_url"], "must be a string");
    assert_eq!(wrong_type.json["errors"]["secret"], "must be a string or null");
    assert_eq!(api.send(call("GET", "/api/subscriptions")).await.json, json!([]));
}

#[tokio::test]
async fn bodies_must_be_json_objects() {
    let api = api().await;
    let post = || call("POST", "/api/subscriptions");
    let malformed = api.send(post().header("content-type", "application/json").body("{\"target_url\": ")).await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert!(malformed.message().starts_with("Malformed JSON"), "{malformed:?}");
    for not_object in ["[]", "\"x\"", "", "null"] {
        let answer = api.send(post().header("content-type", "application/json").body(not_object)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{not_object}");
        assert_eq!(answer.message(), "Request body must be a JSON object");
    }
    let text =
        api.send(post().header("content-type", "text/plain").body("{\"target_url\":\"http://a.example\"}")).await;
    assert_eq!((text.status, text.message()), (StatusCode::UNSUPPORTED_MEDIA_TYPE, "Request body must be JSON"));
    let none = api.send(post().body("{\"target_url\":\"http://a.example\"}")).await;
    assert_eq!(none.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let charset = api
        .send(
            post()
                .header("content-type", "application/json; charset=utf-8")
                .body("{\"target_url\":\"http://a.example\"}"),
        )
        .await;
    assert_eq!(charset.status, StatusCode::CREATED);
}

#[tokio::test]
async fn lists_are_paged() {
    let api = api().await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let created = api.create("/api", json!({"target_url": format!("https://example.com/{n}")})).await;
        ids.push(created["id"].as_str().unwrap().to_string());
    }
    ids.sort();
    let first = api.send(call("GET", "/api/v1/subscriptions?limit=2")).await;
    assert_eq!(first.status, StatusCode::OK);
    let first_ids: Vec<&str> = first.json.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(first_ids.len(), 2);
    let cursor = first.header("x-next-cursor").expect("a next cursor").to_string();
    let link = first.header("link").expect("a Link header");
    assert!(link.starts_with("</api/v1/subscriptions?limit=2&cursor=") && link.ends_with(">; rel=\"next\""), "{link}");

    let next_path = &link[1..link.find('>').unwrap()];
    let second = api.send(call("GET", next_path)).await;
    assert_eq!(second.status, StatusCode::OK);
    let mut all: Vec<String> = first_ids.iter().map(|s| s.to_string()).collect();
    all.extend(second.json.as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap().to_string()));
    all.sort();
    assert_eq!(all, ids);
    assert_eq!(second.header("link"), None);
    assert!(!cursor.is_empty());

    for bad in ["limit=0", "limit=1001", "limit=ten", "colour=red", "limit=1&limit=2", "cursor=%00garbage"] {
        let answer = api.send(call("GET", format!("/api/subscriptions?{bad}"))).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}: {answer:?}");
        assert!(!answer.message().is_empty());
    }
}
