//! Tasks this instance accepted lately, so that a status query right after a 202
//! finds the task (pending) before the projector has written it to the views.

use chrono::{DateTime, Utc};
use hookline_domain::{SubscriptionId, TaskId, TaskView};
use quick_cache::sync::Cache;

/// How many accepted tasks are remembered (about 200 bytes each); older ones are left
/// to the views. Only the last [`LAG_WINDOW`] matters: this covers it up to 1,600
/// webhooks a second.
const CAPACITY: usize = 16_384;
/// How long an accepted task is answered from here at most. Past this the views are
/// the only answer, so that a task past its retention is never shown again.
const LAG_WINDOW: chrono::TimeDelta = chrono::TimeDelta::seconds(10);

pub(crate) struct RecentTasks {
    cache: Cache<TaskId, TaskView>,
}

impl RecentTasks {
    pub(crate) fn new() -> Self {
        Self { cache: Cache::new(CAPACITY) }
    }

    pub(crate) fn accepted(
        &self,
        task_id: TaskId,
        subscription_id: SubscriptionId,
        event_type: Option<String>,
        accepted_at: DateTime<Utc>,
    ) {
        let view = TaskView { task_id, subscription_id, event_type, created_at: accepted_at, last_attempt: None };
        self.cache.insert(task_id, view);
    }

    /// The task, if accepted here within the projector's lag window.
    pub(crate) fn get(&self, task_id: TaskId) -> Option<TaskView> {
        self.cache.get(&task_id).filter(|view| Utc::now() - view.created_at < LAG_WINDOW)
    }

    /// Called once the views hold the task: from then on they answer.
    pub(crate) fn forget(&self, task_id: TaskId) {
        self.cache.remove(&task_id);
    }
}
