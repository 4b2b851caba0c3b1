//! The ViewStore conformance suite against a real CQL node (`SCYLLA_NODES`, as
//! printed by `scripts/cassandra.sh start`), plus what only a CQL cluster can
//! show: connect errors, migrate twice, and the database's own TTL at work.
//!
//! Every case shares one keyspace made for this run (`hookline_test_<secs>_<n>`),
//! migrated once; keyspaces of runs over an hour old are dropped first.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use hookline_domain::{AttemptRecorded, Outcome, SubscriptionId, TaskId, TaskView};
use hookline_views::conformance::{self, ViewStoreFactory, LONG_RETENTION};
use hookline_views::{Retention, ViewChange, ViewError, ViewStore};
use hookline_views_scylla::{migrate, ScyllaSettings, ScyllaViews};
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use tokio::sync::OnceCell;

const TEST_KEYSPACE_PREFIX: &str = "hookline_test_";
const STALE_AFTER_SECS: i64 = 3600;

/// The contact points, or `None` (after saying SKIPPED) when no node was given;
/// with `HOOKLINE_REQUIRE_ENGINES=1` a missing node fails the test instead.
fn nodes() -> Option<Vec<String>> {
    match std::env::var("SCYLLA_NODES") {
        Ok(nodes) if !nodes.trim().is_empty() => Some(nodes.split(',').map(|n| n.trim().to_string()).collect()),
        _ if std::env::var("HOOKLINE_REQUIRE_ENGINES").as_deref() == Ok("1") => {
            panic!("SCYLLA_NODES is not set and HOOKLINE_REQUIRE_ENGINES=1: run scripts/cassandra.sh start and export the SCYLLA_NODES=... line it prints")
        }
        _ => {
            println!("SKIPPED: SCYLLA_NODES not set (run scripts/cassandra.sh start)");
            None
        }
    }
}

fn settings(nodes: Vec<String>, keyspace: &str) -> ScyllaSettings {
    ScyllaSettings { nodes, keyspace: keyspace.to_string(), ..ScyllaSettings::default() }
}

async fn raw_session(nodes: &[String]) -> Session {
    SessionBuilder::new().known_nodes(nodes).build().await.expect("a session to the test node")
}

/// Drops the keyspaces that earlier runs left behind, once they are over an hour old.
async fn drop_stale_keyspaces(session: &Session) {
    let rows = session
        .query_unpaged("SELECT keyspace_name FROM system_schema.keyspaces", &[])
        .await
        .expect("list keyspaces")
        .into_rows_result()
        .expect("rows");
    let names: Vec<String> = rows.rows::<(String,)>().expect("names").map(|r| r.expect("a name").0).collect();
    let cutoff = Utc::now().timestamp() - STALE_AFTER_SECS;
    for name in names {
        let started = name.strip_prefix(TEST_KEYSPACE_PREFIX).and_then(|rest| rest.split('_').next()?.parse().ok());
        if started.is_some_and(|secs: i64| secs < cutoff) {
            session.query_unpaged(format!("DROP KEYSPACE IF EXISTS {name}"), &[]).await.expect("drop a stale keyspace");
        }
    }
}

/// This run's keyspace, migrated by the first test that asks.
async fn run_keyspace(nodes: &[String]) -> &'static str {
    static KEYSPACE: OnceCell<String> = OnceCell::const_new();
    KEYSPACE
        .get_or_init(|| async {
            drop_stale_keyspaces(&raw_session(nodes).await).await;
            let name = format!("{TEST_KEYSPACE_PREFIX}{}_{}", Utc::now().timestamp(), rand::random::<u32>());
            migrate(&settings(nodes.to_vec(), &name)).await.expect("migrate the test keyspace");
            name
        })
        .await
}

/// Stores of the run's keyspace, each its own connection.
fn stores(nodes: Vec<String>, keyspace: &'static str) -> impl ViewStoreFactory {
    move |retention: Retention| {
        let settings = settings(nodes.clone(), keyspace);
        async move {
            ScyllaViews::connect(&settings, retention).await.expect("connect to the test keyspace")
                as Arc<dyn ViewStore>
        }
    }
}

macro_rules! conformance_cases {
    ($($case:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $case() {
            let Some(nodes) = nodes() else { return };
            let keyspace = run_keyspace(&nodes).await;
            conformance::$case(&stores(nodes, keyspace)).await;
        }
    )*};
}

hookline_views::every_conformance_case!(conformance_cases);

#[tokio::test]
async fn connect_to_a_closed_port_fails_fast_as_unavailable() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let started = Instant::now();
    let closed = settings(vec![format!("127.0.0.1:{port}")], "hookline");
    match ScyllaViews::connect(&closed, LONG_RETENTION).await {
        Err(ViewError::Unavailable(message)) => {
            assert!(message.contains(&format!("no CQL node answered at 127.0.0.1:{port}")), "{message}");
        }
        Err(other) => panic!("expected Unavailable, got {other}"),
        Ok(_) => panic!("connect to a closed port succeeded"),
    }
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    match migrate(&closed).await {
        Err(ViewError::Unavailable(_)) => {}
        other => panic!("migrate against a closed port must be Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn connect_to_a_keyspace_never_migrated_names_hookline_migrate() {
    let Some(nodes) = nodes() else { return };
    let never = format!("{TEST_KEYSPACE_PREFIX}{}_never_migrated", Utc::now().timestamp());
    match ScyllaViews::connect(&settings(nodes, &never), LONG_RETENTION).await {
        Err(ViewError::Storage(message)) => {
            assert!(message.contains("hookline migrate"), "{message}");
            assert!(message.contains(&never), "{message}");
        }
        Err(other) => panic!("expected a Storage error naming hookline migrate, got {other}"),
        Ok(_) => panic!("connect to a keyspace that was never migrated succeeded"),
    }
}

#[tokio::test]
async fn migrate_twice_is_harmless() {
    let Some(nodes) = nodes() else { return };
    let keyspace = run_keyspace(&nodes).await;
    let settings = settings(nodes, keyspace);
    migrate(&settings).await.expect("a second migrate of the same keyspace");
    ScyllaViews::connect(&settings, LONG_RETENTION).await.expect("connect after the second migrate");
}

/// A keyspace migrated before tenants existed (without the tenant columns and the
/// event tables) gains them with the next `migrate`, and then keeps a subscription's
/// tenant and patterns.
#[tokio::test]
async fn migrate_brings_a_keyspace_from_before_tenants_up_to_date() {
    let Some(nodes) = nodes() else { return };
    let session = raw_session(&nodes).await;
    let keyspace = format!("{TEST_KEYSPACE_PREFIX}{}_old_{}", Utc::now().timestamp(), rand::random::<u16>());
    let settings = settings(nodes, &keyspace);
    migrate(&settings).await.expect("migrate");
    let older = [
        "ALTER TABLE {ks}.subscriptions DROP (tenant_id, event_types, delivery)",
        "ALTER TABLE {ks}.subscriptions_listing DROP (tenant_id, event_types, delivery)",
        "DROP TABLE {ks}.events",
        "DROP TABLE {ks}.events_by_tenant",
        "DROP TABLE {ks}.event_listing_buckets",
        "DROP TABLE {ks}.tokens_last_used",
    ];
    for statement in older {
        let statement = statement.replace("{ks}", &keyspace);
        session.query_unpaged(statement.as_str(), &[]).await.unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    session.await_schema_agreement().await.expect("schema agreement");
    match ScyllaViews::connect(&settings, LONG_RETENTION).await {
        Err(ViewError::Storage(message)) => assert!(message.contains("events"), "{message}"),
        Err(other) => panic!("expected a Storage error naming the missing tables, got {other}"),
        Ok(_) => panic!("connect to a keyspace without the event tables succeeded"),
    }

    migrate(&settings).await.expect("migrate the older keyspace");
    let store = ScyllaViews::connect(&settings, LONG_RETENTION).await.expect("connect after migrate");
    let patterns = hookline_domain::event_types::parse_patterns("event_types", &["order.*"]).expect("patterns");
    let subscription = hookline_domain::Subscription {
        tenant_id: hookline_domain::TenantId::generate(),
        ..hookline_domain::Subscription::new(SubscriptionId::new(), "https://example.com/h", now_ms())
            .with_patterns(Some(patterns))
    };
    let created = hookline_domain::SubscriptionEvent::SubscriptionCreated { subscription: subscription.clone() };
    store.apply(vec![ViewChange::Subscription(created)]).await.expect("apply");
    let state = store.subscription(subscription.id).await.expect("read");
    assert_eq!(state, Some(hookline_domain::SubscriptionState::Live(subscription.clone())));
    assert_eq!(store.subscriptions(10, None).await.expect("list").items, vec![subscription]);
    session.query_unpaged(format!("DROP KEYSPACE IF EXISTS {keyspace}"), &[]).await.expect("drop the keyspace");
}

/// A keyspace whose attempt types came before replays (no `replay_id` field) gains
/// the field with the next `migrate`, and then keeps an attempt's replay.
#[tokio::test]
async fn migrate_adds_the_replay_to_attempt_types_from_before_replays() {
    let Some(nodes) = nodes() else { return };
    let session = raw_session(&nodes).await;
    let keyspace = format!("{TEST_KEYSPACE_PREFIX}{}_types_{}", Utc::now().timestamp(), rand::random::<u16>());
    let settings = settings(nodes, &keyspace);
    let older = [
        "CREATE KEYSPACE {ks} WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
        "CREATE TYPE {ks}.attempt_record (attempt_number int, subscription_id uuid, outcome text, http_status int, \
         error text, latency_ms bigint, response_body text, attempted_at timestamp, next_attempt_at timestamp, \
         task_accepted_at timestamp, event_type text)",
        "CREATE TYPE {ks}.last_attempt (attempt_number int, outcome text, attempted_at timestamp, http_status int, \
         error text, next_attempt_at timestamp)",
    ];
    for statement in older {
        let statement = statement.replace("{ks}", &keyspace);
        session.query_unpaged(statement.as_str(), &[]).await.unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
    session.await_schema_agreement().await.expect("schema agreement");
    migrate(&settings).await.expect("migrate the older keyspace");
    let store = ScyllaViews::connect(&settings, LONG_RETENTION).await.expect("connect after migrate");
    let view = accepted(SubscriptionId::new(), now_ms());
    let replayed = AttemptRecorded {
        replay_id: Some(hookline_domain::ReplayId::new()),
        ..attempt(&view, 2, Outcome::Success, now_ms())
    };
    store.apply(vec![accept(&view), ViewChange::Attempt(replayed.clone())]).await.expect("apply");
    assert_eq!(store.attempts_for_task(view.task_id).await.expect("attempts"), vec![replayed.clone()]);
    let task = store.task(view.task_id).await.expect("task").expect("the task");
    assert_eq!(task.last_attempt.and_then(|a| a.replay_id), replayed.replay_id);
    session.query_unpaged(format!("DROP KEYSPACE IF EXISTS {keyspace}"), &[]).await.expect("drop the keyspace");
}

fn now_ms() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).expect("clock in range")
}

fn attempt(view: &TaskView, number: u32, outcome: Outcome, at: DateTime<Utc>) -> AttemptRecorded {
    AttemptRecorded {
        task_id: view.task_id,
        subscription_id: view.subscription_id,
        attempt_number: number,
        outcome,
        http_status: Some(if outcome == Outcome::Success { 200 } else { 503 }),
        error: None,
        latency_ms: 3,
        response_body: None,
        attempted_at: at,
        next_attempt_at: None,
        task_accepted_at: view.created_at,
        event_type: None,
        replay_id: None,
    }
}

fn accepted(sub: SubscriptionId, at: DateTime<Utc>) -> TaskView {
    TaskView { task_id: TaskId::new(), subscription_id: sub, event_type: None, created_at: at, last_attempt: None }
}

/// The TaskAccepted change of a task view.
fn accept(view: &TaskView) -> ViewChange {
    let payload_at = hookline_domain::LogPosition { topic: "hookline.deliveries".into(), partition: 1, offset: 5 };
    ViewChange::Task { task: view.clone(), payload_at }
}

/// A repeated attempt that lost but is the newest entry of the subscription's
/// index must not hide the winner from a listing of one.
#[tokio::test]
async fn a_newer_losing_record_does_not_shadow_the_winner_in_a_short_listing() {
    let Some(nodes) = nodes() else { return };
    let store = stores(nodes.clone(), run_keyspace(&nodes).await).open(LONG_RETENTION).await;
    let t0 = now_ms() - TimeDelta::seconds(60);
    let view = accepted(SubscriptionId::new(), t0);
    let winner = attempt(&view, 1, Outcome::Success, t0);
    let loser = attempt(&view, 1, Outcome::FailedAttempt, t0 + TimeDelta::seconds(30));
    store.apply(vec![ViewChange::Attempt(loser), ViewChange::Attempt(winner.clone())]).await.expect("apply");
    let listed = store.attempts_for_subscription(view.subscription_id, 1).await.expect("list");
    assert_eq!(listed, vec![winner]);
}

/// A bucket shared by entries of different retentions stays named as long as its
/// longest-lived entry: a later write with a shorter retention (a store with
/// another retention, or one shortened since) must not hide an entry still alive.
#[tokio::test]
async fn a_shorter_retention_does_not_hide_a_longer_lived_task_of_its_bucket() {
    let Some(nodes) = nodes() else { return };
    let keyspace = run_keyspace(&nodes).await;
    let long = stores(nodes.clone(), keyspace).open(LONG_RETENTION).await;
    let short = stores(nodes, keyspace).open(Retention { ttl: Duration::from_secs(2) }).await;
    let sub = SubscriptionId::new();
    // A second ahead, so that it is still live when written; the other a millisecond
    // before it, in the same day's bucket of the subscription (and the same hour's).
    let later = accepted(sub, now_ms() + TimeDelta::seconds(1));
    let lasting = accepted(sub, later.created_at - TimeDelta::milliseconds(1));
    long.apply(vec![accept(&lasting)]).await.expect("apply the lasting task");
    short.apply(vec![accept(&later)]).await.expect("apply the short-lived task");
    let of_sub = hookline_views::TaskFilter { subscription: Some(sub), ..Default::default() };
    assert_eq!(long.tasks(of_sub, 10, None).await.expect("list").items, vec![later.clone(), lasting.clone()]);
    // Every write of the short-lived task had a TTL ending by its time plus the 2 s
    // retention, rounded up to the second: past that, none of them can be alive.
    let gone_by = later.created_at + TimeDelta::seconds(3);
    let wait = (gone_by - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait).await;
    assert_eq!(short.task(later.task_id).await.expect("task"), None, "the short-lived task expired");
    assert_eq!(long.tasks(of_sub, 10, None).await.expect("list").items, vec![lasting.clone()]);
    let everyone = long.tasks(hookline_views::TaskFilter::default(), 1000, None).await.expect("list all");
    assert!(everyone.items.contains(&lasting), "nor hidden from the listing of all");
}

/// The database itself deletes expired rows (their TTL), not just the reads that
/// hide them: the raw tables end up without them.
#[tokio::test]
async fn the_database_drops_expired_rows_by_itself() {
    let Some(nodes) = nodes() else { return };
    let keyspace = run_keyspace(&nodes).await;
    let store = stores(nodes.clone(), keyspace).open(Retention { ttl: Duration::from_secs(2) }).await;
    let view = accepted(SubscriptionId::new(), now_ms());
    let first = attempt(&view, 1, Outcome::Success, view.created_at);
    store.apply(vec![accept(&view), ViewChange::Attempt(first)]).await.expect("apply");

    let session = raw_session(&nodes).await;
    let (task, sub) = (view.task_id.0, view.subscription_id.0);
    let day = i32::try_from(view.created_at.timestamp().div_euclid(86_400)).expect("a day after 1970");
    let stored = || async {
        let count = |table: &str, key: &str, values: (uuid::Uuid, Option<i32>)| {
            let query = match values.1 {
                Some(_) => format!("SELECT COUNT(*) FROM {keyspace}.{table} WHERE {key} = ? AND day = ?"),
                None => format!("SELECT COUNT(*) FROM {keyspace}.{table} WHERE {key} = ?"),
            };
            let session = &session;
            async move {
                let result = match values {
                    (id, Some(day)) => session.query_unpaged(query, (id, day)).await,
                    (id, None) => session.query_unpaged(query, (id,)).await,
                };
                let rows = result.expect("count").into_rows_result().expect("rows");
                rows.single_row::<(i64,)>().expect("one count").0
            }
        };
        [
            count("delivery_tasks", "task_id", (task, None)).await,
            count("attempts_by_task", "task_id", (task, None)).await,
            count("attempts_by_subscription", "subscription_id", (sub, Some(day))).await,
            count("task_payload_positions", "task_id", (task, None)).await,
            count("tasks_by_subscription", "subscription_id", (sub, Some(day))).await,
        ]
    };
    assert_eq!(stored().await, [1; 5], "task, attempt, index entry, payload position and listing entry are written");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = stored().await;
        if left == [0; 5] {
            break;
        }
        assert!(Instant::now() < deadline, "rows {left:?} still stored 20 s after a 2 s retention");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(store.attempts_for_subscription(view.subscription_id, 10).await.expect("list"), vec![]);
}

/// The database expires rows itself, so a purge finds nothing to delete and says
/// so, and leaves rows whose retention has not passed alone.
#[tokio::test]
async fn purge_deletes_nothing_and_keeps_live_rows() {
    let Some(nodes) = nodes() else { return };
    let store = stores(nodes.clone(), run_keyspace(&nodes).await).open(LONG_RETENTION).await;
    let view = accepted(SubscriptionId::new(), now_ms());
    let first = attempt(&view, 1, Outcome::Success, view.created_at);
    store.apply(vec![accept(&view), ViewChange::Attempt(first.clone())]).await.expect("apply");
    assert_eq!(store.purge_expired(Utc::now()).await.expect("purge"), 0);
    assert_eq!(store.task(view.task_id).await.expect("task"), Some(view.merge(TaskView::from_attempt(&first))));
    assert_eq!(store.attempts_for_task(first.task_id).await.expect("attempts"), vec![first.clone()]);
    assert_eq!(store.attempts_for_subscription(first.subscription_id, 10).await.expect("listing"), vec![first]);
}
