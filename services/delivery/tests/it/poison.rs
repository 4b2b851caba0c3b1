//! Records the role cannot work on, or whose outcome the log cannot take, are set
//! aside (dead-letter topic, else the quarantine) and passed: the role keeps running
//! and delivers the next task.

use chrono::Utc;
use hookline_delivery::ERROR_HEADER;
use hookline_domain::{topics, TaskAccepted, TaskId};
use hookline_log::{EventLog, NewRecord};
use hookline_quarantine::{OFFSET_HEADER, REASON_HEADER, TOPIC_HEADER};
use hookline_records::task_accepted_record;
use hookline_testkit::{wait_until, Receiver, Reply, Script};
use serde_json::value::RawValue;
use std::time::Duration;

use crate::harness::{fast_config, Node};

const WAIT: Duration = Duration::from_secs(30);

/// `record` with its value grown so that the log counts it at exactly its limit.
fn at_limit(log: &dyn EventLog, mut record: NewRecord, fill: impl Fn(usize) -> Vec<u8>) -> NewRecord {
    let room = log.max_record_bytes() - log.record_bytes(&record) + record.value.len();
    record.value = fill(room);
    assert_eq!(log.record_bytes(&record), log.max_record_bytes());
    record
}

#[tokio::test]
async fn garbage_wrong_schemas_and_records_at_the_limit_are_set_aside_and_the_next_task_is_delivered() {
    let receiver = Receiver::start().await;
    receiver.set("/fail", Script::always(Reply::Status(500)));
    let node = Node::start(fast_config()).await;
    let failing = node.subscribe(&receiver.url("/fail"), None).await;
    let ok = node.subscribe(&receiver.url("/ok"), None).await;
    let key = ok.to_string().into_bytes();
    let plain = |topic: &str, value: &[u8]| NewRecord {
        topic: topic.to_string(),
        key: key.clone(),
        headers: vec![],
        value: value.to_vec(),
    };
    let tier = topics::retry_tier(1);

    // Garbage as large as the log takes: its dead-letter copy (one more header) is not.
    let huge_garbage = at_limit(node.log.as_ref(), plain(topics::DELIVERIES, b""), |n| vec![0xff; n]);
    // A TaskAccepted as large as the log takes, to a failing receiver: its retry, which
    // carries the task, is larger.
    let task = TaskAccepted {
        task_id: TaskId::new(),
        subscription_id: failing,
        event_type: None,
        accepted_at: Utc::now(),
        payload: RawValue::from_string("\"\"".into()).unwrap(),
        event_id: None,
        ordering_key: None,
        trace: None,
    };
    let huge_task = at_limit(node.log.as_ref(), task_accepted_record(&task), |n| {
        let filler = "x".repeat(n - task_accepted_record(&task).value.len());
        let payload = RawValue::from_string(format!("\"{filler}\"")).unwrap();
        task_accepted_record(&TaskAccepted { payload, ..task.clone() }).value
    });
    let wrong_schema = br#"{"task_id":"0190a5b4-7f43-7cc2-9a3e-2b1f6c8d9e01","attempt_number":1}"#;
    node.log
        .append(vec![
            huge_garbage,
            plain(topics::DELIVERIES, b"\x00\x01garbage"),
            plain(topics::DELIVERIES, wrong_schema),
            plain(&tier, b"\xfe\xff"),
            plain(&tier, wrong_schema),
        ])
        .await
        .expect("append poison");
    node.log.append(vec![huge_task]).await.expect("append the task at the limit");

    // The role goes on: a good task after all of them is delivered.
    let good = node.accept(ok, r#"{"good":true}"#, None).await;
    node.wait_attempts(good.task_id, 1, WAIT).await;
    assert_eq!(receiver.requests("/ok").len(), 1);

    let kept = wait_until(WAIT, "two records in the quarantine", || async {
        let kept = node.read_all(topics::QUARANTINE).await;
        (kept.len() >= 2).then_some(kept)
    })
    .await;
    assert_eq!(kept.len(), 2);
    assert!(kept.iter().all(|r| r.header(TOPIC_HEADER) == Some(topics::DELIVERIES.as_bytes())));
    assert!(kept.iter().all(|r| r.header(REASON_HEADER).is_some() && r.header(OFFSET_HEADER).is_some()));
    let reasons: Vec<&[u8]> = kept.iter().filter_map(|r| r.header(REASON_HEADER)).collect();
    assert!(reasons.contains(&&b"undecodable"[..]) && reasons.contains(&&b"too_large"[..]), "{reasons:?}");
    assert_eq!(receiver.requests("/fail").len(), 1, "the task at the limit was attempted once, then set aside");

    let dead = node.read_all(topics::DLQ).await;
    assert_eq!(dead.len(), 4, "garbage and wrong schemas, from both sources, in the dead-letter topic");
    assert!(dead.iter().all(|r| r.header(ERROR_HEADER).is_some()));
    assert!(node.is_running(), "the role never stopped");
}
