//! Recovery in the dashboard: the dead letters of a failing receiver with their error,
//! a subscription disabled by a 410 shown with its reason and enabled again from the
//! page, and replays counted, sent and followed to their end, or cancelled, on a phone.

use hookline_testkit::receiver::{Receiver, Reply, Script};
use hookline_testkit::wait_until;
use serde_json::Value;

use super::browser::{Browser, Page, Window};
use super::{assert_fits_a_phone, open_dashboard, T};
use crate::common::Service;

/// Two attempts in all, one second apart: a task against a failing receiver fails fast.
const TWO_ATTEMPTS: &[(&str, &str)] = &[("MAX_RETRIES", "2")];

fn dead_letter(task_id: &str) -> String {
    format!("#dead-letters-list li[data-task-id='{task_id}']")
}

/// Scrolls `css` to the top of the window, for a screenshot of it.
async fn show(page: &Page, css: &str) {
    page.eval(&format!("document.querySelector(\"{css}\").scrollIntoView(); return null")).await;
}

async fn wait_count(page: &Page, css: &str, n: usize) {
    wait_until(T, &format!("{n} of {css}"), || async { (page.count(css).await == n).then_some(()) }).await;
}

#[tokio::test]
async fn dead_letters_show_their_error_and_a_gone_subscription_is_enabled_again() {
    let Some(browser) = Browser::open("dashboard_dead_letters", Window::Desktop).await else { return };
    let receiver = Receiver::start().await;
    receiver.set("/down", Script::always(Reply::Status(500)));
    receiver.set("/gone", Script::then(vec![Reply::Status(410)], Reply::Status(200)));
    let service = Service::start(TWO_ATTEMPTS).await;
    let down = service.subscribe(&receiver.url("/down"), None, None).await;
    let gone = service.subscribe(&receiver.url("/gone"), None, None).await;
    let first = service.ingest_ok(&down, r#"{"n":1}"#, &[("X-Event-Type", "invoice.paid")]).await;
    let second = service.ingest_ok(&down, r#"{"n":2}"#, &[("X-Event-Type", "invoice.paid")]).await;
    let gone_task = service.ingest_ok(&gone, "{}", &[("X-Event-Type", "order.created")]).await;
    for task in [&first, &second, &gone_task] {
        service.wait_task(task, "failed", T).await;
    }
    // The 410 disabled it; what arrives now is kept for it.
    let reason = wait_until(T, "the 410 to disable the subscription", || async {
        let (_, shown) = service.get(&format!("/api/subscriptions/{gone}")).await;
        shown["disabled_reason"].as_str().map(str::to_string)
    })
    .await;
    let kept = service.ingest_ok(&gone, r#"{"kept":true}"#, &[]).await;
    browser
        .run("dead_letters", |page| async move {
            open_dashboard(&page, &service).await;

            // Every dead letter, newest first, with what went wrong.
            wait_count(&page, "#dead-letters-list li", 3).await;
            let rows = page
                .eval("return [...document.querySelectorAll('#dead-letters-list li')].map((li) => li.dataset.taskId)")
                .await;
            assert_eq!(rows, serde_json::json!([gone_task, second, first]));
            let row = page.text(&dead_letter(&first)).await.unwrap();
            assert!(row.contains("invoice.paid") && row.contains("2 attempts") && row.contains("HTTP 500"), "{row}");
            assert!(row.contains(&receiver.url("/down")), "the subscription is named: {row}");
            let (_, task) = service.task(&first).await;
            assert!(row.contains(task["last_error"].as_str().unwrap()), "the last error: {row}");
            assert!(page.text(&dead_letter(&gone_task)).await.unwrap().contains("HTTP 410"));

            // One subscription's; its card counts them.
            page.select("#dead-letters-subscription", &down).await;
            wait_count(&page, "#dead-letters-list li", 2).await;
            let card = format!("#subscription-list li[data-subscription-id='{down}']");
            page.wait_text(&format!("{card} .dead-letter-count"), T, |t| t == "2 dead letters among these attempts")
                .await;
            // A dead letter opens its task, where it can be retried.
            page.click(&format!("{} button", dead_letter(&second))).await;
            page.wait_text("#task-title .badge", T, |text| text == "failed").await;
            assert!(page.attr("#task-retry", "hidden").await.is_none(), "a failed task can be retried");
            show(&page, "#dead-letters").await;
            page.screenshot("desktop-dead-letters").await;

            // The 410 disabled the other subscription: the panel says why, and enables it again.
            let disabled = format!("#disabled-list li[data-subscription-id='{gone}']");
            let shown = page.wait_text(&disabled, T, |text| text.contains(&reason)).await;
            assert!(reason.starts_with("receiver answered 410 Gone"), "{reason}");
            assert!(shown.contains(&receiver.url("/gone")), "{shown}");
            assert_eq!(page.count("#disabled-list li").await, 1, "only the disabled one");
            show(&page, "#disabled").await;
            page.screenshot("desktop-disabled").await;
            page.click(&format!("{disabled} button.reenable")).await;
            page.wait_text("#disabled-note", T, |text| text.starts_with("Enabled ")).await;
            page.wait_text("#disabled-state", T, |text| text == "No disabled subscriptions.").await;
            let (_, now) = service.get(&format!("/api/subscriptions/{gone}")).await;
            assert_eq!((&now["enabled"], &now["disabled_reason"]), (&Value::Bool(true), &Value::Null));
            // Its card shows it enabled, and what was kept for it is delivered.
            let gone_card = format!("#subscription-list li[data-subscription-id='{gone}']");
            page.wait_text(&format!("{gone_card} .state-line"), T, |text| text == "enabled").await;
            service.wait_task(&kept, "succeeded", T).await;
            assert_eq!(receiver.requests("/gone").len(), 2);
        })
        .await;
}

#[tokio::test]
async fn a_subscription_disabled_meanwhile_is_not_enabled_over_the_change() {
    let Some(browser) = Browser::open("dashboard_reenable_stale", Window::Desktop).await else { return };
    let service = Service::start(&[]).await;
    let body = serde_json::json!({"target_url": "https://example.com/hooks", "enabled": false});
    let id = service.subscription_with(&body).await;
    browser
        .run("reenable_stale", |page| async move {
            open_dashboard(&page, &service).await;
            let disabled = format!("#disabled-list li[data-subscription-id='{id}']");
            page.wait_text(&disabled, T, |text| text.contains("disabled by user")).await;
            // Someone else enables it and disables it again, behind the page's back: the same reason, a later version.
            for change in [serde_json::json!({"enabled": true}), serde_json::json!({"enabled": false})] {
                let url = service.url(&format!("/api/v1/subscriptions/{id}"));
                assert_eq!(service.client.put(url).json(&change).send().await.unwrap().status(), 200);
            }
            page.click(&format!("{disabled} button.reenable")).await;
            page.wait_text(&format!("{disabled} .note"), T, |text| text.contains("changed meanwhile")).await;
            let (_, now) = service.get(&format!("/api/subscriptions/{id}")).await;
            assert_eq!(now["enabled"], false, "the page did not write over a change it had not seen");
            // Shown as it is now, a second click enables it.
            page.click(&format!("{disabled} button.reenable")).await;
            page.wait_text("#disabled-state", T, |text| text == "No disabled subscriptions.").await;
            let (_, now) = service.get(&format!("/api/subscriptions/{id}")).await;
            assert_eq!(now["enabled"], true);
        })
        .await;
}

fn replay_row(id: &str) -> String {
    format!("#replays-list li[data-replay-id='{id}']")
}

/// Counts what the form asks for, sends it, and returns the id of the replay started.
async fn replay_from_the_form(page: &Page, subscription: &str, expected: &str) -> String {
    page.select("#replay-subscription", subscription).await;
    page.click("#replay-form button[type=submit]").await;
    page.wait_text("#replay-count", T, |text| text == expected).await;
    page.click("#replay-send").await;
    page.wait_text("#replay-count", T, |text| text.starts_with("Replay ") && text.contains("started")).await;
    let id = page.attr("#replay-count", "data-replay-id").await.expect("the replay's id");
    let row = replay_row(&id);
    wait_until(T, "the replay listed", || async { (page.count(&row).await == 1).then_some(()) }).await;
    id
}

#[tokio::test]
async fn a_replay_is_counted_sent_and_followed_to_its_end_and_another_cancelled_on_a_phone() {
    let Some(browser) = Browser::open("dashboard_replay", Window::Phone).await else { return };
    let receiver = Receiver::start().await;
    receiver.set("/recovering", Script::always(Reply::Status(500)));
    receiver.set("/down", Script::always(Reply::Status(500)));
    let service = Service::start(TWO_ATTEMPTS).await;
    let recovering = service.subscribe(&receiver.url("/recovering"), None, None).await;
    let down = service.subscribe(&receiver.url("/down"), None, None).await;
    let mut failed = Vec::new();
    for n in 0..2 {
        failed.push(service.ingest_ok(&recovering, &format!(r#"{{"n":{n}}}"#), &[]).await);
    }
    let mut stuck = Vec::new();
    for n in 0..6 {
        stuck.push(service.ingest_ok(&down, &format!(r#"{{"n":{n}}}"#), &[]).await);
    }
    for task in failed.iter().chain(&stuck) {
        service.wait_task(task, "failed", T).await;
    }
    // The receiver is back; a task delivered now is not one the replay sends again.
    receiver.set("/recovering", Script::always(Reply::Status(200)));
    let delivered = service.ingest_ok(&recovering, r#"{"n":"new"}"#, &[]).await;
    service.wait_task(&delivered, "succeeded", T).await;
    browser
        .run("replay", |page| async move {
            open_dashboard(&page, &service).await;
            wait_count(&page, "#dead-letters-list li", 8).await;
            page.wait_text("#replays-state", T, |text| text == "No replays yet.").await;

            // The dry run counts the failed tasks, then the same request is sent for real.
            let replay = replay_from_the_form(&page, &recovering, "2 tasks match.").await;
            let row = replay_row(&replay);
            page.wait_text(&format!("{row} .badge"), T, |text| text == "completed").await;
            let counts = page.text(&format!("{row} .replay-counts")).await.unwrap();
            assert_eq!(counts, "2 matched · 2 queued · 2 delivered · 0 failed");
            assert_eq!(
                page.attr(&format!("{row} svg.progress"), "aria-label").await.as_deref(),
                Some("Progress: 2 matched · 2 queued · 2 delivered · 0 failed")
            );
            for task in &failed {
                service.wait_task(task, "succeeded", T).await;
            }
            // Two attempts each, then one replayed each, then the new one.
            assert_eq!(receiver.requests("/recovering").len(), 2 * 2 + 2 + 1);
            // They are no longer dead letters.
            wait_count(&page, "#dead-letters-list li", 6).await;
            assert_eq!(page.count(&dead_letter(&failed[0])).await, 0);

            // A slow replay is cancelled from its row while it runs.
            page.fill("#replay-rate", "1").await;
            let slow = replay_from_the_form(&page, &down, "6 tasks match.").await;
            let row = replay_row(&slow);
            page.wait_text(&format!("{row} .badge"), T, |text| text == "running").await;
            show(&page, &row).await;
            page.screenshot("phone-replay-running").await;
            page.click(&format!("{row} button.cancel")).await;
            page.wait_text(&format!("{row} .badge"), T, |text| text == "cancelled").await;
            let (_, shown) = service.get(&format!("/api/v1/replays/{slow}")).await;
            assert_eq!(shown["state"], "cancelled");
            assert!(shown["queued"].as_u64().unwrap() < 6, "cancelled before every task was queued: {shown}");
            assert!(page.count(&format!("{row} button.cancel")).await == 0, "an ended replay has no cancel");
            assert_fits_a_phone(&page).await;
            show(&page, "#replays").await;
            page.screenshot("phone-replays").await;
        })
        .await;
}
