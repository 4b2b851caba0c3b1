//! The single writer thread, with group commit: it drains every pending append
//! request, writes them all, fsyncs each touched file once, publishes the new high
//! watermarks, then answers every waiter. A failed batch is undone on disk and every
//! request in it fails, so no caller is told about records that may not be there.
//!
//! While appends keep coming, a batch starts at most once per batch window: quick
//! fsyncs would otherwise make batches of a record or two, and the fsyncs alone would
//! take a core. An append to an idle log is written at once.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::oneshot;

use super::frame::{self, FrameHead};
use super::fsutil::sync_dir;
use super::partition::{approximate_size, Partition};
use super::segment::Segment;
use super::syncer::{SyncTarget, Syncer};
use super::tails::TailBudget;
use crate::{Appended, LogError, NewRecord, Record};

/// Bytes of records one batch takes at most before it is written.
const MAX_BATCH_BYTES: usize = 16 << 20;

/// One `append` call.
pub(crate) struct AppendRequest {
    pub records: Vec<PendingRecord>,
    pub reply: oneshot::Sender<Result<Vec<Appended>, LogError>>,
}

/// A record with its partition chosen and its frame encoded (offset not yet set).
pub(crate) struct PendingRecord {
    pub partition: Arc<Partition>,
    pub frame: Vec<u8>,
    pub record: NewRecord,
}

/// The handle to the writer thread; dropping it lets the thread finish its batch and
/// waits for it.
pub(crate) struct Writer {
    sender: Option<mpsc::Sender<AppendRequest>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// `tail_bytes`: the memory budget of every partition's tail together.
    pub fn start(segment_bytes: u64, batch_window: Duration, tail_bytes: usize) -> Result<Writer, LogError> {
        let (sender, receiver) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("hookline-log-writer".into())
            .spawn(move || run(receiver, segment_bytes, batch_window, TailBudget::new(tail_bytes)))?;
        Ok(Writer { sender: Some(sender), thread: Some(thread) })
    }

    pub fn submit(&self, request: AppendRequest) -> Result<(), LogError> {
        let sender = self.sender.as_ref().ok_or(LogError::Closed)?;
        sender.send(request).map_err(|_| LogError::Closed)
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.sender.take();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::error!("log writer thread panicked");
            }
        }
    }
}

fn run(receiver: mpsc::Receiver<AppendRequest>, segment_bytes: u64, batch_window: Duration, mut tails: TailBudget) {
    let mut syncer = Syncer::default();
    let mut last_start: Option<Instant> = None;
    loop {
        // While idle, wake up when the oldest records in memory are due to leave it.
        let first = match tails.until_next_expiry(Instant::now()) {
            Some(wait) => match receiver.recv_timeout(wait) {
                Ok(request) => request,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    tails.trim(Instant::now());
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            },
            None => match receiver.recv() {
                Ok(request) => request,
                Err(mpsc::RecvError) => return,
            },
        };
        // Within the window of the last batch, gather until it closes; past it the log was idle.
        let window_end = last_start.map(|start| start + batch_window).filter(|end| *end > Instant::now());
        let batch = gather(&receiver, first, window_end);
        last_start = Some(Instant::now());
        write_batch(batch, segment_bytes, &mut syncer, &mut tails);
    }
}

/// `first` and the requests after it: those that come until `window_end`, then those
/// already waiting; [`MAX_BATCH_BYTES`] at most (past one request). The thread sleeps
/// through the window rather than waiting on the channel, so that appenders hand their
/// requests over without waking it, one wake-up per batch instead of one per request.
fn gather(
    receiver: &mpsc::Receiver<AppendRequest>,
    first: AppendRequest,
    window_end: Option<Instant>,
) -> Vec<AppendRequest> {
    if let Some(end) = window_end {
        std::thread::sleep(end.saturating_duration_since(Instant::now()));
    }
    let mut bytes = request_bytes(&first);
    let mut batch = vec![first];
    while bytes < MAX_BATCH_BYTES {
        let Ok(request) = receiver.try_recv() else { break };
        bytes += request_bytes(&request);
        batch.push(request);
    }
    batch
}

fn request_bytes(request: &AppendRequest) -> usize {
    request.records.iter().map(|r| r.frame.len()).sum()
}

/// Bytes headed for one segment file in this batch.
struct SegmentWrite {
    file: Arc<File>,
    /// Set when the segment was created by this batch.
    created: Option<Segment>,
    start: u64,
    buf: Vec<u8>,
    heads: Vec<(u64, FrameHead)>,
}

impl SegmentWrite {
    fn end(&self) -> u64 {
        self.start + self.buf.len() as u64
    }
}

/// What this batch does to one partition, applied to its shared state only on success.
struct PartitionWrite {
    partition: Arc<Partition>,
    next_offset: u64,
    segments: Vec<SegmentWrite>,
    recent: Vec<Record>,
    /// The active segment is old enough to be closed (see [`Limits::roll_age`]).
    ///
    /// [`Limits::roll_age`]: super::partition::Limits::roll_age
    roll_due: bool,
}

impl PartitionWrite {
    fn begin(partition: Arc<Partition>, timestamp_ms: i64) -> Result<PartitionWrite, LogError> {
        let state = partition.lock();
        if let Some(failure) = &state.failure {
            return Err(LogError::Unavailable(format!("partition {} failed: {failure}", partition.topic_partition())));
        }
        let active = state.segments.last().expect("a partition always has an active segment");
        let write = SegmentWrite {
            file: active.file.clone(),
            created: None,
            start: active.size,
            buf: Vec::new(),
            heads: Vec::new(),
        };
        let next_offset = active.next_offset;
        let roll_due = match (partition.limits().roll_age(), active.oldest_timestamp_ms) {
            (Some(age), Some(oldest)) => timestamp_ms.saturating_sub(oldest) >= age.as_millis() as i64,
            _ => false,
        };
        drop(state);
        Ok(PartitionWrite { partition, next_offset, segments: vec![write], recent: Vec::new(), roll_due })
    }

    fn add(
        &mut self,
        mut frame: Vec<u8>,
        record: NewRecord,
        timestamp_ms: i64,
        segment_bytes: u64,
    ) -> Result<Appended, LogError> {
        let current = self.segments.last().expect("begin adds a segment");
        let full = current.end() + frame.len() as u64 > segment_bytes;
        let aged = self.roll_due && self.segments.len() == 1;
        if current.end() > 0 && (full || aged) {
            let segment = Segment::create(&self.partition.dir, self.next_offset)?;
            let write = SegmentWrite {
                file: segment.file.clone(),
                created: Some(segment),
                start: 0,
                buf: Vec::new(),
                heads: Vec::new(),
            };
            self.segments.push(write);
        }
        let offset = self.next_offset;
        frame::seal(&mut frame, offset, timestamp_ms);
        let current = self.segments.last_mut().expect("begin adds a segment");
        current.heads.push((current.end(), FrameHead { len: frame.len(), offset, timestamp_ms }));
        current.buf.extend_from_slice(&frame);
        self.next_offset += 1;
        self.recent.push(Record {
            topic: record.topic,
            partition: self.partition.id,
            offset,
            timestamp_ms,
            key: record.key,
            headers: record.headers,
            value: record.value,
        });
        Ok(Appended { partition: self.partition.id, offset })
    }

    /// Writes every byte of this batch for the partition (to the page cache).
    fn write(&self) -> std::io::Result<()> {
        self.segments.iter().try_for_each(|segment| segment.file.write_all_at(&segment.buf, segment.start))
    }

    /// What must be flushed to make the written bytes durable.
    fn sync_target(&self) -> SyncTarget {
        SyncTarget {
            files: self.segments.iter().map(|segment| segment.file.clone()).collect(),
            dir: (self.segments.len() > 1).then(|| self.partition.dir.clone()),
        }
    }

    /// Puts the files back as they were before the batch.
    fn undo(&self) -> std::io::Result<()> {
        let first = &self.segments[0];
        first.file.set_len(first.start)?;
        first.file.sync_data()?;
        for segment in &self.segments[1..] {
            if let Some(created) = &segment.created {
                std::fs::remove_file(&created.path)?;
            }
        }
        sync_dir(&self.partition.dir)
    }

    /// Makes the batch visible: segments, index, tail, high watermark. Notes the
    /// records added to the tail in `tails`; says whether a segment was rolled.
    fn apply(self, tails: &mut TailBudget, now: Instant) -> bool {
        let rolled = self.segments.len() > 1;
        let tail_bytes = self.recent.iter().map(approximate_size).sum();
        let mut state = self.partition.lock();
        for segment in self.segments {
            let target = match segment.created {
                Some(created) => {
                    state.segments.push(created);
                    state.segments.last_mut().expect("just pushed")
                }
                None => state.segments.last_mut().expect("a partition always has an active segment"),
            };
            for (position, head) in segment.heads {
                target.note_record(position, head);
            }
        }
        for record in self.recent {
            state.tail.push(record);
        }
        drop(state);
        self.partition.publish_end(self.next_offset);
        tails.added(self.partition, self.next_offset, tail_bytes, now);
        rolled
    }
}

type PartitionKey = (String, u32);

fn write_batch(batch: Vec<AppendRequest>, segment_bytes: u64, syncer: &mut Syncer, tails: &mut TailBudget) {
    let timestamp_ms = now_ms();
    let mut writes: HashMap<PartitionKey, PartitionWrite> = HashMap::new();
    let mut answers: Vec<(oneshot::Sender<_>, Vec<Appended>)> = Vec::with_capacity(batch.len());
    let mut failure: Option<(LogError, Vec<oneshot::Sender<_>>)> = None;
    for request in batch {
        if let Some((_, failed)) = failure.as_mut() {
            failed.push(request.reply);
            continue;
        }
        match add_request(&mut writes, request.records, timestamp_ms, segment_bytes) {
            Ok(appended) => answers.push((request.reply, appended)),
            Err(LogError::Unavailable(reason)) => {
                // Only this request touches a failed partition; the others go on.
                let _ = request.reply.send(Err(LogError::Unavailable(reason)));
            }
            Err(error) => failure = Some((error, vec![request.reply])),
        }
    }
    let result = match failure {
        Some((error, failed)) => Err((error, failed)),
        None => persist_all(&writes, syncer).map_err(|e| (LogError::Io(e), Vec::new())),
    };
    match result {
        Ok(()) => {
            let now = Instant::now();
            let rolled: Vec<Arc<Partition>> = writes
                .into_values()
                .filter_map(|w| {
                    let p = w.partition.clone();
                    w.apply(tails, now).then_some(p)
                })
                .collect();
            for (reply, appended) in answers {
                let _ = reply.send(Ok(appended));
            }
            tails.trim(now);
            for partition in rolled {
                partition.enforce_retention_logged(segment_bytes);
            }
        }
        Err((error, failed)) => {
            tracing::error!(error = %error, "log write failed, undoing the batch");
            for write in writes.values() {
                if let Err(undo_error) = write.undo() {
                    let reason = format!("write failed ({error}) and could not be undone ({undo_error})");
                    tracing::error!(partition = %write.partition.topic_partition(), reason, "partition failed");
                    write.partition.lock().failure = Some(reason);
                }
            }
            let replies = answers.into_iter().map(|(reply, _)| reply).chain(failed);
            for reply in replies {
                let _ = reply.send(Err(copy_error(&error)));
            }
        }
    }
}

fn add_request(
    writes: &mut HashMap<PartitionKey, PartitionWrite>,
    records: Vec<PendingRecord>,
    timestamp_ms: i64,
    segment_bytes: u64,
) -> Result<Vec<Appended>, LogError> {
    for pending in &records {
        let key = (pending.partition.topic.clone(), pending.partition.id);
        if let Entry::Vacant(vacant) = writes.entry(key) {
            vacant.insert(PartitionWrite::begin(pending.partition.clone(), timestamp_ms)?);
        }
    }
    let mut appended = Vec::with_capacity(records.len());
    for pending in records {
        let key = (pending.partition.topic.clone(), pending.partition.id);
        let write = writes.get_mut(&key).expect("inserted above");
        appended.push(write.add(pending.frame, pending.record, timestamp_ms, segment_bytes)?);
    }
    Ok(appended)
}

/// Writes every partition, then fsyncs them side by side.
fn persist_all(writes: &HashMap<PartitionKey, PartitionWrite>, syncer: &mut Syncer) -> std::io::Result<()> {
    writes.values().try_for_each(PartitionWrite::write)?;
    syncer.sync_all(writes.values().map(PartitionWrite::sync_target).collect())
}

fn copy_error(error: &LogError) -> LogError {
    match error {
        LogError::Io(e) => LogError::Io(std::io::Error::new(e.kind(), e.to_string())),
        other => LogError::Unavailable(other.to_string()),
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
