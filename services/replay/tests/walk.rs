//! The walk over the embedded views: what it keeps, how it pages across subscriptions,
//! and what a count costs.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use hookline_domain::replay::{ReplayScope, ReplaySelection, ReplayStatus};
use hookline_domain::{AttemptRecorded, LogPosition, Outcome, SubscriptionId, TaskId, TaskView, TenantId};
use hookline_replay::walk::Walk;
use hookline_views::embedded::EmbeddedViews;
use hookline_views::{Retention, ViewChange, ViewStore};

fn views(dir: &tempfile::TempDir) -> Arc<EmbeddedViews> {
    EmbeddedViews::open(&dir.path().join("views.redb"), Retention { ttl: Duration::from_secs(72 * 3600) }).unwrap()
}

/// `count` tasks of `sub` accepted a millisecond apart from `start`; every other one failed.
async fn tasks(views: &EmbeddedViews, sub: SubscriptionId, start: DateTime<Utc>, count: usize) -> Vec<TaskId> {
    let mut failed = Vec::new();
    for chunk in (0..count).collect::<Vec<_>>().chunks(1_000) {
        let mut changes = Vec::new();
        for &i in chunk {
            let created_at = start + TimeDelta::milliseconds(i as i64);
            let task = TaskView {
                task_id: TaskId::new(),
                subscription_id: sub,
                event_type: Some(if i % 3 == 0 { "invoice.paid" } else { "order.created" }.into()),
                created_at,
                last_attempt: None,
            };
            let payload_at = LogPosition { topic: "hookline.deliveries".into(), partition: 0, offset: i as u64 };
            changes.push(ViewChange::Task { task: task.clone(), payload_at });
            if i % 2 == 0 {
                failed.push(task.task_id);
                changes.push(ViewChange::Attempt(AttemptRecorded {
                    task_id: task.task_id,
                    subscription_id: sub,
                    attempt_number: 1,
                    outcome: Outcome::PermanentlyFailed,
                    http_status: Some(500),
                    error: Some("HTTP 500".into()),
                    latency_ms: 1,
                    response_body: None,
                    attempted_at: created_at + TimeDelta::seconds(1),
                    next_attempt_at: None,
                    task_accepted_at: created_at,
                    event_type: task.event_type.clone(),
                    replay_id: None,
                }));
            }
        }
        views.apply(changes).await.unwrap();
    }
    failed
}

fn selection(since: DateTime<Utc>, until: DateTime<Utc>) -> ReplaySelection {
    ReplaySelection {
        scope: ReplayScope::Tenant(TenantId::default()),
        since,
        until,
        statuses: vec![ReplayStatus::Failed],
        event_types: None,
    }
}

#[tokio::test]
async fn the_walk_pages_through_each_subscription_in_turn_and_keeps_the_selection() {
    let dir = tempfile::tempdir().unwrap();
    let views = views(&dir);
    let start = Utc::now() - TimeDelta::hours(1);
    let (a, b, empty) = (SubscriptionId::new(), SubscriptionId::new(), SubscriptionId::new());
    let failed_a = tasks(&views, a, start, 300).await;
    let failed_b = tasks(&views, b, start, 50).await;
    let subscriptions = [a, empty, b];
    let window = selection(start, start + TimeDelta::hours(1));
    let walk = Walk::new(views.as_ref(), &window, &subscriptions);

    let mut at = Walk::start();
    let mut seen: Vec<(SubscriptionId, TaskId)> = Vec::new();
    loop {
        let page = walk.page(&at, 64).await.unwrap();
        assert!(page.tasks.len() <= 64);
        seen.extend(page.tasks.iter().map(|t| (t.subscription_id, t.task_id)));
        match page.next {
            Some(next) => at = next,
            None => break,
        }
    }
    let expected: Vec<(SubscriptionId, TaskId)> =
        failed_a.iter().rev().map(|id| (a, *id)).chain(failed_b.iter().rev().map(|id| (b, *id))).collect();
    assert_eq!(seen, expected, "each subscription in turn, newest first, failed ones only");
    assert_eq!(walk.count().await.unwrap().matched, 175);

    // The window is half open, and event types narrow it further.
    let later = selection(start + TimeDelta::milliseconds(100), start + TimeDelta::milliseconds(200));
    let count = Walk::new(views.as_ref(), &later, &[a]).count().await.unwrap();
    assert_eq!((count.matched, count.exact), (50, true));
    let invoices = ReplaySelection {
        event_types: Some(vec![
            hookline_domain::event_types::EventTypePattern::parse("event_types", "invoice.*").unwrap()
        ]),
        ..later
    };
    // Of 100..200, even and a multiple of 3: multiples of 6 (102, 108, …, 198).
    assert_eq!(Walk::new(views.as_ref(), &invoices, &[a]).count().await.unwrap().matched, 17);
}

#[tokio::test]
async fn a_count_over_forty_thousand_tasks_is_exact_and_measured() {
    let dir = tempfile::tempdir().unwrap();
    let views = views(&dir);
    let start = Utc::now() - TimeDelta::hours(1);
    let sub = SubscriptionId::new();
    tasks(&views, sub, start, 40_000).await;
    let window = selection(start, start + TimeDelta::hours(1));
    let started = Instant::now();
    let count = Walk::new(views.as_ref(), &window, &[sub]).count().await.unwrap();
    println!("counted {} of 40,000 tasks in {:?}", count.matched, started.elapsed());
    assert_eq!((count.matched, count.exact), (20_000, true));
}
