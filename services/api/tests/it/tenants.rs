//! Tenants and their tokens: CRUD by the operator, tokens that work at once and stop
//! at once, what a tenant may not do, and the subscription cap.

use hookline_api::{ApiTokens, TenantDefaults};
use serde_json::{json, Value};
use warp::http::StatusCode;

use crate::support::{api, api_with, call, eventually, PREFIXES};

const OPERATOR: &str = "operator-token-0123456789";

#[tokio::test]
async fn tenants_are_created_read_listed_changed_and_deleted() {
    let api = api().await;
    for (prefix, id) in PREFIXES.into_iter().zip(["acme", "globex"]) {
        let tenants = format!("{prefix}/tenants");
        let body = json!({"id": id, "name": "Acme Inc.", "limits": {"events_per_second": 50}});
        let created = api.send(call("POST", &tenants).json(&body)).await;
        assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
        assert_eq!(created.json["id"], id);
        assert_eq!(created.json["limits"], json!({"events_per_second": 50, "max_subscriptions": null}));
        assert_eq!(created.json["created_at"], created.json["updated_at"]);

        let one = format!("{tenants}/{id}");
        let read = api.send(call("GET", &one)).await;
        assert_eq!((read.status, &read.json), (StatusCode::OK, &created.json));

        let changed =
            api.send(call("PUT", &one).json(&json!({"name": "Acme", "limits": {"max_subscriptions": 3}}))).await;
        assert_eq!(changed.status, StatusCode::OK, "{changed:?}");
        assert_eq!(changed.json["name"], "Acme");
        assert_eq!(changed.json["limits"], json!({"events_per_second": 50, "max_subscriptions": 3}));
        assert_eq!(changed.json["created_at"], created.json["created_at"]);
        assert_ne!(changed.json["updated_at"], created.json["updated_at"]);
        let reset = api.send(call("PUT", &one).json(&json!({"limits": null}))).await;
        assert_eq!(reset.json["limits"], json!({"events_per_second": null, "max_subscriptions": null}));
    }

    let generated = api.send(call("POST", "/api/tenants").json(&json!({"name": "No id given"}))).await;
    assert_eq!(generated.status, StatusCode::CREATED);
    let generated_id = generated.json["id"].as_str().unwrap().to_string();
    assert!(generated_id.starts_with("t-"), "{generated_id}");

    // Listed in id order, a page at a time, the default tenant among them.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = cursor.as_ref().map(|c| format!("&cursor={c}")).unwrap_or_default();
        let page = api.send(call("GET", format!("/api/v1/tenants?limit=2{query}"))).await;
        assert_eq!(page.status, StatusCode::OK, "{page:?}");
        seen.extend(page.json["tenants"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_string()));
        match page.json["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
    }
    let mut expected = vec!["acme".to_string(), "default".into(), "globex".into(), generated_id];
    expected.sort();
    assert_eq!(seen, expected);

    let deleted = api.send(call("DELETE", "/api/v1/tenants/acme")).await;
    assert_eq!((deleted.status, &deleted.json), (StatusCode::NO_CONTENT, &Value::Null));
    assert!(deleted.headers.get("content-type").is_none());
    let gone = api.send(call("GET", "/api/v1/tenants/acme")).await;
    assert_eq!((gone.status, gone.json), (StatusCode::NOT_FOUND, json!({"message": "Tenant not found"})));
    let again = api.send(call("POST", "/api/v1/tenants").json(&json!({"id": "acme", "name": "Again"}))).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.message().contains("never used again"), "{again:?}");
    let taken = api.send(call("POST", "/api/v1/tenants").json(&json!({"id": "globex", "name": "Again"}))).await;
    assert_eq!((taken.status, taken.message()), (StatusCode::CONFLICT, "Tenant 'globex' already exists"));
}

#[tokio::test]
async fn bad_tenant_requests_are_400s_with_every_problem() {
    let api = api().await;
    let bad = json!({"id": "Not Valid", "name": "", "limits": {"events_per_second": 0, "burst": 1}});
    let refused = api.send(call("POST", "/api/v1/tenants").json(&bad)).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let fields: Vec<&str> = refused.json["errors"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(fields, ["id", "limits.burst", "limits.events_per_second", "name"]);
    let invalid_path = api.send(call("GET", "/api/v1/tenants/UPPER")).await;
    assert_eq!(invalid_path.status, StatusCode::BAD_REQUEST);
    assert!(invalid_path.message().starts_with("Invalid tenant id"), "{invalid_path:?}");
    let cursor = api.send(call("GET", "/api/v1/tenants?cursor=NOT%20AN%20ID")).await;
    assert_eq!((cursor.status, cursor.message()), (StatusCode::BAD_REQUEST, "Invalid cursor"));
}

#[tokio::test]
async fn a_token_works_at_once_and_stops_at_once_when_revoked() {
    let api =
        api_with(|config| hookline_api::ApiConfig { tokens: ApiTokens::parse(&[OPERATOR]).unwrap(), ..config }).await;
    api.create_tenant_as(Some(OPERATOR), "acme", json!({})).await;
    let made =
        api.send(call("POST", "/api/v1/tenants/acme/tokens").bearer(OPERATOR).json(&json!({"name": "ci"}))).await;
    assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
    let token = made.json["token"].as_str().unwrap().to_string();
    let token_id = made.json["id"].as_str().unwrap().to_string();
    assert!(token.starts_with("hlt_") && token.len() == 4 + 43, "{token}");
    assert_eq!(made.json["prefix"], token[..12]);
    assert_eq!(made.json["name"], "ci");

    // Usable by the very next request.
    let own = api.send(call("GET", "/api/v1/tenants/acme").bearer(&token)).await;
    assert_eq!(own.status, StatusCode::OK, "{own:?}");
    let listed = api.send(call("GET", "/api/v1/tenants/acme/tokens").bearer(&token)).await;
    assert_eq!(listed.status, StatusCode::OK);
    let tokens = listed.json["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0]["id"], token_id.as_str());
    assert_eq!((&tokens[0]["prefix"], &tokens[0]["last_used_at"]), (&made.json["prefix"], &Value::Null));
    assert!(!listed.json.to_string().contains(&token), "the token itself is never shown again");

    for nobody in [None, Some("hlt_not-a-live-token"), Some("a-wrong-operator-token")] {
        let mut request = call("GET", "/api/v1/tenants/acme");
        if let Some(token) = nobody {
            request = request.bearer(token);
        }
        assert_eq!(api.send(request).await.status, StatusCode::UNAUTHORIZED, "{nobody:?}");
    }

    // The tenant revokes its own token: the next request with it is refused.
    let revoked = api.send(call("DELETE", format!("/api/v1/tenants/acme/tokens/{token_id}")).bearer(&token)).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{revoked:?}");
    let refused = api.send(call("GET", "/api/v1/tenants/acme").bearer(&token)).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.header("www-authenticate"), Some("Bearer"));
    let unknown = api.send(call("DELETE", format!("/api/v1/tenants/acme/tokens/{token_id}")).bearer(OPERATOR)).await;
    assert_eq!((unknown.status, unknown.message()), (StatusCode::NOT_FOUND, "Token not found"));
}

#[tokio::test]
async fn on_an_open_api_a_revoked_tenant_token_is_refused_rather_than_made_operator() {
    let api = api().await;
    api.create_tenant("acme", json!({})).await;
    let (token, token_id) = api.make_token(None, "acme").await;
    assert_eq!(api.send(call("GET", "/api/v1/tenants").bearer(&token)).await.json["tenants"][0]["id"], "acme");
    let revoked = api.send(call("DELETE", format!("/api/v1/tenants/acme/tokens/{token_id}"))).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    assert_eq!(api.send(call("GET", "/api/v1/tenants").bearer(&token)).await.status, StatusCode::UNAUTHORIZED);
    // Without a token the open API is the operator's, as in the seed.
    let all = api.send(call("GET", "/api/v1/tenants")).await;
    assert_eq!(all.json["tenants"].as_array().unwrap().len(), 2, "{all:?}");
}

#[tokio::test]
async fn deleting_a_tenant_ends_its_tokens() {
    let api = api().await;
    api.create_tenant("acme", json!({})).await;
    let (token, _) = api.make_token(None, "acme").await;
    assert_eq!(api.send(call("DELETE", "/api/v1/tenants/acme")).await.status, StatusCode::NO_CONTENT);
    assert_eq!(api.send(call("GET", "/api/v1/subscriptions").bearer(&token)).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_tenant_manages_its_own_tokens_but_no_tenants() {
    let api = api().await;
    api.create_tenant("acme", json!({})).await;
    api.create_tenant("globex", json!({})).await;
    let (token, _) = api.make_token(None, "acme").await;
    let (_, globex_token_id) = api.make_token(None, "globex").await;

    for refused in [
        call("POST", "/api/v1/tenants").json(&json!({"name": "Mine"})),
        call("PUT", "/api/v1/tenants/acme").json(&json!({"limits": {"max_subscriptions": 1000000}})),
        call("DELETE", "/api/v1/tenants/acme"),
        call("DELETE", "/api/tenants/globex"),
    ] {
        let answer = api.send(refused.bearer(&token)).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{answer:?}");
        assert_eq!(answer.message(), "Only the operator can create, change or delete tenants");
    }

    let second = api.send(call("POST", "/api/v1/tenants/acme/tokens").bearer(&token)).await;
    assert_eq!(second.status, StatusCode::CREATED);
    let listed = api.send(call("GET", "/api/v1/tenants/acme/tokens").bearer(&token)).await;
    assert_eq!(listed.json["tokens"].as_array().unwrap().len(), 2);

    // Another tenant's tokens do not exist for it.
    for call in [
        call("GET", "/api/v1/tenants/globex/tokens"),
        call("POST", "/api/v1/tenants/globex/tokens"),
        call("DELETE", format!("/api/v1/tenants/globex/tokens/{globex_token_id}")),
    ] {
        let answer = api.send(call.bearer(&token)).await;
        assert_eq!((answer.status, answer.json), (StatusCode::NOT_FOUND, json!({"message": "Tenant not found"})));
    }
    let globex = api.send(call("GET", "/api/v1/tenants/globex/tokens")).await;
    assert_eq!(globex.json["tokens"].as_array().unwrap().len(), 1, "nothing of globex's was revoked");
}

#[tokio::test]
async fn the_subscription_cap_is_the_tenant_s_own_or_the_configured_default() {
    let defaults = TenantDefaults { max_subscriptions: 1, ..TenantDefaults::default() };
    let api = api_with(|config| hookline_api::ApiConfig { tenant_defaults: defaults, ..config }).await;
    api.create_tenant("acme", json!({"max_subscriptions": 2})).await;
    api.create_tenant("globex", json!({})).await;
    let subscribe = |tenant: &str| {
        call("POST", "/api/v1/subscriptions").json(&json!({"tenant_id": tenant, "target_url": "http://127.0.0.1:9/h"}))
    };

    let first = api.send(subscribe("acme")).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(api.send(subscribe("acme")).await.status, StatusCode::CREATED);
    let capped = api.send(subscribe("acme")).await;
    assert_eq!(capped.status, StatusCode::CONFLICT);
    assert_eq!(capped.message(), "Tenant 'acme' has reached its limit of 2 live subscriptions: delete one first");
    let id = first.json["id"].as_str().unwrap();
    assert_eq!(api.send(call("DELETE", format!("/api/v1/subscriptions/{id}"))).await.status, StatusCode::OK);
    assert_eq!(api.send(subscribe("acme")).await.status, StatusCode::CREATED, "room again after a deletion");

    assert_eq!(api.send(subscribe("globex")).await.status, StatusCode::CREATED);
    assert_eq!(api.send(subscribe("globex")).await.status, StatusCode::CONFLICT, "the default cap is 1");
}

#[tokio::test]
async fn a_tenant_that_owns_subscriptions_and_the_default_tenant_are_kept() {
    let api = api().await;
    api.create_tenant("acme", json!({})).await;
    let sub = api.create("/api/v1", json!({"tenant_id": "acme", "target_url": "http://127.0.0.1:9/h"})).await;
    let kept = api.send(call("DELETE", "/api/v1/tenants/acme")).await;
    assert_eq!(kept.status, StatusCode::CONFLICT);
    assert_eq!(kept.message(), "Tenant 'acme' still owns 1 live subscription(s): delete them first");
    let default = api.send(call("DELETE", "/api/v1/tenants/default")).await;
    assert_eq!((default.status, default.message()), (StatusCode::CONFLICT, "The default tenant cannot be deleted"));
    let id = sub["id"].as_str().unwrap();
    assert_eq!(api.send(call("DELETE", format!("/api/v1/subscriptions/{id}"))).await.status, StatusCode::OK);
    assert_eq!(api.send(call("DELETE", "/api/v1/tenants/acme")).await.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_token_s_last_use_is_listed() {
    let api = api().await;
    api.create_tenant("acme", json!({})).await;
    let (used, _) = api.make_token(None, "acme").await;
    let (unused, _) = api.make_token(None, "acme").await;
    let before = chrono::Utc::now();
    assert_eq!(api.send(call("GET", "/api/v1/subscriptions").bearer(&used)).await.status, StatusCode::OK);
    let listed = eventually("the token's use recorded", || async {
        let answer = api.send(call("GET", "/api/v1/tenants/acme/tokens")).await;
        let tokens = answer.json["tokens"].as_array()?.clone();
        tokens.iter().any(|t| t["last_used_at"].is_string()).then_some(tokens)
    })
    .await;
    let last_used = |token: &str| {
        listed.iter().find(|t| token.starts_with(t["prefix"].as_str().unwrap())).unwrap()["last_used_at"].clone()
    };
    let at = chrono::DateTime::parse_from_rfc3339(last_used(&used).as_str().unwrap()).unwrap();
    assert!(at >= before - chrono::TimeDelta::milliseconds(1), "{at} is not after the request at {before}");
    assert_eq!(last_used(&unused), Value::Null);
}
