//! `/metrics` (Prometheus text format) and `/ready` through `warp::test`, over the
//! real embedded log and views.

use std::sync::Arc;
use std::time::Duration;

use hookline_api::{routes, ApiConfig, ApiDeps, Probes, Readiness};
use hookline_domain::topics;
use hookline_ingest::Ingestor;
use hookline_log::embedded::{EmbeddedLog, EmbeddedOptions};
use hookline_log::{EventLog, TopicSpec};
use hookline_lookup::SubscriptionDirectory;
use hookline_metrics::{ConsumerBook, ObservedLog, Registry};
use hookline_projector::{ProjectorConfig, ProjectorDeps};
use hookline_views::embedded::EmbeddedViews;
use hookline_views::{Retention, ViewStore};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;
use warp::http::StatusCode;

use crate::support::{api, call, eventually};

const BODY: &str = r#"{"n":1}"#;

/// The value of the sample line starting with `series ` (name and labels as rendered).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn rest(outcome: &str) -> String {
    format!(r#"hookline_ingest_requests_total{{source="rest",outcome="{outcome}"}}"#)
}

#[tokio::test]
async fn metrics_are_prometheus_text_and_count_rest_ingest_by_outcome() {
    let api = api().await;
    let id =
        api.create("/api", json!({"target_url": "http://127.0.0.1:9/hook"})).await["id"].as_str().unwrap().to_string();

    let (status, headers, text) = api.send_text(call("GET", "/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    let content_type = headers["content-type"].to_str().unwrap();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    for family in [
        "# TYPE process_resident_memory_bytes gauge",
        "# TYPE process_cpu_seconds_total counter",
        "# TYPE hookline_ingest_requests_total counter",
        "# TYPE hookline_subscription_cache_lookups_total counter",
        "# TYPE hookline_consumer_lag_records gauge",
    ] {
        assert!(text.contains(family), "{family} missing from:\n{text}");
    }
    assert_eq!(sample(&text, &rest("queued")), None, "nothing ingested yet");

    let json_call = |path: String| call("POST", path).header("content-type", "application/json").body(BODY);
    assert_eq!(api.send(json_call(format!("/api/ingest/{id}"))).await.status, StatusCode::ACCEPTED);
    assert_eq!(api.send(json_call(format!("/api/v1/ingest/{id}"))).await.status, StatusCode::ACCEPTED);
    let unknown = uuid::Uuid::now_v7();
    assert_eq!(api.send(json_call(format!("/api/ingest/{unknown}"))).await.status, StatusCode::NOT_FOUND);
    assert_eq!(api.send(json_call("/api/ingest/not-an-id".into())).await.status, StatusCode::BAD_REQUEST);
    let plain = call("POST", format!("/api/ingest/{id}")).header("content-type", "text/plain").body(BODY);
    assert_eq!(api.send(plain).await.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let (_, _, text) = api.send_text(call("GET", "/metrics")).await;
    assert_eq!(sample(&text, &rest("queued")), Some(2.0), "{text}");
    assert_eq!(sample(&text, &rest("unknown_subscription")), Some(1.0), "{text}");
    assert_eq!(sample(&text, &rest("invalid_subscription_id")), Some(1.0), "{text}");
    assert_eq!(sample(&text, &rest("not_json")), Some(1.0), "{text}");
    // Two ingests found the subscription the API had just cached when creating it.
    let hits = sample(&text, r#"hookline_subscription_cache_lookups_total{result="hit"}"#).unwrap();
    assert!(hits >= 2.0, "{text}");

    // The projector's lag on the deliveries topic drops to zero once it has read both tasks.
    let log = api.stack.log.clone();
    eventually("the projector's lag sampled at zero", || async {
        api.stack.lag.sample(log.as_ref()).await;
        let (_, _, text) = api.send_text(call("GET", "/metrics")).await;
        let lags: Vec<f64> = text
            .lines()
            .filter(|l| {
                l.starts_with(r#"hookline_consumer_lag_records{group="hookline-projector",topic="hookline.deliveries""#)
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
            .collect();
        (lags.len() == 4 && lags.iter().all(|lag| *lag == 0.0)).then_some(())
    })
    .await;
}

/// An API over `log` and fresh views, whose readiness waits for the projector's group.
fn api_over(dir: &TempDir, log: Arc<dyn EventLog>, consumers: Arc<ConsumerBook>) -> (ApiDeps, Arc<dyn ViewStore>) {
    let views: Arc<dyn ViewStore> =
        EmbeddedViews::open(&dir.path().join("views.redb"), Retention { ttl: Duration::from_secs(3600) }).unwrap();
    consumers.expect(&ProjectorConfig::default().group);
    let directory = Arc::new(SubscriptionDirectory::new(views.clone(), 100, Duration::from_secs(60)));
    let ingestor = Arc::new(Ingestor::new(log.clone(), directory.clone(), views.clone(), 1024));
    let readiness = Arc::new(Readiness::new(log.clone(), views.clone(), consumers));
    let probes = Probes { registry: Registry::new(), readiness };
    // Readiness is all these tests look at: the routing directory is never followed.
    let routing = Arc::new(hookline_routing::Directory::new());
    let events = Arc::new(hookline_ingest::EventIntake::new(log.clone(), routing.clone(), views.clone(), 1024));
    let overview = Arc::new(hookline_overview::Overview::new(Default::default(), routing.clone()));
    (ApiDeps { log, views: views.clone(), directory, routing, ingestor, events, probes, overview }, views)
}

async fn ready(deps: &ApiDeps) -> (StatusCode, Value) {
    let response = warp::test::request().path("/ready").reply(&routes(ApiConfig::default(), deps.clone())).await;
    (response.status(), serde_json::from_slice(response.body()).unwrap())
}

#[tokio::test]
async fn ready_only_while_the_projector_consumes() {
    let dir = TempDir::new().unwrap();
    let raw: Arc<dyn EventLog> = EmbeddedLog::open(&dir.path().join("log"), EmbeddedOptions::default()).unwrap();
    let specs: Vec<TopicSpec> = hookline_projector::topics()
        .into_iter()
        .map(|name| TopicSpec { name, partitions: 2, retention: None })
        .collect();
    raw.ensure_topics(&specs).await.unwrap();
    let consumers = ConsumerBook::new();
    let log = ObservedLog::wrap(raw, consumers.clone());
    let (deps, views) = api_over(&dir, log.clone(), consumers);

    let (status, body) = ready(&deps).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body, json!({"status": "not ready", "problems": ["consumer group hookline-projector is not running"]}));

    let shutdown = CancellationToken::new();
    let projector = tokio::spawn(hookline_projector::run(
        ProjectorConfig::default(),
        ProjectorDeps { log, views, metrics: Registry::new() },
        shutdown.clone(),
    ));
    let body = eventually("ready once the projector consumes", || async {
        let (status, body) = ready(&deps).await;
        (status == StatusCode::OK).then_some(body)
    })
    .await;
    let partitions = specs.len() * 2;
    assert_eq!(
        body,
        json!({"status": "ready", "consumer_groups": [{"group": "hookline-projector", "partitions": partitions}]})
    );

    shutdown.cancel();
    projector.await.unwrap().unwrap();
    let (status, body) = ready(&deps).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "a stopped projector is not ready: {body}");
}

#[tokio::test]
async fn a_log_without_topics_is_not_ready() {
    let dir = TempDir::new().unwrap();
    // Like a shared log nobody ran `hookline migrate` on.
    let log: Arc<dyn EventLog> = EmbeddedLog::open(&dir.path().join("log"), EmbeddedOptions::default()).unwrap();
    let (deps, _) = api_over(&dir, log, ConsumerBook::new());
    let (status, body) = ready(&deps).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let problems = body["problems"].as_array().unwrap();
    assert_eq!(problems[0], format!("log: topic {} does not exist", topics::SUBSCRIPTIONS));
    assert_eq!(problems.len(), 2, "the projector is not running either: {body}");
}
