//! Starting the service and talking to it as a user would.

use std::path::Path;
use std::time::Duration;

use hookline_testkit::process::{wait_until, Hookline};
use serde_json::{json, Value};

/// Fast retry settings so that tests take seconds: 4 attempts, 1 s then 2 s then 4 s
/// exactly (no jitter); and the receivers are on loopback, so loopback is allowlisted
/// (a test of the protection itself sets `HOOKLINE_TARGET_ALLOWLIST` to "").
pub const FAST_RETRIES: &[(&str, &str)] = &[
    ("MAX_RETRIES", "4"),
    ("RETRY_BASE_DELAY_SECONDS", "1"),
    ("RETRY_FACTOR", "2"),
    ("MAX_RETRY_DELAY_SECONDS", "60"),
    ("HOOKLINE_RETRY_JITTER", "0"),
    ("HOOKLINE_TARGET_ALLOWLIST", "127.0.0.0/8,::1/128"),
    ("DELIVERY_TIMEOUT_SECONDS", "2"),
    ("HOOKLINE_PARTITIONS", "2"),
];

pub struct Service {
    pub process: Hookline,
    pub client: reqwest::Client,
    _dir: Option<tempfile::TempDir>,
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_hookline")
}

impl Service {
    /// Starts the service on a fresh data directory with the fast retry settings plus `env`.
    pub async fn start(env: &[(&str, &str)]) -> Service {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut service = Service::start_in(dir.path(), env).await;
        service._dir = Some(dir);
        service
    }

    /// Starts the service on an existing data directory (a restart).
    pub async fn start_in(data_dir: &Path, env: &[(&str, &str)]) -> Service {
        let data = data_dir.to_str().expect("utf-8 path").to_string();
        let mut all_env: Vec<(&str, &str)> = FAST_RETRIES.to_vec();
        // The embedded default, whatever engines the test run itself was given.
        all_env.extend_from_slice(&[("KAFKA_BROKERS", ""), ("SCYLLA_NODES", "")]);
        all_env.extend_from_slice(env);
        let process =
            Hookline::start(binary(), &["serve", "--listen", "127.0.0.1:0", "--data-dir", &data], &all_env).await;
        Service { process, client: client(), _dir: None }
    }

    pub fn url(&self, path: &str) -> String {
        self.process.url(path)
    }

    /// Creates a subscription and returns its id.
    pub async fn subscribe(&self, target_url: &str, secret: Option<&str>, filter: Option<&str>) -> String {
        self.subscription_with(&json!({"target_url": target_url, "secret": secret, "event_type_filter": filter})).await
    }

    /// Creates a subscription from `body`; returns the answer.
    pub async fn create_subscription(&self, body: &Value) -> Value {
        let (status, created) = self.send_json(reqwest::Method::POST, "/api/v1/subscriptions", body).await;
        assert_eq!(status, 201, "creating a subscription: {created}");
        created
    }

    /// Creates a subscription from `body`; returns its id.
    pub async fn subscription_with(&self, body: &Value) -> String {
        self.create_subscription(body).await["id"].as_str().expect("id").to_string()
    }

    /// Sends `body` as JSON; returns the status and the JSON answer.
    pub async fn send_json(&self, method: reqwest::Method, path: &str, body: &Value) -> (u16, Value) {
        let resp = self.client.request(method, self.url(path)).json(body).send().await.expect("request");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Sends a webhook; returns the status and the JSON answer.
    pub async fn ingest(&self, sub: &str, body: &str, headers: &[(&str, &str)]) -> (u16, Value) {
        let mut request =
            self.client.post(self.url(&format!("/api/ingest/{sub}"))).header("content-type", "application/json");
        for (name, value) in headers {
            // from_bytes, not from_str: event types may be UTF-8, which HTTP carries as opaque bytes.
            let value = reqwest::header::HeaderValue::from_bytes(value.as_bytes()).expect("header value");
            request = request.header(*name, value);
        }
        let resp = request.body(body.to_string()).send().await.expect("ingest");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Sends a webhook that must be queued; returns its task id.
    pub async fn ingest_ok(&self, sub: &str, body: &str, headers: &[(&str, &str)]) -> String {
        let (status, answer) = self.ingest(sub, body, headers).await;
        assert_eq!(status, 202, "ingest answered {answer}");
        answer["task_id"].as_str().expect("task_id").to_string()
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let resp = self.client.get(self.url(path)).send().await.expect("get");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    pub async fn task(&self, task_id: &str) -> (u16, Value) {
        self.get(&format!("/api/status/delivery_tasks/{task_id}")).await
    }

    /// Waits until the task reaches `status` and returns it.
    pub async fn wait_task(&self, task_id: &str, status: &str, timeout: Duration) -> Value {
        wait_until(timeout, &format!("task {task_id} to be {status}"), || async {
            let (code, task) = self.task(task_id).await;
            (code == 200 && task["status"] == status).then_some(task)
        })
        .await
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client")
}

/// Runs the binary with `args` and `env` expecting it to refuse to start; returns what
/// it printed.
pub async fn refused(args: &[&str], env: &[(&str, &str)]) -> String {
    let mut command = tokio::process::Command::new(binary());
    command.args(args).envs(env.iter().copied()).kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(60), command.output())
        .await
        .expect("the process exits")
        .expect("runs");
    let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(!output.status.success(), "started anyway: {printed}");
    assert!(!printed.contains("hookline listening"), "{printed}");
    printed
}

/// The shared engines the distributed tests run against: a Kafka broker and a CQL node.
pub struct Engines {
    pub kafka_brokers: String,
    pub scylla_nodes: String,
}

/// The engines from `KAFKA_BROKERS` and `SCYLLA_NODES`. Without them (an empty value
/// counts as none, as it does for hookline) the calling test is skipped, saying so,
/// unless `HOOKLINE_REQUIRE_ENGINES=1` (as in CI), where it fails.
pub fn engines(test: &str) -> Option<Engines> {
    let set = |name| std::env::var(name).ok().filter(|value| !value.trim().is_empty());
    match (set("KAFKA_BROKERS"), set("SCYLLA_NODES")) {
        (Some(kafka_brokers), Some(scylla_nodes)) => Some(Engines { kafka_brokers, scylla_nodes }),
        _ if std::env::var("HOOKLINE_REQUIRE_ENGINES").as_deref() == Ok("1") => {
            panic!("{test}: KAFKA_BROKERS and SCYLLA_NODES must be set and not empty (scripts/test.sh starts both engines)")
        }
        _ => {
            println!("SKIPPED: {test}: KAFKA_BROKERS or SCYLLA_NODES not set or empty (run scripts/kafka.sh start and scripts/cassandra.sh start)");
            None
        }
    }
}

/// One isolated deployment on the shared engines: its own topic namespace and keyspace.
pub struct Deployment {
    pub env: Vec<(String, String)>,
    pub namespace: String,
    _data: tempfile::TempDir,
}

impl Deployment {
    pub async fn new(engines: &Engines, extra: &[(&str, &str)]) -> Deployment {
        let id = uuid_fragment();
        let namespace = format!("it{id}.");
        let data = tempfile::tempdir().unwrap();
        let mut env: Vec<(String, String)> = FAST_RETRIES.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        env.extend([
            ("KAFKA_BROKERS".to_string(), engines.kafka_brokers.clone()),
            ("SCYLLA_NODES".to_string(), engines.scylla_nodes.clone()),
            ("HOOKLINE_NAMESPACE".to_string(), namespace.clone()),
            ("SCYLLA_KEYSPACE".to_string(), format!("hookline_it{id}")),
            ("SCYLLA_CONSISTENCY".to_string(), "one".to_string()),
            ("HOOKLINE_DATA_DIR".to_string(), data.path().to_str().unwrap().to_string()),
        ]);
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let deployment = Deployment { env, namespace, _data: data };
        let output = tokio::process::Command::new(binary())
            .arg("migrate")
            .envs(deployment.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .await
            .unwrap();
        assert!(output.status.success(), "migrate failed: {}", String::from_utf8_lossy(&output.stderr));
        deployment
    }

    /// Starts one process running `roles` (e.g. "api,projector") on this deployment.
    pub async fn start(&self, roles: &str, extra: &[(&str, &str)]) -> Service {
        let mut env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        env.push(("HOOKLINE_ROLES", roles));
        env.extend_from_slice(extra);
        let process = Hookline::start(binary(), &["serve", "--listen", "127.0.0.1:0"], &env).await;
        Service { process, client: client(), _dir: None }
    }
}

fn uuid_fragment() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{:x}{:x}", nanos & 0xffff_ffff_ffff, std::process::id())
}
