//! One slow or dead receiver must not hold back deliveries to the others.

use std::time::{Duration, Instant};

use hookline_delivery::DeliveryConfig;
use hookline_domain::{Outcome, SubscriptionId};
use hookline_testkit::{Receiver, Reply, Script};

use crate::harness::{fast_config, Node};

/// A receiver whose `/hang` never answers and whose `/healthy` answers at once, and a
/// node holding 8 attempts at a time, 2 per subscription, subscribed to both.
async fn hanging_beside_healthy() -> (Receiver, Node, SubscriptionId, SubscriptionId) {
    let receiver = Receiver::start().await;
    receiver.set("/hang", Script::always(Reply::Hang));
    let config = DeliveryConfig {
        timeout: Duration::from_secs(8),
        max_in_flight: 8,
        max_in_flight_per_subscription: 2,
        ..fast_config()
    };
    let node = Node::start(config).await;
    let hanging = node.subscribe(&receiver.url("/hang"), None).await;
    let healthy = node.subscribe(&receiver.url("/healthy"), None).await;
    (receiver, node, hanging, healthy)
}

#[tokio::test]
async fn a_hanging_receiver_does_not_delay_a_healthy_one() {
    let (receiver, node, hanging, healthy) = hanging_beside_healthy().await;

    // More hanging work than the global bound, queued ahead of the healthy work.
    for _ in 0..12 {
        node.accept(hanging, "{}", None).await;
    }
    receiver.wait_for("/hang", 2, Duration::from_secs(5)).await;

    let started = Instant::now();
    let mut tasks = Vec::new();
    for n in 0..5 {
        tasks.push(node.accept(healthy, &format!(r#"{{"n":{n}}}"#), None).await);
    }
    let requests = receiver.wait_for("/healthy", 5, Duration::from_secs(5)).await;
    let slowest = requests.iter().map(|r| r.at - started).max().expect("five requests");
    assert!(slowest < Duration::from_millis(1500), "healthy deliveries took {slowest:?}");
    for task in &tasks {
        let attempts = node.wait_attempts(task.task_id, 1, Duration::from_secs(5)).await;
        assert_eq!(attempts[0].outcome, Outcome::Success);
        assert!(attempts[0].latency_ms < 1000, "latency {} ms", attempts[0].latency_ms);
    }
    // The hanging receiver still holds only its own two slots.
    assert_eq!(receiver.requests("/hang").len(), 2);
}

/// A backlog for one dead receiver far larger than what a consumer may hold in memory
/// does not stop the consumer reading the records behind it: the dead subscription's
/// overflow waits in the log (shortest tier) instead.
#[tokio::test]
async fn a_flood_for_a_dead_receiver_does_not_stall_the_others() {
    // Each source holds at most 32 records; 200 are queued for the dead receiver first.
    let (receiver, node, hanging, healthy) = hanging_beside_healthy().await;
    for _ in 0..200 {
        node.accept(hanging, "{}", None).await;
    }
    receiver.wait_for("/hang", 2, Duration::from_secs(5)).await;

    let started = Instant::now();
    for n in 0..5 {
        node.accept(healthy, &format!(r#"{{"n":{n}}}"#), None).await;
    }
    let requests = receiver.wait_for("/healthy", 5, Duration::from_secs(5)).await;
    let slowest = requests.iter().map(|r| r.at - started).max().expect("five requests");
    println!("healthy deliveries behind a 200-record flood for a dead receiver: slowest {slowest:?}");
    assert!(slowest < Duration::from_millis(2000), "healthy deliveries took {slowest:?}");
    // No attempt was spent on the deferred ones: only the two running slots reached it.
    assert_eq!(receiver.requests("/hang").len(), 2);
}
