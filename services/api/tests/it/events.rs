//! Events: one goes to exactly the tenant's subscriptions that want it, each as
//! `TaskId::for_event`; an idempotency key answers the same ids; a tenant's events per
//! second are limited; `event_types` and the seed's `event_type_filter` are two
//! spellings of one list; an event reads back with its payload and tasks, a tenant
//! lists its own.

use std::num::NonZeroU32;

use hookline_api::{ApiConfig, TenantDefaults};
use hookline_domain::{EventId, Outcome, SubscriptionId, TaskId};
use serde_json::{json, Value};
use warp::http::StatusCode;

use crate::support::{api, api_with, attempt, call, eventually, Call};

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

/// The event `id` as read back, once the views hold it.
async fn read_back<F>(api: &crate::support::Api<F>, id: &str, until: impl Fn(&Value) -> bool) -> Value
where
    F: warp::Filter<Error = std::convert::Infallible> + Clone + Send + Sync + 'static,
    F::Extract: warp::Reply + Send,
{
    let path = format!("/api/v1/events/{id}");
    eventually("the event as expected", || async {
        let answer = api.send(call("GET", &path)).await;
        (answer.status == StatusCode::OK && until(&answer.json)).then_some(answer.json)
    })
    .await
}

#[tokio::test]
async fn an_event_reads_back_with_its_payload_and_where_its_tasks_stand() {
    let api = api().await;
    api.create_tenant("acme", json!({})).await;
    let first = id_of(&api.create("/api/v1", json!({"tenant_id": "acme", "target_url": "http://127.0.0.1:9/a"})).await);
    let second =
        id_of(&api.create("/api/v1", json!({"tenant_id": "acme", "target_url": "http://127.0.0.1:9/b"})).await);
    let body = r#"{"order": {"id": 42, "lines": [1, 2]}}"#;
    let sent = api
        .send(
            call("POST", "/api/v1/events?tenant_id=acme")
                .header("x-event-type", "order.paid")
                .header("idempotency-key", "order-42")
                .header("content-type", "application/json")
                .body(body),
        )
        .await;
    let event_id = sent.json["event_id"].as_str().unwrap().to_string();
    let task_ids = sent.json["task_ids"].clone();

    // No fan-out yet: the tasks are not made, and show as pending.
    let read = read_back(&api, &event_id, |_| true).await;
    assert_eq!(read["payload"], serde_json::from_str::<Value>(body).unwrap(), "the payload as sent");
    assert_eq!((&read["tenant_id"], &read["event_type"]), (&json!("acme"), &json!("order.paid")));
    assert_eq!(read["idempotency_key"], "order-42");
    let mut subscriptions = [first.to_string(), second.to_string()];
    subscriptions.sort();
    assert_eq!(read["subscription_ids"], json!(subscriptions));
    let tasks = read["tasks"].as_array().unwrap();
    assert_eq!(tasks.iter().map(|t| t["task_id"].clone()).collect::<Vec<_>>(), *task_ids.as_array().unwrap());
    assert!(tasks.iter().all(|t| t["status"] == "pending" && t["attempts_count"] == 0), "{read}");

    // Once fanned out, the views tell how each task stands.
    api.stack.run_fanout().await;
    let first_task = task_ids[0].as_str().unwrap().to_string();
    let first_sub = read["tasks"][0]["subscription_id"].as_str().unwrap().to_string();
    eventually("the first task made", || async {
        let answer = api.send(call("GET", format!("/api/v1/status/delivery_tasks/{first_task}"))).await;
        (answer.status == StatusCode::OK).then_some(())
    })
    .await;
    api.stack.record_attempt(&attempt(&first_task, &first_sub, 1, Outcome::FailedAttempt, 503)).await;
    let retried = read_back(&api, &event_id, |json| json["tasks"][0]["status"] == "retrying").await;
    assert_eq!(
        (&retried["tasks"][0]["last_http_status"], &retried["tasks"][1]["status"]),
        (&json!(503), &json!("pending"))
    );

    let invalid = api.send(call("GET", "/api/v1/events/not-an-id")).await;
    assert_eq!((invalid.status, invalid.message()), (StatusCode::BAD_REQUEST, "Invalid event id: must be a UUID"));
}

#[tokio::test]
async fn a_tenant_lists_its_own_events_newest_first_and_not_another_s() {
    let api = api().await;
    api.create_tenant("acme", json!({})).await;
    api.create_tenant("globex", json!({})).await;
    let (acme, _) = api.make_token(None, "acme").await;
    let mut sent = Vec::new();
    for event_type in ["order.paid", "order.shipped", "order.paid"] {
        let answer = api.send(event("", event_type).bearer(&acme)).await;
        sent.push(answer.json["event_id"].as_str().unwrap().to_string());
    }
    let theirs =
        api.send(event("?tenant_id=globex", "order.paid")).await.json["event_id"].as_str().unwrap().to_string();
    read_back(&api, &theirs, |_| true).await;
    for own in &sent {
        read_back(&api, own, |_| true).await;
    }

    let listed = |query: &'static str| {
        let api = &api;
        let acme = &acme;
        async move {
            let answer = api.send(call("GET", format!("/api/v1/events{query}")).bearer(acme)).await;
            assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
            let ids: Vec<String> = answer.json["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["event_id"].as_str().unwrap().to_string())
                .collect();
            (ids, answer.json["next_cursor"].clone())
        }
    };
    let newest_first: Vec<String> = sent.iter().rev().cloned().collect();
    assert_eq!(listed("").await.0, newest_first);
    assert_eq!(listed("?event_type=order.paid").await.0, [sent[2].clone(), sent[0].clone()]);
    assert_eq!(listed("?since=2999-01-01T00:00:00Z").await.0, Vec::<String>::new());
    let (first_page, cursor) = listed("?limit=2").await;
    assert_eq!(first_page, newest_first[..2]);
    let cursor = form_urlencoded::byte_serialize(cursor.as_str().unwrap().as_bytes()).collect::<String>();
    let rest = api.send(call("GET", format!("/api/v1/events?limit=2&cursor={cursor}")).bearer(&acme)).await;
    assert_eq!(rest.json["events"][0]["event_id"], newest_first[2].as_str());

    // Globex's event is, to Acme, an event that does not exist.
    let hidden = api.send(call("GET", format!("/api/v1/events/{theirs}")).bearer(&acme)).await;
    let absent = api.send(call("GET", format!("/api/v1/events/{}", uuid::Uuid::now_v7())).bearer(&acme)).await;
    assert_eq!((hidden.status, &hidden.json), (StatusCode::NOT_FOUND, &json!({"message": "Event not found"})));
    assert_eq!((hidden.status, hidden.json), (absent.status, absent.json));
    let named = api.send(call("GET", "/api/v1/events?tenant_id=globex").bearer(&acme)).await;
    assert_eq!((named.status, named.message()), (StatusCode::NOT_FOUND, "Tenant not found"));
    // The operator reads any tenant's.
    let operator = api.send(call("GET", "/api/v1/events?tenant_id=globex")).await;
    assert_eq!(operator.json["events"][0]["event_id"], theirs.as_str());

    for bad in ["?since=yesterday", "?event_type=", "?limit=101", "?cursor=forged", "?colour=red"] {
        let answer = api.send(call("GET", format!("/api/v1/events{bad}")).bearer(&acme)).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}: {answer:?}");
    }
}
