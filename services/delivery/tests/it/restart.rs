//! Shutdown and restart: done work is committed and not repeated, work whose outcome
//! was not durable yet is delivered again (at least once).

use std::time::Duration;

use hookline_delivery::DeliveryConfig;
use hookline_domain::Outcome;
use hookline_testkit::{Receiver, Reply, Script};

use crate::harness::{fast_config, Node};

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_restart_repeats_only_what_was_not_durably_done() {
    let receiver = Receiver::start().await;
    // The first request to /slow never gets an answer: its attempt is still in flight at shutdown.
    receiver.set("/slow", Script::then(vec![Reply::Hang], Reply::Status(200)));
    let config = DeliveryConfig {
        timeout: Duration::from_secs(30),
        shutdown_grace: Duration::from_millis(300),
        // One at a time per subscription, so a repeat of an earlier task would reach the
        // receiver before the marker sent after the restart.
        max_in_flight_per_subscription: 1,
        ..fast_config()
    };
    let mut node = Node::start(config).await;
    let fast = node.subscribe(&receiver.url("/fast"), None).await;
    let slow = node.subscribe(&receiver.url("/slow"), None).await;

    let mut done = Vec::new();
    for n in 0..3 {
        done.push(node.accept(fast, &format!(r#"{{"n":{n}}}"#), None).await);
    }
    for task in &done {
        node.wait_attempts(task.task_id, 1, WAIT).await;
    }
    let interrupted = node.accept(slow, r#"{"slow":true}"#, None).await;
    receiver.wait_for("/slow", 1, WAIT).await;

    node.shut_down().await.expect("clean shutdown");
    assert!(node.attempts(interrupted.task_id).await.is_empty(), "the interrupted attempt left no outcome");

    node.resume();
    let marker = node.accept(fast, r#"{"marker":true}"#, None).await;
    let redelivered = node.wait_attempts(interrupted.task_id, 1, WAIT).await;
    assert_eq!(redelivered[0].outcome, Outcome::Success);
    assert_eq!(redelivered[0].attempt_number, 1);
    let slow_requests = receiver.requests("/slow");
    assert_eq!(slow_requests.len(), 2);
    assert_eq!(slow_requests[0].header("webhook-id"), slow_requests[1].header("webhook-id"));

    node.wait_attempts(marker.task_id, 1, WAIT).await;
    let fast_requests = receiver.requests("/fast");
    assert_eq!(fast_requests.len(), 4, "done tasks must not be delivered again");
    assert_eq!(fast_requests[3].body, br#"{"marker":true}"#);
    for task in &done {
        assert_eq!(node.attempts(task.task_id).await.len(), 1);
    }
    node.shut_down().await.expect("clean shutdown");
}
