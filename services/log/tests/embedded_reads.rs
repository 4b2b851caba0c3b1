//! Reading single records by position on the embedded log: from disk once the
//! in-memory tail has moved on, across segments, and nothing once retention deleted them.

use std::time::Duration;

use hookline_log::embedded::{EmbeddedLog, EmbeddedOptions};
use hookline_log::{EventLog, NewRecord, TopicPartition, TopicSpec};
use tempfile::TempDir;

/// 4 KiB records, each naming its number, so that a few thousand pass the tail and roll segments.
fn record(i: usize) -> NewRecord {
    NewRecord {
        topic: "reads".into(),
        key: b"k".to_vec(),
        headers: Vec::new(),
        value: format!("{i:08}").repeat(512).into_bytes(),
    }
}

async fn log_with(retention: Option<Duration>) -> (TempDir, std::sync::Arc<EmbeddedLog>) {
    let dir = TempDir::new().unwrap();
    let options = EmbeddedOptions { segment_bytes: 1 << 20, ..Default::default() };
    let log = EmbeddedLog::open(dir.path(), options).unwrap();
    log.ensure_topics(&[TopicSpec { name: "reads".into(), partitions: 1, retention }]).await.unwrap();
    (dir, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_records_are_read_from_disk_across_segments() {
    let (_dir, log) = log_with(None).await;
    for chunk in (0..2000).collect::<Vec<_>>().chunks(100) {
        log.append(chunk.iter().map(|&i| record(i)).collect()).await.unwrap();
    }
    let tp = TopicPartition::new("reads", 0);
    for i in [0usize, 1, 255, 256, 999, 1500, 1999] {
        let got = log.read(&tp, i as u64).await.unwrap().unwrap_or_else(|| panic!("offset {i} holds nothing"));
        assert_eq!((got.offset, got.value), (i as u64, record(i).value), "offset {i}");
    }
    assert!(log.read(&tp, 2000).await.unwrap().is_none(), "nothing past the end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_deleted_by_retention_read_as_nothing() {
    let (_dir, log) = log_with(Some(Duration::from_millis(200))).await;
    for chunk in (0..600).collect::<Vec<_>>().chunks(100) {
        log.append(chunk.iter().map(|&i| record(i)).collect()).await.unwrap();
    }
    let tp = TopicPartition::new("reads", 0);
    assert!(log.read(&tp, 0).await.unwrap().is_some(), "kept until the retention passes");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut newest = 599;
    while log.read(&tp, 0).await.unwrap().is_some() {
        assert!(tokio::time::Instant::now() < deadline, "the first segment outlived its retention by 20 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
        newest = log.append(vec![record(600)]).await.unwrap()[0].offset;
    }
    let last = log.read(&tp, newest).await.unwrap().expect("the newest record is kept");
    assert_eq!(last.value, record(600).value);
}
