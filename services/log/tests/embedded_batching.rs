//! The batch window of the embedded log's writer: an append to an idle log is written at
//! once, appends that keep coming wait for the window of the last batch and share it.

use std::time::Duration;

use hookline_log::embedded::{EmbeddedLog, EmbeddedOptions};
use hookline_log::{ConsumerSpec, EventLog, NewRecord, StartFrom, TopicSpec};
use tempfile::TempDir;
use tokio::time::Instant;

const WINDOW: Duration = Duration::from_secs(1);

fn record(i: usize) -> NewRecord {
    NewRecord { topic: "batched".into(), key: b"k".to_vec(), headers: Vec::new(), value: i.to_string().into_bytes() }
}

#[tokio::test]
async fn an_idle_log_writes_at_once_and_a_busy_one_waits_for_the_window() {
    let dir = TempDir::new().unwrap();
    let options = EmbeddedOptions { batch_window: WINDOW, ..EmbeddedOptions::default() };
    let log = EmbeddedLog::open(dir.path(), options).unwrap();
    log.ensure_topics(&[TopicSpec { name: "batched".into(), partitions: 1, retention: None }]).await.unwrap();

    let first = Instant::now();
    log.append(vec![record(0)]).await.unwrap();
    assert!(first.elapsed() < WINDOW, "an append to an idle log waited {:?}", first.elapsed());

    // Right behind the first batch: these wait for its window to close, and go together.
    let appends = (1..=20).map(|i| {
        let log = log.clone();
        tokio::spawn(async move { log.append(vec![record(i)]).await.map(|_| Instant::now()) })
    });
    for append in appends.collect::<Vec<_>>() {
        let answered = append.await.unwrap().unwrap();
        assert!(answered >= first + WINDOW, "an append within the window was answered before it closed");
    }

    // Every record is there once, in the order the writer took them.
    let consumer = log
        .consumer(ConsumerSpec { group: None, topics: vec!["batched".into()], start: StartFrom::Earliest })
        .await
        .unwrap();
    let records = consumer.poll(100, Duration::from_secs(5)).await.unwrap();
    let mut values: Vec<usize> = records.iter().map(|r| String::from_utf8_lossy(&r.value).parse().unwrap()).collect();
    assert_eq!(values.len(), 21);
    assert_eq!(values[0], 0);
    values.sort_unstable();
    assert_eq!(values, (0..=20).collect::<Vec<_>>());
}
