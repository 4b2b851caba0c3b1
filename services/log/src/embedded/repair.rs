//! Repairing a damaged log (the service stopped): in every partition, each segment is
//! read whole and CRC-checked; from the first damaged frame of a segment to its end,
//! the bytes are moved aside (copied to `damaged/` under the log's folder, then cut
//! from the segment), never deleted. Later segments are kept: readers step over the
//! offsets lost, as they step over a segment deleted by retention.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::dir_lock::DirLock;
use super::fsutil::sync_dir;
use super::segment::{intact_frames, list_segment_files, ScanEnd, Segment};
use crate::LogError;

/// Where damaged bytes are moved, under the log's folder.
pub const DAMAGED_DIR: &str = "damaged";

/// What a repair did to one damaged segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repaired {
    pub topic: String,
    pub partition: u32,
    /// The segment file, cut at `position`.
    pub segment: PathBuf,
    /// The byte where the damage starts.
    pub position: u64,
    /// Why that frame is damaged.
    pub reason: String,
    /// Where the bytes from `position` on were moved.
    pub moved_to: PathBuf,
    pub moved_bytes: u64,
    /// The offset of the first record lost (the damaged one).
    pub first_lost_offset: u64,
    /// Records lost: from the damaged one to the last one the segment held (known from
    /// the next segment's first offset, or from the intact records found after the
    /// damage in the newest segment).
    pub records_lost: u64,
}

/// Repairs the log in `dir`; returns what was moved aside (nothing for a sound log).
/// Fails when the log is open in another process.
pub fn repair(dir: &Path) -> Result<Vec<Repaired>, LogError> {
    let _lock = DirLock::acquire(dir)?;
    let topics_dir = dir.join("topics");
    let mut repaired = Vec::new();
    let mut topics: Vec<(String, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(&topics_dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            topics.push((entry.file_name().to_string_lossy().into_owned(), entry.path()));
        }
    }
    topics.sort();
    for (topic, topic_dir) in topics {
        let mut partitions: Vec<(u32, PathBuf)> = Vec::new();
        for entry in std::fs::read_dir(&topic_dir)? {
            let entry = entry?;
            let id = entry.file_name().to_str().and_then(|name| name.parse::<u32>().ok());
            if let (Some(id), true) = (id, entry.file_type()?.is_dir()) {
                partitions.push((id, entry.path()));
            }
        }
        partitions.sort();
        for (id, partition_dir) in partitions {
            let aside = dir.join(DAMAGED_DIR).join(&topic).join(id.to_string());
            repaired.extend(repair_partition(&topic, id, &partition_dir, &aside)?);
        }
    }
    Ok(repaired)
}

fn repair_partition(topic: &str, id: u32, dir: &Path, aside: &Path) -> Result<Vec<Repaired>, LogError> {
    let files = list_segment_files(dir)?;
    let mut repaired = Vec::new();
    for (index, (base, path)) in files.iter().enumerate() {
        let (segment, end) = Segment::scan(path.clone(), *base, true)?;
        let ScanEnd::Bad { position, reason } = end else { continue };
        let len = segment.file.metadata()?.len();
        let mut moved = vec![0; usize::try_from(len - position).unwrap_or(usize::MAX)];
        segment.file.read_exact_at(&mut moved, position)?;
        let first_lost_offset = segment.next_offset;
        let records_lost = match files.get(index + 1) {
            Some((next_base, _)) => next_base.saturating_sub(first_lost_offset),
            None => {
                let intact = intact_frames(moved.get(1..).unwrap_or_default(), first_lost_offset);
                let last_known = intact.last().map_or(first_lost_offset, |last| last + 1);
                // The damaged frame counts when enough of it is there to have been a record.
                let damaged = u64::from(moved.len() >= super::frame::HEAD_LEN);
                last_known.saturating_sub(first_lost_offset).max(damaged)
            }
        };
        std::fs::create_dir_all(aside)?;
        let moved_to = free_name(aside, path, position);
        let mut copy = OpenOptions::new().write(true).create_new(true).open(&moved_to)?;
        copy.write_all(&moved)?;
        copy.sync_all()?;
        sync_dir(aside)?;
        // Only once the copy is durable is the damaged part cut from the segment.
        cut(&segment.file, position)?;
        repaired.push(Repaired {
            topic: topic.to_string(),
            partition: id,
            segment: path.clone(),
            position,
            reason,
            moved_to,
            moved_bytes: moved.len() as u64,
            first_lost_offset,
            records_lost,
        });
    }
    Ok(repaired)
}

/// `<segment file name>.from-<position>` in `aside`, numbered if a repair already
/// left a file of that name.
fn free_name(aside: &Path, segment: &Path, position: u64) -> PathBuf {
    let name = segment.file_name().map_or("segment".into(), |name| name.to_string_lossy().into_owned());
    let mut candidate = aside.join(format!("{name}.from-{position}"));
    let mut n = 1;
    while candidate.exists() {
        n += 1;
        candidate = aside.join(format!("{name}.from-{position}.{n}"));
    }
    candidate
}

fn cut(file: &File, position: u64) -> Result<(), LogError> {
    file.set_len(position)?;
    file.sync_all()?;
    Ok(())
}
