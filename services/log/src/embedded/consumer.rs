//! The embedded consumer: assigned every partition of its topics, one live consumer
//! per group, positions advanced only when a poll returns (so polls are cancel-safe).

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Poll;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use super::partition::Partition;
use super::Shared;
use crate::{Consumer, ConsumerSpec, LogError, Record, StartFrom, TopicPartition};

pub(crate) struct EmbeddedConsumer {
    shared: Arc<Shared>,
    group: Option<String>,
    state: Mutex<ConsumerState>,
    /// Wakes a waiting poll when a partition is resumed.
    resumed: Notify,
}

struct ConsumerState {
    /// One per assigned partition, in a fixed order.
    slots: Vec<Slot>,
    /// Where the next poll starts its round-robin.
    cursor: usize,
}

struct Slot {
    tp: TopicPartition,
    partition: Arc<Partition>,
    /// The next offset to return.
    position: u64,
    paused: bool,
}

/// Records read for one slot during a poll, kept only if the slot did not move meanwhile.
struct Fetched {
    slot: usize,
    partition: Arc<Partition>,
    started_at: u64,
    next: u64,
    records: Vec<Record>,
}

impl EmbeddedConsumer {
    pub fn start(shared: Arc<Shared>, spec: ConsumerSpec) -> Result<EmbeddedConsumer, LogError> {
        let mut partitions = Vec::new();
        for name in &spec.topics {
            let topic = shared.topic(name).ok_or_else(|| LogError::UnknownTopic(name.clone()))?;
            if !partitions.iter().any(|p: &Arc<Partition>| &p.topic == name) {
                partitions.extend(topic.partitions.iter().cloned());
            }
        }
        let committed = match &spec.group {
            Some(group) => {
                shared.join_group(group)?;
                shared.groups.committed(group)
            }
            None => Default::default(),
        };
        let slots = partitions
            .into_iter()
            .map(|partition| {
                let tp = partition.topic_partition();
                let end = partition.end_offset();
                let position = match (committed.get(&tp), spec.start) {
                    (Some(&offset), _) if offset > end => {
                        tracing::warn!(partition = %tp, offset, end, "committed offset past the end, starting at the end");
                        end
                    }
                    (Some(&offset), _) => offset,
                    (None, StartFrom::Earliest) => partition.log_start(),
                    (None, StartFrom::Latest) => end,
                };
                Slot { tp, partition, position, paused: false }
            })
            .collect();
        Ok(EmbeddedConsumer {
            shared,
            group: spec.group,
            state: Mutex::new(ConsumerState { slots, cursor: 0 }),
            resumed: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, ConsumerState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads up to `max` records, fairly across the unpaused partitions that have some.
    async fn fetch(&self, max: usize) -> Result<Vec<Record>, LogError> {
        let mut ready: Vec<Fetched> = {
            let mut state = self.lock();
            let count = state.slots.len();
            let start = state.cursor;
            state.cursor = (start + 1) % count.max(1);
            (0..count)
                .map(|i| (start + i) % count)
                .filter(|&i| !state.slots[i].paused && state.slots[i].position < state.slots[i].partition.end_offset())
                .map(|i| {
                    let position = state.slots[i].position;
                    let partition = state.slots[i].partition.clone();
                    Fetched { slot: i, partition, started_at: position, next: position, records: Vec::new() }
                })
                .collect()
        };
        // Rounds of equal shares, so a busy partition cannot starve the others.
        let mut remaining = max;
        let mut open: Vec<usize> = (0..ready.len()).collect();
        while remaining > 0 && !open.is_empty() {
            let share = remaining.div_ceil(open.len());
            let mut still_open = Vec::new();
            for &i in &open {
                let want = share.min(remaining);
                if want == 0 {
                    break;
                }
                let fetched = &mut ready[i];
                let (from, records) = read(&fetched.partition, fetched.next, want).await?;
                fetched.next = records.last().map_or(from, |r| r.offset + 1);
                remaining -= records.len();
                let full = records.len() == want;
                fetched.records.extend(records);
                if full && fetched.next < fetched.partition.end_offset() {
                    still_open.push(i);
                }
            }
            open = still_open;
        }
        // No await from here on: positions move only together with the records returned.
        let mut state = self.lock();
        let mut out = Vec::with_capacity(max - remaining);
        for fetched in ready {
            let slot = &mut state.slots[fetched.slot];
            if slot.paused || slot.position != fetched.started_at {
                continue;
            }
            slot.position = fetched.next;
            out.extend(fetched.records);
        }
        Ok(out)
    }

    /// Waits until a partition's high watermark moves past what `watches` have seen, or
    /// a partition is resumed.
    async fn changed(&self, watches: Vec<watch::Receiver<u64>>) {
        let mut changes: Vec<Pin<Box<dyn Future<Output = ()> + Send>>> = watches
            .into_iter()
            .map(|mut watch| -> Pin<Box<dyn Future<Output = ()> + Send>> {
                Box::pin(async move {
                    if watch.changed().await.is_err() {
                        // The partition is gone; it will never change again.
                        std::future::pending::<()>().await;
                    }
                })
            })
            .collect();
        let mut resumed = pin!(self.resumed.notified());
        poll_fn(|cx| {
            if resumed.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
            for change in &mut changes {
                if change.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(());
                }
            }
            Poll::Pending
        })
        .await
    }

    fn slot_index(state: &ConsumerState, tp: &TopicPartition) -> Result<usize, LogError> {
        state
            .slots
            .iter()
            .position(|s| &s.tp == tp)
            .ok_or_else(|| LogError::Invalid(format!("partition {tp} is not assigned to this consumer")))
    }
}

/// Reads from the in-memory tail, else from disk on a blocking thread. Returns where it
/// read from (`from` moved up to the first retained offset) and the records.
async fn read(partition: &Arc<Partition>, from: u64, max: usize) -> Result<(u64, Vec<Record>), LogError> {
    let from = from.max(partition.log_start());
    if let Some(records) = partition.read_recent(from, max) {
        return Ok((from, records));
    }
    let partition = partition.clone();
    let records = tokio::task::spawn_blocking(move || partition.read_from_disk(from, max))
        .await
        .map_err(|e| LogError::Unavailable(format!("log read task failed: {e}")))??;
    Ok((from, records))
}

#[async_trait]
impl Consumer for EmbeddedConsumer {
    async fn poll(&self, max: usize, timeout: Duration) -> Result<Vec<Record>, LogError> {
        let deadline = Instant::now() + timeout;
        if max == 0 {
            return Ok(Vec::new());
        }
        loop {
            // Subscribe before reading, so an append right after the read still wakes us.
            let watches: Vec<_> = self.lock().slots.iter().map(|s| s.partition.watch_end()).collect();
            let records = self.fetch(max).await?;
            if !records.is_empty() {
                return Ok(records);
            }
            if tokio::time::timeout_at(deadline, self.changed(watches)).await.is_err() {
                return Ok(Vec::new());
            }
        }
    }

    fn pause(&self, tp: &TopicPartition) -> Result<(), LogError> {
        let mut state = self.lock();
        let index = Self::slot_index(&state, tp)?;
        state.slots[index].paused = true;
        Ok(())
    }

    fn resume(&self, tp: &TopicPartition) -> Result<(), LogError> {
        let mut state = self.lock();
        let index = Self::slot_index(&state, tp)?;
        state.slots[index].paused = false;
        drop(state);
        self.resumed.notify_one();
        Ok(())
    }

    async fn commit(&self, offsets: &[(TopicPartition, u64)]) -> Result<(), LogError> {
        let Some(group) = self.group.clone() else { return Ok(()) };
        let assigned: Vec<(TopicPartition, u64)> = {
            let state = self.lock();
            offsets.iter().filter(|(tp, _)| state.slots.iter().any(|s| &s.tp == tp)).cloned().collect()
        };
        if assigned.is_empty() {
            return Ok(());
        }
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || shared.groups.commit(&group, &assigned))
            .await
            .map_err(|e| LogError::Unavailable(format!("commit task failed: {e}")))?
    }

    fn assignment(&self) -> Vec<TopicPartition> {
        self.lock().slots.iter().map(|s| s.tp.clone()).collect()
    }
}

impl Drop for EmbeddedConsumer {
    fn drop(&mut self) {
        if let Some(group) = &self.group {
            self.shared.leave_group(group);
        }
    }
}
