//! What a task row holds (the task, and where its payload is in the log), and what a
//! replay row holds.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hookline_domain::{LogPosition, TaskView};
use serde::{Deserialize, Serialize};

use super::schema::expiry_ms;
use crate::{ReplayOutcomes, ReplayRecords};

/// Where a task's payload is, and the time its retention counts from: its acceptance
/// for the TaskAccepted, its failure for a dead letter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct PayloadAt {
    pub since: DateTime<Utc>,
    pub position: LogPosition,
}

/// A task row's value. The position lives in the task's row, not a table of its own,
/// so that a task costs one row and one expiry entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct StoredTask {
    pub view: TaskView,
    pub payload: Option<PayloadAt>,
}

impl StoredTask {
    /// Folds in another record of the same task; order-insensitive and idempotent: the
    /// views merge, and the payload position retained longest wins.
    pub fn merge(self, other: StoredTask) -> StoredTask {
        let rank = |p: &PayloadAt| (p.since, p.position.topic.clone(), p.position.partition, p.position.offset);
        let payload = match (self.payload, other.payload) {
            (Some(a), Some(b)) => Some(if rank(&b) > rank(&a) { b } else { a }),
            (a, b) => a.or(b),
        };
        StoredTask { view: self.view.merge(other.view), payload }
    }

    /// When the row may go: once neither the task nor its payload position is shown.
    pub fn expiry_ms(&self, ttl: Duration) -> u64 {
        let last = self.payload.as_ref().map_or(self.view.last_activity(), |p| p.since.max(self.view.last_activity()));
        expiry_ms(last, ttl)
    }

    /// The payload's position while it is retained at `now_ms`.
    pub fn payload_position(self, ttl: Duration, now_ms: u64) -> Option<LogPosition> {
        self.payload.filter(|p| expiry_ms(p.since, ttl) > now_ms).map(|p| p.position)
    }
}

/// A replay row's value: its records, folded, and the outcomes of its tasks, counted
/// as `replay_tasks` learns them. A row may exist before the request is folded.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct StoredReplay {
    pub records: ReplayRecords,
    pub outcomes: ReplayOutcomes,
    /// The latest attempt counted: what a row holding only attempts (its records not
    /// folded yet) expires by.
    pub last_attempt_at: Option<DateTime<Utc>>,
}

impl StoredReplay {
    /// When the row may go: the retention after the replay's latest activity.
    pub fn expiry_ms(&self, ttl: Duration) -> u64 {
        match self.records.last_activity().or(self.last_attempt_at) {
            Some(last) => expiry_ms(last, ttl),
            None => 0,
        }
    }
}
