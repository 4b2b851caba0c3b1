//! Ordering per key: a subscription with `ordering: "key"` gets the tasks that carry
//! the same ordering key one at a time, in the order they were accepted.
//!
//! The tasks of one subscription and one key form a **line**, ordered by the place
//! of each task's first `TaskAccepted` in `hookline.deliveries` (all of a
//! subscription's records are in one partition, so that place is its acceptance
//! order; a copy of a task appended again later keeps the task's first place). A
//! task's first attempt waits until the task just before it in its line has
//! **ended**: succeeded, or failed for good (dead-lettered). By induction, the task
//! before it could only start once the one before that had ended, so one look at
//! the task just ahead is enough. Tasks without a key, and the tasks of an unordered
//! subscription, have no line.
//!
//! The views keep each task's place in its line and the status of every task
//! (`ViewStore::line_place`); the rule of whose turn it is lives here.

use serde::{Deserialize, Serialize};

use crate::ids::TaskId;

/// How a subscription orders its deliveries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderingMode {
    /// Every task is attempted as soon as it can be, concurrently (the default).
    #[default]
    None,
    /// The tasks carrying the same ordering key are delivered one at a time, in
    /// acceptance order; tasks without a key are unordered.
    Key,
}

impl OrderingMode {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderingMode::None => "none",
            OrderingMode::Key => "key",
        }
    }

    /// The mode a client names, if it is one.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "none" => Some(OrderingMode::None),
            "key" => Some(OrderingMode::Key),
            _ => None,
        }
    }

    /// Whether the subscription keeps the default (so that events leave the field out).
    pub fn is_none(&self) -> bool {
        *self == OrderingMode::None
    }
}

/// Where a task stands in its line, as the views know it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinePlace {
    /// The views hold no place for the task: its `TaskAccepted` is not folded yet
    /// (or it has passed the retention).
    Unknown,
    /// The task itself has ended (succeeded, or failed for good).
    Ended,
    /// No task of its line is before it.
    First,
    /// `ahead` is the task just before it in its line; `ended`: whether that one has ended.
    Behind { ahead: TaskId, ended: bool },
}

/// What a task's first attempt does, given its place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Turn {
    /// Its turn: attempt it.
    Go,
    /// The task has ended already: this record of it is done without an attempt.
    Done,
    /// Not yet: it waits for `TaskId` to end.
    WaitFor(TaskId),
    /// The views do not know its place yet: ask again shortly.
    AskAgain,
}

impl LinePlace {
    /// Whose turn it is. `ended_here` says whether a task is known to have ended
    /// although the views may not show it yet (its outcome is durable in the log and
    /// was seen by the one asking): the views fold outcomes a little later, and a
    /// line should not wait for that.
    pub fn turn(self, ended_here: impl Fn(TaskId) -> bool) -> Turn {
        match self {
            LinePlace::Unknown => Turn::AskAgain,
            LinePlace::Ended => Turn::Done,
            LinePlace::First | LinePlace::Behind { ended: true, .. } => Turn::Go,
            LinePlace::Behind { ahead, ended: false } if ended_here(ahead) => Turn::Go,
            LinePlace::Behind { ahead, ended: false } => Turn::WaitFor(ahead),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_have_the_names_clients_use() {
        for mode in [OrderingMode::None, OrderingMode::Key] {
            assert_eq!(OrderingMode::parse(mode.as_str()), Some(mode));
            assert_eq!(serde_json::to_value(mode).unwrap(), mode.as_str());
        }
        assert_eq!(OrderingMode::parse("fifo"), None);
        assert_eq!(OrderingMode::default(), OrderingMode::None);
    }

    #[test]
    fn a_task_goes_once_the_one_ahead_ended() {
        let ahead = TaskId::new();
        let nowhere = |_| false;
        assert_eq!(LinePlace::Unknown.turn(nowhere), Turn::AskAgain);
        assert_eq!(LinePlace::Ended.turn(nowhere), Turn::Done);
        assert_eq!(LinePlace::First.turn(nowhere), Turn::Go);
        assert_eq!(LinePlace::Behind { ahead, ended: true }.turn(nowhere), Turn::Go);
        assert_eq!(LinePlace::Behind { ahead, ended: false }.turn(nowhere), Turn::WaitFor(ahead));
        // Ended where the one asking saw it, not yet in the views.
        assert_eq!(LinePlace::Behind { ahead, ended: false }.turn(|id| id == ahead), Turn::Go);
        assert_eq!(LinePlace::Behind { ahead, ended: false }.turn(|id| id != ahead), Turn::WaitFor(ahead));
    }
}
