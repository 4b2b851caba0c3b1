//! What a run's figures depend on besides hookline: the machine, its load, the toolchain
//! and the tree that was built. Read from /proc and by asking `rustc` and `git`; a
//! detail that cannot be had reads "unknown" rather than failing the run.

use std::process::Command;

use serde::Serialize;

const UNKNOWN: &str = "unknown";

#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    pub cpu_model: String,
    /// Logical processors.
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
    pub rustc: String,
    /// Short commit of the tree, with `+ uncommitted changes` when the tracked files differ from it.
    pub commit: String,
    /// When the run started, UTC.
    pub date: String,
    /// 1, 5 and 15 minute load averages when the run started: whether others were busy too.
    pub load_average: String,
}

/// Describes this machine now, and the tree in the current directory.
pub fn describe() -> Machine {
    let cpuinfo = read("/proc/cpuinfo");
    Machine {
        cpu_model: cpuinfo
            .lines()
            .find_map(|line| line.strip_prefix("model name")?.split_once(':').map(|(_, model)| model.trim()))
            .unwrap_or(UNKNOWN)
            .to_string(),
        cores: cpuinfo.lines().filter(|line| line.starts_with("processor")).count(),
        memory_gib: read("/proc/meminfo")
            .lines()
            .find_map(|line| line.strip_prefix("MemTotal:")?.trim().strip_suffix("kB")?.trim().parse::<f64>().ok())
            .map_or(f64::NAN, |kib| kib / (1024.0 * 1024.0)),
        kernel: format!("{} {}", read("/proc/sys/kernel/ostype").trim(), read("/proc/sys/kernel/osrelease").trim()),
        rustc: output("rustc", &["--version"]).unwrap_or_else(|| UNKNOWN.to_string()),
        commit: commit().unwrap_or_else(|| UNKNOWN.to_string()),
        date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        load_average: read("/proc/loadavg").split_whitespace().take(3).collect::<Vec<_>>().join(" "),
    }
}

fn commit() -> Option<String> {
    let head = output("git", &["rev-parse", "--short", "HEAD"])?;
    let changes = output("git", &["status", "--porcelain", "--untracked-files=no"])?;
    Some(if changes.is_empty() { head } else { format!("{head} + uncommitted changes") })
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The trimmed stdout of a command that succeeded.
fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}
