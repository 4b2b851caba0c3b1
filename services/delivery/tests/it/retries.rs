//! Retries through the tier topics: timing, identity, giving up, and following the
//! subscription's current URL.

use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use hookline_domain::{topics, Outcome, RetryScheduled, TaskAccepted, TaskDeadLettered, TaskId};
use hookline_log::{EventLog, NewRecord};
use hookline_testkit::{Receiver, Reply, Script};
use serde_json::value::RawValue;

use crate::harness::{fast_config, Node};

const WAIT: Duration = Duration::from_secs(15);
/// How far a retry may land from its due time in these tests.
const SLACK: Duration = Duration::from_millis(300);

fn assert_near(actual: Duration, expected: Duration) {
    let low = expected.saturating_sub(SLACK);
    let high = expected + SLACK;
    assert!(actual >= low && actual <= high, "gap {actual:?}, expected {expected:?} ± {SLACK:?}");
}

#[tokio::test]
async fn fails_twice_then_succeeds_on_schedule_with_the_same_id() {
    let receiver = Receiver::start().await;
    receiver.set("/flaky", Script::then(vec![Reply::Status(500); 2], Reply::Status(200)));
    let node = Node::start(fast_config()).await;
    let sub = node.subscribe(&receiver.url("/flaky"), Some("topsecret")).await;
    let task = node.accept(sub, r#"{"n":1}"#, None).await;

    let requests = receiver.wait_for("/flaky", 3, WAIT).await;
    assert_near(requests[1].at - requests[0].at, Duration::from_secs(1));
    assert_near(requests[2].at - requests[1].at, Duration::from_secs(2));
    let task_id = task.task_id.to_string();
    assert!(requests.iter().all(|r| r.header("webhook-id") == Some(task_id.as_str())));

    let attempts = node.wait_attempts(task.task_id, 3, WAIT).await;
    let outcomes: Vec<Outcome> = attempts.iter().map(|a| a.outcome).collect();
    assert_eq!(outcomes, [Outcome::FailedAttempt, Outcome::FailedAttempt, Outcome::Success]);
    assert_eq!(attempts.iter().map(|a| a.attempt_number).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(attempts[0].error.as_deref(), Some("HTTP 500"));
    assert_eq!(attempts[0].http_status, Some(500));
    assert_eq!(attempts[0].response_body.as_deref(), Some("status 500"));
    for pair in attempts.windows(2) {
        let due = pair[0].next_attempt_at.expect("a failed attempt says when the next is due");
        assert_eq!(due - pair[0].attempted_at, TimeDelta::seconds(1 << (pair[0].attempt_number - 1)));
        let late = (pair[1].attempted_at - due).num_milliseconds();
        assert!((-50..300).contains(&late), "attempt {} made {late} ms after due", pair[1].attempt_number);
    }
    assert_eq!(attempts[2].next_attempt_at, None);

    // The waits went through the tiers named by the schedule.
    let first_tier = node.read_all("hookline.retry.1s").await;
    let second_tier = node.read_all("hookline.retry.2s").await;
    assert_eq!((first_tier.len(), second_tier.len()), (1, 1));
    let retry: RetryScheduled = serde_json::from_slice(&second_tier[0].value).expect("retry decodes");
    assert_eq!(retry.attempt, 3);
    assert_eq!(retry.task.payload.get(), r#"{"n":1}"#);
    assert!(node.read_all(topics::DLQ).await.is_empty());
}

#[tokio::test]
async fn always_failing_gives_up_after_the_last_attempt() {
    let receiver = Receiver::start().await;
    receiver.set("/down", Script::always(Reply::Status(500)));
    let node = Node::start(fast_config()).await;
    let sub = node.subscribe(&receiver.url("/down"), None).await;
    let task = node.accept(sub, "{}", None).await;

    let attempts = node.wait_attempts(task.task_id, 4, WAIT).await;
    let outcomes: Vec<Outcome> = attempts.iter().map(|a| a.outcome).collect();
    assert_eq!(
        outcomes,
        [Outcome::FailedAttempt, Outcome::FailedAttempt, Outcome::FailedAttempt, Outcome::PermanentlyFailed]
    );
    assert_eq!(attempts[3].next_attempt_at, None);

    let dead = node.read_all(topics::DLQ).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].header(topics::EVENT_HEADER), Some(&b"TaskDeadLettered"[..]));
    let dead: TaskDeadLettered = serde_json::from_slice(&dead[0].value).expect("dead letter decodes");
    assert_eq!(dead.task.task_id, task.task_id);
    assert_eq!(dead.attempts, 4);
    assert_eq!(dead.last_error.as_deref(), Some("HTTP 500"));
    assert_eq!(receiver.requests("/down").len(), 4);
}

#[tokio::test]
async fn a_retry_goes_to_the_subscriptions_current_url() {
    let receiver = Receiver::start().await;
    receiver.set("/old", Script::always(Reply::Status(503)));
    let node = Node::start(fast_config()).await;
    let sub = node.subscribe(&receiver.url("/old"), None).await;
    let task = node.accept(sub, "{}", None).await;

    let first = node.wait_attempts(task.task_id, 1, WAIT).await;
    assert_eq!(first[0].outcome, Outcome::FailedAttempt);
    node.change_url(sub, &receiver.url("/new")).await;

    let attempts = node.wait_attempts(task.task_id, 2, WAIT).await;
    assert_eq!(attempts[1].outcome, Outcome::Success);
    assert_eq!(receiver.requests("/old").len(), 1);
    assert_eq!(receiver.requests("/new").len(), 1);
}

#[tokio::test]
async fn a_retry_due_absurdly_late_waits_no_longer_than_its_tier() {
    let receiver = Receiver::start().await;
    let node = Node::start(fast_config()).await;
    let sub = node.subscribe(&receiver.url("/skewed"), None).await;
    let task = TaskAccepted {
        task_id: TaskId::new(),
        subscription_id: sub,
        event_type: None,
        accepted_at: Utc::now(),
        payload: RawValue::from_string("{}".into()).expect("json"),
        event_id: None,
        ordering_key: None,
        trace: None,
    };
    // As if written by an instance whose clock ran a century ahead.
    let retry =
        RetryScheduled { task: task.clone(), attempt: 2, due_at: Utc::now() + TimeDelta::days(36_500), replay: None };
    let record = NewRecord {
        topic: "hookline.retry.1s".into(),
        key: sub.to_string().into_bytes(),
        headers: vec![(topics::EVENT_HEADER.into(), RetryScheduled::KIND.as_bytes().to_vec())],
        value: serde_json::to_vec(&retry).expect("serialize"),
    };
    let appended = Instant::now();
    node.log.append(vec![record]).await.expect("append retry");

    let request = receiver.wait_for("/skewed", 1, WAIT).await.remove(0);
    assert!(request.at - appended < Duration::from_secs(1) + SLACK, "held {:?}", request.at - appended);
    let attempts = node.wait_attempts(task.task_id, 1, WAIT).await;
    assert_eq!((attempts[0].attempt_number, attempts[0].outcome), (2, Outcome::Success));
}
