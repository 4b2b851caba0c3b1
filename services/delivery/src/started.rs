//! First attempts this process started lately, by task id, so that a task appended
//! twice to `hookline.deliveries` is attempted once.
//!
//! The same task id is appended again when a writer repeats its work after a crash
//! before its commit: the fan-out role expanding an event again (into the same task
//! ids), or the ingest role reading a record again. Offsets cannot tell those apart
//! (each copy has its own), task ids can. The window is the last
//! [`STARTED_REMEMBERED`] first attempts, exactly: a restart of this role forgets them
//! all, and a copy read after that is delivered again (at least once: receivers
//! de-duplicate on `webhook-id`).
//!
//! A first-in first-out window rather than a `quick_cache`: its S3-FIFO policy keeps
//! the ids it saw first and churns the newest when none is read twice, which is
//! exactly the wrong way round here (measured: of 10,000 ids through a cache of 1,000,
//! it kept 970 of the first thousand and 30 of the last five hundred).

use std::collections::{HashSet, VecDeque};

use hookline_domain::TaskId;

/// Task ids remembered (about 50 bytes each, ~5 MiB): ten seconds of first attempts
/// at 10,000 a second, minutes at lower rates — longer than a fan-out process takes to
/// restart and expand its uncommitted batch again.
pub const STARTED_REMEMBERED: usize = 100_000;

/// The last first attempts one source started.
pub struct StartedTasks {
    ids: HashSet<TaskId>,
    /// The same ids, oldest first: the next to forget.
    order: VecDeque<TaskId>,
    capacity: usize,
}

impl StartedTasks {
    pub fn new() -> Self {
        Self::with_capacity(STARTED_REMEMBERED)
    }

    fn with_capacity(capacity: usize) -> Self {
        Self { ids: HashSet::new(), order: VecDeque::new(), capacity }
    }

    /// Notes that the first attempt of `task` starts now. False when it is among the
    /// last ones started: this copy of the task must not be attempted again.
    pub fn start(&mut self, task: TaskId) -> bool {
        if !self.ids.insert(task) {
            return false;
        }
        self.order.push_back(task);
        if self.order.len() > self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.ids.remove(&oldest);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_starts_once_within_the_window() {
        let mut started = StartedTasks::new();
        let (task, other) = (TaskId::new(), TaskId::new());
        assert!(started.start(task));
        assert!(started.start(other));
        assert!(!started.start(task));
        assert!(!started.start(other));
    }

    #[test]
    fn the_window_holds_exactly_the_last_ones_started() {
        let mut started = StartedTasks::with_capacity(100);
        let ids: Vec<TaskId> = (0..1000).map(|_| TaskId::new()).collect();
        for id in &ids {
            assert!(started.start(*id));
        }
        assert_eq!((started.ids.len(), started.order.len()), (100, 100));
        assert!(ids[900..].iter().all(|id| !started.start(*id)), "the last hundred are remembered");
        assert!(started.start(ids[899]), "the one before them is forgotten, so it starts again");
    }
}
