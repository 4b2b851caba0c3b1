//! The conformance suite of [`EventLog`]: one public async function per case, each
//! creating its own uniquely named topics and groups (so cases can share a broker)
//! and panicking with a message that says what broke.
//!
//! Adapters run each case from a named `#[tokio::test]` (multi-threaded runtime), or
//! all of them with [`run_all`].

mod groups;
mod polling;
mod records;
mod topics;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

pub use self::groups::{
    committed_offsets_are_readable, earliest_and_latest, group_resumes_after_commit, groups_are_independent,
    no_group_reads_without_commits,
};
pub use self::polling::{cancelled_poll_loses_nothing, pause_stops_one_partition, poll_times_out_and_wakes_on_append};
pub use self::records::{
    concurrent_appends_are_all_readable, one_append_keeps_order, read_by_position, round_trip,
    same_key_same_partition_in_order,
};
pub use self::topics::{end_offsets, topic_management};
use crate::{Consumer, ConsumerSpec, EventLog, NewRecord, Record, StartFrom, TopicSpec};

/// How long a case waits for records that should arrive (generous for real brokers).
const ARRIVAL_DEADLINE: Duration = Duration::from_secs(30);

/// Runs every case, one after the other.
pub async fn run_all(log: Arc<dyn EventLog>) {
    round_trip(log.clone()).await;
    read_by_position(log.clone()).await;
    same_key_same_partition_in_order(log.clone()).await;
    one_append_keeps_order(log.clone()).await;
    concurrent_appends_are_all_readable(log.clone()).await;
    group_resumes_after_commit(log.clone()).await;
    earliest_and_latest(log.clone()).await;
    no_group_reads_without_commits(log.clone()).await;
    groups_are_independent(log.clone()).await;
    committed_offsets_are_readable(log.clone()).await;
    pause_stops_one_partition(log.clone()).await;
    poll_times_out_and_wakes_on_append(log.clone()).await;
    cancelled_poll_loses_nothing(log.clone()).await;
    topic_management(log.clone()).await;
    end_offsets(log).await;
}

/// A name no other run uses: `conf.<case>.<random>`.
fn unique(case: &str) -> String {
    format!("conf.{case}.{}", uuid::Uuid::new_v4().simple())
}

/// Creates a fresh topic for `case` and returns its name.
async fn new_topic(log: &Arc<dyn EventLog>, case: &str, partitions: u32) -> String {
    let name = unique(case);
    let spec = TopicSpec { name: name.clone(), partitions, retention: None };
    log.ensure_topics(&[spec]).await.unwrap_or_else(|e| panic!("{case}: creating topic {name} failed: {e}"));
    name
}

fn record(topic: &str, key: &[u8], value: &[u8]) -> NewRecord {
    NewRecord { topic: topic.to_string(), key: key.to_vec(), headers: Vec::new(), value: value.to_vec() }
}

async fn consumer(log: &Arc<dyn EventLog>, group: Option<&str>, topic: &str, start: StartFrom) -> Arc<dyn Consumer> {
    let spec = ConsumerSpec { group: group.map(str::to_string), topics: vec![topic.to_string()], start };
    log.consumer(spec).await.unwrap_or_else(|e| panic!("starting a consumer of {topic} (group {group:?}) failed: {e}"))
}

async fn append(log: &Arc<dyn EventLog>, records: Vec<NewRecord>, what: &str) -> Vec<crate::Appended> {
    let count = records.len();
    let appended = log.append(records).await.unwrap_or_else(|e| panic!("{what}: append failed: {e}"));
    assert_eq!(appended.len(), count, "{what}: append must answer one position per record");
    appended
}

/// Polls until at least `want` records arrived; panics after [`ARRIVAL_DEADLINE`].
async fn poll_until(consumer: &dyn Consumer, want: usize, what: &str) -> Vec<Record> {
    let deadline = Instant::now() + ARRIVAL_DEADLINE;
    let mut got = Vec::new();
    while got.len() < want {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            panic!("{what}: only {} of {want} records arrived within {ARRIVAL_DEADLINE:?}", got.len());
        }
        let batch = consumer.poll(want - got.len(), left.min(Duration::from_secs(1))).await;
        got.extend(batch.unwrap_or_else(|e| panic!("{what}: poll failed: {e}")));
    }
    got
}

/// One poll that should bring nothing.
async fn assert_nothing_within(consumer: &dyn Consumer, wait: Duration, what: &str) {
    let extra = consumer.poll(100, wait).await.unwrap_or_else(|e| panic!("{what}: poll failed: {e}"));
    assert!(extra.is_empty(), "{what}: expected no more records, got {:?}", values(&extra));
}

fn values(records: &[Record]) -> Vec<String> {
    records.iter().map(|r| String::from_utf8_lossy(&r.value).into_owned()).collect()
}
