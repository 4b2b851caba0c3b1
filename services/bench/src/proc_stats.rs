//! CPU time and memory of a process, from /proc.

use anyhow::Context;

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
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).context("reading /proc stat")?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the name; 100 ticks/s on Linux.
    let cpu_seconds = (ticks(11) + ticks(12)) / 100.0;
    Ok(Sample { cpu_seconds, rss_mb: kb("VmRSS:") / 1024.0, peak_rss_mb: kb("VmHWM:") / 1024.0 })
}
