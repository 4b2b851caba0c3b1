//! Task and attempt records expire after LOG_RETENTION_HOURS.

use std::time::Duration;

use hookline_testkit::process::wait_until;
use hookline_testkit::receiver::Receiver;

use crate::common::{engines, refused, Deployment, Service};

#[tokio::test]
async fn tasks_and_attempts_expire_after_the_retention() {
    let receiver = Receiver::start().await;
    // 0.001 h = 3.6 s.
    let service = Service::start(&[("LOG_RETENTION_HOURS", "0.001"), ("HOOKLINE_PURGE_INTERVAL_SECONDS", "1")]).await;
    let sub = service.subscribe(&receiver.url("/short"), None, None).await;
    let task_id = service.ingest_ok(&sub, "{}", &[]).await;
    let task = service.wait_task(&task_id, "succeeded", Duration::from_secs(10)).await;
    assert_eq!(task["attempts"].as_array().unwrap().len(), 1);
    let (_, attempts) = service.get(&format!("/api/status/subscriptions/{sub}/attempts")).await;
    assert_eq!(attempts.as_array().unwrap().len(), 1);

    let started = std::time::Instant::now();
    wait_until(Duration::from_secs(15), "the task to expire", || async {
        (service.task(&task_id).await.0 == 404).then_some(())
    })
    .await;
    println!("task expired {:.1} s after it succeeded (retention 3.6 s)", started.elapsed().as_secs_f64());
    let (_, attempts) = service.get(&format!("/api/status/subscriptions/{sub}/attempts")).await;
    assert_eq!(attempts.as_array().unwrap().len(), 0, "attempts expire too");
    // The subscription itself does not expire.
    assert_eq!(service.get(&format!("/api/subscriptions/{sub}")).await.0, 200);
}

/// The views point at payloads in the log, so the log must keep them at least as long:
/// a configuration, or a Kafka topic made earlier, that would delete them sooner is
/// refused at start-up, naming what to change.
#[tokio::test]
async fn a_log_that_would_drop_payloads_the_views_point_at_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().to_str().expect("utf-8 path");
    let printed = refused(
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir],
        &[("LOG_RETENTION_HOURS", "2"), ("HOOKLINE_TOPIC_RETENTION_HOURS", "1"), ("KAFKA_BROKERS", "")],
    )
    .await;
    assert!(
        printed.contains("HOOKLINE_TOPIC_RETENTION_HOURS (1) is shorter than LOG_RETENTION_HOURS (2)"),
        "{printed}"
    );

    let Some(engines) = engines("a_log_that_would_drop_payloads_the_views_point_at_is_refused") else { return };
    let one_hour = [("LOG_RETENTION_HOURS", "1"), ("HOOKLINE_TOPIC_RETENTION_HOURS", "1")];
    let deployment = Deployment::new(&engines, &one_hour).await;
    let mut env: Vec<(&str, &str)> = deployment.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.extend([("LOG_RETENTION_HOURS", "2"), ("HOOKLINE_TOPIC_RETENTION_HOURS", "2")]);
    let printed = refused(&["serve", "--listen", "127.0.0.1:0"], &env).await;
    assert!(printed.contains("topic hookline.deliveries keeps records for 1.000 h"), "{printed}");
    assert!(printed.contains("less than the views' 2.000 h"), "{printed}");
}
