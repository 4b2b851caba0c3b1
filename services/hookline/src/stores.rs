//! Opening the log and the views the settings name, and creating what they need.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use hookline_domain::{limits, topics, RetrySchedules};
use hookline_log::embedded::{EmbeddedLog, EmbeddedOptions};
use hookline_log::namespace::Namespaced;
use hookline_log::{EventLog, LogError, TopicSpec};
use hookline_log_kafka::{KafkaLog, KafkaSettings};
use hookline_secrets::SecretSealer;
use hookline_views::embedded::EmbeddedViews;
use hookline_views::{Retention, ViewStore};
use hookline_views_scylla::{ScyllaSettings, ScyllaViews};

use crate::config::{Checked, Settings};

pub const VIEWS_FILE: &str = "views.redb";

pub struct Stores {
    pub log: Arc<dyn EventLog>,
    pub views: Arc<dyn ViewStore>,
}

/// Opens the log and the views. The embedded log creates its topics itself; a shared
/// log must have been prepared by `hookline migrate`, and missing topics are named.
pub async fn open(settings: &Settings, checked: &Checked) -> anyhow::Result<Stores> {
    let specs = topic_specs(settings, checked);
    let (log, shared) = open_log(settings, checked).await?;
    check_body_fits_a_record(settings.max_body_bytes, log.as_ref())?;
    if shared {
        let missing = log.missing_topics(&specs.iter().map(|s| s.name.clone()).collect::<Vec<_>>()).await?;
        if !missing.is_empty() {
            bail!("topics missing: {} (run `hookline migrate` first)", missing.join(", "));
        }
    } else {
        log.ensure_topics(&specs).await.context("creating topics")?;
    }
    check_payloads_outlive_views(log.as_ref(), checked).await?;
    let views = open_views(settings, checked).await?;
    Ok(Stores { log, views })
}

/// Refuses a body limit the log cannot hold: a TaskAccepted carries the body, and a
/// retry or a dead letter carries it again with a little more, so an accepted webhook
/// whose records the log refuses could never be delivered.
fn check_body_fits_a_record(max_body_bytes: usize, log: &dyn EventLog) -> anyhow::Result<()> {
    let limit = log.max_record_bytes();
    let most = limit.saturating_sub(limits::ENVELOPE_ROOM_BYTES);
    if max_body_bytes > most {
        bail!(
            "HOOKLINE_MAX_BODY_BYTES is {max_body_bytes}, but the log takes records of at most {limit} bytes, \
             {} of which are kept for the event around the body: set HOOKLINE_MAX_BODY_BYTES to {most} or less",
            limits::ENVELOPE_ROOM_BYTES,
        );
    }
    Ok(())
}

/// Refuses a log that deletes the records holding payloads (accepted tasks, dead
/// letters, accepted events) before the views that point at them expire: a retry by hand, a replay
/// or an event read back would find nothing there.
async fn check_payloads_outlive_views(log: &dyn EventLog, checked: &Checked) -> anyhow::Result<()> {
    for topic in [topics::DELIVERIES, topics::DLQ, topics::FANOUT] {
        let kept = log.retention(topic).await.with_context(|| format!("reading the retention of {topic}"))?;
        if let Some(kept) = kept.filter(|kept| *kept < checked.retention) {
            bail!(
                "topic {topic} keeps records for {:.3} h, less than the views' {:.3} h (LOG_RETENTION_HOURS): \
                 the views would point at deleted payloads; raise the topic's retention \
                 (retention.ms on Kafka) to at least LOG_RETENTION_HOURS",
                kept.as_secs_f64() / 3600.0,
                checked.retention.as_secs_f64() / 3600.0,
            );
        }
    }
    Ok(())
}

/// Creates every topic (and, for a shared view store, the schema); idempotent.
pub async fn migrate(settings: &Settings, checked: &Checked) -> anyhow::Result<()> {
    let specs = topic_specs(settings, checked);
    let (log, _) = open_log(settings, checked).await?;
    log.ensure_topics(&specs).await.context("creating topics")?;
    check_payloads_outlive_views(log.as_ref(), checked).await?;
    println!("topics ready: {}", specs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", "));
    if let Some(scylla) = scylla_settings(settings)? {
        hookline_views_scylla::migrate(&scylla).await.context("creating the view schema")?;
        println!("view schema ready in keyspace {}", scylla.keyspace);
    }
    Ok(())
}

fn scylla_settings(settings: &Settings) -> anyhow::Result<Option<ScyllaSettings>> {
    let nodes = settings.scylla_nodes();
    if nodes.is_empty() {
        return Ok(None);
    }
    Ok(Some(ScyllaSettings {
        nodes,
        keyspace: settings.scylla_keyspace.clone(),
        replication: settings.scylla_replication.clone(),
        consistency: ScyllaSettings::consistency_named(&settings.scylla_consistency)?,
    }))
}

/// The log, and whether other processes share it (then topics are made by `migrate`).
async fn open_log(settings: &Settings, checked: &Checked) -> anyhow::Result<(Arc<dyn EventLog>, bool)> {
    let (log, shared): (Arc<dyn EventLog>, bool) = match settings.kafka_brokers() {
        Some(brokers) => {
            let kafka = KafkaLog::connect(KafkaSettings {
                brokers: brokers.to_string(),
                client_id: format!("hookline-{}", settings.instance_id.as_deref().unwrap_or("process")),
                overrides: settings.kafka_overrides(),
                instance_id: settings.instance_id.clone(),
                replication_factor: settings.replication_factor,
                retention_bytes: checked.memory.log_retention_bytes,
            })
            .await
            .with_context(|| format!("connecting to Kafka at {brokers}"))?;
            (kafka, true)
        }
        None => (open_embedded_log(settings, checked.memory.embedded_log())?, false),
    };
    Ok(match &settings.namespace {
        Some(prefix) => (Namespaced::new(log, prefix.clone()), shared),
        None => (log, shared),
    })
}

fn open_embedded_log(settings: &Settings, options: EmbeddedOptions) -> anyhow::Result<Arc<dyn EventLog>> {
    let dir = settings.data_dir.join("log");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    match EmbeddedLog::open(&dir, options) {
        Ok(log) => Ok(log),
        Err(LogError::Corrupt(damage)) => bail!(
            "the log in {} is damaged: {damage}; hookline does not cut acknowledged records by itself. \
             Run `hookline repair-log --data-dir {}` to move the damaged part aside (it is kept, not deleted; \
             it says how many records are lost), then start again",
            dir.display(),
            settings.data_dir.display(),
        ),
        Err(e) => Err(e).with_context(|| format!("opening the log in {}", dir.display())),
    }
}

async fn open_views(settings: &Settings, checked: &Checked) -> anyhow::Result<Arc<dyn ViewStore>> {
    let retention = Retention { ttl: checked.retention };
    if let Some(scylla) = scylla_settings(settings)? {
        let views = ScyllaViews::connect(&scylla, retention)
            .await
            .with_context(|| format!("connecting to the views at {}", scylla.nodes.join(",")))?;
        return Ok(views);
    }
    let path = settings.data_dir.join(VIEWS_FILE);
    let views = EmbeddedViews::open_with_cache(&path, retention, checked.memory.views_cache_bytes)
        .with_context(|| format!("opening the views in {}", path.display()))?;
    Ok(views)
}

/// Refuses to go on when the stored secrets were sealed with another key, or when
/// they are sealed and no key is set, naming the subscription. The first sealed
/// secret decides: the cipher authenticates, so one that opens proves the key.
/// Plaintext secrets (written before a key was set) are passed over.
pub async fn check_encryption_key(views: &dyn ViewStore, sealer: &SecretSealer) -> anyhow::Result<()> {
    const PAGE: usize = 1000;
    let mut cursor = None;
    loop {
        let page = views.subscriptions(PAGE, cursor.as_deref()).await.context("reading the stored subscriptions")?;
        let first_sealed = page.items.into_iter().find(SecretSealer::holds_sealed);
        if let Some(stored) = first_sealed {
            sealer.open_subscription(stored).context("HOOKLINE_ENCRYPTION_KEY does not open the stored secrets")?;
            return Ok(());
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(()),
        }
    }
}

/// Every topic hookline uses. Subscriptions and tenants are kept for ever (every
/// process folds them from the first record); retry tiers keep records at least twice
/// their delay.
pub fn topic_specs(settings: &Settings, checked: &Checked) -> Vec<TopicSpec> {
    let spec = |name: &str, retention: Option<Duration>| TopicSpec {
        name: name.to_string(),
        partitions: settings.partitions,
        retention,
    };
    let kept = Some(checked.topic_retention);
    let mut specs = vec![
        spec(topics::SUBSCRIPTIONS, None),
        spec(topics::TENANTS, None),
        spec(topics::DELIVERIES, kept),
        spec(topics::ATTEMPTS, kept),
        spec(topics::DLQ, kept),
        spec(topics::INGEST, kept),
        spec(topics::INGEST_REJECTED, kept),
        spec(topics::QUARANTINE, kept),
        spec(topics::EVENTS, kept),
        spec(topics::FANOUT, kept),
        spec(topics::OPERATIONAL, kept),
        // One partition: the replay role's group gives it to one process at a time.
        TopicSpec { partitions: 1, ..spec(topics::REPLAYS, kept) },
    ];
    // Every schedule a subscription may choose has its tiers.
    for delay in RetrySchedules::new(checked.retry.clone()).tier_delays() {
        specs.push(spec(&topics::retry_tier(delay.as_secs()), Some(checked.topic_retention.max(delay * 2))));
    }
    specs
}

/// Empties the views so that they can be rebuilt from the log.
pub async fn clear_views(settings: &Settings) -> anyhow::Result<()> {
    match scylla_settings(settings)? {
        Some(scylla) => Ok(hookline_views_scylla::truncate(&scylla).await.context("emptying the view tables")?),
        None => remove_views_file(&settings.data_dir),
    }
}

fn remove_views_file(data_dir: &Path) -> anyhow::Result<()> {
    let path = data_dir.join(VIEWS_FILE);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
    }
}
