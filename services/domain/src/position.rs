//! Where a record lives in the log.

use serde::{Deserialize, Serialize};

/// A record's place in the log: its topic, partition and offset. A view keeps this
/// instead of a copy of what the record holds (a task's payload), and reads the record
/// back from the log when it needs it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LogPosition {
    pub topic: String,
    pub partition: u32,
    pub offset: u64,
}

impl std::fmt::Display for LogPosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}@{}", self.topic, self.partition, self.offset)
    }
}
