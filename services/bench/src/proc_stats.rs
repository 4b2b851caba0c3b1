//! CPU time and memory of a process, from /proc.

use anyhow::Context;
use serde::Serialize;

pub struct Sample {
    pub cpu_seconds: f64,
    pub rss_mb: f64,
    pub peak_rss_mb: f64,
}

pub fn sample(pid: u32) -> anyhow::Result<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("reading /proc status")?;
    let kb = |field: &str| -> f64 {
        status
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    Ok(Sample { cpu_seconds: cpu_seconds(pid)?, rss_mb: kb("VmRSS:") / 1024.0, peak_rss_mb: kb("VmHWM:") / 1024.0 })
}

/// User + system CPU time the process has used so far.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).context("reading /proc stat")?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the name; 100 ticks/s on Linux.
    Ok((ticks(11) + ticks(12)) / 100.0)
}

/// CPU seconds the whole machine has been busy (every core, anything but idle and
/// I/O wait), from the first line of /proc/stat.
fn machine_busy_seconds() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let ticks: Vec<f64> = stat
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("cpu "))
        .context("/proc/stat without a cpu line")?
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...: all but idle and iowait.
    let busy: f64 = ticks.iter().enumerate().filter(|(i, _)| *i != 3 && *i != 4).map(|(_, t)| t).sum();
    Ok(busy / 100.0)
}

/// CPU seconds of the three processes of a run, and of the whole machine, read at one moment.
#[derive(Clone, Copy)]
pub struct CpuSplit {
    pub generator: f64,
    pub hookline: f64,
    pub receiver: f64,
    pub machine: f64,
}

impl CpuSplit {
    /// The load generator is this process.
    pub fn now(hookline: u32, receiver: u32) -> anyhow::Result<CpuSplit> {
        Ok(CpuSplit {
            generator: cpu_seconds(std::process::id())?,
            hookline: cpu_seconds(hookline)?,
            receiver: cpu_seconds(receiver)?,
            machine: machine_busy_seconds()?,
        })
    }

    /// CPU each process used since `earlier`, over `wall_seconds`; `others` is what the
    /// rest of the machine used meanwhile (other builds and tests, brokers, the kernel's
    /// I/O threads), which skews the figures.
    pub fn since(&self, earlier: &CpuSplit, wall_seconds: f64) -> CpuShares {
        let used = |now: f64, then: f64| CpuUse { cpu_seconds: now - then, cores: (now - then) / wall_seconds };
        let others = |split: &CpuSplit| split.machine - split.generator - split.hookline - split.receiver;
        CpuShares {
            wall_seconds,
            generator: used(self.generator, earlier.generator),
            hookline: used(self.hookline, earlier.hookline),
            receiver: used(self.receiver, earlier.receiver),
            others: used(others(self), others(earlier)),
        }
    }
}

/// How the machine's cores were shared over a stretch of a run.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct CpuShares {
    pub wall_seconds: f64,
    /// The load generator: this process.
    pub generator: CpuUse,
    pub hookline: CpuUse,
    pub receiver: CpuUse,
    pub others: CpuUse,
}

/// CPU seconds used, and as a share of the wall time (1.0 = one core busy throughout).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct CpuUse {
    pub cpu_seconds: f64,
    pub cores: f64,
}
