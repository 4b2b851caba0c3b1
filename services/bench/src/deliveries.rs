//! Waiting for the receiver to hold every accepted webhook, or for deliveries to stop
//! coming, whichever is first: a run with missing deliveries still reports them.

use std::time::Duration;

use hookline_testkit::bench::StatsReport;
use tokio::time::Instant;

use crate::stack::Stack;

/// Longest wait for the last delivery.
const DEADLINE: Duration = Duration::from_secs(300);
/// Deliveries count as stopped after this long without a new one.
const STALL: Duration = Duration::from_secs(30);
const POLL_EVERY: Duration = Duration::from_millis(100);

/// What the receiver holds once every one of `expected` webhooks arrived, or once
/// deliveries stopped or the deadline passed (then some are missing).
pub async fn wait_for(stack: &Stack, expected: u64) -> anyhow::Result<StatsReport> {
    let deadline = Instant::now() + DEADLINE;
    let (mut seen, mut last_progress) = (0, Instant::now());
    loop {
        let stats = stack.receiver_stats().await?;
        if stats.distinct_ids >= expected {
            return Ok(stats);
        }
        if stats.requests > seen {
            (seen, last_progress) = (stats.requests, Instant::now());
        }
        let now = Instant::now();
        if now >= deadline || now >= last_progress + STALL {
            eprintln!("bench: stopped waiting with {} of {expected} webhooks delivered", stats.distinct_ids);
            return Ok(stats);
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}
