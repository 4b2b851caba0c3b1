//! Retention: closed segments whose newest record is older than the topic's
//! retention are deleted, and so are the oldest closed segments of a partition whose
//! files would pass its size retention; on segment roll and periodically from a
//! background task. The active segment is never deleted.

use std::sync::{Arc, PoisonError};
use std::time::Duration;

use tokio::sync::{oneshot, Notify};

use super::fsutil::sync_dir;
use super::partition::Partition;
use super::writer::now_ms;
use super::Topics;

/// The longest wait between two periodic checks.
const MAX_CHECK_PERIOD: Duration = Duration::from_secs(60);
const MIN_CHECK_PERIOD: Duration = Duration::from_millis(100);

impl Partition {
    /// Deletes the closed segments past the time or the size retention; returns how many.
    pub fn enforce_retention(&self, now_ms: i64, segment_bytes: u64) -> std::io::Result<usize> {
        let limits = self.limits();
        let Some(retention) = limits.retention else { return Ok(0) };
        let cutoff = now_ms.saturating_sub(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX));
        let expired: Vec<_> = {
            let mut state = self.lock();
            let closed = &state.segments[..state.segments.len() - 1];
            let by_time =
                closed.iter().take_while(|s| s.newest_timestamp_ms.is_none_or(|newest| newest < cutoff)).count();
            let sizes: Vec<u64> = state.segments.iter().map(|s| s.size).collect();
            let by_size = limits.retention_bytes.map_or(0, |limit| over_size(&sizes, limit, segment_bytes));
            state.segments.drain(..by_time.max(by_size)).collect()
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

    pub fn enforce_retention_logged(&self, segment_bytes: u64) {
        match self.enforce_retention(now_ms(), segment_bytes) {
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

/// How many of the oldest segments (sizes in order, the last one active) to delete so
/// that the rest plus room for one more full segment fit in `limit` bytes. The active
/// segment is always kept.
fn over_size(sizes: &[u64], limit: u64, segment_bytes: u64) -> usize {
    let room = limit.saturating_sub(segment_bytes);
    let mut kept: u64 = sizes.iter().sum();
    let mut count = 0;
    for size in &sizes[..sizes.len().saturating_sub(1)] {
        if kept <= room {
            break;
        }
        kept -= size;
        count += 1;
    }
    count
}

/// Every partition of the topics that have a retention.
fn retained_partitions(topics: &Topics) -> Vec<Arc<Partition>> {
    let topics = topics.read().unwrap_or_else(PoisonError::into_inner);
    topics.values().flat_map(|t| t.partitions.iter()).filter(|p| p.limits().retention.is_some()).cloned().collect()
}

/// Runs periodic retention checks until `stop` fires or is dropped (the log is gone).
/// `topics_changed` fires when a topic is created, as the period may have to shrink.
pub(crate) async fn run_periodic(
    topics: Topics,
    segment_bytes: u64,
    topics_changed: Arc<Notify>,
    mut stop: oneshot::Receiver<()>,
) {
    loop {
        let period = check_period(&retained_partitions(&topics));
        tokio::select! {
            _ = &mut stop => return,
            _ = topics_changed.notified() => continue,
            _ = tokio::time::sleep(period) => {}
        }
        let partitions = retained_partitions(&topics);
        let checked = tokio::task::spawn_blocking(move || {
            partitions.iter().for_each(|p| p.enforce_retention_logged(segment_bytes))
        });
        if checked.await.is_err() {
            tracing::error!("retention check panicked");
        }
    }
}

/// Half the shortest retention, so a segment outlives its retention by at most that.
fn check_period(partitions: &[Arc<Partition>]) -> Duration {
    partitions
        .iter()
        .filter_map(|p| p.limits().retention)
        .map(|r| (r / 2).clamp(MIN_CHECK_PERIOD, MAX_CHECK_PERIOD))
        .min()
        .unwrap_or(MAX_CHECK_PERIOD)
}

#[cfg(test)]
mod tests {
    use super::over_size;

    #[test]
    fn nothing_is_deleted_within_the_limit() {
        assert_eq!(over_size(&[10, 10, 5], 100, 10), 0);
        assert_eq!(over_size(&[10, 10, 5], 35, 10), 0);
    }

    #[test]
    fn the_oldest_go_first_until_a_full_segment_more_would_fit() {
        // 45 bytes held; room for 30 besides a full segment of 10: the two oldest go.
        assert_eq!(over_size(&[10, 10, 10, 10, 5], 40, 10), 2);
        assert_eq!(over_size(&[10, 10, 10, 10, 5], 41, 10), 2);
        assert_eq!(over_size(&[10, 10, 10, 10, 5], 25, 10), 3);
    }

    #[test]
    fn the_active_segment_is_kept_whatever_its_size() {
        assert_eq!(over_size(&[10, 10, 50], 20, 10), 2);
        assert_eq!(over_size(&[50], 20, 10), 0);
        assert_eq!(over_size(&[], 20, 10), 0);
    }
}
