//! The embedded adapter of [`EventLog`]: a durable segment log in a local directory,
//! hookline's store when no Kafka is configured.
//!
//! Consumes: a data directory it owns alone (a lock file keeps out a second live log,
//! in this or another process). Produces: Kafka-like topics, partitions, offsets and
//! consumer groups. Guarantees: `append` answers only after its records are written
//! and fsynced (concurrent appends share fsyncs through one writer thread); a crash
//! loses no acknowledged record, and a torn tail (the end of the newest segment, with
//! no intact record after the damage) is cut on the next open; any other damage makes
//! `open` fail with [`LogError::Corrupt`], naming the file and byte, until [`repair`]
//! moves the damaged part aside (to `<dir>/damaged/`, never deleted); a key maps
//! to the same partition as with Kafka's default partitioner ([`partition_for_key`]);
//! one live consumer per group, assigned every partition of its topics.
//!
//! Layout: `<dir>/topics/<topic>/meta.json`, `<dir>/topics/<topic>/<partition>/<base-offset:020>.log`,
//! `<dir>/groups/<group>.json`, `<dir>/lock`, `<dir>/damaged/<topic>/<partition>/` (what a repair moved aside).

mod consumer;
mod dir_lock;
mod frame;
mod fsutil;
mod groups;
mod murmur2;
mod partition;
mod read;
mod repair;
mod retention;
mod segment;
mod syncer;
mod tails;
mod topic;
mod writer;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{oneshot, Notify};

use self::consumer::EmbeddedConsumer;
use self::dir_lock::DirLock;
use self::groups::GroupStore;
pub use self::murmur2::{murmur2, partition_for_key};
use self::partition::Limits;
pub use self::repair::{repair, Repaired, DAMAGED_DIR};
use self::topic::Topic;
use self::writer::{AppendRequest, PendingRecord, Writer};
use crate::{Appended, Consumer, ConsumerSpec, EventLog, LogError, NewRecord, Record, TopicPartition, TopicSpec};

/// The largest record size limit accepted (frame lengths are 32-bit).
const MAX_RECORD_LIMIT: usize = 1 << 30;

/// Tuning of the embedded log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmbeddedOptions {
    /// A segment is closed and a new one started once it would pass this size (or,
    /// in a topic with a time retention, once its first record is a quarter of the
    /// retention old).
    pub segment_bytes: u64,
    /// Size retention of every partition of the topics that have a time retention
    /// (topics kept for ever are never cut): on each segment roll and each periodic
    /// check, the oldest closed segments are deleted until the partition's segments
    /// plus one more full segment fit in this many bytes, so that a partition's
    /// files never pass it. The active segment is never deleted. `None`: by time only.
    pub retention_bytes: Option<u64>,
    /// Bytes of recent records kept decoded in memory, all partitions together, so
    /// that consumers keeping up with the writers read no file. The newest records
    /// stay, whichever partitions they are in, for ten seconds at most.
    pub tail_bytes: usize,
    /// The largest encoded record (key, headers, value and framing) accepted.
    pub max_record_bytes: usize,
    /// While appends keep coming, a write batch (one fsync per file it touches) starts
    /// at most this often; an append to an idle log is written at once. Longer: fewer
    /// fsyncs per record under load, for appends that wait up to this much longer.
    pub batch_window: Duration,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        Self {
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            retention_bytes: None,
            tail_bytes: DEFAULT_TAIL_BYTES,
            max_record_bytes: 8 << 20,
            batch_window: Duration::from_millis(2),
        }
    }
}

/// The default of [`EmbeddedOptions::segment_bytes`].
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;
/// The default of [`EmbeddedOptions::tail_bytes`].
pub const DEFAULT_TAIL_BYTES: usize = 32 << 20;

impl EmbeddedOptions {
    fn validate(&self) -> Result<(), LogError> {
        if self.segment_bytes == 0 {
            return Err(LogError::Invalid("segment_bytes must be above 0".into()));
        }
        if let Some(retention_bytes) = self.retention_bytes {
            if retention_bytes < 2 * self.segment_bytes {
                return Err(LogError::Invalid(format!(
                    "retention_bytes ({retention_bytes}) must be at least two segments ({} bytes)",
                    2 * self.segment_bytes
                )));
            }
        }
        if self.max_record_bytes == 0 || self.max_record_bytes > MAX_RECORD_LIMIT {
            return Err(LogError::Invalid(format!("max_record_bytes must be within 1..={MAX_RECORD_LIMIT}")));
        }
        Ok(())
    }

    /// What each partition of a topic with this time retention keeps.
    fn limits(&self, retention: Option<Duration>) -> Limits {
        Limits { retention, retention_bytes: retention.and(self.retention_bytes) }
    }
}

/// The topics by name, shared with the retention task.
pub(crate) type Topics = Arc<RwLock<HashMap<String, Arc<Topic>>>>;

/// What the log and its consumers share. The retention task holds the topics only, so
/// that dropping the log and its consumers releases the directory at once.
pub(crate) struct Shared {
    topics_dir: std::path::PathBuf,
    options: EmbeddedOptions,
    topics: Topics,
    /// Serializes topic creation.
    creating: Mutex<()>,
    groups: GroupStore,
    /// Fired when a topic is created (the retention task may need to check sooner).
    topics_changed: Arc<Notify>,
    /// Groups that have a live consumer.
    live_groups: Mutex<HashSet<String>>,
    /// Released only when the log and all its consumers are gone.
    _lock: DirLock,
}

impl Shared {
    fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics.read().unwrap_or_else(PoisonError::into_inner).get(name).cloned()
    }

    fn join_group(&self, group: &str) -> Result<(), LogError> {
        let mut live = self.live_groups.lock().unwrap_or_else(PoisonError::into_inner);
        if !live.insert(group.to_string()) {
            return Err(LogError::Invalid(format!(
                "consumer group {group} already has a live consumer; the embedded log allows one per group \
                 (drop the other consumer first)"
            )));
        }
        Ok(())
    }

    fn leave_group(&self, group: &str) {
        self.live_groups.lock().unwrap_or_else(PoisonError::into_inner).remove(group);
    }

    fn create_topics(&self, specs: &[TopicSpec]) -> Result<(), LogError> {
        let _creating = self.creating.lock().unwrap_or_else(PoisonError::into_inner);
        for spec in specs {
            if let Some(topic) = self.topic(&spec.name) {
                // One process owns the embedded log: its configuration is the truth.
                if topic.retention() != spec.retention {
                    topic.set_retention(&self.topics_dir.join(&spec.name), spec.retention, &self.options)?;
                    tracing::info!(topic = spec.name, retention = ?spec.retention, "changed the retention of a topic");
                    self.topics_changed.notify_one();
                }
                continue;
            }
            let topic = Arc::new(Topic::create(&self.topics_dir, spec, &self.options)?);
            tracing::info!(topic = spec.name, partitions = spec.partitions, "created topic");
            self.topics.write().unwrap_or_else(PoisonError::into_inner).insert(spec.name.clone(), topic);
            self.topics_changed.notify_one();
        }
        Ok(())
    }
}

/// The embedded log. Dropping it finishes the write in progress and stops the
/// background retention task; the directory stays locked until its consumers are
/// dropped too.
pub struct EmbeddedLog {
    // Field order is drop order: the writer thread is joined first.
    writer: Writer,
    _stop_retention: Option<oneshot::Sender<()>>,
    shared: Arc<Shared>,
}

impl EmbeddedLog {
    /// Opens (creating if needed) the log in `dir`, recovering every partition. Blocks
    /// on file I/O: call it at start-up or from a blocking thread. Periodic retention
    /// checks run when called inside a tokio runtime; segment rolls check it anyway.
    pub fn open(dir: &Path, options: EmbeddedOptions) -> Result<Arc<EmbeddedLog>, LogError> {
        options.validate()?;
        let topics_dir = dir.join("topics");
        let groups_dir = dir.join("groups");
        std::fs::create_dir_all(&topics_dir)?;
        std::fs::create_dir_all(&groups_dir)?;
        let lock = DirLock::acquire(dir)?;
        let topics = topic::open_all(&topics_dir, &options)?;
        let groups = GroupStore::open(groups_dir)?;
        let writer = Writer::start(options.segment_bytes, options.batch_window, options.tail_bytes)?;
        let shared = Arc::new(Shared {
            topics_dir,
            options,
            topics: Arc::new(RwLock::new(topics)),
            creating: Mutex::new(()),
            groups,
            topics_changed: Arc::new(Notify::new()),
            live_groups: Mutex::new(HashSet::new()),
            _lock: lock,
        });
        let stop_retention = match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let (stop, stopped) = oneshot::channel();
                let (topics, topics_changed) = (shared.topics.clone(), shared.topics_changed.clone());
                let segment_bytes = shared.options.segment_bytes;
                runtime.spawn(retention::run_periodic(topics, segment_bytes, topics_changed, stopped));
                Some(stop)
            }
            Err(_) => {
                tracing::warn!(
                    "embedded log opened outside a tokio runtime: retention is checked on segment roll only"
                );
                None
            }
        };
        Ok(Arc::new(EmbeddedLog { writer, _stop_retention: stop_retention, shared }))
    }

    fn topic(&self, name: &str) -> Result<Arc<Topic>, LogError> {
        self.shared.topic(name).ok_or_else(|| LogError::UnknownTopic(name.to_string()))
    }
}

#[async_trait]
impl EventLog for EmbeddedLog {
    async fn ensure_topics(&self, topics: &[TopicSpec]) -> Result<(), LogError> {
        topics.iter().try_for_each(topic::validate_spec)?;
        let as_specified =
            |spec: &TopicSpec| self.shared.topic(&spec.name).is_some_and(|topic| topic.retention() == spec.retention);
        if topics.iter().all(as_specified) {
            return Ok(());
        }
        let shared = self.shared.clone();
        let specs = topics.to_vec();
        tokio::task::spawn_blocking(move || shared.create_topics(&specs))
            .await
            .map_err(|e| LogError::Unavailable(format!("topic creation task failed: {e}")))?
    }

    async fn missing_topics(&self, topics: &[String]) -> Result<Vec<String>, LogError> {
        Ok(topics.iter().filter(|name| self.shared.topic(name).is_none()).cloned().collect())
    }

    async fn append(&self, records: Vec<NewRecord>) -> Result<Vec<Appended>, LogError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let limit = self.shared.options.max_record_bytes;
        let mut pending = Vec::with_capacity(records.len());
        for record in records {
            let topic = self.topic(&record.topic)?;
            let size = frame::frame_len(&record);
            if size > limit {
                return Err(LogError::TooLarge { size, limit });
            }
            let index = partition_for_key(&record.key, topic.partitions.len() as u32) as usize;
            let partition = topic.partitions[index].clone();
            pending.push(PendingRecord { partition, frame: frame::encode(&record), record });
        }
        let (reply, answer) = oneshot::channel();
        self.writer.submit(AppendRequest { records: pending, reply })?;
        answer.await.map_err(|_| LogError::Closed)?
    }

    async fn consumer(&self, spec: ConsumerSpec) -> Result<Arc<dyn Consumer>, LogError> {
        Ok(Arc::new(EmbeddedConsumer::start(self.shared.clone(), spec)?))
    }

    async fn end_offsets(&self, topic: &str) -> Result<Vec<(u32, u64)>, LogError> {
        Ok(self.topic(topic)?.partitions.iter().map(|p| (p.id, p.end_offset())).collect())
    }

    async fn committed_offsets(&self, group: &str, topic: &str) -> Result<Vec<(u32, u64)>, LogError> {
        self.topic(topic)?;
        let committed = self.shared.groups.committed(group);
        Ok(committed.into_iter().filter(|(tp, _)| tp.topic == topic).map(|(tp, next)| (tp.partition, next)).collect())
    }

    async fn retention(&self, topic: &str) -> Result<Option<Duration>, LogError> {
        Ok(self.topic(topic)?.partitions.first().and_then(|p| p.limits().retention))
    }

    async fn read(&self, tp: &TopicPartition, offset: u64) -> Result<Option<Record>, LogError> {
        let topic = self.topic(&tp.topic)?;
        let Some(partition) = topic.partitions.get(tp.partition as usize).cloned() else {
            return Err(LogError::Invalid(format!("{tp} does not exist")));
        };
        if let Some(recent) = partition.read_recent(offset, 1) {
            return Ok(recent.into_iter().next());
        }
        tokio::task::spawn_blocking(move || partition.read_from_disk(offset, 1))
            .await
            .map_err(|e| LogError::Unavailable(format!("read task failed: {e}")))?
            // Past a deleted segment the read moves on to the next record retained.
            .map(|records| records.into_iter().next().filter(|record| record.offset == offset))
    }

    fn max_record_bytes(&self) -> usize {
        self.shared.options.max_record_bytes
    }

    fn record_bytes(&self, record: &NewRecord) -> usize {
        frame::frame_len(record)
    }
}
