//! Task and attempt records expire after LOG_RETENTION_HOURS.

use std::time::Duration;

use hookline_testkit::process::wait_until;
use hookline_testkit::receiver::Receiver;

use crate::common::Service;

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
