//! Driven with small `sh` scripts standing in for the binary: real processes, real signals.

use std::os::unix::process::ExitStatusExt;

use super::*;

const WAIT: Duration = Duration::from_secs(10);

async fn start_script(script: &str, env: &[(&str, &str)]) -> Hookline {
    Hookline::start("/bin/sh", &["-c", script], env).await
}

async fn log_contains(hookline: &Hookline, text: &str) {
    let path = hookline.log_path().to_owned();
    wait_until(WAIT, &format!("{text:?} in the log"), || {
        let path = path.clone();
        async move { tokio::fs::read_to_string(&path).await.ok().filter(|log| log.contains(text)) }
    })
    .await;
}

#[test]
fn the_address_is_found_in_plain_and_json_lines() {
    let plain = listening_addr("hookline listening on http://127.0.0.1:8080\n");
    assert_eq!(plain, Some("127.0.0.1:8080".parse().unwrap()));
    let json = listening_addr(r#"{"level":"INFO","message":"hookline listening on http://[::1]:5000/","x":1}"#);
    assert_eq!(json, Some("[::1]:5000".parse().unwrap()));
    let receiver = listening_addr("receiver listening on http://127.0.0.1:1");
    assert_eq!(receiver, Some("127.0.0.1:1".parse().unwrap()), "the benchmark receiver is started the same way");
    assert_eq!(listening_addr("hookline listening on http://nowhere"), None);
}

#[tokio::test]
async fn start_waits_for_the_listening_line_and_logs_both_streams() {
    let script = r#"echo "starting $GREETING"; sleep 0.2; echo "hookline listening on http://127.0.0.1:4321"; echo "to stderr" >&2; exec sleep 60"#;
    let mut hookline = start_script(script, &[("GREETING", "hello")]).await;
    assert_eq!(hookline.addr(), "127.0.0.1:4321".parse().unwrap());
    assert_eq!(hookline.url("/api/subscriptions"), "http://127.0.0.1:4321/api/subscriptions");
    assert!(hookline.pid() > 0);
    log_contains(&hookline, "starting hello\n").await;
    log_contains(&hookline, "to stderr\n").await;

    let status = hookline.terminate(WAIT).await;
    assert_eq!(status.signal(), Some(libc::SIGTERM));
    // Terminating again just reports the same end.
    assert_eq!(hookline.terminate(WAIT).await.signal(), Some(libc::SIGTERM));
}

#[tokio::test]
async fn terminate_escalates_to_sigkill_when_sigterm_is_ignored() {
    // An ignored signal stays ignored across exec, so `sleep` shrugs SIGTERM off.
    let script = r#"trap '' TERM; echo "hookline listening on http://127.0.0.1:1"; exec sleep 60"#;
    let mut hookline = start_script(script, &[]).await;
    let status = hookline.terminate(Duration::from_millis(200)).await;
    assert_eq!(status.signal(), Some(libc::SIGKILL));
}

#[tokio::test]
async fn kill9_leaves_no_process_behind() {
    let mut hookline = start_script(r#"echo "hookline listening on http://127.0.0.1:2"; exec sleep 60"#, &[]).await;
    let pid = libc::pid_t::try_from(hookline.pid()).unwrap();
    hookline.kill9();
    // SAFETY: signal 0 only checks whether the pid exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    assert!(!alive, "pid {pid} still exists after kill9");
}

#[tokio::test]
async fn dropping_kills_the_process() {
    let hookline = start_script(r#"echo "hookline listening on http://127.0.0.1:3"; exec sleep 60"#, &[]).await;
    let pid = libc::pid_t::try_from(hookline.pid()).unwrap();
    drop(hookline);
    // SAFETY: signal 0 only checks whether the pid exists; tokio reaps the killed child.
    wait_until(WAIT, "the dropped process to disappear", || async {
        (unsafe { libc::kill(pid, 0) } != 0).then_some(())
    })
    .await;
}

#[tokio::test]
#[should_panic(expected = "exited with exit status: 3 before printing")]
async fn an_early_exit_panics_with_the_status() {
    start_script("echo 'config error: unknown flag --nope' >&2; exit 3", &[]).await;
}

#[tokio::test]
#[should_panic(expected = "config error: unknown flag --nope")]
async fn an_early_exit_panics_with_the_log() {
    start_script("echo 'config error: unknown flag --nope' >&2; exit 3", &[]).await;
}
