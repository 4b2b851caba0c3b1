//! One partition: its segments, its in-memory tail of recent records, and its high
//! watermark. Opening a partition recovers it after a crash.

use std::collections::VecDeque;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use super::fsutil::sync_dir;
use super::segment::{intact_frames, list_segment_files, ScanEnd, Segment};
use crate::{LogError, Record, TopicPartition};

/// Segments whose bodies are CRC-checked on open: the active one, which a crash can
/// tear, and the one before it. Older ones are checked for lengths and offsets only
/// (their records are CRC-checked when read).
const VERIFIED_TAIL_SEGMENTS: usize = 2;

/// What a partition keeps, on disk and in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Closed segments whose newest record is older than this are deleted.
    pub retention: Option<Duration>,
    /// The oldest closed segments are deleted so that the partition's files stay
    /// within this many bytes.
    pub retention_bytes: Option<u64>,
}

impl Limits {
    /// How old the active segment's first record may get before the segment is
    /// closed: a quarter of the time retention, so that a segment past its retention
    /// is deleted soon after, whatever the segment size.
    pub fn roll_age(&self) -> Option<Duration> {
        self.retention.map(|retention| retention / 4)
    }
}

pub(crate) struct Partition {
    pub topic: String,
    pub id: u32,
    pub dir: PathBuf,
    /// Changed only when a topic is ensured again with another retention.
    limits: Mutex<Limits>,
    state: Mutex<PartitionState>,
    /// The next offset to be written, published once records are durable and readable.
    high_watermark: watch::Sender<u64>,
}

pub(crate) struct PartitionState {
    /// Ascending by base offset, never empty; the last one is the active segment.
    pub segments: Vec<Segment>,
    pub tail: Tail,
    /// Set when a failed write could not be undone: appends are refused from then on.
    pub failure: Option<String>,
}

/// The most recent records, contiguous and ending at the high watermark, so that
/// consumers keeping up with the writers never touch the disk. How long records stay
/// is decided for all partitions together (see `tails.rs`).
pub(crate) struct Tail {
    records: VecDeque<Record>,
    /// Offset of the first record held (the high watermark when empty).
    start: u64,
}

impl Tail {
    fn starting_at(offset: u64) -> Tail {
        Tail { records: VecDeque::new(), start: offset }
    }

    pub fn push(&mut self, record: Record) {
        self.records.push_back(record);
    }

    /// Drops the records before `offset`.
    pub fn drop_before(&mut self, offset: u64) {
        while self.records.front().is_some_and(|r| r.offset < offset) {
            self.records.pop_front();
        }
        self.start = self.start.max(offset);
        // A burst may have grown the queue far beyond what it holds now.
        if self.records.capacity() > 2 * self.records.len().max(MIN_TAIL_SLOTS) {
            self.records.shrink_to(self.records.len().max(MIN_TAIL_SLOTS));
        }
    }

    /// Up to `max` records from `from`, or `None` if `from` is older than the tail.
    pub fn read(&self, from: u64, max: usize) -> Option<Vec<Record>> {
        let skip = usize::try_from(from.checked_sub(self.start)?).ok()?;
        Some(self.records.iter().skip(skip).take(max).cloned().collect())
    }
}

/// Slots a tail keeps allocated however small it gets.
const MIN_TAIL_SLOTS: usize = 64;

/// The heap a record takes, with the allocations of its strings and vectors.
pub(crate) fn approximate_size(record: &Record) -> usize {
    let headers: usize = record.headers.iter().map(|(name, value)| name.len() + value.len() + 48).sum();
    record.key.len() + record.value.len() + headers + 128
}

impl Partition {
    /// Creates the directory and the first segment of a new partition.
    pub fn create(topic: &str, id: u32, dir: PathBuf, limits: Limits) -> Result<Partition, LogError> {
        std::fs::create_dir_all(&dir)?;
        let segment = Segment::create(&dir, 0)?;
        segment.file.sync_all()?;
        sync_dir(&dir)?;
        Ok(Self::with_segments(topic, id, dir, limits, vec![segment]))
    }

    /// Opens an existing partition. A torn tail (a last write a crash cut short: damage
    /// at the end of the newest segment holding records, with no intact record after
    /// it) is cut, as it was never acknowledged. Any other damage is refused with
    /// [`LogError::Corrupt`] naming the file and the byte, and left as it is for
    /// [`super::repair`]: cutting it would drop acknowledged records.
    pub fn open(topic: &str, id: u32, dir: PathBuf, limits: Limits) -> Result<Partition, LogError> {
        let files = list_segment_files(&dir)?;
        if files.is_empty() {
            tracing::warn!(topic, partition = id, "partition has no segment, starting it empty");
            return Self::create(topic, id, dir, limits);
        }
        let mut sizes = Vec::with_capacity(files.len());
        for (_, path) in &files {
            sizes.push(std::fs::metadata(path)?.len());
        }
        // The newest segment holding records: a crash can only tear the end of that one.
        let newest_with_records = sizes.iter().rposition(|&size| size > 0).unwrap_or(0);
        let verified_from = files.len().saturating_sub(VERIFIED_TAIL_SEGMENTS).min(newest_with_records);
        let mut segments: Vec<Segment> = Vec::with_capacity(files.len());
        for (index, (base, path)) in files.iter().enumerate() {
            let (segment, end) = Segment::scan(path.clone(), *base, index >= verified_from)?;
            if let ScanEnd::Bad { position, reason } = end {
                let torn_tail = index == newest_with_records && !intact_after(&segment, position)?;
                if !torn_tail {
                    return Err(LogError::Corrupt(format!(
                        "{} is damaged at byte {position}, where the record at offset {} of {topic}/{id} should \
                         start ({reason}), and records follow the damage",
                        path.display(),
                        segment.next_offset,
                    )));
                }
                let empty_after: Vec<PathBuf> = files[index + 1..].iter().map(|(_, path)| path.clone()).collect();
                cut_torn_tail(&dir, &segment, position, &reason, &empty_after)?;
                segments.push(segment);
                break;
            }
            segments.push(segment);
        }
        Ok(Self::with_segments(topic, id, dir, limits, segments))
    }

    fn with_segments(topic: &str, id: u32, dir: PathBuf, limits: Limits, segments: Vec<Segment>) -> Partition {
        let end = segments.last().map_or(0, |s| s.next_offset);
        let tail = Tail::starting_at(end);
        Partition {
            topic: topic.to_string(),
            id,
            dir,
            limits: Mutex::new(limits),
            state: Mutex::new(PartitionState { segments, tail, failure: None }),
            high_watermark: watch::Sender::new(end),
        }
    }

    pub fn limits(&self) -> Limits {
        *self.limits.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn set_limits(&self, limits: Limits) {
        *self.limits.lock().unwrap_or_else(PoisonError::into_inner) = limits;
    }

    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition::new(self.topic.clone(), self.id)
    }

    pub fn lock(&self) -> MutexGuard<'_, PartitionState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next offset to be written.
    pub fn end_offset(&self) -> u64 {
        *self.high_watermark.borrow()
    }

    /// The first offset still retained.
    pub fn log_start(&self) -> u64 {
        self.lock().segments.first().map_or(0, |s| s.base_offset)
    }

    /// A receiver that sees every later change of the high watermark.
    pub fn watch_end(&self) -> watch::Receiver<u64> {
        self.high_watermark.subscribe()
    }

    /// Makes records up to `end` visible to readers and wakes waiting consumers.
    pub fn publish_end(&self, end: u64) {
        self.high_watermark.send_replace(end);
    }
}

/// Whether an intact record follows the damage at `position` of `segment`.
fn intact_after(segment: &Segment, position: u64) -> Result<bool, LogError> {
    let len = segment.file.metadata()?.len();
    let mut rest = vec![0; usize::try_from(len - position).unwrap_or(usize::MAX)];
    segment.file.read_exact_at(&mut rest, position)?;
    // The damaged frame itself may still parse: look past its first byte.
    Ok(!intact_frames(rest.get(1..).unwrap_or_default(), segment.next_offset).is_empty())
}

/// Truncates the newest segment at a torn frame, and removes the empty segments after
/// it (created by the roll of that same unacknowledged write), so offsets go on from
/// the last intact record.
fn cut_torn_tail(
    dir: &Path,
    segment: &Segment,
    position: u64,
    reason: &str,
    empty: &[PathBuf],
) -> Result<(), LogError> {
    let file_len = segment.file.metadata()?.len();
    tracing::info!(
        segment = %segment.path.display(),
        position,
        cut_bytes = file_len - position,
        reason,
        "cutting a torn tail left by a crash (never acknowledged)"
    );
    segment.file.set_len(position)?;
    segment.file.sync_all()?;
    for path in empty {
        std::fs::remove_file(path)?;
    }
    if !empty.is_empty() {
        sync_dir(dir)?;
    }
    Ok(())
}

/// A record of `value_bytes` at `offset`, for the tests of tails.
#[cfg(test)]
pub(crate) fn test_record(offset: u64, value_bytes: usize) -> Record {
    Record {
        topic: "t".into(),
        partition: 0,
        offset,
        timestamp_ms: 0,
        key: b"k".to_vec(),
        headers: Vec::new(),
        value: vec![b'x'; value_bytes],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tail_reads_what_it_still_holds_and_gives_back_its_slots() {
        let mut tail = Tail::starting_at(0);
        (0..10_000).for_each(|offset| tail.push(test_record(offset, 100)));
        tail.drop_before(9_990);
        assert!(tail.records.capacity() <= 2 * MIN_TAIL_SLOTS, "{} slots kept", tail.records.capacity());
        assert_eq!(tail.read(9_989, 10), None, "dropped records are read from disk");
        let newest = tail.read(9_995, 100).expect("recent records are in memory");
        assert_eq!(newest.iter().map(|r| r.offset).collect::<Vec<_>>(), (9_995..10_000).collect::<Vec<_>>());
        assert_eq!(tail.read(10_000, 10), Some(Vec::new()), "nothing past the end yet");
        tail.drop_before(10_000);
        assert_eq!(tail.read(10_000, 10), Some(Vec::new()), "an empty tail starts at the end");
    }
}
