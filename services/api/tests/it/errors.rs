//! What no endpoint answers: unknown paths, wrong methods, health.

use serde_json::json;
use warp::http::StatusCode;

use crate::support::{api, call};

#[tokio::test]
async fn health_everywhere() {
    let api = api().await;
    for path in ["/health", "/api/health", "/api/v1/health"] {
        let answer = api.send(call("GET", path)).await;
        assert_eq!((answer.status, answer.json), (StatusCode::OK, json!({"status": "ok"})), "{path}");
    }
}

#[tokio::test]
async fn unknown_paths_are_json_404s() {
    let api = api().await;
    for path in ["/nope", "/api", "/api/v2/subscriptions", "/api/subscriptions/a/b", "/api/status", "/api/ingest"] {
        let answer = api.send(call("GET", path)).await;
        assert_eq!((answer.status, answer.json), (StatusCode::NOT_FOUND, json!({"message": "Not found"})), "{path}");
    }
    let post = api.send(call("POST", "/api/v1/nothing").header("content-type", "application/json").body("{}")).await;
    assert_eq!(post.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn wrong_methods_are_405_with_allow() {
    let api = api().await;
    let id = uuid::Uuid::new_v4();
    let cases = [
        ("DELETE", "/api/subscriptions".to_string(), "GET, POST"),
        ("PATCH", format!("/api/v1/subscriptions/{id}"), "GET, PUT, DELETE"),
        ("POST", format!("/api/subscriptions/{id}"), "GET, PUT, DELETE"),
        ("GET", format!("/api/ingest/{id}"), "POST"),
        ("PUT", format!("/api/v1/ingest/{id}"), "POST"),
        ("POST", format!("/api/status/delivery_tasks/{id}"), "GET"),
        ("DELETE", format!("/api/status/subscriptions/{id}/attempts"), "GET"),
        ("POST", "/health".to_string(), "GET"),
        ("POST", "/api/v1/health".to_string(), "GET"),
    ];
    for (method, path, allow) in cases {
        let answer = api.send(call(method, &path)).await;
        assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert_eq!(answer.json, json!({"message": "Method not allowed"}));
        assert_eq!(answer.header("allow"), Some(allow), "{method} {path}");
    }
}

#[tokio::test]
async fn odd_requests_never_get_a_server_error() {
    let api = api().await;
    let paths = [
        "/api/subscriptions/",
        "//api//subscriptions",
        "/api/subscriptions/%20",
        "/api/status/delivery_tasks/",
        "/api/ingest/%E2%82%AC",
        "/api/subscriptions?limit=%FF",
        "/api/v1/v1/health",
    ];
    for method in ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"] {
        for path in paths {
            let answer = api.send(call(method, path).header("content-type", "application/json").body("{")).await;
            assert!(!answer.status.is_server_error(), "{method} {path}: {answer:?}");
            assert!(answer.status.is_success() || !answer.message().is_empty(), "{method} {path}: {answer:?}");
        }
    }
}
