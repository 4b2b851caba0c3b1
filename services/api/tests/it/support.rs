//! A real API over the embedded log and views in a temporary directory, with the
//! projector and the subscription follower running, driven through `warp::test`.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use hookline_api::{routes, ApiConfig, ApiDeps, Probes, Readiness};
use hookline_domain::target::TargetPolicy;
use hookline_domain::{topics, AttemptRecorded, Outcome, SubscriptionId, TaskId};
use hookline_ingest::{EventIntake, Ingestor};
use hookline_log::embedded::{EmbeddedLog, EmbeddedOptions};
use hookline_log::{EventLog, NewRecord, TopicSpec};
use hookline_lookup::SubscriptionDirectory;
use hookline_metrics::{ConsumerBook, ConsumerLag, ObservedLog, ProcessCollector, Registry};
use hookline_overview::Overview;
use hookline_projector::{ProjectorConfig, ProjectorDeps};
use hookline_views::embedded::EmbeddedViews;
use hookline_views::{Retention, ViewStore};
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;
use warp::http::{HeaderMap, HeaderValue, StatusCode};
use warp::{Filter, Reply};

/// How long a test waits for something that should happen soon.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// The ports and services of one API instance, as the binary would wire them.
pub struct Stack {
    _dir: TempDir,
    pub log: Arc<dyn EventLog>,
    pub deps: ApiDeps,
    /// Samples consumer lag on demand (the binary does it every few seconds).
    pub lag: Arc<ConsumerLag>,
    max_body_bytes: usize,
    shutdown: CancellationToken,
}

impl Stack {
    /// Opens the log and views in a fresh directory, creates the topics and starts the
    /// projector and the subscription follower, with metrics and readiness wired as the
    /// binary wires them.
    pub async fn start(max_body_bytes: usize) -> Stack {
        let dir = TempDir::new().unwrap();
        let raw_log: Arc<dyn EventLog> =
            EmbeddedLog::open(&dir.path().join("log"), EmbeddedOptions::default()).unwrap();
        let consumers = ConsumerBook::new();
        let log = ObservedLog::wrap(raw_log, consumers.clone());
        let views: Arc<dyn ViewStore> =
            EmbeddedViews::open(&dir.path().join("views.redb"), Retention { ttl: Duration::from_secs(72 * 3600) })
                .unwrap();
        let mut specs: Vec<TopicSpec> = hookline_projector::topics()
            .into_iter()
            .map(|name| TopicSpec { name, partitions: 4, retention: None })
            .collect();
        // The tiers a retry by hand is appended to.
        let tiers = ApiConfig::default().retry.tier_topics();
        specs.extend(tiers.into_iter().map(|name| TopicSpec { name, partitions: 1, retention: None }));
        // What the routing directory follows besides the subscriptions.
        specs.push(TopicSpec { name: topics::TENANTS.into(), partitions: 4, retention: None });
        // Where a subscription disabled or enabled by hand records its decision.
        specs.push(TopicSpec { name: topics::OPERATIONAL.into(), partitions: 4, retention: None });
        log.ensure_topics(&specs).await.unwrap();

        let shutdown = CancellationToken::new();
        let directory = Arc::new(SubscriptionDirectory::new(views.clone(), 10_000, Duration::from_secs(3600)));
        let registry = Registry::new();
        let lag = ConsumerLag::new(consumers.clone());
        registry.register(directory.cache_stats());
        registry.register(lag.clone());
        registry.register(Arc::new(ProcessCollector));
        let config = ProjectorConfig::default();
        consumers.expect(&config.group);
        let readiness = Arc::new(Readiness::new(log.clone(), views.clone(), consumers));
        let projector_deps = ProjectorDeps { log: log.clone(), views: views.clone(), metrics: registry.clone() };
        let probes = Probes { registry, readiness };
        let ingestor = Arc::new(Ingestor::new(log.clone(), directory.clone(), views.clone(), max_body_bytes));
        tokio::spawn(hookline_projector::run(config, projector_deps, shutdown.clone()));
        let follower = (directory.clone(), log.clone(), shutdown.clone());
        tokio::spawn(async move { follower.0.follow(follower.1, follower.2).await });
        let routing = Arc::new(hookline_routing::Directory::new());
        let follower = (routing.clone(), log.clone(), shutdown.clone());
        tokio::spawn(async move { follower.0.follow(follower.1, follower.2).await });
        let events = Arc::new(EventIntake::new(log.clone(), routing.clone(), views.clone(), max_body_bytes));
        let overview = Arc::new(Overview::new(Default::default(), routing.clone()));
        let follower = (overview.clone(), log.clone(), shutdown.clone());
        tokio::spawn(async move { follower.0.follow(follower.1, follower.2).await });
        let deps =
            ApiDeps { log: log.clone(), views: views.clone(), directory, routing, ingestor, events, probes, overview };
        Stack { _dir: dir, log, deps, lag, max_body_bytes, shutdown }
    }

    pub fn config(&self) -> ApiConfig {
        // The tests' targets are on loopback.
        let target_policy = TargetPolicy::parse_allowlist("127.0.0.0/8").expect("a CIDR");
        ApiConfig { max_body_bytes: self.max_body_bytes, target_policy, ..ApiConfig::default() }
    }

    /// Starts the fan-out role, which turns accepted events into their tasks.
    pub async fn run_fanout(&self) {
        let quarantine = TopicSpec { name: topics::QUARANTINE.into(), partitions: 1, retention: None };
        self.log.ensure_topics(&[quarantine]).await.unwrap();
        let deps = hookline_fanout::FanoutDeps { log: self.log.clone(), metrics: Registry::new() };
        tokio::spawn(hookline_fanout::run(hookline_fanout::FanoutConfig::default(), deps, self.shutdown.clone()));
    }

    /// Appends an attempt as the delivery role would.
    pub async fn record_attempt(&self, attempt: &AttemptRecorded) {
        let record = NewRecord {
            topic: topics::ATTEMPTS.into(),
            key: attempt.subscription_id.to_string().into_bytes(),
            headers: vec![(topics::EVENT_HEADER.into(), AttemptRecorded::KIND.as_bytes().to_vec())],
            value: serde_json::to_vec(attempt).unwrap(),
        };
        self.log.append(vec![record]).await.unwrap();
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// An answer, decoded.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
}

impl Answer {
    pub fn message(&self) -> &str {
        self.json["message"].as_str().unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The API of one stack, driven without a socket.
pub struct Api<F> {
    pub stack: Stack,
    filter: F,
}

pub async fn api() -> Api<impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone + Send + Sync + 'static> {
    api_with_limit(hookline_domain::limits::DEFAULT_MAX_BODY_BYTES).await
}

pub async fn api_with_limit(
    max_body_bytes: usize,
) -> Api<impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone + Send + Sync + 'static> {
    let stack = Stack::start(max_body_bytes).await;
    let filter = routes(stack.config(), stack.deps.clone());
    Api { stack, filter }
}

/// An API whose configuration `configure` changes from the tests' usual one.
pub async fn api_with(
    configure: impl FnOnce(ApiConfig) -> ApiConfig,
) -> Api<impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone + Send + Sync + 'static> {
    let stack = Stack::start(hookline_domain::limits::DEFAULT_MAX_BODY_BYTES).await;
    let filter = routes(configure(stack.config()), stack.deps.clone());
    Api { stack, filter }
}

/// One request to build.
pub struct Call {
    method: &'static str,
    path: String,
    headers: Vec<(String, HeaderValue)>,
    body: Vec<u8>,
}

impl Call {
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.headers.push((name.to_string(), HeaderValue::from_bytes(value.as_ref()).unwrap()));
        self
    }

    pub fn body(mut self, body: impl AsRef<[u8]>) -> Self {
        self.body = body.as_ref().to_vec();
        self
    }

    /// A JSON body with a JSON content type.
    pub fn json(self, body: &Value) -> Self {
        self.header("content-type", "application/json").body(body.to_string())
    }

    /// Made with `token` (an operator's or a tenant's).
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", format!("Bearer {token}"))
    }
}

pub fn call(method: &'static str, path: impl Into<String>) -> Call {
    Call { method, path: path.into(), headers: Vec::new(), body: Vec::new() }
}

impl<F> Api<F>
where
    F: Filter<Error = Infallible> + Clone + Send + Sync + 'static,
    F::Extract: Reply + Send,
{
    /// Sends a call whose answer is not JSON: the status, headers and body as text.
    pub async fn send_text(&self, call: Call) -> (StatusCode, HeaderMap, String) {
        let mut request = warp::test::request().method(call.method).path(&call.path);
        for (name, value) in call.headers {
            request = request.header(name.as_str(), value);
        }
        let response = request.body(call.body).reply(&self.filter).await;
        let body = String::from_utf8(response.body().to_vec()).expect("a UTF-8 body");
        (response.status(), response.headers().clone(), body)
    }

    pub async fn send(&self, call: Call) -> Answer {
        let mut request = warp::test::request().method(call.method).path(&call.path);
        for (name, value) in call.headers {
            request = request.header(name.as_str(), value);
        }
        let response = request.body(call.body).reply(&self.filter).await;
        let json = if response.body().is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(response.body()).unwrap_or_else(|e| {
                panic!("{} {} answered non-JSON ({e}): {:?}", call.method, call.path, response.body())
            })
        };
        Answer { status: response.status(), headers: response.headers().clone(), json }
    }

    /// Creates a subscription and returns its JSON.
    pub async fn create(&self, prefix: &str, body: Value) -> Value {
        let answer = self.send(call("POST", format!("{prefix}/subscriptions")).json(&body)).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
        answer.json
    }

    /// Creates tenant `id` as the operator, with `limits`; returns its JSON.
    pub async fn create_tenant(&self, id: &str, limits: Value) -> Value {
        self.create_tenant_as(None, id, limits).await
    }

    /// Creates tenant `id` with `limits`, as the operator holding `operator_token`.
    pub async fn create_tenant_as(&self, operator_token: Option<&str>, id: &str, limits: Value) -> Value {
        let mut request = call("POST", "/api/v1/tenants").json(&json!({"id": id, "name": id, "limits": limits}));
        if let Some(token) = operator_token {
            request = request.bearer(token);
        }
        let answer = self.send(request).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
        answer.json
    }

    /// Makes a token for `tenant` as the operator and returns (token, token id).
    pub async fn make_token(&self, operator_token: Option<&str>, tenant: &str) -> (String, String) {
        let mut request = call("POST", format!("/api/v1/tenants/{tenant}/tokens"));
        if let Some(token) = operator_token {
            request = request.bearer(token);
        }
        let answer = self.send(request).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{answer:?}");
        let text = |field: &str| answer.json[field].as_str().expect("a string").to_string();
        (text("token"), text("id"))
    }
}

/// Waits until `probe` returns `Some`, failing the test after [`PATIENCE`].
pub async fn eventually<T, Fut: Future<Output = Option<T>>>(what: &str, probe: impl FnMut() -> Fut) -> T {
    hookline_testkit::wait_until(PATIENCE, what, probe).await
}

/// Both ways into the API.
pub const PREFIXES: [&str; 2] = ["/api", "/api/v1"];

/// Attempt `number` of `task`, as the delivery role records it: a minute after the
/// task was accepted plus ten seconds per attempt, a failure carrying its status.
pub fn attempt(task: &str, sub: &str, number: u32, outcome: Outcome, http_status: u16) -> AttemptRecorded {
    let accepted = Utc::now() - TimeDelta::seconds(60);
    AttemptRecorded {
        task_id: task.parse::<TaskId>().unwrap(),
        subscription_id: sub.parse::<SubscriptionId>().unwrap(),
        attempt_number: number,
        outcome,
        http_status: Some(http_status),
        error: (outcome != Outcome::Success).then(|| format!("HTTP {http_status}")),
        latency_ms: 12 + u64::from(number),
        response_body: Some(format!("body {number}")),
        attempted_at: accepted + TimeDelta::seconds(i64::from(number) * 10),
        next_attempt_at: (outcome == Outcome::FailedAttempt).then(|| accepted + TimeDelta::seconds(100)),
        task_accepted_at: accepted,
        event_type: None,
        replay_id: None,
    }
}
