//! A namespace keeps deployments sharing one log apart, and is itself a conforming log.

use std::sync::Arc;
use std::time::Duration;

use hookline_log::conformance;
use hookline_log::embedded::{EmbeddedLog, EmbeddedOptions};
use hookline_log::namespace::Namespaced;
use hookline_log::{ConsumerSpec, EventLog, NewRecord, StartFrom, TopicSpec};
use tempfile::TempDir;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespaced_log_passes_the_conformance_suite() {
    let dir = TempDir::new().unwrap();
    let inner = EmbeddedLog::open(dir.path(), EmbeddedOptions::default()).unwrap();
    conformance::run_all(Namespaced::new(inner, "tenant-a.")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_do_not_see_each_other() {
    let dir = TempDir::new().unwrap();
    let inner: Arc<dyn EventLog> = EmbeddedLog::open(dir.path(), EmbeddedOptions::default()).unwrap();
    let a = Namespaced::new(inner.clone(), "a.");
    let b = Namespaced::new(inner.clone(), "b.");
    let spec = TopicSpec { name: "events".into(), partitions: 1, retention: None };
    a.ensure_topics(std::slice::from_ref(&spec)).await.unwrap();
    assert_eq!(b.missing_topics(&["events".to_string()]).await.unwrap(), ["events"]);
    assert!(inner.missing_topics(&["a.events".to_string()]).await.unwrap().is_empty(), "stored under the prefix");
    b.ensure_topics(&[spec]).await.unwrap();

    let record =
        |value: &str| NewRecord { topic: "events".into(), key: b"k".to_vec(), headers: vec![], value: value.into() };
    a.append(vec![record("for a")]).await.unwrap();
    b.append(vec![record("for b")]).await.unwrap();

    for (log, want) in [(&a, "for a"), (&b, "for b")] {
        let spec = ConsumerSpec { group: Some("g".into()), topics: vec!["events".into()], start: StartFrom::Earliest };
        let consumer = log.consumer(spec).await.unwrap();
        let records = consumer.poll(10, Duration::from_secs(5)).await.unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].topic, "events", "the prefix is invisible to the roles");
        assert_eq!(records[0].value, want.as_bytes());
        assert!(consumer.assignment().iter().all(|tp| tp.topic == "events"));
    }
}
