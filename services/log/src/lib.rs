//! The `EventLog` port: an append-only, partitioned, durable log with Kafka's
//! semantics (topics, keys, headers, partitions, offsets, consumer groups,
//! pause/resume, commit), and its embedded adapter.
//!
//! Consumes: records appended by the roles. Produces: the same records, in order per
//! partition, to consumers. Guarantees: `append` returns only when every record is
//! durable; records with the same key land in the same partition, in append order;
//! a consumer group resumes after its last committed offset.
//!
//! Every adapter must pass [`conformance`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub mod conformance;
pub mod consume;
pub mod embedded;
pub mod namespace;

/// A topic and one of its partitions.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: u32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: u32) -> Self {
        Self { topic: topic.into(), partition }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.topic, self.partition)
    }
}

/// A record header: a name and opaque bytes.
pub type Header = (String, Vec<u8>);

/// A record to append. The partition is chosen from the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRecord {
    pub topic: String,
    pub key: Vec<u8>,
    pub headers: Vec<Header>,
    pub value: Vec<u8>,
}

/// A record read back from the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub topic: String,
    pub partition: u32,
    pub offset: u64,
    /// Milliseconds since the Unix epoch at which the log accepted the record.
    pub timestamp_ms: i64,
    pub key: Vec<u8>,
    pub headers: Vec<Header>,
    pub value: Vec<u8>,
}

impl Record {
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition::new(self.topic.clone(), self.partition)
    }

    /// The first header with this name.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_slice())
    }
}

/// Where an appended record landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    pub partition: u32,
    pub offset: u64,
}

/// How a topic is to be created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: u32,
    /// How long records are kept; `None` keeps them for ever.
    pub retention: Option<Duration>,
}

/// Where a consumer starts in a partition for which its group has no committed offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartFrom {
    Earliest,
    Latest,
}

/// What a consumer reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerSpec {
    /// The consumer group; `None` reads without a group (nothing to commit, nothing shared).
    pub group: Option<String>,
    pub topics: Vec<String>,
    pub start: StartFrom,
}

/// Errors of the log, each able to say whether trying again may help.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("topic {0} does not exist")]
    UnknownTopic(String),
    #[error("log unavailable: {0}")]
    Unavailable(String),
    #[error("record too large: {size} bytes (limit {limit})")]
    TooLarge { size: usize, limit: usize },
    #[error("log i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("log data corrupt: {0}")]
    Corrupt(String),
    #[error("log closed")]
    Closed,
    #[error("invalid use of the log: {0}")]
    Invalid(String),
}

impl LogError {
    /// Whether the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, LogError::Unavailable(_) | LogError::Io(_))
    }
}

/// The log.
#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// Creates the topics that do not exist yet. Existing topics keep their partitions;
    /// the embedded adapter, whose one process owns the log, also gives them the spec's
    /// retention, while a shared log (Kafka) leaves that to its operators.
    async fn ensure_topics(&self, topics: &[TopicSpec]) -> Result<(), LogError>;

    /// Those of the named topics that do not exist.
    async fn missing_topics(&self, topics: &[String]) -> Result<Vec<String>, LogError>;

    /// Fails with [`LogError::UnknownTopic`], naming them, when any of the topics a role
    /// writes to does not exist: a role finds out at start, not at its first append.
    async fn require_topics(&self, topics: &[String]) -> Result<(), LogError> {
        let missing = self.missing_topics(topics).await?;
        if missing.is_empty() {
            Ok(())
        } else {
            Err(LogError::UnknownTopic(missing.join(", ")))
        }
    }

    /// Appends records; returns, in the same order, where each landed, only once every
    /// one of them is durable. Records of one call with the same key keep their order.
    async fn append(&self, records: Vec<NewRecord>) -> Result<Vec<Appended>, LogError>;

    /// Starts a consumer.
    async fn consumer(&self, spec: ConsumerSpec) -> Result<Arc<dyn Consumer>, LogError>;

    /// The next offset to be written in each partition of `topic` (the high watermark).
    async fn end_offsets(&self, topic: &str) -> Result<Vec<(u32, u64)>, LogError>;

    /// The offsets `group` has committed in the partitions of `topic` (the next offset
    /// it will read), for the partitions where it has committed any; `[]` for a group
    /// that never committed there. Read without joining the group, so that a process
    /// can tell how far another process's consumers are (a backlog is the end offset
    /// minus this).
    async fn committed_offsets(&self, group: &str, topic: &str) -> Result<Vec<(u32, u64)>, LogError>;

    /// How long `topic` keeps its records (`None`: for ever), as the log holds it now,
    /// whatever it was created with.
    async fn retention(&self, topic: &str) -> Result<Option<Duration>, LogError>;

    /// The record at `offset` of `tp`; `None` when the log does not hold it (deleted by
    /// retention, or not written yet). This is how a view that keeps a record's position
    /// instead of a copy gets the record back.
    async fn read(&self, tp: &TopicPartition, offset: u64) -> Result<Option<Record>, LogError>;

    /// The largest record the log takes, as [`EventLog::record_bytes`] counts it; an
    /// append of a larger one fails with [`LogError::TooLarge`].
    fn max_record_bytes(&self) -> usize;

    /// The size `record` counts for against [`EventLog::max_record_bytes`]: its key,
    /// value and headers plus the log's own framing.
    fn record_bytes(&self, record: &NewRecord) -> usize;
}

/// Whether the log takes `record` as far as its size goes.
pub fn fits(log: &dyn EventLog, record: &NewRecord) -> bool {
    log.record_bytes(record) <= log.max_record_bytes()
}

/// A consumer. Methods take `&self` so that one task can poll while others commit.
#[async_trait]
pub trait Consumer: Send + Sync {
    /// Waits up to `timeout` for records and returns at most `max` of them (empty on
    /// timeout), in offset order per partition. Cancel-safe: dropping the future loses
    /// no record.
    async fn poll(&self, max: usize, timeout: Duration) -> Result<Vec<Record>, LogError>;

    /// Stops returning records of `tp` until [`Consumer::resume`]; the next record
    /// returned after resuming is the one after the last record already returned.
    fn pause(&self, tp: &TopicPartition) -> Result<(), LogError>;

    fn resume(&self, tp: &TopicPartition) -> Result<(), LogError>;

    /// Durably records, for the group, that every record before `next_offset` is done.
    /// Committing a partition no longer assigned is not an error (it is ignored).
    async fn commit(&self, offsets: &[(TopicPartition, u64)]) -> Result<(), LogError>;

    /// The partitions currently assigned to this consumer.
    fn assignment(&self) -> Vec<TopicPartition>;
}
