//! A 202 means durable: `kill -9` under load loses no accepted task, and a graceful
//! SIGTERM loses nothing either.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use hookline_testkit::receiver::Receiver;
use tokio::sync::Mutex;

use crate::common::{client, Service};

/// The task ids that got a 202 so far.
type Accepted = Arc<Mutex<Vec<String>>>;

/// Fires `count` webhooks from `concurrency` tasks; returns the task ids that got a 202
/// (also kept in `accepted` as they come). Requests that fail because the service died
/// are simply not counted as accepted.
async fn fire(base: String, sub: String, count: usize, concurrency: usize, accepted: Accepted) -> Vec<String> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (base, sub, accepted, next) = (base.clone(), sub.clone(), accepted.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let client = client();
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= count {
                    return;
                }
                let sent = client
                    .post(format!("{base}/api/ingest/{sub}"))
                    .header("content-type", "application/json")
                    .body(format!(r#"{{"n":{n}}}"#))
                    .send()
                    .await;
                let Ok(resp) = sent else { return };
                if resp.status() == 202 {
                    let Ok(answer) = resp.json::<serde_json::Value>().await else { return };
                    accepted.lock().await.push(answer["task_id"].as_str().unwrap().to_string());
                }
            }
        }));
    }
    for w in workers {
        let _ = w.await;
    }
    let ids = accepted.lock().await.clone();
    ids
}

fn delivered_ids(receiver: &Receiver, path: &str) -> (HashSet<String>, usize) {
    let requests = receiver.requests(path);
    let total = requests.len();
    (requests.iter().filter_map(|r| r.header("webhook-id").map(str::to_string)).collect(), total)
}

#[tokio::test]
async fn kill_9_under_load_loses_no_accepted_task() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut service = Service::start_in(dir.path(), &[]).await;
    let sub = service.subscribe(&receiver.url("/load"), None, None).await;

    let accepted = Accepted::default();
    let load = tokio::spawn(fire(service.url(""), sub.clone(), 3000, 32, accepted.clone()));
    // Kill the service while requests and deliveries are in full flow.
    hookline_testkit::process::wait_until(
        Duration::from_secs(30),
        "acceptances and deliveries before the kill",
        || async { (accepted.lock().await.len() >= 1000 && receiver.requests("/load").len() >= 500).then_some(()) },
    )
    .await;
    service.process.kill9();
    let accepted = load.await.unwrap();

    let service = Service::start_in(dir.path(), &[]).await;
    let want: HashSet<String> = accepted.iter().cloned().collect();
    hookline_testkit::process::wait_until(Duration::from_secs(60), "every accepted task delivered", || async {
        let (got, _) = delivered_ids(&receiver, "/load");
        want.is_subset(&got).then_some(())
    })
    .await;
    let (got, total) = delivered_ids(&receiver, "/load");
    println!(
        "kill -9 under load: {} accepted, {} distinct delivered, {} deliveries in all ({} repeated after the crash)",
        want.len(),
        got.len(),
        total,
        total - got.len()
    );
    // Every accepted task also ends up succeeded in the views.
    for task_id in accepted.iter().take(50) {
        service.wait_task(task_id, "succeeded", Duration::from_secs(30)).await;
    }
}

#[tokio::test]
async fn sigterm_finishes_in_flight_work_and_loses_nothing() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut service = Service::start_in(dir.path(), &[]).await;
    let sub = service.subscribe(&receiver.url("/term"), None, None).await;
    let accepted = fire(service.url(""), sub.clone(), 500, 16, Accepted::default()).await;
    assert_eq!(accepted.len(), 500);
    let status = service.process.terminate(Duration::from_secs(30)).await;
    assert!(status.success(), "graceful shutdown exits 0, got {status:?}");

    let _service = Service::start_in(dir.path(), &[]).await;
    let want: HashSet<String> = accepted.into_iter().collect();
    hookline_testkit::process::wait_until(Duration::from_secs(30), "every accepted task delivered", || async {
        let (got, _) = delivered_ids(&receiver, "/term");
        want.is_subset(&got).then_some(())
    })
    .await;
    let (got, total) = delivered_ids(&receiver, "/term");
    assert_eq!(got.len(), want.len());
    println!("sigterm: {} accepted, {} deliveries ({} repeated)", want.len(), total, total - got.len());
}
