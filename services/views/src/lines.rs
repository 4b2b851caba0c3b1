//! The lines of ordering per key, as the views keep them: each keyed task's place,
//! read by the delivery role to decide whose turn it is (see
//! `hookline_domain::ordering` and [`crate::ViewStore::line_place`]).

use chrono::{DateTime, Utc};
use hookline_domain::{LogPosition, SubscriptionId, TaskId};

/// A keyed task's place in the line of its subscription and ordering key: where its
/// TaskAccepted is in the log (a copy appended later has a later place; the task
/// keeps its first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineEntry {
    pub subscription_id: SubscriptionId,
    pub ordering_key: String,
    pub task_id: TaskId,
    /// When the task was accepted: the entry is kept for the retention from then.
    pub accepted_at: DateTime<Utc>,
    /// Where its TaskAccepted is in `hookline.deliveries`.
    pub position: LogPosition,
}

impl LineEntry {
    /// The order of places in a line: by partition, then offset (a subscription's
    /// records are in one partition; the partition only matters if the topic was
    /// given more partitions since).
    pub fn place(&self) -> (u32, u64) {
        (self.position.partition, self.position.offset)
    }
}
