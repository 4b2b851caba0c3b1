//! A burst: a fixed number of webhooks, sent as fast as hookline answers or paced per
//! sender, then the wait for every delivery. Seconds long: it shows the peak, not what
//! the service does over minutes (for that, see `long_run.rs`).

use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::args::Args;
use crate::fan_in::{Plan, Producers, Target};
use crate::figures::{Figures, Percentiles};
use crate::load::{self, Load};
use crate::proc_stats::{self, CpuSplit};
use crate::route::Route;
use crate::scenario::Mode;
use crate::stack::{Engines, Stack};
use crate::{deliveries, pace};

/// The latencies sending measured: of each 202 (HTTP), or of each produce call (Kafka).
enum Sent {
    Http(Vec<f64>),
    Kafka(Vec<f64>),
}

/// Sends `requests` webhooks and waits for their deliveries; returns the figures.
pub async fn run(args: &Args, requests: usize, stack: &Stack, engines: &Engines) -> anyhow::Result<Figures> {
    let mode = args.mode();
    let (hookline, receiver) = (stack.hookline.pid(), stack.receiver.pid());
    // Let start-up work settle before calling the process idle.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = proc_stats::sample(hookline)?;

    let producers = match (&engines.kafka, &stack.namespace) {
        (Some(brokers), Some(namespace)) if mode == Mode::KafkaFanIn => {
            let targets = create_targets(stack, args.subscriptions, args.signed).await?;
            Some((Producers::connect(brokers, namespace).await?, targets))
        }
        _ => None,
    };
    let route = match producers {
        Some(_) => None,
        None => Some(Route::prepare(args, stack).await?),
    };
    let expected = requests as u64 * route.as_ref().map_or(1, |route| route.fan_out);
    stack.reset_receiver().await?;

    let cpu_at_start = CpuSplit::now(hookline, receiver)?;
    let started = Instant::now();
    let started_at_us = pace::now_us();
    let sent = send(args, requests, stack, route, producers.as_ref()).await?;
    let send_secs = started.elapsed().as_secs_f64();
    let cpu_after_send = CpuSplit::now(hookline, receiver)?;

    let stats = deliveries::wait_for(stack, expected).await?;
    let cpu_at_end = CpuSplit::now(hookline, receiver)?;
    let peak = proc_stats::sample(hookline)?;
    let rejected = match &producers {
        Some((producers, _)) => Some(producers.rejected().await?),
        None => None,
    };
    // From the first webhook sent to the last delivery received, on the receiver's clock
    // (same machine), so the polling above adds nothing.
    let last_delivery_us = stats.last_at_us.context("the receiver saw no delivery")?;
    let delivery_secs = last_delivery_us.saturating_sub(started_at_us) as f64 / 1e6;
    let webhooks = requests as f64;
    let (acks, produce_calls) = match sent {
        Sent::Http(acks_ms) => (Some(Percentiles::of(acks_ms)), None),
        Sent::Kafka(calls_ms) => (None, Some(Percentiles::of(calls_ms))),
    };
    Ok(Figures {
        ingest_requests_per_s: acks.map(|_| webhooks / send_secs),
        ack_ms: acks,
        produced_per_s: produce_calls.map(|_| webhooks / send_secs),
        produce_batch_ack_ms: produce_calls,
        rejected,
        delivered: stats.distinct_ids,
        missing: expected.saturating_sub(stats.distinct_ids),
        duplicates: stats.duplicates,
        deliveries_per_s: stats.distinct_ids as f64 / delivery_secs,
        end_to_end_ms: Percentiles::from_us(&stats.latency_us),
        hookline_cpu_seconds: peak.cpu_seconds - idle.cpu_seconds,
        hookline_cpu_us_per_webhook: (cpu_at_end.hookline - cpu_at_start.hookline) * 1e6 / webhooks,
        hookline_rss_idle_mb: idle.rss_mb,
        hookline_rss_peak_mb: peak.peak_rss_mb,
        cpu_while_sending: cpu_after_send.since(&cpu_at_start, send_secs),
        cpu_whole_run: cpu_at_end.since(&cpu_at_start, delivery_secs),
    })
}

/// Sends every webhook: produced by `producers` to their targets when given, else POSTed along `route`.
async fn send(
    args: &Args,
    requests: usize,
    stack: &Stack,
    route: Option<Route>,
    producers: Option<&(Producers, Vec<Target>)>,
) -> anyhow::Result<Sent> {
    if let Some((producers, targets)) = producers {
        let plan = Plan {
            targets: targets.clone(),
            webhooks: requests,
            producers: args.producers,
            batch: args.batch,
            payload_bytes: args.payload_bytes,
            rate: args.rate,
        };
        return Ok(Sent::Kafka(producers.produce(plan).await?));
    }
    let load = Load {
        addr: stack.hookline.addr(),
        route: route.context("an HTTP run has a route")?,
        requests,
        concurrency: args.concurrency,
        payload_bytes: args.payload_bytes,
        rate: args.rate,
    };
    let sent = load::send(load).await?;
    if sent.failures > 0 {
        bail!("{} ingest requests failed", sent.failures);
    }
    Ok(Sent::Http(sent.latencies_ms))
}

/// `count` subscriptions delivering to the receiver, each with its own secret if `signed`.
pub async fn create_targets(stack: &Stack, count: usize, signed: bool) -> anyhow::Result<Vec<Target>> {
    let mut targets = Vec::with_capacity(count);
    for n in 0..count {
        let secret = signed.then(|| format!("bench-secret-{n}"));
        targets.push(Target { id: stack.create_subscription("/bench", secret.as_deref(), None, false).await?, secret });
    }
    Ok(targets)
}
