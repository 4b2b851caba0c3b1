//! Committed offsets of consumer groups: one `<groups>/<group>.json` per group,
//! replaced atomically on every commit.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use super::fsutil::write_atomic;
use crate::{LogError, TopicPartition};

type Offsets = BTreeMap<TopicPartition, u64>;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupFile {
    group: String,
    offsets: Vec<CommittedOffset>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommittedOffset {
    topic: String,
    partition: u32,
    next_offset: u64,
}

pub(crate) struct GroupStore {
    dir: PathBuf,
    /// Each group's offsets behind their own lock, held across the file write so that
    /// commits of one group reach the disk in the order they were made.
    groups: Mutex<HashMap<String, Arc<Mutex<Offsets>>>>,
}

impl GroupStore {
    /// Blocking: loads every group file in `dir`.
    pub fn open(dir: PathBuf) -> Result<GroupStore, LogError> {
        let mut groups = HashMap::new();
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.extension().is_none_or(|ext| ext != "json") {
                continue;
            }
            let json = std::fs::read(&path)?;
            let file: GroupFile =
                serde_json::from_slice(&json).map_err(|e| LogError::Corrupt(format!("{}: {e}", path.display())))?;
            let offsets = file
                .offsets
                .into_iter()
                .map(|c| (TopicPartition::new(c.topic, c.partition), c.next_offset))
                .collect::<Offsets>();
            groups.insert(file.group, Arc::new(Mutex::new(offsets)));
        }
        Ok(GroupStore { dir, groups: Mutex::new(groups) })
    }

    fn group(&self, group: &str) -> Arc<Mutex<Offsets>> {
        let mut groups = self.groups.lock().unwrap_or_else(PoisonError::into_inner);
        groups.entry(group.to_string()).or_default().clone()
    }

    /// The group's committed offsets (the next offset to read per partition).
    pub fn committed(&self, group: &str) -> Offsets {
        self.group(group).lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Blocking: durably records the offsets; others of the group are kept.
    pub fn commit(&self, group: &str, offsets: &[(TopicPartition, u64)]) -> Result<(), LogError> {
        let entry = self.group(group);
        let mut committed = entry.lock().unwrap_or_else(PoisonError::into_inner);
        let mut updated = committed.clone();
        updated.extend(offsets.iter().cloned());
        let file = GroupFile {
            group: group.to_string(),
            offsets: updated
                .iter()
                .map(|(tp, &next_offset)| CommittedOffset {
                    topic: tp.topic.clone(),
                    partition: tp.partition,
                    next_offset,
                })
                .collect(),
        };
        let json = serde_json::to_vec_pretty(&file).map_err(|e| LogError::Corrupt(e.to_string()))?;
        write_atomic(&self.dir.join(file_name(group)), &json)?;
        *committed = updated;
        Ok(())
    }
}

/// A file name for any group name: kept readable when it is safe, hex otherwise
/// (`%` marks hex and never appears in a kept name).
fn file_name(group: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if !group.is_empty() && !group.starts_with('.') && group.len() <= 200 && group.chars().all(safe) {
        format!("{group}.json")
    } else {
        let hex: String = group.bytes().take(120).map(|b| format!("{b:02x}")).collect();
        // Long names are cut; the crc keeps the cut names apart.
        format!("%{hex}-{:08x}.json", crc32fast::hash(group.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::file_name;

    #[test]
    fn group_file_names_are_safe_and_distinct() {
        assert_eq!(file_name("delivery"), "delivery.json");
        let odd = file_name("../etc/passwd");
        assert!(odd.starts_with('%') && !odd.contains('/'));
        assert_ne!(file_name("a/b"), file_name("a:b"));
        assert_ne!(file_name(&"x/".repeat(200)), file_name(&format!("{}y", "x/".repeat(200))));
    }
}
