//! A tenant's token sees its own tenant only: what another tenant owns answers
//! exactly as an unknown id does, and lists hold only its own.

use hookline_domain::Outcome;
use serde_json::{json, Value};
use warp::http::StatusCode;

use hookline_api::{ApiConfig, ApiTokens};

use crate::support::{api, api_with, attempt, call, eventually, Answer, Call};

#[tokio::test]
async fn a_tenant_sees_only_what_it_owns() {
    let api = api().await;
    api.create_tenant("acme", json!({})).await;
    api.create_tenant("globex", json!({})).await;
    let (acme, _) = api.make_token(None, "acme").await;
    let (globex, _) = api.make_token(None, "globex").await;

    // Acme's token makes its subscription in its own tenant without naming it.
    let ours = api
        .send(call("POST", "/api/v1/subscriptions").bearer(&acme).json(&json!({"target_url": "http://127.0.0.1:9/a"})))
        .await;
    assert_eq!((ours.status, &ours.json["tenant_id"]), (StatusCode::CREATED, &json!("acme")));
    let ours = ours.json["id"].as_str().unwrap().to_string();
    let theirs = api.create("/api/v1", json!({"tenant_id": "globex", "target_url": "http://127.0.0.1:9/g"})).await;
    let theirs = theirs["id"].as_str().unwrap().to_string();
    let ingest =
        |sub: &str| call("POST", format!("/api/v1/ingest/{sub}")).header("content-type", "application/json").body("{}");
    let our_task = api.send(ingest(&ours)).await.json["task_id"].as_str().unwrap().to_string();
    let their_task = api.send(ingest(&theirs)).await.json["task_id"].as_str().unwrap().to_string();
    api.stack.record_attempt(&attempt(&our_task, &ours, 1, Outcome::PermanentlyFailed, 410)).await;
    api.stack.record_attempt(&attempt(&their_task, &theirs, 1, Outcome::PermanentlyFailed, 410)).await;
    eventually("both tasks failed in the views", || async {
        let listed = api.send(call("GET", "/api/v1/tasks?status=failed")).await;
        (listed.json["tasks"].as_array()?.len() == 2).then_some(())
    })
    .await;

    let unknown_sub = uuid::Uuid::now_v7().to_string();
    let unknown_task = uuid::Uuid::now_v7().to_string();
    let as_acme = |call: Call| api.send(call.bearer(&acme));
    // Each of Globex's ids answers Acme exactly as an id nobody has.
    let pairs: [(&str, String, String); 8] = [
        ("GET", format!("/api/v1/subscriptions/{theirs}"), format!("/api/v1/subscriptions/{unknown_sub}")),
        ("DELETE", format!("/api/v1/subscriptions/{theirs}"), format!("/api/v1/subscriptions/{unknown_sub}")),
        (
            "POST",
            format!("/api/v1/subscriptions/{theirs}/secret/rotate"),
            format!("/api/v1/subscriptions/{unknown_sub}/secret/rotate"),
        ),
        ("GET", format!("/api/v1/subscriptions/{theirs}/stats"), format!("/api/v1/subscriptions/{unknown_sub}/stats")),
        (
            "GET",
            format!("/api/v1/status/subscriptions/{theirs}/attempts"),
            format!("/api/v1/status/subscriptions/{unknown_sub}/attempts"),
        ),
        (
            "GET",
            format!("/api/v1/status/delivery_tasks/{their_task}"),
            format!("/api/v1/status/delivery_tasks/{unknown_task}"),
        ),
        ("POST", format!("/api/v1/tasks/{their_task}/retry"), format!("/api/v1/tasks/{unknown_task}/retry")),
        (
            "GET",
            format!("/api/v1/dead-letters?subscription_id={theirs}"),
            format!("/api/v1/dead-letters?subscription_id={unknown_sub}"),
        ),
    ];
    for (method, theirs_path, unknown_path) in pairs {
        let (hidden, absent): (Answer, Answer) =
            (as_acme(call(method, &theirs_path)).await, as_acme(call(method, &unknown_path)).await);
        assert_eq!(hidden.status, StatusCode::NOT_FOUND, "{method} {theirs_path}: {hidden:?}");
        assert_eq!((hidden.status, &hidden.json), (absent.status, &absent.json), "{method} {theirs_path}");
    }
    let changed =
        as_acme(call("PUT", format!("/api/v1/subscriptions/{theirs}")).json(&json!({"enabled": false}))).await;
    assert_eq!(changed.status, StatusCode::NOT_FOUND);
    let still = api.send(call("GET", format!("/api/v1/subscriptions/{theirs}"))).await;
    assert_eq!(still.json["enabled"], true, "nothing of Globex's was changed");

    // Its own, it sees and may act on.
    assert_eq!(as_acme(call("GET", format!("/api/v1/status/delivery_tasks/{our_task}"))).await.status, StatusCode::OK);
    assert_eq!(as_acme(call("GET", format!("/api/v1/subscriptions/{ours}/stats"))).await.status, StatusCode::OK);
    assert_eq!(as_acme(call("POST", format!("/api/v1/tasks/{our_task}/retry"))).await.status, StatusCode::ACCEPTED);

    // Lists hold only its own.
    let ids = |answer: &Value, key: &str| -> Vec<String> {
        answer.as_array().unwrap().iter().map(|item| item[key].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(ids(&as_acme(call("GET", "/api/v1/subscriptions")).await.json, "id"), [ours.as_str()]);
    assert_eq!(ids(&as_acme(call("GET", "/api/v1/tasks")).await.json["tasks"], "task_id"), [our_task.as_str()]);
    let dead_letters = as_acme(call("GET", "/api/v1/dead-letters")).await;
    assert_eq!(ids(&dead_letters.json["dead_letters"], "task_id"), [our_task.as_str()]);
    let filtered = as_acme(call("GET", format!("/api/v1/tasks?subscription_id={theirs}"))).await;
    assert_eq!(filtered.json["tasks"], json!([]));
    assert_eq!(ids(&as_acme(call("GET", "/api/v1/tenants")).await.json["tenants"], "id"), ["acme"]);
    let globex_lists = api.send(call("GET", "/api/v1/subscriptions").bearer(&globex)).await;
    assert_eq!(ids(&globex_lists.json, "id"), [theirs.as_str()]);

    // Naming another tenant: that tenant does not exist for it.
    let not_found = json!({"message": "Tenant not found"});
    for refused in [
        call("GET", "/api/v1/tenants/globex"),
        call("GET", "/api/v1/subscriptions?tenant_id=globex"),
        call("GET", "/api/v1/tasks?tenant_id=globex"),
        call("GET", "/api/v1/dead-letters?tenant_id=globex"),
        call("POST", "/api/v1/subscriptions")
            .json(&json!({"tenant_id": "globex", "target_url": "http://127.0.0.1:9/x"})),
        call("POST", "/api/v1/events?tenant_id=globex").header("x-event-type", "a").json(&json!({})),
    ] {
        let answer = as_acme(refused).await;
        assert_eq!((answer.status, &answer.json), (StatusCode::NOT_FOUND, &not_found));
    }
    // Naming itself is fine.
    let own = as_acme(call("GET", "/api/v1/subscriptions?tenant_id=acme")).await;
    assert_eq!(ids(&own.json, "id"), [ours.as_str()]);

    // The operator sees everyone's, or one tenant's when it names it.
    assert_eq!(api.send(call("GET", "/api/v1/subscriptions")).await.json.as_array().unwrap().len(), 2);
    let narrowed = api.send(call("GET", "/api/v1/subscriptions?tenant_id=globex")).await;
    assert_eq!(ids(&narrowed.json, "id"), [theirs.as_str()]);
    let narrowed = api.send(call("GET", "/api/v1/tasks?tenant_id=globex")).await;
    assert_eq!(ids(&narrowed.json["tasks"], "task_id"), [their_task.as_str()]);
    let narrowed = api.send(call("GET", "/api/v1/dead-letters?tenant_id=globex")).await;
    assert_eq!(ids(&narrowed.json["dead_letters"], "task_id"), [their_task.as_str()]);
    let everyone = api.send(call("GET", "/api/v1/dead-letters")).await;
    assert_eq!(everyone.json["dead_letters"].as_array().unwrap().len(), 2);
    // A subscription outside the tenant named is not found in it.
    let elsewhere =
        api.send(call("GET", format!("/api/v1/dead-letters?tenant_id=acme&subscription_id={theirs}"))).await;
    assert_eq!(elsewhere.status, StatusCode::NOT_FOUND, "{:?}", elsewhere.json);
    let unknown = api.send(call("GET", "/api/v1/subscriptions?tenant_id=initech")).await;
    assert_eq!((unknown.status, &unknown.json), (StatusCode::NOT_FOUND, &not_found));
}

#[tokio::test]
async fn a_tenant_token_ingests_only_into_its_own_subscriptions() {
    const OPERATOR: &str = "operator-token-0123456789";
    let api = api_with(|config| ApiConfig {
        tokens: ApiTokens::parse(&[OPERATOR]).unwrap(),
        ingest_requires_token: true,
        ..config
    })
    .await;
    api.create_tenant_as(Some(OPERATOR), "acme", json!({})).await;
    api.create_tenant_as(Some(OPERATOR), "globex", json!({})).await;
    let (acme, _) = api.make_token(Some(OPERATOR), "acme").await;
    let subscribe = |tenant: &str| {
        call("POST", "/api/v1/subscriptions")
            .bearer(OPERATOR)
            .json(&json!({"tenant_id": tenant, "target_url": "http://127.0.0.1:9/h"}))
    };
    let ours = api.send(subscribe("acme")).await.json["id"].as_str().unwrap().to_string();
    let theirs = api.send(subscribe("globex")).await.json["id"].as_str().unwrap().to_string();
    let ingest = |sub: &str| {
        call("POST", format!("/api/v1/ingest/{sub}"))
            .bearer(&acme)
            .header("content-type", "application/json")
            .body("{}")
    };
    assert_eq!(api.send(ingest(&ours)).await.status, StatusCode::ACCEPTED);
    let hidden = api.send(ingest(&theirs)).await;
    let absent = api.send(ingest(&uuid::Uuid::now_v7().to_string())).await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    assert_eq!((hidden.status, hidden.json), (absent.status, absent.json));
}
