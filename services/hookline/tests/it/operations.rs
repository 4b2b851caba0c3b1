//! `/metrics` and `/ready` on the real binary: every process serves them, whatever
//! its roles, and the counts move when webhooks are ingested and delivered.

use std::time::Duration;

use hookline_testkit::process::wait_until;
use hookline_testkit::receiver::Receiver;
use serde_json::Value;

use crate::common::Service;

/// The value of the sample line starting with `series ` (name and labels as rendered).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn metrics(service: &Service) -> String {
    let response = service.client.get(service.url("/metrics")).send().await.expect("GET /metrics");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    response.text().await.unwrap()
}

async fn wait_for_ready(service: &Service) -> Value {
    wait_until(Duration::from_secs(15), "/ready to answer 200", || async {
        let (status, body) = service.get("/ready").await;
        (status == 200).then_some(body)
    })
    .await
}

#[tokio::test]
async fn every_process_is_ready_and_counts_ingest_and_delivery() {
    let receiver = Receiver::start().await;
    let service = Service::start(&[]).await;

    let ready = wait_for_ready(&service).await;
    assert_eq!(ready["status"], "ready");
    let groups: Vec<&str> =
        ready["consumer_groups"].as_array().unwrap().iter().map(|g| g["group"].as_str().unwrap()).collect();
    // FAST_RETRIES: delays 1 s, 2 s, 4 s, so three retry tiers; and the production
    // preset's, which a subscription may choose.
    for group in [
        "hookline-delivery",
        "hookline-delivery.hookline.retry.1s",
        "hookline-delivery.hookline.retry.4s",
        "hookline-delivery.hookline.retry.300s",
        "hookline-delivery.hookline.retry.36000s",
        "hookline-fanout",
        "hookline-ingest",
        "hookline-projector",
    ] {
        assert!(groups.contains(&group), "{group} missing from {ready}");
    }

    let before = metrics(&service).await;
    for family in [
        "hookline_ingest_requests_total",
        "hookline_delivery_attempts_total",
        "hookline_delivery_attempt_duration_seconds",
        "hookline_delivery_in_flight",
        "hookline_delivery_dead_letters_total",
        "hookline_delivery_dead_letters_by_subscription_total",
        "hookline_delivery_held_records",
        "hookline_delivery_duplicates_skipped_total",
        "hookline_delivery_rate_deferred_total",
        "hookline_delivery_in_flight_limit",
        "hookline_fanout_events_total",
        "hookline_fanout_tasks_total",
        "hookline_consumer_lag_records",
        "hookline_subscription_cache_lookups_total",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
    ] {
        assert!(before.contains(&format!("# TYPE {family} ")), "{family} missing from:\n{before}");
    }

    let sub = service.subscribe(&receiver.url("/ops"), None, None).await;
    service.ingest_ok(&sub, r#"{"n":1}"#, &[]).await;
    receiver.wait_for("/ops", 1, Duration::from_secs(15)).await;
    let text = wait_until(Duration::from_secs(15), "the delivery to be counted", || async {
        let text = metrics(&service).await;
        (sample(&text, r#"hookline_delivery_attempts_total{outcome="success",status_class="2xx"}"#) == Some(1.0))
            .then_some(text)
    })
    .await;
    assert_eq!(sample(&text, r#"hookline_ingest_requests_total{source="rest",outcome="queued"}"#), Some(1.0), "{text}");
    assert_eq!(sample(&text, "hookline_delivery_attempt_duration_seconds_count"), Some(1.0), "{text}");
    // Lag is sampled every 5 s: the delivery group's partitions show up at zero once it is done.
    wait_until(Duration::from_secs(20), "delivery lag sampled", || async {
        let text = metrics(&service).await;
        let series =
            r#"hookline_consumer_lag_records{group="hookline-delivery",topic="hookline.deliveries",partition="#;
        (text.lines().filter(|line| line.starts_with(series) && line.ends_with(" 0")).count() == 2).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_process_without_the_api_serves_health_ready_and_metrics_only() {
    let service = Service::start(&[("HOOKLINE_ROLES", "delivery,projector")]).await;
    let ready = wait_for_ready(&service).await;
    assert_eq!(ready["status"], "ready");
    assert_eq!(service.get("/health").await.0, 200);
    let text = metrics(&service).await;
    assert!(text.contains("# TYPE hookline_delivery_attempts_total counter"), "{text}");
    assert_eq!(service.get("/api/subscriptions").await.0, 404, "no API in this process");
}
