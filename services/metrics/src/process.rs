//! Process metrics read from `/proc/self` at scrape time: resident memory, CPU time and
//! when the process started (its changes count restarts). Where `/proc` cannot be read
//! (not Linux), the families are simply absent.

use crate::registry::{Collector, FamilySnapshot, Kind};

/// Collects `process_resident_memory_bytes`, `process_cpu_seconds_total` and
/// `process_start_time_seconds`.
#[derive(Debug, Default)]
pub struct ProcessCollector;

impl Collector for ProcessCollector {
    fn collect(&self, out: &mut Vec<FamilySnapshot>) {
        if let Some(bytes) = std::fs::read_to_string("/proc/self/status").ok().as_deref().and_then(resident_bytes) {
            let mut family =
                FamilySnapshot::new("process_resident_memory_bytes", "Resident memory size in bytes.", Kind::Gauge);
            family.push(&[], bytes as f64);
            out.push(family);
        }
        let stat = std::fs::read_to_string("/proc/self/stat").ok();
        if let Some(seconds) = stat.as_deref().and_then(|stat| cpu_seconds(stat, clock_ticks_per_second())) {
            let mut family = FamilySnapshot::new(
                "process_cpu_seconds_total",
                "User and system CPU time spent in seconds.",
                Kind::Counter,
            );
            family.push(&[], seconds);
            out.push(family);
        }
        let boot = std::fs::read_to_string("/proc/stat").ok().as_deref().and_then(boot_time);
        let started =
            stat.as_deref().zip(boot).and_then(|(stat, boot)| start_time(stat, boot, clock_ticks_per_second()));
        if let Some(started) = started {
            let mut family = FamilySnapshot::new(
                "process_start_time_seconds",
                "Start time of the process since the Unix epoch, in seconds.",
                Kind::Gauge,
            );
            family.push(&[], started);
            out.push(family);
        }
    }
}

/// `btime` of `/proc/stat`: when the system booted, in seconds since the Unix epoch.
fn boot_time(stat: &str) -> Option<f64> {
    stat.lines().find_map(|line| line.strip_prefix("btime "))?.trim().parse().ok()
}

/// Boot time plus `starttime` (field 22 of `/proc/self/stat`, ticks after boot).
fn start_time(stat: &str, boot: f64, ticks_per_second: f64) -> Option<f64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let ticks: f64 = after_name.split_whitespace().nth(19)?.parse().ok()?;
    Some(boot + ticks / ticks_per_second)
}

/// `VmRSS` of `/proc/self/status`, in bytes.
fn resident_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// utime + stime of `/proc/self/stat`, in seconds.
fn cpu_seconds(stat: &str, ticks_per_second: f64) -> Option<f64> {
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    // After the name come state (3), ppid (4), … utime is field 14 and stime field 15.
    let utime: f64 = fields.nth(11)?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / ticks_per_second)
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rss_and_cpu() {
        assert_eq!(resident_bytes("Name:\tx\nVmRSS:\t  2048 kB\n"), Some(2048 * 1024));
        let stat = "42 (a (weird) name) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0";
        assert_eq!(cpu_seconds(stat, 100.0), Some(3.0));
        let stat = "42 (a (weird) name) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 12345 0";
        assert_eq!(start_time(stat, 1_000.0, 100.0), Some(1_123.45));
        assert_eq!(boot_time("cpu 1 2\nbtime 1700000000\nprocesses 9\n"), Some(1_700_000_000.0));
    }

    #[test]
    fn reads_this_process() {
        let mut out = Vec::new();
        ProcessCollector.collect(&mut out);
        let names: Vec<&str> = out.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["process_resident_memory_bytes", "process_cpu_seconds_total", "process_start_time_seconds"]);
        assert!(out[0].samples[0].value > 1_000_000.0, "a test process uses more than 1 MB");
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        let started = out[2].samples[0].value;
        assert!(started <= now + 1.0 && started > now - 3600.0, "started {started}, now {now}");
    }
}
