//! The attempt listings: per task oldest first, per subscription newest first.

use std::cmp::Reverse;

use hookline_domain::{AttemptRecorded, Outcome, SubscriptionId, TaskId};

use super::fixtures::{accepted, apply, attempt, attempts_for_subscription, attempts_for_task, now, secs};
use super::{ViewStoreFactory, LONG_RETENTION};
use crate::ViewChange;

fn changes(attempts: &[&AttemptRecorded]) -> Vec<ViewChange> {
    attempts.iter().map(|a| ViewChange::Attempt((*a).clone())).collect()
}

/// A task's attempts come back in attempt order, whatever order they were applied
/// in, and only that task's.
pub async fn attempts_for_task_oldest_first(factory: &impl ViewStoreFactory) {
    let store = factory.open(LONG_RETENTION).await;
    let sub = SubscriptionId::new();
    let t0 = now() - secs(600);
    let view = accepted(TaskId::new(), sub, t0);
    let attempts: Vec<AttemptRecorded> = (1..=4)
        .map(|n| {
            let outcome = if n == 4 { Outcome::Success } else { Outcome::FailedAttempt };
            attempt(&view, n, outcome, t0 + secs(i64::from(n) * 30))
        })
        .collect();
    let neighbour = accepted(TaskId::new(), sub, t0);
    let neighbour_attempt = attempt(&neighbour, 1, Outcome::Success, t0 + secs(45));

    apply(&store, changes(&[&attempts[2]])).await;
    apply(&store, changes(&[&attempts[0], &neighbour_attempt, &attempts[3]])).await;
    apply(&store, changes(&[&attempts[1]])).await;

    assert_eq!(attempts_for_task(&store, view.task_id).await, attempts, "attempts 1 to 4, oldest first");
    assert_eq!(attempts_for_task(&store, neighbour.task_id).await, vec![neighbour_attempt]);
    assert_eq!(attempts_for_task(&store, TaskId::new()).await, vec![], "an unknown task has no attempts");
}

/// A subscription's attempts across several tasks come back newest first, cut at
/// the limit, without other subscriptions' attempts.
pub async fn attempts_for_subscription_newest_first(factory: &impl ViewStoreFactory) {
    let store = factory.open(LONG_RETENTION).await;
    let sub = SubscriptionId::new();
    let other_sub = SubscriptionId::new();
    let t0 = now() - secs(3600);
    let tasks: Vec<_> = (0..3).map(|_| accepted(TaskId::new(), sub, t0)).collect();
    // Attempts of the three tasks interleave in time: task i's attempt n at 3n + i.
    let mut mine = Vec::new();
    for (i, view) in (0i64..).zip(&tasks) {
        for n in 1..=3u32 {
            let outcome = if n == 3 { Outcome::PermanentlyFailed } else { Outcome::FailedAttempt };
            mine.push(attempt(view, n, outcome, t0 + secs(3 * i64::from(n) + i)));
        }
    }
    // Newer than all of mine, so that a leak would show at the head of the listing.
    let other_view = accepted(TaskId::new(), other_sub, t0);
    let other = attempt(&other_view, 1, Outcome::Success, t0 + secs(100));

    let (early, late) = mine.split_at(4);
    apply(&store, changes(&late.iter().rev().collect::<Vec<_>>())).await;
    apply(&store, vec![ViewChange::Attempt(other.clone())]).await;
    apply(&store, changes(&early.iter().collect::<Vec<_>>())).await;

    let mut newest_first = mine.clone();
    newest_first.sort_by_key(|a| Reverse(a.attempted_at));
    assert_eq!(attempts_for_subscription(&store, sub, 100).await, newest_first, "all attempts, newest first");
    assert_eq!(attempts_for_subscription(&store, sub, 3).await, newest_first[..3], "the 3 newest attempts");
    assert_eq!(attempts_for_subscription(&store, sub, 1).await, newest_first[..1], "the newest attempt");
    assert_eq!(attempts_for_subscription(&store, other_sub, 100).await, vec![other], "the other subscription's");
    assert_eq!(attempts_for_subscription(&store, SubscriptionId::new(), 10).await, vec![], "an unknown subscription");
}
