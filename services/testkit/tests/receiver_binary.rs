//! The `hookline-receiver` binary as a benchmark script runs it: flags, the listening line,
//! `/stats`, and a clean exit on SIGTERM.

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Duration;

use hookline_testkit::bench::StatsReport;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BINARY: &str = env!("CARGO_BIN_EXE_hookline-receiver");

/// Starts the binary with `args` and returns it with the base URL it announced.
async fn start(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(BINARY).args(args).stdout(Stdio::piped()).kill_on_drop(true).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line()).await.unwrap().unwrap().unwrap();
    let base = first.strip_prefix("receiver listening on ").unwrap_or_else(|| panic!("unexpected line {first:?}"));
    (child, base.to_owned())
}

#[tokio::test]
async fn serves_deliveries_and_stats_then_exits_cleanly_on_sigterm() {
    let (mut child, base) = start(&["--listen", "127.0.0.1:0", "--status", "204", "--latency-ms", "1"]).await;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    for id in ["a", "b", "a"] {
        let response = client.post(format!("{base}/hook")).header("webhook-id", id).body("{}").send().await.unwrap();
        assert_eq!(response.status(), 204);
    }
    let stats: StatsReport =
        serde_json::from_slice(&client.get(format!("{base}/stats")).send().await.unwrap().bytes().await.unwrap())
            .unwrap();
    assert_eq!((stats.requests, stats.ok, stats.distinct_ids, stats.duplicates), (3, 3, 2, 1));

    let pid = libc::pid_t::try_from(child.id().unwrap()).unwrap();
    // SAFETY: kill(2) has no memory-safety preconditions; the child is not reaped yet.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "exit {status:?} (signal {:?})", status.signal());
}

#[tokio::test]
async fn refuses_a_fail_rate_outside_zero_to_one() {
    let output = Command::new(BINARY).args(["--fail-rate", "1.5"]).output().await.unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a number between 0.0 and 1.0"));
}
