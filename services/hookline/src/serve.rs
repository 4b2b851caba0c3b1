//! Wiring: opens the embedded log and views, creates the topics, and runs every role
//! in one process until a signal, or until one of them fails.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use hookline_api::{ApiConfig, ApiDeps};
use hookline_delivery::{DeliveryConfig, DeliveryDeps};
use hookline_domain::topics;
use hookline_ingest::Ingestor;
use hookline_log::embedded::{EmbeddedLog, EmbeddedOptions};
use hookline_log::{EventLog, TopicSpec};
use hookline_lookup::SubscriptionDirectory;
use hookline_projector::{ProjectorConfig, ProjectorDeps};
use hookline_views::embedded::EmbeddedViews;
use hookline_views::{Retention, ViewStore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::{Checked, Settings};

const VIEWS_FILE: &str = "views.redb";

struct Stores {
    log: Arc<dyn EventLog>,
    views: Arc<dyn ViewStore>,
}

async fn open_stores(settings: &Settings, checked: &Checked) -> anyhow::Result<Stores> {
    let dir = &settings.data_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("creating data directory {}", dir.display()))?;
    let log = EmbeddedLog::open(&dir.join("log"), EmbeddedOptions::default())
        .with_context(|| format!("opening the log in {}", dir.display()))?;
    let views = EmbeddedViews::open(&dir.join(VIEWS_FILE), Retention { ttl: checked.retention })
        .with_context(|| format!("opening the views in {}", dir.display()))?;
    let log: Arc<dyn EventLog> = log;
    log.ensure_topics(&topic_specs(settings, checked)).await.context("creating topics")?;
    Ok(Stores { log, views })
}

/// Every topic hookline uses. Retry tiers keep records at least twice their delay.
fn topic_specs(settings: &Settings, checked: &Checked) -> Vec<TopicSpec> {
    let spec = |name: &str, retention: Option<Duration>| TopicSpec {
        name: name.to_string(),
        partitions: settings.partitions,
        retention,
    };
    let kept = Some(checked.topic_retention);
    let mut specs = vec![
        spec(topics::SUBSCRIPTIONS, None),
        spec(topics::DELIVERIES, kept),
        spec(topics::ATTEMPTS, kept),
        spec(topics::DLQ, kept),
        spec(topics::INGEST, kept),
        spec(topics::INGEST_REJECTED, kept),
    ];
    for delay in checked.retry.tier_delays() {
        let name = topics::retry_tier(delay.as_secs());
        specs.push(spec(&name, Some(checked.topic_retention.max(delay * 2))));
    }
    specs
}

pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let checked = settings.check()?;
    let stores = open_stores(&settings, &checked).await?;
    let directory =
        Arc::new(SubscriptionDirectory::new(stores.views.clone(), settings.cache_capacity, checked.cache_expiry));
    let ingestor = Arc::new(Ingestor::new(stores.log.clone(), directory.clone(), settings.max_body_bytes));

    let shutdown = CancellationToken::new();
    crate::shutdown::on_signals(shutdown.clone()).context("installing signal handlers")?;
    let mut roles: JoinSet<(&'static str, anyhow::Result<()>)> = JoinSet::new();

    {
        let (directory, log, token) = (directory.clone(), stores.log.clone(), shutdown.clone());
        roles.spawn(async move { ("subscription follower", directory.follow(log, token).await.map_err(Into::into)) });
    }
    {
        let deps = ProjectorDeps { log: stores.log.clone(), views: stores.views.clone() };
        let config = ProjectorConfig { purge_interval: checked.purge_interval, ..ProjectorConfig::default() };
        let token = shutdown.clone();
        roles.spawn(
            async move { ("projector", hookline_projector::run(config, deps, token).await.map_err(Into::into)) },
        );
    }
    {
        let config = DeliveryConfig {
            retry: checked.retry.clone(),
            timeout: checked.delivery_timeout,
            connect_timeout: checked.delivery_timeout.min(Duration::from_secs(5)),
            max_in_flight: settings.max_in_flight,
            max_in_flight_per_subscription: settings.max_in_flight_per_subscription,
            event_type_header: settings.webhook_event_type_header.clone(),
            shutdown_grace: checked.shutdown_grace,
            ..DeliveryConfig::default()
        };
        let deps = DeliveryDeps { log: stores.log.clone(), directory: directory.clone() };
        let token = shutdown.clone();
        roles.spawn(async move { ("delivery", hookline_delivery::run(config, deps, token).await.map_err(Into::into)) });
    }
    {
        let listener = tokio::net::TcpListener::bind(settings.listen)
            .await
            .with_context(|| format!("listening on {}", settings.listen))?;
        let addr = listener.local_addr()?;
        let config = ApiConfig {
            secret_header: settings.webhook_secret_header.clone(),
            event_type_header: settings.webhook_event_type_header.clone(),
            max_body_bytes: settings.max_body_bytes,
            ..ApiConfig::default()
        };
        let deps = ApiDeps { log: stores.log.clone(), views: stores.views.clone(), directory, ingestor };
        let token = shutdown.clone();
        roles.spawn(
            async move { ("api", hookline_api::serve(listener, config, deps, token).await.map_err(Into::into)) },
        );
        // Tests and scripts wait for this exact line.
        println!("hookline listening on http://{addr}");
        tracing::info!(%addr, data_dir = %settings.data_dir.display(), "hookline serving");
    }

    let mut failure = None;
    while let Some(joined) = roles.join_next().await {
        let (role, result) = joined.map_err(|e| anyhow!("a role panicked: {e}"))?;
        match result {
            Ok(()) if shutdown.is_cancelled() => tracing::info!(role, "stopped"),
            Ok(()) => {
                failure.get_or_insert_with(|| anyhow!("{role} stopped unexpectedly"));
                shutdown.cancel();
            }
            Err(e) => {
                tracing::error!(role, error = %format!("{e:#}"), "role failed; shutting down");
                failure.get_or_insert(e.context(format!("{role} failed")));
                shutdown.cancel();
            }
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

pub async fn rebuild_views(settings: Settings) -> anyhow::Result<()> {
    let checked = settings.check()?;
    remove_views(&settings.data_dir)?;
    let stores = open_stores(&settings, &checked).await?;
    let deps = ProjectorDeps { log: stores.log, views: stores.views };
    let projected = hookline_projector::rebuild(&ProjectorConfig::default(), &deps).await?;
    println!("rebuilt the views from {projected} log records");
    Ok(())
}

fn remove_views(data_dir: &Path) -> anyhow::Result<()> {
    let path = data_dir.join(VIEWS_FILE);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", path.display())),
    }
}
