//! How late a retry tier runs: of the records a tier's source has dispatched and not
//! finished (waiting for a slot of their subscription, or in flight), the one whose due
//! time passed longest ago. Shown as `hookline_delivery_retry_overdue_seconds`, so that
//! an operator sees retries falling behind their schedule before a backlog shows it.
//! Pure: time is passed in. Bounded by the records a source may hold.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use hookline_log::TopicPartition;

#[derive(Debug, Default)]
pub struct Overdue {
    by_due: BTreeSet<(DateTime<Utc>, TopicPartition, u64)>,
    due_of: HashMap<(TopicPartition, u64), DateTime<Utc>>,
}

impl Overdue {
    /// Notes a record dispatched at or after its due time.
    pub fn dispatched(&mut self, tp: &TopicPartition, offset: u64, due: DateTime<Utc>) {
        if let Some(previous) = self.due_of.insert((tp.clone(), offset), due) {
            self.by_due.remove(&(previous, tp.clone(), offset));
        }
        self.by_due.insert((due, tp.clone(), offset));
    }

    /// Forgets a record once it is finished (or given up).
    pub fn finished(&mut self, tp: &TopicPartition, offset: u64) {
        if let Some(due) = self.due_of.remove(&(tp.clone(), offset)) {
            self.by_due.remove(&(due, tp.clone(), offset));
        }
    }

    /// Whole seconds since the oldest unfinished record was due; 0 when none is late.
    pub fn seconds_late(&self, now: DateTime<Utc>) -> i64 {
        self.by_due.first().map_or(0, |(due, _, _)| (now - *due).num_seconds().max(0))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    #[test]
    fn the_oldest_unfinished_record_sets_how_late_the_tier_runs() {
        let now = Utc::now();
        let tp = TopicPartition::new("hookline.retry.10s", 0);
        let mut overdue = Overdue::default();
        assert_eq!(overdue.seconds_late(now), 0);
        overdue.dispatched(&tp, 7, now - TimeDelta::seconds(90));
        overdue.dispatched(&tp, 8, now - TimeDelta::seconds(30));
        overdue.dispatched(&tp, 9, now + TimeDelta::seconds(5));
        assert_eq!(overdue.seconds_late(now), 90);
        overdue.finished(&tp, 7);
        assert_eq!(overdue.seconds_late(now), 30);
        overdue.finished(&tp, 8);
        assert_eq!(overdue.seconds_late(now), 0, "a record not due yet is not late");
        overdue.finished(&tp, 9);
        overdue.finished(&tp, 9);
        assert_eq!(overdue.seconds_late(now), 0);
    }
}
