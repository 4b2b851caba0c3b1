//! `hookline-bench`: starts the release `hookline` binary (every role in one process) and
//! the `hookline-receiver`, sends webhooks, waits until the receiver has them, and writes
//! a report (`docs/bench/<name>.md` and `.json`, and a chart `.svg` for a long run) of:
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
//! A run is a burst (`--requests`: seconds long, the peak) or a long run (`--duration`: an
//! open-loop fixed `--rate`, or rising steps with `--step`), which adds 10-second rows of
//! throughput, backlog, latency, memory, CPU and disk, and for steps the highest rate held.
//!
//! Figures are printed and written, never asserted.

mod args;
mod burst;
mod chart;
mod deliveries;
mod fan_in;
mod figures;
mod load;
mod long_run;
mod machine;
mod open_loop;
mod pace;
mod payload;
mod proc_stats;
mod report;
mod route;
mod rows;
mod sampler;
mod scenario;
mod schedule;
mod stack;
mod step;

use args::{duration_label, Args, LongKind, RunKind};
use clap::{CommandFactory, Parser};
use report::Report;
use scenario::{Mode, Scenario};
use stack::{Engines, Stack};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let kind = args.kind().unwrap_or_else(|problem| {
        Args::command().error(clap::error::ErrorKind::MissingRequiredArgument, problem).exit()
    });
    let mode = args.mode();
    let machine = machine::describe();
    let engines = Engines::for_mode(mode)?;
    let stack = Stack::start(&args.hookline, &args.receiver, &engines).await?;
    let (figures, long_run) = match kind {
        RunKind::Burst { requests } => (burst::run(&args, requests, &stack, &engines).await?, None),
        RunKind::Long(long) => {
            let (figures, long_run) = long_run::run(&args, long, &stack).await?;
            (figures, Some(long_run))
        }
    };
    let report = Report { machine, scenario: scenario(&args, kind, mode, &engines), figures, long_run };
    println!("{}", serde_json::to_string_pretty(&report.summary()?)?);
    for path in report.write(&args.report_dir, &args.report_name(kind))? {
        eprintln!("bench: wrote {}", path.display());
    }
    if let Some(long_run) = report.long_run.as_ref().filter(|_| matches!(kind, RunKind::Long(LongKind::Step { .. }))) {
        match long_run.highest_rate_held {
            Some(rate) => eprintln!("bench: highest rate held: {rate:.0}/s"),
            None => eprintln!("bench: not even the first step was held"),
        }
    }
    Ok(())
}

fn scenario(args: &Args, kind: RunKind, mode: Mode, engines: &Engines) -> Scenario {
    let fan_in = mode == Mode::KafkaFanIn;
    let (run, webhooks, duration_s) = match kind {
        RunKind::Burst { requests } => (format!("burst of {requests} webhooks"), requests, None),
        RunKind::Long(long) => {
            let planned = long_run::schedule(long).requests() as usize;
            let run = match long {
                LongKind::Fixed { rate, seconds } => {
                    format!("fixed rate, open loop: {rate:.0}/s for {}", duration_label(seconds))
                }
                LongKind::Step { start_rate, step_rate, step_seconds, max_rate, seconds } => format!(
                    "step, open loop: from {start_rate:.0}/s up by {step_rate:.0}/s every {step_seconds} s \
                     while held, at most {max_rate:.0}/s, within {}",
                    duration_label(seconds)
                ),
            };
            let seconds = match long {
                LongKind::Fixed { seconds, .. } | LongKind::Step { seconds, .. } => seconds,
            };
            (run, planned, Some(seconds))
        }
    };
    Scenario {
        mode: mode.report_name(),
        run,
        duration_s,
        engines: engines.describe(),
        ingest: match (fan_in, args.fan_out) {
            (true, _) => "records produced straight into hookline.ingest",
            (false, Some(_)) => "HTTP POST /api/v1/events to the default tenant, keep-alive",
            (false, None) => "HTTP POST /api/ingest/{id}, keep-alive",
        },
        webhooks,
        senders: if fan_in { args.producers } else { args.concurrency },
        batch: fan_in.then_some(args.batch),
        subscriptions: match (fan_in, args.fan_out) {
            (true, _) => args.subscriptions,
            (false, Some(fan_out)) => fan_out + args.bystanders,
            (false, None) => 1,
        },
        fan_out: args.fan_out,
        rate: match kind {
            RunKind::Long(LongKind::Step { .. }) => None,
            _ => args.rate,
        },
        payload_bytes: args.payload_bytes,
        signed: fan_in && args.signed,
        ordering_keys: args.ordering_keys,
        command: hookline_settings()
            .chain(std::iter::once("hookline-bench".to_string()))
            .chain(std::env::args().skip(1))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// The settings hookline inherits from this process's environment (it runs with them),
/// as `NAME=value`, so that the report's command says what hookline ran with; keys and
/// tokens are left out.
fn hookline_settings() -> impl Iterator<Item = String> {
    let secret = |name: &str| name.contains("TOKEN") || name.contains("KEY") || name.contains("SECRET");
    let mut settings: Vec<(String, String)> = std::env::vars()
        .filter(|(name, _)| {
            (name.starts_with("HOOKLINE_") || name == "LOG_RETENTION_HOURS" || name == "MAX_RETRIES") && !secret(name)
        })
        .collect();
    settings.sort();
    settings.into_iter().map(|(name, value)| format!("{name}={value}"))
}
