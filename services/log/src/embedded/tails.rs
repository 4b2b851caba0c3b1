//! One memory budget for the in-memory tails of every partition. The writer thread,
//! the only one that adds to tails, notes each batch of records it added to a
//! partition, in write order. When the tails together pass the budget, or a batch has
//! been held for [`MAX_TAIL_AGE`], the oldest batches leave their partitions' tails
//! first, whichever partitions those are: the busy partitions get the room (one
//! subscription's partition may take nearly all of it), and an idle log gives its
//! memory back.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::partition::Partition;

/// How long records stay in memory at most. Consumers that keep up read them within
/// milliseconds; one further behind reads the segment files.
pub(crate) const MAX_TAIL_AGE: Duration = Duration::from_secs(10);

pub(crate) struct TailBudget {
    capacity: usize,
    held: usize,
    batches: VecDeque<HeldBatch>,
}

/// Records added to one partition's tail in one write batch.
struct HeldBatch {
    partition: Arc<Partition>,
    /// The offset after the batch's last record.
    end: u64,
    bytes: usize,
    added_at: Instant,
}

impl TailBudget {
    pub fn new(capacity: usize) -> TailBudget {
        TailBudget { capacity, held: 0, batches: VecDeque::new() }
    }

    /// Notes that records up to `end` (exclusive), `bytes` in all, were just added to
    /// `partition`'s tail.
    pub fn added(&mut self, partition: Arc<Partition>, end: u64, bytes: usize, now: Instant) {
        self.held += bytes;
        self.batches.push_back(HeldBatch { partition, end, bytes, added_at: now });
    }

    /// Drops the oldest batches while the tails are over budget or too old.
    pub fn trim(&mut self, now: Instant) {
        while let Some(oldest) = self.batches.front() {
            let stale = now.saturating_duration_since(oldest.added_at) >= MAX_TAIL_AGE;
            if self.held <= self.capacity && !stale {
                break;
            }
            let oldest = self.batches.pop_front().expect("front exists");
            oldest.partition.lock().tail.drop_before(oldest.end);
            self.held -= oldest.bytes;
        }
    }

    /// How long until the oldest batch is too old; `None` when nothing is held.
    pub fn until_next_expiry(&self, now: Instant) -> Option<Duration> {
        self.batches.front().map(|oldest| (oldest.added_at + MAX_TAIL_AGE).saturating_duration_since(now))
    }

    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.held
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedded::partition::{approximate_size, test_record, Limits};
    use crate::Record;

    fn partition(dir: &std::path::Path, id: u32) -> Arc<Partition> {
        let limits = Limits { retention: None, retention_bytes: None };
        Arc::new(Partition::create("t", id, dir.join(id.to_string()), limits).expect("partition"))
    }

    fn record(offset: u64) -> Record {
        test_record(offset, 1000)
    }

    /// Adds `count` records from `from` to `partition`'s tail, as the writer does.
    fn add(budget: &mut TailBudget, partition: &Arc<Partition>, from: u64, count: u64, now: Instant) {
        let records: Vec<Record> = (from..from + count).map(record).collect();
        let bytes = records.iter().map(approximate_size).sum();
        let mut state = partition.lock();
        records.into_iter().for_each(|r| state.tail.push(r));
        drop(state);
        budget.added(partition.clone(), from + count, bytes, now);
        budget.trim(now);
    }

    #[test]
    fn the_busy_partition_takes_the_room_the_idle_ones_leave() {
        let dir = tempfile::tempdir().expect("dir");
        let (busy, idle) = (partition(dir.path(), 0), partition(dir.path(), 1));
        let capacity = 100 * approximate_size(&record(0));
        let mut budget = TailBudget::new(capacity);
        let now = Instant::now();
        add(&mut budget, &idle, 0, 10, now);
        for batch in 0..50 {
            add(&mut budget, &busy, batch * 10, 10, now);
            assert!(budget.held() <= capacity, "{} bytes held", budget.held());
        }
        // The idle partition's records were the oldest: they went first.
        assert_eq!(idle.lock().tail.read(0, 10), None);
        let busy_tail = busy.lock().tail.read(400, 100).expect("the newest 100 records are in memory");
        assert_eq!(busy_tail.iter().map(|r| r.offset).collect::<Vec<_>>(), (400..500).collect::<Vec<_>>());
        assert_eq!(busy.lock().tail.read(399, 1), None, "older records are read from the files");
    }

    #[test]
    fn records_leave_memory_once_they_are_old_enough() {
        let dir = tempfile::tempdir().expect("dir");
        let p = partition(dir.path(), 0);
        let mut budget = TailBudget::new(usize::MAX);
        let start = Instant::now();
        add(&mut budget, &p, 0, 5, start);
        add(&mut budget, &p, 5, 5, start + MAX_TAIL_AGE / 2);
        assert_eq!(budget.until_next_expiry(start), Some(MAX_TAIL_AGE));
        budget.trim(start + MAX_TAIL_AGE);
        assert_eq!(p.lock().tail.read(4, 1), None);
        assert_eq!(p.lock().tail.read(5, 5).map(|r| r.len()), Some(5));
        budget.trim(start + MAX_TAIL_AGE * 2);
        assert_eq!(budget.held(), 0);
        assert_eq!(budget.until_next_expiry(start), None);
        assert_eq!(p.lock().tail.read(10, 1), Some(Vec::new()), "nothing past the end yet");
    }

    #[test]
    fn a_budget_of_no_bytes_holds_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let p = partition(dir.path(), 0);
        let mut budget = TailBudget::new(0);
        add(&mut budget, &p, 0, 1, Instant::now());
        assert_eq!(p.lock().tail.read(0, 1), None);
        assert_eq!(budget.held(), 0);
    }
}
