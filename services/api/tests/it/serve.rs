//! The API on a real socket: reqwest as the client, a chunked body that grows past the
//! limit, and a graceful shutdown that lets an open request finish.

use std::net::SocketAddr;

use hookline_domain::signature::ingest_signature;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::support::{eventually, Stack, PATIENCE};

const LIMIT: usize = 4096;

async fn send_json(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, serde_json::from_str(&response.text().await.unwrap()).unwrap())
}

/// Reads the whole answer to a raw request (the server closes after it).
async fn raw_exchange(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

fn head(addr: SocketAddr, path: &str, extra: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nConnection: close\r\n{extra}\r\n"
    )
}

#[tokio::test]
async fn serves_http_and_shuts_down_gracefully() {
    let stack = Stack::start(LIMIT).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(hookline_api::serve(listener, stack.config(), stack.deps.clone(), shutdown.clone()));
    let client = reqwest::Client::new();
    let base = format!("http://{addr}");

    assert_eq!(send_json(client.get(format!("{base}/health"))).await, (200, json!({"status": "ok"})));
    let (status, created) = send_json(
        client
            .post(format!("{base}/api/v1/subscriptions"))
            .header("content-type", "application/json")
            .body(json!({"target_url": "http://127.0.0.1:9/hook", "secret": "s3cret"}).to_string()),
    )
    .await;
    assert_eq!(status, 201);
    let id = created["id"].as_str().unwrap().to_string();
    let (status, listed) = send_json(client.get(format!("{base}/api/subscriptions"))).await;
    assert_eq!((status, listed), (200, json!([created])));

    let body = r#"{"hello":"world"}"#;
    let (status, accepted) = send_json(
        client
            .post(format!("{base}/api/ingest/{id}"))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", ingest_signature("s3cret", body.as_bytes()))
            .body(body),
    )
    .await;
    assert_eq!(status, 202, "{accepted}");
    let task = accepted["task_id"].as_str().unwrap();
    let (status, pending) = send_json(client.get(format!("{base}/api/status/delivery_tasks/{task}"))).await;
    assert_eq!((status, pending["status"].as_str()), (200, Some("pending")));
    let (status, missing) = send_json(client.get(format!("{base}/api/nowhere"))).await;
    assert_eq!((status, missing), (404, json!({"message": "Not found"})));

    // A chunked body declares no length: the limit is enforced as it is read.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut request = head(addr, &format!("/api/ingest/{id}"), "Transfer-Encoding: chunked\r\n").into_bytes();
    for _ in 0..5 {
        request.extend_from_slice(format!("{:x}\r\n{}\r\n", 1000, " ".repeat(1000)).as_bytes());
    }
    request.extend_from_slice(b"0\r\n\r\n");
    stream.write_all(&request).await.unwrap();
    let answer = raw_exchange(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains(&format!("Request body too large: more than {LIMIT} bytes")), "{answer}");

    // An open request when shutdown begins still gets its answer.
    let body = r#"{"a":1}"#;
    let signature = ingest_signature("s3cret", body.as_bytes());
    let mut open = TcpStream::connect(addr).await.unwrap();
    let extra = format!("X-Hub-Signature-256: {signature}\r\nContent-Length: {}\r\n", body.len());
    open.write_all(head(addr, &format!("/api/ingest/{id}"), &extra).as_bytes()).await.unwrap();
    open.write_all(&body.as_bytes()[..3]).await.unwrap();
    // A later connection answered means the server accepted (and, on this one-thread
    // runtime, started reading) the open request first.
    let mut probe = TcpStream::connect(addr).await.unwrap();
    probe
        .write_all(format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    assert!(raw_exchange(&mut probe).await.starts_with("HTTP/1.1 200"));
    shutdown.cancel();
    eventually("the listener to close", || async { TcpStream::connect(addr).await.is_err().then_some(()) }).await;
    assert!(!server.is_finished(), "the server must wait for the open request");
    open.write_all(&body.as_bytes()[3..]).await.unwrap();
    let answer = raw_exchange(&mut open).await;
    assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
    assert!(answer.contains("Webhook received and queued"), "{answer}");
    tokio::time::timeout(PATIENCE, server).await.expect("serve returns after shutdown").unwrap().unwrap();
}

#[tokio::test]
async fn over_http_a_tenant_token_sends_events_until_it_is_revoked() {
    let stack = Stack::start(LIMIT).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/api/v1", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    tokio::spawn(hookline_api::serve(listener, stack.config(), stack.deps.clone(), shutdown.clone()));
    let client = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        client.post(format!("{base}{path}")).header("content-type", "application/json").body(body.to_string())
    };

    assert_eq!(send_json(post("/tenants", json!({"id": "acme", "name": "Acme"}))).await.0, 201);
    let (status, made) = send_json(post("/tenants/acme/tokens", json!({"name": "producer"}))).await;
    assert_eq!(status, 201);
    let token = made["token"].as_str().unwrap().to_string();
    let subscription = json!({"target_url": "http://127.0.0.1:9/hook", "event_types": ["order.*"]});
    let (status, created) = send_json(post("/subscriptions", subscription).bearer_auth(&token)).await;
    assert_eq!((status, &created["tenant_id"]), (201, &json!("acme")));

    let event = || post("/events", json!({"order": 1})).header("x-event-type", "order.paid").bearer_auth(&token);
    let (status, accepted) = send_json(event()).await;
    assert_eq!((status, accepted["task_ids"].as_array().map(Vec::len)), (202, Some(1)), "{accepted}");

    let revoke = client.delete(format!("{base}/tenants/acme/tokens/{}", made["id"].as_str().unwrap()));
    assert_eq!(revoke.send().await.unwrap().status().as_u16(), 204);
    let (status, refused) = send_json(event()).await;
    assert_eq!((status, refused["message"].is_string()), (401, true));
    shutdown.cancel();
}
