//! Which offsets may be committed: per partition, everything below the lowest record
//! that is not done yet. Records finish out of order (attempts run concurrently), so
//! the commit point only moves once every record before it is done.
//!
//! A record seen again (after a rebalance or a restart the log may hand out offsets at
//! or below ones already seen) is reported as already known and changes nothing: it is
//! either still in flight or already done.

use std::collections::{BTreeSet, HashMap};

use hookline_log::TopicPartition;

#[derive(Debug, Default)]
struct PartitionOffsets {
    /// Seen and not yet done.
    pending: BTreeSet<u64>,
    /// One past the highest offset seen.
    next: u64,
    /// The last commit point handed to the log.
    committed: Option<u64>,
}

impl PartitionOffsets {
    fn commit_point(&self) -> u64 {
        self.pending.first().copied().unwrap_or(self.next)
    }
}

/// Offsets seen and done, per partition.
#[derive(Debug, Default)]
pub struct OffsetTracker {
    partitions: HashMap<TopicPartition, PartitionOffsets>,
}

impl OffsetTracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Notes a polled record. Returns false when the offset was seen before (still in
    /// flight or already done): the record must not be processed again.
    pub fn track(&mut self, tp: &TopicPartition, offset: u64) -> bool {
        let partition = self.partitions.entry(tp.clone()).or_default();
        if offset < partition.next {
            return false;
        }
        partition.pending.insert(offset);
        partition.next = offset.saturating_add(1);
        true
    }

    /// Notes that a tracked record is done (its outcome is durable).
    pub fn finish(&mut self, tp: &TopicPartition, offset: u64) {
        if let Some(partition) = self.partitions.get_mut(tp) {
            partition.pending.remove(&offset);
        }
    }

    /// The offset to commit for a partition: the lowest record not done, or one past
    /// the highest seen when all are done. `None` for a partition never seen.
    #[cfg(test)]
    pub fn commit_point(&self, tp: &TopicPartition) -> Option<u64> {
        self.partitions.get(tp).map(PartitionOffsets::commit_point)
    }

    /// Commit points that moved since the last [`OffsetTracker::committed`].
    pub fn to_commit(&self) -> Vec<(TopicPartition, u64)> {
        let mut out: Vec<(TopicPartition, u64)> = self
            .partitions
            .iter()
            .filter(|(_, p)| p.committed != Some(p.commit_point()))
            .map(|(tp, p)| (tp.clone(), p.commit_point()))
            .collect();
        out.sort();
        out
    }

    /// Notes that these commit points are durable in the log.
    pub fn committed(&mut self, offsets: &[(TopicPartition, u64)]) {
        for (tp, offset) in offsets {
            if let Some(partition) = self.partitions.get_mut(tp) {
                partition.committed = Some(*offset);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tp() -> TopicPartition {
        TopicPartition::new("t", 0)
    }

    #[test]
    fn commit_point_waits_for_the_lowest_unfinished_record() {
        let mut tracker = OffsetTracker::new();
        for offset in 10..15 {
            assert!(tracker.track(&tp(), offset));
        }
        assert_eq!(tracker.commit_point(&tp()), Some(10));
        tracker.finish(&tp(), 12);
        tracker.finish(&tp(), 11);
        assert_eq!(tracker.commit_point(&tp()), Some(10));
        tracker.finish(&tp(), 10);
        assert_eq!(tracker.commit_point(&tp()), Some(13));
        tracker.finish(&tp(), 14);
        tracker.finish(&tp(), 13);
        assert_eq!(tracker.commit_point(&tp()), Some(15));
    }

    #[test]
    fn a_record_seen_again_is_refused_and_changes_nothing() {
        let mut tracker = OffsetTracker::new();
        assert!(tracker.track(&tp(), 0));
        assert!(tracker.track(&tp(), 1));
        tracker.finish(&tp(), 0);
        assert!(!tracker.track(&tp(), 0), "done record polled again");
        assert!(!tracker.track(&tp(), 1), "in-flight record polled again");
        assert_eq!(tracker.commit_point(&tp()), Some(1));
        tracker.finish(&tp(), 1);
        assert_eq!(tracker.commit_point(&tp()), Some(2));
    }

    #[test]
    fn gaps_in_offsets_do_not_block_the_commit_point() {
        let mut tracker = OffsetTracker::new();
        tracker.track(&tp(), 3);
        tracker.track(&tp(), 7);
        tracker.finish(&tp(), 3);
        assert_eq!(tracker.commit_point(&tp()), Some(7));
    }

    #[test]
    fn to_commit_reports_only_moved_points() {
        let mut tracker = OffsetTracker::new();
        let other = TopicPartition::new("t", 1);
        tracker.track(&tp(), 0);
        tracker.track(&other, 0);
        tracker.finish(&tp(), 0);
        let moved = tracker.to_commit();
        assert_eq!(moved, vec![(tp(), 1), (other.clone(), 0)]);
        tracker.committed(&moved);
        assert!(tracker.to_commit().is_empty());
        tracker.finish(&other, 0);
        assert_eq!(tracker.to_commit(), vec![(other, 1)]);
    }

    /// One step of a random history: poll the next record, poll an old one again, or finish one.
    #[derive(Clone, Debug)]
    enum Step {
        Poll { gap: u64 },
        Repoll { pick: usize },
        Finish { pick: usize },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0u64..3).prop_map(|gap| Step::Poll { gap }),
            any::<usize>().prop_map(|pick| Step::Repoll { pick }),
            any::<usize>().prop_map(|pick| Step::Finish { pick }),
        ]
    }

    proptest! {
        #[test]
        fn commit_point_is_always_the_lowest_unfinished_offset(
            start in 0u64..1000,
            steps in proptest::collection::vec(step(), 1..200),
        ) {
            let mut tracker = OffsetTracker::new();
            let mut seen: Vec<u64> = Vec::new();
            let mut unfinished: BTreeSet<u64> = BTreeSet::new();
            let mut next = start;
            let mut last_point = 0;
            for step in steps {
                match step {
                    Step::Poll { gap } => {
                        let offset = next + gap;
                        prop_assert!(tracker.track(&tp(), offset));
                        seen.push(offset);
                        unfinished.insert(offset);
                        next = offset + 1;
                    }
                    Step::Repoll { pick } if !seen.is_empty() => {
                        let offset = seen[pick % seen.len()];
                        prop_assert!(!tracker.track(&tp(), offset));
                    }
                    Step::Finish { pick } if !unfinished.is_empty() => {
                        let offset = *unfinished.iter().nth(pick % unfinished.len()).unwrap();
                        tracker.finish(&tp(), offset);
                        unfinished.remove(&offset);
                    }
                    _ => {}
                }
                if let Some(point) = tracker.commit_point(&tp()) {
                    let expected = unfinished.first().copied().unwrap_or(next);
                    prop_assert_eq!(point, expected);
                    prop_assert!(point >= last_point, "commit point went back");
                    last_point = point;
                }
            }
        }
    }
}
