//! Cases about what is appended and read back: contents, partitioning, order, concurrency.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::{append, consumer, new_topic, poll_until, record, values};
use crate::{EventLog, NewRecord, StartFrom};

/// Keys, headers (repeated names, empty and binary values), binary and empty values
/// come back exactly as appended, where `append` said they landed.
pub async fn round_trip(log: Arc<dyn EventLog>) {
    let topic = new_topic(&log, "round-trip", 1).await;
    let every_byte: Vec<u8> = (0..=255).collect();
    let sent = vec![
        NewRecord {
            topic: topic.clone(),
            key: vec![0, 0x9f, 0x92, 0x96],
            headers: vec![
                ("trace".into(), b"1".to_vec()),
                ("binary".into(), vec![0, 255, 1]),
                ("empty".into(), Vec::new()),
                ("trace".into(), b"2".to_vec()),
            ],
            value: every_byte,
        },
        NewRecord { topic: topic.clone(), key: b"k".to_vec(), headers: Vec::new(), value: Vec::new() },
        NewRecord { topic: topic.clone(), key: b"k".to_vec(), headers: Vec::new(), value: vec![7; 100_000] },
    ];
    let before_ms = now_ms();
    let appended = append(&log, sent.clone(), "round_trip").await;
    let reader = consumer(&log, None, &topic, StartFrom::Earliest).await;
    let got = poll_until(reader.as_ref(), sent.len(), "round_trip").await;
    assert_eq!(got.len(), sent.len(), "round_trip: record count");
    for ((sent, landed), got) in sent.iter().zip(&appended).zip(&got) {
        assert_eq!(got.topic, topic, "round_trip: topic");
        assert_eq!((got.partition, got.offset), (landed.partition, landed.offset), "round_trip: position");
        assert_eq!(got.key, sent.key, "round_trip: key at offset {}", got.offset);
        assert_eq!(got.headers, sent.headers, "round_trip: headers at offset {}", got.offset);
        assert_eq!(got.value, sent.value, "round_trip: value at offset {}", got.offset);
        let skew = 5 * 60 * 1000;
        assert!(
            got.timestamp_ms >= before_ms - skew && got.timestamp_ms <= now_ms() + skew,
            "round_trip: timestamp {} is not near now",
            got.timestamp_ms
        );
    }
    assert_eq!(got[0].header("trace"), Some(&b"1"[..]), "round_trip: header() finds the first of a name");
}

/// Records with the same key land in the same partition, in append order.
pub async fn same_key_same_partition_in_order(log: Arc<dyn EventLog>) {
    let topic = new_topic(&log, "same-key", 4).await;
    let mut alpha = Vec::new();
    for i in 0..20 {
        alpha.extend(append(&log, vec![record(&topic, b"alpha", format!("a{i}").as_bytes())], "same_key").await);
        append(&log, vec![record(&topic, format!("other-{i}").as_bytes(), b"x")], "same_key").await;
    }
    let partition = alpha[0].partition;
    assert!(alpha.iter().all(|a| a.partition == partition), "same_key: key alpha spread over partitions: {alpha:?}");
    assert!(alpha.windows(2).all(|w| w[0].offset < w[1].offset), "same_key: offsets not increasing: {alpha:?}");
    let reader = consumer(&log, None, &topic, StartFrom::Earliest).await;
    let got = poll_until(reader.as_ref(), 40, "same_key").await;
    let alpha_values: Vec<String> = values(&got.iter().filter(|r| r.key == b"alpha").cloned().collect::<Vec<_>>());
    let expected: Vec<String> = (0..20).map(|i| format!("a{i}")).collect();
    assert_eq!(alpha_values, expected, "same_key: records of one key must be read in append order");
}

/// The records of one `append` call keep their order and get consecutive offsets per partition.
pub async fn one_append_keeps_order(log: Arc<dyn EventLog>) {
    let topic = new_topic(&log, "one-append", 3).await;
    let batch: Vec<NewRecord> =
        (0..60).map(|i| record(&topic, format!("key-{}", i % 4).as_bytes(), format!("{i}").as_bytes())).collect();
    let appended = append(&log, batch.clone(), "one_append").await;
    let mut last_offset: BTreeMap<u32, u64> = BTreeMap::new();
    for (i, landed) in appended.iter().enumerate() {
        if let Some(previous) = last_offset.insert(landed.partition, landed.offset) {
            assert_eq!(landed.offset, previous + 1, "one_append: record {i} is not right after the previous one");
        }
    }
    let reader = consumer(&log, None, &topic, StartFrom::Earliest).await;
    let got = poll_until(reader.as_ref(), 60, "one_append").await;
    for key in 0..4 {
        let key = format!("key-{key}");
        let read: Vec<String> = values(&got.iter().filter(|r| r.key == key.as_bytes()).cloned().collect::<Vec<_>>());
        let sent: Vec<String> = batch
            .iter()
            .filter(|r| r.key == key.as_bytes())
            .map(|r| String::from_utf8_lossy(&r.value).into())
            .collect();
        assert_eq!(read, sent, "one_append: order of key {key}");
    }
}

/// 64 tasks appending 50 records each: every record is readable once, where `append`
/// said it landed, offsets are unique per partition, and each task's records keep order.
pub async fn concurrent_appends_are_all_readable(log: Arc<dyn EventLog>) {
    const TASKS: usize = 64;
    const PER_TASK: usize = 50;
    let topic = new_topic(&log, "concurrent", 4).await;
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let (log, topic) = (log.clone(), topic.clone());
        tasks.spawn(async move {
            let mut landed = Vec::with_capacity(PER_TASK);
            for i in 0..PER_TASK {
                let value = format!("{task}:{i}");
                let at = append(
                    &log,
                    vec![record(&topic, format!("task-{task}").as_bytes(), value.as_bytes())],
                    "concurrent",
                )
                .await;
                landed.push(((at[0].partition, at[0].offset), value));
            }
            landed
        });
    }
    let mut expected = BTreeMap::new();
    while let Some(landed) = tasks.join_next().await {
        for (position, value) in landed.expect("an appending task panicked") {
            assert!(expected.insert(position, value).is_none(), "concurrent: position {position:?} given twice");
        }
    }
    assert_eq!(expected.len(), TASKS * PER_TASK, "concurrent: appended count");
    let reader = consumer(&log, None, &topic, StartFrom::Earliest).await;
    let got = poll_until(reader.as_ref(), TASKS * PER_TASK, "concurrent").await;
    let read: BTreeMap<(u32, u64), String> =
        got.iter().map(|r| ((r.partition, r.offset), String::from_utf8_lossy(&r.value).into_owned())).collect();
    assert_eq!(read.len(), got.len(), "concurrent: a record was read twice");
    assert_eq!(read, expected, "concurrent: records read differ from records appended");
    for task in 0..TASKS {
        let key = format!("task-{task}");
        let order: Vec<String> = values(&got.iter().filter(|r| r.key == key.as_bytes()).cloned().collect::<Vec<_>>());
        let sent: Vec<String> = (0..PER_TASK).map(|i| format!("{task}:{i}")).collect();
        assert_eq!(order, sent, "concurrent: order of task {task}");
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// A record read by the position `append` answered is the record appended there, in any
/// partition, recent or not, also after later appends; a position never written reads
/// as nothing.
pub async fn read_by_position(log: Arc<dyn EventLog>) {
    let topic = new_topic(&log, "read-by-position", 3).await;
    let sent: Vec<NewRecord> = (0..30)
        .map(|i| NewRecord {
            topic: topic.clone(),
            key: format!("key-{}", i % 7).into_bytes(),
            headers: vec![("n".into(), i.to_string().into_bytes())],
            value: format!("value-{i}").into_bytes(),
        })
        .collect();
    let appended = append(&log, sent.clone(), "read_by_position").await;
    // Later records, so the first ones are no longer the newest.
    append(&log, (0..50).map(|i| record(&topic, b"later", format!("later-{i}").as_bytes())).collect(), "later").await;
    for (sent, landed) in sent.iter().zip(&appended).rev() {
        let tp = crate::TopicPartition::new(topic.clone(), landed.partition);
        let got = log
            .read(&tp, landed.offset)
            .await
            .unwrap_or_else(|e| panic!("read_by_position: reading {tp} at {} failed: {e}", landed.offset))
            .unwrap_or_else(|| panic!("read_by_position: {tp} at {} holds nothing", landed.offset));
        assert_eq!((got.topic.as_str(), got.partition, got.offset), (topic.as_str(), landed.partition, landed.offset));
        assert_eq!((&got.key, &got.headers, &got.value), (&sent.key, &sent.headers, &sent.value), "at {tp}");
    }
    let ends = log.end_offsets(&topic).await.expect("end_offsets");
    for (partition, end) in ends {
        let tp = crate::TopicPartition::new(topic.clone(), partition);
        let beyond = log.read(&tp, end).await.expect("reading past the end is no error");
        assert!(beyond.is_none(), "read_by_position: {tp} at its end offset {end} must hold nothing");
    }
}
