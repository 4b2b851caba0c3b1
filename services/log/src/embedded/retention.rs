//! Retention: closed segments whose newest record is older than the topic's
//! retention are deleted, on segment roll and periodically from a background task.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::{oneshot, Notify};

use super::fsutil::sync_dir;
use super::partition::Partition;
use super::writer::now_ms;
use super::Shared;

/// The longest wait between two periodic checks.
const MAX_CHECK_PERIOD: Duration = Duration::from_secs(60);
const MIN_CHECK_PERIOD: Duration = Duration::from_millis(100);

impl Partition {
    /// Deletes the expired closed segments; returns how many.
    pub fn enforce_retention(&self, now_ms: i64) -> std::io::Result<usize> {
        let Some(retention) = self.retention else { return Ok(0) };
        let cutoff = now_ms.saturating_sub(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX));
        let expired: Vec<_> = {
            let mut state = self.lock();
            let closed = state.segments.len() - 1;
            let count = state.segments[..closed]
                .iter()
                .take_while(|s| s.newest_timestamp_ms.is_none_or(|newest| newest < cutoff))
                .count();
            state.segments.drain(..count).collect()
        };
        // Readers still holding a deleted segment's handle finish their read.
        for segment in &expired {
            std::fs::remove_file(&segment.path)?;
        }
        if !expired.is_empty() {
            sync_dir(&self.dir)?;
        }
        Ok(expired.len())
    }

    pub fn enforce_retention_logged(&self) {
        match self.enforce_retention(now_ms()) {
            Ok(0) => {}
            Ok(deleted) => {
                tracing::info!(partition = %self.topic_partition(), deleted, "deleted segments past retention")
            }
            Err(error) => {
                tracing::warn!(partition = %self.topic_partition(), %error, "could not delete segments past retention")
            }
        }
    }
}

/// Runs periodic retention checks until `stop` fires or is dropped, or the log is gone.
/// `topics_changed` fires when a topic is created, as the period may have to shrink.
pub(crate) async fn run_periodic(shared: Weak<Shared>, topics_changed: Arc<Notify>, mut stop: oneshot::Receiver<()>) {
    loop {
        let Some(period) = shared.upgrade().map(|s| check_period(&s.retained_partitions())) else { return };
        tokio::select! {
            _ = &mut stop => return,
            _ = topics_changed.notified() => continue,
            _ = tokio::time::sleep(period) => {}
        }
        let Some(partitions) = shared.upgrade().map(|s| s.retained_partitions()) else { return };
        let checked = tokio::task::spawn_blocking(move || partitions.iter().for_each(|p| p.enforce_retention_logged()));
        if checked.await.is_err() {
            tracing::error!("retention check panicked");
        }
    }
}

/// Half the shortest retention, so a segment outlives its retention by at most that.
fn check_period(partitions: &[Arc<Partition>]) -> Duration {
    partitions
        .iter()
        .filter_map(|p| p.retention)
        .map(|r| (r / 2).clamp(MIN_CHECK_PERIOD, MAX_CHECK_PERIOD))
        .min()
        .unwrap_or(MAX_CHECK_PERIOD)
}
