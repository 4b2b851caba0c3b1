//! `hookline-bench`: starts the release `hookline` binary (every role in one process) and
//! the `hookline-receiver`, sends webhooks, waits until the receiver has them, and writes
//! a report (`docs/bench/<mode>.md` and `.json`) of:
//! - the machine, toolchain and commit, and the scenario;
//! - ingest: requests/s and 202 latency (p50/p95/p99) over HTTP, as fast as hookline
//!   answers or at a fixed rate (`--rate`); or, with `--fan-in-kafka`, records/s produced
//!   straight into `hookline.ingest` by `--producers` Kafka producers, and the latency of
//!   each produce call;
//! - delivery: deliveries/s and end-to-end latency (webhook sent → receiver got it,
//!   p50/p95/p99, from the stamp in the body), missing and duplicate deliveries;
//! - hookline's CPU time and resident memory (idle, and peak);
//! - how the machine's cores were shared meanwhile: the load generator (this process),
//!   hookline, the receiver, and everything else.
//!
//! Figures are printed and written, never asserted.

mod deliveries;
mod fan_in;
mod figures;
mod load;
mod machine;
mod pace;
mod proc_stats;
mod report;
mod scenario;
mod stack;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use fan_in::{Plan, Producers, Target};
use figures::{Figures, Percentiles};
use load::Load;
use proc_stats::CpuSplit;
use report::Report;
use scenario::{Mode, Scenario};
use stack::{Engines, Stack};

#[derive(Parser)]
struct Args {
    /// The hookline binary.
    #[arg(long, default_value = "target/release/hookline")]
    hookline: String,
    /// The receiver binary.
    #[arg(long, default_value = "target/release/hookline-receiver")]
    receiver: String,
    /// Webhooks to send.
    #[arg(long, default_value_t = 20_000, value_parser = positive)]
    requests: usize,
    /// Concurrent HTTP connections.
    #[arg(long, default_value_t = 64, value_parser = positive)]
    concurrency: usize,
    /// Webhooks started per second, spread over the senders (default: each sender sends
    /// as soon as its last request or produce call was answered, i.e. saturation).
    #[arg(long, value_parser = positive_rate)]
    rate: Option<f64>,
    /// Payload bytes (padding added to a small JSON body).
    #[arg(long, default_value_t = 256)]
    payload_bytes: usize,
    /// Run on the Kafka log and CQL views named by `KAFKA_BROKERS` and `SCYLLA_NODES`
    /// (in a fresh namespace and keyspace) instead of the embedded default.
    #[arg(long, conflicts_with = "fan_in_kafka")]
    distributed: bool,
    /// Produce the webhooks straight into Kafka (`hookline.ingest`) instead of POSTing
    /// them: hookline on the Kafka log of `KAFKA_BROKERS` (fresh namespace), views on
    /// `SCYLLA_NODES` if set (fresh keyspace), else embedded.
    #[arg(long)]
    fan_in_kafka: bool,
    /// Fan-in: concurrent producer tasks.
    #[arg(long, default_value_t = 8, value_parser = positive)]
    producers: usize,
    /// Fan-in: records per produce call (each waits until all are acknowledged).
    #[arg(long, default_value_t = 100, value_parser = positive)]
    batch: usize,
    /// Fan-in: subscriptions the webhooks are spread over, round-robin.
    #[arg(long, default_value_t = 8, value_parser = positive)]
    subscriptions: usize,
    /// Fan-in: give every subscription a secret and sign every record with it.
    #[arg(long)]
    signed: bool,
    /// Where the report goes (`<mode>.md` and `<mode>.json`).
    #[arg(long, default_value = "docs/bench")]
    report_dir: PathBuf,
}

fn positive(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{text:?} is not a whole number above 0")),
    }
}

fn positive_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!("{text:?} is not a rate above 0")),
    }
}

impl Args {
    fn mode(&self) -> Mode {
        match (self.distributed, self.fan_in_kafka) {
            (true, _) => Mode::Distributed,
            (_, true) => Mode::KafkaFanIn,
            _ => Mode::Embedded,
        }
    }
}

/// The latencies sending measured: of each 202 (HTTP), or of each produce call (Kafka).
enum Sent {
    Http(Vec<f64>),
    Kafka(Vec<f64>),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mode = args.mode();
    let machine = machine::describe();
    let engines = Engines::for_mode(mode)?;
    let stack = Stack::start(&args.hookline, &args.receiver, &engines).await?;
    let (hookline, receiver) = (stack.hookline.pid(), stack.receiver.pid());
    // Let start-up work settle before calling the process idle.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = proc_stats::sample(hookline)?;

    let fan_in = mode == Mode::KafkaFanIn;
    let targets = create_targets(&stack, if fan_in { args.subscriptions } else { 1 }, fan_in && args.signed).await?;
    let producers = match (&engines.kafka, &stack.namespace) {
        (Some(brokers), Some(namespace)) if fan_in => Some(Producers::connect(brokers, namespace).await?),
        _ => None,
    };
    stack.reset_receiver().await?;

    let cpu_at_start = CpuSplit::now(hookline, receiver)?;
    let started = Instant::now();
    let started_at_us = pace::now_us();
    let sent = send(&args, &stack, targets, producers.as_ref()).await?;
    let send_secs = started.elapsed().as_secs_f64();
    let cpu_after_send = CpuSplit::now(hookline, receiver)?;

    let stats = deliveries::wait_for(&stack, args.requests as u64).await?;
    let cpu_at_end = CpuSplit::now(hookline, receiver)?;
    let peak = proc_stats::sample(hookline)?;
    let rejected = match &producers {
        Some(producers) => Some(producers.rejected().await?),
        None => None,
    };
    // From the first webhook sent to the last delivery received, on the receiver's clock
    // (same machine), so the polling above adds nothing.
    let last_delivery_us = stats.last_at_us.context("the receiver saw no delivery")?;
    let delivery_secs = last_delivery_us.saturating_sub(started_at_us) as f64 / 1e6;
    let webhooks = args.requests as f64;
    let (acks, produce_calls) = match sent {
        Sent::Http(acks_ms) => (Some(Percentiles::of(acks_ms)), None),
        Sent::Kafka(calls_ms) => (None, Some(Percentiles::of(calls_ms))),
    };
    let figures = Figures {
        ingest_requests_per_s: acks.map(|_| webhooks / send_secs),
        ack_ms: acks,
        produced_per_s: produce_calls.map(|_| webhooks / send_secs),
        produce_batch_ack_ms: produce_calls,
        rejected,
        delivered: stats.distinct_ids,
        missing: (args.requests as u64).saturating_sub(stats.distinct_ids),
        duplicates: stats.duplicates,
        deliveries_per_s: stats.distinct_ids as f64 / delivery_secs,
        end_to_end_ms: Percentiles::from_receiver(&stats.latency_us),
        hookline_cpu_seconds: peak.cpu_seconds - idle.cpu_seconds,
        hookline_cpu_us_per_webhook: (cpu_at_end.hookline - cpu_at_start.hookline) * 1e6 / webhooks,
        hookline_rss_idle_mb: idle.rss_mb,
        hookline_rss_peak_mb: peak.peak_rss_mb,
        cpu_while_sending: cpu_after_send.since(&cpu_at_start, send_secs),
        cpu_whole_run: cpu_at_end.since(&cpu_at_start, delivery_secs),
    };
    let report = Report { machine, scenario: scenario(&args, mode, &engines), figures };
    println!("{}", serde_json::to_string_pretty(&report)?);
    for path in report.write(&args.report_dir, mode.report_name())? {
        eprintln!("bench: wrote {}", path.display());
    }
    Ok(())
}

/// Sends every webhook: produced by `producers` when given, else POSTed to the first target.
async fn send(args: &Args, stack: &Stack, targets: Vec<Target>, producers: Option<&Producers>) -> anyhow::Result<Sent> {
    let padding = "x".repeat(args.payload_bytes);
    if let Some(producers) = producers {
        let plan = Plan {
            targets,
            webhooks: args.requests,
            producers: args.producers,
            batch: args.batch,
            padding,
            rate: args.rate,
        };
        return Ok(Sent::Kafka(producers.produce(plan).await?));
    }
    let load = Load {
        addr: stack.hookline.addr(),
        path: format!("/api/ingest/{}", targets[0].id),
        requests: args.requests,
        concurrency: args.concurrency,
        padding,
        rate: args.rate,
    };
    let sent = load::send(load).await?;
    if sent.failures > 0 {
        bail!("{} ingest requests failed", sent.failures);
    }
    Ok(Sent::Http(sent.latencies_ms))
}

/// `count` subscriptions delivering to the receiver, each with its own secret if `signed`.
async fn create_targets(stack: &Stack, count: usize, signed: bool) -> anyhow::Result<Vec<Target>> {
    let mut targets = Vec::with_capacity(count);
    for n in 0..count {
        let secret = signed.then(|| format!("bench-secret-{n}"));
        targets.push(Target { id: stack.create_subscription(secret.as_deref()).await?, secret });
    }
    Ok(targets)
}

fn scenario(args: &Args, mode: Mode, engines: &Engines) -> Scenario {
    let fan_in = mode == Mode::KafkaFanIn;
    Scenario {
        mode: mode.report_name(),
        engines: engines.describe(),
        ingest: if fan_in {
            "records produced straight into hookline.ingest"
        } else {
            "HTTP POST /api/ingest/{id}, keep-alive"
        },
        webhooks: args.requests,
        senders: if fan_in { args.producers } else { args.concurrency },
        batch: fan_in.then_some(args.batch),
        subscriptions: if fan_in { args.subscriptions } else { 1 },
        rate: args.rate,
        payload_bytes: args.payload_bytes,
        signed: fan_in && args.signed,
        command: std::iter::once("hookline-bench".to_string())
            .chain(std::env::args().skip(1))
            .collect::<Vec<_>>()
            .join(" "),
    }
}
