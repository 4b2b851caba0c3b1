//! What the Kafka adapter promises beyond the shared conformance suite.

mod support;

use std::time::Duration;

use hookline_log::embedded::partition_for_key;
use hookline_log::{ConsumerSpec, EventLog, LogError, NewRecord, StartFrom, TopicPartition, TopicSpec};
use hookline_log_kafka::{KafkaLog, KafkaSettings};
use tokio::time::Instant;

fn unique(what: &str) -> String {
    format!("adapter.{what}.{}", uuid::Uuid::new_v4().simple())
}

async fn new_topic(log: &KafkaLog, what: &str, partitions: u32) -> String {
    let name = unique(what);
    log.ensure_topics(&[TopicSpec { name: name.clone(), partitions, retention: None }])
        .await
        .unwrap_or_else(|e| panic!("creating topic {name}: {e}"));
    name
}

fn record(topic: &str, key: &[u8], value: Vec<u8>) -> NewRecord {
    NewRecord { topic: topic.to_string(), key: key.to_vec(), headers: Vec::new(), value }
}

#[tokio::test]
async fn connect_to_a_closed_port_fails_within_the_deadline() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
    let brokers = format!("127.0.0.1:{port}");
    let started = Instant::now();
    let outcome = KafkaLog::connect(KafkaSettings::new(&brokers)).await;
    let waited = started.elapsed();
    match outcome {
        Err(LogError::Unavailable(message)) => {
            assert!(message.contains(&format!("no Kafka broker answered at {brokers}")), "message: {message}");
        }
        Err(other) => panic!("expected Unavailable, got {other:?}"),
        Ok(_) => panic!("connect to {brokers}, where nothing listens, succeeded"),
    }
    assert!(waited < Duration::from_secs(15), "connect gave up only after {waited:?}");
    assert!(LogError::Unavailable(String::new()).is_retryable(), "Unavailable must be retryable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_over_the_size_limit_is_too_large_and_the_producer_keeps_working() {
    let Some(brokers) = support::brokers() else { return };
    let log = support::connect(&brokers).await;
    let topic = new_topic(&log, "too-large", 1).await;
    let outcome = log.append(vec![record(&topic, b"k", vec![1; 5_000_000])]).await;
    match outcome {
        Err(error @ LogError::TooLarge { size, limit }) => {
            assert_eq!((size, limit), (5_000_001, 4 * 1024 * 1024), "TooLarge reports the record and the limit");
            assert!(!error.is_retryable(), "a record too large stays too large");
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    let after = log.append(vec![record(&topic, b"k", b"small".to_vec())]).await.expect("append after a refusal");
    assert_eq!(after[0].offset, 0, "the refused record must not have been written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_key_lands_where_the_embedded_partitioner_puts_it() {
    let Some(brokers) = support::brokers() else { return };
    let log = support::connect(&brokers).await;
    let topic = new_topic(&log, "partitioner", 6).await;
    let keys: Vec<Vec<u8>> = (0..60).map(|i| format!("subscription-{i}").into_bytes()).collect();
    let appended = log.append(keys.iter().map(|k| record(&topic, k, b"v".to_vec())).collect()).await.expect("append");
    for (key, landed) in keys.iter().zip(&appended) {
        assert_eq!(
            landed.partition,
            partition_for_key(key, 6),
            "key {} landed in another partition than the embedded adapter picks",
            String::from_utf8_lossy(key)
        );
    }
    let used: std::collections::BTreeSet<u32> = appended.iter().map(|a| a.partition).collect();
    assert_eq!(used.len(), 6, "60 keys should spread over all 6 partitions");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_member_restarted_gets_its_partitions_back_quickly() {
    let Some(brokers) = support::brokers() else { return };
    let settings = KafkaSettings { instance_id: Some(unique("instance")), ..KafkaSettings::new(&brokers) };
    let group = unique("static-group");
    let first_log = KafkaLog::connect(settings.clone()).await.expect("connect");
    let topic = new_topic(&first_log, "static", 3).await;
    let spec = ConsumerSpec { group: Some(group.clone()), topics: vec![topic.clone()], start: StartFrom::Earliest };
    let first = first_log.consumer(spec.clone()).await.expect("first consumer");
    let mut before = first.assignment();
    before.sort();
    let all: Vec<TopicPartition> = (0..3).map(|p| TopicPartition::new(&topic, p)).collect();
    assert_eq!(before, all, "a lone member owns every partition");
    // A crash: the old member never leaves the group (its client even keeps sending
    // heartbeats). A dynamic member would now wait for it to rejoin or time out; a
    // static member with the same instance id replaces it at once.
    std::mem::forget(first);

    let second_log = KafkaLog::connect(settings).await.expect("connect again");
    let started = Instant::now();
    let second = second_log.consumer(spec).await.expect("restarted consumer");
    let rejoined = started.elapsed();
    let mut after = second.assignment();
    after.sort();
    assert_eq!(after, all, "the restarted static member must get the same partitions");
    // Far below the 45 s session timeout (or 300 s poll interval) a dynamic member waits out.
    assert!(rejoined < Duration::from_secs(10), "rejoining took {rejoined:?}");
}
