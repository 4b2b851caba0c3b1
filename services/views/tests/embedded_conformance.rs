//! The conformance suite against the embedded adapter, plus what only a file can
//! show: the views survive closing and reopening.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hookline_domain::{
    EventAccepted, EventId, Outcome, Subscription, SubscriptionEvent, SubscriptionId, SubscriptionState, TaskAccepted,
    TaskId, TaskView, TenantId, TokenId,
};
use hookline_views::conformance::{self, ViewStoreFactory, LONG_RETENTION};
use hookline_views::embedded::EmbeddedViews;
use hookline_views::{EventFilter, EventView, Retention, TaskFilter, ViewChange, ViewError, ViewStore};
use tempfile::TempDir;

/// Each store gets a file of its own in `dir`.
fn stores(dir: &TempDir) -> impl ViewStoreFactory + '_ {
    let opened = AtomicUsize::new(0);
    move |retention: Retention| {
        let path = dir.path().join(format!("views-{}.redb", opened.fetch_add(1, Ordering::Relaxed)));
        async move { EmbeddedViews::open(&path, retention).expect("open the embedded views") as Arc<dyn ViewStore> }
    }
}

macro_rules! conformance_cases {
    ($($case:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $case() {
            let dir = TempDir::new().expect("temp dir");
            conformance::$case(&stores(&dir)).await;
        }
    )*};
}

hookline_views::every_conformance_case!(conformance_cases);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_passes_against_embedded_views() {
    let dir = TempDir::new().expect("temp dir");
    conformance::run_all(&stores(&dir)).await;
}

fn now_ms() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(chrono::Utc::now().timestamp_millis()).expect("clock in range")
}

/// Where the sample's TaskAccepted is in the log.
fn accepted_at() -> hookline_domain::LogPosition {
    hookline_domain::LogPosition { topic: "hookline.deliveries".into(), partition: 2, offset: 17 }
}

/// An event of the default tenant accepted at `at`, and where its record is.
fn sample_event(at: chrono::DateTime<chrono::Utc>) -> EventView {
    let event = EventAccepted {
        event_id: EventId::new(),
        tenant_id: TenantId::default(),
        event_type: "order.created".into(),
        accepted_at: at,
        idempotency_key: Some("k".into()),
        subscriptions: vec![SubscriptionId::new()],
        payload: serde_json::value::RawValue::from_string(r#"{"n": 1}"#.into()).expect("JSON"),
        ordering_key: None,
        trace: None,
    };
    EventView::of(&event, hookline_domain::LogPosition { topic: "hookline.fanout".into(), partition: 1, offset: 9 })
}

fn sample(sub: SubscriptionId) -> (Subscription, TaskAccepted, hookline_domain::AttemptRecorded) {
    let at = now_ms();
    let subscription = Subscription::new(sub, "https://example.com/hook", at);
    let task = TaskAccepted {
        task_id: TaskId::new(),
        subscription_id: sub,
        event_type: None,
        accepted_at: at,
        payload: serde_json::value::RawValue::from_string(r#"{"n": 1}"#.into()).expect("JSON"),
        event_id: None,
        ordering_key: None,
        trace: None,
    };
    let view = TaskView::from_accepted(&task);
    let attempt = hookline_domain::AttemptRecorded {
        task_id: view.task_id,
        subscription_id: sub,
        attempt_number: 1,
        outcome: Outcome::Success,
        http_status: Some(204),
        error: None,
        latency_ms: 5,
        response_body: None,
        attempted_at: at,
        next_attempt_at: None,
        task_accepted_at: at,
        event_type: None,
        replay_id: None,
    };
    (subscription, task, attempt)
}

#[tokio::test]
async fn views_survive_drop_and_reopen() {
    let dir = TempDir::new().expect("temp dir");
    let path: PathBuf = dir.path().join("nested").join("views.redb");
    let sub = SubscriptionId::new();
    let (subscription, task, attempt) = sample(sub);
    let view = TaskView::from_accepted(&task);
    let deleted = SubscriptionId::new();
    let event = sample_event(view.created_at);
    let token = TokenId::new();
    {
        let store = EmbeddedViews::open(&path, LONG_RETENTION).expect("open");
        store
            .apply(vec![
                ViewChange::Event(Box::new(event.clone())),
                ViewChange::TokenUsed { token_id: token, at: view.created_at },
                ViewChange::Subscription(SubscriptionEvent::SubscriptionCreated { subscription: subscription.clone() }),
                ViewChange::Subscription(SubscriptionEvent::SubscriptionDeleted {
                    id: deleted,
                    deleted_at: view.created_at,
                    version: 0,
                    write_id: None,
                }),
                ViewChange::accepted(&task, accepted_at()),
                ViewChange::Attempt(attempt.clone()),
            ])
            .await
            .expect("apply");
    }
    let store = EmbeddedViews::open(&path, LONG_RETENTION).expect("reopen after drop");
    assert_eq!(store.subscription(sub).await.unwrap(), Some(SubscriptionState::Live(subscription)));
    assert_eq!(
        store.subscription(deleted).await.unwrap(),
        Some(SubscriptionState::Deleted { id: deleted, deleted_at: view.created_at })
    );
    assert_eq!(store.task(view.task_id).await.unwrap(), Some(view.merge(TaskView::from_attempt(&attempt))));
    assert_eq!(store.attempts_for_task(attempt.task_id).await.unwrap(), vec![attempt.clone()]);
    assert_eq!(store.attempts_for_subscription(sub, 10).await.unwrap(), vec![attempt]);
    assert_eq!(store.event(event.event_id).await.unwrap(), Some(event.clone()));
    let listed = store.events(&event.tenant_id, &EventFilter::default(), 10, None).await.unwrap();
    assert_eq!(listed.items, vec![event.clone()]);
    assert_eq!(store.tokens_last_used(&[token]).await.unwrap(), [(token, event.accepted_at)].into_iter().collect());
}

#[tokio::test]
async fn a_second_open_of_the_same_file_is_unavailable_until_the_first_is_dropped() {
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join("views.redb");
    let first = EmbeddedViews::open(&path, LONG_RETENTION).expect("open");
    match EmbeddedViews::open(&path, LONG_RETENTION) {
        Err(ViewError::Unavailable(_)) => {}
        Err(other) => panic!("expected Unavailable, got {other}"),
        Ok(_) => panic!("a second open of an open file must fail"),
    }
    drop(first);
    EmbeddedViews::open(&path, LONG_RETENTION).expect("open after the first handle is dropped");
}

/// With a store of its own, the purge count is exact, the expiry survives a reopen,
/// and a second purge finds nothing.
#[tokio::test]
async fn purge_counts_exactly_and_expiry_survives_reopen() {
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join("views.redb");
    let retention = Retention { ttl: Duration::from_secs(60) };
    let (_, task, attempt) = sample(SubscriptionId::new());
    let view = TaskView::from_accepted(&task);
    let event = sample_event(view.created_at);
    let token = TokenId::new();
    {
        let store = EmbeddedViews::open(&path, retention).expect("open");
        store
            .apply(vec![
                ViewChange::accepted(&task, accepted_at()),
                ViewChange::Attempt(attempt.clone()),
                ViewChange::Event(Box::new(event.clone())),
                ViewChange::TokenUsed { token_id: token, at: view.created_at },
            ])
            .await
            .expect("apply");
        assert_eq!(store.purge_expired(chrono::Utc::now()).await.unwrap(), 0, "nothing has expired yet");
    }
    let store = EmbeddedViews::open(&path, retention).expect("reopen");
    let after_expiry = attempt.attempted_at + chrono::TimeDelta::seconds(61);
    assert_eq!(
        store.purge_expired(after_expiry).await.unwrap(),
        3,
        "one task (with its payload position), one attempt and one event"
    );
    assert_eq!(store.purge_expired(after_expiry).await.unwrap(), 0, "a second purge finds nothing");
    assert_eq!(store.task(view.task_id).await.unwrap(), None);
    assert!(store.payload_position(view.task_id).await.unwrap().is_none());
    assert_eq!(store.tasks(TaskFilter::default(), 10, None).await.unwrap().items, vec![]);
    assert_eq!(store.attempts_for_task(view.task_id).await.unwrap(), vec![]);
    assert_eq!(store.attempts_for_subscription(attempt.subscription_id, 10).await.unwrap(), vec![]);
    assert_eq!(store.event(event.event_id).await.unwrap(), None);
    assert_eq!(store.events(&event.tenant_id, &EventFilter::default(), 10, None).await.unwrap().items, vec![]);
    let kept = store.tokens_last_used(&[token]).await.unwrap();
    assert_eq!(kept, [(token, view.created_at)].into_iter().collect(), "token uses are not purged: tokens are few");
}

/// A file written before the task listings existed has tasks and no listing: opening
/// it lists them.
/// A purge of more rows than one transaction takes goes on until every due row is
/// gone, and leaves the rows that are not due.
#[tokio::test]
async fn a_purge_larger_than_one_transaction_deletes_every_due_row() {
    let dir = TempDir::new().expect("temp dir");
    let store =
        EmbeddedViews::open(&dir.path().join("views.redb"), Retention { ttl: Duration::from_secs(60) }).expect("open");
    let sub = SubscriptionId::new();
    let mut last = None;
    for _ in 0..6 {
        let mut changes = Vec::new();
        for _ in 0..1_000 {
            let (_, task, attempt) = sample(sub);
            changes.push(ViewChange::accepted(&task, accepted_at()));
            changes.push(ViewChange::Attempt(attempt.clone()));
            last = Some(attempt);
        }
        store.apply(changes).await.expect("apply");
    }
    let last = last.expect("attempts written");
    let after_expiry = last.attempted_at + chrono::TimeDelta::seconds(61);
    // A row that is not due yet stays.
    let (_, later, _) = sample(sub);
    let later = TaskAccepted { accepted_at: after_expiry, ..later };
    store.apply(vec![ViewChange::accepted(&later, accepted_at())]).await.expect("apply");
    assert_eq!(store.purge_expired(after_expiry).await.unwrap(), 12_000, "6,000 tasks and their attempts");
    assert_eq!(store.attempts_for_subscription(sub, 10).await.unwrap(), vec![]);
    let left = store.tasks(TaskFilter::default(), 10, None).await.unwrap().items;
    assert_eq!(left.iter().map(|t| t.task_id).collect::<Vec<_>>(), vec![later.task_id]);
}

#[tokio::test]
async fn tasks_of_a_file_without_listings_are_listed_on_open() {
    let dir = TempDir::new().expect("temp dir");
    let path = dir.path().join("views.redb");
    let (_, task, attempt) = sample(SubscriptionId::new());
    {
        let store = EmbeddedViews::open(&path, LONG_RETENTION).expect("open");
        store
            .apply(vec![ViewChange::accepted(&task, accepted_at()), ViewChange::Attempt(attempt.clone())])
            .await
            .expect("apply");
    }
    {
        let db = redb::Database::create(&path).expect("open the file with redb");
        let txn = db.begin_write().expect("write transaction");
        for table in ["tasks_by_time", "tasks_by_sub"] {
            let definition: redb::TableDefinition<&[u8], ()> = redb::TableDefinition::new(table);
            assert!(txn.delete_table(definition).expect("delete a listing"), "{table} existed");
        }
        txn.commit().expect("commit");
    }
    let store = EmbeddedViews::open(&path, LONG_RETENTION).expect("reopen");
    let expected = vec![TaskView::from_accepted(&task).merge(TaskView::from_attempt(&attempt))];
    assert_eq!(store.tasks(TaskFilter::default(), 10, None).await.unwrap().items, expected);
    let of_sub = TaskFilter { subscription: Some(task.subscription_id), ..TaskFilter::default() };
    assert_eq!(store.tasks(of_sub, 10, None).await.unwrap().items, expected);
}
