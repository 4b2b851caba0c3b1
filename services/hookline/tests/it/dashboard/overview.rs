//! The overview the page opens on, in a real browser, after real traffic: rates that
//! are not zero, the subscription failing most, the one a 410 disabled with its reason,
//! charts drawn as SVG; and on a phone, nothing wider than the screen.

use hookline_testkit::receiver::{Receiver, Reply, Script};
use serde_json::Value;

use super::browser::{Browser, Page, Window};
use super::T;
use crate::common::Service;

/// Two subscriptions that deliver, one that fails every attempt, one whose receiver is
/// gone (410: disabled at once); returns (the failing one, the gone one).
async fn traffic(service: &Service, receiver: &Receiver) -> (String, String) {
    receiver.set("/down", Script::always(Reply::Status(503)));
    receiver.set("/gone", Script::always(Reply::Status(410)));
    let ok = service.subscribe(&receiver.url("/ok"), None, None).await;
    let down = service.subscribe(&receiver.url("/down"), None, None).await;
    let gone = service.subscribe(&receiver.url("/gone"), None, None).await;
    for n in 0..6 {
        service.ingest_ok(&ok, &format!(r#"{{"n":{n}}}"#), &[]).await;
    }
    for n in 0..3 {
        service.ingest_ok(&down, &format!(r#"{{"n":{n}}}"#), &[]).await;
    }
    service.ingest_ok(&gone, "{}", &[]).await;
    (down, gone)
}

/// Waits until the overview's figure `name` shows a rate that is not zero.
async fn wait_rate(page: &Page, name: &str) -> String {
    page.wait_text(&format!("#overview-figures dd[data-figure='{name}']"), T, |text| {
        text.ends_with("/s") && text.trim_end_matches("/s").parse::<f64>().is_ok_and(|rate| rate > 0.0)
    })
    .await
}

#[tokio::test]
async fn the_page_opens_on_an_overview_of_rates_failures_and_disabled_subscriptions() {
    let Some(browser) = Browser::open("dashboard_overview", Window::Desktop).await else { return };
    let receiver = Receiver::start().await;
    let service = Service::start(&[]).await;
    let (down, gone) = traffic(&service, &receiver).await;
    browser
        .run("overview", |page| async move {
            page.goto(&service.url("/")).await;
            // The overview comes first on the page.
            let first = page.eval("return document.querySelector('main > section').id").await;
            assert_eq!(first, Value::from("overview"));
            let accepted = wait_rate(&page, "accepted").await;
            let delivered = wait_rate(&page, "delivered").await;
            let failed = wait_rate(&page, "failed").await;
            println!("overview rates: accepted {accepted}, delivered {delivered}, failed {failed}");

            let failing = format!("#overview-failing li[data-subscription-id='{down}']");
            let row = page.wait_text(&failing, T, |text| text.contains("failed of")).await;
            assert!(row.contains("HTTP 503"), "{row}");
            assert_eq!(
                page.attr("#overview-failing li", "data-subscription-id").await.as_deref(),
                Some(down.as_str()),
                "the subscription failing most comes first"
            );
            let disabled = format!("#overview-disabled li[data-subscription-id='{gone}']");
            let row = page.wait_text(&disabled, T, |text| text.contains("410")).await;
            assert!(row.contains(&receiver.url("/gone")), "{row}");

            // Drawn by the page: one line (once two intervals closed) or dot per kind of
            // rate and latency.
            hookline_testkit::wait_until(T, "a line of deliveries", || async {
                (page.count("#overview-rates svg polyline.line-delivered").await >= 1).then_some(())
            })
            .await;
            for line in ["line-accepted", "line-delivered", "line-failed"] {
                assert!(page.count(&format!("#overview-rates svg .{line}")).await >= 1, "no {line}");
            }
            assert!(page.count("#overview-latency svg .line-attempt").await >= 1, "no attempt latency");
            assert!(page.count("#overview-latency svg .line-e2e").await >= 1, "no end-to-end latency");
            let backlog = page.text("#overview-backlog").await.unwrap_or_default();
            assert!(backlog.contains("first attempts") && backlog.contains("retry 1 s"), "{backlog}");
            page.wait_text("#overview-figures dd[data-figure='dead-letters']", T, |text| text != "0").await;
            page.screenshot("overview-desktop").await;
        })
        .await;
}

#[tokio::test]
async fn the_overview_fits_a_phone() {
    let Some(browser) = Browser::open("dashboard_overview_phone", Window::Phone).await else { return };
    let receiver = Receiver::start().await;
    let service = Service::start(&[]).await;
    let (down, _) = traffic(&service, &receiver).await;
    browser
        .run("overview_phone", |page| async move {
            page.goto(&service.url("/")).await;
            wait_rate(&page, "delivered").await;
            page.wait_text(&format!("#overview-failing li[data-subscription-id='{down}']"), T, |t| !t.is_empty()).await;
            let overflowing = page
                .eval(
                    "return [...document.querySelectorAll('#overview *')]
                       .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5)
                       .map((e) => `${e.tagName}#${e.id}.${e.getAttribute('class')}`)",
                )
                .await;
            assert_eq!(overflowing, Value::Array(vec![]), "parts of the overview wider than the phone");
            let chart =
                page.eval("return document.querySelector('#overview-rates svg').getBoundingClientRect().width").await;
            assert!(chart.as_f64().is_some_and(|width| width > 250.0 && width <= 375.0), "chart {chart}");
            page.screenshot("overview-phone").await;
        })
        .await;
}
