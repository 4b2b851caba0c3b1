//! Setting records aside on a real embedded log with a small record limit.

use std::sync::Arc;
use std::time::Duration;

use hookline_domain::topics;
use hookline_log::embedded::{EmbeddedLog, EmbeddedOptions};
use hookline_log::{ConsumerSpec, EventLog, NewRecord, Record, StartFrom, TopicPartition, TopicSpec};
use hookline_metrics::Registry;
use hookline_quarantine::{Kept, Output, Reason, SetAside, OFFSET_HEADER, REASON_HEADER, TOPIC_HEADER};
use tokio_util::sync::CancellationToken;

const LIMIT: usize = 4096;

async fn log() -> (tempfile::TempDir, Arc<dyn EventLog>) {
    let dir = tempfile::tempdir().unwrap();
    let options = EmbeddedOptions { max_record_bytes: LIMIT, ..EmbeddedOptions::default() };
    let log: Arc<dyn EventLog> = EmbeddedLog::open(dir.path(), options).unwrap();
    let spec = |name: &str| TopicSpec { name: name.into(), partitions: 1, retention: None };
    log.ensure_topics(&[spec("in"), spec("out"), spec(topics::QUARANTINE)]).await.unwrap();
    (dir, log)
}

fn read(value: Vec<u8>, offset: u64) -> Record {
    Record { topic: "in".into(), partition: 0, offset, timestamp_ms: 0, key: b"k".to_vec(), headers: vec![], value }
}

fn out(value: Vec<u8>) -> NewRecord {
    NewRecord { topic: "out".into(), key: b"k".to_vec(), headers: vec![], value }
}

async fn all(log: &Arc<dyn EventLog>, topic: &str) -> Vec<Record> {
    let spec = ConsumerSpec { group: None, topics: vec![topic.into()], start: StartFrom::Earliest };
    let consumer = log.consumer(spec).await.unwrap();
    consumer.poll(100, Duration::from_millis(200)).await.unwrap()
}

#[tokio::test]
async fn an_output_too_large_for_the_log_sets_its_origin_aside_and_the_rest_lands() {
    let (_dir, log) = log().await;
    let aside = SetAside::new(log.clone(), &Registry::new(), "test");
    let (small, big) = (read(b"small".to_vec(), 0), read(vec![b'x'; LIMIT], 1));
    let outputs = vec![
        Output { record: out(b"a".to_vec()), origin: &small },
        Output { record: out(vec![b'x'; LIMIT]), origin: &big },
    ];
    let landed = aside.append(outputs, &CancellationToken::new()).await.unwrap().expect("no shutdown");
    assert!(landed[0].is_some() && landed[1].is_none(), "{landed:?}");

    assert_eq!(all(&log, "out").await.len(), 1, "the fitting output landed");
    let kept = all(&log, topics::QUARANTINE).await;
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].header(TOPIC_HEADER), Some(&b"in"[..]));
    assert_eq!(kept[0].header(OFFSET_HEADER), Some(&b"1"[..]));
    assert_eq!(kept[0].header(REASON_HEADER), Some(&b"too_large"[..]));
    assert!(kept[0].value.len() <= LIMIT / 2, "a truncated copy");
    assert_eq!(aside.count("in", Reason::TooLarge), 1);
}

#[tokio::test]
async fn a_copy_the_log_cannot_take_goes_to_the_quarantine_truncated() {
    let (_dir, log) = log().await;
    let aside = SetAside::new(log.clone(), &Registry::new(), "test");
    let shutdown = CancellationToken::new();
    let fits = read(b"garbage".to_vec(), 5);
    let kept = aside.set_aside(&fits, Reason::Undecodable, "bad", Some(out(fits.value.clone())), &shutdown).await;
    assert_eq!(kept.unwrap(), Some(Kept::Copy));
    let huge = read(vec![0xff; LIMIT - 10], 6);
    let kept = aside.set_aside(&huge, Reason::Undecodable, "bad", Some(out(huge.value.clone())), &shutdown).await;
    assert_eq!(kept.unwrap(), Some(Kept::Quarantine));
    assert_eq!(all(&log, "out").await.len(), 1, "the copy that fits is kept where the role keeps them");
    let kept = all(&log, topics::QUARANTINE).await;
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].header(OFFSET_HEADER), Some(&b"6"[..]));
    assert_eq!(aside.count("in", Reason::Undecodable), 2);
}

#[tokio::test]
async fn a_record_is_set_aside_by_its_position() {
    let (_dir, log) = log().await;
    let aside = SetAside::new(log.clone(), &Registry::new(), "test");
    log.append(vec![NewRecord { topic: "in".into(), key: b"k".to_vec(), headers: vec![], value: b"v".to_vec() }])
        .await
        .unwrap();
    let shutdown = CancellationToken::new();
    let tp = TopicPartition::new("in", 0);
    assert_eq!(aside.set_aside_at(&tp, 0, Reason::TooLarge, "x", &shutdown).await.unwrap(), Some(Kept::Quarantine));
    assert_eq!(aside.set_aside_at(&tp, 9, Reason::TooLarge, "x", &shutdown).await.unwrap(), Some(Kept::Quarantine));
    let kept = all(&log, topics::QUARANTINE).await;
    assert_eq!((kept[0].value.as_slice(), kept[1].value.as_slice()), (&b"v"[..], &b""[..]));
}
