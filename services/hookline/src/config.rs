//! Configuration: defaults, then environment variables (the seed service's names keep
//! their meaning), then flags. Every problem is listed at start-up.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::Args;
use hookline_api::DEFAULT_TENANT_MAX_SUBSCRIPTIONS;
use hookline_delivery::{DisablePolicy, OutboundProxy, DEFAULT_DISABLE_AFTER_ATTEMPTS};
use hookline_domain::retry::{Jitter, DEFAULT_JITTER};
use hookline_domain::signature::validate_standard_secret;
use hookline_domain::subscription::validate_target_url;
use hookline_domain::target::TargetPolicy;
use hookline_domain::{RetryPolicy, Secret};
use hookline_operational::OperatorWebhook;
use hookline_secrets::SecretSealer;

use crate::access::{Access, AccessSettings};
use crate::memory::{Memory, MemorySettings};
use crate::telemetry::LogFormat;
use crate::traces::TraceSettings;

/// The groups settings are shown in, by `--help` and in docs/configuration.md.
pub mod heading {
    pub const PROCESS: &str = "Process";
    pub const RETRIES: &str = "Retries";
    pub const DELIVERY: &str = "Delivery";
    pub const RETENTION: &str = "Retention";
    pub const LOG: &str = "The log (embedded or Kafka)";
    pub const INGEST: &str = "Ingest";
    pub const MEMORY: &str = "Memory and caches";
    pub const VIEWS: &str = "The views on ScyllaDB";
    pub const SECRETS: &str = "Secrets";
    pub const TENANTS: &str = "Tenants";
    pub const ACCESS: &str = "API access and request limits";
    pub const TRACES: &str = "Traces (OpenTelemetry)";
    pub const OPERATIONAL: &str = "Operational events";
}

#[derive(Args, Clone, Debug)]
pub struct Settings {
    /// Address the REST API, the dashboard and `/health`, `/ready`, `/metrics` listen
    /// on, as `ip:port` (port 0 picks a free port).
    #[arg(long, env = "HOOKLINE_LISTEN", default_value = "127.0.0.1:8000", help_heading = heading::PROCESS)]
    pub listen: SocketAddr,

    /// Directory of the embedded log (`log/`) and views (`views.redb`), created when
    /// missing. One process at a time may use it: the log locks it.
    #[arg(long, env = "HOOKLINE_DATA_DIR", default_value = "./data", help_heading = heading::PROCESS)]
    pub data_dir: PathBuf,

    /// Delivery attempts in all, the first included (1 to 100), under the `seed` schedule.
    #[arg(long, env = "MAX_RETRIES", default_value_t = 5, help_heading = heading::RETRIES)]
    pub max_retries: u32,

    /// Delay before the first retry, in seconds (at least 1), under the `seed` schedule.
    #[arg(long, env = "RETRY_BASE_DELAY_SECONDS", default_value_t = 10, help_heading = heading::RETRIES)]
    pub retry_base_delay_seconds: u64,

    /// Multiplier between consecutive retry delays (at least 1), under the `seed`
    /// schedule: the delay before attempt n+1 is
    /// min(RETRY_BASE_DELAY_SECONDS × RETRY_FACTOR^(n−1), MAX_RETRY_DELAY_SECONDS).
    #[arg(long, env = "RETRY_FACTOR", default_value_t = 3, help_heading = heading::RETRIES)]
    pub retry_factor: u64,

    /// Longest delay between attempts, in seconds (not below RETRY_BASE_DELAY_SECONDS),
    /// under the `seed` schedule; also the longest `Retry-After` of a receiver's 429 or
    /// 503 that is honoured.
    #[arg(long, env = "MAX_RETRY_DELAY_SECONDS", default_value_t = 900, help_heading = heading::RETRIES)]
    pub max_retry_delay_seconds: u64,

    /// Retry schedule. Each distinct delay has its own retry topic,
    /// `hookline.retry.<delay>s`.
    #[arg(
        long,
        env = "HOOKLINE_RETRY_SCHEDULE",
        value_enum,
        default_value_t = RetrySchedule::Seed,
        help_heading = heading::RETRIES
    )]
    pub retry_schedule: RetrySchedule,

    /// A subscription whose attempts all failed for this long, in seconds (with at
    /// least HOOKLINE_DISABLE_AFTER_ATTEMPTS of them and no success in between), is
    /// disabled. The streak is counted in memory by the delivery process: a restart
    /// starts it again, which can only delay a disabling. Default: 5 days.
    #[arg(
        long,
        env = "HOOKLINE_DISABLE_AFTER_FAILING_SECONDS",
        default_value_t = 432_000.0,
        help_heading = heading::DELIVERY
    )]
    pub disable_after_failing_seconds: f64,

    /// The fewest failed attempts in a row that disable a subscription (at least 1),
    /// together with HOOKLINE_DISABLE_AFTER_FAILING_SECONDS.
    #[arg(
        long,
        env = "HOOKLINE_DISABLE_AFTER_ATTEMPTS",
        default_value_t = DEFAULT_DISABLE_AFTER_ATTEMPTS,
        help_heading = heading::DELIVERY
    )]
    pub disable_after_attempts: u32,

    /// Random spread of retry delays, from 0 (none) up to but not including 1: each
    /// delay d is drawn from [d × (1 − jitter), d], so a retry is never later than
    /// scheduled.
    #[arg(long, env = "HOOKLINE_RETRY_JITTER", default_value_t = DEFAULT_JITTER, help_heading = heading::RETRIES)]
    pub retry_jitter: f64,

    /// Networks webhooks may be delivered to although they are not public, as
    /// comma-separated CIDRs (e.g. `127.0.0.0/8,::1/128` to test with local receivers;
    /// `0.0.0.0/0,::/0` turns the guard off). Empty: public addresses only.
    #[arg(long, env = "HOOKLINE_TARGET_ALLOWLIST", default_value = "", help_heading = heading::DELIVERY)]
    pub target_allowlist: String,

    /// Proxy every webhook goes through (`http://host:port`), e.g. for static egress
    /// IPs. The proxy resolves target names again on its own: restrict its egress too.
    #[arg(long, env = "HOOKLINE_OUTBOUND_PROXY", help_heading = heading::DELIVERY)]
    pub outbound_proxy: Option<String>,

    /// Time allowed for one delivery attempt, connecting included, in seconds
    /// (fractions allowed, more than 0): a receiver still answering then is cut off.
    #[arg(long, env = "DELIVERY_TIMEOUT_SECONDS", default_value_t = 10.0, help_heading = heading::DELIVERY)]
    pub delivery_timeout_seconds: f64,

    /// The longest per-attempt timeout a subscription may set (`timeout_ms`), in seconds
    /// (more than 0).
    #[arg(long, env = "HOOKLINE_MAX_TIMEOUT_SECONDS", default_value_t = 60.0, help_heading = heading::DELIVERY)]
    pub max_timeout_seconds: f64,

    /// How long tasks, attempts and events stay visible in the views after their last
    /// activity, in hours (fractions allowed, more than 0); also how long an
    /// idempotency key is remembered and a disabled subscription's tasks wait.
    #[arg(long, env = "LOG_RETENTION_HOURS", default_value_t = 72.0, help_heading = heading::RETENTION)]
    pub log_retention_hours: f64,

    /// How often expired view rows are purged, in seconds (often, so that each purge is
    /// small: a busy instance expires thousands of rows a second). Expired rows are
    /// invisible at once; this only frees their space.
    #[arg(long, env = "HOOKLINE_PURGE_INTERVAL_SECONDS", default_value_t = 10.0, help_heading = heading::RETENTION)]
    pub purge_interval_seconds: f64,

    /// How long the log keeps records, in hours: at least LOG_RETENTION_HOURS, since the
    /// views point at records in the log (`serve` and `migrate` also refuse a Kafka
    /// topic that keeps them for less). Unset: 168, or LOG_RETENTION_HOURS if longer.
    #[arg(long, env = "HOOKLINE_TOPIC_RETENTION_HOURS", help_heading = heading::RETENTION)]
    pub topic_retention_hours: Option<f64>,

    /// Partitions of each topic hookline creates (1 to 1024; `hookline.replays` always
    /// has one): the embedded log on its first start, `hookline migrate` on Kafka.
    /// Topics that exist keep theirs.
    #[arg(long, env = "HOOKLINE_PARTITIONS", default_value_t = 4, help_heading = heading::LOG)]
    pub partitions: u32,

    /// Header carrying the seed's ingest signature, `sha256=<hex HMAC-SHA256 of the
    /// raw body>` (letters, digits, `-` and `_`).
    #[arg(long, env = "WEBHOOK_SECRET_HEADER", default_value = "X-Hub-Signature-256", help_heading = heading::INGEST)]
    pub webhook_secret_header: String,

    /// Header carrying the event type, on ingest and on delivery (letters, digits, `-`
    /// and `_`).
    #[arg(long, env = "WEBHOOK_EVENT_TYPE_HEADER", default_value = "X-Event-Type", help_heading = heading::INGEST)]
    pub webhook_event_type_header: String,

    /// How long a cached subscription is trusted, in seconds (at least 1). The cache is
    /// also kept fresh from the log, so this bounds staleness only if that stalls.
    #[arg(long, env = "CACHE_EXPIRY_SECONDS", default_value_t = 3600, help_heading = heading::MEMORY)]
    pub cache_expiry_seconds: u64,

    /// Subscriptions kept in each process's in-process cache; when full, the coldest
    /// are dropped and read from the views again.
    #[arg(long, env = "HOOKLINE_CACHE_CAPACITY", default_value_t = 100_000, help_heading = heading::MEMORY)]
    pub cache_capacity: usize,

    /// Largest accepted ingest body, in bytes (413 above). At most the log's record
    /// limit less 64 KiB for the event around the body (4,128,768 on Kafka, 8,323,072
    /// embedded), else start-up is refused naming both numbers.
    #[arg(
        long,
        env = "HOOKLINE_MAX_BODY_BYTES",
        default_value_t = hookline_domain::limits::DEFAULT_MAX_BODY_BYTES,
        help_heading = heading::INGEST
    )]
    pub max_body_bytes: usize,

    /// Delivery attempts in flight at once in this process (at least 1). Each source of
    /// tasks holds at most 4 times as many records polled and not finished.
    #[arg(long, env = "HOOKLINE_MAX_IN_FLIGHT", default_value_t = 512, help_heading = heading::DELIVERY)]
    pub max_in_flight: usize,

    /// Delivery attempts in flight at once to one subscription (at least 1), so that a
    /// slow receiver does not hold back the others.
    #[arg(
        long,
        env = "HOOKLINE_MAX_IN_FLIGHT_PER_SUBSCRIPTION",
        default_value_t = 64,
        help_heading = heading::DELIVERY
    )]
    pub max_in_flight_per_subscription: usize,

    /// Time allowed after SIGTERM or SIGINT (or a failing role) for in-flight work to
    /// finish, in seconds (more than 0); 5 s more are given to commit, then the roles
    /// still running are stopped and the process exits non-zero.
    #[arg(long, env = "HOOKLINE_SHUTDOWN_GRACE_SECONDS", default_value_t = 30.0, help_heading = heading::PROCESS)]
    pub shutdown_grace_seconds: f64,

    /// Format of the logs, which go to stderr; `RUST_LOG` filters them (default `info`).
    #[arg(
        long,
        env = "HOOKLINE_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text,
        help_heading = heading::PROCESS
    )]
    pub log_format: LogFormat,

    /// Kafka bootstrap servers (`host:port,…`): the log is Kafka instead of the
    /// embedded log. Unset or empty: the embedded log under HOOKLINE_DATA_DIR.
    #[arg(long, env = "KAFKA_BROKERS", help_heading = heading::LOG)]
    pub kafka_brokers: Option<String>,

    /// librdkafka settings passed through (`key=value,…`), for tuning. The settings the
    /// guarantees depend on (`enable.auto.commit`, `enable.auto.offset.store`,
    /// `enable.idempotence`, `acks`, `group.id`, `allow.auto.create.topics`) are
    /// refused at start-up, each named.
    #[arg(long, env = "KAFKA_CONFIG", value_delimiter = ',', help_heading = heading::LOG)]
    pub kafka_config: Vec<String>,

    /// Replication factor of the topics `hookline migrate` creates in Kafka. Unset: the
    /// broker's default.
    #[arg(long, env = "HOOKLINE_REPLICATION_FACTOR", help_heading = heading::LOG)]
    pub replication_factor: Option<i32>,

    /// Prefix of every topic and consumer group (e.g. `staging.`), so that several
    /// deployments can share one Kafka cluster.
    #[arg(long, env = "HOOKLINE_NAMESPACE", help_heading = heading::LOG)]
    pub namespace: Option<String>,

    /// A stable name for this process: static membership in Kafka consumer groups, so
    /// that a restarted process gets its partitions back at once (a dead one's move
    /// after 10 s). Give each process its own.
    #[arg(long, env = "HOOKLINE_INSTANCE_ID", help_heading = heading::LOG)]
    pub instance_id: Option<String>,

    /// CQL contact points of ScyllaDB (`host:port,…`): the views live there instead of
    /// the embedded store. Unset: the embedded views under HOOKLINE_DATA_DIR.
    #[arg(long, env = "SCYLLA_NODES", value_delimiter = ',', help_heading = heading::VIEWS)]
    pub scylla_nodes: Vec<String>,

    /// Keyspace of the views: a lowercase identifier of at most 48 characters.
    #[arg(long, env = "SCYLLA_KEYSPACE", default_value = "hookline", help_heading = heading::VIEWS)]
    pub scylla_keyspace: String,

    /// Replication of the keyspace, as a CQL map, used by `hookline migrate` when it
    /// creates the keyspace.
    #[arg(
        long,
        env = "SCYLLA_REPLICATION",
        default_value = "{'class': 'SimpleStrategy', 'replication_factor': 1}",
        help_heading = heading::VIEWS
    )]
    pub scylla_replication: String,

    /// Consistency of view reads and writes: `any`, `one`, `two`, `three`, `quorum`,
    /// `all`, `local_quorum`, `each_quorum` or `local_one`.
    #[arg(long, env = "SCYLLA_CONSISTENCY", default_value = "local_quorum", help_heading = heading::VIEWS)]
    pub scylla_consistency: String,

    /// Key that seals subscription secrets at rest: base64 of 32 bytes (e.g. `openssl
    /// rand -base64 32`). Unset: secrets are stored as they are, and a process with the
    /// api, delivery or ingest role refuses to start when stored secrets are sealed.
    #[arg(
        long,
        env = "HOOKLINE_ENCRYPTION_KEY",
        hide_env_values = true,
        value_parser = key_text,
        help_heading = heading::SECRETS
    )]
    pub encryption_key: Option<Secret>,

    /// How long a replaced secret stays valid after a rotation that names no grace (and
    /// after a `PUT` that changes the secret), in seconds: 0 to 2592000 (30 days).
    #[arg(
        long,
        env = "HOOKLINE_SECRET_ROTATION_GRACE_SECONDS",
        default_value_t = 86_400,
        help_heading = heading::SECRETS
    )]
    pub secret_rotation_grace_seconds: u64,

    /// Events and webhooks per second one tenant may send over REST (at least 1), for
    /// tenants whose `limits.events_per_second` is null. Unset: no limit.
    #[arg(long, env = "HOOKLINE_TENANT_EVENTS_PER_SECOND", help_heading = heading::TENANTS)]
    pub tenant_events_per_second: Option<NonZeroU32>,

    /// Live subscriptions one tenant may have, for tenants whose
    /// `limits.max_subscriptions` is null (409 past it).
    #[arg(
        long,
        env = "HOOKLINE_TENANT_MAX_SUBSCRIPTIONS",
        default_value_t = DEFAULT_TENANT_MAX_SUBSCRIPTIONS,
        help_heading = heading::TENANTS
    )]
    pub tenant_max_subscriptions: u32,

    /// Where hookline sends its own decisions (a subscription disabled or enabled, tasks
    /// exhausted, a replay completed), of every tenant, as signed webhooks: made the
    /// operator's subscription (default tenant, pattern `hookline.*`) by the process
    /// that runs the operational role. Checked like a `target_url`.
    #[arg(long, env = "HOOKLINE_OPERATOR_WEBHOOK_URL", help_heading = heading::OPERATIONAL)]
    pub operator_webhook_url: Option<String>,

    /// The Standard Webhooks secret (`whsec_` and the base64 of at least 24 bytes) that
    /// signs what goes to HOOKLINE_OPERATOR_WEBHOOK_URL; required with it, never shown.
    #[arg(
        long,
        env = "HOOKLINE_OPERATOR_WEBHOOK_SECRET",
        hide_env_values = true,
        value_parser = key_text,
        help_heading = heading::OPERATIONAL
    )]
    pub operator_webhook_secret: Option<Secret>,

    /// How long the dead letters of one subscription are gathered into one
    /// `hookline.task.exhausted`, in seconds: at most one per subscription per this long.
    #[arg(
        long,
        env = "HOOKLINE_EXHAUSTED_SUMMARY_SECONDS",
        default_value_t = 60.0,
        help_heading = heading::OPERATIONAL
    )]
    pub exhausted_summary_seconds: f64,

    /// Roles this process runs, comma-separated. Roles in separate processes share
    /// Kafka and ScyllaDB: the embedded log serves one process.
    #[arg(
        long = "roles",
        env = "HOOKLINE_ROLES",
        value_enum,
        value_delimiter = ',',
        default_value = "all",
        help_heading = heading::PROCESS
    )]
    pub roles: Vec<Role>,

    #[command(flatten)]
    pub access: AccessSettings,

    #[command(flatten)]
    pub memory: MemorySettings,

    #[command(flatten)]
    pub traces: TraceSettings,
}

/// Which retry schedule delivery follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RetrySchedule {
    /// Exponential: MAX_RETRIES, RETRY_BASE_DELAY_SECONDS, RETRY_FACTOR and
    /// MAX_RETRY_DELAY_SECONDS (tiers 10 s, 30 s, 90 s and 270 s with their defaults).
    Seed,
    /// 12 attempts over about 3 days: at once, then after 5 s, 5 min, 30 min, 2 h, 5 h
    /// and six times 10 h (the Standard Webhooks recommendation, continued every 10 h);
    /// the four seed settings are ignored and `Retry-After` is honoured up to 10 h.
    Production,
}

/// One job a process can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// Every role below.
    All,
    /// The REST API and the dashboard.
    Api,
    /// Attempts, retry tiers, dead letters, auto-disable.
    Delivery,
    /// Folds the log into the views and purges expired rows.
    Projector,
    /// Consumes webhooks and events produced straight into Kafka.
    Ingest,
    /// Expands each event sent to a tenant into its subscriptions' tasks.
    Fanout,
    /// Sends hookline's own decisions to the operator and the tenants; gathers dead
    /// letters into `hookline.task.exhausted`.
    Operational,
    /// Sends again, paced, the tasks each replay selects (one process at a time).
    Replay,
}

impl Settings {
    /// The Kafka brokers, if any (an empty value means none).
    pub fn kafka_brokers(&self) -> Option<&str> {
        self.kafka_brokers.as_deref().map(str::trim).filter(|b| !b.is_empty())
    }

    /// The CQL contact points, if any (empty entries ignored).
    pub fn scylla_nodes(&self) -> Vec<String> {
        self.scylla_nodes.iter().map(|n| n.trim()).filter(|n| !n.is_empty()).map(str::to_string).collect()
    }

    /// The librdkafka pass-through settings as pairs.
    pub fn kafka_overrides(&self) -> Vec<(String, String)> {
        self.kafka_config
            .iter()
            .filter(|e| !e.trim().is_empty())
            .filter_map(|entry| entry.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect()
    }

    /// Whether this process runs `role`.
    pub fn runs(&self, role: Role) -> bool {
        self.roles.contains(&Role::All) || self.roles.contains(&role)
    }
}

/// The key's text, held as a [`Secret`] so that printing the settings never shows it.
pub(crate) fn key_text(text: &str) -> Result<Secret, String> {
    Ok(Secret::new(text))
}

/// The longest grace a rotation may give the secret it replaces.
/// How long the log keeps records unless told otherwise (a week).
const DEFAULT_TOPIC_RETENTION: Duration = Duration::from_secs(168 * 3600);
const MAX_ROTATION_GRACE: Duration = Duration::from_secs(30 * 24 * 3600);

fn seconds(name: &str, value: f64, problems: &mut Vec<String>) -> Duration {
    match Duration::try_from_secs_f64(value) {
        Ok(d) if !d.is_zero() => d,
        _ => {
            problems.push(format!("{name} must be a positive number (got {value})"));
            Duration::from_secs(1)
        }
    }
}

/// Settings checked and turned into the types the roles take.
pub struct Checked {
    pub retry: RetryPolicy,
    pub retry_jitter: Jitter,
    pub disable: DisablePolicy,
    pub target_policy: TargetPolicy,
    pub outbound_proxy: Option<OutboundProxy>,
    pub delivery_timeout: Duration,
    pub max_timeout: Duration,
    pub retention: Duration,
    pub purge_interval: Duration,
    pub topic_retention: Duration,
    pub cache_expiry: Duration,
    pub shutdown_grace: Duration,
    /// Seals and opens subscription secrets (with `HOOKLINE_ENCRYPTION_KEY`, if set).
    pub sealer: SecretSealer,
    pub secret_rotation_grace: Duration,
    /// The operator's URL and secret, checked.
    pub operator: Option<OperatorWebhook>,
    pub exhausted_summary_window: Duration,
    pub access: Access,
    pub memory: Memory,
}

impl Settings {
    /// Validates every setting and lists every problem found.
    pub fn check(&self) -> anyhow::Result<Checked> {
        let mut problems = Vec::new();
        let retry = match self.retry_schedule {
            RetrySchedule::Seed => RetryPolicy::exponential(
                self.max_retries,
                self.retry_base_delay_seconds,
                self.retry_factor,
                self.max_retry_delay_seconds,
            ),
            RetrySchedule::Production => RetryPolicy::production(),
        };
        problems.extend(retry.problems());
        let disable = DisablePolicy {
            after_failing: seconds(
                "HOOKLINE_DISABLE_AFTER_FAILING_SECONDS",
                self.disable_after_failing_seconds,
                &mut problems,
            ),
            after_attempts: self.disable_after_attempts,
        };
        if self.disable_after_attempts == 0 {
            problems.push("HOOKLINE_DISABLE_AFTER_ATTEMPTS must be at least 1".into());
        }
        let retry_jitter = Jitter::new(self.retry_jitter).unwrap_or_else(|e| {
            problems.push(e.to_string());
            Jitter::NONE
        });
        let target_policy = TargetPolicy::parse_allowlist(&self.target_allowlist).unwrap_or_else(|e| {
            problems.push(format!("HOOKLINE_TARGET_ALLOWLIST: {e}"));
            TargetPolicy::default()
        });
        let outbound_proxy = match self.outbound_proxy.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
            None => None,
            Some(proxy) => OutboundProxy::parse(proxy).map_err(|e| problems.push(e.to_string())).ok(),
        };
        let delivery_timeout = seconds("DELIVERY_TIMEOUT_SECONDS", self.delivery_timeout_seconds, &mut problems);
        let max_timeout = seconds("HOOKLINE_MAX_TIMEOUT_SECONDS", self.max_timeout_seconds, &mut problems);
        let retention = seconds("LOG_RETENTION_HOURS", self.log_retention_hours * 3600.0, &mut problems);
        let purge_interval = seconds("HOOKLINE_PURGE_INTERVAL_SECONDS", self.purge_interval_seconds, &mut problems);
        let topic_retention = match self.topic_retention_hours {
            None => DEFAULT_TOPIC_RETENTION.max(retention),
            Some(hours) => {
                let kept = seconds("HOOKLINE_TOPIC_RETENTION_HOURS", hours * 3600.0, &mut problems);
                if kept < retention {
                    problems.push(format!(
                        "HOOKLINE_TOPIC_RETENTION_HOURS ({hours}) is shorter than LOG_RETENTION_HOURS ({}): the views \
                         point at records in the log, which must keep them at least as long",
                        self.log_retention_hours
                    ));
                }
                kept
            }
        };
        let shutdown_grace = seconds("HOOKLINE_SHUTDOWN_GRACE_SECONDS", self.shutdown_grace_seconds, &mut problems);
        if self.cache_expiry_seconds == 0 {
            problems.push("CACHE_EXPIRY_SECONDS must be at least 1".into());
        }
        if self.partitions == 0 || self.partitions > 1024 {
            problems.push("HOOKLINE_PARTITIONS must be between 1 and 1024".into());
        }
        if self.max_body_bytes == 0 {
            problems.push("HOOKLINE_MAX_BODY_BYTES must be at least 1".into());
        }
        if self.max_in_flight == 0 || self.max_in_flight_per_subscription == 0 {
            problems
                .push("HOOKLINE_MAX_IN_FLIGHT and HOOKLINE_MAX_IN_FLIGHT_PER_SUBSCRIPTION must be at least 1".into());
        }
        for (name, header) in [
            ("WEBHOOK_SECRET_HEADER", &self.webhook_secret_header),
            ("WEBHOOK_EVENT_TYPE_HEADER", &self.webhook_event_type_header),
        ] {
            let valid = !header.is_empty() && header.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
            if !valid {
                problems.push(format!("{name} must be a header name (letters, digits, '-', '_'), got {header:?}"));
            }
        }
        for entry in self.kafka_config.iter().filter(|e| !e.trim().is_empty()) {
            if !entry.contains('=') {
                problems.push(format!("KAFKA_CONFIG entries must be key=value, got {entry:?}"));
            }
        }
        problems.extend(hookline_log_kafka::refused_overrides(&self.kafka_overrides()));
        let sealer = match &self.encryption_key {
            None => SecretSealer::without_key(),
            Some(key) => SecretSealer::from_base64_key(key.expose()).unwrap_or_else(|e| {
                problems.push(e.to_string());
                SecretSealer::without_key()
            }),
        };
        let secret_rotation_grace = Duration::from_secs(self.secret_rotation_grace_seconds);
        if secret_rotation_grace > MAX_ROTATION_GRACE {
            problems.push(format!(
                "HOOKLINE_SECRET_ROTATION_GRACE_SECONDS must be at most {} (30 days)",
                MAX_ROTATION_GRACE.as_secs()
            ));
        }
        let operator = self.operator_webhook(&target_policy, &mut problems);
        let exhausted_summary_window =
            seconds("HOOKLINE_EXHAUSTED_SUMMARY_SECONDS", self.exhausted_summary_seconds, &mut problems);
        let access = self.access.check(&mut problems);
        let memory = self.memory.check(&mut problems);
        if !problems.is_empty() {
            bail!("invalid configuration:\n  - {}", problems.join("\n  - "));
        }
        Ok(Checked {
            retry,
            retry_jitter,
            disable,
            target_policy,
            outbound_proxy,
            delivery_timeout,
            max_timeout,
            retention,
            purge_interval,
            topic_retention,
            cache_expiry: Duration::from_secs(self.cache_expiry_seconds),
            shutdown_grace,
            sealer,
            secret_rotation_grace,
            operator,
            exhausted_summary_window,
            access,
            memory,
        })
    }

    /// The operator's URL and secret: both or neither; the URL one webhooks may go to
    /// (under the target policy), the secret a Standard Webhooks one.
    fn operator_webhook(&self, policy: &TargetPolicy, problems: &mut Vec<String>) -> Option<OperatorWebhook> {
        let url = self.operator_webhook_url.as_deref().map(str::trim).filter(|url| !url.is_empty());
        let secret = self.operator_webhook_secret.as_ref().filter(|secret| !secret.expose().is_empty());
        match (url, secret) {
            (None, None) => None,
            (None, Some(_)) => {
                problems.push("HOOKLINE_OPERATOR_WEBHOOK_SECRET is set without HOOKLINE_OPERATOR_WEBHOOK_URL".into());
                None
            }
            (Some(_), None) => {
                problems.push(
                    "HOOKLINE_OPERATOR_WEBHOOK_URL needs HOOKLINE_OPERATOR_WEBHOOK_SECRET (whsec_ and the base64 of 24 random bytes or more)".into(),
                );
                None
            }
            (Some(url), Some(secret)) => {
                let mut valid = true;
                if let Err(problem) = validate_target_url(url, policy) {
                    problems.push(format!("HOOKLINE_OPERATOR_WEBHOOK_URL: {}", problem.message));
                    valid = false;
                }
                if let Err(problem) = validate_standard_secret(secret.expose()) {
                    problems.push(format!("HOOKLINE_OPERATOR_WEBHOOK_SECRET {problem}"));
                    valid = false;
                }
                valid.then(|| OperatorWebhook { url: url.to_string(), secret: secret.clone() })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        settings: Settings,
    }

    fn checked(args: &[&str]) -> Checked {
        let args = std::iter::once("hookline").chain(args.iter().copied());
        Cli::try_parse_from(args).expect("valid flags").settings.check().expect("valid settings")
    }

    #[test]
    fn the_seed_schedule_is_the_default_and_production_is_a_preset() {
        assert_eq!(checked(&[]).retry, RetryPolicy::default());
        let production = checked(&["--retry-schedule", "production", "--max-retries", "3"]).retry;
        assert_eq!(production, RetryPolicy::production());
        let tiers: Vec<u64> = production.tier_delays().iter().map(Duration::as_secs).collect();
        assert_eq!(tiers, vec![5, 300, 1_800, 7_200, 18_000, 36_000]);
    }

    #[test]
    fn a_bad_encryption_key_is_refused_without_being_shown() {
        let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        assert!(checked(&["--encryption-key", key]).sealer.has_key());
        assert!(!checked(&[]).sealer.has_key());
        let cli = Cli::try_parse_from(["hookline", "--encryption-key", "dG9vIHNob3J0"]).expect("parses");
        assert!(!format!("{:?}", cli.settings).contains("dG9vIHNob3J0"));
        let Err(problem) = cli.settings.check() else { panic!("a 9-byte key was accepted") };
        let problem = problem.to_string();
        assert!(problem.contains("HOOKLINE_ENCRYPTION_KEY must decode to 32 bytes, not 9"), "{problem}");
        assert!(!problem.contains("dG9vIHNob3J0"));
    }

    #[test]
    fn rotation_grace_defaults_to_a_day_and_is_capped_at_30_days() {
        assert_eq!(checked(&[]).secret_rotation_grace, Duration::from_secs(86_400));
        assert_eq!(checked(&["--secret-rotation-grace-seconds", "0"]).secret_rotation_grace, Duration::ZERO);
        let cli = Cli::try_parse_from(["hookline", "--secret-rotation-grace-seconds", "2592001"]).expect("parses");
        assert!(cli.settings.check().is_err());
    }

    #[test]
    fn the_operator_webhook_needs_a_url_webhooks_may_go_to_and_a_standard_secret() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        assert_eq!(checked(&[]).operator, None);
        let operator =
            checked(&["--operator-webhook-url", "https://ops.example.com/hook", "--operator-webhook-secret", secret])
                .operator
                .expect("configured");
        assert_eq!((operator.url.as_str(), operator.secret.expose()), ("https://ops.example.com/hook", secret));
        let refusal = |args: &[&str]| {
            let args = std::iter::once("hookline").chain(args.iter().copied());
            let settings = Cli::try_parse_from(args).expect("parses").settings;
            let Err(problem) = settings.check() else { panic!("accepted") };
            problem.to_string()
        };
        let problem =
            refusal(&["--operator-webhook-url", "http://127.0.0.1:9/hook", "--operator-webhook-secret", "plain"]);
        assert!(problem.contains("HOOKLINE_OPERATOR_WEBHOOK_URL: resolves to a loopback address"), "{problem}");
        assert!(problem.contains("HOOKLINE_OPERATOR_WEBHOOK_SECRET must start with whsec_"), "{problem}");
        assert!(!problem.contains("plain"), "the secret is not shown: {problem}");
        assert!(refusal(&["--operator-webhook-url", "https://ops.example.com/hook"])
            .contains("needs HOOKLINE_OPERATOR_WEBHOOK_SECRET"));
        assert!(refusal(&["--operator-webhook-secret", secret]).contains("without HOOKLINE_OPERATOR_WEBHOOK_URL"));
    }

    #[test]
    fn disabling_defaults_to_five_days_and_fifty_attempts() {
        let disable = checked(&[]).disable;
        assert_eq!(disable, DisablePolicy { after_failing: Duration::from_secs(5 * 24 * 3600), after_attempts: 50 });
        let short = checked(&["--disable-after-failing-seconds", "3", "--disable-after-attempts", "3"]).disable;
        assert_eq!(short, DisablePolicy { after_failing: Duration::from_secs(3), after_attempts: 3 });
        let cli = Cli::try_parse_from(["hookline", "--disable-after-attempts", "0"]).expect("parses");
        assert!(cli.settings.check().is_err());
    }
}
