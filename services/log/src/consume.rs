//! The loop every role that consumes in batches runs: poll a batch, hand it to the
//! role, commit what the role says is durable, and wait out passing failures.
//!
//! Guarantees: an offset is committed only once the role returned it (its records'
//! outcome is durable); a passing poll or commit failure is retried, never skipped;
//! on shutdown, and on the role's error, what is durable is still committed, so a
//! restart does less again.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::{Consumer, LogError, Record, TopicPartition};

/// Longest one poll waits for records (shutdown is served meanwhile).
const POLL_WAIT: Duration = Duration::from_secs(1);

const FIRST_DELAY: Duration = Duration::from_millis(100);
const LONGEST_DELAY: Duration = Duration::from_secs(5);

/// Exponential backoff after a passing failure: 100 ms, doubling, at most 5 s.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

impl Backoff {
    pub fn new() -> Self {
        Self { next: FIRST_DELAY }
    }

    /// The delay to wait now; the following one doubles.
    fn advance(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(LONGEST_DELAY);
        delay
    }

    pub fn reset(&mut self) {
        self.next = FIRST_DELAY;
    }

    /// Waits the next delay. Returns false, at once, when shutdown is asked for: the
    /// caller gives up on the work instead of trying again.
    pub async fn wait(&mut self, shutdown: &CancellationToken) -> bool {
        let delay = self.advance();
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => false,
            _ = tokio::time::sleep(delay) => true,
        }
    }
}

/// Polls `consumer` for up to `batch` records at a time until `shutdown`, and hands
/// each non-empty batch to `process`, which returns the next offset to commit per
/// partition (one past the last record whose outcome is durable). Commits after each
/// batch, and once more before returning. Returns the first error of `process`, of
/// a poll or of a commit that will not pass.
pub async fn consume_batches<F, Fut, E>(
    consumer: Arc<dyn Consumer>,
    batch: usize,
    shutdown: &CancellationToken,
    mut process: F,
) -> Result<(), E>
where
    F: FnMut(Vec<Record>) -> Fut,
    Fut: Future<Output = Result<Vec<(TopicPartition, u64)>, E>>,
    E: From<LogError>,
{
    let mut commits = PendingCommits::new(consumer.clone());
    let mut backoff = Backoff::new();
    let outcome = loop {
        let polled = tokio::select! {
            biased;
            _ = shutdown.cancelled() => break Ok(()),
            polled = consumer.poll(batch, POLL_WAIT) => polled,
        };
        let records = match polled {
            Ok(records) => {
                backoff.reset();
                records
            }
            Err(error) if error.is_retryable() => {
                tracing::warn!(%error, "poll failed, retrying");
                if backoff.wait(shutdown).await {
                    continue;
                }
                break Ok(());
            }
            Err(error) => break Err(error.into()),
        };
        if !records.is_empty() {
            match process(records).await {
                Ok(done) => commits.note(done),
                Err(error) => break Err(error),
            }
        }
        if let Err(error) = commits.commit().await {
            break Err(error.into());
        }
    };
    // What is durable is committed even when stopping on an error, so a restart does less again.
    let committed = commits.commit().await.map_err(E::from);
    outcome.and(committed)
}

/// One past the highest offset of each partition among `records`: what to commit once
/// all of them are done.
pub fn next_offsets(records: &[Record]) -> Vec<(TopicPartition, u64)> {
    let mut next = BTreeMap::new();
    for record in records {
        let offset = next.entry(record.topic_partition()).or_insert(0);
        *offset = (*offset).max(record.offset.saturating_add(1));
    }
    next.into_iter().collect()
}

/// Commit points not yet committed.
struct PendingCommits {
    consumer: Arc<dyn Consumer>,
    pending: BTreeMap<TopicPartition, u64>,
}

impl PendingCommits {
    fn new(consumer: Arc<dyn Consumer>) -> Self {
        Self { consumer, pending: BTreeMap::new() }
    }

    fn note(&mut self, done: Vec<(TopicPartition, u64)>) {
        for (tp, next) in done {
            let point = self.pending.entry(tp).or_insert(next);
            *point = (*point).max(next);
        }
    }

    /// Commits the pending points. A passing failure keeps them for the next call
    /// (after the next poll): the records are durable already, only re-reading is at stake.
    async fn commit(&mut self) -> Result<(), LogError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let offsets: Vec<_> = self.pending.iter().map(|(tp, next)| (tp.clone(), *next)).collect();
        match self.consumer.commit(&offsets).await {
            Ok(()) => {
                self.pending.clear();
                Ok(())
            }
            Err(error) if error.is_retryable() => {
                tracing::warn!(%error, "commit failed, retrying after the next poll");
                Ok(())
            }
            Err(error) => Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_reset() {
        let mut backoff = Backoff::new();
        let delays: Vec<u128> = (0..8).map(|_| backoff.advance().as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        backoff.reset();
        assert_eq!(backoff.advance(), FIRST_DELAY);
    }

    #[tokio::test]
    async fn shutdown_ends_the_wait_at_once() {
        let shutdown = CancellationToken::new();
        shutdown.cancel();
        let mut backoff = Backoff { next: Duration::from_secs(3600) };
        assert!(!backoff.wait(&shutdown).await);
    }

    #[test]
    fn next_offsets_are_one_past_the_highest_per_partition() {
        let record = |partition, offset| Record {
            topic: "t".into(),
            partition,
            offset,
            timestamp_ms: 0,
            key: Vec::new(),
            headers: Vec::new(),
            value: Vec::new(),
        };
        let records = [record(0, 4), record(1, 2), record(0, 7), record(0, 5)];
        assert_eq!(next_offsets(&records), vec![(TopicPartition::new("t", 0), 8), (TopicPartition::new("t", 1), 3)]);
    }
}
