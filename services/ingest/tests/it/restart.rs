//! Reading the same records again after a crash between append and commit.

use std::collections::BTreeMap;

use hookline_domain::{TaskAccepted, TaskId};

use crate::support::{webhook, Harness, GROUP};

/// How many tasks carry each task id, and with which payload.
fn by_task(tasks: &[TaskAccepted]) -> BTreeMap<TaskId, (usize, String)> {
    let mut seen = BTreeMap::new();
    for task in tasks {
        let entry = seen.entry(task.task_id).or_insert((0, task.payload.get().to_string()));
        assert_eq!(entry.1, task.payload.get(), "one task id, one payload");
        entry.0 += 1;
    }
    seen
}

#[tokio::test]
async fn re_reading_without_a_commit_yields_the_same_task_ids() {
    let harness = Harness::new().await;
    let subscription = harness.subscription(None, None).await;
    let bodies = [r#"{"n":1}"#, r#"{"n":2}"#, r#"{"n":3}"#, r#"{"n":4}"#];
    harness
        .produce(vec![
            webhook(subscription, bodies[0]).idempotency_key("k-1").build(),
            webhook(subscription, bodies[1]).build(),
            webhook(subscription, bodies[2]).build(),
            webhook(subscription, bodies[3]).event_type("order.created").build(),
        ])
        .await;

    let first = harness.start(GROUP);
    first.settled(4).await;
    first.stop().await.unwrap();
    let before = by_task(&harness.tasks().await);
    assert_eq!(before.len(), 4, "four records, four tasks");
    assert!(before.values().all(|(count, _)| *count == 1));

    // As if the process died after appending the tasks and before committing.
    harness.rewind(GROUP).await;
    let second = harness.start(GROUP);
    let counts = second.settled(4).await;
    second.stop().await.unwrap();
    assert_eq!((counts.accepted, counts.replayed), (3, 1), "the keyed record is known: a replay");

    let after = by_task(&harness.tasks().await);
    assert_eq!(after.keys().collect::<Vec<_>>(), before.keys().collect::<Vec<_>>(), "no new task id");
    let keyed = TaskId::derived(subscription, b"key:k-1");
    for (task_id, (count, payload)) in &after {
        let readings = if *task_id == keyed { 1 } else { 2 };
        assert_eq!((*count, payload), (readings, &before[task_id].1), "task {task_id} appended once per reading");
    }
}
