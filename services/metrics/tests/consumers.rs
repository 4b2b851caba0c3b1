//! Positions, readiness and lag of consumers observed through a real embedded log.

use std::sync::Arc;
use std::time::Duration;

use hookline_log::embedded::{EmbeddedLog, EmbeddedOptions};
use hookline_log::{ConsumerSpec, EventLog, NewRecord, StartFrom, TopicPartition, TopicSpec};
use hookline_metrics::{ConsumerBook, ConsumerLag, ObservedLog, Registry, LAG_METRIC};
use hookline_testkit::wait_until;

const TOPIC: &str = "t";

/// An embedded log with one empty two-partition topic.
async fn log_with_topic(dir: &std::path::Path) -> Arc<dyn EventLog> {
    let log: Arc<dyn EventLog> = EmbeddedLog::open(dir, EmbeddedOptions::default()).unwrap();
    log.ensure_topics(&[TopicSpec { name: TOPIC.into(), partitions: 2, retention: None }]).await.unwrap();
    log
}

fn spec(group: &str) -> ConsumerSpec {
    ConsumerSpec { group: Some(group.into()), topics: vec![TOPIC.into()], start: StartFrom::Earliest }
}

/// The lag samples of one group, by partition.
fn lag_of(registry: &Registry, group: &str) -> Vec<(String, f64)> {
    let families = registry.gather();
    let Some(family) = families.iter().find(|f| f.name == LAG_METRIC) else { return Vec::new() };
    family
        .samples
        .iter()
        .filter(|s| s.labels.iter().any(|(k, v)| k == "group" && v == group))
        .map(|s| (s.labels.iter().find(|(k, _)| k == "partition").unwrap().1.clone(), s.value))
        .collect()
}

#[tokio::test]
async fn readiness_waits_for_expected_groups_and_forgets_dropped_consumers() {
    let dir = tempfile::tempdir().unwrap();
    let book = ConsumerBook::new();
    let log = ObservedLog::wrap(log_with_topic(dir.path()).await, book.clone());
    book.expect("g");
    assert_eq!(book.problems(), vec!["consumer group g is not running"]);
    let consumer = log.consumer(spec("g")).await.unwrap();
    assert!(book.problems().is_empty(), "{:?}", book.problems());
    drop(consumer);
    assert_eq!(book.problems(), vec!["consumer group g is not running"]);
}

#[test]
fn readiness_waits_for_expected_followers_to_catch_up() {
    let book = ConsumerBook::new();
    let caught_up = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = caught_up.clone();
    book.expect_follower("routing directory", move || flag.load(std::sync::atomic::Ordering::SeqCst));
    assert_eq!(book.problems(), vec!["routing directory has not caught up with the log yet"]);
    caught_up.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(book.problems().is_empty(), "{:?}", book.problems());
}

#[tokio::test]
async fn lag_follows_polls_and_commits_and_idle_partitions_read_zero() {
    let dir = tempfile::tempdir().unwrap();
    let raw = log_with_topic(dir.path()).await;
    let records = (0..10u8)
        .map(|i| NewRecord { topic: TOPIC.into(), key: b"busy".to_vec(), headers: vec![], value: vec![i] })
        .collect();
    // One key: every record lands in one partition, the other stays idle.
    let busy = raw.append(records).await.unwrap()[0].partition;
    let (busy, idle) = (busy.to_string(), (1 - busy).to_string());

    let book = ConsumerBook::new();
    let registry = Registry::new();
    let lag = ConsumerLag::new(book.clone());
    registry.register(lag.clone());
    let log = ObservedLog::wrap(raw.clone(), book.clone());
    let consumer = log.consumer(spec("g")).await.unwrap();

    lag.sample(log.as_ref()).await;
    assert!(lag_of(&registry, "g").is_empty(), "no position is known before the first poll");

    let polled = consumer.poll(100, Duration::from_secs(1)).await.unwrap();
    assert_eq!(polled.len(), 10);
    // The idle partition was drained empty in that poll: its end is read in the background.
    wait_until(Duration::from_secs(5), "both partitions sampled", || async {
        lag.sample(log.as_ref()).await;
        (lag_of(&registry, "g").len() == 2).then_some(())
    })
    .await;
    let mut expected = vec![(busy.clone(), 10.0), (idle.clone(), 0.0)];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(lag_of(&registry, "g"), expected, "polled but not committed still counts as lag");

    let tp = TopicPartition::new(TOPIC, busy.parse().unwrap());
    consumer.commit(&[(tp, 7)]).await.unwrap();
    lag.sample(log.as_ref()).await;
    let mut expected = vec![(busy, 3.0), (idle, 0.0)];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(lag_of(&registry, "g"), expected);
}
