//! Reading a partition: from the in-memory tail when the records are recent, else
//! from the segment files with positional reads (served by the page cache when warm).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use super::frame::{self, HEAD_LEN};
use super::partition::Partition;
use crate::{LogError, Record};

/// Bytes read from a file at once, at most.
const READ_CHUNK: usize = 256 << 10;
/// Bytes of a read's first chunk; each next one is twice as large, up to [`READ_CHUNK`],
/// so that a consumer wanting a few records (one that fell behind the tail, a read by
/// position) does not copy a quarter of a megabyte for each.
const FIRST_READ_CHUNK: usize = 16 << 10;
/// Bytes of records one disk read returns at most (at least one record).
const READ_BUDGET: usize = 4 << 20;

/// The readable part of one segment, copied out of the partition lock.
struct Span {
    path: PathBuf,
    file: Arc<File>,
    start: u64,
    end: u64,
    next_offset: u64,
}

impl Partition {
    /// Up to `max` records from `from` if they are all in the in-memory tail.
    pub fn read_recent(&self, from: u64, max: usize) -> Option<Vec<Record>> {
        self.lock().tail.read(from, max)
    }

    /// Blocking: up to `max` records from `from`, read from the segment files. Offsets
    /// no longer retained are skipped.
    pub fn read_from_disk(&self, from: u64, max: usize) -> Result<Vec<Record>, LogError> {
        let mut out = Vec::new();
        let mut next = from;
        let mut budget = READ_BUDGET;
        while out.len() < max && budget > 0 {
            let Some(span) = self.span_from(next) else { break };
            self.read_span(&span, &mut next, max, &mut out, &mut budget)?;
        }
        Ok(out)
    }

    /// The first non-empty segment holding `from` or later offsets.
    fn span_from(&self, from: u64) -> Option<Span> {
        let state = self.lock();
        let first = state.segments.partition_point(|s| s.next_offset <= from);
        let segment = state.segments[first..].iter().find(|s| s.size > 0)?;
        let start = if from >= segment.base_offset { segment.position_for(from) } else { 0 };
        Some(Span {
            path: segment.path.clone(),
            file: segment.file.clone(),
            start,
            end: segment.size,
            next_offset: segment.next_offset,
        })
    }

    fn read_span(
        &self,
        span: &Span,
        next: &mut u64,
        max: usize,
        out: &mut Vec<Record>,
        budget: &mut usize,
    ) -> Result<(), LogError> {
        let corrupt = |position: u64, reason: String| {
            LogError::Corrupt(format!(
                "{}/{} {} at byte {position}: {reason}",
                self.topic,
                self.id,
                span.path.display()
            ))
        };
        let mut position = span.start;
        let mut buf = Vec::new();
        let mut chunk_size = FIRST_READ_CHUNK;
        while position < span.end && out.len() < max && *budget > 0 {
            let chunk = chunk_size.min((span.end - position) as usize);
            chunk_size = (chunk_size * 2).min(READ_CHUNK);
            buf.resize(chunk, 0);
            span.file.read_exact_at(&mut buf, position)?;
            let mut at = 0;
            while buf.len() - at >= HEAD_LEN && out.len() < max && *budget > 0 {
                let head = frame::read_head(&buf[at..]).map_err(|r| corrupt(position + at as u64, r))?;
                if at + head.len > buf.len() {
                    if at > 0 {
                        break;
                    }
                    // A frame larger than a chunk: read it whole.
                    if position + head.len as u64 > span.end {
                        return Err(corrupt(position, format!("frame of {} bytes overruns the segment", head.len)));
                    }
                    buf.resize(head.len, 0);
                    span.file.read_exact_at(&mut buf, position)?;
                }
                if head.offset >= *next {
                    let record = frame::decode(&buf[at..at + head.len], &self.topic, self.id)
                        .map_err(|r| corrupt(position + at as u64, r))?;
                    out.push(record);
                    *next = head.offset + 1;
                    *budget = budget.saturating_sub(head.len);
                }
                at += head.len;
            }
            if at == 0 {
                return Err(corrupt(position, "segment ends inside a frame head".to_string()));
            }
            position += at as u64;
        }
        if position >= span.end {
            // Past this segment; also steps over records lost to damage.
            *next = (*next).max(span.next_offset);
        }
        Ok(())
    }
}
