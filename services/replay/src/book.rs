//! What the role knows of the replays not yet ended, folded from `hookline.replays`:
//! which to run, from where, and how far the consumer may commit.
//!
//! The role commits only up to the request of the oldest replay not ended (or past
//! everything it read when none is left), so that a restart reads again the request
//! and every later record of each unfinished replay, and takes each up from its
//! furthest progress. A record of a replay whose request was not read (one that ended
//! before the commit point) is ignored.

use std::collections::{BTreeMap, HashMap};

use hookline_domain::replay::ReplayEvent;
use hookline_domain::ReplayId;
use hookline_views::ReplayRecords;

use crate::runner::Resume;

/// A replay not yet ended.
struct Entry {
    records: ReplayRecords,
    /// The offset of its request in `hookline.replays`.
    requested_at: u64,
    /// Handed out to run (by this process, since the book was last cleared).
    started: bool,
}

/// What a folded record changes for the role.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Folded {
    /// Nothing to do now.
    Nothing,
    /// A replay was cancelled: stop queueing it.
    Cancelled(ReplayId),
}

/// The replays not yet ended, and the consumer's position.
#[derive(Default)]
pub(crate) struct Book {
    open: HashMap<ReplayId, Entry>,
    /// Replays by the offset of their request: the order they run in.
    by_request: BTreeMap<u64, ReplayId>,
    /// One past the last record folded.
    read_to: Option<u64>,
}

impl Book {
    /// Folds the record at `offset`.
    pub fn fold(&mut self, offset: u64, event: ReplayEvent) -> Folded {
        self.passed(offset);
        let id = event.replay_id();
        if let ReplayEvent::ReplayRequested(_) = &event {
            if let std::collections::hash_map::Entry::Vacant(vacant) = self.open.entry(id) {
                vacant.insert(Entry { records: ReplayRecords::default(), requested_at: offset, started: false });
                self.by_request.insert(offset, id);
            }
        }
        let Some(entry) = self.open.get_mut(&id) else {
            return Folded::Nothing;
        };
        let cancelled = matches!(event, ReplayEvent::ReplayCancelled { .. });
        let ended = matches!(event, ReplayEvent::ReplayEnded { .. });
        entry.records.fold(event);
        if ended {
            self.by_request.remove(&entry.requested_at);
            self.open.remove(&id);
            return Folded::Nothing;
        }
        if cancelled {
            Folded::Cancelled(id)
        } else {
            Folded::Nothing
        }
    }

    /// Notes that the record at `offset` was read (whether or not it could be folded).
    pub fn passed(&mut self, offset: u64) {
        let next = offset.saturating_add(1);
        self.read_to = Some(self.read_to.map_or(next, |read| read.max(next)));
    }

    /// One past the last record read, if any.
    pub fn read_to(&self) -> Option<u64> {
        self.read_to
    }

    /// The offset the consumer may commit: the request of the oldest replay not ended,
    /// else one past the last record read.
    pub fn commit_point(&self) -> Option<u64> {
        self.by_request.keys().next().copied().or(self.read_to)
    }

    /// Replays not yet handed out, oldest first, at most `room`; each is handed out once.
    pub fn hand_out(&mut self, room: usize) -> Vec<Resume> {
        let mut started = Vec::new();
        for id in self.by_request.values() {
            if started.len() == room {
                break;
            }
            let Some(entry) = self.open.get_mut(id) else { continue };
            if entry.started {
                continue;
            }
            let Some(request) = entry.records.request.clone() else { continue };
            entry.started = true;
            let progress = entry.records.progress.as_ref();
            started.push(Resume {
                request,
                queued: progress.map_or(0, |p| p.queued),
                next: progress.and_then(|p| p.next.clone()),
                all_queued: entry.records.all_queued,
                cancelled: entry.records.cancelled_at.is_some(),
            });
        }
        started
    }

    /// Replays asked for and not yet handed out.
    pub fn waiting(&self) -> usize {
        self.open.values().filter(|entry| !entry.started).count()
    }

    /// Forgets everything: the partition went to another process, which takes the
    /// replays up from their records.
    pub fn clear(&mut self) {
        *self = Book::default();
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use hookline_domain::replay::{
        ReplayCursor, ReplayRequested, ReplayScope, ReplaySelection, ReplayState, ReplayStatus,
    };
    use hookline_domain::{SubscriptionId, TenantId};

    use super::*;

    fn requested(id: ReplayId) -> ReplayEvent {
        let at = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
        let sub = SubscriptionId::new();
        ReplayEvent::ReplayRequested(ReplayRequested {
            replay_id: id,
            tenant_id: TenantId::default(),
            selection: ReplaySelection {
                scope: ReplayScope::Subscription(sub),
                since: at,
                until: at,
                statuses: vec![ReplayStatus::Failed],
                event_types: None,
            },
            subscriptions: vec![sub],
            target_url: None,
            rate_per_second: 10,
            matched: 3,
            requested_at: at,
        })
    }

    fn progressed(id: ReplayId, queued: u64, page: Option<&str>) -> ReplayEvent {
        ReplayEvent::ReplayProgressed {
            replay_id: id,
            queued,
            next: page.map(|page| ReplayCursor { subscription_index: 0, page: Some(page.into()) }),
            at: Utc::now(),
        }
    }

    fn ended(id: ReplayId) -> ReplayEvent {
        ReplayEvent::ReplayEnded {
            replay_id: id,
            state: ReplayState::Completed,
            queued: 3,
            delivered: 3,
            failed: 0,
            reason: None,
            at: Utc::now(),
        }
    }

    #[test]
    fn commits_stop_at_the_oldest_unfinished_request_and_restarts_resume_from_the_furthest_progress() {
        let (first, second) = (ReplayId::new(), ReplayId::new());
        let mut book = Book::default();
        book.fold(10, requested(first));
        book.fold(11, requested(second));
        book.fold(12, progressed(first, 200, Some("a")));
        book.fold(13, progressed(second, 100, Some("x")));
        book.fold(14, progressed(first, 400, Some("b")));
        assert_eq!(book.commit_point(), Some(10));
        book.fold(15, ended(first));
        assert_eq!(book.commit_point(), Some(11), "the second replay holds the commit");

        // A restart reads from offset 11 on: the first replay's records are ignored.
        let mut again = Book::default();
        assert_eq!(again.fold(12, progressed(first, 200, Some("a"))), Folded::Nothing);
        again.fold(11, requested(second));
        again.fold(13, progressed(second, 100, Some("x")));
        again.fold(15, ended(first));
        let resumed = again.hand_out(4);
        assert_eq!(resumed.len(), 1);
        assert_eq!(resumed[0].request.replay_id, second);
        assert_eq!((resumed[0].queued, resumed[0].next.as_ref().and_then(|c| c.page.as_deref())), (100, Some("x")));
        assert!(again.hand_out(4).is_empty(), "handed out once");
        again.fold(16, ended(second));
        assert_eq!(again.commit_point(), Some(17), "nothing open: past everything read");
    }

    #[test]
    fn replays_beyond_the_room_wait_their_turn_and_a_cancel_is_reported() {
        let ids: Vec<ReplayId> = (0..3).map(|_| ReplayId::new()).collect();
        let mut book = Book::default();
        for (offset, id) in ids.iter().enumerate() {
            book.fold(offset as u64, requested(*id));
        }
        let first: Vec<ReplayId> = book.hand_out(2).iter().map(|r| r.request.replay_id).collect();
        assert_eq!(first, ids[..2]);
        assert_eq!(book.waiting(), 1);
        assert_eq!(
            book.fold(3, ReplayEvent::ReplayCancelled { replay_id: ids[2], at: Utc::now() }),
            Folded::Cancelled(ids[2])
        );
        let third = book.hand_out(1);
        assert!(third[0].cancelled, "a replay cancelled before it ran starts cancelled");
    }
}
