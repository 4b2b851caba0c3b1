//! Running the real `hookline` binary in black-box tests: start it, learn its address from its
//! own output, keep that output in a log file, and stop it gently or brutally.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

pub use crate::wait::wait_until;

/// What a started server prints once it accepts connections (`hookline listening on …`,
/// `receiver listening on …`); the address follows it.
const LISTENING_MARKER: &str = "listening on http://";
/// How long the binary gets to print [`LISTENING_MARKER`].
const START_DEADLINE: Duration = Duration::from_secs(30);
/// Set it to see the binary's output live on the test's stderr.
const ECHO_VAR: &str = "HOOKLINE_TEST_ECHO";

/// A running `hookline` process. Dropping it kills the process (SIGKILL) if it still runs, and
/// when the test is panicking, prints where the log is.
pub struct Hookline {
    child: Child,
    addr: SocketAddr,
    pid: u32,
    log_path: PathBuf,
}

impl Hookline {
    /// Starts `binary` with `args` and extra `env`, and waits (30 s at most) until it prints
    /// `hookline listening on http://<addr>` on stdout. Stdout and stderr are copied to
    /// [`log_path`](Self::log_path), and echoed to stderr when `HOOKLINE_TEST_ECHO` is set.
    ///
    /// # Panics
    /// If the binary cannot be started, exits or closes stdout before that line (with its log),
    /// or does not print it in time.
    pub async fn start(binary: &str, args: &[&str], env: &[(&str, &str)]) -> Hookline {
        let log_path = new_log_path(binary);
        let mut child = Command::new(binary)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        let pid = child.id().expect("a just-spawned child has a pid");
        let echo = std::env::var_os(ECHO_VAR).is_some();
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        let (addr_tx, addr_rx) = oneshot::channel();
        let copy_out =
            tokio::spawn(copy_lines(stdout.expect("piped stdout"), log_path.clone(), pid, echo, Some(addr_tx)));
        let copy_err = tokio::spawn(copy_lines(stderr.expect("piped stderr"), log_path.clone(), pid, echo, None));

        let failure = match tokio::time::timeout(START_DEADLINE, addr_rx).await {
            Ok(Ok(addr)) => return Hookline { child, addr, pid, log_path },
            Ok(Err(_)) => {
                // Stdout ended without the line: give the process a moment to exit and the
                // copiers to write everything, so the log in the message is complete.
                let status = match tokio::time::timeout(Duration::from_secs(5), child.wait()).await {
                    Ok(Ok(status)) => format!("exited with {status}"),
                    _ => "closed its stdout".to_owned(),
                };
                let _ = tokio::time::timeout(Duration::from_secs(5), async { (copy_out.await, copy_err.await) }).await;
                status
            }
            Err(_) => format!("did not say it was listening within {START_DEADLINE:?}"),
        };
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        panic!(
            "{binary} (pid {pid}) {failure} before printing {LISTENING_MARKER:?}; log {}:\n{log}",
            log_path.display()
        );
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://addr{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Where stdout and stderr are copied (kept after the test, for post-mortems).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Kills the process with SIGKILL and reaps it: when this returns the process is gone.
    pub fn kill9(&mut self) {
        // Fails only if the process was already reaped, which is the goal anyway.
        let _ = self.child.start_kill();
        // A synchronous API cannot await the reaper; a SIGKILLed process is a zombie within
        // microseconds, so this loop is short.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while matches!(self.child.try_wait(), Ok(None)) {
            assert!(std::time::Instant::now() < deadline, "pid {} survived SIGKILL for 10 s", self.pid);
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Sends SIGTERM and waits for the exit; sends SIGKILL if `timeout` passes first.
    /// Returns the exit status (already exited processes just report theirs).
    pub async fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        if let Ok(Some(status)) = self.child.try_wait() {
            return status;
        }
        // The child is not reaped yet, so the pid still names it.
        let pid = libc::pid_t::try_from(self.pid).expect("pids fit in pid_t");
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        if let Ok(waited) = tokio::time::timeout(timeout, self.child.wait()).await {
            return waited.unwrap_or_else(|e| panic!("waiting for pid {} failed: {e}", self.pid));
        }
        let _ = self.child.start_kill();
        self.child.wait().await.unwrap_or_else(|e| panic!("waiting for pid {} failed: {e}", self.pid))
    }
}

impl Drop for Hookline {
    fn drop(&mut self) {
        // kill_on_drop sends the SIGKILL; what is left to do is point a failing test at the log.
        if std::thread::panicking() {
            eprintln!("hookline pid {} log: {}", self.pid, self.log_path.display());
        }
    }
}

/// Copies `output` line by line to the log (and stderr when echoing); sends the address on
/// `listening` when the listening line goes by.
async fn copy_lines(
    output: impl AsyncRead + Unpin,
    log_path: PathBuf,
    pid: u32,
    echo: bool,
    mut listening: Option<oneshot::Sender<SocketAddr>>,
) {
    // Both streams append to one file; O_APPEND keeps each line write whole.
    let log = tokio::fs::OpenOptions::new().create(true).append(true).open(&log_path).await;
    let mut log = log.unwrap_or_else(|e| panic!("cannot open log {}: {e}", log_path.display()));
    let mut output = BufReader::new(output);
    let mut line = Vec::new();
    loop {
        line.clear();
        match output.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        // A lost log line must not fail the test that is being debugged with it.
        let _ = log.write_all(&line).await;
        let _ = log.flush().await;
        let text = String::from_utf8_lossy(&line);
        if echo {
            eprint!("[hookline {pid}] {text}");
        }
        if let Some(addr) = listening_addr(&text) {
            if let Some(sender) = listening.take() {
                let _ = sender.send(addr);
            }
        }
    }
}

/// The address in a `hookline listening on http://<addr>` line, plain or inside a JSON log line.
fn listening_addr(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find(LISTENING_MARKER)? + LISTENING_MARKER.len()..];
    let end = rest.find(|c: char| !(c.is_ascii_hexdigit() || matches!(c, '.' | ':' | '[' | ']'))).unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// A fresh log file path under the temp dir, unique across tests and test processes.
fn new_log_path(binary: &str) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join("hookline-testkit");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    let stem = Path::new(binary).file_name().map_or("process".into(), |n| n.to_string_lossy());
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    dir.join(format!("{stem}-{}-{n}-{nanos}.log", std::process::id()))
}

#[cfg(test)]
mod tests;
