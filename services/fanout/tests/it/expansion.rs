//! What an event becomes, and what expanding it again does.

use std::collections::BTreeSet;

use hookline_domain::{topics, SubscriptionId, TaskAccepted, TaskId};
use hookline_fanout::{FanoutConfig, EVENTS_METRIC, TASKS_METRIC};
use hookline_quarantine::{ROLE_HEADER, SET_ASIDE_METRIC};
use hookline_testkit::wait_until;

use crate::harness::{Node, WAIT};

fn subscriptions(n: usize) -> Vec<SubscriptionId> {
    (0..n).map(|_| SubscriptionId::new()).collect()
}

#[tokio::test]
async fn an_event_becomes_one_task_per_subscription_carrying_the_event_id() {
    let node = Node::start(FanoutConfig::default()).await;
    let (two, one) = (subscriptions(2), subscriptions(1));
    let payload = r#"{"order": 42, "big": 123456789012345678901234567890}"#;
    let first = node.send(&two, payload).await;
    let second = node.send(&one, "{}").await;

    let tasks = node.wait_tasks(3).await;
    assert_eq!(tasks.len(), 3);
    for (event, subscription) in two.iter().map(|s| (&first, s)).chain(one.iter().map(|s| (&second, s))) {
        let (record, task) = tasks
            .iter()
            .find(|(_, task)| task.subscription_id == *subscription)
            .unwrap_or_else(|| panic!("no task for subscription {subscription}"));
        assert_eq!(record.key, subscription.to_string().into_bytes(), "keyed by subscription");
        assert_eq!(record.header(topics::EVENT_HEADER), Some(TaskAccepted::KIND.as_bytes()));
        assert_eq!(task.task_id, TaskId::for_event(event.event_id, *subscription));
        assert_eq!(task.event_id, Some(event.event_id));
        assert_eq!(task.webhook_id(), event.event_id.0);
        assert_eq!(task.event_type.as_deref(), Some("order.created"));
        assert_eq!(task.accepted_at, event.accepted_at);
        assert_eq!(task.payload.get(), event.payload.get(), "payload bytes kept");
    }
    let text = wait_until(WAIT, "the events counted", || async {
        let text = node.metrics.render();
        text.contains(&format!("{EVENTS_METRIC} 2\n")).then_some(text)
    })
    .await;
    assert!(text.contains(&format!("{TASKS_METRIC} 3\n")), "{text}");
}

#[tokio::test]
async fn expanding_an_event_again_writes_the_same_task_ids_and_a_commit_ends_it() {
    let mut node = Node::start(FanoutConfig::default()).await;
    let event = node.send(&subscriptions(2), "{}").await;
    let first = node.wait_tasks(2).await;
    node.shut_down().await.expect("clean stop");

    // A group that committed nothing reads the event again, as after a crash before the commit.
    node.resume(FanoutConfig { group: "hookline-fanout-again".into(), ..FanoutConfig::default() });
    let again = node.wait_tasks(4).await;
    let ids: BTreeSet<TaskId> = again.iter().map(|(_, task)| task.task_id).collect();
    assert_eq!(ids, first.iter().map(|(_, task)| task.task_id).collect(), "same ids, no new task");
    assert_eq!(ids, event.task_ids().into_iter().collect());
    node.shut_down().await.expect("clean stop");

    // The first group committed past the event: back on it, only a new event is expanded.
    node.resume(FanoutConfig::default());
    let later = node.send(&subscriptions(1), "{}").await;
    let tasks = node.wait_tasks(5).await;
    assert_eq!(tasks.len(), 5);
    assert_eq!(tasks.iter().filter(|(_, task)| task.event_id == Some(later.event_id)).count(), 1);
}

#[tokio::test]
async fn many_tasks_are_written_in_bounded_appends() {
    let node = Node::start(FanoutConfig { max_tasks_per_append: 3, ..FanoutConfig::default() }).await;
    let event = node.send(&subscriptions(7), "{}").await;
    let tasks = node.wait_tasks(7).await;
    let ids: BTreeSet<TaskId> = tasks.iter().map(|(_, task)| task.task_id).collect();
    assert_eq!(ids, event.task_ids().into_iter().collect());
    let appends = node.task_appends();
    assert_eq!(appends.iter().sum::<usize>(), 7);
    assert!(appends.iter().all(|tasks| *tasks <= 3), "{appends:?}");
}

#[tokio::test]
async fn a_record_that_is_not_an_event_is_set_aside_and_passed() {
    let node = Node::start(FanoutConfig::default()).await;
    node.send_raw(b"not an event").await;
    let event = node.send(&subscriptions(1), "{}").await;

    let tasks = node.wait_tasks(1).await;
    assert_eq!(tasks[0].1.event_id, Some(event.event_id));
    let quarantined = node.read_all(topics::QUARANTINE).await;
    assert_eq!(quarantined.len(), 1);
    assert_eq!(quarantined[0].header(ROLE_HEADER), Some(&b"fanout"[..]));
    let text = node.metrics.render();
    let counted =
        format!("{SET_ASIDE_METRIC}{{role=\"fanout\",topic=\"{}\",reason=\"undecodable\"}} 1\n", topics::FANOUT);
    assert!(text.contains(&counted), "{text}");
}
