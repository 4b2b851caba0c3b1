//! Cases about polling: pause and resume, timeouts and wake-ups, cancellation.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{append, assert_nothing_within, consumer, new_topic, poll_until, record, values};
use crate::{EventLog, StartFrom, TopicPartition};

/// A paused partition returns nothing while the others keep flowing; after resume it
/// continues with the record after the last one returned.
pub async fn pause_stops_one_partition(log: Arc<dyn EventLog>) {
    let topic = new_topic(&log, "pause", 2).await;
    // Find a key for each partition; the appended records warm the consumer up.
    let mut keys: [Option<String>; 2] = [None, None];
    let mut warm_up = 0;
    while keys.iter().any(Option::is_none) {
        let key = format!("key-{warm_up}");
        let at = append(&log, vec![record(&topic, key.as_bytes(), b"warm-up")], "pause").await;
        keys[at[0].partition as usize].get_or_insert(key);
        warm_up += 1;
        assert!(warm_up < 200, "pause: 200 keys all landed in one of two partitions");
    }
    let [Some(key0), Some(key1)] = keys else { unreachable!("loop ends when both are found") };
    let reader = consumer(&log, None, &topic, StartFrom::Earliest).await;
    let warmed = poll_until(reader.as_ref(), warm_up, "pause: warm-up").await;
    let last_p0 = warmed.iter().filter(|r| r.partition == 0).map(|r| r.offset).max().expect("a record in partition 0");
    let paused = TopicPartition::new(&topic, 0);
    reader.pause(&paused).unwrap_or_else(|e| panic!("pause: pause failed: {e}"));
    let p0: Vec<_> = (0..3).map(|i| record(&topic, key0.as_bytes(), format!("p0-{i}").as_bytes())).collect();
    let p1: Vec<_> = (0..3).map(|i| record(&topic, key1.as_bytes(), format!("p1-{i}").as_bytes())).collect();
    append(&log, p0.into_iter().chain(p1).collect(), "pause").await;
    let flowing = poll_until(reader.as_ref(), 3, "pause: the unpaused partition").await;
    assert_eq!(values(&flowing), ["p1-0", "p1-1", "p1-2"], "pause: only the unpaused partition may flow");
    assert_nothing_within(reader.as_ref(), Duration::from_millis(500), "pause: paused partition").await;
    reader.resume(&paused).unwrap_or_else(|e| panic!("pause: resume failed: {e}"));
    let resumed = poll_until(reader.as_ref(), 3, "pause: after resume").await;
    assert_eq!(values(&resumed), ["p0-0", "p0-1", "p0-2"], "pause: resumed partition continues in order");
    assert_eq!(resumed[0].offset, last_p0 + 1, "pause: resume must continue right after the last record returned");
}

/// A poll with nothing to read returns empty after about its timeout, and returns
/// early when a record is appended while it waits.
pub async fn poll_times_out_and_wakes_on_append(log: Arc<dyn EventLog>) {
    let topic = new_topic(&log, "poll-wait", 1).await;
    let reader = consumer(&log, None, &topic, StartFrom::Earliest).await;
    let timeout = Duration::from_millis(300);
    let started = Instant::now();
    let got = reader.poll(10, timeout).await.unwrap_or_else(|e| panic!("poll_wait: poll failed: {e}"));
    let waited = started.elapsed();
    assert!(got.is_empty(), "poll_wait: an empty topic returned {:?}", values(&got));
    assert!(waited >= timeout * 9 / 10, "poll_wait: returned after {waited:?}, before its timeout {timeout:?}");
    assert!(waited < timeout + Duration::from_secs(5), "poll_wait: returned after {waited:?}, long past {timeout:?}");

    let long = Duration::from_secs(20);
    let waiting = tokio::spawn({
        let reader = reader.clone();
        async move {
            let started = Instant::now();
            let got = reader.poll(10, long).await;
            (got, started.elapsed())
        }
    });
    append(&log, vec![record(&topic, b"k", b"wake")], "poll_wait").await;
    let (got, waited) = waiting.await.expect("the polling task panicked");
    let got = got.unwrap_or_else(|e| panic!("poll_wait: poll failed: {e}"));
    assert_eq!(values(&got), ["wake"], "poll_wait: a waiting poll must return the appended record");
    assert!(waited < long / 2, "poll_wait: waited {waited:?} for a record appended at once");
}

/// Poll futures dropped while waiting or part-way lose no record and repeat none.
pub async fn cancelled_poll_loses_nothing(log: Arc<dyn EventLog>) {
    const COUNT: usize = 200;
    let topic = new_topic(&log, "cancel", 2).await;
    let reader = consumer(&log, None, &topic, StartFrom::Earliest).await;
    let waiting = tokio::time::timeout(Duration::from_millis(100), reader.poll(10, Duration::from_secs(10))).await;
    assert!(waiting.is_err(), "cancel: a poll of an empty topic should still be waiting");
    let records = (0..COUNT).map(|i| record(&topic, format!("k{}", i % 5).as_bytes(), format!("{i}").as_bytes()));
    append(&log, records.collect(), "cancel").await;
    let mut got = Vec::new();
    for i in 0..50u64 {
        if let Ok(polled) =
            tokio::time::timeout(Duration::from_micros(50 * i), reader.poll(7, Duration::from_secs(1))).await
        {
            got.extend(polled.unwrap_or_else(|e| panic!("cancel: poll failed: {e}")));
        }
    }
    let rest = COUNT.saturating_sub(got.len());
    got.extend(poll_until(reader.as_ref(), rest, "cancel: after cancelled polls").await);
    assert_nothing_within(reader.as_ref(), Duration::from_millis(200), "cancel: after every record").await;
    let mut seen: BTreeMap<(u32, u64), String> = BTreeMap::new();
    let mut last_offset: BTreeMap<u32, u64> = BTreeMap::new();
    for r in &got {
        let value = String::from_utf8_lossy(&r.value).into_owned();
        assert!(seen.insert((r.partition, r.offset), value).is_none(), "cancel: offset {} repeated", r.offset);
        if let Some(previous) = last_offset.insert(r.partition, r.offset) {
            assert!(r.offset > previous, "cancel: partition {} went back from {previous} to {}", r.partition, r.offset);
        }
    }
    let mut read: Vec<usize> = seen.values().map(|v| v.parse().expect("values are numbers")).collect();
    read.sort_unstable();
    assert_eq!(read, (0..COUNT).collect::<Vec<_>>(), "cancel: every record exactly once");
}
