//! How the role treats receivers: `Retry-After` on 429 and 503 (measured), jittered
//! backoff, 410 Gone, and a receiver that drips its answer.

use std::time::{Duration, SystemTime};

use chrono::{DateTime, TimeDelta, Utc};
use hookline_delivery::DeliveryConfig;
use hookline_domain::retry::Jitter;
use hookline_domain::{topics, AttemptRecorded, Outcome, RetryPolicy, RetryScheduled, TaskDeadLettered};
use hookline_testkit::{ReceivedRequest, Receiver, Reply, Script};

use crate::harness::{fast_config, Node};

const WAIT: Duration = Duration::from_secs(15);
/// How late after its due time an attempt may reach the receiver in these tests.
const LATE: Duration = Duration::from_millis(400);

fn busy(status: u16, retry_after: &str) -> Script {
    Script::then(
        vec![Reply::StatusWithHeaders(status, vec![("Retry-After".into(), retry_after.into())])],
        Reply::Status(200),
    )
}

fn assert_between(actual: Duration, low: Duration, high: Duration) {
    assert!(actual >= low && actual <= high, "{actual:?} not within [{low:?}, {high:?}]");
}

/// The second request came no earlier than the first attempt's due time (`wait` after
/// the attempt started, which is before its request reached the receiver, so the gap
/// between the two arrivals may be a little shorter than `wait`), and no later than
/// `late` past `wait` after the first arrival.
fn assert_retried_when_due(requests: &[ReceivedRequest], first: &AttemptRecorded, wait: Duration, late: Duration) {
    let due = first.next_attempt_at.expect("a retry is scheduled");
    let second = DateTime::<Utc>::from(requests[1].received_at);
    assert!(second >= due, "retried at {second}, due {due}");
    assert_between(requests[1].at - requests[0].at, wait.saturating_sub(LATE), wait + late);
}

#[tokio::test]
async fn retry_after_seconds_on_429_delays_the_next_attempt() {
    let receiver = Receiver::start().await;
    receiver.set("/busy", busy(429, "3"));
    let node = Node::start(fast_config()).await;
    let sub = node.subscribe(&receiver.url("/busy"), None).await;
    let task = node.accept(sub, "{}", None).await;

    let requests = receiver.wait_for("/busy", 2, WAIT).await;
    let attempts = node.wait_attempts(task.task_id, 2, WAIT).await;
    // The schedule says 1 s; the receiver asked for 3.
    assert_retried_when_due(&requests, &attempts[0], Duration::from_secs(3), LATE);
    assert_eq!(attempts[0].http_status, Some(429));
    let due = attempts[0].next_attempt_at.expect("a retry is scheduled");
    assert_eq!(due - attempts[0].attempted_at, TimeDelta::seconds(3));
    assert_eq!(attempts[1].outcome, Outcome::Success);
    // Held in the shortest tier that is long enough.
    assert_eq!(node.read_all("hookline.retry.4s").await.len(), 1);
}

#[tokio::test]
async fn retry_after_as_an_http_date_on_503_delays_the_next_attempt() {
    let receiver = Receiver::start().await;
    let not_before = SystemTime::now() + Duration::from_secs(4);
    receiver.set("/maintenance", busy(503, &httpdate::fmt_http_date(not_before)));
    let node = Node::start(fast_config()).await;
    let sub = node.subscribe(&receiver.url("/maintenance"), None).await;
    let task = node.accept(sub, "{}", None).await;

    let requests = receiver.wait_for("/maintenance", 2, WAIT).await;
    // HTTP dates have whole seconds: the date is up to 1 s before `not_before`.
    let date = DateTime::<Utc>::from(httpdate::parse_http_date(&httpdate::fmt_http_date(not_before)).unwrap());
    let second = DateTime::<Utc>::from(requests[1].received_at);
    assert!(second >= date - TimeDelta::milliseconds(20), "retried at {second}, asked not before {date}");
    assert!(second <= date + TimeDelta::from_std(LATE).unwrap(), "retried at {second}, due {date}");
    let attempts = node.wait_attempts(task.task_id, 2, WAIT).await;
    let due = attempts[0].next_attempt_at.expect("a retry is scheduled");
    assert!((due - date).num_milliseconds().abs() < 100, "due {due}, asked {date}");
}

#[tokio::test]
async fn retry_after_is_capped_and_waits_longer_than_any_tier_by_going_round_again() {
    let receiver = Receiver::start().await;
    receiver.set("/later", busy(429, "3600"));
    // Tiers of 1, 2 and 4 s, and no wait longer than 5 s.
    let config = DeliveryConfig { retry: RetryPolicy::exponential(4, 1, 2, 5), ..fast_config() };
    let node = Node::start(config).await;
    let sub = node.subscribe(&receiver.url("/later"), None).await;
    let task = node.accept(sub, "{}", None).await;

    let requests = receiver.wait_for("/later", 2, WAIT).await;
    let attempts = node.wait_attempts(task.task_id, 2, WAIT).await;
    // Late by at most one more durable append and poll than a plain retry.
    let hop = Duration::from_millis(600);
    assert_retried_when_due(&requests, &attempts[0], Duration::from_secs(5), LATE + hop);
    assert_eq!(attempts[0].next_attempt_at.unwrap() - attempts[0].attempted_at, TimeDelta::seconds(5));
    assert_eq!(attempts[1].outcome, Outcome::Success);
    // 4 s in the longest tier, then back in the 1 s tier for the last second, as attempt 2 still.
    let longest = node.read_all("hookline.retry.4s").await;
    let again = node.read_all("hookline.retry.1s").await;
    assert_eq!((longest.len(), again.len()), (1, 1));
    let first: RetryScheduled = serde_json::from_slice(&longest[0].value).unwrap();
    let second: RetryScheduled = serde_json::from_slice(&again[0].value).unwrap();
    assert_eq!((second.attempt, second.due_at), (first.attempt, first.due_at));
}

#[tokio::test]
async fn jitter_spreads_retries_within_bounds() {
    let receiver = Receiver::start().await;
    const TASKS: usize = 6;
    receiver.set("/spread", Script::then(vec![Reply::Status(500); TASKS], Reply::Status(200)));
    let config = DeliveryConfig {
        retry: RetryPolicy::exponential(2, 2, 2, 60),
        retry_jitter: Jitter::new(0.5).unwrap(),
        ..fast_config()
    };
    let node = Node::start(config).await;
    let sub = node.subscribe(&receiver.url("/spread"), None).await;
    let mut tasks = Vec::new();
    for n in 0..TASKS {
        tasks.push(node.accept(sub, &format!(r#"{{"n":{n}}}"#), None).await);
    }

    let requests = receiver.wait_for("/spread", 2 * TASKS, WAIT).await;
    let mut delays = Vec::new();
    for task in &tasks {
        let attempts = node.wait_attempts(task.task_id, 2, WAIT).await;
        let delay = (attempts[0].next_attempt_at.unwrap() - attempts[0].attempted_at).to_std().unwrap();
        // 2 s drawn from [1 s, 2 s]: never later than the schedule.
        assert_between(delay, Duration::from_secs(1), Duration::from_secs(2));
        let id = task.task_id.to_string();
        let sent: Vec<_> = requests.iter().filter(|r| r.header("webhook-id") == Some(id.as_str())).collect();
        assert_eq!(sent.len(), 2);
        // Never before its own due time; never after the un-jittered schedule, even
        // behind an earlier record of the same partition that drew a longer delay.
        let gap = sent[1].at - sent[0].at;
        assert_between(gap, delay.saturating_sub(Duration::from_millis(50)), Duration::from_secs(2) + LATE);
        delays.push(delay);
    }
    delays.sort();
    assert!(delays[TASKS - 1] - delays[0] > Duration::from_millis(50), "no spread: {delays:?}");
}

#[tokio::test]
async fn gone_ends_the_task_after_one_attempt() {
    let receiver = Receiver::start().await;
    receiver.set("/gone", Script::always(Reply::Status(410)));
    let node = Node::start(fast_config()).await;
    let sub = node.subscribe(&receiver.url("/gone"), None).await;
    let task = node.accept(sub, "{}", None).await;

    let attempts = node.wait_attempts(task.task_id, 1, WAIT).await;
    assert_eq!(attempts[0].outcome, Outcome::PermanentlyFailed);
    assert_eq!(attempts[0].http_status, Some(410));
    assert_eq!(attempts[0].error.as_deref(), Some("HTTP 410: receiver gone"));
    assert_eq!(attempts[0].next_attempt_at, None);
    let dead = node.read_all(topics::DLQ).await;
    let dead: TaskDeadLettered = serde_json::from_slice(&dead[0].value).unwrap();
    assert_eq!((dead.attempts, dead.last_error.as_deref()), (1, Some("HTTP 410: receiver gone")));
    // Nothing is scheduled, so nothing more will be sent.
    for tier in ["hookline.retry.1s", "hookline.retry.2s", "hookline.retry.4s"] {
        assert!(node.read_all(tier).await.is_empty(), "{tier}");
    }
    assert_eq!(receiver.requests("/gone").len(), 1);
}

#[tokio::test]
async fn a_receiver_that_drips_its_answer_is_cut_at_the_total_timeout() {
    let receiver = Receiver::start().await;
    receiver.set("/drip", Script::always(Reply::Drip { status: 500, bytes: 60, every: Duration::from_secs(1) }));
    let node = Node::start(DeliveryConfig { timeout: Duration::from_secs(2), ..fast_config() }).await;
    let sub = node.subscribe(&receiver.url("/drip"), None).await;
    let task = node.accept(sub, "{}", None).await;

    let attempts = node.wait_attempts(task.task_id, 1, WAIT).await;
    let attempt = &attempts[0];
    assert_eq!((attempt.outcome, attempt.http_status), (Outcome::FailedAttempt, Some(500)));
    assert!((1900..2600).contains(&attempt.latency_ms), "the attempt took {} ms", attempt.latency_ms);
    // What dripped in before the cut is kept: a couple of bytes of the 60.
    let kept = attempt.response_body.as_deref().unwrap_or_default().len();
    assert!(kept <= 3, "{kept} bytes kept");
}
