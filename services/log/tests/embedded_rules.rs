//! What the embedded log refuses: oversized records, illegal topics, a second live
//! consumer of a group; and where keys land.

use std::sync::Arc;

use hookline_log::embedded::{partition_for_key, EmbeddedLog, EmbeddedOptions};
use hookline_log::{ConsumerSpec, EventLog, LogError, NewRecord, StartFrom, TopicPartition, TopicSpec};
use tempfile::TempDir;

async fn log_with_topic(options: EmbeddedOptions, partitions: u32) -> (TempDir, Arc<EmbeddedLog>) {
    let dir = TempDir::new().unwrap();
    let log = EmbeddedLog::open(dir.path(), options).unwrap();
    log.ensure_topics(&[TopicSpec { name: "rules".into(), partitions, retention: None }]).await.unwrap();
    (dir, log)
}

fn record(key: &[u8], value_len: usize) -> NewRecord {
    NewRecord { topic: "rules".into(), key: key.to_vec(), headers: Vec::new(), value: vec![1; value_len] }
}

fn spec(group: Option<&str>) -> ConsumerSpec {
    ConsumerSpec { group: group.map(String::from), topics: vec!["rules".into()], start: StartFrom::Earliest }
}

#[tokio::test]
async fn a_record_over_the_limit_is_refused_whole_call() {
    let (_dir, log) = log_with_topic(EmbeddedOptions { max_record_bytes: 1000, ..Default::default() }, 1).await;
    match log.append(vec![record(b"k", 10), record(b"k", 1000)]).await {
        Err(LogError::TooLarge { size, limit }) => assert!(size > 1000 && limit == 1000, "{size} / {limit}"),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert_eq!(log.end_offsets("rules").await.unwrap(), [(0, 0)], "nothing of the refused call is written");
    log.append(vec![record(b"k", 900)]).await.expect("a record within the limit");
}

#[tokio::test]
async fn illegal_topics_are_refused() {
    let (_dir, log) = log_with_topic(EmbeddedOptions::default(), 1).await;
    for (name, partitions) in [("../escape", 1), ("", 1), ("a/b", 1), ("ok", 0)] {
        let result = log.ensure_topics(&[TopicSpec { name: name.into(), partitions, retention: None }]).await;
        assert!(matches!(result, Err(LogError::Invalid(_))), "{name:?} with {partitions} partitions: {result:?}");
    }
    let unknown = log.consumer(ConsumerSpec { topics: vec!["nope".into()], ..spec(None) }).await;
    assert!(matches!(unknown, Err(LogError::UnknownTopic(t)) if t == "nope"));
}

#[tokio::test]
async fn a_group_has_one_live_consumer() {
    let (_dir, log) = log_with_topic(EmbeddedOptions::default(), 2).await;
    let first = log.consumer(spec(Some("g"))).await.unwrap();
    match log.consumer(spec(Some("g"))).await {
        Err(LogError::Invalid(message)) => assert!(message.contains("already has a live consumer"), "{message}"),
        Err(other) => panic!("expected Invalid, got {other}"),
        Ok(_) => panic!("a second consumer of a live group must be refused"),
    }
    log.consumer(spec(Some("other"))).await.expect("another group is free");
    let mut assignment = first.assignment();
    assignment.sort();
    assert_eq!(assignment, [TopicPartition::new("rules", 0), TopicPartition::new("rules", 1)]);
    assert!(matches!(first.pause(&TopicPartition::new("rules", 9)), Err(LogError::Invalid(_))));
    drop(first);
    log.consumer(spec(Some("g"))).await.expect("the group is free once its consumer is dropped");
}

#[tokio::test]
async fn keys_land_where_kafka_puts_them() {
    let (_dir, log) = log_with_topic(EmbeddedOptions::default(), 6).await;
    for key in ["21", "foobar", "abc", "subscription-1", ""] {
        let landed = log.append(vec![record(key.as_bytes(), 3)]).await.unwrap();
        assert_eq!(landed[0].partition, partition_for_key(key.as_bytes(), 6), "key {key:?}");
    }
    // murmur2("foobar") = -790332482: positive part 1357151166, modulo 6 is 0.
    assert_eq!(partition_for_key(b"foobar", 6), 1_357_151_166 % 6);
}

#[tokio::test]
async fn a_busy_partition_does_not_starve_the_others() {
    let (_dir, log) = log_with_topic(EmbeddedOptions::default(), 2).await;
    let quiet_key = (0..100)
        .map(|i| format!("quiet-{i}"))
        .find(|k| partition_for_key(k.as_bytes(), 2) != partition_for_key(b"busy", 2))
        .expect("a key for the other partition");
    log.append((0..2000).map(|_| record(b"busy", 10)).collect()).await.unwrap();
    log.append((0..5).map(|_| record(quiet_key.as_bytes(), 10)).collect()).await.unwrap();
    let consumer = log.consumer(spec(None)).await.unwrap();
    let first = consumer.poll(100, std::time::Duration::from_secs(5)).await.unwrap();
    let quiet = partition_for_key(quiet_key.as_bytes(), 2);
    let from_quiet = first.iter().filter(|r| r.partition == quiet).count();
    assert_eq!(first.len(), 100, "a full poll");
    assert_eq!(from_quiet, 5, "every record of the quiet partition comes in the first poll");
}
