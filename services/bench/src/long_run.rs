//! A long run: webhooks on an open-loop schedule (a fixed rate, or rising steps) for minutes
//! or hours, sampled into 10-second rows while it goes, then the (bounded) wait for every
//! accepted webhook to be delivered, then hookline's memory once it has been idle a while.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context;
use hookline_testkit::bench::LatencyReport;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::args::{Args, LongKind};
use crate::figures::{Figures, Percentiles};
use crate::open_loop::{Counts, OpenLoop, Plan};
use crate::proc_stats::{self, CpuSplit};
use crate::route::Route;
use crate::rows::{Row, WINDOW};
use crate::schedule::Schedule;
use crate::stack::Stack;
use crate::step::{self, Verdict};
use crate::{deliveries, sampler};

/// How long after the schedule's end requests still unsent (hookline too slow to take them)
/// may go out; the rest are abandoned and reported as unsent.
const SEND_GRACE: Duration = Duration::from_secs(30);
/// RSS early in the run and at its end are the highest samples of this long a stretch (or
/// of a quarter of a shorter run, so that the two never overlap).
const RSS_STRETCH_SECONDS: f64 = 120.0;

/// What a long run adds to the report's figures.
#[derive(Clone, Debug, Serialize)]
pub struct LongRun {
    /// Requests the schedule started, written to a connection, answered 202, answered
    /// otherwise (or lost with a connection), and never sent (abandoned after the grace).
    pub offered: u64,
    pub sent: u64,
    pub accepted: u64,
    pub failed: u64,
    pub unsent: u64,
    /// From the first request due to the last answered (or abandoned).
    pub load_seconds: f64,
    pub rss: RssOverTime,
    /// One per 10-second window, from the start of the load to the last delivery.
    pub rows: Vec<Row>,
    /// Step runs: the verdict of every step judged, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Verdict>,
    /// Step runs: the highest rate held (see `step.rs`); `None` when not even the first was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub highest_rate_held: Option<f64>,
}

/// hookline's resident memory over the run, from the 1-second samples.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RssOverTime {
    /// The highest sample of the first `stretch_seconds` of load, and of the last.
    pub early_mb: f64,
    pub late_mb: f64,
    /// Two minutes, or a quarter of a run shorter than eight.
    pub stretch_seconds: f64,
    /// From early to late, in per cent.
    pub growth_percent: f64,
    /// Once every webhook was delivered and hookline had been idle `idle_seconds`.
    pub after_idle_mb: f64,
    pub idle_seconds: u64,
}

/// Runs the load of `kind` (a fixed rate or steps) against a fresh subscription.
pub async fn run(args: &Args, kind: LongKind, stack: &Stack) -> anyhow::Result<(Figures, LongRun)> {
    let hookline = stack.hookline.pid();
    let schedule = schedule(kind);
    anyhow::ensure!(
        schedule.requests() > 0,
        "no step fits: --start-rate is above --max-rate, or --duration is shorter than --step-seconds"
    );
    let route = Route::prepare(args, stack).await?;
    let fan_out = route.fan_out;
    stack.reset_receiver().await?;
    let idle = proc_stats::sample(hookline)?;
    let cpu_at_start = CpuSplit::now(hookline, stack.receiver.pid())?;
    let load = OpenLoop::new(Plan {
        addr: stack.hookline.addr(),
        route,
        connections: args.concurrency,
        payload_bytes: args.payload_bytes,
        schedule,
    });
    let verdicts = Arc::new(Mutex::new(Vec::new()));
    let after_row = after_each_row(kind, &load, verdicts.clone());
    let stop_sampling = CancellationToken::new();
    let sending = async {
        // However this ends, the sampler closes its last row and returns.
        let _stop_sampling = stop_sampling.clone().drop_guard();
        let give_up_at = load.started() + load.schedule().end() + SEND_GRACE;
        if let Ok(sent) = tokio::time::timeout_at(give_up_at, load.clone().run()).await {
            sent?;
        } else {
            eprintln!("bench: gave up sending {SEND_GRACE:?} after the schedule's end");
        }
        let (load_seconds, counts) = (load.elapsed().as_secs_f64(), load.counts());
        let cpu_after_send = CpuSplit::now(hookline, stack.receiver.pid())?;
        let stats = deliveries::wait_for(stack, counts.accepted * fan_out).await?;
        Ok::<_, anyhow::Error>((load_seconds, counts, cpu_after_send, stats))
    };
    let sampling = sampler::sample(stack, &load, stop_sampling.clone(), after_row);
    let ((load_seconds, counts, cpu_after_send, stats), sampled) = tokio::try_join!(sending, sampling)?;
    let cpu_at_end = CpuSplit::now(hookline, stack.receiver.pid())?;
    let peak = proc_stats::sample(hookline)?;
    tokio::time::sleep(Duration::from_secs(args.idle_seconds)).await;
    let after_idle_mb = proc_stats::sample(hookline)?.rss_mb;

    let last_delivery_us = stats.last_at_us.context("the receiver saw no delivery")?;
    let delivery_secs = (last_delivery_us.saturating_sub(load.started_at_us()) as f64 / 1e6).max(1e-3);
    let Counts { offered, sent, accepted, failed } = counts;
    let figures = Figures {
        ingest_requests_per_s: Some(accepted as f64 / load_seconds),
        ack_ms: Some(Percentiles::from_us(&LatencyReport::of(&sampled.ack_us))),
        produced_per_s: None,
        produce_batch_ack_ms: None,
        rejected: None,
        delivered: stats.distinct_ids,
        missing: (accepted * fan_out).saturating_sub(stats.distinct_ids),
        duplicates: stats.duplicates,
        deliveries_per_s: stats.distinct_ids as f64 / delivery_secs,
        end_to_end_ms: Percentiles::from_us(&stats.latency_us),
        hookline_cpu_seconds: peak.cpu_seconds - idle.cpu_seconds,
        hookline_cpu_us_per_webhook: (cpu_at_end.hookline - cpu_at_start.hookline) * 1e6 / accepted.max(1) as f64,
        hookline_rss_idle_mb: idle.rss_mb,
        hookline_rss_peak_mb: peak.peak_rss_mb,
        cpu_while_sending: cpu_after_send.since(&cpu_at_start, load_seconds),
        cpu_whole_run: cpu_at_end.since(&cpu_at_start, delivery_secs),
    };
    let steps = std::mem::take(&mut *verdicts.lock().unwrap_or_else(PoisonError::into_inner));
    let long_run = LongRun {
        offered,
        sent,
        accepted,
        failed,
        unsent: offered.saturating_sub(sent),
        load_seconds,
        rss: rss_over_time(&sampled.rss_mb, load_seconds, after_idle_mb, args.idle_seconds),
        rows: sampled.rows,
        highest_rate_held: step::highest_held(&steps),
        steps,
    };
    Ok((figures, long_run))
}

pub fn schedule(kind: LongKind) -> Schedule {
    match kind {
        LongKind::Fixed { rate, seconds } => Schedule::fixed(rate, seconds),
        LongKind::Step { start_rate, step_rate, step_seconds, max_rate, seconds } => {
            Schedule::steps(start_rate, step_rate, step_seconds, max_rate, seconds)
        }
    }
}

/// What to do after each row: print it, and in a step run judge each step once its rows are
/// in, print the verdict, and end the load after the first step not held.
fn after_each_row(kind: LongKind, load: &Arc<OpenLoop>, verdicts: Arc<Mutex<Vec<Verdict>>>) -> impl FnMut(&[Row]) {
    let rows_per_step = match kind {
        LongKind::Step { step_seconds, .. } => (step_seconds / WINDOW.as_secs()) as usize,
        LongKind::Fixed { .. } => 0,
    };
    let load = load.clone();
    move |rows: &[Row]| {
        if let Some(last) = rows.last() {
            eprintln!("bench: {last}");
        }
        let mut verdicts = verdicts.lock().unwrap_or_else(PoisonError::into_inner);
        let step = verdicts.len();
        let judged_all = verdicts.last().is_some_and(|last| !last.held) || step >= load.schedule().phases().len();
        if rows_per_step == 0 || judged_all || rows.len() < (step + 1) * rows_per_step {
            return;
        }
        let verdict = step::judge(load.schedule().phases()[step].rate, &rows[step * rows_per_step..][..rows_per_step]);
        let outcome = if verdict.held { "held".to_string() } else { format!("not held: {}", verdict.why_not) };
        eprintln!("bench: step {} at {:.0}/s {outcome}", step + 1, verdict.rate);
        if !verdict.held {
            load.end_after_phase(step);
        }
        verdicts.push(verdict);
    }
}

/// RSS early and late in the load (the highest sample of each stretch) and its growth.
fn rss_over_time(samples: &[(f64, f64)], load_seconds: f64, after_idle_mb: f64, idle_seconds: u64) -> RssOverTime {
    let highest = |from: f64, to: f64| {
        samples.iter().filter(|(at, _)| (from..=to).contains(at)).map(|(_, mb)| *mb).fold(f64::NAN, f64::max)
    };
    let stretch_seconds = RSS_STRETCH_SECONDS.min(load_seconds / 4.0);
    let early_mb = highest(0.0, stretch_seconds);
    let late_mb = highest(load_seconds - stretch_seconds, load_seconds);
    RssOverTime {
        early_mb,
        late_mb,
        stretch_seconds,
        growth_percent: (late_mb - early_mb) / early_mb * 100.0,
        after_idle_mb,
        idle_seconds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_growth_compares_the_highest_of_the_first_and_last_two_minutes() {
        // 10 minutes of samples, rising 0.1 MB a second from 40 MB, one spike early.
        let mut samples: Vec<(f64, f64)> = (0..=600).map(|s| (s as f64, 40.0 + s as f64 / 10.0)).collect();
        samples[30].1 = 70.0;
        samples.push((630.0, 200.0)); // after the load: not counted
        let rss = rss_over_time(&samples, 600.0, 55.0, 30);
        assert_eq!((rss.early_mb, rss.late_mb, rss.stretch_seconds), (70.0, 100.0, 120.0));
        assert!((rss.growth_percent - 300.0 / 7.0).abs() < 1e-9, "{}", rss.growth_percent);
        assert_eq!((rss.after_idle_mb, rss.idle_seconds), (55.0, 30));
    }

    #[test]
    fn a_short_run_compares_its_first_and_last_quarters() {
        let samples: Vec<(f64, f64)> = (0..=60).map(|s| (s as f64, 40.0 + s as f64)).collect();
        let rss = rss_over_time(&samples, 60.0, 50.0, 30);
        assert_eq!((rss.early_mb, rss.late_mb, rss.stretch_seconds), (55.0, 100.0, 15.0));
    }
}
