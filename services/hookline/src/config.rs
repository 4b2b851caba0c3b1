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
use hookline_domain::target::TargetPolicy;
use hookline_domain::{RetryPolicy, Secret};
use hookline_secrets::SecretSealer;

use crate::access::{Access, AccessSettings};
use crate::memory::{Memory, MemorySettings};
use crate::telemetry::LogFormat;

#[derive(Args, Clone, Debug)]
pub struct Settings {
    /// Address the REST API listens on (port 0 picks a free port).
    #[arg(long, env = "HOOKLINE_LISTEN", default_value = "127.0.0.1:8000")]
    pub listen: SocketAddr,

    /// Directory of the embedded log and views.
    #[arg(long, env = "HOOKLINE_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Delivery attempts in all, the first included.
    #[arg(long, env = "MAX_RETRIES", default_value_t = 5)]
    pub max_retries: u32,

    /// Delay before the first retry, in seconds.
    #[arg(long, env = "RETRY_BASE_DELAY_SECONDS", default_value_t = 10)]
    pub retry_base_delay_seconds: u64,

    /// Multiplier between consecutive retry delays.
    #[arg(long, env = "RETRY_FACTOR", default_value_t = 3)]
    pub retry_factor: u64,

    /// Longest delay between attempts, in seconds.
    #[arg(long, env = "MAX_RETRY_DELAY_SECONDS", default_value_t = 900)]
    pub max_retry_delay_seconds: u64,

    /// Retry schedule: `seed` (the four settings above) or `production` (12 attempts
    /// over about 3 days: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, then every 10 h).
    #[arg(long, env = "HOOKLINE_RETRY_SCHEDULE", value_enum, default_value_t = RetrySchedule::Seed)]
    pub retry_schedule: RetrySchedule,

    /// A subscription whose attempts all failed for this long (and at least the attempts
    /// below), with no success in between, is disabled. In seconds.
    #[arg(long, env = "HOOKLINE_DISABLE_AFTER_FAILING_SECONDS", default_value_t = 432_000.0)]
    pub disable_after_failing_seconds: f64,

    /// The fewest failed attempts in a row that disable a subscription (with the period above).
    #[arg(long, env = "HOOKLINE_DISABLE_AFTER_ATTEMPTS", default_value_t = DEFAULT_DISABLE_AFTER_ATTEMPTS)]
    pub disable_after_attempts: u32,

    /// Random spread of retry delays: each delay d is drawn from [d × (1 − jitter), d].
    #[arg(long, env = "HOOKLINE_RETRY_JITTER", default_value_t = DEFAULT_JITTER)]
    pub retry_jitter: f64,

    /// Networks webhooks may be delivered to although they are not public, as
    /// comma-separated CIDRs (e.g. `127.0.0.0/8,::1/128` to test with local receivers).
    #[arg(long, env = "HOOKLINE_TARGET_ALLOWLIST", default_value = "")]
    pub target_allowlist: String,

    /// Proxy every webhook goes through (`http://host:port`), e.g. for static egress IPs.
    #[arg(long, env = "HOOKLINE_OUTBOUND_PROXY")]
    pub outbound_proxy: Option<String>,

    /// Time allowed for one delivery attempt, in seconds.
    #[arg(long, env = "DELIVERY_TIMEOUT_SECONDS", default_value_t = 10.0)]
    pub delivery_timeout_seconds: f64,

    /// How long task and attempt records stay visible, in hours (fractions allowed).
    #[arg(long, env = "LOG_RETENTION_HOURS", default_value_t = 72.0)]
    pub log_retention_hours: f64,

    /// How often expired view rows are purged, in seconds (often, so that each purge is
    /// small: a busy instance expires thousands of rows a second).
    #[arg(long, env = "HOOKLINE_PURGE_INTERVAL_SECONDS", default_value_t = 10.0)]
    pub purge_interval_seconds: f64,

    /// How long the log keeps records, in hours: at least LOG_RETENTION_HOURS, since the
    /// views point at records in the log [default: 168, or LOG_RETENTION_HOURS if longer].
    #[arg(long, env = "HOOKLINE_TOPIC_RETENTION_HOURS")]
    pub topic_retention_hours: Option<f64>,

    /// Partitions of each topic created by hookline.
    #[arg(long, env = "HOOKLINE_PARTITIONS", default_value_t = 4)]
    pub partitions: u32,

    /// Header carrying the ingest signature (`sha256=<hex>`).
    #[arg(long, env = "WEBHOOK_SECRET_HEADER", default_value = "X-Hub-Signature-256")]
    pub webhook_secret_header: String,

    /// Header carrying the event type, on ingest and on delivery.
    #[arg(long, env = "WEBHOOK_EVENT_TYPE_HEADER", default_value = "X-Event-Type")]
    pub webhook_event_type_header: String,

    /// How long a cached subscription is trusted, in seconds.
    #[arg(long, env = "CACHE_EXPIRY_SECONDS", default_value_t = 3600)]
    pub cache_expiry_seconds: u64,

    /// Subscriptions kept in the in-process cache.
    #[arg(long, env = "HOOKLINE_CACHE_CAPACITY", default_value_t = 100_000)]
    pub cache_capacity: usize,

    /// Largest accepted ingest body, in bytes.
    #[arg(long, env = "HOOKLINE_MAX_BODY_BYTES", default_value_t = hookline_domain::limits::DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,

    /// Delivery attempts in flight at once.
    #[arg(long, env = "HOOKLINE_MAX_IN_FLIGHT", default_value_t = 512)]
    pub max_in_flight: usize,

    /// Delivery attempts in flight at once to one subscription.
    #[arg(long, env = "HOOKLINE_MAX_IN_FLIGHT_PER_SUBSCRIPTION", default_value_t = 64)]
    pub max_in_flight_per_subscription: usize,

    /// Time allowed, after SIGTERM, for in-flight deliveries to finish, in seconds.
    #[arg(long, env = "HOOKLINE_SHUTDOWN_GRACE_SECONDS", default_value_t = 30.0)]
    pub shutdown_grace_seconds: f64,

    /// Log output format.
    #[arg(long, env = "HOOKLINE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Kafka bootstrap servers (`host:port,…`): the log is Kafka instead of the embedded log.
    #[arg(long, env = "KAFKA_BROKERS")]
    pub kafka_brokers: Option<String>,

    /// librdkafka settings passed through (`key=value,…`), for tuning.
    #[arg(long, env = "KAFKA_CONFIG", value_delimiter = ',')]
    pub kafka_config: Vec<String>,

    /// Replication factor of the topics `hookline migrate` creates in Kafka (default: the broker's).
    #[arg(long, env = "HOOKLINE_REPLICATION_FACTOR")]
    pub replication_factor: Option<i32>,

    /// Prefix of every topic and consumer group, so that several deployments can share
    /// one Kafka cluster (e.g. `staging.`).
    #[arg(long, env = "HOOKLINE_NAMESPACE")]
    pub namespace: Option<String>,

    /// A stable name for this process (static membership in Kafka consumer groups: a
    /// restarted process gets its partitions back at once).
    #[arg(long, env = "HOOKLINE_INSTANCE_ID")]
    pub instance_id: Option<String>,

    /// CQL contact points (`host:port,…`) of ScyllaDB: the views live there instead of the embedded store.
    #[arg(long, env = "SCYLLA_NODES", value_delimiter = ',')]
    pub scylla_nodes: Vec<String>,

    /// Keyspace of the views in ScyllaDB.
    #[arg(long, env = "SCYLLA_KEYSPACE", default_value = "hookline")]
    pub scylla_keyspace: String,

    /// Replication of the keyspace, used by `hookline migrate`.
    #[arg(long, env = "SCYLLA_REPLICATION", default_value = "{'class': 'SimpleStrategy', 'replication_factor': 1}")]
    pub scylla_replication: String,

    /// Consistency of view reads and writes: one, quorum, local_quorum, all…
    #[arg(long, env = "SCYLLA_CONSISTENCY", default_value = "local_quorum")]
    pub scylla_consistency: String,

    /// Key that seals subscription secrets at rest: base64 of 32 bytes. Unset: secrets
    /// are stored as they are (and sealed ones cannot be read).
    #[arg(long, env = "HOOKLINE_ENCRYPTION_KEY", hide_env_values = true, value_parser = key_text)]
    pub encryption_key: Option<Secret>,

    /// How long a replaced secret stays valid after a rotation that names no grace, in
    /// seconds (0 to 30 days).
    #[arg(long, env = "HOOKLINE_SECRET_ROTATION_GRACE_SECONDS", default_value_t = 86_400)]
    pub secret_rotation_grace_seconds: u64,

    /// Events (and webhooks) per second one tenant may send over REST, for tenants whose
    /// own limits name none. Unset: no limit.
    #[arg(long, env = "HOOKLINE_TENANT_EVENTS_PER_SECOND")]
    pub tenant_events_per_second: Option<NonZeroU32>,

    /// Live subscriptions one tenant may have, for tenants whose own limits name none.
    #[arg(long, env = "HOOKLINE_TENANT_MAX_SUBSCRIPTIONS", default_value_t = DEFAULT_TENANT_MAX_SUBSCRIPTIONS)]
    pub tenant_max_subscriptions: u32,

    /// Roles this process runs: `all`, or a comma-separated list of `api`, `delivery`,
    /// `projector`, `ingest` (the consumer of directly produced webhooks and events),
    /// `fanout` (expands each event sent to a tenant into its subscriptions' tasks),
    /// `replay` (sends again, paced, the tasks a replay selects).
    #[arg(long = "roles", env = "HOOKLINE_ROLES", value_enum, value_delimiter = ',', default_value = "all")]
    pub roles: Vec<Role>,

    #[command(flatten)]
    pub access: AccessSettings,

    #[command(flatten)]
    pub memory: MemorySettings,
}

/// Which retry schedule delivery follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RetrySchedule {
    /// `MAX_RETRIES`, `RETRY_BASE_DELAY_SECONDS`, `RETRY_FACTOR`, `MAX_RETRY_DELAY_SECONDS`.
    Seed,
    /// [`RetryPolicy::production`]; the four seed settings are ignored.
    Production,
}

/// One job a process can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    All,
    Api,
    Delivery,
    Projector,
    Ingest,
    Fanout,
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
fn key_text(text: &str) -> Result<Secret, String> {
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
    pub retention: Duration,
    pub purge_interval: Duration,
    pub topic_retention: Duration,
    pub cache_expiry: Duration,
    pub shutdown_grace: Duration,
    /// Seals and opens subscription secrets (with `HOOKLINE_ENCRYPTION_KEY`, if set).
    pub sealer: SecretSealer,
    pub secret_rotation_grace: Duration,
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
            retention,
            purge_interval,
            topic_retention,
            cache_expiry: Duration::from_secs(self.cache_expiry_seconds),
            shutdown_grace,
            sealer,
            secret_rotation_grace,
            access,
            memory,
        })
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
    fn disabling_defaults_to_five_days_and_fifty_attempts() {
        let disable = checked(&[]).disable;
        assert_eq!(disable, DisablePolicy { after_failing: Duration::from_secs(5 * 24 * 3600), after_attempts: 50 });
        let short = checked(&["--disable-after-failing-seconds", "3", "--disable-after-attempts", "3"]).disable;
        assert_eq!(short, DisablePolicy { after_failing: Duration::from_secs(3), after_attempts: 3 });
        let cli = Cli::try_parse_from(["hookline", "--disable-after-attempts", "0"]).expect("parses");
        assert!(cli.settings.check().is_err());
    }
}
