//! `hookline-receiver`: a lean webhook receiver for benchmarks. See `hookline_testkit::bench`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use hookline_testkit::bench::{self, BenchConfig};
use tokio_util::sync::CancellationToken;

/// Answers every POST as fast as it can and counts deliveries; GET /stats, POST /window, POST /reset.
#[derive(Debug, Parser)]
#[command(name = "hookline-receiver", version)]
struct Args {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: SocketAddr,
    /// Delay before answering each delivery, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Share of deliveries answered 500, drawn at random.
    #[arg(long, default_value_t = 0.0, value_parser = parse_share)]
    fail_rate: f64,
    /// Status of the other deliveries.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u16).range(100..=599))]
    status: u16,
}

fn parse_share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(share) if (0.0..=1.0).contains(&share) => Ok(share),
        _ => Err(format!("{text:?} is not a number between 0.0 and 1.0")),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    println!("receiver listening on http://{}", listener.local_addr()?);
    let config =
        BenchConfig { latency: Duration::from_millis(args.latency_ms), fail_rate: args.fail_rate, status: args.status };

    let shutdown = CancellationToken::new();
    let server = tokio::spawn(bench::run(listener, config, shutdown.clone()));
    wait_for_signal().await?;
    shutdown.cancel();
    server.await?;
    Ok(())
}

/// Returns on SIGINT or SIGTERM.
async fn wait_for_signal() -> std::io::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => interrupted,
        _ = terminate.recv() => Ok(()),
    }
}
