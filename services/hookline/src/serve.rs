//! Running the roles this process was given, until a signal or until one of them fails.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use hookline_api::{ApiConfig, ApiDeps};
use hookline_delivery::{DeliveryConfig, DeliveryDeps};
use hookline_ingest::{IngestConsumerConfig, IngestConsumerDeps, IngestCounters, Ingestor};
use hookline_lookup::SubscriptionDirectory;
use hookline_projector::{ProjectorConfig, ProjectorDeps};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::{Role, Settings};
use crate::stores;

type Roles = JoinSet<(&'static str, anyhow::Result<()>)>;

pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let checked = settings.check()?;
    let stores = stores::open(&settings, &checked).await?;
    let directory =
        Arc::new(SubscriptionDirectory::new(stores.views.clone(), settings.cache_capacity, checked.cache_expiry));
    let ingestor = Arc::new(Ingestor::new(stores.log.clone(), directory.clone(), settings.max_body_bytes));

    let shutdown = CancellationToken::new();
    crate::shutdown::on_signals(shutdown.clone()).context("installing signal handlers")?;
    let mut roles = Roles::new();

    if settings.runs(Role::Api) || settings.runs(Role::Delivery) || settings.runs(Role::Ingest) {
        let (directory, log, token) = (directory.clone(), stores.log.clone(), shutdown.clone());
        roles.spawn(async move { ("subscription follower", directory.follow(log, token).await.map_err(Into::into)) });
    }
    if settings.runs(Role::Projector) {
        let deps = ProjectorDeps { log: stores.log.clone(), views: stores.views.clone() };
        let config = ProjectorConfig { purge_interval: checked.purge_interval, ..ProjectorConfig::default() };
        let token = shutdown.clone();
        roles.spawn(
            async move { ("projector", hookline_projector::run(config, deps, token).await.map_err(Into::into)) },
        );
    }
    if settings.runs(Role::Delivery) {
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
    if settings.runs(Role::Ingest) {
        let deps = IngestConsumerDeps {
            log: stores.log.clone(),
            ingestor: ingestor.clone(),
            counters: Arc::new(IngestCounters::new()),
        };
        let token = shutdown.clone();
        roles.spawn(async move {
            let result = hookline_ingest::run_consumer(IngestConsumerConfig::default(), deps, token).await;
            ("ingest consumer", result.map_err(Into::into))
        });
    }

    // Every process listens: the api role serves the API, the others only /health.
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("listening on {}", settings.listen))?;
    let addr = listener.local_addr()?;
    let token = shutdown.clone();
    if settings.runs(Role::Api) {
        let config = ApiConfig {
            secret_header: settings.webhook_secret_header.clone(),
            event_type_header: settings.webhook_event_type_header.clone(),
            max_body_bytes: settings.max_body_bytes,
            ..ApiConfig::default()
        };
        let deps = ApiDeps { log: stores.log.clone(), views: stores.views.clone(), directory, ingestor };
        roles.spawn(
            async move { ("api", hookline_api::serve(listener, config, deps, token).await.map_err(Into::into)) },
        );
    } else {
        roles.spawn(async move { ("health", hookline_api::serve_health(listener, token).await.map_err(Into::into)) });
    }
    // Tests and scripts wait for this exact line.
    println!("hookline listening on http://{addr}");
    tracing::info!(%addr, roles = ?settings.roles, "hookline serving");

    supervise(roles, shutdown).await
}

/// Waits for every role; the first to fail or stop on its own stops the others.
async fn supervise(mut roles: Roles, shutdown: CancellationToken) -> anyhow::Result<()> {
    let mut failure = None;
    while let Some(joined) = roles.join_next().await {
        let (role, result) = joined.map_err(|e| anyhow!("a role panicked: {e}"))?;
        match result {
            Ok(()) if shutdown.is_cancelled() => tracing::info!(role, "stopped"),
            Ok(()) => {
                tracing::error!(role, "role stopped unexpectedly; shutting down");
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
    failure.map_or(Ok(()), Err)
}

pub async fn migrate(settings: Settings) -> anyhow::Result<()> {
    let checked = settings.check()?;
    stores::migrate(&settings, &checked).await
}

pub async fn rebuild_views(settings: Settings) -> anyhow::Result<()> {
    let checked = settings.check()?;
    stores::remove_views(&settings.data_dir)?;
    let stores = stores::open(&settings, &checked).await?;
    let deps = ProjectorDeps { log: stores.log, views: stores.views };
    let projected = hookline_projector::rebuild(&ProjectorConfig::default(), &deps).await?;
    println!("rebuilt the views from {projected} log records");
    Ok(())
}
