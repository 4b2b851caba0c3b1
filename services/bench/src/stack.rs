//! The processes under test: the release `hookline` (every role in one process) on the
//! engines a mode names, and the `hookline-receiver` it delivers to; and the few REST
//! calls a run makes to them.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use hookline_testkit::bench::{StatsReport, WindowReport};
use hookline_testkit::process::Hookline;
use serde_json::{json, Value};

use crate::scenario::Mode;

/// The Kafka cluster and CQL nodes a run uses; `None`: the embedded engine.
pub struct Engines {
    pub kafka: Option<String>,
    pub cql: Option<String>,
}

impl Engines {
    /// The engines `mode` needs, from `KAFKA_BROKERS` and `SCYLLA_NODES`.
    pub fn for_mode(mode: Mode) -> anyhow::Result<Engines> {
        let named = |name: &str| std::env::var(name).ok().filter(|value| !value.trim().is_empty());
        let required = |name: &str| named(name).with_context(|| format!("{mode:?} mode needs {name}"));
        Ok(match mode {
            Mode::Embedded => Engines { kafka: None, cql: None },
            Mode::Distributed => {
                Engines { kafka: Some(required("KAFKA_BROKERS")?), cql: Some(required("SCYLLA_NODES")?) }
            }
            Mode::KafkaFanIn => Engines { kafka: Some(required("KAFKA_BROKERS")?), cql: named("SCYLLA_NODES") },
        })
    }

    /// In words, for the report.
    pub fn describe(&self) -> String {
        let log = self.kafka.as_ref().map_or("embedded log".to_string(), |brokers| format!("Kafka log ({brokers})"));
        let views = self.cql.as_ref().map_or("embedded views".to_string(), |nodes| format!("CQL views ({nodes})"));
        format!("{log}, {views}")
    }
}

pub struct Stack {
    pub hookline: Hookline,
    pub receiver: Hookline,
    /// The prefix of this run's topics and groups on a shared Kafka cluster.
    pub namespace: Option<String>,
    client: reqwest::Client,
    /// hookline's data directory, removed when the run is over.
    data: tempfile::TempDir,
}

impl Stack {
    /// Starts the receiver and hookline on `engines`, shared ones in a fresh namespace and
    /// keyspace (prepared with `hookline migrate`), and waits until both listen.
    pub async fn start(hookline: &str, receiver: &str, engines: &Engines) -> anyhow::Result<Stack> {
        let data = tempfile::tempdir()?;
        let data_dir = data.path().to_str().context("the data directory's path is not UTF-8")?;
        let run = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let namespace = engines.kafka.as_ref().map(|_| format!("bench{run}."));
        let env = service_env(engines, namespace.as_deref(), run);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        if engines.kafka.is_some() {
            let migrated = tokio::process::Command::new(hookline)
                .args(["migrate", "--data-dir", data_dir])
                .envs(env.iter().copied())
                .output()
                .await
                .with_context(|| format!("running {hookline} migrate"))?;
            if !migrated.status.success() {
                bail!("hookline migrate failed: {}", String::from_utf8_lossy(&migrated.stderr));
            }
        }
        let receiver = Hookline::start(receiver, &["--listen", "127.0.0.1:0"], &[]).await;
        let hookline =
            Hookline::start(hookline, &["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir], &env).await;
        Ok(Stack { hookline, receiver, namespace, client: reqwest::Client::new(), data })
    }

    /// Creates a subscription delivering to `path` on the receiver, signed with `secret`
    /// and wanting the event types of `pattern` if given, ordered by key if `ordered`;
    /// returns its id.
    pub async fn create_subscription(
        &self,
        path: &str,
        secret: Option<&str>,
        pattern: Option<&str>,
        ordered: bool,
    ) -> anyhow::Result<String> {
        let ordering = if ordered { "key" } else { "none" };
        let mut body = json!({"target_url": self.receiver.url(path), "ordering": ordering});
        if let Some(secret) = secret {
            body["secret"] = json!(secret);
        }
        if let Some(pattern) = pattern {
            body["event_types"] = json!([pattern]);
        }
        let response = self.client.post(self.hookline.url("/api/subscriptions")).json(&body).send().await?;
        let status = response.status();
        let created: Value = response.json().await?;
        if !status.is_success() {
            bail!("creating a subscription: {status} {created}");
        }
        Ok(created["id"].as_str().context("a created subscription without an id")?.to_string())
    }

    /// Clears the receiver's counts.
    pub async fn reset_receiver(&self) -> anyhow::Result<()> {
        self.client.post(self.receiver.url("/reset")).send().await?.error_for_status()?;
        Ok(())
    }

    /// hookline's data directory.
    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// The receiver's totals, and the latency of the deliveries since the last call.
    pub async fn receiver_window(&self) -> anyhow::Result<WindowReport> {
        Ok(self.client.post(self.receiver.url("/window")).send().await?.error_for_status()?.json().await?)
    }

    /// What the receiver has counted so far.
    pub async fn receiver_stats(&self) -> anyhow::Result<StatsReport> {
        Ok(self.client.get(self.receiver.url("/stats")).send().await?.error_for_status()?.json().await?)
    }
}

/// The environment of the benchmarked process: every role, warnings only, the
/// receiver's loopback allowed, and the engines (empty names the embedded ones).
fn service_env(engines: &Engines, namespace: Option<&str>, run: u64) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = vec![
        ("RUST_LOG".into(), "warn".into()),
        ("HOOKLINE_ROLES".into(), "all".into()),
        // The receiver is on loopback, which hookline refuses as a target unless allowed.
        ("HOOKLINE_TARGET_ALLOWLIST".into(), "127.0.0.0/8".into()),
        ("KAFKA_BROKERS".into(), engines.kafka.clone().unwrap_or_default()),
        ("SCYLLA_NODES".into(), engines.cql.clone().unwrap_or_default()),
    ];
    if let Some(namespace) = namespace {
        env.push(("HOOKLINE_NAMESPACE".into(), namespace.into()));
    }
    if engines.cql.is_some() {
        env.push(("SCYLLA_KEYSPACE".into(), format!("hookline_bench{run}")));
        env.push(("SCYLLA_CONSISTENCY".into(), "one".into()));
    }
    env
}
