//! Events and helpers shared by the cases.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use hookline_domain::{AttemptRecorded, LogPosition, Outcome, Subscription, SubscriptionId, TaskId, TaskView};

use crate::{ViewChange, ViewStore};

/// Now, to the millisecond (what every adapter can store exactly).
pub(super) fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).expect("the clock is within chrono's range")
}

pub(super) fn secs(n: i64) -> TimeDelta {
    TimeDelta::seconds(n)
}

pub(super) fn subscription(id: SubscriptionId, target_url: &str, at: DateTime<Utc>) -> Subscription {
    Subscription::new(id, target_url, at)
}

/// The view of a TaskAccepted.
pub(super) fn accepted(task: TaskId, sub: SubscriptionId, at: DateTime<Utc>) -> TaskView {
    TaskView {
        task_id: task,
        subscription_id: sub,
        event_type: Some("order.created".to_string()),
        created_at: at,
        last_attempt: None,
    }
}

/// Where a task's TaskAccepted is in the log: a position of its own, derived from its
/// id, so that a store mixing up two tasks' positions is caught.
pub(super) fn accepted_at_position(task: &TaskView) -> LogPosition {
    let bytes = task.task_id.as_bytes();
    LogPosition {
        topic: "hookline.deliveries".into(),
        partition: u32::from(bytes[15] % 16),
        offset: u64::from_be_bytes(bytes[8..16].try_into().expect("8 bytes")) >> 1,
    }
}

/// The TaskAccepted a task view stands for, as the change the projector makes of it.
pub(super) fn accept(task: &TaskView) -> ViewChange {
    ViewChange::Task { task: task.clone(), payload_at: accepted_at_position(task) }
}

pub(super) fn attempt(task: &TaskView, number: u32, outcome: Outcome, at: DateTime<Utc>) -> AttemptRecorded {
    let (http_status, error) = match outcome {
        Outcome::Success => (Some(200), None),
        Outcome::FailedAttempt => (Some(503), Some(format!("attempt {number}: 503"))),
        Outcome::PermanentlyFailed => (Some(410), Some(format!("attempt {number}: gone"))),
    };
    let next_attempt_at = (outcome == Outcome::FailedAttempt).then(|| at + secs(10));
    AttemptRecorded {
        task_id: task.task_id,
        subscription_id: task.subscription_id,
        attempt_number: number,
        outcome,
        http_status,
        error,
        latency_ms: 12 + u64::from(number),
        response_body: Some(format!("body of attempt {number}")),
        attempted_at: at,
        next_attempt_at,
        task_accepted_at: task.created_at,
        event_type: task.event_type.clone(),
        replay_id: None,
    }
}

pub(super) async fn apply(store: &Arc<dyn ViewStore>, changes: Vec<ViewChange>) {
    let count = changes.len();
    if let Err(e) = store.apply(changes).await {
        panic!("apply of {count} changes failed: {e}");
    }
}

pub(super) async fn task(store: &Arc<dyn ViewStore>, id: TaskId) -> Option<TaskView> {
    store.task(id).await.unwrap_or_else(|e| panic!("task({id}) failed: {e}"))
}

pub(super) async fn attempts_for_task(store: &Arc<dyn ViewStore>, id: TaskId) -> Vec<AttemptRecorded> {
    store.attempts_for_task(id).await.unwrap_or_else(|e| panic!("attempts_for_task({id}) failed: {e}"))
}

pub(super) async fn attempts_for_subscription(
    store: &Arc<dyn ViewStore>,
    id: SubscriptionId,
    limit: usize,
) -> Vec<AttemptRecorded> {
    store
        .attempts_for_subscription(id, limit)
        .await
        .unwrap_or_else(|e| panic!("attempts_for_subscription({id}, {limit}) failed: {e}"))
}

/// Polls `check` until it holds; panics after `timeout`.
pub(super) async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out after {timeout:?} waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
