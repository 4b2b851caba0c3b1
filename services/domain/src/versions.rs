//! Which subscription changes the log accepts: the rule every reader of the
//! subscriptions topic folds with, so that all of them agree.
//!
//! A writer reads a subscription at version *v* and appends a change stating *v + 1*
//! (a whole snapshot, or a deletion). Changes of one subscription share a key, hence
//! a partition, so every reader sees them in the same order; the first change that
//! states *v + 1* after version *v* is accepted, and every other change stating it
//! (a writer that read the same version, or an older one) is refused and changes
//! nothing. This is a conditional append decided by the log's order: it needs no
//! lock and no coordinator, works the same on the embedded log and on Kafka with any
//! number of writers, and replaying the log gives the same verdicts. A writer learns
//! its verdict from the views, which record which write made each version.
//!
//! A deletion is final: nothing is accepted after it, whatever version it states.
//! Changes written before versions existed (version 0) keep their old meaning while
//! the subscription has no version yet; a deletion of version 0 always applies.

use crate::events::SubscriptionEvent;
use crate::subscription::SubscriptionState;

/// What a reader knows of a subscription id before a change: all the rule needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Known {
    Unknown,
    Live { version: u64 },
    Deleted,
}

impl Known {
    pub fn of(state: Option<&SubscriptionState>) -> Known {
        match state {
            None => Known::Unknown,
            Some(SubscriptionState::Live(live)) => Known::Live { version: live.version },
            Some(SubscriptionState::Deleted { .. }) => Known::Deleted,
        }
    }
}

/// Whether the log accepts `event` after what a reader knows of its id.
pub fn accepts(known: Known, event: &SubscriptionEvent) -> bool {
    let known = match known {
        Known::Deleted => return false,
        Known::Live { version } => Some(version),
        Known::Unknown => None,
    };
    match event {
        SubscriptionEvent::SubscriptionCreated { .. } => known.is_none(),
        SubscriptionEvent::SubscriptionUpdated { subscription } => match known {
            // Nothing before it in the log: the update stands on its own.
            None => true,
            Some(0) => subscription.version <= 1,
            Some(v) => subscription.version == v + 1,
        },
        SubscriptionEvent::SubscriptionDeleted { version, .. } => match known {
            None => true,
            Some(v) => *version == 0 || *version == v + 1,
        },
    }
}

/// The state after `event`, given `current` (what the log held for the id before
/// it), or `None` when the log refuses the change.
pub fn apply(current: Option<&SubscriptionState>, event: &SubscriptionEvent) -> Option<SubscriptionState> {
    if !accepts(Known::of(current), event) {
        return None;
    }
    Some(match event {
        SubscriptionEvent::SubscriptionCreated { subscription }
        | SubscriptionEvent::SubscriptionUpdated { subscription } => SubscriptionState::Live(subscription.clone()),
        SubscriptionEvent::SubscriptionDeleted { id, deleted_at, .. } => {
            SubscriptionState::Deleted { id: *id, deleted_at: *deleted_at }
        }
    })
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use uuid::Uuid;

    use super::*;
    use crate::ids::SubscriptionId;
    use crate::subscription::Subscription;

    fn created() -> Subscription {
        Subscription::new(SubscriptionId::new(), "https://example.com/h", Utc::now())
    }

    fn updated(s: &Subscription) -> SubscriptionEvent {
        SubscriptionEvent::SubscriptionUpdated { subscription: s.next_version(Uuid::new_v4()) }
    }

    fn deleted(id: SubscriptionId, version: u64) -> SubscriptionEvent {
        SubscriptionEvent::SubscriptionDeleted { id, deleted_at: Utc::now(), version, write_id: Some(Uuid::new_v4()) }
    }

    #[test]
    fn the_first_change_stating_the_next_version_wins() {
        let base = created();
        let state = SubscriptionState::Live(base.clone());
        let (first, second) = (updated(&base), updated(&base));
        let after = apply(Some(&state), &first).expect("the first is accepted");
        assert_eq!(after.live().map(|s| s.version), Some(2));
        assert_eq!(apply(Some(&after), &second), None, "the second read the same version");
        // A change replayed after it was accepted is refused: replays change nothing.
        assert_eq!(apply(Some(&after), &first), None);
        let SubscriptionState::Live(two) = &after else { unreachable!() };
        assert!(apply(Some(&after), &updated(two)).is_some());
    }

    #[test]
    fn a_deletion_is_final() {
        let base = created();
        let state = SubscriptionState::Live(base.clone());
        let gone = apply(Some(&state), &deleted(base.id, 2)).expect("deleted");
        assert!(matches!(gone, SubscriptionState::Deleted { .. }));
        let mut late = base.next_version(Uuid::new_v4());
        late.version = 3;
        for event in [
            updated(&base),
            SubscriptionEvent::SubscriptionUpdated { subscription: late },
            SubscriptionEvent::SubscriptionCreated { subscription: base.clone() },
            deleted(base.id, 0),
        ] {
            assert_eq!(apply(Some(&gone), &event), None, "{event:?}");
        }
        // A deletion that read an older version is refused like any stale write.
        assert_eq!(apply(Some(&state), &deleted(base.id, 5)), None);
    }

    #[test]
    fn changes_from_before_versions_keep_their_meaning_until_the_first_versioned_one() {
        let legacy = Subscription { version: 0, ..created() };
        let state = SubscriptionState::Live(legacy.clone());
        let old_update = SubscriptionEvent::SubscriptionUpdated { subscription: legacy.clone() };
        assert!(apply(Some(&state), &old_update).is_some());
        let versioned = apply(Some(&state), &updated(&legacy)).expect("version 1 follows 0");
        assert_eq!(apply(Some(&versioned), &old_update), None);
        assert!(apply(Some(&versioned), &deleted(legacy.id, 0)).is_some());
        assert_eq!(apply(Some(&state), &SubscriptionEvent::SubscriptionCreated { subscription: legacy }), None);
    }
}
