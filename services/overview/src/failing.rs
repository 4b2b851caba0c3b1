//! The subscriptions failing most over the last hour, in bounded memory: a subscription
//! is tracked from its first failure (then its successes count too), in five-minute
//! slots; when the book is full, a new failing subscription takes the place of the one
//! with the fewest failures in the window. A subscription that fails a lot is therefore
//! always in the book; one that failed once long ago may have left it. Pure: time is
//! passed in, as seconds since the Unix epoch.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use hookline_domain::{SubscriptionId, TenantId};
use serde::Serialize;

const SLOT_SECONDS: i64 = 300;
const SLOTS: usize = 12;
/// The longest error text kept per subscription.
pub(crate) const ERROR_CHARS: usize = 200;

/// One subscription's failures in the window, as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FailingSubscription {
    pub subscription_id: SubscriptionId,
    /// `None` when the subscription's owner was not known when it failed.
    pub tenant_id: Option<TenantId>,
    pub failed: u64,
    pub attempts: u64,
    #[serde(serialize_with = "crate::rfc3339")]
    pub last_failed_at: DateTime<Utc>,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
}

/// (slot start, failed, attempts)
type Slot = (i64, u32, u32);

#[derive(Clone, Debug)]
struct Entry {
    tenant: Option<TenantId>,
    slots: [Slot; SLOTS],
    last_failed_at: DateTime<Utc>,
    last_status: Option<u16>,
    last_error: Option<String>,
}

impl Entry {
    fn in_window(&self, now: i64) -> (u64, u64) {
        let oldest = now - (SLOTS as i64) * SLOT_SECONDS;
        self.slots
            .iter()
            .filter(|(start, _, _)| *start > oldest)
            .fold((0, 0), |(failed, attempts), (_, f, a)| (failed + u64::from(*f), attempts + u64::from(*a)))
    }
}

/// What one attempt tells the book.
pub(crate) struct AttemptSeen {
    pub subscription: SubscriptionId,
    pub tenant: Option<TenantId>,
    pub succeeded: bool,
    pub at: DateTime<Utc>,
    pub status: Option<u16>,
    /// At most [`ERROR_CHARS`] characters.
    pub error: Option<String>,
}

#[derive(Debug)]
pub(crate) struct FailingBook {
    cap: usize,
    entries: HashMap<SubscriptionId, Entry>,
}

impl FailingBook {
    pub fn new(cap: usize) -> Self {
        Self { cap, entries: HashMap::new() }
    }

    pub fn record(&mut self, seen: AttemptSeen, now: i64) {
        if !self.entries.contains_key(&seen.subscription) {
            if seen.succeeded {
                return;
            }
            if self.entries.len() >= self.cap {
                self.evict(now);
            }
            let entry = Entry {
                tenant: seen.tenant.clone(),
                slots: [(i64::MIN, 0, 0); SLOTS],
                last_failed_at: seen.at,
                last_status: None,
                last_error: None,
            };
            self.entries.insert(seen.subscription, entry);
        }
        let Some(entry) = self.entries.get_mut(&seen.subscription) else { return };
        let start = now - now.rem_euclid(SLOT_SECONDS);
        let slot = &mut entry.slots[(start / SLOT_SECONDS).rem_euclid(SLOTS as i64) as usize];
        if slot.0 != start {
            *slot = (start, 0, 0);
        }
        slot.2 = slot.2.saturating_add(1);
        if !seen.succeeded {
            slot.1 = slot.1.saturating_add(1);
            entry.last_failed_at = seen.at;
            entry.last_status = seen.status;
            entry.last_error = seen.error;
        }
        if entry.tenant.is_none() {
            entry.tenant = seen.tenant;
        }
    }

    /// The `limit` subscriptions with the most failures in the window, of `tenant` (all
    /// when `None`); those without a failure in the window are left out.
    pub fn top(&self, tenant: Option<&TenantId>, limit: usize, now: i64) -> Vec<FailingSubscription> {
        let mut found: Vec<FailingSubscription> = self
            .entries
            .iter()
            .filter(|(_, entry)| tenant.is_none_or(|t| entry.tenant.as_ref() == Some(t)))
            .filter_map(|(id, entry)| {
                let (failed, attempts) = entry.in_window(now);
                (failed > 0).then(|| FailingSubscription {
                    subscription_id: *id,
                    tenant_id: entry.tenant.clone(),
                    failed,
                    attempts,
                    last_failed_at: entry.last_failed_at,
                    last_status: entry.last_status,
                    last_error: entry.last_error.clone(),
                })
            })
            .collect();
        found.sort_by(|a, b| b.failed.cmp(&a.failed).then(b.last_failed_at.cmp(&a.last_failed_at)));
        found.truncate(limit);
        found
    }

    /// Makes room: drops the entry with the fewest failures in the window (the longest
    /// since it failed among equals).
    fn evict(&mut self, now: i64) {
        let weakest = self
            .entries
            .iter()
            .min_by_key(|(_, entry)| (entry.in_window(now).0, entry.last_failed_at))
            .map(|(id, _)| *id);
        if let Some(id) = weakest {
            self.entries.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000;

    fn seen(sub: SubscriptionId, tenant: &str, succeeded: bool, at: i64) -> AttemptSeen {
        AttemptSeen {
            subscription: sub,
            tenant: Some(tenant.parse().unwrap()),
            succeeded,
            at: DateTime::from_timestamp(at, 0).unwrap(),
            status: (!succeeded).then_some(503),
            error: (!succeeded).then(|| "HTTP 503".to_string()),
        }
    }

    #[test]
    fn ranks_by_failures_in_the_hour_within_a_tenant() {
        let mut book = FailingBook::new(10);
        let (a, b, c) = (SubscriptionId::new(), SubscriptionId::new(), SubscriptionId::new());
        book.record(seen(c, "acme", true, T0), T0);
        for n in 0..3 {
            book.record(seen(a, "acme", false, T0 + n), T0 + n);
        }
        book.record(seen(a, "acme", true, T0 + 5), T0 + 5);
        book.record(seen(b, "globex", false, T0 + 6), T0 + 6);
        let top = book.top(None, 10, T0 + 10);
        assert_eq!(top.iter().map(|f| f.subscription_id).collect::<Vec<_>>(), [a, b], "never failed: not listed");
        assert_eq!((top[0].failed, top[0].attempts), (3, 4));
        assert_eq!(top[0].last_status, Some(503));
        assert_eq!(top[0].last_failed_at, DateTime::from_timestamp(T0 + 2, 0).unwrap());
        let globex = book.top(Some(&"globex".parse().unwrap()), 10, T0 + 10);
        assert_eq!(globex.iter().map(|f| f.subscription_id).collect::<Vec<_>>(), [b]);
        assert!(book.top(None, 10, T0 + 3600 + SLOT_SECONDS).is_empty(), "an hour later nothing is failing");
    }

    #[test]
    fn a_full_book_makes_room_for_the_new_failure_by_dropping_the_weakest() {
        let mut book = FailingBook::new(2);
        let (strong, weak, new) = (SubscriptionId::new(), SubscriptionId::new(), SubscriptionId::new());
        book.record(seen(strong, "acme", false, T0), T0);
        book.record(seen(strong, "acme", false, T0 + 1), T0 + 1);
        book.record(seen(weak, "acme", false, T0 + 2), T0 + 2);
        book.record(seen(new, "acme", false, T0 + 3), T0 + 3);
        let ids: Vec<SubscriptionId> = book.top(None, 10, T0 + 4).iter().map(|f| f.subscription_id).collect();
        assert_eq!(ids, [strong, new]);
        let mut with_error = seen(new, "acme", false, T0 + 5);
        with_error.error = Some("connection refused".into());
        book.record(with_error, T0 + 5);
        let top = book.top(None, 1, T0 + 6);
        assert_eq!((top[0].subscription_id, top[0].last_error.as_deref()), (new, Some("connection refused")));
    }
}
