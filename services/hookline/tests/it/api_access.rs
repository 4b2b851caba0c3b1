//! Who may use the API and how much, over real HTTP against the real binary: tokens,
//! rate limits, idempotency keys, and the limits on what a request may carry.

use std::time::Duration;

use hookline_domain::signature::standard_webhooks_signature;
use hookline_testkit::process::Hookline;
use hookline_testkit::receiver::Receiver;
use hookline_testkit::wait_until;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Response;
use serde_json::{json, Value};

use crate::common::{binary, Service};

const TOKEN: &str = "hl_test_token_0123456789";
const PATIENCE: Duration = Duration::from_secs(20);

/// The status, a header and the JSON body of an answer (which must be JSON).
async fn answer(response: Response, header: &str) -> (u16, Option<String>, Value) {
    let status = response.status().as_u16();
    let header = response.headers().get(header).map(|v| v.to_str().unwrap().to_string());
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("answer {status} is not JSON: {text:?}"));
    (status, header, body)
}

#[tokio::test]
async fn with_tokens_configured_every_call_but_ingest_and_health_needs_one() {
    let receiver = Receiver::start().await;
    let service = Service::start(&[("HOOKLINE_API_TOKENS", &format!("another-token-abcdefgh,{TOKEN}"))]).await;
    let list = service.url("/api/v1/subscriptions");
    for authorization in [None, Some("Bearer wrong-token-0123456789"), Some("Basic aGk6dGhlcmU="), Some("Bearer")] {
        let mut request = service.client.get(&list);
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let (status, challenge, body) = answer(request.send().await.unwrap(), "www-authenticate").await;
        assert_eq!((status, challenge.as_deref()), (401, Some("Bearer")), "{authorization:?}: {body}");
        assert!(body["message"].as_str().unwrap().contains("Authorization: Bearer"), "{body}");
    }
    // Unknown paths do not tell a caller without a token what exists.
    let (status, _, _) = answer(service.client.get(service.url("/api/v1/nothing")).send().await.unwrap(), "x").await;
    assert_eq!(status, 401);

    let created = service
        .client
        .post(&list)
        .bearer_auth(TOKEN)
        .json(&json!({"target_url": receiver.url("/hook")}))
        .send()
        .await
        .unwrap();
    let (status, _, subscription) = answer(created, "x").await;
    assert_eq!(status, 201, "{subscription}");
    let sub = subscription["id"].as_str().unwrap();

    // Ingest is authenticated by subscription secrets, not tokens (unless configured so).
    let task_id = service.ingest_ok(sub, r#"{"n":1}"#, &[]).await;
    let status_path = service.url(&format!("/api/v1/status/delivery_tasks/{task_id}"));
    let (status, _, _) = answer(service.client.get(&status_path).send().await.unwrap(), "x").await;
    assert_eq!(status, 401);
    wait_until(PATIENCE, "the task to succeed", || async {
        let response = service.client.get(&status_path).bearer_auth(TOKEN).send().await.unwrap();
        let (status, _, task) = answer(response, "x").await;
        (status == 200 && task["status"] == "succeeded").then_some(())
    })
    .await;
    assert_eq!(service.get("/health").await.0, 200);
    assert_eq!(service.get("/api/v1/health").await.0, 200);
    assert_eq!(service.get("/ready").await.0, 200);
}

#[tokio::test]
async fn ingest_can_be_made_to_need_a_token_too() {
    let service = Service::start(&[("HOOKLINE_API_TOKENS", TOKEN), ("HOOKLINE_INGEST_REQUIRES_TOKEN", "true")]).await;
    let created = service
        .client
        .post(service.url("/api/subscriptions"))
        .bearer_auth(TOKEN)
        .json(&json!({"target_url": "http://127.0.0.1:9/hook"}))
        .send()
        .await
        .unwrap();
    let (_, _, subscription) = answer(created, "x").await;
    let sub = subscription["id"].as_str().unwrap();
    let (status, body) = service.ingest(sub, "{}", &[]).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = service.ingest(sub, "{}", &[("authorization", &format!("Bearer {TOKEN}"))]).await;
    assert_eq!(status, 202, "{body}");
}

#[tokio::test]
async fn a_subscription_over_its_ingest_rate_gets_429_and_others_do_not() {
    let service =
        Service::start(&[("HOOKLINE_INGEST_RATE_LIMIT", "1"), ("HOOKLINE_INGEST_RATE_LIMIT_BURST", "3")]).await;
    let noisy = service.subscribe("http://127.0.0.1:9/noisy", None, None).await;
    let quiet = service.subscribe("http://127.0.0.1:9/quiet", None, None).await;
    let ingest = |sub: &str| {
        service
            .client
            .post(service.url(&format!("/api/ingest/{sub}")))
            .header("content-type", "application/json")
            .body("{}")
            .send()
    };

    let mut refused = None;
    for _ in 0..6 {
        let (status, retry_after, body) = answer(ingest(&noisy).await.unwrap(), "retry-after").await;
        match status {
            202 => {}
            429 => {
                assert!(body["message"].as_str().unwrap().contains("for this subscription"), "{body}");
                refused = Some(retry_after.expect("Retry-After").parse::<u64>().unwrap());
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    let wait = refused.expect("a burst of 3 at 1/s refuses some of 6 quick webhooks");
    assert!((1..=3).contains(&wait), "Retry-After {wait}");
    let (status, _, body) = answer(ingest(&quiet).await.unwrap(), "x").await;
    assert_eq!(status, 202, "another subscription is not held back: {body}");
    // Once the wait is over, the noisy one is served again.
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let (status, _, body) = answer(ingest(&noisy).await.unwrap(), "x").await;
    assert_eq!(status, 202, "{body}");
}

#[tokio::test]
async fn the_whole_api_is_rate_limited_when_configured() {
    let service = Service::start(&[("HOOKLINE_RATE_LIMIT", "2"), ("HOOKLINE_RATE_LIMIT_BURST", "4")]).await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let (status, retry_after, body) =
            answer(service.client.get(service.url("/api/v1/subscriptions")).send().await.unwrap(), "retry-after").await;
        if status == 429 {
            assert!(retry_after.is_some() && body["message"].is_string(), "{body}");
        }
        statuses.push(status);
    }
    assert!(statuses.iter().filter(|s| **s == 200).count() >= 4, "{statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");
    assert_eq!(service.get("/health").await.0, 200, "probes are not limited");
}

#[tokio::test]
async fn a_repeated_idempotency_key_gets_the_same_task_and_one_delivery_even_after_a_restart() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let service = Service::start_in(dir.path(), &[]).await;
    let sub = service.subscribe(&receiver.url("/keyed"), None, None).await;
    let key = [("Idempotency-Key", "order-4711")];

    let first = service.client.post(service.url(&format!("/api/ingest/{sub}")));
    let send = |request: reqwest::RequestBuilder| {
        request.header("content-type", "application/json").header(key[0].0, key[0].1).body(r#"{"order":4711}"#).send()
    };
    let (status, replayed, original) = answer(send(first).await.unwrap(), "idempotent-replayed").await;
    assert_eq!((status, replayed), (202, None), "{original}");
    let task_id = original["task_id"].as_str().unwrap().to_string();
    // Concurrent repeats while the first may still be on its way.
    let repeats = futures::future::join_all(
        (0..5).map(|_| send(service.client.post(service.url(&format!("/api/v1/ingest/{sub}"))))),
    )
    .await;
    for repeat in repeats {
        let (status, replayed, body) = answer(repeat.unwrap(), "idempotent-replayed").await;
        assert_eq!(
            (status, replayed.as_deref(), body["task_id"].as_str()),
            (202, Some("true"), Some(task_id.as_str()))
        );
    }
    service.wait_task(&task_id, "succeeded", PATIENCE).await;
    // A clean stop: a crash may repeat a delivery on restart, which is not what is tested here.
    let mut service = service;
    assert!(service.process.terminate(PATIENCE).await.success());

    // After a restart the key is found in the views.
    let service = Service::start_in(dir.path(), &[]).await;
    let (status, replayed, body) = answer(
        send(service.client.post(service.url(&format!("/api/ingest/{sub}")))).await.unwrap(),
        "idempotent-replayed",
    )
    .await;
    assert_eq!((status, replayed.as_deref(), body["task_id"].as_str()), (202, Some("true"), Some(task_id.as_str())));
    // A webhook sent after all repeats is delivered; by then a repeat would have been too.
    let sentinel = service.ingest_ok(&sub, r#"{"sentinel":true}"#, &[]).await;
    service.wait_task(&sentinel, "succeeded", PATIENCE).await;
    let keyed = receiver.requests("/keyed").into_iter().filter(|r| r.body == br#"{"order":4711}"#).count();
    assert_eq!(keyed, 1, "the keyed webhook was delivered once");

    for bad in ["", "tab\tkey", &"k".repeat(256)] {
        let (status, body) = service.ingest(&sub, "{}", &[("Idempotency-Key", bad)]).await;
        assert_eq!(status, 400, "key {bad:?}: {body}");
        assert!(body["message"].as_str().unwrap().contains("idempotency key"), "{body}");
    }
}

#[tokio::test]
async fn oversized_headers_deep_json_and_bad_utf8_get_their_own_4xx() {
    let service = Service::start(&[]).await;
    let sub = service.subscribe("http://127.0.0.1:9/limits", None, None).await;
    let ingest = service.url(&format!("/api/ingest/{sub}"));

    for count in [65, 300, 1500] {
        let mut headers = HeaderMap::new();
        for i in 0..count {
            headers
                .insert(HeaderName::from_bytes(format!("x-h{i}").as_bytes()).unwrap(), HeaderValue::from_static("1"));
        }
        let response = service.client.get(service.url("/api/subscriptions")).headers(headers).send().await.unwrap();
        if count > 1024 {
            // Past the server's hard limit there is no room left for a JSON answer.
            assert_eq!(response.status().as_u16(), 431);
            continue;
        }
        let (status, _, body) = answer(response, "x").await;
        assert_eq!(status, 431, "{count} headers: {body}");
        assert!(body["message"].as_str().unwrap().contains("headers"), "{body}");
    }
    let response = service.client.get(service.url("/health")).header("x-big", "v".repeat(20_000)).send().await.unwrap();
    let (status, _, body) = answer(response, "x").await;
    assert_eq!(status, 431, "{body}");

    let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
    let (status, body) = service.ingest(&sub, &deep, &[]).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("deeper than 64"), "{body}");
    let fine = format!("{}{}", "[".repeat(64), "]".repeat(64));
    assert_eq!(service.ingest(&sub, &fine, &[]).await.0, 202);

    let response = service
        .client
        .post(&ingest)
        .header("content-type", "application/json")
        .body(vec![b'"', 0xff, b'"'])
        .send()
        .await;
    let (status, _, body) = answer(response.unwrap(), "x").await;
    assert_eq!(status, 400, "{body}");
    assert!(body["message"].as_str().unwrap().contains("UTF-8"), "{body}");
}

#[tokio::test]
async fn webhooks_signed_the_standard_webhooks_way_are_refused_once_their_timestamp_is_stale() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let service = Service::start(&[("HOOKLINE_INGEST_TIMESTAMP_TOLERANCE_SECONDS", "60")]).await;
    let sub = service.subscribe("http://127.0.0.1:9/signed", Some(secret), None).await;
    let body = r#"{"order":1}"#;
    let now = chrono::Utc::now().timestamp();
    let signed = |id: &str, at: i64| {
        let signature = standard_webhooks_signature(secret, id, at, body.as_bytes());
        [("webhook-id", id.to_string()), ("webhook-timestamp", at.to_string()), ("webhook-signature", signature)]
    };
    let (service, sub) = (&service, sub.as_str());
    let send = |headers: [(&'static str, String); 3]| async move {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        service.ingest(sub, body, &headers).await
    };
    let (status, first) = send(signed("msg_1", now)).await;
    assert_eq!(status, 202, "{first}");
    // The message id names the task: the same message again is a replay, not a second delivery.
    let (status, again) = send(signed("msg_1", now)).await;
    assert_eq!((status, &again["task_id"]), (202, &first["task_id"]));
    for (what, at) in [("stale", now - 120), ("from the future", now + 120)] {
        let (status, body) = send(signed("msg_2", at)).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert!(body["message"].as_str().unwrap().contains("timestamp"), "{body}");
    }
    let mut forged = signed("msg_3", now);
    forged[2].1 = standard_webhooks_signature("whsec_b3RoZXI=", "msg_3", now, body.as_bytes());
    let (status, body) = send(forged).await;
    assert_eq!((status, body["message"].as_str()), (401, Some("Invalid signature")));
}

#[tokio::test]
async fn an_open_api_listening_beyond_loopback_is_warned_about_and_a_guarded_one_is_not() {
    for (tokens, warned) in [("", true), (TOKEN, false)] {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().to_str().unwrap();
        let args = ["serve", "--listen", "0.0.0.0:0", "--data-dir", data];
        let env = [("KAFKA_BROKERS", ""), ("SCYLLA_NODES", ""), ("HOOKLINE_API_TOKENS", tokens)];
        let mut process = Hookline::start(binary(), &args, &env).await;
        // Stopping flushes everything the process wrote into its log.
        assert!(process.terminate(PATIENCE).await.success());
        let log = std::fs::read_to_string(process.log_path()).unwrap();
        let warning = "is open to anyone who can reach it (set HOOKLINE_API_TOKENS to require tokens)";
        assert_eq!(log.contains(warning), warned, "tokens {tokens:?}, log:\n{log}");
    }
}

#[tokio::test]
async fn limits_are_spent_only_by_authenticated_requests() {
    let service = Service::start(&[
        ("HOOKLINE_API_TOKENS", TOKEN),
        // Three authenticated calls at once: a creation, a list and one webhook.
        ("HOOKLINE_RATE_LIMIT", "1"),
        ("HOOKLINE_RATE_LIMIT_BURST", "3"),
        ("HOOKLINE_INGEST_RATE_LIMIT", "1"),
        ("HOOKLINE_INGEST_RATE_LIMIT_BURST", "1"),
    ])
    .await;
    let list = || service.client.get(service.url("/api/subscriptions"));
    // Anonymous callers are refused without spending the API-wide allowance.
    for _ in 0..20 {
        assert_eq!(answer(list().send().await.unwrap(), "x").await.0, 401);
    }
    let create = json!({"target_url": "http://127.0.0.1:9/signed", "secret": "the-secret"});
    let resp = service.client.post(service.url("/api/subscriptions")).bearer_auth(TOKEN).json(&create).send().await;
    let (status, _, created) = answer(resp.unwrap(), "x").await;
    assert_eq!(status, 201, "{created}");
    let sub = created["id"].as_str().unwrap().to_string();
    assert_eq!(answer(list().bearer_auth(TOKEN).send().await.unwrap(), "x").await.0, 200);

    // Unsigned webhooks, and webhooks to ids that do not exist, spend nothing either.
    let ingest = |sub: &str, signature: Option<&str>| {
        let mut request = service
            .client
            .post(service.url(&format!("/api/ingest/{sub}")))
            .header("content-type", "application/json")
            .body("{}");
        if let Some(signature) = signature {
            request = request.header("x-hub-signature-256", signature);
        }
        request.send()
    };
    for _ in 0..20 {
        assert_eq!(answer(ingest(&sub, Some("sha256=00")).await.unwrap(), "x").await.0, 401);
        let unknown = "0192f5e4-7c3a-7b1e-9f00-000000000001";
        assert_eq!(answer(ingest(unknown, None).await.unwrap(), "x").await.0, 404);
    }
    let signature = hookline_domain::signature::ingest_signature("the-secret", b"{}");
    let (status, _, body) = answer(ingest(&sub, Some(&signature)).await.unwrap(), "x").await;
    assert_eq!(status, 202, "the subscription's allowance is still there: {body}");
    let (status, _, body) = answer(ingest(&sub, Some(&signature)).await.unwrap(), "retry-after").await;
    assert_eq!(status, 429, "and it is spent by signed webhooks: {body}");
    assert!(body["message"].as_str().unwrap().contains("for this subscription"), "{body}");
}
