//! The tenant, token and event operations of the document, exercised as a tenant's
//! operator and as the tenant itself.

use std::convert::Infallible;

use serde_json::{json, Value};
use warp::{Filter, Reply};

use super::{request, text, Contract, BODY, INGEST_LIMIT};
use crate::support::eventually;

/// Tenants, their tokens, a tenant's own calls, its subscription cap and its events.
pub(super) async fn exercise<F>(contract: &mut Contract, api: &F, prefix: &str, huge: &Value)
where
    F: Filter<Error = Infallible> + Clone + Send + Sync + 'static,
    F::Extract: Reply + Send,
{
    let plain = |method, path: String| request(method, path).header("content-type", "text/plain").body("{}");
    let tenant = if prefix == "/api" { "openapi-a" } else { "openapi-b" };
    let tenants = format!("{prefix}/tenants");
    let one = format!("{tenants}/{tenant}");
    let unknown = format!("{tenants}/never-created");
    let new = json!({"id": tenant, "name": "Acme", "limits": {"max_subscriptions": 1}});
    contract.send(api, request("POST", &tenants).json(&new), 201).await;
    contract.send(api, request("POST", &tenants).json(&new), 409).await;
    contract.send(api, request("POST", &tenants).json(&json!({"name": "", "id": "Acme"})), 400).await;
    contract.send(api, plain("POST", tenants.clone()), 415).await;
    contract.send(api, request("POST", &tenants).json(huge), 413).await;
    let page = contract.send(api, request("GET", format!("{tenants}?limit=1")), 200).await;
    let cursor = text(&page, "next_cursor");
    contract.send(api, request("GET", format!("{tenants}?cursor={cursor}")), 200).await;
    contract.send(api, request("GET", format!("{tenants}?cursor=NOT-AN-ID")), 400).await;
    contract.send(api, request("GET", &one), 200).await;
    contract.send(api, request("GET", format!("{tenants}/NOT-AN-ID")), 400).await;
    contract.send(api, request("GET", &unknown), 404).await;
    let limited =
        contract.send(api, request("PUT", &one).json(&json!({"limits": {"events_per_second": 1}})), 200).await;
    assert_eq!(limited.json["limits"], json!({"events_per_second": 1, "max_subscriptions": 1}));
    contract.send(api, request("PUT", &one).json(&json!({"limits": {"events_per_second": 0}})), 400).await;
    contract.send(api, request("PUT", &unknown).json(&json!({})), 404).await;
    contract.send(api, plain("PUT", one.clone()), 415).await;
    contract.send(api, request("PUT", &one).json(huge), 413).await;

    let tokens = format!("{one}/tokens");
    let made = contract.send(api, request("POST", &tokens).json(&json!({"name": "ci"})), 201).await;
    let (token, token_id) = (text(&made, "token"), text(&made, "id"));
    contract.send(api, request("POST", format!("{unknown}/tokens")), 404).await;
    contract.send(api, request("POST", &tokens).json(&json!({"name": 5})), 400).await;
    contract.send(api, plain("POST", tokens.clone()), 415).await;
    contract.send(api, request("POST", &tokens).json(huge), 413).await;
    contract.send(api, request("GET", &tokens), 200).await;
    contract.send(api, request("GET", format!("{unknown}/tokens")), 404).await;
    contract.send(api, request("GET", format!("{tenants}/NOT-AN-ID/tokens")), 400).await;

    // The tenant itself may not manage tenants.
    let bearer = format!("Bearer {token}");
    let as_tenant = |method, path: &str| request(method, path).header("authorization", bearer.clone());
    contract.send(api, as_tenant("POST", &tenants).json(&json!({"name": "Mine"})), 403).await;
    contract.send(api, as_tenant("PUT", &one).json(&json!({"name": "Mine"})), 403).await;
    contract.send(api, as_tenant("DELETE", &one), 403).await;

    // Its one subscription, then its cap.
    let subs = format!("{prefix}/subscriptions");
    let target = json!({"tenant_id": tenant, "target_url": "http://127.0.0.1:9/t", "event_types": ["order.*"]});
    let sub = contract.send(api, request("POST", &subs).json(&target), 201).await;
    contract.send(api, request("POST", &subs).json(&target), 409).await;
    let elsewhere = json!({"tenant_id": "never-created", "target_url": "http://127.0.0.1:9/t"});
    contract.send(api, request("POST", &subs).json(&elsewhere), 404).await;
    contract.send(api, request("GET", format!("{subs}?tenant_id=never-created")), 404).await;
    contract.send(api, request("GET", format!("{prefix}/tasks?tenant_id=never-created")), 404).await;

    let events = format!("{prefix}/events?tenant_id={tenant}");
    let event = || request("POST", &events).header("content-type", "application/json").body(BODY);
    let sent =
        contract.send(api, event().header("x-event-type", "order.paid").header("idempotency-key", "k1"), 202).await;
    assert_eq!(sent.json["task_ids"].as_array().map(Vec::len), Some(1), "{}", sent.json);
    let again =
        contract.send(api, event().header("x-event-type", "order.paid").header("idempotency-key", "k1"), 202).await;
    assert_eq!((&again.json, again.headers["idempotent-replayed"].to_str().unwrap()), (&sent.json, "true"));
    // One event a second: the replay spent nothing, the next event is one too many.
    contract.send(api, event().header("x-event-type", "order.paid"), 429).await;
    contract.send(api, event(), 400).await;
    let nowhere = format!("{prefix}/events?tenant_id=never-created");
    let sent_nowhere = request("POST", nowhere).header("x-event-type", "a").header("content-type", "application/json");
    contract.send(api, sent_nowhere.body(BODY), 404).await;
    let too_big = format!("[\"{}\"]", "x".repeat(INGEST_LIMIT));
    contract.send(api, event().header("x-event-type", "a").body(too_big), 413).await;
    contract.send(api, plain("POST", events.clone()).header("x-event-type", "a"), 415).await;
    contract.send(api, event().header("x-event-type", "a").body("{not json"), 415).await;

    let read = format!("{prefix}/events/{}", text(&sent, "event_id"));
    eventually("the event in the views", || async {
        (warp::test::request().path(&read).reply(api).await.status() == 200).then_some(())
    })
    .await;
    let event_read = contract.send(api, request("GET", &read), 200).await;
    assert_eq!(
        (event_read.json["payload"].to_string(), &event_read.json["tasks"][0]["status"]),
        (BODY.to_string(), &json!("pending"))
    );
    contract.send(api, request("GET", format!("{prefix}/events/nope")), 400).await;
    contract.send(api, request("GET", format!("{prefix}/events/{}", uuid::Uuid::now_v7())), 404).await;
    let listed = contract.send(api, request("GET", format!("{events}&event_type=order.paid&limit=1")), 200).await;
    assert_eq!(listed.json["events"][0]["event_id"], sent.json["event_id"]);
    contract.send(api, request("GET", format!("{events}&since=yesterday")), 400).await;
    contract.send(api, request("GET", format!("{prefix}/events?tenant_id=never-created")), 404).await;

    let token_path = format!("{tokens}/{token_id}");
    contract.send(api, request("DELETE", &token_path), 204).await;
    contract.send(api, request("DELETE", &token_path), 404).await;
    contract.send(api, request("DELETE", format!("{tokens}/nope")), 400).await;
    contract.send(api, request("DELETE", format!("{tenants}/default")), 409).await;
    contract.send(api, request("DELETE", &one), 409).await;
    contract.send(api, request("DELETE", format!("{subs}/{}", text(&sub, "id"))), 200).await;
    contract.send(api, request("DELETE", &one), 204).await;
    contract.send(api, request("DELETE", &one), 404).await;
    contract.send(api, request("DELETE", format!("{tenants}/NOT-AN-ID")), 400).await;
}
