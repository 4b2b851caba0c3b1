//! Watches a long run while it goes: hookline's resident memory every second, and every
//! 10 seconds a [`Row`] of what the generator, hookline and the receiver did in the window.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use hookline_testkit::bench::Histogram;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use crate::open_loop::{Counts, OpenLoop};
use crate::proc_stats;
use crate::rows::{self, Row, WINDOW};
use crate::stack::Stack;

/// A last window shorter than this is added to the one before.
const SLIVER: Duration = Duration::from_secs(2);

/// What the sampler saw over the run.
pub struct Sampled {
    pub rows: Vec<Row>,
    /// Every RSS sample: (seconds since the load started, MB).
    pub rss_mb: Vec<(f64, f64)>,
    /// Every 202's latency (µs from due), over the whole run.
    pub ack_us: Histogram,
}

/// Where a window started.
struct WindowStart {
    at: Duration,
    counts: Counts,
    delivered: u64,
    hookline_cpu_seconds: f64,
}

/// Samples until `stop`, then closes the last (shorter) window. `after_row` is called with
/// the rows so far each time one is added (a step run decides there whether to go on).
pub async fn sample(
    stack: &Stack,
    load: &OpenLoop,
    stop: CancellationToken,
    mut after_row: impl FnMut(&[Row]),
) -> anyhow::Result<Sampled> {
    let hookline = stack.hookline.pid();
    let mut sampled = Sampled { rows: Vec::new(), rss_mb: Vec::new(), ack_us: Histogram::default() };
    let mut start = WindowStart {
        at: load.elapsed(),
        counts: load.counts(),
        delivered: stack.receiver_window().await?.totals.distinct_ids,
        hookline_cpu_seconds: proc_stats::cpu_seconds(hookline)?,
    };
    let mut window_rss: Vec<f64> = Vec::new();
    // Ticks on whole seconds of the load's clock, so that rows end on whole 10 seconds of it.
    let second = Duration::from_secs(1);
    let mut every_second = tokio::time::interval_at(load.started() + second, second);
    every_second.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let stopped = tokio::select! {
            _ = every_second.tick() => false,
            _ = stop.cancelled() => true,
        };
        let now = load.elapsed();
        let rss = proc_stats::sample(hookline)?.rss_mb;
        sampled.rss_mb.push((now.as_secs_f64(), rss));
        window_rss.push(rss);
        let window_end = WINDOW * (sampled.rows.len() as u32 + 1);
        if stopped || now >= window_end {
            let (row, next) = close_window(stack, load, &start, &window_rss, &mut sampled.ack_us).await?;
            match sampled.rows.pop() {
                // A last sliver of a window would make per-second figures of a few requests.
                Some(previous) if stopped && row.seconds < SLIVER.as_secs_f64() => {
                    sampled.rows.push(rows::merge(&[previous, row]));
                }
                previous => {
                    sampled.rows.extend(previous);
                    sampled.rows.push(row);
                    after_row(&sampled.rows);
                }
            }
            (start, window_rss) = (next, Vec::new());
        }
        if stopped {
            return Ok(sampled);
        }
    }
}

/// The row of the window from `start` to now, and the start of the next one.
async fn close_window(
    stack: &Stack,
    load: &OpenLoop,
    start: &WindowStart,
    rss_samples: &[f64],
    ack_total_us: &mut Histogram,
) -> anyhow::Result<(Row, WindowStart)> {
    let (at, counts) = (load.elapsed(), load.counts());
    let receiver = stack.receiver_window().await?;
    let hookline_cpu_seconds = proc_stats::cpu_seconds(stack.hookline.pid())?;
    let data_dir = stack.data_dir().to_path_buf();
    let disk_bytes = tokio::task::spawn_blocking(move || bytes_under(&data_dir)).await??;
    let acks = load.take_ack_window();
    ack_total_us.merge(&acks);

    let seconds = (at - start.at).as_secs_f64();
    let accepted = counts.accepted - start.counts.accepted;
    let cpu_seconds = hookline_cpu_seconds - start.hookline_cpu_seconds;
    let delivered = receiver.totals.distinct_ids;
    let p99_ms = |samples: u64, p99_us: u64| (samples > 0).then(|| p99_us as f64 / 1000.0);
    let row = Row {
        at_s: at.as_secs_f64(),
        seconds,
        offered: counts.offered - start.counts.offered,
        accepted,
        delivered: delivered.saturating_sub(start.delivered),
        backlog: counts.accepted.saturating_sub(delivered),
        ack_p99_ms: p99_ms(acks.samples(), acks.quantile(0.99)),
        e2e_p99_ms: p99_ms(receiver.window_latency_us.samples, receiver.window_latency_us.p99),
        rss_max_mb: rss_samples.iter().copied().fold(f64::NAN, f64::max),
        rss_last_mb: rss_samples.last().copied().unwrap_or(f64::NAN),
        cpu_cores: if seconds > 0.0 { cpu_seconds / seconds } else { 0.0 },
        cpu_us_per_webhook: (accepted > 0).then(|| cpu_seconds * 1e6 / accepted as f64),
        disk_bytes,
    };
    Ok((row, WindowStart { at, counts, delivered, hookline_cpu_seconds }))
}

/// Bytes of disk the files under `dir` take, walked (symbolic links not followed): the
/// blocks allocated, as `du` counts them, so that the room redb reserves at the end of
/// its file without writing it (a sparse extension) is not counted as used.
fn bytes_under(dir: &Path) -> anyhow::Result<u64> {
    let mut total = 0;
    let mut pending: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            // A segment or view file removed while walking (compaction, retention) is no error.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => return Err(error).with_context(|| format!("reading {}", dir.display())),
        };
        for entry in entries.flatten() {
            match entry.metadata() {
                Ok(meta) if meta.is_dir() => pending.push(entry.path()),
                Ok(meta) => total += meta.blocks() * 512,
                Err(_) => {} // removed meanwhile
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_walk_adds_up_files_at_every_depth() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(dir.path().join("a"), [1u8; 100_000]).expect("a");
        std::fs::create_dir_all(dir.path().join("log/p0")).expect("dirs");
        std::fs::write(dir.path().join("log/p0/segment"), [1u8; 200_000]).expect("segment");
        let written = bytes_under(dir.path()).expect("walked");
        assert!((300_000..=320_000).contains(&written), "{written} bytes for 300,000 written");
        assert_eq!(bytes_under(&dir.path().join("gone")).expect("nothing there"), 0);
    }

    #[test]
    fn room_reserved_but_never_written_is_not_counted() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let file = std::fs::File::create(dir.path().join("views.redb")).expect("file");
        file.set_len(1 << 30).expect("a sparse gigabyte");
        assert!(bytes_under(dir.path()).expect("walked") < 1 << 20);
    }
}
