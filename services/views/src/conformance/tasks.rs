//! The task fold: order-insensitive, idempotent, and one record per attempt number.

use hookline_domain::{AttemptRecorded, Outcome, SubscriptionId, TaskId, TaskStatus, TaskView};

use super::fixtures::{
    accept, accepted, apply, attempt, attempts_for_subscription, attempts_for_task, now, secs, task,
};
use super::{ViewStoreFactory, LONG_RETENTION};
use crate::ViewChange;

/// The same task as seen under another id, to compare tasks fed in different orders.
fn as_task(view: TaskView, id: TaskId) -> TaskView {
    TaskView { task_id: id, ..view }
}

fn as_attempts(attempts: Vec<AttemptRecorded>, id: TaskId) -> Vec<AttemptRecorded> {
    attempts.into_iter().map(|a| AttemptRecorded { task_id: id, ..a }).collect()
}

/// A TaskAccepted and two attempts (a failure, then a success) give the same task
/// view and attempts whatever order they are applied in, in one batch or several,
/// and applying them again changes nothing. An attempt projected before its
/// TaskAccepted already yields the task's status.
pub async fn task_fold_ignores_order_and_repeats(factory: &impl ViewStoreFactory) {
    let store = factory.open(LONG_RETENTION).await;
    let sub = SubscriptionId::new();
    let t0 = now() - secs(600);
    let events = |id: TaskId| {
        let view = accepted(id, sub, t0);
        let first = attempt(&view, 1, Outcome::FailedAttempt, t0 + secs(1));
        let second = attempt(&view, 2, Outcome::Success, t0 + secs(11));
        (accept(&view), ViewChange::Attempt(first), ViewChange::Attempt(second))
    };

    let in_order = TaskId::new();
    let (accept, first, second) = events(in_order);
    for change in [accept, first.clone(), second.clone()] {
        apply(&store, vec![change]).await;
    }
    let expected = task(&store, in_order).await.expect("a task applied in order must be readable");
    assert_eq!(expected.status(), TaskStatus::Succeeded, "status after a failure then a success");
    assert_eq!(expected.attempts_count(), 2);
    assert_eq!(expected.created_at, t0, "created_at comes from the TaskAccepted");
    assert_eq!(expected.subscription_id, sub);
    let expected_attempts = attempts_for_task(&store, in_order).await;
    assert_eq!(expected_attempts.len(), 2, "two attempts stored");

    let reversed = TaskId::new();
    let (accept, first_r, second_r) = events(reversed);
    apply(&store, vec![second_r]).await;
    let early = task(&store, reversed).await.expect("an attempt alone must create the task row");
    assert_eq!(early.status(), TaskStatus::Succeeded, "status from an attempt projected before its TaskAccepted");
    assert_eq!(early.created_at, t0, "created_at from the attempt's task_accepted_at");
    apply(&store, vec![first_r]).await;
    apply(&store, vec![accept]).await;

    let one_batch = TaskId::new();
    let (accept, first_b, second_b) = events(one_batch);
    apply(&store, vec![second_b, accept, first_b]).await;

    for (id, how) in [(reversed, "attempt 2, attempt 1, TaskAccepted"), (one_batch, "one shuffled batch")] {
        let view = task(&store, id).await.unwrap_or_else(|| panic!("task applied as {how} must be readable"));
        assert_eq!(as_task(view, in_order), expected, "task view applied as {how} differs from in order");
        let attempts = attempts_for_task(&store, id).await;
        assert_eq!(as_attempts(attempts, in_order), expected_attempts, "attempts applied as {how} differ");
    }

    // Repeats, in one batch and alone, change nothing.
    let (accept, first, second) = events(in_order);
    apply(&store, vec![second.clone(), first.clone(), accept.clone(), second.clone(), accept, first]).await;
    apply(&store, vec![second]).await;
    assert_eq!(task(&store, in_order).await, Some(expected), "repeated events changed the task view");
    assert_eq!(attempts_for_task(&store, in_order).await, expected_attempts, "repeated events changed the attempts");
    assert_eq!(attempts_for_subscription(&store, sub, 100).await.len(), 6, "three tasks of two attempts each");
}

/// Two records of the same attempt number (a delivery repeated after a crash): the
/// higher-ranked one stays, by outcome (failed < permanently failed < success) then
/// time, whichever order they arrive in; the subscription's listing follows.
pub async fn repeated_attempt_keeps_the_higher_rank(factory: &impl ViewStoreFactory) {
    let store = factory.open(LONG_RETENTION).await;
    let sub = SubscriptionId::new();
    let t0 = now() - secs(600);
    // (loser, winner) pairs; the first loser is later than its winner.
    let pairs = [
        ((Outcome::FailedAttempt, 5), (Outcome::Success, 0)),
        ((Outcome::PermanentlyFailed, 3), (Outcome::Success, 0)),
        ((Outcome::FailedAttempt, 9), (Outcome::PermanentlyFailed, 1)),
        ((Outcome::FailedAttempt, 0), (Outcome::FailedAttempt, 1)),
    ];
    let mut winners = Vec::new();
    for ((lose_outcome, lose_at), (win_outcome, win_at)) in pairs {
        for order in ["loser first", "winner first", "one batch"] {
            let view = accepted(TaskId::new(), sub, t0);
            let loser = attempt(&view, 1, lose_outcome, t0 + secs(lose_at));
            let winner = attempt(&view, 1, win_outcome, t0 + secs(win_at));
            let (l, w) = (ViewChange::Attempt(loser.clone()), ViewChange::Attempt(winner.clone()));
            match order {
                "loser first" => {
                    apply(&store, vec![l]).await;
                    apply(&store, vec![w]).await;
                }
                "winner first" => {
                    apply(&store, vec![w]).await;
                    apply(&store, vec![l]).await;
                }
                _ => apply(&store, vec![l, w]).await,
            }
            let what = format!("{lose_outcome:?} at +{lose_at}s vs {win_outcome:?} at +{win_at}s, {order}");
            assert_eq!(attempts_for_task(&store, view.task_id).await, vec![winner.clone()], "{what}");
            let folded = task(&store, view.task_id).await.unwrap_or_else(|| panic!("{what}: task missing"));
            let last = folded.last_attempt.unwrap_or_else(|| panic!("{what}: no last attempt"));
            assert_eq!((last.outcome, last.at), (win_outcome, winner.attempted_at), "{what}: task view");
            winners.push(winner);
        }
    }
    let mut listed = attempts_for_subscription(&store, sub, 1000).await;
    let key = |a: &AttemptRecorded| (a.task_id, a.attempted_at);
    assert_eq!(listed.len(), winners.len(), "the subscription's attempts must hold one record per attempt number");
    listed.sort_by_key(key);
    winners.sort_by_key(key);
    assert_eq!(listed, winners, "the subscription's attempts must hold each winner once and no loser");
}
