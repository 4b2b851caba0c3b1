//! Replays: the tasks a selection names, sent again from the log at a paced rate, as
//! one operation whose progress is recorded in the log (topic `hookline.replays`,
//! key = replay id).
//!
//! A replay walks its subscriptions one after the other, each one's tasks newest
//! first, and queues each task it keeps as one more attempt marked with the replay
//! ([`ReplayMark`]). After each page it records how far it got
//! ([`ReplayEvent::ReplayProgressed`]): a replay taken up again after a crash starts
//! from its last progress, so that it may send a task twice, never skip one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::event_types::{wanted, EventTypePattern};
use crate::ids::{ReplayId, SubscriptionId};
use crate::task::{TaskStatus, TaskView};
use crate::tenant::TenantId;

/// The pace of a replay that asks for none: gentle on a receiver that just came back.
pub const DEFAULT_REPLAY_RATE_PER_SECOND: u32 = 10;
/// The fastest pace a replay may ask for.
pub const MAX_REPLAY_RATE_PER_SECOND: u32 = 1_000;

/// Where a replay stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplayState {
    /// Queueing tasks, or waiting for the last queued ones to end.
    Running,
    /// Every queued task was delivered or failed for good.
    Completed,
    /// Stopped by hand: nothing more is queued.
    Cancelled,
    /// Stopped by hookline (the reason says why).
    Failed,
}

impl ReplayState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReplayState::Running => "running",
            ReplayState::Completed => "completed",
            ReplayState::Cancelled => "cancelled",
            ReplayState::Failed => "failed",
        }
    }

    /// Whether nothing more happens to the replay.
    pub fn is_final(self) -> bool {
        self != ReplayState::Running
    }
}

/// The statuses a replay selects tasks by. `Pending` stands for every task not yet
/// ended (pending or retrying).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplayStatus {
    Failed,
    Succeeded,
    Pending,
}

impl ReplayStatus {
    pub const ALL: [ReplayStatus; 3] = [ReplayStatus::Failed, ReplayStatus::Succeeded, ReplayStatus::Pending];

    pub fn as_str(self) -> &'static str {
        match self {
            ReplayStatus::Failed => "failed",
            ReplayStatus::Succeeded => "succeeded",
            ReplayStatus::Pending => "pending",
        }
    }

    pub fn of(status: TaskStatus) -> ReplayStatus {
        match status {
            TaskStatus::Failed => ReplayStatus::Failed,
            TaskStatus::Succeeded => ReplayStatus::Succeeded,
            TaskStatus::Pending | TaskStatus::Retrying => ReplayStatus::Pending,
        }
    }

    /// The task status a listing can narrow to, when this selects exactly one.
    pub fn task_status(self) -> Option<TaskStatus> {
        match self {
            ReplayStatus::Failed => Some(TaskStatus::Failed),
            ReplayStatus::Succeeded => Some(TaskStatus::Succeeded),
            ReplayStatus::Pending => None,
        }
    }
}

/// Whose tasks a replay covers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplayScope {
    Subscription(SubscriptionId),
    /// Every subscription of the tenant that was enabled when the replay was asked for.
    Tenant(TenantId),
}

/// Which tasks a replay sends again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplaySelection {
    pub scope: ReplayScope,
    /// Tasks accepted at or after this time…
    pub since: DateTime<Utc>,
    /// …and before this one.
    pub until: DateTime<Utc>,
    /// Their status when the replay reaches them; never empty.
    pub statuses: Vec<ReplayStatus>,
    /// Only tasks whose event type one of these matches (absent: every task).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_types: Option<Vec<EventTypePattern>>,
}

impl ReplaySelection {
    /// Whether the replay sends `task` again (its subscription is the walk's business).
    pub fn keeps(&self, task: &TaskView) -> bool {
        self.in_window(task.created_at)
            && self.statuses.contains(&ReplayStatus::of(task.status()))
            && (self.event_types.is_none() || wanted(self.event_types.as_deref(), task.event_type.as_deref()))
    }

    pub fn in_window(&self, accepted_at: DateTime<Utc>) -> bool {
        self.since <= accepted_at && accepted_at < self.until
    }

    /// Whether a newest-first walk that reached a task accepted at `accepted_at` can
    /// stop: everything after it is older than the window.
    pub fn passed(&self, accepted_at: DateTime<Utc>) -> bool {
        accepted_at < self.since
    }

    /// The one task status a listing may be narrowed to, if the selection allows it.
    pub fn listing_status(&self) -> Option<TaskStatus> {
        match self.statuses.as_slice() {
            [only] => only.task_status(),
            _ => None,
        }
    }
}

/// A replay as it was asked for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayRequested {
    pub replay_id: ReplayId,
    /// The tenant the replay belongs to (the subscription's, for one subscription).
    pub tenant_id: TenantId,
    pub selection: ReplaySelection,
    /// The subscriptions to walk, in this order, fixed when the replay was asked for.
    pub subscriptions: Vec<SubscriptionId>,
    /// Where to send instead of each subscription's own URL (checked like any target).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_url: Option<String>,
    pub rate_per_second: u32,
    /// How many tasks the selection matched when the replay was asked for.
    pub matched: u64,
    pub requested_at: DateTime<Utc>,
}

/// How far a replay's walk got: every task before it is queued durably.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayCursor {
    /// The subscription being walked (an index into `ReplayRequested::subscriptions`).
    pub subscription_index: u32,
    /// Where its task listing goes on (a listing cursor), `None` at its start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
}

/// What happens to a replay (topic `hookline.replays`, key = replay id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ReplayEvent {
    ReplayRequested(ReplayRequested),
    /// `queued` tasks are queued durably; the walk goes on at `next` (`None`: every
    /// matching task is queued).
    ReplayProgressed {
        replay_id: ReplayId,
        queued: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<ReplayCursor>,
        at: DateTime<Utc>,
    },
    /// Asked to stop: nothing more is queued; what is queued already is still sent.
    ReplayCancelled {
        replay_id: ReplayId,
        at: DateTime<Utc>,
    },
    /// The replay is over.
    ReplayEnded {
        replay_id: ReplayId,
        state: ReplayState,
        queued: u64,
        delivered: u64,
        failed: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        at: DateTime<Utc>,
    },
}

impl ReplayEvent {
    pub fn replay_id(&self) -> ReplayId {
        match self {
            ReplayEvent::ReplayRequested(requested) => requested.replay_id,
            ReplayEvent::ReplayProgressed { replay_id, .. }
            | ReplayEvent::ReplayCancelled { replay_id, .. }
            | ReplayEvent::ReplayEnded { replay_id, .. } => *replay_id,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            ReplayEvent::ReplayRequested(_) => "ReplayRequested",
            ReplayEvent::ReplayProgressed { .. } => "ReplayProgressed",
            ReplayEvent::ReplayCancelled { .. } => "ReplayCancelled",
            ReplayEvent::ReplayEnded { .. } => "ReplayEnded",
        }
    }
}

/// What an attempt queued by a replay carries, from one retry to the next: the replay,
/// and the URL to send to instead of the subscription's own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayMark {
    pub replay_id: ReplayId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_url: Option<String>,
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, TimeZone};

    use super::*;
    use crate::events::{AttemptRecorded, Outcome};
    use crate::ids::TaskId;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
    }

    fn task(accepted: i64, event_type: &str, outcome: Option<Outcome>) -> TaskView {
        let mut view = TaskView {
            task_id: TaskId::new(),
            subscription_id: SubscriptionId::new(),
            event_type: Some(event_type.into()),
            created_at: at(accepted),
            last_attempt: None,
        };
        if let Some(outcome) = outcome {
            let attempt = AttemptRecorded {
                task_id: view.task_id,
                subscription_id: view.subscription_id,
                attempt_number: 1,
                outcome,
                http_status: Some(500),
                error: None,
                latency_ms: 1,
                response_body: None,
                attempted_at: at(accepted + 1),
                next_attempt_at: None,
                task_accepted_at: at(accepted),
                event_type: Some(event_type.into()),
                replay_id: None,
            };
            view = view.merge(TaskView::from_attempt(&attempt));
        }
        view
    }

    fn selection(statuses: Vec<ReplayStatus>, event_types: Option<Vec<&str>>) -> ReplaySelection {
        ReplaySelection {
            scope: ReplayScope::Tenant(TenantId::default()),
            since: at(100),
            until: at(200),
            statuses,
            event_types: event_types
                .map(|list| list.into_iter().map(|p| EventTypePattern::parse("event_types", p).unwrap()).collect()),
        }
    }

    #[test]
    fn a_selection_keeps_tasks_of_its_window_statuses_and_types() {
        let failed_only = selection(vec![ReplayStatus::Failed], None);
        assert!(failed_only.keeps(&task(100, "a", Some(Outcome::PermanentlyFailed))));
        assert!(!failed_only.keeps(&task(200, "a", Some(Outcome::PermanentlyFailed))), "until is excluded");
        assert!(!failed_only.keeps(&task(99, "a", Some(Outcome::PermanentlyFailed))));
        assert!(!failed_only.keeps(&task(150, "a", Some(Outcome::Success))));
        assert_eq!(failed_only.listing_status(), Some(TaskStatus::Failed));

        let pending = selection(vec![ReplayStatus::Pending], Some(vec!["order.*"]));
        assert!(pending.keeps(&task(150, "order.created", None)));
        assert!(pending.keeps(&task(150, "order.created", Some(Outcome::FailedAttempt))));
        assert!(!pending.keeps(&task(150, "invoice.paid", None)));
        assert_eq!(pending.listing_status(), None, "pending and retrying are two statuses");
        assert!(pending.passed(at(99)) && !pending.passed(at(100)));
    }

    #[test]
    fn replay_events_name_their_replay_and_kind() {
        let id = ReplayId::new();
        let progressed = ReplayEvent::ReplayProgressed { replay_id: id, queued: 3, next: None, at: at(0) };
        let json = serde_json::to_value(&progressed).unwrap();
        assert_eq!(json["type"], "ReplayProgressed");
        assert_eq!(progressed.replay_id(), id);
        let requested = ReplayEvent::ReplayRequested(ReplayRequested {
            replay_id: id,
            tenant_id: TenantId::default(),
            selection: selection(ReplayStatus::ALL.to_vec(), None),
            subscriptions: vec![SubscriptionId::new()],
            target_url: None,
            rate_per_second: DEFAULT_REPLAY_RATE_PER_SECOND,
            matched: 2,
            requested_at: at(0) + TimeDelta::seconds(1),
        });
        let back: ReplayEvent = serde_json::from_slice(&serde_json::to_vec(&requested).unwrap()).unwrap();
        assert_eq!(back, requested);
        assert_eq!(back.kind(), "ReplayRequested");
    }
}
