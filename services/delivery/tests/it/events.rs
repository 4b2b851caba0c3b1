//! Tasks that deliver an event sent to a tenant: one `webhook-id` for all of them, and
//! one attempt for a task appended twice.

use std::time::Duration;

use chrono::Utc;
use hookline_domain::signature::verify_standard_webhooks;
use hookline_domain::{EventAccepted, EventId, TenantId};
use hookline_testkit::{wait_until, Receiver};
use serde_json::value::RawValue;

use crate::harness::{fast_config, Node};

const WAIT: Duration = Duration::from_secs(10);

fn event(subscriptions: Vec<hookline_domain::SubscriptionId>) -> EventAccepted {
    EventAccepted {
        event_id: EventId::new(),
        tenant_id: TenantId::parse("acme").expect("a tenant id"),
        event_type: "order.created".into(),
        accepted_at: Utc::now(),
        idempotency_key: None,
        subscriptions,
        payload: RawValue::from_string(r#"{"order":42}"#.into()).expect("JSON"),
        ordering_key: None,
        trace: None,
    }
}

#[tokio::test]
async fn every_delivery_of_one_event_carries_the_event_id_signed() {
    let receiver = Receiver::start().await;
    let node = Node::start(fast_config()).await;
    let (secret_a, secret_b) = ("whsec_first-subscription-secret", "whsec_second-subscription-secret");
    let a = node.subscribe(&receiver.url("/a"), Some(secret_a)).await;
    let b = node.subscribe(&receiver.url("/b"), Some(secret_b)).await;
    let event = event(vec![a, b]);
    for subscription in [a, b] {
        node.append_task(&event.task_for(subscription)).await;
    }

    let event_id = event.event_id.to_string();
    for (path, secret) in [("/a", secret_a), ("/b", secret_b)] {
        let request = receiver.wait_for(path, 1, WAIT).await.remove(0);
        assert_eq!(request.header("webhook-id"), Some(event_id.as_str()), "{path}");
        let timestamp: i64 = request.header("webhook-timestamp").expect("timestamp").parse().expect("unix seconds");
        let signature = request.header("webhook-signature").expect("signed");
        assert!(verify_standard_webhooks(secret, &event_id, timestamp, &request.body, signature), "{path}");
    }
    // Each subscription's task is still its own task, attempted under its own id.
    for task in [event.task_for(a), event.task_for(b)] {
        assert_eq!(node.wait_attempts(task.task_id, 1, WAIT).await.len(), 1);
    }
}

#[tokio::test]
async fn a_task_appended_twice_is_attempted_once() {
    let receiver = Receiver::start().await;
    // One attempt at a time per subscription, in order: once the later task is recorded,
    // a second attempt of the copy would have been made before it.
    let node =
        Node::start(hookline_delivery::DeliveryConfig { max_in_flight_per_subscription: 1, ..fast_config() }).await;
    let subscription = node.subscribe(&receiver.url("/hook"), None).await;
    let event = event(vec![subscription]);
    let task = event.task_for(subscription);
    node.append_task(&task).await;
    node.append_task(&task).await;
    let later = node.accept(subscription, "{}", None).await;

    node.wait_attempts(later.task_id, 1, WAIT).await;
    wait_until(WAIT, "the copy counted as skipped", || async {
        node.metrics.render().contains("hookline_delivery_duplicates_skipped_total 1\n").then_some(())
    })
    .await;
    assert_eq!(node.attempts(task.task_id).await.len(), 1);
    assert_eq!(receiver.requests("/hook").len(), 2, "the task once, the later task once");
}
