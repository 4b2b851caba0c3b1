//! `hookline-bench`: starts the release `hookline` binary on the embedded default and the
//! `hookline-receiver`, then measures, and prints:
//! - ingest: requests/s and 202 latency (p50/p95/p99) at a fixed concurrency, as fast
//!   as hookline answers or at a fixed rate (`--rate`);
//! - delivery: deliveries/s and end-to-end latency (ingest request sent → receiver got
//!   it, p50/p95/p99), from the receiver's own clock;
//! - hookline's CPU time and resident memory (idle, and peak);
//! - how the machine's cores were shared meanwhile: the load generator (this process),
//!   hookline, the receiver, and everything else.
//!
//! Figures are printed, never asserted.

mod load;
mod proc_stats;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use clap::Parser;
use hookline_testkit::process::Hookline;
use load::Load;
use proc_stats::CpuSplit;
use serde_json::{json, Value};

#[derive(Parser)]
struct Args {
    /// The hookline binary.
    #[arg(long, default_value = "target/release/hookline")]
    hookline: String,
    /// The receiver binary.
    #[arg(long, default_value = "target/release/hookline-receiver")]
    receiver: String,
    /// Webhooks to send.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Concurrent senders.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Requests started per second, spread over the connections (default: each
    /// connection sends as soon as its last request was answered, i.e. saturation).
    #[arg(long)]
    rate: Option<f64>,
    /// Payload bytes (padding added to a small JSON body).
    #[arg(long, default_value_t = 256)]
    payload_bytes: usize,
    /// Where to write the JSON figures.
    #[arg(long)]
    json_out: Option<String>,
    /// Run on the Kafka log and CQL views named by `KAFKA_BROKERS` and `SCYLLA_NODES`
    /// (in a fresh namespace and keyspace) instead of the embedded default.
    #[arg(long)]
    distributed: bool,
}

/// The environment of the benchmarked process: the embedded default, or a fresh
/// namespace and keyspace on the engines of `KAFKA_BROKERS` and `SCYLLA_NODES`.
fn service_env(args: &Args) -> anyhow::Result<Vec<(String, String)>> {
    let mut env = vec![
        ("RUST_LOG".to_string(), "warn".to_string()),
        // The receiver is on loopback, which hookline refuses as a target unless allowed.
        ("HOOKLINE_TARGET_ALLOWLIST".to_string(), "127.0.0.0/8".to_string()),
    ];
    if !args.distributed {
        env.extend([("KAFKA_BROKERS".into(), String::new()), ("SCYLLA_NODES".into(), String::new())]);
        return Ok(env);
    }
    for name in ["KAFKA_BROKERS", "SCYLLA_NODES"] {
        let value = std::env::var(name).with_context(|| format!("--distributed needs {name}"))?;
        env.push((name.to_string(), value));
    }
    let run = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    env.extend([
        ("HOOKLINE_NAMESPACE".to_string(), format!("bench{run}.")),
        ("SCYLLA_KEYSPACE".to_string(), format!("hookline_bench{run}")),
        ("SCYLLA_CONSISTENCY".to_string(), "one".to_string()),
    ]);
    Ok(env)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn now_us() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_micros()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let data = tempfile::tempdir()?;
    let data_dir = data.path().to_str().context("utf-8 path")?;
    let env = service_env(&args)?;
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    if args.distributed {
        let migrated = tokio::process::Command::new(&args.hookline)
            .args(["migrate", "--data-dir", data_dir])
            .envs(env.iter().copied())
            .output()
            .await?;
        if !migrated.status.success() {
            bail!("hookline migrate failed: {}", String::from_utf8_lossy(&migrated.stderr));
        }
    }
    let receiver = Hookline::start(&args.receiver, &["--listen", "127.0.0.1:0"], &[]).await;
    let hookline =
        Hookline::start(&args.hookline, &["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir], &env).await;
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency).build()?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let idle = proc_stats::sample(hookline.pid())?;

    let created: Value = client
        .post(hookline.url("/api/subscriptions"))
        .json(&json!({"target_url": receiver.url("/bench")}))
        .send()
        .await?
        .json()
        .await?;
    let sub = created["id"].as_str().context("subscription id")?.to_string();
    client.post(receiver.url("/reset")).send().await?;

    let padding = "x".repeat(args.payload_bytes);
    let cpu_at_start = CpuSplit::now(hookline.pid(), receiver.pid())?;
    let started = Instant::now();
    let started_at_us = now_us();
    let sent = load::send(Load {
        addr: hookline.addr(),
        path: format!("/api/ingest/{sub}"),
        requests: args.requests,
        concurrency: args.concurrency,
        padding,
        rate: args.rate,
    })
    .await?;
    let (mut acks, failures) = (sent.latencies_ms, sent.failures);
    let ingest_secs = started.elapsed().as_secs_f64();
    let cpu_after_ingest = CpuSplit::now(hookline.pid(), receiver.pid())?;
    if failures > 0 {
        bail!("{failures} ingest requests failed");
    }
    acks.sort_by(f64::total_cmp);

    // Wait until the receiver has every delivery.
    let deadline = Instant::now() + Duration::from_secs(300);
    let stats = loop {
        let stats: Value = client.get(receiver.url("/stats")).send().await?.json().await?;
        if stats["distinct_ids"].as_u64().unwrap_or(0) >= args.requests as u64 {
            break stats;
        }
        if Instant::now() > deadline {
            bail!("deliveries incomplete after 300 s: {stats}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let cpu_at_end = CpuSplit::now(hookline.pid(), receiver.pid())?;
    // From the first request sent to the last delivery received, on the receiver's clock
    // (same machine), so the polling above adds nothing.
    let last_delivery_us = stats["last_at_us"].as_u64().context("receiver saw no delivery")?;
    let delivery_secs = last_delivery_us.saturating_sub(started_at_us as u64) as f64 / 1e6;
    let peak = proc_stats::sample(hookline.pid())?;

    let figures = json!({
        "mode": if args.distributed { "kafka + cql" } else { "embedded" },
        "requests": args.requests,
        "concurrency": args.concurrency,
        "payload_bytes": args.payload_bytes,
        "ingest_requests_per_s": args.requests as f64 / ingest_secs,
        "ack_ms": {"p50": percentile(&acks, 0.50), "p95": percentile(&acks, 0.95), "p99": percentile(&acks, 0.99)},
        "deliveries_per_s": args.requests as f64 / delivery_secs,
        "end_to_end_ms": {
            "p50": stats["latency_us"]["p50"].as_f64().unwrap_or(f64::NAN) / 1000.0,
            "p95": stats["latency_us"]["p95"].as_f64().unwrap_or(f64::NAN) / 1000.0,
            "p99": stats["latency_us"]["p99"].as_f64().unwrap_or(f64::NAN) / 1000.0,
        },
        "duplicates": stats["duplicates"],
        "hookline_cpu_seconds": peak.cpu_seconds - idle.cpu_seconds,
        "hookline_rss_idle_mb": idle.rss_mb,
        "hookline_rss_peak_mb": peak.peak_rss_mb,
        "hookline_cpu_us_per_webhook": (cpu_at_end.hookline - cpu_at_start.hookline) * 1e6 / args.requests as f64,
        "cpu_during_ingest": cpu_after_ingest.since(&cpu_at_start, ingest_secs),
        "cpu_whole_run": cpu_at_end.since(&cpu_at_start, delivery_secs),
    });
    println!("{}", serde_json::to_string_pretty(&figures)?);
    if let Some(path) = args.json_out {
        std::fs::write(&path, serde_json::to_vec_pretty(&figures)?).with_context(|| format!("writing {path}"))?;
    }
    Ok(())
}
