//! Watching the roles of a process: the first one to fail, panic or stop on its own
//! starts the same graceful shutdown as SIGTERM; every role then has the grace period
//! to finish its in-flight work and commit, and what is still running after it is
//! stopped. The process exits non-zero when a role failed or had to be stopped.

use std::time::Duration;

use anyhow::anyhow;
use tokio::task::{JoinError, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The roles of a process, each returning its name and how it ended.
pub type Roles = JoinSet<(&'static str, anyhow::Result<()>)>;

/// Time past the grace period for the commits that follow it (a delivery source
/// commits what its attempts finished once they are done or abandoned).
const COMMIT_MARGIN: Duration = Duration::from_secs(5);

/// Waits for every role. Once `shutdown` is cancelled (by a signal, or here when a
/// role ends first), the roles have `grace` (plus a few seconds to commit) to stop.
pub async fn supervise(mut roles: Roles, shutdown: CancellationToken, grace: Duration) -> anyhow::Result<()> {
    let mut failure = None;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            joined = roles.join_next() => match joined {
                Some(joined) => note(joined, &shutdown, &mut failure),
                None => return failure.map_or(Ok(()), Err),
            },
        }
    }
    let deadline = Instant::now() + grace + COMMIT_MARGIN;
    loop {
        match tokio::time::timeout_at(deadline, roles.join_next()).await {
            Ok(Some(joined)) => note(joined, &shutdown, &mut failure),
            Ok(None) => break,
            Err(_) => {
                tracing::error!(
                    roles = roles.len(),
                    ?grace,
                    "roles still running past the shutdown grace, stopping them"
                );
                failure
                    .get_or_insert_with(|| anyhow!("{} role(s) did not stop within the shutdown grace", roles.len()));
                roles.shutdown().await;
                break;
            }
        }
    }
    failure.map_or(Ok(()), Err)
}

/// Notes how a role ended; a role ending before shutdown was asked for starts it.
fn note(
    joined: Result<(&'static str, anyhow::Result<()>), JoinError>,
    shutdown: &CancellationToken,
    failure: &mut Option<anyhow::Error>,
) {
    let asked = shutdown.is_cancelled();
    match joined {
        Ok((role, Ok(()))) if asked => tracing::info!(role, "stopped"),
        Ok((role, Ok(()))) => {
            tracing::error!(role, "role stopped unexpectedly; shutting down");
            failure.get_or_insert_with(|| anyhow!("{role} stopped unexpectedly"));
        }
        Ok((role, Err(e))) => {
            tracing::error!(role, error = %format!("{e:#}"), "role failed; shutting down");
            failure.get_or_insert(e.context(format!("{role} failed")));
        }
        Err(e) => {
            tracing::error!(error = %e, "a role panicked; shutting down");
            failure.get_or_insert_with(|| anyhow!("a role panicked: {e}"));
        }
    }
    shutdown.cancel();
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use super::*;

    /// A role that, once shutdown is asked for, takes `finishing` to finish and commit.
    fn graceful(roles: &mut Roles, shutdown: &CancellationToken, finishing: Duration) -> Arc<AtomicBool> {
        let committed = Arc::new(AtomicBool::new(false));
        let (token, done) = (shutdown.clone(), committed.clone());
        roles.spawn(async move {
            token.cancelled().await;
            tokio::time::sleep(finishing).await;
            done.store(true, Ordering::SeqCst);
            ("graceful", Ok(()))
        });
        committed
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_role_shuts_the_others_down_gracefully_and_fails() {
        let shutdown = CancellationToken::new();
        let mut roles = Roles::new();
        let committed = graceful(&mut roles, &shutdown, Duration::from_secs(2));
        roles.spawn(async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            panic!("boom")
        });
        let ended = supervise(roles, shutdown.clone(), Duration::from_secs(30)).await;
        assert!(shutdown.is_cancelled());
        assert!(committed.load(Ordering::SeqCst), "the other role finished and committed");
        assert!(format!("{:#}", ended.unwrap_err()).contains("panicked"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_role_shuts_the_others_down_and_fails() {
        let shutdown = CancellationToken::new();
        let mut roles = Roles::new();
        let committed = graceful(&mut roles, &shutdown, Duration::from_secs(1));
        roles.spawn(async { ("ingest consumer", Err(anyhow!("log: closed"))) });
        let ended = supervise(roles, shutdown, Duration::from_secs(30)).await;
        assert!(committed.load(Ordering::SeqCst));
        assert_eq!(format!("{:#}", ended.unwrap_err()), "ingest consumer failed: log: closed");
    }

    #[tokio::test(start_paused = true)]
    async fn a_role_that_ignores_shutdown_is_stopped_after_the_grace() {
        let shutdown = CancellationToken::new();
        let mut roles = Roles::new();
        let committed = graceful(&mut roles, &shutdown, Duration::from_secs(1));
        roles.spawn(async {
            std::future::pending::<()>().await;
            ("projector", Ok(()))
        });
        let started = Instant::now();
        shutdown.cancel();
        let ended = supervise(roles, shutdown, Duration::from_secs(10)).await;
        assert_eq!(started.elapsed(), Duration::from_secs(10) + COMMIT_MARGIN, "bounded by the grace");
        assert!(committed.load(Ordering::SeqCst));
        assert!(format!("{:#}", ended.unwrap_err()).contains("did not stop within the shutdown grace"));
    }

    #[tokio::test(start_paused = true)]
    async fn after_a_signal_roles_that_stop_in_time_end_cleanly() {
        let shutdown = CancellationToken::new();
        let mut roles = Roles::new();
        let committed = graceful(&mut roles, &shutdown, Duration::from_secs(3));
        shutdown.cancel();
        supervise(roles, shutdown, Duration::from_secs(30)).await.unwrap();
        assert!(committed.load(Ordering::SeqCst));
    }
}
