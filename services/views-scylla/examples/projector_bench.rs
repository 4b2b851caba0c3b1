//! Throughput of `apply` on the CQL views, and latency of the status reads, against
//! the node of `SCYLLA_NODES` (run `scripts/cassandra.sh start` first).
//!
//! Applies 25,000 tasks with 4 attempts each (100,000 attempts, 100 subscriptions)
//! in batches of 1,000 changes the way the projector sees them: batch k accepts the
//! 200 tasks of group k and records attempt n of the tasks of group k - n. Batches
//! are applied one after the other, as the projector does. Then reads random tasks
//! (`task` + `attempts_for_task`) and subscriptions' 50 most recent attempts.
//! The keyspace (`hookline_bench_<secs>`) is made for the run and dropped after it.
//!
//! Run: `SCYLLA_NODES=127.0.0.1:19042 cargo run --release -p hookline-views-scylla --example projector_bench`

use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use hookline_domain::{AttemptRecorded, Outcome, SubscriptionId, TaskId, TaskView};
use hookline_views::{Retention, ViewChange, ViewStore};
use hookline_views_scylla::{migrate, ScyllaSettings, ScyllaViews};
use scylla::client::session_builder::SessionBuilder;

const TASKS: usize = 25_000;
const ATTEMPTS_PER_TASK: u32 = 4;
/// 200 acceptances and 800 attempts: 1,000 changes per batch once the pipeline is full.
const TASKS_PER_BATCH: usize = 200;
const SUBSCRIPTIONS: usize = 100;
const READS: usize = 2_000;
const RECENT: usize = 50;

/// The TaskAccepted of a task: the views keep where its record is in the log.
fn accepted(view: &TaskView) -> ViewChange {
    let offset = u64::from_be_bytes(view.task_id.as_bytes()[8..].try_into().expect("8 bytes")) >> 24;
    let payload_at = hookline_domain::LogPosition { topic: "hookline.deliveries".into(), partition: 3, offset };
    ViewChange::Task { task: view.clone(), payload_at }
}

fn attempt(view: &TaskView, number: u32) -> AttemptRecorded {
    let outcome = if number == ATTEMPTS_PER_TASK { Outcome::Success } else { Outcome::FailedAttempt };
    let at = view.created_at + TimeDelta::seconds(10 * i64::from(number));
    AttemptRecorded {
        task_id: view.task_id,
        subscription_id: view.subscription_id,
        attempt_number: number,
        outcome,
        http_status: Some(if outcome == Outcome::Success { 200 } else { 503 }),
        error: (outcome != Outcome::Success).then(|| "503 Service Unavailable".to_string()),
        latency_ms: 40,
        response_body: Some("{\"ok\":false}".to_string()),
        attempted_at: at,
        next_attempt_at: (outcome != Outcome::Success).then(|| at + TimeDelta::seconds(30)),
        task_accepted_at: view.created_at,
        event_type: view.event_type.clone(),
        replay_id: None,
    }
}

fn batches(tasks: &[TaskView]) -> Vec<Vec<ViewChange>> {
    let groups: Vec<&[TaskView]> = tasks.chunks(TASKS_PER_BATCH).collect();
    (0..groups.len() + ATTEMPTS_PER_TASK as usize)
        .map(|k| {
            let mut batch: Vec<ViewChange> =
                groups.get(k).map_or_else(Vec::new, |group| group.iter().map(accepted).collect());
            for n in 1..=ATTEMPTS_PER_TASK {
                if let Some(group) = k.checked_sub(n as usize).and_then(|g| groups.get(g)) {
                    batch.extend(group.iter().map(|view| ViewChange::Attempt(attempt(view, n))));
                }
            }
            batch
        })
        .collect()
}

fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    format!("p50 {:.2?}, p99 {:.2?}, max {:.2?}", at(0.5), at(0.99), samples[samples.len() - 1])
}

/// A cheap deterministic spread over `0..n`.
fn spread(i: usize, n: usize) -> usize {
    (i.wrapping_mul(2_654_435_761) ^ (i >> 3)) % n
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let nodes = std::env::var("SCYLLA_NODES").map_err(|_| "SCYLLA_NODES not set (run scripts/cassandra.sh start)")?;
    let nodes: Vec<String> = nodes.split(',').map(|n| n.trim().to_string()).collect();
    let keyspace = format!("hookline_bench_{}", Utc::now().timestamp());
    let settings = ScyllaSettings { nodes: nodes.clone(), keyspace: keyspace.clone(), ..ScyllaSettings::default() };
    migrate(&settings).await?;
    let store = ScyllaViews::connect(&settings, Retention { ttl: Duration::from_secs(72 * 3600) }).await?;

    let subscriptions: Vec<SubscriptionId> = (0..SUBSCRIPTIONS).map(|_| SubscriptionId::new()).collect();
    let start = Utc::now() - TimeDelta::hours(1);
    let tasks: Vec<TaskView> = (0..TASKS)
        .map(|i| TaskView {
            task_id: TaskId::new(),
            subscription_id: subscriptions[i % SUBSCRIPTIONS],
            event_type: Some("order.created".to_string()),
            created_at: start + TimeDelta::milliseconds(i as i64),
            last_attempt: None,
        })
        .collect();

    let batches = batches(&tasks);
    let changes: usize = batches.iter().map(Vec::len).sum();
    let mut apply_times = Vec::with_capacity(batches.len());
    let began = Instant::now();
    for batch in batches {
        let t = Instant::now();
        store.apply(batch).await?;
        apply_times.push(t.elapsed());
    }
    let elapsed = began.elapsed();
    println!(
        "apply: {changes} changes ({TASKS} tasks, {} attempts) in {} batches of up to 1,000 in {elapsed:.2?}: {:.0} changes/s",
        TASKS * ATTEMPTS_PER_TASK as usize,
        apply_times.len(),
        changes as f64 / elapsed.as_secs_f64()
    );
    println!("apply latency per batch: {}", summary(apply_times));

    let mut read_times = Vec::with_capacity(READS);
    for i in 0..READS {
        let id = tasks[spread(i, TASKS)].task_id;
        let t = Instant::now();
        let view = store.task(id).await?.ok_or("task missing")?;
        let attempts = store.attempts_for_task(id).await?;
        read_times.push(t.elapsed());
        assert_eq!((view.attempts_count(), attempts.len()), (ATTEMPTS_PER_TASK, ATTEMPTS_PER_TASK as usize));
    }
    println!("task + attempts_for_task ({READS} random tasks): {}", summary(read_times));

    let mut recent_times = Vec::with_capacity(READS);
    for i in 0..READS {
        let id = subscriptions[spread(i, SUBSCRIPTIONS)];
        let t = Instant::now();
        let recent = store.attempts_for_subscription(id, RECENT).await?;
        recent_times.push(t.elapsed());
        assert_eq!(recent.len(), RECENT);
    }
    println!("attempts_for_subscription(limit {RECENT}, {READS} reads): {}", summary(recent_times));

    drop(store);
    let session = SessionBuilder::new().known_nodes(&nodes).build().await?;
    session.query_unpaged(format!("DROP KEYSPACE IF EXISTS {keyspace}"), &[]).await?;
    Ok(())
}
