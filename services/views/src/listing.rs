//! What every adapter shares about the newest-first listings (tasks, and a tenant's
//! events): the filters, the position a cursor stands for, and how a walk over the
//! items, newest first, becomes a page.

use std::fmt::Display;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use hookline_domain::{EventId, ReplayId, SubscriptionId, TaskId, TaskStatus, TaskView};

use crate::{EventFilter, EventView, Page, ViewError};

/// How many items a page may examine beyond those it returns, so that a filter
/// that matches little costs a bounded walk per request.
pub const LISTING_SCAN_BUDGET: usize = 1000;

/// Which tasks a listing keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskFilter {
    /// Only this subscription's tasks.
    pub subscription: Option<SubscriptionId>,
    /// Only tasks of this status now.
    pub status: Option<TaskStatus>,
    /// Only tasks accepted at or after this time: older ones end the walk.
    pub accepted_since: Option<DateTime<Utc>>,
    /// Only tasks accepted before this time: a first page starts its walk there rather
    /// than at the newest task.
    pub accepted_before: Option<DateTime<Utc>>,
}

impl TaskFilter {
    /// Where a walk without a cursor starts (exclusive), when `accepted_before` is set:
    /// just after its millisecond, so that no task of that millisecond accepted before
    /// it is passed over (those at or after it are filtered out).
    pub fn walk_start(&self) -> Option<TaskPosition> {
        self.accepted_before.map(|before| ListingPosition {
            at_ms: before.timestamp_millis().saturating_add(1),
            id: TaskId::from_bytes([0; 16]),
        })
    }

    /// Where a walk starts (exclusive): after the cursor's position, or else at
    /// [`TaskFilter::walk_start`]; `None` from the newest task.
    pub fn start_after(&self, cursor: Option<TaskPosition>) -> Option<TaskPosition> {
        cursor.or_else(|| self.walk_start())
    }
}

/// Where an item sits in its listing: its time in milliseconds (what every store
/// keeps exactly), then its id. Listings run from the greatest down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ListingPosition<Id> {
    pub at_ms: i64,
    pub id: Id,
}

/// A task's place in the task listings: its acceptance time, then its id.
pub type TaskPosition = ListingPosition<TaskId>;
/// An event's place in its tenant's listing: its acceptance time, then its id.
pub type EventPosition = ListingPosition<EventId>;

/// The id of a listed item: 16 bytes, whose order breaks ties between items of one
/// millisecond, and which stores keep as they are.
pub trait ListingId: Copy + Eq + Display + FromStr {
    fn id_bytes(&self) -> [u8; 16];
    fn from_id_bytes(bytes: [u8; 16]) -> Self;
}

macro_rules! listing_id {
    ($($id:ty),*) => {$(
        impl ListingId for $id {
            fn id_bytes(&self) -> [u8; 16] {
                *self.as_bytes()
            }
            fn from_id_bytes(bytes: [u8; 16]) -> Self {
                <$id>::from_bytes(bytes)
            }
        }
    )*};
}

listing_id!(TaskId, EventId, ReplayId);

/// What a listing holds: something with a place in it.
pub trait Listed {
    type Id: ListingId;
    fn position(&self) -> ListingPosition<Self::Id>;
}

impl Listed for TaskView {
    type Id = TaskId;
    fn position(&self) -> TaskPosition {
        ListingPosition { at_ms: self.created_at.timestamp_millis(), id: self.task_id }
    }
}

/// Which items of a listing a page keeps.
pub trait ListingFilter<T: Listed> {
    fn keeps(&self, item: &T) -> bool;

    /// Whether no item at `position` or after it (older) can be kept: the walk ends there.
    fn ends_before(&self, _position: &ListingPosition<T::Id>) -> bool {
        false
    }
}

impl Listed for EventView {
    type Id = EventId;
    fn position(&self) -> EventPosition {
        ListingPosition { at_ms: self.accepted_at.timestamp_millis(), id: self.event_id }
    }
}

impl ListingFilter<TaskView> for TaskFilter {
    fn keeps(&self, task: &TaskView) -> bool {
        self.subscription.is_none_or(|sub| sub == task.subscription_id)
            && self.status.is_none_or(|status| status == task.status())
            && self.accepted_since.is_none_or(|since| task.created_at >= since)
            && self.accepted_before.is_none_or(|before| task.created_at < before)
    }

    fn ends_before(&self, position: &TaskPosition) -> bool {
        self.accepted_since.is_some_and(|since| position.at_ms < since.timestamp_millis())
    }
}

impl ListingFilter<EventView> for EventFilter {
    fn keeps(&self, event: &EventView) -> bool {
        self.event_type.as_ref().is_none_or(|wanted| *wanted == event.event_type)
            && self.since.is_none_or(|since| event.accepted_at >= since)
    }

    fn ends_before(&self, position: &EventPosition) -> bool {
        self.since.is_some_and(|since| position.at_ms < since.timestamp_millis())
    }
}

impl<Id> ListingPosition<Id> {
    pub fn of<T: Listed<Id = Id>>(item: &T) -> Self {
        item.position()
    }
}

impl<Id: ListingId> ListingPosition<Id> {
    /// The cursor that resumes a listing after this position.
    pub fn cursor(&self) -> String {
        format!("{}_{}", self.at_ms, self.id)
    }

    /// The position a cursor stands for.
    pub fn from_cursor(cursor: &str) -> Result<Self, ViewError> {
        let (ms, id) = cursor.split_once('_').ok_or(ViewError::InvalidCursor)?;
        let at_ms = ms.parse::<i64>().map_err(|_| ViewError::InvalidCursor)?;
        let id = Id::from_str(id).map_err(|_| ViewError::InvalidCursor)?;
        Ok(Self { at_ms, id })
    }
}

/// Builds a page from the items a walk examines in listing order.
#[derive(Debug)]
pub struct PageBuilder<T: Listed, F> {
    filter: F,
    limit: usize,
    items: Vec<T>,
    examined: usize,
    /// Set once the page is complete: where the next page resumes.
    next: Option<ListingPosition<T::Id>>,
    /// Set once the walk has passed every item the filter could keep.
    exhausted: bool,
}

impl<T: Listed, F: ListingFilter<T>> PageBuilder<T, F> {
    pub fn new(filter: F, limit: usize) -> Self {
        Self { filter, limit, items: Vec::with_capacity(limit.min(1024)), examined: 0, next: None, exhausted: false }
    }

    /// Whether the page needs no more items.
    pub fn is_complete(&self) -> bool {
        self.next.is_some() || self.exhausted || self.limit == 0
    }

    /// Takes the item at `position`; `None` stands for an entry whose item has expired
    /// or moved. Returns whether the walk should go on.
    pub fn offer(&mut self, position: ListingPosition<T::Id>, item: Option<T>) -> bool {
        if self.is_complete() {
            return false;
        }
        if self.filter.ends_before(&position) {
            self.exhausted = true;
            return false;
        }
        self.examined += 1;
        if let Some(item) = item.filter(|item| self.filter.keeps(item)) {
            if self.items.len() == self.limit {
                // A match beyond the page: another page follows the last item.
                self.next = self.items.last().map(Listed::position);
                return false;
            }
            self.items.push(item);
        }
        if self.examined - self.items.len() >= LISTING_SCAN_BUDGET {
            self.next = Some(position);
            return false;
        }
        true
    }

    /// The page, once complete or once the walk has run out of items.
    pub fn finish(self) -> Page<T> {
        Page { items: self.items, next: self.next.map(|position| position.cursor()) }
    }
}

#[cfg(test)]
mod tests {
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
                replay_id: None,
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
        let mut page = PageBuilder::new(TaskFilter::default(), 2);
        assert!(page.offer(TaskPosition::of(&tasks[0]), Some(tasks[0].clone())));
        assert!(page.offer(TaskPosition::of(&tasks[1]), Some(tasks[1].clone())));
        assert!(!page.offer(TaskPosition::of(&tasks[2]), Some(tasks[2].clone())));
        let page = page.finish();
        assert_eq!(page.items, tasks[..2]);
        assert_eq!(page.next, Some(TaskPosition::of(&tasks[1]).cursor()));

        let mut exact = PageBuilder::new(TaskFilter::default(), 3);
        for t in &tasks {
            exact.offer(TaskPosition::of(t), Some(t.clone()));
        }
        assert_eq!(exact.finish().next, None, "a walk that ran out has no next page");
    }

    #[test]
    fn a_filter_that_matches_little_stops_at_the_budget_and_resumes_there() {
        let failed = TaskFilter { status: Some(TaskStatus::Failed), ..TaskFilter::default() };
        let mut page = PageBuilder::new(failed, 10);
        let mut last = None;
        for i in 0..LISTING_SCAN_BUDGET as i64 {
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

    #[test]
    fn an_event_older_than_since_ends_the_walk_without_a_next_page() {
        let event = |ms: i64, event_type: &str| EventView {
            event_id: EventId::new(),
            tenant_id: hookline_domain::TenantId::default(),
            event_type: event_type.into(),
            accepted_at: DateTime::<Utc>::from_timestamp_millis(ms).unwrap(),
            idempotency_key: None,
            subscriptions: Vec::new(),
            payload_at: hookline_domain::LogPosition { topic: "hookline.fanout".into(), partition: 0, offset: 0 },
        };
        let since = DateTime::<Utc>::from_timestamp_millis(5_000).unwrap();
        let filter = EventFilter { event_type: Some("a".into()), since: Some(since) };
        let events = [event(6_000, "a"), event(5_500, "b"), event(5_000, "a"), event(4_999, "a")];
        let mut page = PageBuilder::new(filter, 10);
        for e in &events[..3] {
            assert!(page.offer(e.position(), Some(e.clone())), "the walk goes on down to since");
        }
        assert!(!page.offer(events[3].position(), Some(events[3].clone())), "an older event ends it");
        assert!(page.is_complete());
        let page = page.finish();
        assert_eq!(page.items, vec![events[0].clone(), events[2].clone()], "type and since both kept");
        assert_eq!(page.next, None, "nothing older can match: no next page");
    }
}
