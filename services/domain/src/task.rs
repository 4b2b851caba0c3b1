//! Where a delivery task stands, folded from its TaskAccepted and its attempts.
//!
//! The fold is a merge that is commutative, associative and idempotent: the view is
//! the same whatever order the events are projected in and however often one is
//! repeated. The latest attempt (highest number) decides the status, so a manual
//! retry after a final failure moves the task on again.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::events::{AttemptRecorded, Outcome, TaskAccepted};
use crate::ids::{ReplayId, SubscriptionId, TaskId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    Pending,
    Retrying,
    Succeeded,
    Failed,
}

impl TaskStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "pending",
            TaskStatus::Retrying => "retrying",
            TaskStatus::Succeeded => "succeeded",
            TaskStatus::Failed => "failed",
        }
    }

    fn of(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Success => TaskStatus::Succeeded,
            Outcome::FailedAttempt => TaskStatus::Retrying,
            Outcome::PermanentlyFailed => TaskStatus::Failed,
        }
    }
}

/// The latest attempt as the task view keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastAttempt {
    pub number: u32,
    pub outcome: Outcome,
    pub at: DateTime<Utc>,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The replay that queued it, for an attempt a replay sent again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_id: Option<ReplayId>,
}

impl LastAttempt {
    /// Total order used to pick the latest of two attempts; a repeated attempt number
    /// (a delivery repeated after a crash) is settled by outcome, then time, then the
    /// remaining fields, so that the choice never depends on arrival order.
    fn cmp_rank(&self, other: &Self) -> std::cmp::Ordering {
        let outcome_rank = |o: Outcome| match o {
            Outcome::FailedAttempt => 0,
            Outcome::PermanentlyFailed => 1,
            Outcome::Success => 2,
        };
        (self.number, outcome_rank(self.outcome), self.at)
            .cmp(&(other.number, outcome_rank(other.outcome), other.at))
            .then_with(|| self.http_status.cmp(&other.http_status))
            .then_with(|| self.error.cmp(&other.error))
            .then_with(|| self.next_attempt_at.cmp(&other.next_attempt_at))
            .then_with(|| self.replay_id.cmp(&other.replay_id))
    }
}

/// A delivery task as the status API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskView {
    pub task_id: TaskId,
    pub subscription_id: SubscriptionId,
    pub event_type: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_attempt: Option<LastAttempt>,
}

impl TaskView {
    pub fn from_accepted(task: &TaskAccepted) -> Self {
        Self {
            task_id: task.task_id,
            subscription_id: task.subscription_id,
            event_type: task.event_type.clone(),
            created_at: task.accepted_at,
            last_attempt: None,
        }
    }

    pub fn from_attempt(attempt: &AttemptRecorded) -> Self {
        Self {
            task_id: attempt.task_id,
            subscription_id: attempt.subscription_id,
            event_type: attempt.event_type.clone(),
            created_at: attempt.task_accepted_at,
            last_attempt: Some(LastAttempt {
                number: attempt.attempt_number,
                outcome: attempt.outcome,
                at: attempt.attempted_at,
                http_status: attempt.http_status,
                error: attempt.error.clone(),
                next_attempt_at: attempt.next_attempt_at,
                replay_id: attempt.replay_id,
            }),
        }
    }

    /// Merges two views of the same task; order-insensitive and idempotent.
    pub fn merge(self, other: TaskView) -> TaskView {
        debug_assert_eq!(self.task_id, other.task_id);
        let last_attempt = match (self.last_attempt, other.last_attempt) {
            (Some(a), Some(b)) => Some(if b.cmp_rank(&a).is_gt() { b } else { a }),
            (a, b) => a.or(b),
        };
        TaskView {
            task_id: self.task_id,
            subscription_id: self.subscription_id,
            event_type: self.event_type.or(other.event_type),
            created_at: self.created_at.min(other.created_at),
            last_attempt,
        }
    }

    pub fn status(&self) -> TaskStatus {
        self.last_attempt.as_ref().map_or(TaskStatus::Pending, |a| TaskStatus::of(a.outcome))
    }

    pub fn attempts_count(&self) -> u32 {
        self.last_attempt.as_ref().map_or(0, |a| a.number)
    }

    /// When the view may be forgotten: retention after the latest thing that happened to it.
    pub fn last_activity(&self) -> DateTime<Utc> {
        self.last_attempt.as_ref().map_or(self.created_at, |a| a.at.max(self.created_at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;
    use serde_json::value::RawValue;

    fn accepted(task: TaskId, sub: SubscriptionId) -> TaskAccepted {
        TaskAccepted {
            task_id: task,
            subscription_id: sub,
            event_type: Some("e".into()),
            accepted_at: Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
            payload: RawValue::from_string("{}".into()).unwrap(),
            event_id: None,
        }
    }

    fn attempt(task: TaskId, sub: SubscriptionId, n: u32, outcome: Outcome) -> AttemptRecorded {
        AttemptRecorded {
            task_id: task,
            subscription_id: sub,
            attempt_number: n,
            outcome,
            http_status: Some(500),
            error: Some(format!("attempt {n}")),
            latency_ms: 3,
            response_body: None,
            attempted_at: Utc.timestamp_opt(1_700_000_000 + i64::from(n) * 10, 0).unwrap(),
            next_attempt_at: None,
            task_accepted_at: Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
            event_type: Some("e".into()),
            replay_id: None,
        }
    }

    #[test]
    fn statuses_follow_the_latest_attempt() {
        let (t, s) = (TaskId::new(), SubscriptionId::new());
        let v = TaskView::from_accepted(&accepted(t, s));
        assert_eq!(v.status(), TaskStatus::Pending);
        let v = v.merge(TaskView::from_attempt(&attempt(t, s, 1, Outcome::FailedAttempt)));
        assert_eq!(v.status(), TaskStatus::Retrying);
        let v = v.merge(TaskView::from_attempt(&attempt(t, s, 2, Outcome::PermanentlyFailed)));
        assert_eq!(v.status(), TaskStatus::Failed);
        assert_eq!(v.attempts_count(), 2);
        let v = v.merge(TaskView::from_attempt(&attempt(t, s, 3, Outcome::Success)));
        assert_eq!(v.status(), TaskStatus::Succeeded);
    }

    #[test]
    fn an_attempt_repeated_by_a_replay_merges_the_same_either_way() {
        let (t, s) = (TaskId::new(), SubscriptionId::new());
        let plain = TaskView::from_attempt(&attempt(t, s, 2, Outcome::Success));
        let replayed = TaskView::from_attempt(&AttemptRecorded {
            replay_id: Some(ReplayId::new()),
            ..attempt(t, s, 2, Outcome::Success)
        });
        let merged = plain.clone().merge(replayed.clone());
        assert_eq!(merged, replayed.merge(plain));
        assert!(merged.last_attempt.and_then(|a| a.replay_id).is_some(), "the replay is kept");
    }

    proptest! {
        #[test]
        fn fold_ignores_order_and_repeats(order in Just((0..6usize).collect::<Vec<_>>()).prop_shuffle(), repeat in 0usize..6, last_ok in any::<bool>()) {
            let (t, s) = (TaskId::new(), SubscriptionId::new());
            let mut views = vec![TaskView::from_accepted(&accepted(t, s))];
            for n in 1..=4 {
                views.push(TaskView::from_attempt(&attempt(t, s, n, Outcome::FailedAttempt)));
            }
            let last = if last_ok { Outcome::Success } else { Outcome::PermanentlyFailed };
            views.push(TaskView::from_attempt(&attempt(t, s, 5, last)));
            let in_order = views.iter().cloned().reduce(TaskView::merge).unwrap();
            let mut shuffled: Vec<TaskView> = order.iter().map(|&i| views[i].clone()).collect();
            shuffled.push(views[repeat].clone());
            let folded = shuffled.into_iter().reduce(TaskView::merge).unwrap();
            prop_assert_eq!(&folded, &in_order);
            prop_assert_eq!(folded.attempts_count(), 5);
        }
    }
}
