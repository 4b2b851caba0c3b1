//! Holding tier records until they are due.
//!
//! Every record in a tier waits at most the tier's delay `d` after it was written
//! (jitter only shortens a delay, and a `Retry-After` goes to a tier at least as long,
//! or is cut to the tier's delay and put back in a tier when it has passed), so within
//! a partition records become due nearly in order. When a partition's head is not due
//! yet, the partition is paused and its records are held here, in order, until the
//! head is due; a record behind it is therefore released at the latest `d` after it
//! was written — never later than the un-jittered schedule, and at most `jitter × d`
//! after its own due time. The consumer loop sleeps until [`DueSchedule::next_wakeup`]
//! alongside everything else it waits on. Pure: time is passed in.

use std::collections::{BTreeSet, HashMap, VecDeque};

use hookline_log::TopicPartition;
use tokio::time::Instant;

/// What became of an admitted record.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission<T> {
    /// Due now: dispatch it.
    Due(T),
    /// Held until due. `pause` is true when the partition has just started holding
    /// records and must be paused.
    Held { pause: bool },
}

/// Records released by [`DueSchedule::release_due`].
#[derive(Debug, PartialEq, Eq)]
pub struct Released<T> {
    /// Records now due, in partition order.
    pub due: Vec<T>,
    /// Partitions that hold nothing any more and can be resumed.
    pub resume: Vec<TopicPartition>,
}

/// Held records per partition and when each partition's head is due.
#[derive(Debug)]
pub struct DueSchedule<T> {
    held: HashMap<TopicPartition, VecDeque<(Instant, T)>>,
    /// (due time of the head, partition) for every partition holding records.
    wakeups: BTreeSet<(Instant, TopicPartition)>,
}

impl<T> Default for DueSchedule<T> {
    fn default() -> Self {
        Self { held: HashMap::new(), wakeups: BTreeSet::new() }
    }
}

impl<T> DueSchedule<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes a record polled from `tp`, due at `due`. Records behind a held record are
    /// held too, whatever their due time, so a partition is always dispatched in order.
    pub fn admit(&mut self, tp: &TopicPartition, due: Instant, item: T, now: Instant) -> Admission<T> {
        if let Some(queue) = self.held.get_mut(tp) {
            queue.push_back((due, item));
            return Admission::Held { pause: false };
        }
        if due <= now {
            return Admission::Due(item);
        }
        self.held.insert(tp.clone(), VecDeque::from([(due, item)]));
        self.wakeups.insert((due, tp.clone()));
        Admission::Held { pause: true }
    }

    /// When the earliest held head is due.
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.wakeups.first().map(|(due, _)| *due)
    }

    /// Takes every record that is due at `now`, in partition order, stopping in each
    /// partition at the first one that is not.
    pub fn release_due(&mut self, now: Instant) -> Released<T> {
        let mut released = Released { due: Vec::new(), resume: Vec::new() };
        while let Some((due, tp)) = self.wakeups.first().cloned() {
            if due > now {
                break;
            }
            self.wakeups.pop_first();
            let Some(queue) = self.held.get_mut(&tp) else { continue };
            while queue.front().is_some_and(|(due, _)| *due <= now) {
                if let Some((_, item)) = queue.pop_front() {
                    released.due.push(item);
                }
            }
            match queue.front() {
                Some((next_due, _)) => {
                    self.wakeups.insert((*next_due, tp));
                }
                None => {
                    self.held.remove(&tp);
                    released.resume.push(tp);
                }
            }
        }
        released
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::*;

    fn tp(partition: u32) -> TopicPartition {
        TopicPartition::new("hookline.retry.10s", partition)
    }

    #[test]
    fn due_records_pass_straight_through() {
        let now = Instant::now();
        let mut schedule = DueSchedule::new();
        assert_eq!(schedule.admit(&tp(0), now, 1, now), Admission::Due(1));
        assert_eq!(schedule.admit(&tp(0), now - Duration::from_secs(5), 2, now), Admission::Due(2));
        assert_eq!(schedule.next_wakeup(), None);
    }

    #[test]
    fn a_partition_is_held_in_order_behind_its_head() {
        let now = Instant::now();
        let later = now + Duration::from_secs(10);
        let mut schedule = DueSchedule::new();
        assert_eq!(schedule.admit(&tp(0), later, 1, now), Admission::Held { pause: true });
        // Already due, but behind a held record: held too, without a second pause.
        assert_eq!(schedule.admit(&tp(0), now, 2, now), Admission::Held { pause: false });
        assert_eq!(schedule.admit(&tp(0), later + Duration::from_secs(1), 3, now), Admission::Held { pause: false });
        assert_eq!(schedule.next_wakeup(), Some(later));

        let nothing = schedule.release_due(later - Duration::from_millis(1));
        assert!(nothing.due.is_empty() && nothing.resume.is_empty());

        let first = schedule.release_due(later);
        assert_eq!(first.due, vec![1, 2]);
        assert!(first.resume.is_empty());
        assert_eq!(schedule.next_wakeup(), Some(later + Duration::from_secs(1)));

        let last = schedule.release_due(later + Duration::from_secs(1));
        assert_eq!(last.due, vec![3]);
        assert_eq!(last.resume, vec![tp(0)]);
        assert_eq!(schedule.next_wakeup(), None);
    }

    #[test]
    fn partitions_are_independent() {
        let now = Instant::now();
        let mut schedule = DueSchedule::new();
        schedule.admit(&tp(0), now + Duration::from_secs(5), "a", now);
        assert_eq!(schedule.admit(&tp(1), now, "b", now), Admission::Due("b"));
        schedule.admit(&tp(2), now + Duration::from_secs(2), "c", now);
        assert_eq!(schedule.next_wakeup(), Some(now + Duration::from_secs(2)));
        let released = schedule.release_due(now + Duration::from_secs(3));
        assert_eq!(released.due, vec!["c"]);
        assert_eq!(released.resume, vec![tp(2)]);
        assert_eq!(schedule.next_wakeup(), Some(now + Duration::from_secs(5)));
    }

    proptest! {
        /// Records written in order, each due within `[d × (1 − j), d]` of its writing:
        /// each is released no earlier than its due time and no later than `d` after it
        /// was written, however the jitter fell.
        #[test]
        fn jittered_records_are_held_no_longer_than_their_tier(
            gaps in proptest::collection::vec(0u64..2_000, 1..40),
            draws in proptest::collection::vec(0.0f64..=1.0, 40),
            jitter in 0.0f64..0.9,
        ) {
            let tier = Duration::from_secs(10);
            let start = Instant::now();
            let mut schedule = DueSchedule::new();
            let mut written = start;
            let mut records = Vec::new();
            let mut released = Vec::new();
            for (n, gap) in gaps.iter().enumerate() {
                written += Duration::from_millis(*gap);
                // The consumer wakes at every wakeup before this one is polled.
                while let Some(wakeup) = schedule.next_wakeup().filter(|wakeup| *wakeup <= written) {
                    released.extend(schedule.release_due(wakeup).due.into_iter().map(|i| (i, wakeup)));
                }
                let due = written + tier.mul_f64(1.0 - jitter * draws[n]);
                records.push((written, due));
                if let Admission::Due(i) = schedule.admit(&tp(0), due, n, written) {
                    released.push((i, written));
                }
            }
            while let Some(wakeup) = schedule.next_wakeup() {
                released.extend(schedule.release_due(wakeup).due.into_iter().map(|i| (i, wakeup)));
            }
            prop_assert_eq!(released.len(), records.len());
            for (n, (i, at)) in released.iter().enumerate() {
                prop_assert_eq!(*i, n, "released out of order");
                let (written, due) = records[*i];
                prop_assert!(*at >= due);
                prop_assert!(*at <= written + tier);
            }
        }
    }
}
