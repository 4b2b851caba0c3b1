//! `POST /events`: an event goes to exactly the tenant's subscriptions that want it,
//! each as `TaskId::for_event`; an idempotency key answers the same ids; a tenant's
//! events per second are limited; `event_types` and the seed's `event_type_filter`
//! are two spellings of one list.

use std::num::NonZeroU32;

use hookline_api::{ApiConfig, TenantDefaults};
use hookline_domain::{EventId, SubscriptionId, TaskId};
use serde_json::{json, Value};
use warp::http::StatusCode;

use crate::support::{api, api_with, call, Call};

fn event(query: &str, event_type: &str) -> Call {
    call("POST", format!("/api/v1/events{query}")).header("x-event-type", event_type).json(&json!({"order": 42}))
}

fn id_of(subscription: &Value) -> SubscriptionId {
    subscription["id"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn an_event_goes_to_exactly_the_matching_subscriptions_at_once() {
    let api = api().await;
    api.create_tenant("acme", json!({})).await;
    api.create_tenant("globex", json!({})).await;
    let api = &api;
    let subscribe = |body: Value| async move {
        let mut body = body;
        body["target_url"] = json!("http://127.0.0.1:9/h");
        id_of(&api.create("/api/v1", body).await)
    };
    // Each made right before the event: a 201 means the next event is routed by it.
    let prefix = subscribe(json!({"tenant_id": "acme", "event_types": ["order.*"]})).await;
    let seed_filter = subscribe(json!({"tenant_id": "acme", "event_type_filter": "order.paid,order.shipped"})).await;
    let everything = subscribe(json!({"tenant_id": "acme"})).await;
    subscribe(json!({"tenant_id": "acme", "event_types": ["invoice.*", "order.created"]})).await;
    subscribe(json!({"tenant_id": "acme", "event_types": ["order.*"], "enabled": false})).await;
    subscribe(json!({"tenant_id": "globex", "event_types": ["order.*"]})).await;

    let sent = api.send(event("?tenant_id=acme", "order.paid")).await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{sent:?}");
    let event_id: EventId = sent.json["event_id"].as_str().unwrap().parse().unwrap();
    let mut wanted = [prefix, seed_filter, everything];
    wanted.sort();
    let expected: Vec<String> = wanted.iter().map(|s| TaskId::for_event(event_id, *s).to_string()).collect();
    assert_eq!(sent.json["task_ids"], json!(expected));
    assert_eq!(sent.header("idempotent-replayed"), None);

    // A subscription disabled just now gets nothing from the next event.
    let put =
        api.send(call("PUT", format!("/api/v1/subscriptions/{everything}")).json(&json!({"enabled": false}))).await;
    assert_eq!(put.status, StatusCode::OK);
    let next = api.send(event("?tenant_id=acme", "order.paid")).await;
    assert_eq!(next.json["task_ids"].as_array().unwrap().len(), 2, "{next:?}");

    // The operator's event without a tenant goes to the default one, which wants nothing here.
    let default = api.send(event("", "order.paid")).await;
    assert_eq!((default.status, &default.json["task_ids"]), (StatusCode::ACCEPTED, &json!([])));
}

#[tokio::test]
async fn a_tenant_token_sends_to_its_own_tenant() {
    let api = api().await;
    api.create_tenant("acme", json!({})).await;
    let (token, _) = api.make_token(None, "acme").await;
    let sub = api.create("/api/v1", json!({"tenant_id": "acme", "target_url": "http://127.0.0.1:9/h"})).await;
    let sent = api.send(event("", "anything").bearer(&token)).await;
    let event_id: EventId = sent.json["event_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(sent.json["task_ids"], json!([TaskId::for_event(event_id, id_of(&sub)).to_string()]));
}

#[tokio::test]
async fn a_repeated_idempotency_key_answers_the_same_ids() {
    let api = api().await;
    api.create("/api/v1", json!({"target_url": "http://127.0.0.1:9/h"})).await;
    let keyed = || event("", "order.paid").header("idempotency-key", "order-42-paid");
    let first = api.send(keyed()).await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    assert_eq!(first.json["task_ids"].as_array().unwrap().len(), 1);
    let again = api.send(keyed()).await;
    assert_eq!((again.status, &again.json), (StatusCode::ACCEPTED, &first.json));
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    let other = api.send(event("", "order.paid").header("idempotency-key", "order-43-paid")).await;
    assert_ne!(other.json["event_id"], first.json["event_id"]);
    assert_eq!(other.header("idempotent-replayed"), None);
}

#[tokio::test]
async fn bad_events_are_refused_with_a_message() {
    let api = api().await;
    let cases: [(Call, StatusCode, &str); 5] = [
        (call("POST", "/api/v1/events").json(&json!({})), StatusCode::BAD_REQUEST, "An event type is required"),
        (event("?tenant_id=initech", "a"), StatusCode::NOT_FOUND, "Tenant not found"),
        (
            event("?tenant_id=Not%20Valid", "a"),
            StatusCode::BAD_REQUEST,
            "Invalid tenant id: must be 1 to 64 of a-z, 0-9, _ and -",
        ),
        (event("?tenant=acme", "a"), StatusCode::BAD_REQUEST, "Unknown query parameter 'tenant' (expected: tenant_id)"),
        (
            call("POST", "/api/v1/events").header("x-event-type", "a").header("content-type", "text/plain").body("{}"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Request body must be JSON",
        ),
    ];
    for (request, status, message) in cases {
        let answer = api.send(request).await;
        assert_eq!((answer.status, answer.message()), (status, message), "{answer:?}");
    }
}

// Limits of one event a second: each check below fits well within that second.
#[tokio::test]
async fn a_tenant_s_events_and_webhooks_share_its_own_rate_limit() {
    let api = api().await;
    api.create_tenant("acme", json!({"events_per_second": 1})).await;
    api.create_tenant("globex", json!({})).await;
    let sub = api.create("/api/v1", json!({"tenant_id": "acme", "target_url": "http://127.0.0.1:9/h"})).await;
    let webhook = call("POST", format!("/api/v1/ingest/{}", sub["id"].as_str().unwrap()))
        .header("content-type", "application/json")
        .body("{}");

    assert_eq!(api.send(event("?tenant_id=acme", "a")).await.status, StatusCode::ACCEPTED);
    for refused in [webhook, event("?tenant_id=acme", "a")] {
        let answer = api.send(refused).await;
        assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS, "{answer:?}");
        assert_eq!(answer.message(), "Too many requests for this tenant: retry after 1 s");
        assert_eq!(answer.header("retry-after"), Some("1"));
    }
    // Globex has no limit of its own and none is configured.
    for _ in 0..5 {
        assert_eq!(api.send(event("?tenant_id=globex", "a")).await.status, StatusCode::ACCEPTED);
    }
}

#[tokio::test]
async fn a_tenant_without_limits_of_its_own_has_the_configured_one() {
    let defaults = TenantDefaults { events_per_second: NonZeroU32::new(1), ..TenantDefaults::default() };
    let api = api_with(|config| ApiConfig { tenant_defaults: defaults, ..config }).await;
    api.create_tenant("globex", json!({})).await;
    // A refused event spends nothing: a bad one is a 400, not a 429, and the next one passes.
    let untyped = api.send(call("POST", "/api/v1/events?tenant_id=globex").json(&json!({}))).await;
    assert_eq!(untyped.status, StatusCode::BAD_REQUEST);
    assert_eq!(api.send(event("?tenant_id=globex", "a")).await.status, StatusCode::ACCEPTED);
    assert_eq!(api.send(event("?tenant_id=globex", "a")).await.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(api.send(event("", "a")).await.status, StatusCode::ACCEPTED, "the default tenant has its own bucket");
}

#[tokio::test]
async fn event_types_and_the_seed_filter_are_one_list() {
    let api = api().await;
    let by_types = api
        .create("/api/v1", json!({"target_url": "http://127.0.0.1:9/h", "event_types": ["order.*", "invoice.paid"]}))
        .await;
    assert_eq!(by_types["event_types"], json!(["order.*", "invoice.paid"]));
    assert_eq!(by_types["event_type_filter"], "order.*,invoice.paid");
    let by_filter =
        api.create("/api", json!({"target_url": "http://127.0.0.1:9/h", "event_type_filter": "a, b"})).await;
    assert_eq!((&by_filter["event_types"], &by_filter["event_type_filter"]), (&json!(["a", "b"]), &json!("a,b")));
    let both = json!({"target_url": "http://127.0.0.1:9/h", "event_types": ["b", "a"], "event_type_filter": "a,b"});
    assert_eq!(api.create("/api/v1", both).await["event_types"], json!(["b", "a"]));

    let one = format!("/api/v1/subscriptions/{}", by_types["id"].as_str().unwrap());
    let read = api.send(call("GET", &one)).await;
    assert_eq!(
        (&read.json["event_types"], &read.json["event_type_filter"]),
        (&by_types["event_types"], &by_types["event_type_filter"])
    );
    let by_seed_put = api.send(call("PUT", &one).json(&json!({"event_type_filter": "x"}))).await;
    assert_eq!(by_seed_put.json["event_types"], json!(["x"]));
    let cleared = api.send(call("PUT", &one).json(&json!({"event_types": null}))).await;
    assert_eq!((&cleared.json["event_types"], &cleared.json["event_type_filter"]), (&Value::Null, &Value::Null));

    for (bad, field) in [
        (json!({"event_types": ["a"], "event_type_filter": "b"}), "event_types"),
        (json!({"event_types": []}), "event_types"),
        (json!({"event_types": ["or*der"]}), "event_types"),
        (json!({"event_type_filter": " , "}), "event_type_filter"),
    ] {
        let answer = api.send(call("PUT", &one).json(&bad)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(answer.json["errors"][field].is_string(), "{bad}: {answer:?}");
    }
}
