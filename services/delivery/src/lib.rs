//! The delivery role: attempts, tiered retries, dead letters.
//!
//! Consumes `hookline.deliveries` (`TaskAccepted`, first attempts, consumer group
//! `{group}`) and every retry tier topic `hookline.retry.<delay>` (`RetryScheduled`,
//! group `{group}.{tier topic}`), and POSTs each task's raw payload to its
//! subscription's current target URL with Standard Webhooks headers.
//!
//! Produces, per attempt and in one append: an `AttemptRecorded` in
//! `hookline.attempts`, plus either a `RetryScheduled` in the tier of the next attempt
//! or, when no attempt is left (or the subscription is deleted, or the receiver
//! answered 410 Gone), a `TaskDeadLettered` in `hookline.dlq`. Undecodable records are
//! copied to `hookline.dlq` with a `hookline-error` header. A retry due later than its
//! tier's delay (a long `Retry-After`) is put back in a tier for what is left of its
//! wait, so no partition is ever held longer than its tier's delay.
//!
//! A retry by hand (the API's `POST /tasks/{id}/retry`, see `hookline_records::retried_by_hand`) is
//! a `RetryScheduled` of the attempt after the task's last, due at once, in the
//! shortest tier: it is made like any other, even past `MAX_RETRIES`, and a failure
//! of it dead-letters the task again. An attempt a replay queued is such a record too,
//! carrying the replay's mark: it goes to the replay's target URL when it names one
//! (through the same guard, signed with the subscription's secrets; its answers do
//! not count towards disabling the subscription), its `AttemptRecorded` names the
//! replay, and every record that puts it back (a retry, a parked or deferred task)
//! keeps the mark.
//!
//! Safe delivery: webhooks only go to globally reachable addresses (plus the
//! allowlist). Every name is resolved and every address checked on every connection,
//! and the client connects only to the addresses checked; a refused target is a failed
//! attempt with the reason and no connection made. Retry delays are jittered, and a
//! receiver's `Retry-After` on 429/503 is honoured up to `MAX_RETRY_DELAY_SECONDS`.
//!
//! Disabled subscriptions: a 410 Gone disables the subscription at once, and so does
//! a sustained failure (every attempt failed for `HOOKLINE_DISABLE_AFTER_FAILING_SECONDS`
//! and at least `HOOKLINE_DISABLE_AFTER_ATTEMPTS` attempts, no success in between): the
//! role appends a `SubscriptionUpdated` with `enabled: false` and the reason to
//! `hookline.subscriptions`. The failure streaks are kept in memory: a restart resets
//! them, which can only delay a disabling. A task whose subscription is disabled when
//! it is due is not attempted and not counted: it is parked — put back, same attempt
//! number, in the longest retry tier — and comes round again, delivered then if the
//! subscription was re-enabled meanwhile. A task still parked `LOG_RETENTION_HOURS`
//! after it was accepted is ended as `failed` ("subscription disabled past the
//! retention"). Nothing is dropped silently.
//!
//! Each subscription's delivery settings shape its attempts (see `attempt`): extra
//! headers, its own timeout (at most `HOOKLINE_MAX_TIMEOUT_SECONDS`), its retry
//! schedule (every schedule's tiers are consumed, so any it picks is read), a rate
//! limit (requests spaced, see `pace`: a task whose turn is far off is deferred,
//! unattempted, to a tier due at its turn) and its in-flight bound: a fixed
//! `max_in_flight`, or by default adaptive concurrency (see `limiter`, `gates`).
//!
//! Guarantees: at least once — a record's offset is committed only once its outcome
//! and those of every record before it are durable, so a crash repeats attempts and
//! never loses one; receivers de-duplicate on `webhook-id`: the event id for a task
//! that delivers an event sent to a tenant (the same for every subscription it went
//! to), else the task id. A first attempt this process started lately is not made
//! again for another copy of the same task (an event expanded twice), see `started`. Retries are
//! made within ~100 ms of their due time without holding back other partitions.
//! Attempts are bounded per process and per subscription, so a slow or dead receiver
//! only ever holds its own slots. A subscription whose line of attempts is long
//! (`backlog_per_subscription`: half of what a source may hold) and drains too slowly
//! for a task to start within the shortest tier's delay has its next tasks deferred to
//! that tier, unattempted, so its backlog waits in the log, not in memory; a busy line
//! that drains fast keeps its tasks (see `drain`).
//!
//! Ordering per key (see `lines`): on a subscription ordered by key, a keyed task's
//! first attempt waits until the task just before it in its line (same subscription,
//! same ordering key, by place in `hookline.deliveries`) has succeeded or failed for
//! good, as the views say or as this process saw; a task whose turn does not come
//! within twice the longest tier's delay waits in the shortest tier, unattempted. Retries and retries
//! by hand of a task that already had its turn do not wait again.

use std::sync::Arc;
use std::time::Duration;

use hookline_domain::topics as topic_names;
use hookline_log::{ConsumerSpec, EventLog, StartFrom};
use hookline_lookup::SubscriptionDirectory;
use hookline_metrics::Registry;
use hookline_views::ViewStore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

mod attempt;
mod config;
pub mod decode;
mod disable;
mod drain;
mod error;
mod gates;
mod guard;
mod http;
mod lag;
mod limiter;
mod lines;
mod metrics;
mod offsets;
mod outcome;
mod overdue;
mod pace;
mod retry_after;
mod schedule;
mod source;
mod started;

pub use attempt::DISABLED_PAST_RETENTION;
pub use config::{groups, sources, topics, DeliveryConfig, InvalidProxy, OutboundProxy, DEFAULT_MAX_TIMEOUT};
pub use disable::{DisablePolicy, DEFAULT_DISABLE_AFTER_ATTEMPTS, DEFAULT_DISABLE_AFTER_FAILING};
pub use error::DeliveryError;
pub use guard::{HostResolver, Lookup, SystemResolver};
pub use lines::ENDED_REMEMBERED;
pub use outcome::ERROR_HEADER;
pub use started::STARTED_REMEMBERED;

use attempt::Attempter;
use decode::SourceKind;
use disable::Streaks;
use drain::Deferral;
use gates::Gates;
use hookline_quarantine::SetAside;
use http::Sender;
use lag::SchedulingLag;
use lines::Lines;
use metrics::DeliveryMetrics;
use pace::Pacer;
use source::{SourceLoop, SourceSettings};

/// What the delivery role runs on.
pub struct DeliveryDeps {
    pub log: Arc<dyn EventLog>,
    pub directory: Arc<SubscriptionDirectory>,
    /// Where the role's metrics are registered.
    pub metrics: Arc<Registry>,
    /// Resolves target host names; every answer is checked against the target policy.
    pub resolver: Arc<dyn HostResolver>,
    /// Where each keyed task's place in its line is (ordering per key).
    pub views: Arc<dyn ViewStore>,
}

/// Delivers until `shutdown` is cancelled, then stops taking records, lets in-flight
/// attempts finish (up to `shutdown_grace`), puts the tasks still waiting in their
/// lines back in the shortest tier, commits what is done and returns.
/// Returns an error when the settings are invalid or the log fails for good.
pub async fn run(config: DeliveryConfig, deps: DeliveryDeps, shutdown: CancellationToken) -> Result<(), DeliveryError> {
    let problems = config.problems();
    if !problems.is_empty() {
        return Err(DeliveryError::Config(problems));
    }
    let schedules = config.schedules();
    let lag = SchedulingLag::default();
    let gates = Gates::new(
        config.max_in_flight,
        config.max_in_flight_per_subscription,
        deps.directory.in_flight_limits(),
        lag.clone(),
    );
    deps.metrics.register(gates.limits_histogram());
    let attempter = Arc::new(Attempter {
        sender: Sender::new(&config, deps.resolver)?,
        log: deps.log.clone(),
        directory: deps.directory,
        gates,
        retry: config.retry.clone(),
        schedules: schedules.clone(),
        timeout: config.timeout,
        max_timeout: config.max_timeout,
        pacer: std::sync::Mutex::new(Pacer::default()),
        jitter: config.retry_jitter,
        lookup_patience: config.timeout,
        metrics: DeliveryMetrics::new(&deps.metrics),
        streaks: Streaks::new(config.disable),
        retention: config.retention,
        deferral: config
            .retry
            .tier_delays()
            .first()
            .map(|&tier_delay| Deferral { backlog: config.backlog_per_subscription(), tier_delay }),
        set_aside: SetAside::new(deps.log.clone(), &deps.metrics, "delivery"),
        lines: Lines::new(deps.views, config.ordering_patience(), config.max_waiting_in_lines()),
    });

    let settings = |kind, longest_wait| SourceSettings {
        kind,
        longest_wait,
        held_limit: config.held_limit(),
        shutdown_grace: config.shutdown_grace,
        longest_retry_delay: schedules.max_delay(),
    };
    let mut sources = vec![(topic_names::DELIVERIES.to_string(), settings(SourceKind::FirstAttempts, Duration::ZERO))];
    // Every schedule's tiers: a subscription may follow any of them.
    for delay in schedules.tier_delays() {
        sources.push((topic_names::retry_tier(delay.as_secs()), settings(SourceKind::RetryTier, delay)));
    }

    // Every consumer is created before any runs, so a start-up failure leaves nothing behind.
    let mut consumers = Vec::with_capacity(sources.len());
    for (topic, settings) in sources {
        let spec = ConsumerSpec {
            group: Some(config.group_for(&topic)),
            topics: vec![topic.clone()],
            start: StartFrom::Earliest,
        };
        consumers.push((topic, settings, deps.log.consumer(spec).await?));
    }

    // A fatal error in one source stops the others too.
    let stop = shutdown.child_token();
    tokio::spawn(lag.probe(stop.clone()));
    let mut running = JoinSet::new();
    for (topic, settings, consumer) in consumers {
        let source = SourceLoop::new(settings, consumer, deps.log.clone(), attempter.clone(), stop.clone(), &topic);
        running.spawn(async move { (topic, source.run().await) });
    }
    tracing::info!(sources = running.len(), "delivery running");

    let mut first_error = None;
    while let Some(joined) = running.join_next().await {
        let (topic, result) = match joined {
            Ok(done) => done,
            Err(e) => ("?".to_string(), Err(DeliveryError::Worker(e.to_string()))),
        };
        if let Err(e) = result {
            tracing::error!(topic, error = %e, "delivery source failed, stopping");
            stop.cancel();
            first_error.get_or_insert(e);
        }
    }
    tracing::info!("delivery stopped");
    first_error.map_or(Ok(()), Err)
}
