//! A fan-out role on a real embedded log in a temporary directory, seen through a log
//! that notes the size of every append, with helpers to send events and read back tasks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use hookline_domain::{topics, EventAccepted, EventId, SubscriptionId, TaskAccepted, TenantId};
use hookline_fanout::{run, FanoutConfig, FanoutDeps, FanoutError};
use hookline_log::embedded::{EmbeddedLog, EmbeddedOptions};
use hookline_log::{
    Appended, Consumer, ConsumerSpec, EventLog, LogError, NewRecord, Record, StartFrom, TopicPartition, TopicSpec,
};
use hookline_metrics::Registry;
use hookline_records::event_accepted_record;
use hookline_testkit::wait_until;
use serde_json::value::RawValue;
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Several partitions, so that tasks of one event land in different ones.
const PARTITIONS: u32 = 4;
pub const WAIT: Duration = Duration::from_secs(10);

/// The embedded log, noting how many records each append to `hookline.deliveries` carried.
pub struct NotingLog {
    inner: Arc<EmbeddedLog>,
    task_appends: Mutex<Vec<usize>>,
}

#[async_trait]
impl EventLog for NotingLog {
    async fn ensure_topics(&self, topics: &[TopicSpec]) -> Result<(), LogError> {
        self.inner.ensure_topics(topics).await
    }
    async fn missing_topics(&self, topics: &[String]) -> Result<Vec<String>, LogError> {
        self.inner.missing_topics(topics).await
    }
    async fn append(&self, records: Vec<NewRecord>) -> Result<Vec<Appended>, LogError> {
        let tasks = records.iter().filter(|record| record.topic == topics::DELIVERIES).count();
        if tasks > 0 {
            self.task_appends.lock().unwrap().push(tasks);
        }
        self.inner.append(records).await
    }
    async fn consumer(&self, spec: ConsumerSpec) -> Result<Arc<dyn Consumer>, LogError> {
        self.inner.consumer(spec).await
    }
    async fn end_offsets(&self, topic: &str) -> Result<Vec<(u32, u64)>, LogError> {
        self.inner.end_offsets(topic).await
    }
    async fn committed_offsets(&self, group: &str, topic: &str) -> Result<Vec<(u32, u64)>, LogError> {
        self.inner.committed_offsets(group, topic).await
    }
    async fn retention(&self, topic: &str) -> Result<Option<Duration>, LogError> {
        self.inner.retention(topic).await
    }
    async fn read(&self, tp: &TopicPartition, offset: u64) -> Result<Option<Record>, LogError> {
        self.inner.read(tp, offset).await
    }
    fn max_record_bytes(&self) -> usize {
        self.inner.max_record_bytes()
    }
    fn record_bytes(&self, record: &NewRecord) -> usize {
        self.inner.record_bytes(record)
    }
}

pub struct Node {
    pub log: Arc<NotingLog>,
    pub metrics: Arc<Registry>,
    running: Option<(CancellationToken, JoinHandle<Result<(), FanoutError>>)>,
    _dir: TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some((shutdown, _)) = &self.running {
            shutdown.cancel();
        }
    }
}

impl Node {
    /// A log with the role's topics, and the role running with `config`.
    pub async fn start(config: FanoutConfig) -> Node {
        let dir = tempfile::tempdir().expect("temp dir");
        let inner = EmbeddedLog::open(&dir.path().join("log"), EmbeddedOptions::default()).expect("open log");
        let specs: Vec<TopicSpec> = [topics::FANOUT, topics::DELIVERIES, topics::QUARANTINE]
            .into_iter()
            .map(|name| TopicSpec { name: name.to_string(), partitions: PARTITIONS, retention: None })
            .collect();
        inner.ensure_topics(&specs).await.expect("create topics");
        let log = Arc::new(NotingLog { inner, task_appends: Mutex::new(Vec::new()) });
        let mut node = Node { log, metrics: Registry::new(), running: None, _dir: dir };
        node.resume(config);
        node
    }

    /// Starts the role (again) on the same log.
    pub fn resume(&mut self, config: FanoutConfig) {
        assert!(self.running.is_none(), "the role is already running");
        let shutdown = CancellationToken::new();
        let deps = FanoutDeps { log: self.log.clone(), metrics: self.metrics.clone() };
        self.running = Some((shutdown.clone(), tokio::spawn(run(config, deps, shutdown))));
    }

    /// Cancels the role and waits for it to return.
    pub async fn shut_down(&mut self) -> Result<(), FanoutError> {
        let (shutdown, handle) = self.running.take().expect("the role is running");
        shutdown.cancel();
        tokio::time::timeout(WAIT, handle).await.expect("run returns").expect("run does not panic")
    }

    /// Appends an event for `subscriptions` to `hookline.fanout`, as its acceptance does.
    pub async fn send(&self, subscriptions: &[SubscriptionId], payload: &str) -> EventAccepted {
        let event = EventAccepted {
            event_id: EventId::new(),
            tenant_id: TenantId::parse("acme").expect("a tenant id"),
            event_type: "order.created".into(),
            accepted_at: Utc::now(),
            idempotency_key: None,
            subscriptions: subscriptions.to_vec(),
            payload: RawValue::from_string(payload.to_string()).expect("JSON"),
            ordering_key: None,
            trace: None,
        };
        self.log.append(vec![event_accepted_record(&event)]).await.expect("append event");
        event
    }

    /// Appends a raw record to `hookline.fanout`.
    pub async fn send_raw(&self, value: &[u8]) {
        let record = NewRecord {
            topic: topics::FANOUT.into(),
            key: b"acme".to_vec(),
            headers: Vec::new(),
            value: value.to_vec(),
        };
        self.log.append(vec![record]).await.expect("append raw record");
    }

    /// Every record in `topic` now.
    pub async fn read_all(&self, topic: &str) -> Vec<Record> {
        let total: u64 = self.log.end_offsets(topic).await.expect("end offsets").iter().map(|(_, end)| end).sum();
        let spec = ConsumerSpec { group: None, topics: vec![topic.to_string()], start: StartFrom::Earliest };
        let consumer = self.log.consumer(spec).await.expect("consumer");
        let mut records = Vec::new();
        while (records.len() as u64) < total {
            let polled = consumer.poll(1000, Duration::from_secs(5)).await.expect("poll");
            assert!(!polled.is_empty(), "{topic}: read {} of {total} records", records.len());
            records.extend(polled);
        }
        records
    }

    /// Waits until `hookline.deliveries` holds `n` tasks at least; returns them.
    pub async fn wait_tasks(&self, n: usize) -> Vec<(Record, TaskAccepted)> {
        wait_until(WAIT, &format!("{n} tasks"), || async move {
            let records = self.read_all(topics::DELIVERIES).await;
            (records.len() >= n).then(|| {
                records
                    .into_iter()
                    .map(|record| {
                        let task = serde_json::from_slice(&record.value).expect("a TaskAccepted");
                        (record, task)
                    })
                    .collect()
            })
        })
        .await
    }

    /// How many task records each append carried, in order.
    pub fn task_appends(&self) -> Vec<usize> {
        self.log.task_appends.lock().unwrap().clone()
    }
}
