//! Durability of the embedded log on real files: reopening, torn tails, committed
//! offsets, segment rolls, retention, and the directory lock.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hookline_log::embedded::{EmbeddedLog, EmbeddedOptions};
use hookline_log::{
    Consumer, ConsumerSpec, EventLog, LogError, NewRecord, Record, StartFrom, TopicPartition, TopicSpec,
};
use tempfile::TempDir;
use tokio::time::Instant;

const TOPIC: &str = "durable";

fn open(dir: &Path, options: EmbeddedOptions) -> Arc<EmbeddedLog> {
    EmbeddedLog::open(dir, options).expect("open embedded log")
}

async fn create_topic(log: &EmbeddedLog, partitions: u32, retention: Option<Duration>) {
    let spec = TopicSpec { name: TOPIC.into(), partitions, retention };
    log.ensure_topics(&[spec]).await.expect("create topic");
}

fn record(i: usize, value_len: usize) -> NewRecord {
    let mut value = format!("{i:06}").into_bytes();
    value.resize(value_len.max(6), b'.');
    NewRecord { topic: TOPIC.into(), key: format!("k{}", i % 7).into_bytes(), headers: Vec::new(), value }
}

/// Appends records `from..to` one call each in chunks of 50.
async fn append_range(log: &EmbeddedLog, from: usize, to: usize, value_len: usize) {
    let all: Vec<usize> = (from..to).collect();
    for chunk in all.chunks(50) {
        log.append(chunk.iter().map(|&i| record(i, value_len)).collect()).await.expect("append");
    }
}

async fn reader(log: &EmbeddedLog, group: Option<&str>) -> Arc<dyn Consumer> {
    let spec = ConsumerSpec { group: group.map(String::from), topics: vec![TOPIC.into()], start: StartFrom::Earliest };
    log.consumer(spec).await.expect("consumer")
}

/// Polls until `want` records arrived (panics after 20 s) and checks nothing more comes.
async fn read_exactly(consumer: &dyn Consumer, want: usize) -> Vec<Record> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut got = Vec::new();
    while got.len() < want && Instant::now() < deadline {
        got.extend(consumer.poll(want - got.len(), Duration::from_millis(200)).await.expect("poll"));
    }
    assert_eq!(got.len(), want, "records read");
    let extra = consumer.poll(10, Duration::from_millis(50)).await.expect("poll");
    assert!(extra.is_empty(), "unexpected records past the expected ones: {}", extra.len());
    got
}

/// The numbers written into the values, in the order read.
fn numbers(records: &[Record]) -> Vec<usize> {
    records.iter().map(|r| std::str::from_utf8(&r.value[..6]).unwrap().parse().unwrap()).collect()
}

fn sorted_numbers(records: &[Record]) -> Vec<usize> {
    let mut numbers = numbers(records);
    numbers.sort_unstable();
    numbers
}

fn segment_files(dir: &Path, partition: u32) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("topics").join(TOPIC).join(partition.to_string()))
        .expect("partition folder")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_survive_drop_and_reopen() {
    let dir = TempDir::new().unwrap();
    let log = open(dir.path(), EmbeddedOptions::default());
    create_topic(&log, 3, None).await;
    append_range(&log, 0, 300, 100).await;
    let ends_before = log.end_offsets(TOPIC).await.unwrap();
    drop(log);

    let log = open(dir.path(), EmbeddedOptions::default());
    assert_eq!(log.end_offsets(TOPIC).await.unwrap(), ends_before, "end offsets after reopen");
    let got = read_exactly(reader(&log, None).await.as_ref(), 300).await;
    assert_eq!(sorted_numbers(&got), (0..300).collect::<Vec<_>>());
    let appended = log.append(vec![record(300, 100)]).await.unwrap();
    let end_before = ends_before.iter().find(|(p, _)| *p == appended[0].partition).unwrap().1;
    assert_eq!(appended[0].offset, end_before, "a new append continues after the recovered records");
}

/// The embedded log belongs to one process, whose configuration is the truth: ensuring
/// a topic again with another retention changes it, records kept, also across a reopen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ensuring_a_topic_again_applies_its_new_retention() {
    let dir = TempDir::new().unwrap();
    let log = open(dir.path(), EmbeddedOptions::default());
    let (hour, day) = (Duration::from_secs(3600), Duration::from_secs(86_400));
    create_topic(&log, 2, Some(hour)).await;
    append_range(&log, 0, 20, 10).await;
    assert_eq!(log.retention(TOPIC).await.unwrap(), Some(hour));
    create_topic(&log, 2, Some(day)).await;
    assert_eq!(log.retention(TOPIC).await.unwrap(), Some(day), "the new retention applies at once");
    drop(log);

    let log = open(dir.path(), EmbeddedOptions::default());
    assert_eq!(log.retention(TOPIC).await.unwrap(), Some(day), "and is kept across a reopen");
    create_topic(&log, 2, None).await;
    assert_eq!(log.retention(TOPIC).await.unwrap(), None, "a topic can be kept for ever");
    let got = read_exactly(reader(&log, None).await.as_ref(), 20).await;
    assert_eq!(sorted_numbers(&got), (0..20).collect::<Vec<_>>(), "no record is lost on the way");
}

/// Writes 10 records to a one-partition topic, damages the segment with `damage`, reopens.
async fn reopen_after_damage(damage: impl FnOnce(&Path)) -> (TempDir, Arc<EmbeddedLog>) {
    let dir = TempDir::new().unwrap();
    let log = open(dir.path(), EmbeddedOptions::default());
    create_topic(&log, 1, None).await;
    append_range(&log, 0, 10, 200).await;
    drop(log);
    damage(&segment_files(dir.path(), 0)[0]);
    let log = open(dir.path(), EmbeddedOptions::default());
    (dir, log)
}

async fn assert_recovered(log: &EmbeddedLog, kept: usize) {
    assert_eq!(log.end_offsets(TOPIC).await.unwrap(), [(0, kept as u64)], "end offset after recovery");
    let appended = log.append(vec![record(100, 200)]).await.unwrap();
    assert_eq!(appended[0].offset, kept as u64, "new appends go right after the kept records");
    let got = read_exactly(reader(log, None).await.as_ref(), kept + 1).await;
    let mut expected: Vec<usize> = (0..kept).collect();
    expected.push(100);
    assert_eq!(numbers(&got), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_after_the_last_record_is_cut() {
    let (_dir, log) = reopen_after_damage(|segment| {
        let mut file = OpenOptions::new().append(true).open(segment).unwrap();
        file.write_all(&[
            0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
            24, 25, 26, 27, 28, 29, 30,
        ])
        .unwrap();
    })
    .await;
    assert_recovered(&log, 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_record_cut_in_half_is_dropped() {
    let (_dir, log) = reopen_after_damage(|segment| {
        let file = OpenOptions::new().write(true).open(segment).unwrap();
        let len = file.metadata().unwrap().len();
        // Each frame is a little over 200 bytes: cut the last one about in half.
        file.set_len(len - 110).unwrap();
    })
    .await;
    assert_recovered(&log, 9).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_record_with_a_flipped_bit_is_dropped() {
    let (_dir, log) = reopen_after_damage(|segment| {
        let mut bytes = std::fs::read(segment).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        std::fs::write(segment, bytes).unwrap();
    })
    .await;
    assert_recovered(&log, 9).await;
}

/// Opening fails with `Corrupt`; returns its message.
fn refused(dir: &Path, options: EmbeddedOptions) -> String {
    match EmbeddedLog::open(dir, options) {
        Err(LogError::Corrupt(message)) => message,
        Err(other) => panic!("expected Corrupt, got {other}"),
        Ok(_) => panic!("a damaged log opened"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_byte_before_acknowledged_records_is_refused_until_repaired() {
    let dir = TempDir::new().unwrap();
    let log = open(dir.path(), EmbeddedOptions::default());
    create_topic(&log, 1, None).await;
    append_range(&log, 0, 10, 200).await;
    drop(log);
    // A byte in the value of the sixth record (offset 5) of ten, all acknowledged.
    let segment = &segment_files(dir.path(), 0)[0];
    let mut bytes = std::fs::read(segment).unwrap();
    let frame = bytes.len() / 10;
    bytes[5 * frame + frame / 2] ^= 0x20;
    std::fs::write(segment, &bytes).unwrap();

    let message = refused(dir.path(), EmbeddedOptions::default());
    let name = segment.display().to_string();
    assert!(message.contains(&format!("{name} is damaged at byte {}", 5 * frame)), "{message}");
    assert!(message.contains("offset 5 of durable/0"), "{message}");
    assert_eq!(std::fs::read(segment).unwrap(), bytes, "nothing was cut");

    let repaired = hookline_log::embedded::repair(dir.path()).unwrap();
    assert_eq!(repaired.len(), 1);
    let report = &repaired[0];
    assert_eq!((report.topic.as_str(), report.partition, report.position), (TOPIC, 0, 5 * frame as u64));
    assert_eq!((report.first_lost_offset, report.records_lost), (5, 5), "the damaged record and the four after it");
    assert_eq!(std::fs::read(&report.moved_to).unwrap(), bytes[5 * frame..], "the damaged part is kept aside");
    assert!(hookline_log::embedded::repair(dir.path()).unwrap().is_empty(), "a repaired log is sound");

    let log = open(dir.path(), EmbeddedOptions::default());
    assert_recovered(&log, 5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_older_segment_is_refused_and_repair_keeps_the_segments_after_it() {
    let dir = TempDir::new().unwrap();
    let options = EmbeddedOptions { segment_bytes: 1024, ..EmbeddedOptions::default() };
    let log = open(dir.path(), options.clone());
    create_topic(&log, 1, None).await;
    append_range(&log, 0, 20, 200).await;
    drop(log);
    // The second newest segment's last record is damaged; the newest holds acknowledged records.
    let segments = segment_files(dir.path(), 0);
    let torn = &segments[segments.len() - 2];
    let file = OpenOptions::new().write(true).open(torn).unwrap();
    file.set_len(file.metadata().unwrap().len() - 50).unwrap();
    let last_base: u64 = segments.last().unwrap().file_stem().unwrap().to_str().unwrap().parse().unwrap();

    let message = refused(dir.path(), options.clone());
    assert!(message.contains(&torn.display().to_string()), "{message}");
    assert!(message.contains(&format!("offset {} of durable/0", last_base - 1)), "{message}");
    assert_eq!(segment_files(dir.path(), 0), segments, "no segment removed");

    let repaired = hookline_log::embedded::repair(dir.path()).unwrap();
    assert_eq!(repaired.len(), 1);
    assert_eq!((repaired[0].first_lost_offset, repaired[0].records_lost), (last_base - 1, 1));

    let log = open(dir.path(), options);
    assert_eq!(log.end_offsets(TOPIC).await.unwrap(), [(0, 20)], "the newest segment is kept");
    let got = read_exactly(reader(&log, None).await.as_ref(), 19).await;
    let expected: Vec<usize> = (0..20).filter(|&n| n as u64 != last_base - 1).collect();
    assert_eq!(numbers(&got), expected, "only the damaged record is lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_survive_reopen() {
    let dir = TempDir::new().unwrap();
    let log = open(dir.path(), EmbeddedOptions::default());
    create_topic(&log, 1, None).await;
    append_range(&log, 0, 20, 50).await;
    let first = reader(&log, Some("workers")).await;
    let got = read_exactly(first.as_ref(), 20).await;
    first.commit(&[(TopicPartition::new(TOPIC, 0), got[11].offset + 1)]).await.unwrap();
    drop(first);
    drop(log);

    let log = open(dir.path(), EmbeddedOptions::default());
    let again = read_exactly(reader(&log, Some("workers")).await.as_ref(), 8).await;
    assert_eq!(numbers(&again), (12..20).collect::<Vec<_>>(), "the group resumes after its commit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_roll_and_reads_cross_them() {
    let dir = TempDir::new().unwrap();
    let options = EmbeddedOptions { segment_bytes: 64 << 10, ..EmbeddedOptions::default() };
    let log = open(dir.path(), options.clone());
    create_topic(&log, 1, None).await;
    // 3 MiB: more than the in-memory tail, so the first records come from the files.
    append_range(&log, 0, 3000, 1024).await;
    let segments = segment_files(dir.path(), 0);
    assert!(segments.len() >= 40, "expected about 48 segments of 64 KiB, found {}", segments.len());
    for segment in &segments {
        let size = std::fs::metadata(segment).unwrap().len();
        assert!(size <= 64 << 10, "{} is {size} bytes, over segment_bytes", segment.display());
    }
    let name = segments[1].file_name().unwrap().to_str().unwrap().to_string();
    assert_eq!(name.len(), "00000000000000000000.log".len(), "segment names are 20-digit base offsets");
    let got = read_exactly(reader(&log, None).await.as_ref(), 3000).await;
    assert_eq!(numbers(&got), (0..3000).collect::<Vec<_>>(), "read in order across segments and the tail");
    drop(log);

    let log = open(dir.path(), options);
    let got = read_exactly(reader(&log, None).await.as_ref(), 3000).await;
    assert_eq!(numbers(&got), (0..3000).collect::<Vec<_>>(), "read in order across segments after reopen");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_polls_reading_from_files_lose_nothing() {
    let dir = TempDir::new().unwrap();
    let options = EmbeddedOptions { segment_bytes: 16 << 10, ..EmbeddedOptions::default() };
    let log = open(dir.path(), options.clone());
    create_topic(&log, 2, None).await;
    append_range(&log, 0, 1000, 300).await;
    drop(log);
    // After reopening, nothing is in memory: every poll reads files on a blocking thread.
    let log = open(dir.path(), options);
    let consumer = reader(&log, None).await;
    let mut got = Vec::new();
    let mut cancelled = 0;
    for i in 0..400u64 {
        match tokio::time::timeout(Duration::from_micros(i % 40), consumer.poll(9, Duration::from_secs(1))).await {
            Ok(polled) => got.extend(polled.unwrap()),
            Err(_) => cancelled += 1,
        }
    }
    assert!(cancelled > 0, "no poll was cancelled mid-way; the test proves nothing");
    let rest = 1000 - got.len();
    got.extend(read_exactly(consumer.as_ref(), rest).await);
    assert_eq!(sorted_numbers(&got), (0..1000).collect::<Vec<_>>(), "every record exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_old_closed_segments() {
    let dir = TempDir::new().unwrap();
    let options = EmbeddedOptions { segment_bytes: 2048, ..EmbeddedOptions::default() };
    let log = open(dir.path(), options);
    create_topic(&log, 1, Some(Duration::from_secs(1))).await;
    let early = reader(&log, None).await;
    append_range(&log, 0, 100, 200).await;
    let before = segment_files(dir.path(), 0).len();
    assert!(before > 5, "expected several segments, found {before}");

    // The periodic check runs every 500 ms for this retention.
    let deadline = Instant::now() + Duration::from_secs(10);
    while segment_files(dir.path(), 0).len() > 1 {
        assert!(Instant::now() < deadline, "closed segments were not deleted within 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let active = segment_files(dir.path(), 0);
    let first_kept: u64 = active[0].file_stem().unwrap().to_str().unwrap().parse().unwrap();
    assert!(first_kept > 0, "the active segment starts past the deleted records");
    assert_eq!(log.end_offsets(TOPIC).await.unwrap(), [(0, 100)], "retention keeps the end offset");

    // A consumer positioned at offset 0 continues from the first retained record.
    let kept = 100 - first_kept as usize;
    let got = read_exactly(early.as_ref(), kept).await;
    assert_eq!(got[0].offset, first_kept);
    assert_eq!(numbers(&got), (first_kept as usize..100).collect::<Vec<_>>());
    let fresh = read_exactly(reader(&log, None).await.as_ref(), kept).await;
    assert_eq!(fresh[0].offset, first_kept, "Earliest is the first retained offset");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_directory_cannot_be_opened_twice() {
    let dir = TempDir::new().unwrap();
    let log = open(dir.path(), EmbeddedOptions::default());
    match EmbeddedLog::open(dir.path(), EmbeddedOptions::default()) {
        Err(LogError::Invalid(message)) => assert!(message.contains("already open"), "unclear message: {message}"),
        Err(other) => panic!("expected Invalid, got {other}"),
        Ok(_) => panic!("a second open of a live directory must fail"),
    }
    drop(log);
    EmbeddedLog::open(dir.path(), EmbeddedOptions::default()).expect("open after the first log is dropped");
}

/// Opened outside a runtime there is no periodic check: only rolls enforce retention.
#[test]
fn segment_rolls_enforce_retention() {
    let dir = TempDir::new().unwrap();
    // One record per segment, so every append rolls.
    let log = open(dir.path(), EmbeddedOptions { segment_bytes: 1, ..EmbeddedOptions::default() });
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        create_topic(&log, 1, Some(Duration::from_millis(1))).await;
        append_range(&log, 0, 5, 10).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut next = 5;
        // Each append rolls; closed segments older than 1 ms must go at the next roll.
        while segment_files(dir.path(), 0).len() > 2 {
            assert!(Instant::now() < deadline, "rolls did not delete expired segments");
            log.append(vec![record(next, 10)]).await.unwrap();
            next += 1;
        }
        assert_eq!(log.end_offsets(TOPIC).await.unwrap(), [(0, next as u64)]);
    });
}
