//! A delivery role on a real embedded log and real embedded views in a temporary
//! directory, with helpers to register subscriptions, accept tasks the way ingest
//! does, and read back what the role wrote.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use hookline_delivery::{run, topics, DeliveryConfig, DeliveryDeps, DeliveryError, HostResolver, SystemResolver};
use hookline_domain::retry::Jitter;
use hookline_domain::target::TargetPolicy;
use hookline_domain::{
    topics as topic_names, AttemptRecorded, RetryPolicy, Secret, Subscription, SubscriptionEvent, SubscriptionId,
    TaskAccepted, TaskId,
};
use hookline_log::embedded::{EmbeddedLog, EmbeddedOptions};
use hookline_log::{ConsumerSpec, EventLog, NewRecord, Record, StartFrom, TopicSpec};
use hookline_lookup::SubscriptionDirectory;
use hookline_metrics::Registry;
use hookline_testkit::wait_until;
use hookline_views::embedded::EmbeddedViews;
use hookline_views::{Retention, ViewChange, ViewStore};
use serde_json::value::RawValue;
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Partitions of every topic in the tests: several, so ordering across partitions is exercised.
const PARTITIONS: u32 = 4;

impl Drop for Node {
    /// A test that ends without shutting down still stops the role.
    fn drop(&mut self) {
        if let Some((shutdown, _)) = &self.running {
            shutdown.cancel();
        }
        self.folding.cancel();
    }
}

/// Retries after 1 s, 2 s and 4 s exactly (no jitter): 4 attempts in all, so a failing
/// task is settled in ~7 s. The receivers are on loopback, so loopback is allowlisted.
pub fn fast_config() -> DeliveryConfig {
    DeliveryConfig {
        retry: RetryPolicy::exponential(4, 1, 2, 60),
        retry_jitter: Jitter::NONE,
        target_policy: TargetPolicy::parse_allowlist("127.0.0.0/8").expect("a CIDR"),
        timeout: Duration::from_secs(3),
        connect_timeout: Duration::from_secs(1),
        shutdown_grace: Duration::from_secs(5),
        ..DeliveryConfig::default()
    }
}

pub struct Node {
    pub log: Arc<EmbeddedLog>,
    pub views: Arc<EmbeddedViews>,
    pub directory: Arc<SubscriptionDirectory>,
    pub config: DeliveryConfig,
    /// The role's metrics, kept across restarts of the role.
    pub metrics: Arc<Registry>,
    pub resolver: Arc<dyn HostResolver>,
    running: Option<(CancellationToken, JoinHandle<Result<(), DeliveryError>>)>,
    /// Stops the task that folds the subscriptions topic into the views.
    folding: CancellationToken,
    _dir: TempDir,
}

/// Folds the subscription changes the role appends (its disablings) into the views,
/// as the projector does, so that the role learns whether they were applied.
async fn fold_subscriptions(log: Arc<EmbeddedLog>, views: Arc<EmbeddedViews>, stop: CancellationToken) {
    let spec =
        ConsumerSpec { group: None, topics: vec![topic_names::SUBSCRIPTIONS.into()], start: StartFrom::Earliest };
    let consumer = log.consumer(spec).await.expect("subscriptions consumer");
    loop {
        let records = tokio::select! {
            _ = stop.cancelled() => return,
            polled = consumer.poll(100, Duration::from_millis(200)) => polled.expect("poll subscriptions"),
        };
        let changes = records
            .iter()
            .map(|r| ViewChange::Subscription(serde_json::from_slice(&r.value).expect("a subscription event")))
            .collect::<Vec<_>>();
        if !changes.is_empty() {
            views.apply(changes).await.expect("fold subscription changes");
        }
    }
}

impl Node {
    /// Opens the log and views, creates the topics and starts the role.
    pub async fn start(config: DeliveryConfig) -> Node {
        Node::start_resolving(config, Arc::new(SystemResolver)).await
    }

    /// As [`Node::start`], with host names resolved by `resolver`.
    pub async fn start_resolving(config: DeliveryConfig, resolver: Arc<dyn HostResolver>) -> Node {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = EmbeddedLog::open(&dir.path().join("log"), EmbeddedOptions::default()).expect("open log");
        let views = EmbeddedViews::open(&dir.path().join("views.redb"), Retention { ttl: Duration::from_secs(3600) })
            .expect("open views");
        let mut names = topics(&config);
        names.push(topic_names::SUBSCRIPTIONS.to_string());
        let specs: Vec<TopicSpec> =
            names.into_iter().map(|name| TopicSpec { name, partitions: PARTITIONS, retention: None }).collect();
        log.ensure_topics(&specs).await.expect("create topics");
        let directory = Arc::new(SubscriptionDirectory::new(views.clone(), 1000, Duration::from_secs(60)));
        let folding = CancellationToken::new();
        tokio::spawn(fold_subscriptions(log.clone(), views.clone(), folding.clone()));
        let mut node = Node {
            log,
            views,
            directory,
            config,
            metrics: Registry::new(),
            resolver,
            running: None,
            folding,
            _dir: dir,
        };
        node.resume();
        node
    }

    /// Starts `run` (again) on the same log and views.
    pub fn resume(&mut self) {
        assert!(self.running.is_none(), "the role is already running");
        let shutdown = CancellationToken::new();
        let deps = DeliveryDeps {
            log: self.log.clone(),
            directory: self.directory.clone(),
            metrics: self.metrics.clone(),
            resolver: self.resolver.clone(),
            views: self.views.clone(),
        };
        let handle = tokio::spawn(run(self.config.clone(), deps, shutdown.clone()));
        self.running = Some((shutdown, handle));
    }

    /// Whether `run` is still running (it has not returned on its own).
    pub fn is_running(&self) -> bool {
        self.running.as_ref().is_some_and(|(_, handle)| !handle.is_finished())
    }

    /// Cancels the role and waits for `run` to return.
    pub async fn shut_down(&mut self) -> Result<(), DeliveryError> {
        let (shutdown, handle) = self.running.take().expect("the role is running");
        shutdown.cancel();
        tokio::time::timeout(self.config.shutdown_grace + Duration::from_secs(5), handle)
            .await
            .expect("run returns within its grace")
            .expect("run does not panic")
    }

    /// Registers a live subscription the way the API does (view written, cache told).
    pub async fn subscribe(&self, target_url: &str, secret: Option<&str>) -> SubscriptionId {
        self.subscribe_as(SubscriptionId::new(), target_url, secret).await
    }

    pub async fn subscribe_as(&self, id: SubscriptionId, target_url: &str, secret: Option<&str>) -> SubscriptionId {
        let now = Utc::now();
        let subscription = Subscription { secret: secret.map(Secret::new), ..Subscription::new(id, target_url, now) };
        self.change(SubscriptionEvent::SubscriptionCreated { subscription }).await;
        id
    }

    pub async fn change_url(&self, id: SubscriptionId, target_url: &str) {
        let mut subscription = match self.views.subscription(id).await.expect("view read") {
            Some(hookline_domain::SubscriptionState::Live(subscription)) => subscription,
            other => panic!("subscription {id} is not live: {other:?}"),
        };
        subscription.target_url = target_url.to_string();
        subscription.updated_at = Utc::now();
        let subscription = subscription.next_version(uuid::Uuid::new_v4());
        self.change(SubscriptionEvent::SubscriptionUpdated { subscription }).await;
    }

    /// The subscription as the role sees it now (its own disablings included).
    pub async fn current(&self, id: SubscriptionId) -> Subscription {
        match self.directory.get(id).await.expect("lookup").as_deref() {
            Some(hookline_domain::SubscriptionState::Live(subscription)) => subscription.clone(),
            other => panic!("subscription {id} is not live: {other:?}"),
        }
    }

    /// Enables or disables a subscription, as a user's PUT does.
    pub async fn set_enabled(&self, id: SubscriptionId, enabled: bool) {
        let mut subscription = self.current(id).await;
        subscription.enabled = enabled;
        subscription.disabled_reason = (!enabled).then(|| "disabled by user".to_string());
        subscription.updated_at = Utc::now().max(subscription.updated_at + chrono::TimeDelta::microseconds(1));
        let subscription = subscription.next_version(uuid::Uuid::new_v4());
        self.change(SubscriptionEvent::SubscriptionUpdated { subscription }).await;
    }

    /// Waits until the role has disabled the subscription; returns it.
    pub async fn wait_disabled(&self, id: SubscriptionId, timeout: Duration) -> Subscription {
        wait_until(timeout, &format!("subscription {id} disabled"), || async move {
            let subscription = self.current(id).await;
            (!subscription.enabled).then_some(subscription)
        })
        .await
    }

    pub async fn delete(&self, id: SubscriptionId) {
        self.change(SubscriptionEvent::SubscriptionDeleted { id, deleted_at: Utc::now(), version: 0, write_id: None })
            .await;
    }

    async fn change(&self, event: SubscriptionEvent) {
        self.views.apply(vec![ViewChange::Subscription(event.clone())]).await.expect("view write");
        self.directory.remember(&event);
    }

    /// Appends a TaskAccepted as ingest does and returns it.
    pub async fn accept(
        &self,
        subscription_id: SubscriptionId,
        payload: &str,
        event_type: Option<&str>,
    ) -> TaskAccepted {
        let task = TaskAccepted {
            task_id: TaskId::new(),
            subscription_id,
            event_type: event_type.map(str::to_string),
            accepted_at: Utc::now(),
            payload: RawValue::from_string(payload.to_string()).expect("payload is JSON"),
            event_id: None,
            ordering_key: None,
            trace: None,
        };
        self.append_task(&task).await;
        task
    }

    /// Appends a TaskAccepted record of `task` to `hookline.deliveries`, as its writers do.
    pub async fn append_task(&self, task: &TaskAccepted) {
        let record = NewRecord {
            topic: topic_names::DELIVERIES.to_string(),
            key: task.subscription_id.to_string().into_bytes(),
            headers: vec![(topic_names::EVENT_HEADER.to_string(), TaskAccepted::KIND.as_bytes().to_vec())],
            value: serde_json::to_vec(task).expect("serialize task"),
        };
        self.log.append(vec![record]).await.expect("append task");
    }

    /// Every record in `topic` right now.
    pub async fn read_all(&self, topic: &str) -> Vec<Record> {
        let ends = self.log.end_offsets(topic).await.expect("end offsets");
        let total: u64 = ends.iter().map(|(_, end)| end).sum();
        let consumer = self
            .log
            .consumer(ConsumerSpec { group: None, topics: vec![topic.to_string()], start: StartFrom::Earliest })
            .await
            .expect("consumer");
        let mut records = Vec::new();
        while (records.len() as u64) < total {
            let polled = consumer.poll(1000, Duration::from_secs(5)).await.expect("poll");
            assert!(!polled.is_empty(), "{topic}: read {} of {total} records", records.len());
            records.extend(polled);
        }
        records
    }

    /// The attempts recorded for a task, in attempt order.
    pub async fn attempts(&self, task_id: TaskId) -> Vec<AttemptRecorded> {
        let mut attempts: Vec<AttemptRecorded> = self
            .read_all(topic_names::ATTEMPTS)
            .await
            .iter()
            .map(|record| serde_json::from_slice::<AttemptRecorded>(&record.value).expect("attempt decodes"))
            .filter(|attempt| attempt.task_id == task_id)
            .collect();
        attempts.sort_by_key(|attempt| attempt.attempt_number);
        attempts
    }

    /// Waits until a task has at least `n` recorded attempts.
    pub async fn wait_attempts(&self, task_id: TaskId, n: usize, timeout: Duration) -> Vec<AttemptRecorded> {
        wait_until(timeout, &format!("{n} attempts of task {task_id}"), || async move {
            let attempts = self.attempts(task_id).await;
            (attempts.len() >= n).then_some(attempts)
        })
        .await
    }
}
