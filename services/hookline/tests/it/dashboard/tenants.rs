//! Tenants in the dashboard: an operator chooses a tenant (or all of them), sees only
//! its things, sends it events and follows them to their deliveries; a tenant's own
//! token sees only its tenant.

use hookline_testkit::receiver::{Receiver, Reply, Script};
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
    for state in ["#tenant-state", "#subscriptions-state", "#feed-state", "#events-state"] {
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

/// An event sent to `tenant` by its producer; returns its id.
async fn send_event(api: &Api<'_>, tenant: &str, event_type: &str, payload: Value) -> String {
    let path = format!("/api/v1/events?tenant_id={tenant}");
    let (status, answer) = api.call(Method::POST, &path, Some(payload), &[("X-Event-Type", event_type)]).await;
    assert_eq!(status, 202, "sending an event: {answer}");
    answer["event_id"].as_str().expect("event_id").to_string()
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

            // The choice is in the address: a reload shows the same tenant.
            page.reload().await;
            wait_count(&page, "#subscription-list li", 3).await;
            assert_eq!(page.eval("return document.getElementById('tenant').value").await, "acme");

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
async fn the_events_panel_follows_an_event_sent_from_the_page_to_its_deliveries() {
    let Some(browser) = Browser::open("dashboard_tenant_events", Window::Desktop).await else { return };
    let receiver = Receiver::start().await;
    let service = &Service::start(&[("HOOKLINE_API_TOKENS", OPERATOR)]).await;
    let operator = Api { service, token: OPERATOR };
    operator.create_tenant("acme", "Acme Corp").await;
    operator.create_tenant("globex", "Globex").await;
    operator.subscribe("acme", &receiver.url("/acme/orders"), json!(["order.*"])).await;
    operator.subscribe("acme", &receiver.url("/acme/all"), Value::Null).await;
    operator.subscribe("acme", &receiver.url("/acme/invoices"), json!(["invoice.paid"])).await;
    operator.subscribe("globex", &receiver.url("/globex/orders"), json!(["order.*"])).await;
    let shipped = send_event(&operator, "globex", "order.shipped", json!({"n": 0})).await;
    // Down at first, so that one task of the event is seen moving on while its row has the focus.
    receiver.set("/acme/all", Script::always(Reply::Status(500)));
    browser
        .run("tenant_events", |page| async move {
            sign_in(&page, service, OPERATOR).await;
            page.select("#tenant", "acme").await;
            page.wait_text("#events-state", T, |text| text == "No events yet.").await;

            // Sent from the page, the event is listed with its tasks, newest first.
            let (event, tasks) = send_event_from_page(&page, "order.created", r#"{"order": 7}"#).await;
            assert_eq!(tasks.len(), 2, "order.* and every event, not invoice.paid");
            let row = format!("#events-list li[data-event-id='{event}']");
            page.wait_text(&row, T, |text| text.contains("order.created") && text.contains("2 tasks")).await;
            assert_eq!(page.count("#events-list li").await, 1, "only Acme's events");

            // Opened, it shows its payload and its tasks, which succeed.
            page.click(&format!("{row} button")).await;
            page.wait_text("#event-title", T, |text| text == "Event order.created").await;
            let payload = page.wait_text("#event-payload", T, |text| !text.is_empty()).await;
            assert_eq!(serde_json::from_str::<Value>(&payload).unwrap(), json!({"order": 7}));
            wait_count(&page, "#event-tasks li", 2).await;
            let retrying = page
                .eval("return [...document.querySelectorAll('#event-tasks li')].find((li) => li.textContent.includes('/acme/all')).dataset.taskId")
                .await;
            let retrying = retrying.as_str().expect("the task of /acme/all").to_string();
            let badge = |task: &str| format!("#event-tasks li[data-task-id='{task}'] .badge");
            page.wait_text(&badge(&retrying), T, |text| text == "retrying").await;
            page.eval(&format!("document.querySelector(\"#event-tasks li[data-task-id='{retrying}'] button\").focus()")).await;
            receiver.set("/acme/all", Script::always(Reply::Status(200)));
            for task in &tasks {
                page.wait_text(&badge(task), T, |text| text == "succeeded").await;
            }
            let focused = page.eval("return document.activeElement.closest('#event-tasks li')?.dataset.taskId").await;
            assert_eq!(focused.as_str(), Some(retrying.as_str()), "the focus stays on the task as it changes");
            let listed = page.text("#event-tasks").await.unwrap();
            assert!(listed.contains(&receiver.url("/acme/orders")) && listed.contains(&receiver.url("/acme/all")));
            for path in ["/acme/orders", "/acme/all"] {
                assert_eq!(receiver.wait_for(path, 1, T).await[0].json().unwrap(), json!({"order": 7}));
            }
            assert!(receiver.requests("/acme/invoices").is_empty());

            // One of its tasks opens in the task panel.
            page.click(&format!("#event-tasks li[data-task-id='{}'] button", tasks[0])).await;
            page.wait_text("#task-title .badge", T, |text| text == "succeeded").await;
            page.wait_text("#task-timeline li[data-attempt='1']", T, |text| text.contains("HTTP 200")).await;
            page.screenshot("desktop-tenant-event").await;

            // Globex's events: more than a page, the oldest after "load older"; then by type.
            page.select("#tenant", "globex").await;
            assert!(page.attr("#event", "hidden").await.is_some(), "Acme's event is closed");
            assert!(page.attr("#task", "hidden").await.is_some(), "Acme's task is closed");
            page.wait_text(&format!("#events-list li[data-event-id='{shipped}']"), T, |t| t.contains("1 task")).await;
            for n in 1..=25 {
                send_event(&operator, "globex", "order.paid", json!({"n": n})).await;
            }
            wait_count(&page, "#events-list li", 25).await;
            assert_eq!(page.count(&format!("#events-list li[data-event-id='{shipped}']")).await, 0);
            page.click("#events-older").await;
            wait_count(&page, "#events-list li", 26).await;
            let last = page.attr("#events-list li:last-child", "data-event-id").await;
            assert_eq!(last.as_deref(), Some(shipped.as_str()), "newest first");
            page.fill("#events-type", "order.shipped").await;
            page.click("#events-filter button[type=submit]").await;
            wait_count(&page, "#events-list li", 1).await;

            // All tenants: the API lists one tenant's events at a time, so the panel asks for one.
            page.select("#tenant", "").await;
            page.wait_text("#events-state", T, |text| text == "Choose a tenant above to see its events.").await;
            assert_eq!(page.count("#events-list li").await, 0);
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
    let our_event = send_event(&operator, "acme", "order.paid", json!({"n": 1})).await;
    let their_event = send_event(&operator, "globex", "order.paid", json!({"n": 1})).await;
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
            page.wait_text(&format!("#events-list li[data-event-id='{our_event}']"), T, |t| t.contains("1 task")).await;
            assert_eq!(page.count(&format!("#events-list li[data-event-id='{their_event}']")).await, 0);
            assert_eq!(page.count("#events-list li").await, 1);

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
