//! One segment file `<base-offset:020>.log`: its records' extent, oldest and newest
//! timestamps, and a sparse in-memory index (offset → file position) of at most
//! [`MAX_INDEX_ENTRIES`] entries, rebuilt by scanning on open.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::frame::{self, FrameHead, HEAD_LEN};

/// A sparse index entry is added once this many bytes were written since the last
/// one, at first; the interval doubles each time the index is thinned.
const INDEX_INTERVAL_BYTES: u64 = 4096;
/// Entries a segment's index holds at most (16 bytes each): past it, every other
/// entry is dropped, so the memory of an index does not grow with the segment size,
/// and a read starts at most one interval before the record it wants.
const MAX_INDEX_ENTRIES: usize = 1024;

pub(crate) struct Segment {
    pub base_offset: u64,
    pub path: PathBuf,
    /// Read and write handle, shared with readers (positional reads and writes only).
    pub file: Arc<File>,
    /// Bytes of whole, durable records; readers never look past it.
    pub size: u64,
    /// The offset after the last record.
    pub next_offset: u64,
    /// Timestamp of the newest record; `None` while empty.
    pub newest_timestamp_ms: Option<i64>,
    /// Timestamp of the first record; `None` while empty.
    pub oldest_timestamp_ms: Option<i64>,
    /// `(offset, position)`, ascending; the first record always has an entry.
    index: Vec<(u64, u64)>,
    index_interval: u64,
    bytes_since_index: u64,
}

/// How a scan ended.
pub(crate) enum ScanEnd {
    Clean,
    /// A torn or corrupt frame starts at `position`; what follows is unusable.
    Bad {
        position: u64,
        reason: String,
    },
}

impl Segment {
    pub fn file_name(base_offset: u64) -> String {
        format!("{base_offset:020}.log")
    }

    /// Creates an empty segment, replacing any leftover file of that name (which can
    /// only hold records that were never acknowledged).
    pub fn create(dir: &Path, base_offset: u64) -> io::Result<Segment> {
        let path = dir.join(Self::file_name(base_offset));
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path)?;
        Ok(Self::empty(path, Arc::new(file), base_offset))
    }

    fn empty(path: PathBuf, file: Arc<File>, base_offset: u64) -> Segment {
        Segment {
            base_offset,
            path,
            file,
            size: 0,
            next_offset: base_offset,
            newest_timestamp_ms: None,
            oldest_timestamp_ms: None,
            index: Vec::new(),
            index_interval: INDEX_INTERVAL_BYTES,
            bytes_since_index: 0,
        }
    }

    /// Opens a segment file and rebuilds its index by reading every frame. With
    /// `verify_crc`, bodies are checked too (for the segments a crash may have torn);
    /// otherwise only lengths and offset continuity are.
    pub fn scan(path: PathBuf, base_offset: u64, verify_crc: bool) -> io::Result<(Segment, ScanEnd)> {
        let file = OpenOptions::new().read(true).write(true).open(&path)?;
        let file_len = file.metadata()?.len();
        let mut reader = BufReader::with_capacity(1 << 20, file.try_clone()?);
        let mut segment = Self::empty(path, Arc::new(file), base_offset);
        let mut frame_buf = Vec::new();
        let end = loop {
            let position = segment.size;
            if position == file_len {
                break ScanEnd::Clean;
            }
            let remaining = file_len - position;
            if remaining < HEAD_LEN as u64 {
                break ScanEnd::Bad { position, reason: format!("{remaining} trailing bytes, less than a frame head") };
            }
            let mut head_buf = [0u8; HEAD_LEN];
            reader.read_exact(&mut head_buf)?;
            let head = match frame::read_head(&head_buf) {
                Ok(head) => head,
                Err(reason) => break ScanEnd::Bad { position, reason },
            };
            if head.len as u64 > remaining {
                let reason = format!("frame of {} bytes cut short at {remaining} bytes", head.len);
                break ScanEnd::Bad { position, reason };
            }
            if head.offset != segment.next_offset {
                let reason = format!("offset {} where {} was expected", head.offset, segment.next_offset);
                break ScanEnd::Bad { position, reason };
            }
            if verify_crc {
                frame_buf.clear();
                frame_buf.extend_from_slice(&head_buf);
                frame_buf.resize(head.len, 0);
                reader.read_exact(&mut frame_buf[HEAD_LEN..])?;
                if !frame::crc_matches(&frame_buf) {
                    break ScanEnd::Bad { position, reason: format!("crc mismatch at offset {}", head.offset) };
                }
            } else {
                reader.seek_relative((head.len - HEAD_LEN) as i64)?;
            }
            segment.note_record(position, head);
        };
        Ok((segment, end))
    }

    /// Accounts for a record written at `position`.
    pub fn note_record(&mut self, position: u64, head: FrameHead) {
        if self.index.is_empty() || self.bytes_since_index >= self.index_interval {
            if self.index.len() == MAX_INDEX_ENTRIES {
                self.thin_index();
            }
            self.index.push((head.offset, position));
            self.bytes_since_index = 0;
        }
        self.oldest_timestamp_ms.get_or_insert(head.timestamp_ms);
        self.bytes_since_index += head.len as u64;
        self.size = position + head.len as u64;
        self.next_offset = head.offset + 1;
        self.newest_timestamp_ms =
            Some(self.newest_timestamp_ms.map_or(head.timestamp_ms, |t| t.max(head.timestamp_ms)));
    }

    /// Keeps every other entry (the first included) and doubles the interval.
    fn thin_index(&mut self) {
        let mut position = 0;
        self.index.retain(|_| {
            position += 1;
            position % 2 == 1
        });
        self.index_interval *= 2;
    }

    /// A file position at or before the record `offset`, to start reading from.
    pub fn position_for(&self, offset: u64) -> u64 {
        let after = self.index.partition_point(|&(indexed, _)| indexed <= offset);
        if after == 0 {
            0
        } else {
            self.index[after - 1].1
        }
    }
}

/// The offsets of the intact frames (whole, CRC matching, offset at least
/// `expected_offset`) found in `bytes`, the part of a segment from a damaged frame on:
/// what follows the damage and is still readable.
pub(crate) fn intact_frames(bytes: &[u8], expected_offset: u64) -> Vec<u64> {
    let mut found = Vec::new();
    let mut at = 0;
    while bytes.len() - at >= HEAD_LEN {
        if let Ok(head) = frame::read_head(&bytes[at..]) {
            let fits = head.len <= bytes.len() - at;
            if fits && head.offset >= expected_offset && frame::crc_matches(&bytes[at..at + head.len]) {
                found.push(head.offset);
                at += head.len;
                continue;
            }
        }
        at += 1;
    }
    found
}

/// The segment files of a partition directory, by ascending base offset. Other files
/// (temporaries, stray names) are ignored.
pub(crate) fn list_segment_files(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut segments = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(base) = name.to_str().and_then(|n| n.strip_suffix(".log")).and_then(|n| n.parse::<u64>().ok()) else {
            continue;
        };
        segments.push((base, entry.path()));
    }
    segments.sort_unstable_by_key(|(base, _)| *base);
    Ok(segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(offset: u64, len: usize) -> FrameHead {
        FrameHead { len, offset, timestamp_ms: 1_000 + offset as i64 }
    }

    #[test]
    fn the_index_stays_bounded_and_finds_every_record() {
        let dir = tempfile::tempdir().unwrap();
        let mut segment = Segment::create(dir.path(), 0).unwrap();
        let frame = 1000;
        let records = 100_000u64;
        for offset in 0..records {
            segment.note_record(offset * frame as u64, head(offset, frame));
        }
        assert!(segment.index.len() <= MAX_INDEX_ENTRIES, "{} entries", segment.index.len());
        assert_eq!(segment.oldest_timestamp_ms, Some(1_000));
        assert_eq!(segment.newest_timestamp_ms, Some(1_000 + records as i64 - 1));
        for offset in [0, 1, 777, 50_000, records - 1] {
            let position = segment.position_for(offset);
            let target = offset * frame as u64;
            assert!(position <= target, "offset {offset}: start {position} past the record at {target}");
            assert!(target - position <= 2 * segment.index_interval, "offset {offset}: reads too far back");
        }
    }
}
