//! What the role counts on `/metrics`: attempts by outcome and status class, their
//! latency, attempts in flight, dead letters by cause, records held per source.

use std::time::Duration;

use hookline_delivery::DeliveryConfig;
use hookline_domain::{topics, RetryPolicy};
use hookline_log::{EventLog, NewRecord};
use hookline_testkit::{wait_until, Receiver, Reply, Script};

use crate::harness::{fast_config, Node};

const WAIT: Duration = Duration::from_secs(15);

/// The value of the sample line starting with `series ` (name and labels as rendered).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn wait_for_sample(node: &Node, series: &str, value: f64) -> String {
    wait_until(WAIT, &format!("{series} = {value}"), || async {
        let text = node.metrics.render();
        (sample(&text, series) == Some(value)).then_some(text)
    })
    .await
}

#[tokio::test]
async fn attempts_dead_letters_and_latency_are_counted() {
    let receiver = Receiver::start().await;
    receiver.set("/down", Script::always(Reply::Status(503)));
    // Two attempts in all, one second apart, so a failing task is dead-lettered quickly.
    let config = DeliveryConfig { retry: RetryPolicy::exponential(2, 1, 2, 60), ..fast_config() };
    let node = Node::start(config).await;
    let up = node.subscribe(&receiver.url("/up"), None).await;
    let down = node.subscribe(&receiver.url("/down"), None).await;
    node.accept(up, r#"{"n":1}"#, None).await;
    node.accept(down, r#"{"n":2}"#, None).await;
    let garbage = NewRecord {
        topic: topics::DELIVERIES.into(),
        key: b"not-a-task".to_vec(),
        headers: Vec::new(),
        value: b"not json".to_vec(),
    };
    node.log.append(vec![garbage]).await.unwrap();

    wait_for_sample(&node, r#"hookline_delivery_attempts_total{outcome="success",status_class="2xx"}"#, 1.0).await;
    wait_for_sample(&node, r#"hookline_delivery_attempts_total{outcome="failed_attempt",status_class="5xx"}"#, 1.0)
        .await;
    wait_for_sample(&node, r#"hookline_delivery_attempts_total{outcome="permanently_failed",status_class="5xx"}"#, 1.0)
        .await;
    wait_for_sample(&node, r#"hookline_delivery_dead_letters_total{cause="exhausted"}"#, 1.0).await;
    let text = wait_for_sample(&node, r#"hookline_delivery_dead_letters_total{cause="undecodable"}"#, 1.0).await;

    assert_eq!(sample(&text, "hookline_delivery_attempt_duration_seconds_count"), Some(3.0), "{text}");
    assert_eq!(sample(&text, "hookline_delivery_in_flight"), Some(0.0), "{text}");
    assert!(text.contains("# TYPE hookline_delivery_attempt_duration_seconds histogram"), "{text}");
    // Every source shows how many records it holds; nothing is left once all is settled.
    for source in [topics::DELIVERIES, "hookline.retry.1s"] {
        let series = format!(r#"hookline_delivery_held_records{{source="{source}"}}"#);
        wait_for_sample(&node, &series, 0.0).await;
    }
}

#[tokio::test]
async fn a_hanging_receiver_shows_as_in_flight_and_held() {
    let receiver = Receiver::start().await;
    receiver.set("/hang", Script::always(Reply::Hang));
    let node = Node::start(fast_config()).await;
    let sub = node.subscribe(&receiver.url("/hang"), None).await;
    for n in 0..3 {
        node.accept(sub, &format!(r#"{{"n":{n}}}"#), None).await;
    }
    wait_for_sample(&node, "hookline_delivery_in_flight", 3.0).await;
    let series = format!(r#"hookline_delivery_held_records{{source="{}"}}"#, topics::DELIVERIES);
    wait_for_sample(&node, &series, 3.0).await;
}
