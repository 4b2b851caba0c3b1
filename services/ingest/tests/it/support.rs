//! The ingest consumer on a real embedded log and real embedded views in a temporary
//! directory: subscriptions written straight into the views, webhooks produced to
//! `hookline.ingest` as an external producer would, and the output topics read back.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use hookline_domain::event_types::parse_patterns;
use hookline_domain::signature::ingest_signature;
use hookline_domain::tenant::TenantLimits;
use hookline_domain::{
    topics, LogPosition, Secret, Subscription, SubscriptionEvent, SubscriptionId, TaskAccepted, TaskId, TaskView,
    Tenant, TenantEvent, TenantId,
};
use hookline_ingest::{
    run_consumer, EventIntake, IngestConsumerConfig, IngestConsumerDeps, IngestConsumerError, IngestCounters,
    IngestCounts, Ingestor, EVENT_TYPE_HEADER, IDEMPOTENCY_KEY_HEADER, SIGNATURE_HEADER,
};
use hookline_log::embedded::{EmbeddedLog, EmbeddedOptions};
use hookline_log::{Appended, ConsumerSpec, EventLog, NewRecord, Record, StartFrom, TopicPartition, TopicSpec};
use hookline_lookup::SubscriptionDirectory;
use hookline_metrics::Registry;
use hookline_records::{subscription_record, tenant_record};
use hookline_routing::Directory;
use hookline_views::embedded::EmbeddedViews;
use hookline_views::{Retention, ViewChange, ViewStore};
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long a test waits for something that should happen soon.
pub const PATIENCE: Duration = Duration::from_secs(15);
/// Body limit of the test ingestor: small, so an oversized record is cheap to make.
pub const MAX_BODY_BYTES: usize = 1024;
/// Partitions of `hookline.ingest` and `hookline.deliveries`: several, so positions differ.
const PARTITIONS: u32 = 3;
pub const GROUP: &str = "hookline-ingest";

/// Every record of `topic` in `log`, read up to its end as it is now.
pub async fn read_all(log: &Arc<dyn EventLog>, topic: &str) -> Vec<Record> {
    let ends = log.end_offsets(topic).await.unwrap();
    let total: u64 = ends.iter().map(|(_, end)| end).sum();
    let spec = ConsumerSpec { group: None, topics: vec![topic.to_string()], start: StartFrom::Earliest };
    let consumer = log.consumer(spec).await.unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut records = Vec::new();
    while (records.len() as u64) < total {
        assert!(tokio::time::Instant::now() < deadline, "timed out reading {total} records of {topic}");
        records.extend(consumer.poll(1000, Duration::from_millis(100)).await.unwrap());
    }
    records
}

pub struct Harness {
    pub log: Arc<dyn EventLog>,
    pub views: Arc<dyn ViewStore>,
    pub ingestor: Arc<Ingestor>,
    pub intake: Arc<EventIntake>,
    /// The routing directory the intake reads, following the log until the harness drops.
    pub routing: Arc<Directory>,
    following: CancellationToken,
    _dir: TempDir,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.following.cancel();
    }
}

impl Harness {
    /// Opens the log and views in a fresh directory and creates the topics.
    pub async fn new() -> Harness {
        Harness::with_log_options(EmbeddedOptions::default()).await
    }

    /// Like [`Harness::new`], with a log opened with `options` (e.g. a small record limit).
    pub async fn with_log_options(options: EmbeddedOptions) -> Harness {
        let dir = TempDir::new().unwrap();
        let log: Arc<dyn EventLog> = EmbeddedLog::open(&dir.path().join("log"), options).unwrap();
        let views: Arc<dyn ViewStore> =
            EmbeddedViews::open(&dir.path().join("views.redb"), Retention { ttl: Duration::from_secs(3600) }).unwrap();
        let spec = |name: &str, partitions| TopicSpec { name: name.to_string(), partitions, retention: None };
        log.ensure_topics(&[
            spec(topics::INGEST, PARTITIONS),
            spec(topics::DELIVERIES, PARTITIONS),
            spec(topics::INGEST_REJECTED, 1),
            spec(topics::QUARANTINE, 1),
            spec(topics::EVENTS, PARTITIONS),
            spec(topics::FANOUT, PARTITIONS),
            spec(topics::TENANTS, 1),
            spec(topics::SUBSCRIPTIONS, PARTITIONS),
        ])
        .await
        .unwrap();
        let directory = Arc::new(SubscriptionDirectory::new(views.clone(), 1000, Duration::from_secs(3600)));
        let ingestor = Arc::new(Ingestor::new(log.clone(), directory, views.clone(), MAX_BODY_BYTES));
        let routing = Arc::new(Directory::new());
        let following = CancellationToken::new();
        tokio::spawn({
            let (routing, log, following) = (routing.clone(), log.clone(), following.clone());
            async move { routing.follow(log, following).await }
        });
        let intake = Arc::new(EventIntake::new(log.clone(), routing.clone(), views.clone(), MAX_BODY_BYTES));
        Harness { log, views, ingestor, intake, routing, following, _dir: dir }
    }

    /// Registers a live subscription, as the projector would from its SubscriptionCreated.
    pub async fn subscription(&self, secret: Option<&str>, filter: Option<&str>) -> SubscriptionId {
        let subscription = Subscription {
            secret: secret.map(Secret::new),
            event_type_filter: filter.map(str::to_string),
            ..Subscription::new(SubscriptionId::new(), "http://127.0.0.1:9/hook", Utc::now())
        };
        let id = subscription.id;
        let created = SubscriptionEvent::SubscriptionCreated { subscription };
        self.views.apply(vec![ViewChange::Subscription(created)]).await.unwrap();
        id
    }

    pub async fn delete(&self, id: SubscriptionId) {
        let deleted = SubscriptionEvent::SubscriptionDeleted { id, deleted_at: Utc::now(), version: 0, write_id: None };
        self.views.apply(vec![ViewChange::Subscription(deleted)]).await.unwrap();
    }

    /// Writes a task into the views, as the projector would from its TaskAccepted.
    pub async fn project_task(&self, task_id: TaskId, subscription_id: SubscriptionId) {
        let task = TaskView { task_id, subscription_id, event_type: None, created_at: Utc::now(), last_attempt: None };
        let payload_at = LogPosition { topic: topics::DELIVERIES.into(), partition: 0, offset: 0 };
        self.views.apply(vec![ViewChange::Task { task, payload_at }]).await.unwrap();
    }

    /// Appends records to `hookline.ingest` as an external producer would.
    pub async fn produce(&self, records: Vec<NewRecord>) -> Vec<Appended> {
        self.log.append(records).await.unwrap()
    }

    /// Starts the consumer of `group`.
    pub fn start(&self, group: &str) -> Running {
        let counters = Arc::new(IngestCounters::new());
        let deps = IngestConsumerDeps {
            log: self.log.clone(),
            ingestor: self.ingestor.clone(),
            intake: self.intake.clone(),
            counters: counters.clone(),
            metrics: Registry::new(),
        };
        let config = IngestConsumerConfig { group: group.to_string(), ..IngestConsumerConfig::default() };
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run_consumer(config, deps, shutdown.clone()));
        Running { counters, shutdown, task }
    }

    /// Every record of `topic`, read up to its end as it is now.
    pub async fn read_topic(&self, topic: &str) -> Vec<Record> {
        read_all(&self.log, topic).await
    }

    /// The TaskAccepted events in `hookline.deliveries`.
    pub async fn tasks(&self) -> Vec<TaskAccepted> {
        let records = self.read_topic(topics::DELIVERIES).await;
        for record in &records {
            assert_eq!(record.header(topics::EVENT_HEADER), Some(TaskAccepted::KIND.as_bytes()));
        }
        records.iter().map(|record| serde_json::from_slice(&record.value).unwrap()).collect()
    }

    /// Moves the group's commit point back to the start of every partition of
    /// `hookline.ingest`: the state a crash between appending and committing leaves.
    pub async fn rewind(&self, group: &str) {
        let spec =
            ConsumerSpec { group: Some(group.into()), topics: vec![topics::INGEST.into()], start: StartFrom::Earliest };
        let consumer = self.log.consumer(spec).await.unwrap();
        let start: Vec<(TopicPartition, u64)> = consumer.assignment().into_iter().map(|tp| (tp, 0)).collect();
        consumer.commit(&start).await.unwrap();
    }

    /// The first records the group would read next, waiting for at least one.
    pub async fn next_for_group(&self, group: &str) -> Vec<Record> {
        let spec =
            ConsumerSpec { group: Some(group.into()), topics: vec![topics::INGEST.into()], start: StartFrom::Earliest };
        let consumer = self.log.consumer(spec).await.unwrap();
        let records = consumer.poll(1000, PATIENCE).await.unwrap();
        assert!(!records.is_empty(), "no record for group {group} within {PATIENCE:?}");
        records
    }
}

/// A running consumer and its counters.
pub struct Running {
    pub counters: Arc<IngestCounters>,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), IngestConsumerError>>,
}

impl Running {
    /// Waits until the counters show `done` records settled, and returns them.
    pub async fn settled(&self, done: u64) -> IngestCounts {
        let counters = &self.counters;
        eventually(&format!("{done} records settled"), move || async move {
            let counts = counters.snapshot();
            (counts.accepted + counts.filtered + counts.replayed + counts.rejected_total() >= done).then_some(counts)
        })
        .await
    }

    /// Stops the consumer and returns how it ended.
    pub async fn stop(self) -> Result<(), IngestConsumerError> {
        self.shutdown.cancel();
        tokio::time::timeout(PATIENCE, self.task).await.expect("the consumer stops in time").unwrap()
    }
}

/// Creates tenant `id` in the log and waits until `routing` has read it.
pub async fn create_tenant(log: &Arc<dyn EventLog>, routing: &Directory, id: &str) -> TenantId {
    let at = Utc::now();
    let tenant_id = TenantId::parse(id).unwrap();
    let tenant = Tenant {
        id: tenant_id.clone(),
        name: id.into(),
        limits: TenantLimits::default(),
        created_at: at,
        updated_at: at,
    };
    let appended = log.append(vec![tenant_record(&TenantEvent::TenantCreated { tenant })]).await.unwrap();
    routing.wait_for(topics::TENANTS, &appended[0], PATIENCE).await.unwrap();
    tenant_id
}

/// Creates a subscription of `tenant` wanting `patterns` (`None`: every event) in the
/// log, and waits until `routing` has read it.
pub async fn create_routed_subscription(
    log: &Arc<dyn EventLog>,
    routing: &Directory,
    tenant: &TenantId,
    patterns: Option<&[&str]>,
    enabled: bool,
) -> SubscriptionId {
    let base = Subscription::new(SubscriptionId::new(), "https://example.com/hook", Utc::now());
    let subscription = Subscription { tenant_id: tenant.clone(), enabled, ..base }
        .with_patterns(patterns.map(|p| parse_patterns("event_types", p).unwrap()));
    let id = subscription.id;
    let record = subscription_record(&SubscriptionEvent::SubscriptionCreated { subscription });
    let appended = log.append(vec![record]).await.unwrap();
    routing.wait_for(topics::SUBSCRIPTIONS, &appended[0], PATIENCE).await.unwrap();
    id
}

/// A record for `hookline.ingest`, built as a producer would.
pub struct Webhook {
    record: NewRecord,
}

pub fn webhook(subscription: SubscriptionId, body: &str) -> Webhook {
    webhook_with_key(subscription.to_string().as_bytes(), body)
}

pub fn webhook_with_key(key: &[u8], body: &str) -> Webhook {
    Webhook {
        record: NewRecord {
            topic: topics::INGEST.to_string(),
            key: key.to_vec(),
            headers: Vec::new(),
            value: body.as_bytes().to_vec(),
        },
    }
}

/// A record for `hookline.events` sent to tenant `key`, built as a producer would.
pub fn event_for(key: &str, body: &str) -> Webhook {
    Webhook {
        record: NewRecord {
            topic: topics::EVENTS.to_string(),
            key: key.as_bytes().to_vec(),
            headers: Vec::new(),
            value: body.as_bytes().to_vec(),
        },
    }
}

impl Webhook {
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.record.headers.push((name.to_string(), value.as_ref().to_vec()));
        self
    }

    pub fn event_type(self, event_type: &str) -> Self {
        self.header(EVENT_TYPE_HEADER, event_type)
    }

    pub fn idempotency_key(self, key: &str) -> Self {
        self.header(IDEMPOTENCY_KEY_HEADER, key)
    }

    /// Signs the value with `secret`, as a producer holding the secret would.
    pub fn signed(self, secret: &str) -> Self {
        let signature = ingest_signature(secret, &self.record.value);
        self.header(SIGNATURE_HEADER, signature)
    }

    pub fn build(self) -> NewRecord {
        self.record
    }
}

/// Waits until `probe` returns `Some`, failing the test after [`PATIENCE`].
pub async fn eventually<T, Fut: Future<Output = Option<T>>>(what: &str, probe: impl FnMut() -> Fut) -> T {
    hookline_testkit::wait_until(PATIENCE, what, probe).await
}
