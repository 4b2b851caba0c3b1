//! What the views keep of a replay: its records (`hookline.replays`) folded in any
//! order and any number of times, and the outcomes of the attempts it queued, counted
//! per task.

use chrono::{DateTime, Utc};
use hookline_domain::replay::ReplayCursor;
use hookline_domain::{Outcome, ReplayEvent, ReplayId, ReplayRequested, ReplayState, TenantId};
use serde::{Deserialize, Serialize};

use crate::{Listed, ListingFilter, ListingPosition};

/// A replay as the views keep it: its request, where it stands, and the outcomes of what it queued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayView {
    pub request: ReplayRequested,
    /// `Running` until a ReplayEnded is folded; then that record's state.
    pub state: ReplayState,
    /// When it was asked to stop (the state stays `Running` until it has ended).
    pub cancelled_at: Option<DateTime<Utc>>,
    /// The greatest `queued` of its progress records and of its end.
    pub queued: u64,
    /// A progress record said that every matching task is queued.
    pub all_queued: bool,
    /// Where the walk goes on: the cursor of the progress with the greatest `queued`
    /// (`None` once all are queued, or before any progress).
    pub next: Option<ReplayCursor>,
    /// Distinct tasks with an attempt of this replay that succeeded.
    pub delivered: u64,
    /// Distinct tasks with an attempt of this replay that failed for good, and none of
    /// this replay that succeeded.
    pub failed: u64,
    pub finished_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
}

/// The place of a replay in the replay listings: its request time, then its id.
pub type ReplayPosition = ListingPosition<ReplayId>;

impl Listed for ReplayView {
    type Id = ReplayId;
    fn position(&self) -> ReplayPosition {
        ListingPosition { at_ms: self.request.requested_at.timestamp_millis(), id: self.request.replay_id }
    }
}

/// Which replays a listing keeps: a tenant's, or all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplayFilter {
    pub tenant: Option<TenantId>,
}

impl ListingFilter<ReplayView> for ReplayFilter {
    fn keeps(&self, replay: &ReplayView) -> bool {
        self.tenant.as_ref().is_none_or(|tenant| *tenant == replay.request.tenant_id)
    }
}

/// The progress record with the greatest `queued`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayProgress {
    pub queued: u64,
    pub next: Option<ReplayCursor>,
    pub at: DateTime<Utc>,
}

impl ReplayProgress {
    /// Total order of two progress records: the most queued, then the later, then
    /// (for records that differ in nothing else) the cursor, so that the choice never
    /// depends on arrival order.
    fn outranks(&self, other: &Self) -> bool {
        let rank = |p: &Self| {
            (p.queued, p.at, p.next.is_none(), p.next.as_ref().map(|c| (c.subscription_index, c.page.clone())))
        };
        rank(self) > rank(other)
    }
}

/// The end record of a replay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayEnd {
    pub state: ReplayState,
    pub queued: u64,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

impl ReplayEnd {
    /// A replay ends once; should two ends be recorded, the later wins, then the one
    /// that sorts last, whatever the order they are folded in.
    fn outranks(&self, other: &Self) -> bool {
        let rank = |e: &Self| (e.at, e.state.as_str(), e.queued, e.reason.clone());
        rank(self) > rank(other)
    }
}

/// What the views know of a replay from its records, folded in any order: a record
/// that arrives before the request is kept and merged once the request comes.
/// (The counts of delivered and failed tasks are kept beside it, per task.)
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayRecords {
    pub request: Option<ReplayRequested>,
    pub progress: Option<ReplayProgress>,
    /// Some progress record had no `next`: everything is queued.
    pub all_queued: bool,
    /// The earliest cancellation.
    pub cancelled_at: Option<DateTime<Utc>>,
    pub end: Option<ReplayEnd>,
}

impl ReplayRecords {
    /// Folds one record in; idempotent and order-insensitive.
    pub fn fold(&mut self, event: ReplayEvent) {
        match event {
            ReplayEvent::ReplayRequested(request) => {
                // A request is recorded once; a repeat is the same record.
                if self.request.is_none() {
                    self.request = Some(request);
                }
            }
            ReplayEvent::ReplayProgressed { queued, next, at, .. } => {
                self.all_queued |= next.is_none();
                let progress = ReplayProgress { queued, next, at };
                if self.progress.as_ref().is_none_or(|known| progress.outranks(known)) {
                    self.progress = Some(progress);
                }
            }
            ReplayEvent::ReplayCancelled { at, .. } => {
                self.cancelled_at = Some(self.cancelled_at.map_or(at, |known| known.min(at)));
            }
            ReplayEvent::ReplayEnded { state, queued, reason, at, .. } => {
                let end = ReplayEnd { state, queued, reason, at };
                if self.end.as_ref().is_none_or(|known| end.outranks(known)) {
                    self.end = Some(end);
                }
            }
        }
    }

    /// The latest thing that happened to the replay, which its retention counts from.
    pub fn last_activity(&self) -> Option<DateTime<Utc>> {
        [
            self.request.as_ref().map(|r| r.requested_at),
            self.progress.as_ref().map(|p| p.at),
            self.cancelled_at,
            self.end.as_ref().map(|e| e.at),
        ]
        .into_iter()
        .flatten()
        .max()
    }

    /// The view, once the request is known.
    pub fn view(&self, outcomes: ReplayOutcomes) -> Option<ReplayView> {
        let request = self.request.clone()?;
        let progressed = self.progress.as_ref().map_or(0, |p| p.queued);
        Some(ReplayView {
            request,
            state: self.end.as_ref().map_or(ReplayState::Running, |e| e.state),
            cancelled_at: self.cancelled_at,
            queued: progressed.max(self.end.as_ref().map_or(0, |e| e.queued)),
            all_queued: self.all_queued,
            next: match self.all_queued {
                true => None,
                false => self.progress.as_ref().and_then(|p| p.next.clone()),
            },
            delivered: outcomes.delivered,
            failed: outcomes.failed,
            finished_at: self.end.as_ref().map(|e| e.at),
            reason: self.end.as_ref().and_then(|e| e.reason.clone()),
        })
    }
}

/// The best outcome the attempts of one replay had for one task: what it counts as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReplayTaskOutcome {
    Failed = 1,
    Delivered = 2,
}

impl ReplayTaskOutcome {
    /// What an attempt's outcome counts as: a failed attempt that will be retried counts as nothing yet.
    pub fn of(outcome: Outcome) -> Option<Self> {
        match outcome {
            Outcome::Success => Some(ReplayTaskOutcome::Delivered),
            Outcome::PermanentlyFailed => Some(ReplayTaskOutcome::Failed),
            Outcome::FailedAttempt => None,
        }
    }

    pub fn tag(self) -> u8 {
        self as u8
    }

    pub fn from_tag(tag: u8) -> Option<Self> {
        match tag {
            1 => Some(ReplayTaskOutcome::Failed),
            2 => Some(ReplayTaskOutcome::Delivered),
            _ => None,
        }
    }
}

/// How many distinct tasks of a replay were delivered, and how many failed for good.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayOutcomes {
    pub delivered: u64,
    pub failed: u64,
}

impl ReplayOutcomes {
    /// Counts a task whose best outcome went from `before` to `after` (never worse).
    pub fn count(&mut self, before: Option<ReplayTaskOutcome>, after: ReplayTaskOutcome) {
        if before == Some(after) {
            return;
        }
        match before {
            Some(ReplayTaskOutcome::Failed) => self.failed = self.failed.saturating_sub(1),
            Some(ReplayTaskOutcome::Delivered) => self.delivered = self.delivered.saturating_sub(1),
            None => {}
        }
        match after {
            ReplayTaskOutcome::Failed => self.failed += 1,
            ReplayTaskOutcome::Delivered => self.delivered += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use hookline_domain::replay::{ReplayScope, ReplaySelection, ReplayStatus};
    use hookline_domain::SubscriptionId;

    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
    }

    fn records(id: ReplayId) -> Vec<ReplayEvent> {
        let sub = SubscriptionId::new();
        let cursor = |page: &str| Some(ReplayCursor { subscription_index: 0, page: Some(page.into()) });
        vec![
            ReplayEvent::ReplayRequested(ReplayRequested {
                replay_id: id,
                tenant_id: TenantId::default(),
                selection: ReplaySelection {
                    scope: ReplayScope::Subscription(sub),
                    since: at(-100),
                    until: at(0),
                    statuses: vec![ReplayStatus::Failed],
                    event_types: None,
                },
                subscriptions: vec![sub],
                target_url: None,
                rate_per_second: 10,
                matched: 30,
                requested_at: at(0),
            }),
            ReplayEvent::ReplayProgressed { replay_id: id, queued: 10, next: cursor("a"), at: at(1) },
            ReplayEvent::ReplayProgressed { replay_id: id, queued: 20, next: cursor("b"), at: at(2) },
            ReplayEvent::ReplayCancelled { replay_id: id, at: at(3) },
            ReplayEvent::ReplayEnded {
                replay_id: id,
                state: ReplayState::Cancelled,
                queued: 20,
                delivered: 0,
                failed: 0,
                reason: None,
                at: at(4),
            },
        ]
    }

    #[test]
    fn records_fold_the_same_in_any_order_and_repeated() {
        let id = ReplayId::new();
        let events = records(id);
        let mut in_order = ReplayRecords::default();
        events.iter().cloned().for_each(|e| in_order.fold(e));
        let mut backwards = ReplayRecords::default();
        events.iter().rev().chain(events.iter()).cloned().for_each(|e| backwards.fold(e));
        assert_eq!(in_order, backwards);
        let view = in_order.view(ReplayOutcomes::default()).unwrap();
        assert_eq!((view.state, view.queued, view.all_queued), (ReplayState::Cancelled, 20, false));
        assert_eq!(view.next.and_then(|c| c.page).as_deref(), Some("b"));
        assert_eq!(view.cancelled_at, Some(at(3)));
        assert_eq!(in_order.last_activity(), Some(at(4)));

        let mut without_request = ReplayRecords::default();
        events[1..].iter().cloned().for_each(|e| without_request.fold(e));
        assert_eq!(without_request.view(ReplayOutcomes::default()), None, "no view before its request");
    }

    #[test]
    fn a_task_counts_once_at_its_best_outcome() {
        let mut outcomes = ReplayOutcomes::default();
        outcomes.count(None, ReplayTaskOutcome::Failed);
        outcomes.count(Some(ReplayTaskOutcome::Failed), ReplayTaskOutcome::Failed);
        assert_eq!(outcomes, ReplayOutcomes { delivered: 0, failed: 1 });
        outcomes.count(Some(ReplayTaskOutcome::Failed), ReplayTaskOutcome::Delivered);
        outcomes.count(None, ReplayTaskOutcome::Delivered);
        assert_eq!(outcomes, ReplayOutcomes { delivered: 2, failed: 0 });
    }
}
