//! Disabled subscriptions: 410 Gone disables at once, a sustained failure disables
//! after its period and attempts, and tasks that come due while a subscription is
//! disabled are kept — not attempted — and delivered once it is enabled again, or
//! ended when they pass the retention.

use std::time::Duration;

use hookline_delivery::{DeliveryConfig, DisablePolicy, DISABLED_PAST_RETENTION};
use hookline_domain::{topics, Outcome, RetryPolicy, RetryScheduled, SubscriptionEvent};
use hookline_testkit::{wait_until, Receiver, Reply, Script};

use crate::harness::{fast_config, Node};

const WAIT: Duration = Duration::from_secs(20);
/// The longest tier of [`fast_config`]: where tasks of a disabled subscription wait.
const LONGEST_TIER: &str = "hookline.retry.4s";

/// The RetryScheduled records of a tier.
async fn scheduled(node: &Node, tier: &str) -> Vec<RetryScheduled> {
    node.read_all(tier).await.iter().map(|record| serde_json::from_slice(&record.value).expect("decodes")).collect()
}

#[tokio::test]
async fn gone_disables_the_subscription_and_tasks_wait_until_it_is_enabled() {
    let receiver = Receiver::start().await;
    receiver.set("/gone", Script::then(vec![Reply::Status(410)], Reply::Status(200)));
    let node = Node::start(fast_config()).await;
    let sub = node.subscribe(&receiver.url("/gone"), None).await;
    let first = node.accept(sub, "{}", None).await;

    let attempts = node.wait_attempts(first.task_id, 1, WAIT).await;
    assert_eq!(attempts[0].outcome, Outcome::PermanentlyFailed);
    let disabled = node.wait_disabled(sub, WAIT).await;
    let reason = disabled.disabled_reason.expect("a reason");
    assert!(reason.starts_with("receiver answered 410 Gone at "), "{reason}");
    // The change is in the log for every other instance and the views.
    let changes = node.read_all(topics::SUBSCRIPTIONS).await;
    assert_eq!(changes.len(), 1);
    match serde_json::from_slice::<SubscriptionEvent>(&changes[0].value).expect("decodes") {
        SubscriptionEvent::SubscriptionUpdated { subscription } => {
            assert!(!subscription.enabled);
            assert_eq!(subscription.disabled_reason.as_deref(), Some(reason.as_str()));
        }
        other => panic!("expected SubscriptionUpdated, got {other:?}"),
    }
    // Its decision, in the same append: the operational event, naming the change.
    let decisions = node.read_all(topics::OPERATIONAL).await;
    assert_eq!(decisions.len(), 1);
    let decision: serde_json::Value = serde_json::from_slice(&decisions[0].value).expect("decodes");
    assert_eq!(decision["type"], "hookline.subscription.disabled");
    assert_eq!(
        (decision["data"]["cause"].as_str(), decision["data"]["reason"].as_str()),
        (Some("gone"), Some(reason.as_str()))
    );
    let change: SubscriptionEvent = serde_json::from_slice(&changes[0].value).unwrap();
    assert_eq!(hookline_records::decided_by(&decisions[0]), Some((change.version(), change.write_id().unwrap())));

    // Tasks accepted while disabled are parked in the longest tier, not attempted.
    let kept = [node.accept(sub, r#"{"n":1}"#, None).await, node.accept(sub, r#"{"n":2}"#, None).await];
    wait_until(WAIT, "both tasks parked", || async {
        let parked = scheduled(&node, LONGEST_TIER).await;
        kept.iter().all(|task| parked.iter().any(|p| p.task.task_id == task.task_id && p.attempt == 1)).then_some(())
    })
    .await;
    assert_eq!(receiver.requests("/gone").len(), 1, "nothing is sent while disabled");
    for task in &kept {
        assert!(node.attempts(task.task_id).await.is_empty(), "a parked task is not an attempt");
    }

    node.set_enabled(sub, true).await;
    let requests = receiver.wait_for("/gone", 3, WAIT).await;
    assert_eq!(requests.len(), 3);
    for task in &kept {
        let attempts = node.wait_attempts(task.task_id, 1, WAIT).await;
        assert_eq!((attempts[0].attempt_number, attempts[0].outcome), (1, Outcome::Success));
    }
}

#[tokio::test]
async fn a_sustained_failure_disables_after_its_period_and_attempts() {
    let receiver = Receiver::start().await;
    receiver.set("/down", Script::always(Reply::Status(500)));
    // A retry every second, plenty of attempts; disabled after 3 s and 3 attempts.
    let config = DeliveryConfig {
        retry: RetryPolicy::exponential(30, 1, 1, 1),
        disable: DisablePolicy { after_failing: Duration::from_secs(3), after_attempts: 3 },
        ..fast_config()
    };
    let node = Node::start(config).await;
    let sub = node.subscribe(&receiver.url("/down"), None).await;
    let task = node.accept(sub, "{}", None).await;

    let disabled = node.wait_disabled(sub, WAIT).await;
    let reason = disabled.disabled_reason.expect("a reason");
    assert!(reason.starts_with("every attempt failed since ") && reason.ends_with("attempts, no success)"), "{reason}");
    let decisions = node.read_all(topics::OPERATIONAL).await;
    let decision: serde_json::Value = serde_json::from_slice(&decisions[0].value).expect("decodes");
    assert_eq!((decisions.len(), decision["data"]["cause"].as_str()), (1, Some("sustained_failure")));
    let attempts = node.attempts(task.task_id).await;
    assert!(attempts.len() >= 3, "{} attempts", attempts.len());
    let span = attempts.last().unwrap().attempted_at - attempts[0].attempted_at;
    assert!(span.num_milliseconds() >= 3000, "disabled after {span}");

    // The task's next turn parks it: the retry tier gets the same attempt twice.
    let parked = wait_until(WAIT, "the task parked", || async {
        let retries = scheduled(&node, "hookline.retry.1s").await;
        let last = retries.last()?.attempt;
        (retries.iter().filter(|r| r.attempt == last).count() == 2).then_some(last)
    })
    .await;
    let attempts = node.attempts(task.task_id).await;
    assert_eq!(attempts.len() as u32, parked - 1, "no attempt after the disabling");
    assert_eq!(receiver.requests("/down").len(), attempts.len());
}

#[tokio::test]
async fn a_task_kept_past_the_retention_ends_as_failed() {
    let receiver = Receiver::start().await;
    receiver.set("/off", Script::always(Reply::Status(200)));
    let config = DeliveryConfig { retention: Duration::from_secs(1), ..fast_config() };
    let node = Node::start(config).await;
    let sub = node.subscribe(&receiver.url("/off"), None).await;
    node.set_enabled(sub, false).await;
    let task = node.accept(sub, "{}", None).await;

    // Parked once (the longest tier is 4 s), then past the 1 s retention when it comes round.
    let attempts = node.wait_attempts(task.task_id, 1, WAIT).await;
    assert_eq!(attempts[0].outcome, Outcome::PermanentlyFailed);
    assert_eq!(attempts[0].error.as_deref(), Some(DISABLED_PAST_RETENTION));
    assert_eq!(scheduled(&node, LONGEST_TIER).await.len(), 1);
    assert_eq!(node.read_all(topics::DLQ).await.len(), 1);
    assert!(receiver.requests("/off").is_empty());
}
