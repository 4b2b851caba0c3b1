//! What every adapter shares about the task listing: the filter, the position a
//! cursor stands for, and how a walk over the tasks, newest first, becomes a page.

use std::str::FromStr;

use hookline_domain::{SubscriptionId, TaskId, TaskStatus, TaskView};

use crate::{Page, ViewError};

/// How many tasks a page may examine beyond those it returns, so that a filter
/// that matches little costs a bounded walk per request.
pub const TASK_SCAN_BUDGET: usize = 1000;

/// Which tasks a listing keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskFilter {
    /// Only this subscription's tasks.
    pub subscription: Option<SubscriptionId>,
    /// Only tasks of this status now.
    pub status: Option<TaskStatus>,
}

impl TaskFilter {
    pub fn keeps(&self, task: &TaskView) -> bool {
        self.subscription.is_none_or(|sub| sub == task.subscription_id)
            && self.status.is_none_or(|status| status == task.status())
    }
}

/// Where a task sits in the listing: its acceptance time in milliseconds (what
/// every store keeps exactly), then its id. Listings run from the greatest down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskPosition {
    pub accepted_ms: i64,
    pub task_id: TaskId,
}

impl TaskPosition {
    pub fn of(task: &TaskView) -> Self {
        Self { accepted_ms: task.created_at.timestamp_millis(), task_id: task.task_id }
    }

    /// The cursor that resumes a listing after this position.
    pub fn cursor(&self) -> String {
        format!("{}_{}", self.accepted_ms, self.task_id)
    }

    /// The position a cursor stands for.
    pub fn from_cursor(cursor: &str) -> Result<Self, ViewError> {
        let (ms, id) = cursor.split_once('_').ok_or(ViewError::InvalidCursor)?;
        let accepted_ms = ms.parse::<i64>().map_err(|_| ViewError::InvalidCursor)?;
        let task_id = TaskId::from_str(id).map_err(|_| ViewError::InvalidCursor)?;
        Ok(Self { accepted_ms, task_id })
    }
}

/// Builds a page from the tasks a walk examines in listing order.
#[derive(Debug)]
pub struct TaskPageBuilder {
    filter: TaskFilter,
    limit: usize,
    items: Vec<TaskView>,
    examined: usize,
    /// Set once the page is complete: where the next page resumes.
    next: Option<TaskPosition>,
}

impl TaskPageBuilder {
    pub fn new(filter: TaskFilter, limit: usize) -> Self {
        Self { filter, limit, items: Vec::with_capacity(limit.min(1024)), examined: 0, next: None }
    }

    /// Whether the page needs no more tasks.
    pub fn is_complete(&self) -> bool {
        self.next.is_some() || self.limit == 0
    }

    /// Takes the task at `position`; `None` stands for an entry whose task has expired
    /// or moved. Returns whether the walk should go on.
    pub fn offer(&mut self, position: TaskPosition, task: Option<TaskView>) -> bool {
        if self.is_complete() {
            return false;
        }
        self.examined += 1;
        if let Some(task) = task.filter(|task| self.filter.keeps(task)) {
            if self.items.len() == self.limit {
                // A match beyond the page: another page follows the last item.
                self.next = self.items.last().map(TaskPosition::of);
                return false;
            }
            self.items.push(task);
        }
        if self.examined - self.items.len() >= TASK_SCAN_BUDGET {
            self.next = Some(position);
            return false;
        }
        true
    }

    /// The page, once complete or once the walk has run out of tasks.
    pub fn finish(self) -> Page<TaskView> {
        Page { items: self.items, next: self.next.map(|position| position.cursor()) }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};
    use hookline_domain::task::LastAttempt;
    use hookline_domain::Outcome;

    use super::*;

    fn task(ms: i64, outcome: Option<Outcome>) -> TaskView {
        let at = DateTime::<Utc>::from_timestamp_millis(ms).unwrap();
        TaskView {
            task_id: TaskId::new(),
            subscription_id: SubscriptionId::from_bytes([1; 16]),
            event_type: None,
            created_at: at,
            last_attempt: outcome.map(|outcome| LastAttempt {
                number: 1,
                outcome,
                at,
                http_status: None,
                error: None,
                next_attempt_at: None,
            }),
        }
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let position = TaskPosition::of(&task(-5, None));
        assert_eq!(TaskPosition::from_cursor(&position.cursor()).unwrap(), position);
        for bad in ["", "12", "x_0190a5b4-7f43-7cc2-9a3e-2b1f6c8d9e01", "12_nope", "_", "1_2_3"] {
            assert!(matches!(TaskPosition::from_cursor(bad), Err(ViewError::InvalidCursor)), "{bad:?}");
        }
    }

    #[test]
    fn a_full_page_points_after_its_last_item_only_when_another_match_follows() {
        let tasks: Vec<TaskView> = (0..3).map(|i| task(1000 - i, Some(Outcome::Success))).collect();
        let mut page = TaskPageBuilder::new(TaskFilter::default(), 2);
        assert!(page.offer(TaskPosition::of(&tasks[0]), Some(tasks[0].clone())));
        assert!(page.offer(TaskPosition::of(&tasks[1]), Some(tasks[1].clone())));
        assert!(!page.offer(TaskPosition::of(&tasks[2]), Some(tasks[2].clone())));
        let page = page.finish();
        assert_eq!(page.items, tasks[..2]);
        assert_eq!(page.next, Some(TaskPosition::of(&tasks[1]).cursor()));

        let mut exact = TaskPageBuilder::new(TaskFilter::default(), 3);
        for t in &tasks {
            exact.offer(TaskPosition::of(t), Some(t.clone()));
        }
        assert_eq!(exact.finish().next, None, "a walk that ran out has no next page");
    }

    #[test]
    fn a_filter_that_matches_little_stops_at_the_budget_and_resumes_there() {
        let failed = TaskFilter { status: Some(TaskStatus::Failed), ..TaskFilter::default() };
        let mut page = TaskPageBuilder::new(failed, 10);
        let mut last = None;
        for i in 0..TASK_SCAN_BUDGET as i64 {
            let t = task(1_000_000 - i, Some(Outcome::Success));
            last = Some(TaskPosition::of(&t));
            if !page.offer(TaskPosition::of(&t), Some(t)) {
                break;
            }
        }
        let page = page.finish();
        assert!(page.items.is_empty());
        assert_eq!(page.next, last.map(|p| p.cursor()));
    }
}
