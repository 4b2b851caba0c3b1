//! Cases of the lines of ordering per key (`line_place`).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use hookline_domain::{LinePlace, LogPosition, Outcome, SubscriptionId, TaskId, TaskView};

use super::fixtures::{accept, accepted, apply, attempt, now, secs};
use super::{ViewStoreFactory, LONG_RETENTION};
use crate::{LineEntry, ViewChange, ViewStore};

/// The entry of `task` in the line of `key`, its TaskAccepted at `offset` of partition 3.
fn joined(task: &TaskView, key: &str, offset: u64) -> ViewChange {
    ViewChange::JoinedLine(LineEntry {
        subscription_id: task.subscription_id,
        ordering_key: key.to_string(),
        task_id: task.task_id,
        accepted_at: task.created_at,
        position: LogPosition { topic: "hookline.deliveries".into(), partition: 3, offset },
    })
}

fn ended(task: &TaskView, outcome: Outcome, at: DateTime<Utc>) -> ViewChange {
    ViewChange::Attempt(attempt(task, 1, outcome, at))
}

async fn place(store: &Arc<dyn ViewStore>, task: &TaskView) -> LinePlace {
    store.line_place(task.task_id).await.unwrap_or_else(|e| panic!("line_place({}) failed: {e}", task.task_id))
}

fn behind(ahead: &TaskView, ended: bool) -> LinePlace {
    LinePlace::Behind { ahead: ahead.task_id, ended }
}

/// A line of three, another key of the same subscription and the same key of another
/// subscription: each task is behind the one just before it in its own line, and the
/// answer follows the status of that one (an attempt that failed with attempts left
/// does not end it; a success or a failure for good does).
pub async fn lines_answer_whose_turn_it_is(factory: &impl ViewStoreFactory) {
    let store = factory.open(LONG_RETENTION).await;
    let (sub, other_sub) = (SubscriptionId::new(), SubscriptionId::new());
    let at = now();
    let task = |sub| accepted(TaskId::new(), sub, at);
    let (a, b, c, other_key, other_line) = (task(sub), task(sub), task(sub), task(sub), task(other_sub));
    let mut changes = Vec::new();
    for (task, key, offset) in [(&a, "k1", 10), (&b, "k1", 11), (&other_key, "k2", 12), (&c, "k1", 13)] {
        changes.extend([accept(task), joined(task, key, offset)]);
    }
    changes.extend([accept(&other_line), joined(&other_line, "k1", 9)]);
    apply(&store, changes).await;

    assert_eq!(place(&store, &a).await, LinePlace::First);
    assert_eq!(place(&store, &b).await, behind(&a, false));
    assert_eq!(place(&store, &c).await, behind(&b, false), "the task just before, not the first");
    assert_eq!(place(&store, &other_key).await, LinePlace::First, "another key is another line");
    assert_eq!(place(&store, &other_line).await, LinePlace::First, "another subscription is another line");
    let unknown = accepted(TaskId::new(), sub, at);
    assert_eq!(place(&store, &unknown).await, LinePlace::Unknown);

    apply(&store, vec![ended(&a, Outcome::FailedAttempt, at + secs(1))]).await;
    assert_eq!(place(&store, &b).await, behind(&a, false), "a retry is still to come");
    apply(&store, vec![ViewChange::Attempt(attempt(&a, 2, Outcome::Success, at + secs(2)))]).await;
    assert_eq!(place(&store, &a).await, LinePlace::Ended);
    assert_eq!(place(&store, &b).await, behind(&a, true));
    apply(&store, vec![ended(&b, Outcome::PermanentlyFailed, at + secs(3))]).await;
    assert_eq!(place(&store, &b).await, LinePlace::Ended);
    assert_eq!(place(&store, &c).await, behind(&b, true), "a failure for good ends a task too");

    // An entry already past the retention is not kept.
    let old = accepted(TaskId::new(), sub, at - secs(2 * 24 * 3600));
    apply(&store, vec![accept(&old), joined(&old, "k3", 14)]).await;
    assert_eq!(place(&store, &old).await, LinePlace::Unknown);
}

/// Entries and outcomes folded in any order, repeated, and a copy of a task appended
/// again later in the log: the line is the same, and a task keeps its first place.
pub async fn lines_fold_ignores_order_repeats_and_copies(factory: &impl ViewStoreFactory) {
    let store = factory.open(LONG_RETENTION).await;
    let sub = SubscriptionId::new();
    let at = now();
    let [t1, t2, t3, t4, t5] = [(); 5].map(|()| accepted(TaskId::new(), sub, at));
    let key = "customer-7";
    // Outcomes before entries, the last entry and t1's copy (offset 24) first.
    apply(&store, vec![joined(&t5, key, 25), joined(&t1, key, 24), ended(&t1, Outcome::Success, at + secs(1))]).await;
    assert_eq!(place(&store, &t1).await, LinePlace::Ended, "an outcome folded before the entry ends the task");
    apply(&store, vec![joined(&t3, key, 22), joined(&t1, key, 20), joined(&t4, key, 23)]).await;
    apply(&store, vec![joined(&t2, key, 21), joined(&t2, key, 21), joined(&t1, key, 24)]).await;
    for task in [&t2, &t3, &t4, &t5] {
        apply(&store, vec![accept(task)]).await;
    }

    assert_eq!(place(&store, &t2).await, behind(&t1, true));
    assert_eq!(place(&store, &t3).await, behind(&t2, false));
    assert_eq!(place(&store, &t4).await, behind(&t3, false));
    assert_eq!(place(&store, &t5).await, behind(&t4, false), "t1's copy at 24 is not a place of its own");
}
