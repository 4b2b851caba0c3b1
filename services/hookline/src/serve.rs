//! Running the roles this process was given, until a signal or until one of them fails.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hookline_api::{ApiConfig, ApiDeps, Probes, Readiness, TenantDefaults};
use hookline_delivery::{DeliveryConfig, DeliveryDeps, SystemResolver};
use hookline_fanout::{FanoutConfig, FanoutDeps};
use hookline_ingest::{EventIntake, IngestConsumerConfig, IngestConsumerDeps, IngestCounters, Ingestor};
use hookline_log::EventLog;
use hookline_lookup::SubscriptionDirectory;
use hookline_metrics::{ConsumerBook, ConsumerLag, DataDisk, ObservedLog, ProcessCollector, Registry};
use hookline_operational::{OperationalConfig, OperationalDeps};
use hookline_overview::{BacklogSource, Overview, OverviewConfig, BACKLOG_EVERY};
use hookline_projector::{ProjectorConfig, ProjectorDeps};
use hookline_replay::{ReplayConfig, ReplayDeps};
use hookline_routing::Directory;
use tokio_util::sync::CancellationToken;

use crate::config::{Checked, Role, Settings};
use crate::stores;
use crate::supervise::{supervise, Roles};

/// How often consumer lag is sampled for `/metrics`.
const LAG_SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// How often the data directory is walked for `hookline_data_dir_bytes`.
const DATA_DIR_WALK_EVERY: Duration = Duration::from_secs(30);

pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    let checked = settings.check()?;
    let stores = stores::open(&settings, &checked).await?;
    // Only the roles that read or write secrets hold the key; the projector stores sealed text as it is.
    let holds_secrets = [Role::Api, Role::Delivery, Role::Ingest, Role::Operational];
    if holds_secrets.into_iter().any(|role| settings.runs(role)) {
        stores::check_encryption_key(stores.views.as_ref(), &checked.sealer).await?;
    }
    let observed = Observability::new(stores.log.clone());
    // From here on the roles use the observed log, so their consumers report to /ready and the lag sampler.
    let log = observed.log.clone();
    let directory = Arc::new(
        SubscriptionDirectory::new(stores.views.clone(), settings.cache_capacity, checked.cache_expiry)
            .with_sealer(checked.sealer.clone()),
    );
    observed.registry.register(directory.cache_stats());
    let ingestor = Arc::new(
        Ingestor::new(log.clone(), directory.clone(), stores.views.clone(), settings.max_body_bytes)
            .with_timestamp_tolerance(checked.access.timestamp_tolerance),
    );

    let routing = Arc::new(Directory::new());
    // One per process, like the ingestor: the ways in for events share its recent keys.
    let intake =
        Arc::new(EventIntake::new(log.clone(), routing.clone(), stores.views.clone(), settings.max_body_bytes));

    let shutdown = CancellationToken::new();
    crate::shutdown::on_signals(shutdown.clone()).context("installing signal handlers")?;
    let mut roles = Roles::new();

    if settings.runs(Role::Api) || settings.runs(Role::Delivery) || settings.runs(Role::Ingest) {
        let (directory, log, token) = (directory.clone(), log.clone(), shutdown.clone());
        roles.spawn(async move { ("subscription follower", directory.follow(log, token).await.map_err(Into::into)) });
    }
    // Tenants, tokens and routes: the api role authenticates and routes events with them,
    // the ingest role routes events, the operational role routes decisions; each answers
    // only once it has read the log so far.
    if settings.runs(Role::Api) || settings.runs(Role::Ingest) || settings.runs(Role::Operational) {
        let caught_up = routing.clone();
        observed.consumers.expect_follower("routing directory", move || caught_up.is_caught_up());
        let (routing, log, token) = (routing.clone(), log.clone(), shutdown.clone());
        roles.spawn(async move { ("routing directory", routing.follow(log, token).await.map_err(Into::into)) });
    }
    if settings.runs(Role::Projector) {
        let deps = ProjectorDeps { log: log.clone(), views: stores.views.clone(), metrics: observed.registry.clone() };
        let config = ProjectorConfig { purge_interval: checked.purge_interval, ..ProjectorConfig::default() };
        observed.consumers.expect(&config.group);
        let token = shutdown.clone();
        roles.spawn(
            async move { ("projector", hookline_projector::run(config, deps, token).await.map_err(Into::into)) },
        );
    }
    if settings.runs(Role::Delivery) {
        let config = DeliveryConfig {
            retry: checked.retry.clone(),
            retry_jitter: checked.retry_jitter,
            target_policy: checked.target_policy.clone(),
            outbound_proxy: checked.outbound_proxy.clone(),
            timeout: checked.delivery_timeout,
            max_timeout: checked.max_timeout,
            connect_timeout: checked.delivery_timeout.min(Duration::from_secs(5)),
            max_in_flight: settings.max_in_flight,
            max_in_flight_per_subscription: settings.max_in_flight_per_subscription,
            event_type_header: settings.webhook_event_type_header.clone(),
            secret_header: settings.webhook_secret_header.clone(),
            shutdown_grace: checked.shutdown_grace,
            disable: checked.disable,
            retention: checked.retention,
            ..DeliveryConfig::default()
        };
        hookline_delivery::groups(&config).iter().for_each(|group| observed.consumers.expect(group));
        let deps = DeliveryDeps {
            log: log.clone(),
            directory: directory.clone(),
            metrics: observed.registry.clone(),
            resolver: Arc::new(SystemResolver),
            views: stores.views.clone(),
        };
        let token = shutdown.clone();
        roles.spawn(async move { ("delivery", hookline_delivery::run(config, deps, token).await.map_err(Into::into)) });
    }
    if settings.runs(Role::Ingest) {
        let config = IngestConsumerConfig::default();
        observed.consumers.expect(&config.group);
        let counters = Arc::new(IngestCounters::new());
        observed.registry.register(counters.clone());
        let deps = IngestConsumerDeps {
            log: log.clone(),
            ingestor: ingestor.clone(),
            intake: intake.clone(),
            counters,
            metrics: observed.registry.clone(),
        };
        let token = shutdown.clone();
        roles.spawn(async move {
            let result = hookline_ingest::run_consumer(config, deps, token).await;
            ("ingest consumer", result.map_err(Into::into))
        });
    }

    if settings.runs(Role::Fanout) {
        let config = FanoutConfig::default();
        observed.consumers.expect(&config.group);
        let deps = FanoutDeps { log: log.clone(), metrics: observed.registry.clone() };
        let token = shutdown.clone();
        roles.spawn(async move { ("fanout", hookline_fanout::run(config, deps, token).await.map_err(Into::into)) });
    }

    if settings.runs(Role::Operational) {
        let config = OperationalConfig {
            operator: checked.operator.clone(),
            summary_window: checked.exhausted_summary_window,
            ..OperationalConfig::default()
        };
        config.groups().into_iter().for_each(|group| observed.consumers.expect(group));
        let deps = OperationalDeps {
            log: log.clone(),
            directory: directory.clone(),
            routing: routing.clone(),
            metrics: observed.registry.clone(),
        };
        let token = shutdown.clone();
        roles.spawn(async move {
            ("operational", hookline_operational::run(config, deps, token).await.map_err(Into::into))
        });
    }
    if settings.runs(Role::Replay) {
        let config = ReplayConfig { retry: checked.retry.clone(), ..ReplayConfig::default() };
        // Not awaited by readiness: its topic has one partition, so of several processes
        // running this role all but one stand by without partitions, and are ready all the same.
        let deps = ReplayDeps { log: log.clone(), views: stores.views.clone(), metrics: observed.registry.clone() };
        let token = shutdown.clone();
        roles.spawn(async move { ("replay", hookline_replay::run(config, deps, token).await.map_err(Into::into)) });
    }

    let (lag, sampled_log, token) = (observed.lag.clone(), log.clone(), shutdown.clone());
    roles.spawn(async move {
        lag.run(sampled_log, LAG_SAMPLE_EVERY, token).await;
        ("consumer lag sampler", Ok(()))
    });
    let disk = DataDisk::new(&settings.data_dir);
    observed.registry.register(disk.clone());
    let token = shutdown.clone();
    roles.spawn(async move {
        disk.run(DATA_DIR_WALK_EVERY, token).await;
        ("data directory walker", Ok(()))
    });
    let probes = observed.probes(stores.views.clone());

    // Every process listens: the api role serves the API, the others only /health, /ready and /metrics.
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
            target_policy: checked.target_policy.clone(),
            retry: checked.retry.clone(),
            secret_rotation_grace: checked.secret_rotation_grace,
            tokens: checked.access.tokens.clone(),
            ingest_requires_token: checked.access.ingest_requires_token,
            rate_limits: checked.access.rate_limits,
            header_limits: checked.access.header_limits,
            max_connections: checked.access.max_connections,
            body_read_timeout: checked.access.body_read_timeout,
            tenant_defaults: TenantDefaults {
                events_per_second: settings.tenant_events_per_second,
                max_subscriptions: settings.tenant_max_subscriptions,
            },
            max_timeout: checked.max_timeout,
            max_in_flight_per_subscription: settings.max_in_flight_per_subscription,
            ..ApiConfig::default()
        };
        crate::access::warn_if_exposed(&checked.access, addr);
        let overview = overview(&checked, routing.clone(), log.clone(), &mut roles, &shutdown);
        let deps = ApiDeps {
            log: log.clone(),
            views: stores.views.clone(),
            directory,
            routing,
            ingestor,
            events: intake,
            probes,
            overview,
        };
        roles.spawn(
            async move { ("api", hookline_api::serve(listener, config, deps, token).await.map_err(Into::into)) },
        );
    } else {
        roles.spawn(async move {
            ("probes", hookline_api::serve_probes(listener, probes, token).await.map_err(Into::into))
        });
    }
    // Tests and scripts wait for this exact line.
    println!("hookline listening on http://{addr}");
    tracing::info!(%addr, roles = ?settings.roles, "hookline serving");

    supervise(roles, shutdown, checked.shutdown_grace).await
}

/// The overview the api role serves, following the log and sampling the delivery
/// role's backlog (wherever that role runs) in tasks of its own.
fn overview(
    checked: &Checked,
    routing: Arc<Directory>,
    log: Arc<dyn EventLog>,
    roles: &mut Roles,
    shutdown: &CancellationToken,
) -> Arc<Overview> {
    let delivery = DeliveryConfig { retry: checked.retry.clone(), ..DeliveryConfig::default() };
    let backlog_sources = hookline_delivery::sources(&delivery)
        .into_iter()
        .map(|(topic, group)| BacklogSource { topic, group })
        .collect();
    let overview = Arc::new(Overview::new(OverviewConfig { backlog_sources, ..OverviewConfig::default() }, routing));
    let (follower, followed, token) = (overview.clone(), log.clone(), shutdown.clone());
    roles.spawn(async move { ("overview follower", follower.follow(followed, token).await.map_err(Into::into)) });
    let (sampler, token) = (overview.clone(), shutdown.clone());
    roles.spawn(async move {
        sampler.sample_backlog(log, BACKLOG_EVERY, token).await;
        ("overview backlog sampler", Ok(()))
    });
    overview
}

/// The metrics registry, and the book every grouped consumer reports to (through the
/// observed log) for consumer lag and readiness.
struct Observability {
    registry: Arc<Registry>,
    consumers: Arc<ConsumerBook>,
    lag: Arc<ConsumerLag>,
    log: Arc<dyn EventLog>,
}

impl Observability {
    fn new(log: Arc<dyn EventLog>) -> Self {
        let registry = Registry::new();
        let consumers = ConsumerBook::new();
        let lag = ConsumerLag::new(consumers.clone());
        registry.register(lag.clone());
        registry.register(Arc::new(ProcessCollector));
        let log = ObservedLog::wrap(log, consumers.clone());
        Self { registry, consumers, lag, log }
    }

    fn probes(&self, views: Arc<dyn hookline_views::ViewStore>) -> Probes {
        let readiness = Readiness::new(self.log.clone(), views, self.consumers.clone());
        Probes { registry: self.registry.clone(), readiness: Arc::new(readiness) }
    }
}

pub async fn migrate(settings: Settings) -> anyhow::Result<()> {
    let checked = settings.check()?;
    stores::migrate(&settings, &checked).await
}

pub async fn rebuild_views(settings: Settings) -> anyhow::Result<()> {
    let checked = settings.check()?;
    stores::clear_views(&settings).await?;
    let stores = stores::open(&settings, &checked).await?;
    let deps = ProjectorDeps { log: stores.log, views: stores.views, metrics: Registry::new() };
    let projected = hookline_projector::rebuild(&ProjectorConfig::default(), &deps).await?;
    println!("rebuilt the views from {projected} log records");
    Ok(())
}
