//! Throughput of `apply` on the embedded views, and latency of the status reads.
//!
//! Applies 25,000 tasks with 4 attempts each (100,000 attempts) in batches of 1,000
//! mixed changes, the way the projector sees them: each batch accepts 200 new tasks
//! and records the next attempt of the tasks of the 4 previous batches. Then reads
//! random tasks (`task` + `attempts_for_task`) and subscriptions' recent attempts.
//!
//! Run: `cargo run --release -p hookline-views --example apply_bench`

use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use hookline_domain::{AttemptRecorded, Outcome, SubscriptionId, TaskId, TaskView};
use hookline_views::embedded::EmbeddedViews;
use hookline_views::{Retention, ViewChange, ViewStore};

const TASKS: usize = 25_000;
const ATTEMPTS_PER_TASK: u32 = 4;
const TASKS_PER_BATCH: usize = 200;
const SUBSCRIPTIONS: usize = 100;
const READS: usize = 2_000;

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

/// Batches where batch k accepts tasks of group k and records attempt n of group k - n.
fn batches(tasks: &[TaskView]) -> Vec<Vec<ViewChange>> {
    let groups: Vec<&[TaskView]> = tasks.chunks(TASKS_PER_BATCH).collect();
    (0..groups.len() + ATTEMPTS_PER_TASK as usize)
        .map(|k| {
            let mut batch = Vec::new();
            if let Some(group) = groups.get(k) {
                batch.extend(group.iter().map(accepted));
            }
            for n in 1..=ATTEMPTS_PER_TASK {
                if let Some(group) = k.checked_sub(n as usize).and_then(|g| groups.get(g)) {
                    batch.extend(group.iter().map(|view| ViewChange::Attempt(attempt(view, n))));
                }
            }
            batch
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    format!(
        "p50 {:?}, p99 {:?}, max {:?}",
        percentile(&samples, 0.5),
        percentile(&samples, 0.99),
        samples[samples.len() - 1]
    )
}

/// A cheap deterministic spread over `0..n` (no randomness crate needed).
fn spread(i: usize, n: usize) -> usize {
    (i.wrapping_mul(2_654_435_761) ^ (i >> 3)) % n
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::TempDir::new()?;
    let path = dir.path().join("views.redb");
    let store = EmbeddedViews::open(&path, Retention { ttl: Duration::from_secs(72 * 3600) })?;

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
        "apply: {changes} changes ({TASKS} tasks, {} attempts) in {} batches of up to 1,000 in {:.2?}: {:.0} changes/s",
        TASKS * ATTEMPTS_PER_TASK as usize,
        apply_times.len(),
        elapsed,
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
        let recent = store.attempts_for_subscription(id, 50).await?;
        recent_times.push(t.elapsed());
        assert_eq!(recent.len(), 50);
    }
    println!("attempts_for_subscription(limit 50): {}", summary(recent_times));
    println!("database file: {:.1} MiB", std::fs::metadata(&path)?.len() as f64 / (1024.0 * 1024.0));
    Ok(())
}
