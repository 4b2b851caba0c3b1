//! Replays: folded from their records (and the attempts they queued) in any order and
//! any number of times, read by id, listed newest first per tenant or for all, gone
//! once past the retention from their latest activity.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hookline_domain::replay::{ReplayCursor, ReplayScope, ReplaySelection, ReplayStatus};
use hookline_domain::{
    AttemptRecorded, Outcome, ReplayEvent, ReplayId, ReplayRequested, ReplayState, SubscriptionId, TaskId, TenantId,
};

use super::fixtures::{accepted, apply, attempt, now, secs, wait_until};
use super::{ViewStoreFactory, LONG_RETENTION};
use crate::{ReplayView, Retention, ViewChange, ViewError, ViewStore};

fn requested(id: ReplayId, tenant: &TenantId, at: DateTime<Utc>) -> ReplayRequested {
    // Derived from the replay, so that the records of one replay always carry the same request.
    let sub = SubscriptionId::from_bytes(*id.as_bytes());
    ReplayRequested {
        replay_id: id,
        tenant_id: tenant.clone(),
        selection: ReplaySelection {
            scope: ReplayScope::Subscription(sub),
            since: at - secs(6 * 3600),
            until: at,
            statuses: vec![ReplayStatus::Failed, ReplayStatus::Pending],
            event_types: None,
        },
        subscriptions: vec![sub],
        target_url: Some("https://receiver.example/replayed".into()),
        rate_per_second: 25,
        matched: 40,
        requested_at: at,
    }
}

fn cursor(index: u32, page: &str) -> Option<ReplayCursor> {
    Some(ReplayCursor { subscription_index: index, page: Some(page.into()) })
}

async fn read(store: &dyn ViewStore, id: ReplayId) -> Option<ReplayView> {
    store.replay(id).await.unwrap_or_else(|e| panic!("replay({id}) failed: {e}"))
}

/// A replay's whole life, folded in order, backwards, one record per batch and all
/// repeated, and with the progress before the request, gives one view.
pub async fn replay_fold_ignores_order_and_repeats(factory: &impl ViewStoreFactory) {
    let store = factory.open(LONG_RETENTION).await;
    let t0 = now();
    let tenant = TenantId::generate();
    let records = |id: ReplayId| {
        vec![
            ReplayEvent::ReplayRequested(requested(id, &tenant, t0)),
            ReplayEvent::ReplayProgressed { replay_id: id, queued: 10, next: cursor(0, "p1"), at: t0 + secs(1) },
            ReplayEvent::ReplayProgressed { replay_id: id, queued: 25, next: cursor(1, "p2"), at: t0 + secs(2) },
            ReplayEvent::ReplayCancelled { replay_id: id, at: t0 + secs(3) },
            ReplayEvent::ReplayEnded {
                replay_id: id,
                state: ReplayState::Cancelled,
                queued: 25,
                delivered: 0,
                failed: 0,
                reason: Some("cancelled by hand".into()),
                at: t0 + secs(4),
            },
        ]
    };
    let reference = ReplayId::new();
    let expected = ReplayView {
        request: requested(reference, &tenant, t0),
        state: ReplayState::Cancelled,
        cancelled_at: Some(t0 + secs(3)),
        queued: 25,
        all_queued: false,
        next: cursor(1, "p2"),
        delivered: 0,
        failed: 0,
        finished_at: Some(t0 + secs(4)),
        reason: Some("cancelled by hand".into()),
    };
    let orders: [&[usize]; 4] = [&[0, 1, 2, 3, 4], &[4, 3, 2, 1, 0], &[2, 4, 1, 3, 0, 2, 0, 4], &[1, 0, 3, 2, 4, 1]];
    for (n, order) in orders.iter().enumerate() {
        let id = if n == 0 { reference } else { ReplayId::new() };
        let all = records(id);
        let changes: Vec<ViewChange> = order.iter().map(|&i| ViewChange::Replay(all[i].clone())).collect();
        if n % 2 == 0 {
            apply(&store, changes).await;
        } else {
            for change in changes {
                apply(&store, vec![change]).await;
            }
        }
        let mut want = expected.clone();
        want.request = requested(id, &tenant, t0);
        assert_eq!(read(&*store, id).await, Some(want), "order {order:?} must fold to the same view");
    }

    // Progress alone is kept, and merged once the request comes.
    let running = ReplayId::new();
    let progress = |queued, next| ReplayEvent::ReplayProgressed { replay_id: running, queued, next, at: t0 + secs(5) };
    apply(&store, vec![ViewChange::Replay(progress(40, None)), ViewChange::Replay(progress(30, cursor(0, "p3")))])
        .await;
    assert_eq!(read(&*store, running).await, None, "no view before its request");
    apply(&store, vec![ViewChange::Replay(ReplayEvent::ReplayRequested(requested(running, &tenant, t0)))]).await;
    let view = read(&*store, running).await.expect("the request makes the view");
    assert_eq!((view.state, view.queued, view.all_queued, view.next), (ReplayState::Running, 40, true, None));
    assert_eq!((view.cancelled_at, view.finished_at, view.reason), (None, None, None));
    assert_eq!(read(&*store, ReplayId::new()).await, None, "an unknown replay");
}

/// Delivered and failed count distinct tasks at their best outcome within the replay,
/// attempts folded before the request included.
pub async fn replay_counts_tasks_by_their_best_outcome(factory: &impl ViewStoreFactory) {
    let store = factory.open(LONG_RETENTION).await;
    let t0 = now();
    let (replay, other) = (ReplayId::new(), ReplayId::new());
    let sub = SubscriptionId::new();
    let tasks: Vec<_> = (0..6).map(|_| accepted(TaskId::new(), sub, t0 - secs(3600))).collect();
    let replayed = |task: usize, number: u32, outcome: Outcome, offset: i64, replay_id: Option<ReplayId>| {
        let mut recorded = attempt(&tasks[task], number, outcome, t0 + secs(offset));
        recorded.replay_id = replay_id;
        ViewChange::Attempt(recorded)
    };
    let on = Some(replay);
    let attempts_before_request = vec![
        // Task 0: failed for good, then sent again within the replay, and delivered.
        replayed(0, 2, Outcome::PermanentlyFailed, 1, on),
        // Task 1: failed for good, the record repeated after a crash.
        replayed(1, 2, Outcome::PermanentlyFailed, 1, on),
        replayed(1, 2, Outcome::PermanentlyFailed, 1, on),
    ];
    let attempts_after_request = vec![
        replayed(0, 3, Outcome::Success, 2, on),
        // Task 2: delivered, the record repeated.
        replayed(2, 2, Outcome::Success, 1, on),
        replayed(2, 2, Outcome::Success, 1, on),
        // Task 3: a failed attempt to be retried counts as nothing yet.
        replayed(3, 2, Outcome::FailedAttempt, 1, on),
        // Task 4: another replay's; task 5: no replay's.
        replayed(4, 2, Outcome::Success, 1, Some(other)),
        replayed(5, 2, Outcome::PermanentlyFailed, 1, None),
    ];
    apply(&store, attempts_before_request).await;
    assert_eq!(read(&*store, replay).await, None, "attempts alone make no view");
    let tenant = TenantId::generate();
    apply(&store, vec![ViewChange::Replay(ReplayEvent::ReplayRequested(requested(replay, &tenant, t0)))]).await;
    let view = read(&*store, replay).await.expect("the replay, once requested");
    assert_eq!((view.delivered, view.failed), (0, 2), "attempts folded before the request count");
    for change in attempts_after_request.clone() {
        apply(&store, vec![change]).await;
    }
    let view = read(&*store, replay).await.expect("the replay");
    assert_eq!((view.delivered, view.failed), (2, 1), "tasks 0 and 2 delivered, task 1 failed");
    // Everything again, in one batch: nothing counts twice.
    apply(&store, attempts_after_request).await;
    let view = read(&*store, replay).await.expect("the replay");
    assert_eq!((view.delivered, view.failed), (2, 1), "repeated attempts count once");
}

/// An attempt keeps the replay that queued it, and a task's latest attempt shows it
/// (read by id, in the task listing, and among the subscription's attempts).
pub async fn attempts_and_tasks_keep_their_replay(factory: &impl ViewStoreFactory) {
    let store = factory.open(LONG_RETENTION).await;
    let t0 = now();
    let (sub, replay) = (SubscriptionId::new(), Some(ReplayId::new()));
    let replayed = accepted(TaskId::new(), sub, t0 - secs(60));
    let plain = accepted(TaskId::new(), sub, t0 - secs(30));
    let first = attempt(&replayed, 1, Outcome::PermanentlyFailed, t0 - secs(50));
    let again = AttemptRecorded { replay_id: replay, ..attempt(&replayed, 2, Outcome::Success, t0 - secs(10)) };
    let other = attempt(&plain, 1, Outcome::Success, t0 - secs(20));
    let changes = [&first, &again, &other].map(|a| ViewChange::Attempt(a.clone())).to_vec();
    apply(&store, changes).await;

    let attempts = store.attempts_for_task(replayed.task_id).await.expect("attempts");
    assert_eq!(attempts, vec![first, again.clone()], "each attempt with its replay, or none");
    let task = store.task(replayed.task_id).await.expect("task").expect("the replayed task");
    assert_eq!(task.last_attempt.as_ref().and_then(|a| a.replay_id), replay, "the task shows it was replayed");
    let filter = crate::TaskFilter { subscription: Some(sub), ..crate::TaskFilter::default() };
    let listed = store.tasks(filter, 10, None).await.expect("listing").items;
    let replays: Vec<_> = listed.iter().map(|t| t.last_attempt.as_ref().and_then(|a| a.replay_id)).collect();
    assert_eq!(replays, vec![None, replay], "the listing shows it too (newest first)");
    let recent = store.attempts_for_subscription(sub, 1).await.expect("recent attempts");
    assert_eq!(recent, vec![again]);
}

/// Every page of a replay listing, `limit` at a time.
async fn list_all(store: &dyn ViewStore, tenant: Option<&TenantId>, limit: usize) -> Vec<ReplayView> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .replays(tenant, limit, cursor.as_deref())
            .await
            .unwrap_or_else(|e| panic!("replays({tenant:?}, {limit}, {cursor:?}) failed: {e}"));
        assert!(page.items.len() <= limit, "a page holds {} > {limit} replays", page.items.len());
        all.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
}

/// Replays list newest first (requested time, then id), a tenant's only when asked,
/// page after page; a cursor no page gave out is refused.
pub async fn replay_listing_pages_newest_first(factory: &impl ViewStoreFactory) {
    // Long enough to keep requests of days ago.
    let store = factory.open(Retention { ttl: Duration::from_secs(7 * 24 * 3600) }).await;
    let t0 = now();
    let (acme, globex) = (TenantId::generate(), TenantId::generate());
    // Two of one millisecond, and requests spread over two days (listings may be bucketed by day).
    let mut acme_replays = Vec::new();
    for offset in [0, 0, -60, -3600, -26 * 3600, -47 * 3600] {
        acme_replays.push(requested(ReplayId::new(), &acme, t0 + secs(offset)));
    }
    let globex_replays: Vec<_> =
        [-30, -5000].iter().map(|&o| requested(ReplayId::new(), &globex, t0 + secs(o))).collect();
    let changes = acme_replays
        .iter()
        .chain(&globex_replays)
        .rev()
        .map(|r| ViewChange::Replay(ReplayEvent::ReplayRequested(r.clone())))
        .collect();
    apply(&store, changes).await;
    let newest_first = |replays: &[ReplayRequested]| {
        let mut ids: Vec<_> = replays.iter().map(|r| (r.requested_at, r.replay_id)).collect();
        ids.sort_by(|a, b| b.cmp(a));
        ids.into_iter().map(|(_, id)| id).collect::<Vec<_>>()
    };
    let ids = |views: Vec<ReplayView>| views.into_iter().map(|v| v.request.replay_id).collect::<Vec<_>>();

    for limit in [1, 2, 4, 100] {
        assert_eq!(ids(list_all(&*store, Some(&acme), limit).await), newest_first(&acme_replays), "limit {limit}");
    }
    assert_eq!(ids(list_all(&*store, Some(&globex), 1).await), newest_first(&globex_replays));
    assert_eq!(ids(list_all(&*store, Some(&TenantId::generate()), 5).await), Vec::<ReplayId>::new());

    // Every tenant's: ours in order, among whatever other cases wrote.
    let ours: Vec<ReplayRequested> = acme_replays.iter().chain(&globex_replays).cloned().collect();
    let listed: Vec<ReplayId> = ids(list_all(&*store, None, 3).await)
        .into_iter()
        .filter(|id| ours.iter().any(|r| r.replay_id == *id))
        .collect();
    assert_eq!(listed, newest_first(&ours), "every tenant's listing holds ours newest first");

    let first = store.replays(Some(&acme), 2, None).await.expect("first page");
    assert_eq!(first.items.len(), 2);
    assert_eq!(first.items[0], read(&*store, first.items[0].request.replay_id).await.expect("listed replay"));
    for bad in ["nope", "12_x", "_"] {
        assert!(
            matches!(store.replays(Some(&acme), 2, Some(bad)).await, Err(ViewError::InvalidCursor)),
            "cursor {bad:?} must be refused"
        );
    }
}

/// Short enough to wait for, long enough to read a row back before it expires.
const SHORT: Retention = Retention { ttl: Duration::from_secs(3) };

/// A replay lives the retention from its latest activity: an old request kept alive
/// by recent progress is shown, then goes from reads and listings; a replay whose
/// every record is older than the retention is never shown.
pub async fn replays_expire_with_the_retention(factory: &impl ViewStoreFactory) {
    let store = factory.open(SHORT).await;
    let tenant = TenantId::generate();
    let (t0, started) = (now(), tokio::time::Instant::now());
    let (old, lasting) = (ReplayId::new(), ReplayId::new());
    apply(
        &store,
        vec![
            ViewChange::Replay(ReplayEvent::ReplayRequested(requested(old, &tenant, t0 - secs(60)))),
            ViewChange::Replay(ReplayEvent::ReplayProgressed {
                replay_id: old,
                queued: 1,
                next: None,
                at: t0 - secs(59),
            }),
            // Requested a second ago, so alone it would expire two seconds after t0…
            ViewChange::Replay(ReplayEvent::ReplayRequested(requested(lasting, &tenant, t0 - secs(1)))),
        ],
    )
    .await;
    // …but its progress, stamped two seconds ahead, keeps it until five seconds after.
    let progress = ReplayEvent::ReplayProgressed { replay_id: lasting, queued: 3, next: None, at: t0 + secs(2) };
    apply(&store, vec![ViewChange::Replay(progress)]).await;
    assert_eq!(read(&*store, old).await, None, "a replay past its retention is not shown");
    let listed = |store: std::sync::Arc<dyn ViewStore>, tenant: TenantId| async move {
        list_all(&*store, Some(&tenant), 10).await.into_iter().map(|v| v.request.replay_id).collect::<Vec<_>>()
    };
    assert_eq!(listed(store.clone(), tenant.clone()).await, vec![lasting]);

    // Half-way between the request's retention and the progress's: room either side
    // for a slow database.
    tokio::time::sleep_until(started + Duration::from_millis(3500)).await;
    assert_eq!(
        read(&*store, lasting).await.map(|v| v.queued),
        Some(3),
        "past its request's retention, its progress keeps it"
    );
    let s = &store;
    wait_until("the replay expires", Duration::from_secs(20), || async move { read(&**s, lasting).await.is_none() })
        .await;
    assert_eq!(listed(store.clone(), tenant.clone()).await, Vec::<ReplayId>::new(), "nor is it listed");
    store.purge_expired(Utc::now()).await.expect("purge");
    assert_eq!(read(&*store, lasting).await, None);
}
