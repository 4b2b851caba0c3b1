//! Reading a task back from the log, where the views point: the views keep no copy of
//! a payload. The retry by hand and the replay both send a task again this way.

use hookline_domain::{LogPosition, TaskAccepted, TaskId};
use hookline_log::{EventLog, LogError, TopicPartition};
use hookline_views::{ViewError, ViewStore};

/// Where a task's payload stands.
#[derive(Debug)]
pub enum StoredTask {
    /// The task as accepted, payload byte for byte.
    Found(TaskAccepted),
    /// The views no longer point at a record (the task is past the views' retention).
    NotKept,
    /// The log no longer holds the record the views point at (past the log's
    /// retention, or the log was replaced under the views).
    Gone(LogPosition),
}

/// Why a task could not be read back; each says whether trying again may help.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Views(#[from] ViewError),
}

impl ReadError {
    pub fn is_retryable(&self) -> bool {
        match self {
            ReadError::Log(e) => e.is_retryable(),
            ReadError::Views(e) => e.is_retryable(),
        }
    }
}

/// The task `id` as it was accepted, read from the record its view points at.
pub async fn read_task(views: &dyn ViewStore, log: &dyn EventLog, id: TaskId) -> Result<StoredTask, ReadError> {
    let Some(position) = views.payload_position(id).await? else {
        return Ok(StoredTask::NotKept);
    };
    let tp = TopicPartition::new(position.topic.clone(), position.partition);
    let Some(record) = log.read(&tp, position.offset).await? else {
        return Ok(StoredTask::Gone(position));
    };
    let task = hookline_records::task_of_record(&record)
        .map_err(|e| LogError::Corrupt(format!("the record at {position}: {e}")))?;
    if task.task_id != id {
        // The log was replaced under the views (a new data directory, a new cluster).
        tracing::warn!(task_id = %id, %position, found = %task.task_id, "the views point at another task's record");
        return Ok(StoredTask::Gone(position));
    }
    Ok(StoredTask::Found(task))
}
