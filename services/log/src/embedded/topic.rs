//! Topics on disk: `<topics>/<name>/meta.json` and one folder per partition.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::fsutil::{sync_dir, write_atomic};
use super::partition::Partition;
use super::EmbeddedOptions;
use crate::{LogError, TopicSpec};

const META_FILE: &str = "meta.json";
const MAX_PARTITIONS: u32 = 4096;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicMeta {
    partitions: u32,
    retention_ms: Option<u64>,
}

pub(crate) struct Topic {
    pub partitions: Vec<Arc<Partition>>,
}

/// Kafka's rule for topic names, which also keeps them safe as folder names.
pub(crate) fn validate_name(name: &str) -> Result<(), LogError> {
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty() || name.len() > 249 || name == "." || name == ".." || !name.chars().all(legal) {
        return Err(LogError::Invalid(format!(
            "illegal topic name {name:?}: use 1 to 249 of [a-zA-Z0-9._-], not \".\" or \"..\""
        )));
    }
    Ok(())
}

pub(crate) fn validate_spec(spec: &TopicSpec) -> Result<(), LogError> {
    validate_name(&spec.name)?;
    if spec.partitions == 0 || spec.partitions > MAX_PARTITIONS {
        return Err(LogError::Invalid(format!(
            "topic {} needs 1 to {MAX_PARTITIONS} partitions, not {}",
            spec.name, spec.partitions
        )));
    }
    Ok(())
}

impl Topic {
    /// Creates a topic; `meta.json` is written last, so a crash mid-way leaves a folder
    /// that opening ignores and creating again replaces.
    pub fn create(topics_dir: &Path, spec: &TopicSpec, options: &EmbeddedOptions) -> Result<Topic, LogError> {
        let dir = topics_dir.join(&spec.name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        let limits = options.limits(spec.retention);
        let partitions = (0..spec.partitions)
            .map(|id| Partition::create(&spec.name, id, dir.join(id.to_string()), limits).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        write_meta(&dir, spec.partitions, spec.retention)?;
        sync_dir(topics_dir)?;
        Ok(Topic { partitions })
    }

    /// How long the topic keeps records.
    pub fn retention(&self) -> Option<Duration> {
        self.partitions.first().and_then(|p| p.limits().retention)
    }

    /// Keeps records for `retention` from now on: rewrites `meta.json` (in `dir`), then
    /// the partitions' limits.
    pub fn set_retention(
        &self,
        dir: &Path,
        retention: Option<Duration>,
        options: &EmbeddedOptions,
    ) -> Result<(), LogError> {
        write_meta(dir, self.partitions.len() as u32, retention)?;
        let limits = options.limits(retention);
        self.partitions.iter().for_each(|p| p.set_limits(limits));
        Ok(())
    }

    /// Opens a topic folder, recovering each partition; `None` for an unfinished one.
    fn open(dir: &Path, name: &str, options: &EmbeddedOptions) -> Result<Option<Topic>, LogError> {
        let meta_path = dir.join(META_FILE);
        let json = match std::fs::read(&meta_path) {
            Ok(json) => json,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let meta: TopicMeta =
            serde_json::from_slice(&json).map_err(|e| LogError::Corrupt(format!("{}: {e}", meta_path.display())))?;
        let limits = options.limits(meta.retention_ms.map(Duration::from_millis));
        let partitions = (0..meta.partitions)
            .map(|id| Partition::open(name, id, dir.join(id.to_string()), limits).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(Topic { partitions }))
    }
}

/// Writes a topic's `meta.json` in its folder `dir`, atomically.
fn write_meta(dir: &Path, partitions: u32, retention: Option<Duration>) -> Result<(), LogError> {
    let meta =
        TopicMeta { partitions, retention_ms: retention.map(|r| u64::try_from(r.as_millis()).unwrap_or(u64::MAX)) };
    let json = serde_json::to_vec_pretty(&meta).map_err(|e| LogError::Corrupt(e.to_string()))?;
    write_atomic(&dir.join(META_FILE), &json)?;
    Ok(())
}

/// Opens every topic under `topics_dir`.
pub(crate) fn open_all(topics_dir: &Path, options: &EmbeddedOptions) -> Result<HashMap<String, Arc<Topic>>, LogError> {
    let mut topics = HashMap::new();
    for entry in std::fs::read_dir(topics_dir)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else { continue };
        if validate_name(&name).is_err() || !entry.file_type()?.is_dir() {
            continue;
        }
        match Topic::open(&entry.path(), &name, options)? {
            Some(topic) => {
                topics.insert(name, Arc::new(topic));
            }
            None => tracing::warn!(topic = name, "ignoring a topic whose creation did not finish"),
        }
    }
    Ok(topics)
}
