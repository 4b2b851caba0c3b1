//! The dashboard in a real headless Chromium against the real binary and real
//! receivers: what a user does there and what they see. Screenshots of each run are
//! left under target/screenshots/.

mod browser;
mod overview;
mod recovery;
mod tenants;

use std::time::Duration;

use hookline_testkit::receiver::{Receiver, Reply, Script};
use serde_json::{json, Value};

use hookline_domain::signature::ingest_signature;

use crate::common::Service;
use browser::{Browser, Page, Window};

/// Deliveries take about a second; a failing task's 4 attempts about 7 s (1 + 2 + 4).
const T: Duration = Duration::from_secs(30);

fn feed_badge(task_id: &str) -> String {
    format!("#feed li[data-task-id='{task_id}'] .badge")
}

/// Opens the dashboard and waits until both the subscriptions and the feed have loaded.
async fn open_dashboard(page: &Page, service: &Service) {
    page.goto(&service.url("/")).await;
    page.wait_text("#subscriptions-title", T, |text| text == "Subscriptions").await;
    wait_loaded(page, "#subscriptions-state").await;
    wait_loaded(page, "#feed-state").await;
}

/// Waits until a state line says something else than "Loading…" (or nothing at all).
async fn wait_loaded(page: &Page, css: &str) {
    hookline_testkit::wait_until(T, &format!("{css} to finish loading"), || async {
        let hidden = page.attr(css, "hidden").await.is_some();
        let text = page.text(css).await.unwrap_or_default();
        (hidden || !text.starts_with("Loading")).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_signed_test_event_sent_from_the_page_is_delivered_as_typed() {
    let Some(browser) = Browser::open("dashboard_signed_event", Window::Desktop).await else { return };
    let receiver = Receiver::start().await;
    let service = Service::start(&[]).await;
    browser
        .run("signed_event", |page| async move {
            open_dashboard(&page, &service).await;
            assert_eq!(page.text("#subscriptions-state").await.unwrap(), "No subscriptions yet: create one above.");

            // Create a subscription with a secret, in the page.
            page.click("#create summary").await;
            page.fill("#create-url", &receiver.url("/hook")).await;
            page.fill("#create-secret", "s3cret-typed-in-the-page").await;
            page.click("#create-form button[type=submit]").await;
            page.wait_text("#create-result", T, |text| text == "Subscription created.").await;
            let sub = page.attr("#subscription-list li", "data-subscription-id").await.expect("a card");
            let (_, stored) = service.get(&format!("/api/subscriptions/{sub}")).await;
            assert_eq!(stored["secret"], "s3cret-typed-in-the-page");
            assert_eq!(stored["target_url"], receiver.url("/hook"));
            let card = page.text("#subscription-list li").await.unwrap();
            assert!(card.contains("enabled") && card.contains(&sub) && card.contains("Copy secret"), "{card}");

            // The JSON editor says at once whether the body is JSON.
            page.fill("#send-body", r#"{"order": "#).await;
            page.wait_text("#send-body-check", T, |text| text.starts_with("Not valid JSON")).await;
            assert_eq!(page.attr("#send-body", "aria-invalid").await.as_deref(), Some("true"));
            // Spacing, key order, a long number and a non-ASCII character: bytes a re-encoding would change.
            let body = r#"{"z": 1,  "order": 12345678901234567890123, "note": "café"}"#;
            page.fill("#send-body", body).await;
            page.wait_text("#send-body-check", T, |text| text.starts_with("Valid JSON")).await;
            page.select("#send-subscription", &sub).await;
            page.fill("#send-event-type", "order.created").await;

            // Unsigned, ingest refuses it, and the page shows the API's answer.
            page.click("#send-sign").await;
            page.click("#send-form button[type=submit]").await;
            page.wait_text("#send-result .http-status", T, |text| text == "401").await;
            let answer = page.text("#send-result").await.unwrap();
            assert!(answer.contains("Signature header missing"), "{answer}");
            assert!(page.attr("#settings", "hidden").await.is_some(), "a signature 401 is not a token problem");

            // Signed in the browser, it is queued.
            page.click("#send-sign").await;
            page.click("#send-form button[type=submit]").await;
            page.wait_text("#send-result .http-status", T, |text| text == "202").await;
            let answer: Value = serde_json::from_str(&page.text("#send-result pre").await.unwrap()).unwrap();
            let task_id = answer["task_id"].as_str().expect("task_id").to_string();

            // The feed shows it succeed; the receiver got exactly the bytes typed.
            page.wait_text(&feed_badge(&task_id), T, |text| text == "succeeded").await;
            let got = receiver.wait_for("/hook", 1, T).await;
            assert_eq!(got[0].body, body.as_bytes(), "the receiver must get the exact bytes typed");
            assert_eq!(got[0].header("x-event-type"), Some("order.created"));
            assert_eq!(got[0].header("webhook-id"), Some(task_id.as_str()));

            // Its detail shows the one attempt; the card shows the success rate and chart.
            page.click(&format!("#feed li[data-task-id='{task_id}'] button")).await;
            let attempt = page.wait_text("#task-timeline li[data-attempt='1']", T, |t| t.contains("success")).await;
            assert!(attempt.contains("HTTP 200"), "{attempt}");
            page.wait_text("#subscription-list .stats .rate", T, |text| text == "100 % success").await;
            assert_eq!(page.count("#subscription-list .stats svg rect.outcome-success").await, 1);
            page.screenshot("desktop-delivered").await;
        })
        .await;
}

#[tokio::test]
async fn a_failed_delivery_shows_its_retries_and_is_retried_from_the_page() {
    let Some(browser) = Browser::open("dashboard_retry_now", Window::Desktop).await else { return };
    let receiver = Receiver::start().await;
    receiver.set("/down", Script::always(Reply::Status(500)));
    let service = Service::start(&[]).await;
    let sub = service.subscribe(&receiver.url("/down"), None, None).await;
    let task_id = service.ingest_ok(&sub, r#"{"n":1}"#, &[("X-Event-Type", "invoice.paid")]).await;
    // More subscriptions than a page holds.
    for n in 0..20 {
        service.subscribe(&receiver.url(&format!("/other/{n}")), None, None).await;
    }
    browser
        .run("retry_now", |page| async move {
            open_dashboard(&page, &service).await;
            assert_eq!(page.count("#subscription-list li").await, 20);
            page.click("#subscriptions-more").await;
            hookline_testkit::wait_until(T, "the second page", || async {
                (page.count("#subscription-list li").await == 21).then_some(())
            })
            .await;
            assert!(page.attr("#subscriptions-more", "hidden").await.is_some(), "no third page");

            // The feed, filtered by status, then not.
            page.wait_text(&feed_badge(&task_id), T, |text| text == "retrying" || text == "pending").await;
            page.select("#feed-status", "succeeded").await;
            page.wait_text("#feed-state", T, |text| text == "No deliveries match these filters.").await;
            assert_eq!(page.count("#feed li").await, 0);
            page.select("#feed-status", "").await;
            page.wait_text(&feed_badge(&task_id), T, |text| text == "retrying" || text == "pending").await;
            page.click(&format!("#feed li[data-task-id='{task_id}'] button")).await;

            // The retries appear in the timeline as they happen, and the task ends failed.
            page.wait_text("#task-timeline li[data-attempt='2']", T, |text| text.contains("HTTP 500")).await;
            page.wait_text("#task-title .badge", T, |text| text == "failed").await;
            assert_eq!(page.count("#task-timeline li.attempt").await, 4);
            let last = page.text("#task-timeline li[data-attempt='4']").await.unwrap();
            assert!(last.contains("permanently failed"), "{last}");
            page.wait_text(&feed_badge(&task_id), T, |text| text == "failed").await;
            page.screenshot("desktop-failed").await;

            // The receiver recovers; "Retry now" delivers it.
            receiver.set("/down", Script::always(Reply::Status(200)));
            page.click("#task-retry").await;
            page.wait_text("#task-retry-result", T, |text| text.contains("attempt 5")).await;
            page.wait_text("#task-title .badge", T, |text| text == "succeeded").await;
            let retried = page.wait_text("#task-timeline li[data-attempt='5']", T, |t| t.contains("success")).await;
            assert!(retried.contains("HTTP 200"), "{retried}");
            assert!(page.attr("#task-retry", "hidden").await.is_some(), "no retry for a task that succeeded");
            page.wait_text(&feed_badge(&task_id), T, |text| text == "succeeded").await;
            assert_eq!(receiver.requests("/down").len(), 5);
        })
        .await;
}

#[tokio::test]
async fn the_page_fits_a_phone_without_horizontal_scrolling() {
    let Some(browser) = Browser::open("dashboard_phone", Window::Phone).await else { return };
    let receiver = Receiver::start().await;
    let service = Service::start(&[]).await;
    // Long URLs and ids are what would push a narrow page sideways.
    let target =
        receiver.url("/a/rather/long/path/that/a/phone/has/to/wrap/somewhere/webhooks?tenant=acme-corporation");
    let sub = service.subscribe(&target, Some("phone-secret"), Some("order.created,order.paid")).await;
    let signature = ingest_signature("phone-secret", b"{}");
    let task_id =
        service.ingest_ok(&sub, "{}", &[("X-Event-Type", "order.created"), ("X-Hub-Signature-256", &signature)]).await;
    // A second tenant with a long name, so that the tenant chooser is there too.
    let tenant = json!({"id": "acme-corporation", "name": "Acme Corporation International Holdings Limited"});
    let created = service.client.post(service.url("/api/v1/tenants")).json(&tenant).send().await.expect("tenant");
    assert_eq!(created.status(), 201);
    let sent = service.client.post(service.url("/api/v1/events")).header("X-Event-Type", "order.paid");
    let sent: Value = sent.json(&json!({"n": 1})).send().await.expect("event").json().await.expect("accepted");
    let event_id = sent["event_id"].as_str().expect("event_id").to_string();
    browser
        .run("phone", |page| async move {
            open_dashboard(&page, &service).await;
            page.select("#tenant", "default").await;
            page.wait_text(&feed_badge(&task_id), T, |text| text == "succeeded").await;
            page.click("#create summary").await;
            page.click(&format!("#feed li[data-task-id='{task_id}'] button")).await;
            page.wait_text("#task-timeline li[data-attempt='1']", T, |text| text.contains("success")).await;
            let row = format!("#events-list li[data-event-id='{event_id}']");
            page.wait_text(&row, T, |text| text.contains("order.paid")).await;
            page.click(&format!("{row} button")).await;
            page.wait_text("#event-tasks .badge", T, |text| text == "succeeded").await;
            page.click("#send-to-tenant").await;
            page.click("#settings-toggle").await;
            assert!(page.attr("#task", "hidden").await.is_none() && page.attr("#event", "hidden").await.is_none());

            assert_fits_a_phone(&page).await;
            page.screenshot("phone").await;
        })
        .await;
}

/// The page is 375 px wide and nothing in it is wider: no sideways scrolling.
async fn assert_fits_a_phone(page: &Page) {
    assert_eq!(page.eval("return window.innerWidth").await, 375);
    let widths = page.eval("return [document.documentElement.scrollWidth, document.documentElement.clientWidth]").await;
    assert!(widths[0].as_u64() <= widths[1].as_u64(), "the page scrolls sideways: {widths}");
    let overflowing = page
        .eval(
            "return [...document.querySelectorAll('body *')]
               .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5)
               .map((e) => `${e.tagName}#${e.id}.${e.className}`)",
        )
        .await;
    assert_eq!(overflowing, Value::Array(vec![]), "elements wider than the phone");
}

/// A subscription as the API answers it to a caller with `token`.
async fn with_token(service: &Service, token: &str, id: &str) -> (u16, Value) {
    let request = service.client.get(service.url(&format!("/api/subscriptions/{id}"))).bearer_auth(token);
    let response = request.send().await.expect("get subscription");
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_page_asks_for_a_token_then_manages_subscriptions_with_it() {
    let Some(browser) = Browser::open("dashboard_token_and_crud", Window::Desktop).await else { return };
    let token = "dashboard-token-0123456789";
    let service = Service::start(&[("HOOKLINE_API_TOKENS", token)]).await;
    browser
        .run("token_and_crud", |page| async move {
            page.goto(&service.url("/")).await;
            // Refused without a token: the settings panel opens and says why.
            page.wait_text("#subscriptions-state", T, |text| text.contains("API token")).await;
            page.wait_text("#token-status", T, |text| text == "The API needs a token: enter it here.").await;
            page.fill("#token", token).await;
            page.click("#token-form button[type=submit]").await;
            page.wait_text("#subscriptions-state", T, |text| text.starts_with("No subscriptions yet")).await;

            // Create with a generated secret, ordered by key.
            page.click("#create summary").await;
            page.fill("#create-url", "https://example.com/hooks/orders").await;
            page.click("#create-generate").await;
            page.click("#create-ordering").await;
            assert_eq!(page.attr("#create-secret", "disabled").await.as_deref(), Some("true"));
            // With delivery settings: an API key header and a fixed bound.
            page.click("#create-form details.delivery-settings summary").await;
            page.fill("#create-headers", "X-Api-Key: k3y-typed").await;
            page.fill("#create-max_in_flight", "8").await;
            page.click("#create-form button[type=submit]").await;
            page.wait_text("#create-result", T, |text| text.contains("generated secret")).await;
            let id = page.attr("#subscription-list li", "data-subscription-id").await.expect("a card");
            let (_, created) = with_token(&service, token, &id).await;
            assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
            assert_eq!(created["ordering"], "key");
            assert_eq!(
                (&created["headers"], &created["max_in_flight"]),
                (&json!({"X-Api-Key": "k3y-typed"}), &json!(8))
            );
            let card = format!("#subscription-list li[data-subscription-id='{id}']");
            let facts = page.text(&format!("{card} .facts")).await.unwrap();
            assert!(facts.contains("headers X-Api-Key") && facts.contains("in flight: at most 8"), "{facts}");
            assert!(!facts.contains("k3y-typed"), "header values stay off the card: {facts}");

            // Edit the settings: a rate limit and a schedule, back to adaptive.
            page.click(&format!("{card} .actions button[aria-expanded]")).await;
            page.click(&format!("{card} form.edit details.delivery-settings summary")).await;
            page.fill(&format!("#edit-{id}-rate_limit_per_second"), "5").await;
            page.fill(&format!("#edit-{id}-retry_schedule"), "production").await;
            page.fill(&format!("#edit-{id}-max_in_flight"), "auto").await;
            page.click(&format!("{card} form.edit button[type=submit]")).await;
            page.wait_text(&format!("{card} .facts"), T, |text| text.contains("at most 5/s")).await;
            let (_, edited) = with_token(&service, token, &id).await;
            assert_eq!(
                (
                    &edited["rate_limit_per_second"],
                    &edited["retry_schedule"],
                    &edited["max_in_flight"],
                    &edited["headers"]
                ),
                (&json!(5), &json!("production"), &json!("auto"), &json!({"X-Api-Key": "k3y-typed"}))
            );

            // Edit: event-type patterns, then disable it by hand.
            page.click(&format!("{card} .actions button[aria-expanded]")).await;
            page.fill(&format!("#edit-event_types-{id}"), "order.created, invoice.*").await;
            page.click(&format!("{card} form.edit button[type=submit]")).await;
            page.wait_text(&format!("{card} .facts"), T, |text| text.contains("order.created, invoice.*")).await;
            page.click(&format!("{card} .actions button[aria-expanded]")).await;
            page.wait_text(&format!("{card} .facts"), T, |text| text.contains("by ordering key")).await;
            page.click(&format!("#edit-enabled-{id}")).await;
            page.click(&format!("#edit-ordering-{id}")).await;
            page.click(&format!("{card} form.edit button[type=submit]")).await;
            page.wait_text(&format!("{card} .state-line"), T, |text| text == "disabled disabled by user").await;
            let (_, after) = with_token(&service, token, &id).await;
            assert_eq!(
                (after["enabled"].as_bool(), &after["event_types"], &after["ordering"]),
                (Some(false), &json!(["order.created", "invoice.*"]), &json!("none"))
            );

            // The token is remembered: a reload needs no asking.
            page.goto(&service.url("/")).await;
            page.wait_text(&format!("{card} .state-line"), T, |text| text.starts_with("disabled")).await;
            assert!(page.attr("#settings", "hidden").await.is_some());

            // Delete, after confirming.
            page.click(&format!("{card} .actions button.danger")).await;
            page.click(&format!("{card} .confirm button.danger")).await;
            page.wait_text("#subscriptions-state", T, |text| text.starts_with("No subscriptions yet")).await;
            assert_eq!(page.count("#subscription-list li").await, 0);
            assert_eq!(with_token(&service, token, &id).await.0, 404);
        })
        .await;
}
