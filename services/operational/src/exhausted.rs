//! Gathering dead letters into `hookline.task.exhausted` summaries: at most one per
//! subscription per window (a minute), counting every task of the subscription that
//! was dead-lettered while its window was open. Pure: times are passed in.
//!
//! A window opens with the first dead letter of a subscription that has none open,
//! and closes one window length later; the next dead letter opens the next one. At
//! most `cap` windows are open at once: past it, [`Gatherer::add`] answers
//! [`Added::Full`] and the caller stops reading until the oldest window closes, so
//! that dead letters wait in the log, not in memory.
//!
//! Offsets: a subscription's dead letters are keyed by its id, so they all lie in one
//! partition; a window remembers the first offset it covers there. Until a window is
//! emitted, nothing from that offset on may be committed ([`Gatherer::holds_from`]):
//! a crash reads its dead letters again and gathers them again (the summary may be
//! repeated, never lost).

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use hookline_domain::operational::{OperationalData, EXHAUSTED_TASKS_LISTED};
use hookline_domain::{OperationalEvent, SubscriptionId, TaskDeadLettered, TaskId, TenantId};

/// Longest last error a summary keeps, in bytes: a receiver's answer can be large.
pub const LAST_ERROR_BYTES: usize = 512;

/// Where a dead letter was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct At {
    pub partition: u32,
    pub offset: u64,
}

/// The dead letters of one subscription gathered so far in its open window.
#[derive(Clone, Debug)]
struct Window {
    tenant: TenantId,
    closes_at: DateTime<Utc>,
    count: u64,
    first_failed_at: DateTime<Utc>,
    last_failed_at: DateTime<Utc>,
    last_error: Option<String>,
    task_ids: Vec<TaskId>,
    first: At,
    last: At,
}

/// What became of a dead letter handed to [`Gatherer::add`].
#[derive(Debug, PartialEq, Eq)]
pub enum Added {
    Gathered,
    /// `cap` windows are open and this one would open another: not gathered; try again
    /// once a window has closed.
    Full,
}

/// The open windows of every subscription.
pub struct Gatherer {
    window: TimeDelta,
    cap: usize,
    open: HashMap<SubscriptionId, Window>,
}

impl Gatherer {
    pub fn new(window: TimeDelta, cap: usize) -> Self {
        Self { window, cap: cap.max(1), open: HashMap::new() }
    }

    /// Gathers a dead letter of `tenant`'s subscription, read at `at`, at `now`.
    pub fn add(&mut self, dead: &TaskDeadLettered, tenant: TenantId, at: At, now: DateTime<Utc>) -> Added {
        let last_error = dead.last_error.as_deref().map(bounded);
        if let Some(window) = self.open.get_mut(&dead.task.subscription_id) {
            window.count += 1;
            window.first_failed_at = window.first_failed_at.min(dead.failed_at);
            if dead.failed_at >= window.last_failed_at {
                window.last_failed_at = dead.failed_at;
                window.last_error = last_error.or(window.last_error.take());
            }
            if window.task_ids.len() < EXHAUSTED_TASKS_LISTED {
                window.task_ids.push(dead.task.task_id);
            }
            window.last = at;
            return Added::Gathered;
        }
        if self.open.len() >= self.cap {
            return Added::Full;
        }
        let window = Window {
            tenant,
            closes_at: now + self.window,
            count: 1,
            first_failed_at: dead.failed_at,
            last_failed_at: dead.failed_at,
            last_error,
            task_ids: vec![dead.task.task_id],
            first: at,
            last: at,
        };
        self.open.insert(dead.task.subscription_id, window);
        Added::Gathered
    }

    /// The summaries of the windows closed at `now`, taken out. Each is named by its
    /// subscription and the first and last dead letters it covers, so that gathering
    /// the same dead letters again after a crash names the same event.
    pub fn closed(&mut self, now: DateTime<Utc>) -> Vec<OperationalEvent> {
        let due: Vec<SubscriptionId> =
            self.open.iter().filter(|(_, window)| window.closes_at <= now).map(|(id, _)| *id).collect();
        due.into_iter().filter_map(|id| self.open.remove(&id).map(|window| summary(id, window))).collect()
    }

    /// When the next window closes, if one is open.
    pub fn next_close(&self) -> Option<DateTime<Utc>> {
        self.open.values().map(|window| window.closes_at).min()
    }

    /// The first offset of `partition` an open window covers: nothing from it on may be
    /// committed yet.
    pub fn holds_from(&self, partition: u32) -> Option<u64> {
        self.open.values().filter(|window| window.first.partition == partition).map(|window| window.first.offset).min()
    }

    /// Windows open now.
    pub fn len(&self) -> usize {
        self.open.len()
    }
}

fn summary(subscription_id: SubscriptionId, window: Window) -> OperationalEvent {
    let decision = [
        b"task.exhausted\0".as_slice(),
        subscription_id.as_bytes(),
        &window.first.partition.to_be_bytes(),
        &window.first.offset.to_be_bytes(),
        &window.last.offset.to_be_bytes(),
    ]
    .concat();
    OperationalEvent {
        event_id: OperationalEvent::id_for(&window.tenant, &decision),
        tenant_id: window.tenant,
        timestamp: window.last_failed_at,
        data: OperationalData::TasksExhausted {
            subscription_id,
            count: window.count,
            first_failed_at: window.first_failed_at,
            last_failed_at: window.last_failed_at,
            last_error: window.last_error,
            task_ids: window.task_ids,
        },
    }
}

/// `text` cut to at most [`LAST_ERROR_BYTES`], on a character boundary.
fn bounded(text: &str) -> String {
    let mut end = text.len().min(LAST_ERROR_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::value::RawValue;

    use super::*;

    fn dead(subscription: SubscriptionId, failed_at: DateTime<Utc>, error: &str) -> TaskDeadLettered {
        TaskDeadLettered {
            task: hookline_domain::TaskAccepted {
                task_id: TaskId::new(),
                subscription_id: subscription,
                event_type: Some("order.created".into()),
                accepted_at: failed_at,
                payload: RawValue::from_string("{}".into()).unwrap(),
                event_id: None,
                ordering_key: None,
                trace: None,
            },
            attempts: 4,
            last_error: Some(error.into()),
            failed_at,
        }
    }

    fn at(offset: u64) -> At {
        At { partition: 1, offset }
    }

    #[test]
    fn one_summary_per_subscription_per_window_counting_every_dead_letter() {
        let (t0, window) = (Utc::now(), TimeDelta::seconds(60));
        let mut gatherer = Gatherer::new(window, 10);
        let (a, b) = (SubscriptionId::new(), SubscriptionId::new());
        for n in 0..150 {
            let failed_at = t0 + TimeDelta::milliseconds(n);
            assert_eq!(
                gatherer.add(
                    &dead(a, failed_at, &format!("HTTP 500 #{n}")),
                    TenantId::default(),
                    at(n as u64),
                    failed_at
                ),
                Added::Gathered
            );
        }
        gatherer.add(
            &dead(b, t0, "timeout"),
            TenantId::default(),
            At { partition: 0, offset: 7 },
            t0 + TimeDelta::seconds(30),
        );
        assert_eq!(gatherer.holds_from(1), Some(0));
        assert_eq!(gatherer.holds_from(0), Some(7));
        assert!(gatherer.closed(t0 + TimeDelta::seconds(59)).is_empty(), "nothing before the minute");
        assert_eq!(gatherer.next_close(), Some(t0 + window));

        let closed = gatherer.closed(t0 + window);
        assert_eq!(closed.len(), 1);
        let OperationalData::TasksExhausted {
            subscription_id,
            count,
            task_ids,
            last_error,
            first_failed_at,
            last_failed_at,
        } = &closed[0].data
        else {
            panic!("{closed:?}")
        };
        assert_eq!((*subscription_id, *count, task_ids.len()), (a, 150, EXHAUSTED_TASKS_LISTED));
        assert_eq!(last_error.as_deref(), Some("HTTP 500 #149"));
        assert_eq!((*first_failed_at, *last_failed_at), (t0, t0 + TimeDelta::milliseconds(149)));
        assert_eq!(gatherer.holds_from(1), None, "emitted: its dead letters may be committed");
        assert_eq!(gatherer.len(), 1);

        // The next dead letter of `a` opens its next window.
        let later = t0 + TimeDelta::seconds(61);
        gatherer.add(&dead(a, later, "HTTP 500"), TenantId::default(), at(200), later);
        let closed = gatherer.closed(later + TimeDelta::seconds(59));
        assert_eq!(
            closed.iter().map(|s| s.data.subscription_id()).collect::<Vec<_>>(),
            [Some(b)],
            "`b` closes at 90 s"
        );
        let closed = gatherer.closed(later + window);
        assert_eq!(closed.iter().map(|s| s.data.subscription_id()).collect::<Vec<_>>(), [Some(a)]);
    }

    #[test]
    fn the_same_dead_letters_name_the_same_summary() {
        let t0 = Utc::now();
        let sub = SubscriptionId::new();
        let letters = [dead(sub, t0, "x"), dead(sub, t0, "y")];
        let gather = |n: usize| {
            let mut gatherer = Gatherer::new(TimeDelta::seconds(60), 10);
            for (offset, letter) in letters.iter().take(n).enumerate() {
                gatherer.add(letter, TenantId::default(), at(offset as u64), t0);
            }
            gatherer.closed(t0 + TimeDelta::seconds(60)).remove(0).event_id
        };
        assert_eq!(gather(2), gather(2));
        assert_ne!(gather(1), gather(2), "a summary of other dead letters is another event");
    }

    #[test]
    fn windows_are_capped_and_long_errors_cut() {
        let t0 = Utc::now();
        let mut gatherer = Gatherer::new(TimeDelta::seconds(60), 2);
        let subs: Vec<SubscriptionId> = (0..3).map(|_| SubscriptionId::new()).collect();
        assert_eq!(
            gatherer.add(&dead(subs[0], t0, &"é".repeat(1000)), TenantId::default(), at(0), t0),
            Added::Gathered
        );
        assert_eq!(gatherer.add(&dead(subs[1], t0, "x"), TenantId::default(), at(1), t0), Added::Gathered);
        assert_eq!(gatherer.add(&dead(subs[2], t0, "x"), TenantId::default(), at(2), t0), Added::Full);
        // A subscription already gathered still adds to its window.
        assert_eq!(gatherer.add(&dead(subs[0], t0, "x"), TenantId::default(), at(3), t0), Added::Gathered);
        let closed = gatherer.closed(t0 + TimeDelta::seconds(60));
        assert_eq!(closed.len(), 2);
        assert_eq!(gatherer.add(&dead(subs[2], t0, "x"), TenantId::default(), at(2), t0), Added::Gathered);
        assert!(bounded(&"é".repeat(1000)).len() <= LAST_ERROR_BYTES);
    }
}
