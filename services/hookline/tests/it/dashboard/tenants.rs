//! Tenants in the dashboard: an operator chooses a tenant (or all of them), sees only
//! its things and sends it events; a tenant's own token sees only its tenant.

use hookline_testkit::receiver::Receiver;
use hookline_testkit::wait_until;
use reqwest::Method;
use serde_json::{json, Value};

use super::browser::{Browser, Page, Window};
use super::T;
use crate::common::Service;

const OPERATOR: &str = "operator-token-0123456789";

/// The API as one caller sees it.
struct Api<'a> {
    service: &'a Service,
    token: &'a str,
}

impl Api<'_> {
    async fn call(&self, method: Method, path: &str, json: Option<Value>, headers: &[(&str, &str)]) -> (u16, Value) {
        let mut request = self.service.client.request(method, self.service.url(path)).bearer_auth(self.token);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(json) = json {
            request = request.json(&json);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn create_tenant(&self, id: &str, name: &str) {
        let (status, body) =
            self.call(Method::POST, "/api/v1/tenants", Some(json!({"id": id, "name": name})), &[]).await;
        assert_eq!(status, 201, "creating tenant {id}: {body}");
    }

    /// A new token of `tenant`, as its owner would be given it.
    async fn create_token(&self, tenant: &str) -> String {
        let path = format!("/api/v1/tenants/{tenant}/tokens");
        let (status, body) = self.call(Method::POST, &path, Some(json!({"name": "dashboard"})), &[]).await;
        assert_eq!(status, 201, "creating a token of {tenant}: {body}");
        body["token"].as_str().expect("token").to_string()
    }

    async fn subscribe(&self, tenant: &str, target_url: &str, event_types: Value) -> String {
        let body = json!({"tenant_id": tenant, "target_url": target_url, "event_types": event_types});
        let (status, created) = self.call(Method::POST, "/api/v1/subscriptions", Some(body), &[]).await;
        assert_eq!(status, 201, "creating a subscription: {created}");
        created["id"].as_str().expect("id").to_string()
    }
}

/// Opens the dashboard, gives it `token` when it asks for one, and waits until everything has loaded.
async fn sign_in(page: &Page, service: &Service, token: &str) {
    page.goto(&service.url("/")).await;
    page.wait_text("#token-status", T, |text| text == "The API needs a token: enter it here.").await;
    page.fill("#token", token).await;
    page.click("#token-form button[type=submit]").await;
    // Each part loads again with the token: wait until it did, without an error.
    for state in ["#tenant-state", "#subscriptions-state", "#feed-state"] {
        wait_until(T, &format!("{state} to load with the token"), || async {
            let hidden = page.attr(state, "hidden").await.is_some();
            let kind = page.attr(state, "data-kind").await.unwrap_or_default();
            let text = page.text(state).await.unwrap_or_default();
            (hidden || (kind != "error" && !text.starts_with("Loading"))).then_some(())
        })
        .await;
    }
}

async fn wait_count(page: &Page, css: &str, n: usize) {
    wait_until(T, &format!("{n} of {css}"), || async { (page.count(css).await == n).then_some(()) }).await;
}

fn card(id: &str) -> String {
    format!("#subscription-list li[data-subscription-id='{id}']")
}

/// A webhook to subscription `sub`, as its producer sends it; returns the task id.
async fn ingest(api: &Api<'_>, sub: &str, event_type: &str) -> String {
    let path = format!("/api/v1/ingest/{sub}");
    let (status, answer) = api.call(Method::POST, &path, Some(json!({"n": 1})), &[("X-Event-Type", event_type)]).await;
    assert_eq!(status, 202, "ingest answered {answer}");
    answer["task_id"].as_str().expect("task_id").to_string()
}

/// Sends an event from the page to the tenant chosen; returns its id and the ids of the tasks shown.
async fn send_event_from_page(page: &Page, event_type: &str, body: &str) -> (String, Vec<String>) {
    page.click("#send-to-tenant").await;
    page.fill("#send-event-type", event_type).await;
    page.fill("#send-body", body).await;
    page.click("#send-form button[type=submit]").await;
    page.wait_text("#send-result .http-status", T, |text| text == "202").await;
    let event = page.text("#send-result .event-id").await.expect("the event id shown");
    let answer: Value = serde_json::from_str(&page.text("#send-result pre").await.unwrap()).unwrap();
    assert_eq!(answer["event_id"], event.as_str());
    let tasks: Vec<String> =
        answer["task_ids"].as_array().expect("task_ids").iter().map(|id| id.as_str().unwrap().to_string()).collect();
    let made = page.text("#send-result .event-made").await.unwrap();
    let plural = if tasks.len() == 1 { "" } else { "s" };
    assert!(made.starts_with(&format!("Event {event} made {} task{plural}", tasks.len())), "{made}");
    for task in &tasks {
        assert_eq!(page.count(&format!("#send-result li[data-task-id='{task}'] button")).await, 1, "{task} shown");
    }
    (event, tasks)
}

#[tokio::test]
async fn an_operator_chooses_a_tenant_and_sees_only_its_things() {
    let Some(browser) = Browser::open("dashboard_tenant_choice", Window::Desktop).await else { return };
    let receiver = Receiver::start().await;
    let service = &Service::start(&[("HOOKLINE_API_TOKENS", OPERATOR)]).await;
    let operator = Api { service, token: OPERATOR };
    operator.create_tenant("acme", "Acme Corp").await;
    operator.create_tenant("globex", "Globex").await;
    let orders = operator.subscribe("acme", &receiver.url("/acme/orders"), json!(["order.*"])).await;
    let everything = operator.subscribe("acme", &receiver.url("/acme/all"), Value::Null).await;
    let globex = operator.subscribe("globex", &receiver.url("/globex/orders"), json!(["order.*"])).await;
    let delivered = ingest(&operator, &orders, "order.created").await;
    browser
        .run("tenant_choice", |page| async move {
            sign_in(&page, service, OPERATOR).await;

            // All tenants at first: every subscription, each saying whose it is.
            let choices =
                page.eval("return [...document.querySelectorAll('#tenant option')].map((o) => o.value)").await;
            assert_eq!(choices, json!(["", "acme", "default", "globex"]));
            assert!(page.attr("#tenant-own", "hidden").await.is_some(), "an operator chooses");
            wait_count(&page, "#subscription-list li", 3).await;
            let globex_card = page.text(&card(&globex)).await.unwrap();
            assert!(globex_card.contains("Tenant") && globex_card.contains("Globex (globex)"), "{globex_card}");
            let orders_card = page.text(&card(&orders)).await.unwrap();
            assert!(orders_card.contains("Acme Corp (acme)") && orders_card.contains("order.*"), "{orders_card}");
            page.wait_text(&format!("#feed li[data-task-id='{delivered}'] .badge"), T, |t| t == "succeeded").await;

            // Acme: only its subscriptions and deliveries, and new subscriptions go to it.
            page.select("#tenant", "acme").await;
            wait_count(&page, "#subscription-list li", 2).await;
            assert_eq!(page.count(&card(&globex)).await, 0);
            assert!(!page.text(&card(&everything)).await.unwrap().contains("Acme Corp"), "one tenant: none on cards");
            wait_count(&page, "#feed li", 1).await;
            page.click("#create summary").await;
            assert_eq!(page.text("#create-tenant").await.unwrap(), "For tenant Acme Corp (acme).");
            page.fill("#create-url", &receiver.url("/acme/page")).await;
            page.fill("#create-event-types", "order.created, shipment.*").await;
            page.click("#create-form button[type=submit]").await;
            page.wait_text("#create-result", T, |text| text == "Subscription created.").await;
            let created = page.attr("#subscription-list li", "data-subscription-id").await.expect("a card");
            let (_, stored) = operator.call(Method::GET, &format!("/api/v1/subscriptions/{created}"), None, &[]).await;
            assert_eq!(
                (&stored["tenant_id"], &stored["event_types"]),
                (&json!("acme"), &json!(["order.created", "shipment.*"]))
            );
            assert!(page.text(&card(&created)).await.unwrap().contains("order.created, shipment.*"));

            // An event sent to Acme makes a task for each of its subscriptions that want it.
            page.click("#send-to-tenant").await;
            page.wait_text("#send-tenant", T, |text| text == "For tenant Acme Corp (acme).").await;
            assert_eq!(page.text("#send-event-type-label").await.unwrap(), "Event type (required)");
            let (event, tasks) = send_event_from_page(&page, "order.created", r#"{"order": 7}"#).await;
            assert_eq!(tasks.len(), 3, "order.*, every event and order.created; not globex's");
            page.click(&format!("#send-result li[data-task-id='{}'] button", tasks[0])).await;
            page.wait_text("#task-title .badge", T, |text| text == "succeeded").await;
            for path in ["/acme/all", "/acme/page"] {
                let got = receiver.wait_for(path, 1, T).await;
                assert_eq!(
                    (got[0].json().unwrap(), got[0].header("webhook-id")),
                    (json!({"order": 7}), Some(event.as_str()))
                );
            }
            let (_, tasks) = send_event_from_page(&page, "shipment.sent", "{}").await;
            assert_eq!(tasks.len(), 2, "every event and shipment.*");
            page.screenshot("desktop-tenant-acme").await;

            // Globex: only its own, none of Acme's.
            page.select("#tenant", "globex").await;
            wait_count(&page, "#subscription-list li", 1).await;
            assert_eq!(page.count(&card(&globex)).await, 1);
            page.wait_text("#feed-state", T, |text| text == "No deliveries yet.").await;
            assert_eq!(page.count("#feed li").await, 0);
            page.wait_text("#send-tenant", T, |text| text == "For tenant Globex (globex).").await;
            let (_, tasks) = send_event_from_page(&page, "order.shipped", "{}").await;
            assert_eq!(tasks.len(), 1);

            // All tenants again: everything, the new subscription and the events' deliveries too.
            page.select("#tenant", "").await;
            wait_count(&page, "#subscription-list li", 4).await;
            wait_count(&page, "#feed li", 1 + 3 + 2 + 1).await;
        })
        .await;
}

#[tokio::test]
async fn a_tenant_token_shows_only_its_own_tenant() {
    let Some(browser) = Browser::open("dashboard_tenant_token", Window::Desktop).await else { return };
    let receiver = Receiver::start().await;
    let service = &Service::start(&[("HOOKLINE_API_TOKENS", OPERATOR)]).await;
    let operator = Api { service, token: OPERATOR };
    operator.create_tenant("acme", "Acme Corp").await;
    operator.create_tenant("globex", "Globex").await;
    let token = operator.create_token("acme").await;
    let acme = operator.subscribe("acme", &receiver.url("/acme/orders"), json!(["order.*"])).await;
    let globex = operator.subscribe("globex", &receiver.url("/globex/orders"), json!(["order.*"])).await;
    let ours = ingest(&operator, &acme, "order.created").await;
    let theirs = ingest(&operator, &globex, "order.created").await;
    browser
        .run("tenant_token", |page| async move {
            sign_in(&page, service, &token).await;

            // Its own tenant, named; nothing to choose.
            page.wait_text("#tenant-name", T, |text| text == "Acme Corp (acme)").await;
            assert!(page.attr("#tenant-chooser", "hidden").await.is_some(), "a tenant has nothing to choose");
            wait_count(&page, "#subscription-list li", 1).await;
            assert_eq!(page.count(&card(&acme)).await, 1);
            assert!(!page.text(&card(&acme)).await.unwrap().contains("Tenant"), "one tenant: none on cards");
            page.wait_text(&format!("#feed li[data-task-id='{ours}'] .badge"), T, |t| t == "succeeded").await;
            assert_eq!(page.count(&format!("#feed li[data-task-id='{theirs}']")).await, 0);
            let feed = page.text("#feed").await.unwrap();
            assert!(!feed.contains("/globex/"), "{feed}");

            // What it creates is its own.
            page.click("#create summary").await;
            assert_eq!(page.text("#create-tenant").await.unwrap(), "For tenant Acme Corp (acme).");
            page.fill("#create-url", &receiver.url("/acme/page")).await;
            page.fill("#create-event-types", "order.*").await;
            page.click("#create-form button[type=submit]").await;
            page.wait_text("#create-result", T, |text| text == "Subscription created.").await;
            let created = page.attr("#subscription-list li", "data-subscription-id").await.expect("a card");
            let (_, stored) = operator.call(Method::GET, &format!("/api/v1/subscriptions/{created}"), None, &[]).await;
            assert_eq!(stored["tenant_id"], "acme");

            // What it sends goes to its own tenant.
            page.click("#send-to-tenant").await;
            page.wait_text("#send-tenant", T, |text| text == "For tenant Acme Corp (acme).").await;
            let (_, tasks) = send_event_from_page(&page, "order.paid", r#"{"n": 2}"#).await;
            assert_eq!(tasks.len(), 2, "its two subscriptions, not globex's");
            page.screenshot("desktop-tenant-token").await;
        })
        .await;
}
