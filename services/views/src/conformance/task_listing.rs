//! The task listing: newest first, filtered by subscription and by the status of
//! the moment, paged with cursors; and the payload positions kept for retries by hand.

use std::time::Duration;

use hookline_domain::{LogPosition, Outcome, SubscriptionId, TaskId, TaskStatus, TaskView};

use super::fixtures::{accept, accepted, accepted_at_position, apply, attempt, now, secs, task, wait_until};
use super::{ViewStoreFactory, LONG_RETENTION};
use crate::{Retention, TaskFilter, TaskPosition, ViewChange, ViewError, ViewStore};

fn of_sub(sub: SubscriptionId) -> TaskFilter {
    TaskFilter { subscription: Some(sub), ..TaskFilter::default() }
}

/// Every page of a listing, `limit` at a time, checking that each page but the
/// last is full unless the scan budget cut it, and that no task comes twice.
async fn list_all(store: &dyn ViewStore, filter: TaskFilter, limit: usize) -> Vec<TaskView> {
    let mut all: Vec<TaskView> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .tasks(filter, limit, cursor.as_deref())
            .await
            .unwrap_or_else(|e| panic!("tasks({filter:?}, {limit}, {cursor:?}) failed: {e}"));
        assert!(page.items.len() <= limit, "a page of {} tasks for a limit of {limit}", page.items.len());
        for task in &page.items {
            assert!(all.iter().all(|seen| seen.task_id != task.task_id), "task {} listed twice", task.task_id);
        }
        all.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
}

/// `tasks` in listing order: newest acceptance first, then the greater id.
fn newest_first(mut tasks: Vec<TaskView>) -> Vec<TaskView> {
    tasks.sort_by_key(|t| std::cmp::Reverse(TaskPosition::of(t)));
    tasks
}

fn ids(tasks: &[TaskView]) -> Vec<TaskId> {
    tasks.iter().map(|t| t.task_id).collect()
}

/// Only the tasks of `mine`, in the order listed.
fn only<'a>(listed: &[TaskView], mine: impl IntoIterator<Item = &'a TaskView>) -> Vec<TaskId> {
    let mine: Vec<TaskId> = mine.into_iter().map(|t| t.task_id).collect();
    listed.iter().map(|t| t.task_id).filter(|id| mine.contains(id)).collect()
}

/// A subscription's tasks in each status, plus another subscription's: the listing
/// is newest first (ties by id), filters by subscription and by status, and a task
/// whose status changes moves between the status listings.
pub async fn task_listing_filters_newest_first(factory: &impl ViewStoreFactory) {
    let store = factory.open(LONG_RETENTION).await;
    let (sub, other) = (SubscriptionId::new(), SubscriptionId::new());
    let t0 = now() - secs(1800);
    // Two tasks share an acceptance millisecond: the greater id comes first.
    let times = [t0, t0 + secs(5), t0 + secs(5), t0 + secs(9), t0 + secs(20)];
    let mine: Vec<TaskView> = times.iter().map(|at| accepted(TaskId::new(), sub, *at)).collect();
    let theirs = accepted(TaskId::new(), other, t0 + secs(7));
    let outcomes = [None, Some(Outcome::FailedAttempt), Some(Outcome::Success), Some(Outcome::PermanentlyFailed), None];
    let mut changes: Vec<ViewChange> = mine.iter().chain([&theirs]).map(accept).collect();
    for (view, outcome) in mine.iter().zip(outcomes) {
        if let Some(outcome) = outcome {
            changes.push(ViewChange::Attempt(attempt(view, 1, outcome, view.created_at + secs(1))));
        }
    }
    apply(&store, changes).await;
    let current = |view: &TaskView, outcome: Option<Outcome>| match outcome {
        Some(outcome) => {
            view.clone().merge(TaskView::from_attempt(&attempt(view, 1, outcome, view.created_at + secs(1))))
        }
        None => view.clone(),
    };
    let expected = newest_first(mine.iter().zip(outcomes).map(|(v, o)| current(v, o)).collect());

    assert_eq!(list_all(store.as_ref(), of_sub(sub), 100).await, expected, "the subscription's tasks, newest first");
    assert_eq!(list_all(store.as_ref(), of_sub(other), 100).await, vec![theirs.clone()], "the other's task only");
    assert_eq!(list_all(store.as_ref(), of_sub(SubscriptionId::new()), 10).await, vec![], "an unknown subscription");
    for status in [TaskStatus::Pending, TaskStatus::Retrying, TaskStatus::Succeeded, TaskStatus::Failed] {
        let filter = TaskFilter { subscription: Some(sub), status: Some(status), ..TaskFilter::default() };
        let want: Vec<TaskView> = expected.iter().filter(|t| t.status() == status).cloned().collect();
        assert_eq!(list_all(store.as_ref(), filter, 100).await, want, "the subscription's {status:?} tasks");
    }

    let everyone = list_all(store.as_ref(), TaskFilter::default(), 50).await;
    let all_mine = newest_first(expected.iter().cloned().chain([theirs.clone()]).collect());
    assert_eq!(only(&everyone, &all_mine), ids(&all_mine), "the listing of all tasks, newest first");
    let failed = TaskFilter { status: Some(TaskStatus::Failed), ..TaskFilter::default() };
    let listed_failed = list_all(store.as_ref(), failed, 50).await;
    assert!(listed_failed.iter().all(|t| t.status() == TaskStatus::Failed), "only failed tasks, of anyone");
    let failed_mine: Vec<TaskView> = expected.iter().filter(|t| t.status() == TaskStatus::Failed).cloned().collect();
    assert_eq!(only(&listed_failed, &expected), ids(&failed_mine), "the failed task among all failed tasks");

    // Retried by hand: the failed task succeeds with one attempt more and changes listing.
    let retried = &mine[3];
    let again = attempt(retried, 2, Outcome::Success, now());
    apply(&store, vec![ViewChange::Attempt(again)]).await;
    let failed_now = TaskFilter { subscription: Some(sub), status: Some(TaskStatus::Failed), ..TaskFilter::default() };
    assert_eq!(list_all(store.as_ref(), failed_now, 100).await, vec![], "no failed task left");
    let succeeded =
        TaskFilter { subscription: Some(sub), status: Some(TaskStatus::Succeeded), ..TaskFilter::default() };
    let listed = list_all(store.as_ref(), succeeded, 100).await;
    assert_eq!(ids(&listed), vec![retried.task_id, mine[2].task_id], "the retried task is succeeded now");
}

/// Pages of a limit follow each other through the cursor, without gaps or repeats,
/// the last without a cursor; a task accepted later than a cursor's page does not
/// slip into the next pages.
pub async fn task_listing_pages_with_a_cursor(factory: &impl ViewStoreFactory) {
    let store = factory.open(LONG_RETENTION).await;
    let sub = SubscriptionId::new();
    let t0 = now() - secs(900);
    let mine: Vec<TaskView> = (0..7).map(|i| accepted(TaskId::new(), sub, t0 + secs(i * 3))).collect();
    apply(&store, mine.iter().map(accept).collect()).await;
    let expected = newest_first(mine.clone());

    let first = store.tasks(of_sub(sub), 3, None).await.unwrap_or_else(|e| panic!("first page failed: {e}"));
    assert_eq!(first.items, expected[..3], "the first page holds the 3 newest");
    let cursor = first.next.expect("a full page with more tasks gives a cursor");
    let newer = accepted(TaskId::new(), sub, now());
    apply(&store, vec![accept(&newer)]).await;
    let second = store.tasks(of_sub(sub), 3, Some(&cursor)).await.unwrap_or_else(|e| panic!("second page: {e}"));
    assert_eq!(second.items, expected[3..6], "the second page continues after the first");
    let third =
        store.tasks(of_sub(sub), 3, second.next.as_deref()).await.unwrap_or_else(|e| panic!("third page failed: {e}"));
    assert_eq!(third.items, expected[6..], "the last page holds the oldest");
    assert_eq!(third.next, None, "the last page has no cursor");

    for limit in [1, 2, 5] {
        let listed = list_all(store.as_ref(), of_sub(sub), limit).await;
        assert_eq!(listed[0], newer, "with limit {limit}: the newest first");
        assert_eq!(listed[1..], expected, "with limit {limit}: every task once, in order");
    }
    let everyone = list_all(store.as_ref(), TaskFilter::default(), 4).await;
    let all_mine = newest_first(mine.iter().cloned().chain([newer]).collect());
    assert_eq!(only(&everyone, &all_mine), ids(&all_mine), "the listing of all tasks pages in order");
}

/// A cursor that no page gave out is refused.
pub async fn task_listing_rejects_invalid_cursor(factory: &impl ViewStoreFactory) {
    let store = factory.open(LONG_RETENTION).await;
    for filter in [TaskFilter::default(), of_sub(SubscriptionId::new())] {
        for bad in ["not a cursor", "\u{0}\u{7f}garbage", "%%%", "12_34", "_"] {
            match store.tasks(filter, 10, Some(bad)).await {
                Err(ViewError::InvalidCursor) => {}
                other => panic!("cursor {bad:?} must give ViewError::InvalidCursor, got {other:?}"),
            }
        }
    }
}

/// Tasks leave the listings once their retention has passed, and a task accepted
/// before the retention but active since is listed.
pub async fn task_listing_hides_expired_tasks(factory: &impl ViewStoreFactory) {
    let short = factory.open(Retention { ttl: Duration::from_secs(2) }).await;
    let sub = SubscriptionId::new();
    // A second ahead, so that a slow machine still reads it before it expires.
    let short_lived = accepted(TaskId::new(), sub, now() + secs(1));
    let lasting = accepted(TaskId::new(), sub, now() + secs(3600));
    apply(&short, vec![accept(&short_lived), accept(&lasting)]).await;
    assert_eq!(list_all(short.as_ref(), of_sub(sub), 10).await, vec![lasting.clone(), short_lived.clone()]);
    assert!(task(&short, short_lived.task_id).await.is_some());
    let s = &short;
    wait_until("the task leaves the listing", Duration::from_secs(20), || async move {
        list_all(s.as_ref(), of_sub(sub), 10).await.len() == 1
    })
    .await;
    assert_eq!(list_all(short.as_ref(), of_sub(sub), 10).await, vec![lasting.clone()]);
    let everyone = list_all(short.as_ref(), TaskFilter::default(), 50).await;
    assert_eq!(only(&everyone, [&short_lived, &lasting]), vec![lasting.task_id], "nor in the listing of all");
    assert!(
        short.payload_position(short_lived.task_id).await.expect("position").is_none(),
        "its payload position expired too"
    );

    let hour = factory.open(Retention { ttl: Duration::from_secs(3600) }).await;
    let sub = SubscriptionId::new();
    let long_ago = now() - secs(2 * 3600);
    let forgotten = accepted(TaskId::new(), sub, long_ago);
    let active = accepted(TaskId::new(), sub, long_ago + secs(1));
    let recent = attempt(&active, 1, Outcome::PermanentlyFailed, now() - secs(1));
    apply(&hour, vec![accept(&forgotten), accept(&active), ViewChange::Attempt(recent.clone())]).await;
    let active_now = active.clone().merge(TaskView::from_attempt(&recent));
    assert_eq!(list_all(hour.as_ref(), of_sub(sub), 10).await, vec![active_now.clone()], "the active task only");
    let everyone = list_all(hour.as_ref(), TaskFilter::default(), 50).await;
    assert_eq!(only(&everyone, [&forgotten, &active]), vec![active.task_id], "in the listing of all as well");
}

/// A task's payload position reads back as stored; a dead letter's position replaces
/// it, and keeps a task accepted before the retention for the retention from its failure.
pub async fn task_payload_positions_are_kept_for_retries(factory: &impl ViewStoreFactory) {
    let store = factory.open(Retention { ttl: Duration::from_secs(3600) }).await;
    let sub = SubscriptionId::new();
    let fresh = accepted(TaskId::new(), sub, now() - secs(5));
    let other = accepted(TaskId::new(), sub, now() - secs(5));
    apply(&store, vec![accept(&fresh), accept(&other)]).await;
    let read = |id: TaskId| {
        let store = &store;
        async move { store.payload_position(id).await.unwrap_or_else(|e| panic!("payload_position({id}) failed: {e}")) }
    };
    assert_eq!(read(fresh.task_id).await, Some(accepted_at_position(&fresh)));
    assert_eq!(read(other.task_id).await, Some(accepted_at_position(&other)));
    assert!(read(TaskId::new()).await.is_none(), "an unknown task has no payload position");

    let long_ago = now() - secs(2 * 3600);
    let failed = accepted(TaskId::new(), sub, long_ago);
    let last = attempt(&failed, 4, Outcome::PermanentlyFailed, now() - secs(2));
    let dead_letter = |offset: u64| LogPosition { topic: "hookline.dlq".into(), partition: 3, offset };
    let dead = |view: &TaskView, at, offset| ViewChange::DeadLettered {
        task: view.clone(),
        failed_at: at,
        payload_at: dead_letter(offset),
    };
    apply(&store, vec![accept(&failed)]).await;
    assert!(read(failed.task_id).await.is_none(), "a TaskAccepted past the retention keeps no position");
    apply(&store, vec![ViewChange::Attempt(last.clone()), dead(&failed, last.attempted_at, 41)]).await;
    assert_eq!(read(failed.task_id).await, Some(dead_letter(41)), "the dead letter holds the payload now");
    // An older dead letter (a replay) or the TaskAccepted do not take its place.
    apply(&store, vec![dead(&failed, long_ago + secs(60), 7), accept(&failed)]).await;
    assert_eq!(read(failed.task_id).await, Some(dead_letter(41)), "a replayed older event must not win");
    let retried = attempt(&failed, 5, Outcome::PermanentlyFailed, now() - secs(1));
    apply(&store, vec![ViewChange::Attempt(retried.clone()), dead(&failed, retried.attempted_at, 90)]).await;
    assert_eq!(read(failed.task_id).await, Some(dead_letter(90)), "a later dead letter wins");

    let forgotten = accepted(TaskId::new(), sub, long_ago);
    apply(&store, vec![accept(&forgotten), dead(&forgotten, long_ago + secs(60), 3)]).await;
    assert!(read(forgotten.task_id).await.is_none(), "a dead letter past the retention keeps nothing");
}

/// An acceptance window (`accepted_since`, `accepted_before`) lists its tasks only,
/// newest first, across the buckets of many hours, with or without a subscription;
/// a first page starts at `accepted_before` rather than walking down from the newest
/// task (more than a scan budget of newer tasks do not cut it short), and a task older
/// than `accepted_since` ends the walk.
pub async fn task_listing_keeps_an_acceptance_window(factory: &impl ViewStoreFactory) {
    // Long enough to keep tasks of forty days ago, where no other case writes.
    let store = factory.open(Retention { ttl: Duration::from_secs(60 * 24 * 3600) }).await;
    let sub = SubscriptionId::new();
    let since = now() - secs(40 * 24 * 3600);
    let before = since + secs(6 * 3600);
    let task_at = |at| accepted(TaskId::new(), sub, at);
    // Ten hours of tasks before the window, one every twenty minutes.
    let older: Vec<TaskView> = (1..=30).map(|i| task_at(since - secs(i * 1200))).collect();
    // The window: every twenty minutes from `since` on, and one a millisecond before `before`.
    let mut window: Vec<TaskView> = (0..18).map(|i| task_at(since + secs(i * 1200))).collect();
    window.push(task_at(before - chrono::TimeDelta::milliseconds(1)));
    // From `before` on (excluded), more tasks than a page may pass over, over forty hours.
    let newer_count = i64::try_from(crate::LISTING_SCAN_BUDGET).expect("small") + 200;
    let newer: Vec<TaskView> = (0..newer_count).map(|i| task_at(before + secs(i * 120))).collect();
    for chunk in older.iter().chain(&window).chain(&newer).collect::<Vec<_>>().chunks(400) {
        apply(&store, chunk.iter().map(|t| accept(t)).collect()).await;
    }
    let windowed = |subscription| TaskFilter {
        subscription,
        accepted_since: Some(since),
        accepted_before: Some(before),
        ..TaskFilter::default()
    };

    let first = store.tasks(windowed(Some(sub)), 100, None).await.expect("a first page");
    assert_eq!(ids(&first.items), ids(&newest_first(window.clone())), "one page holds the whole window");
    assert_eq!(first.next, None, "a task older than since ends the walk");
    for limit in [1, 4] {
        let all = list_all(&*store, windowed(Some(sub)), limit).await;
        assert_eq!(ids(&all), ids(&newest_first(window.clone())), "the window, {limit} at a time");
    }

    // Every subscription's tasks: ours in order, and nothing from outside the window.
    let all = list_all(&*store, windowed(None), 7).await;
    assert_eq!(only(&all, &window), ids(&newest_first(window.clone())));
    assert!(all.iter().all(|t| since <= t.created_at && t.created_at < before), "only tasks of the window");

    // One bound at a time.
    let since_only = TaskFilter { accepted_before: None, ..windowed(Some(sub)) };
    let expected = newest_first(newer.iter().chain(&window).cloned().collect());
    assert_eq!(ids(&list_all(&*store, since_only, 100).await), ids(&expected), "from the newest down to since");
    let before_only = TaskFilter { accepted_since: None, ..windowed(Some(sub)) };
    let expected = newest_first(window.iter().chain(&older).cloned().collect());
    let first = store.tasks(before_only, 5, None).await.expect("a first page");
    assert_eq!(ids(&first.items), ids(&expected[..5]), "the first page starts at before");
    assert_eq!(ids(&list_all(&*store, before_only, 9).await), ids(&expected), "from before down to the oldest");
}
