//! Concurrency bounds: at most `per_subscription` attempts to one subscription and
//! `global` attempts in all at once in this process.
//!
//! Each subscription has its own fair (FIFO) semaphore, so the records beyond its
//! bound wait in line for that subscription only, and never hold a global slot while
//! they wait: a hanging receiver uses up its own slots, not everyone's. Each line also
//! keeps how fast it drains (attempts completed per second), for deciding whether a
//! task should join it or wait in a retry tier. The lines of idle subscriptions are
//! dropped, rate and all, so the map stays as small as the set of busy ones.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use hookline_domain::SubscriptionId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::drain::{DrainRate, Line};

/// The bounds shared by every consumer of the role.
pub struct Gates {
    global: Arc<Semaphore>,
    per_subscription: usize,
    subscriptions: Arc<Mutex<Lines>>,
}

type Lines = HashMap<SubscriptionId, SubscriptionLine>;

/// One subscription's line: its slots, and how fast its attempts complete.
struct SubscriptionLine {
    semaphore: Arc<Semaphore>,
    drain: DrainRate,
}

/// Leave to make one attempt; the slots are given back when it is dropped.
pub struct Pass {
    _global: OwnedSemaphorePermit,
    _subscription: SubscriptionSlot,
}

struct SubscriptionSlot {
    id: SubscriptionId,
    permit: Option<OwnedSemaphorePermit>,
    /// Made into a pass: its end is an attempt completed, not a wait given up.
    entered: bool,
    subscriptions: Arc<Mutex<Lines>>,
}

impl Drop for SubscriptionSlot {
    fn drop(&mut self) {
        drop(self.permit.take());
        let mut subscriptions = self.subscriptions.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(line) = subscriptions.get_mut(&self.id) else { return };
        if self.entered {
            line.drain.completed(Instant::now());
        }
        // Only the map still holds it: nobody is attempting or waiting.
        if Arc::strong_count(&line.semaphore) == 1 {
            subscriptions.remove(&self.id);
        }
    }
}

impl Gates {
    pub fn new(global: usize, per_subscription: usize) -> Self {
        Self {
            global: Arc::new(Semaphore::new(global)),
            per_subscription,
            subscriptions: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Waits in the subscription's line, then for a global slot.
    pub async fn enter(&self, id: SubscriptionId) -> Pass {
        let semaphore = {
            let mut subscriptions = self.subscriptions.lock().unwrap_or_else(PoisonError::into_inner);
            let line = subscriptions.entry(id).or_insert_with(|| SubscriptionLine {
                semaphore: Arc::new(Semaphore::new(self.per_subscription)),
                drain: DrainRate::new(Instant::now()),
            });
            line.semaphore.clone()
        };
        // Registered before awaiting, so the semaphore outlives this wait even when the
        // future is dropped midway (the slot's Drop then tidies the map).
        let mut slot = SubscriptionSlot { id, permit: None, entered: false, subscriptions: self.subscriptions.clone() };
        // The semaphores are never closed, so acquiring cannot fail.
        slot.permit = semaphore.acquire_owned().await.ok();
        let global = self.global.clone().acquire_owned().await.expect("the global semaphore is never closed");
        slot.entered = true;
        Pass { _global: global, _subscription: slot }
    }

    /// The line of attempts to `id` as it is now.
    pub fn line(&self, id: SubscriptionId) -> Line {
        let subscriptions = self.subscriptions.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(line) = subscriptions.get(&id) else {
            return Line { occupancy: 0, waiting: 0, drain_rate: 0.0 };
        };
        // Every running or waiting attempt holds one clone of the semaphore; the map holds one more.
        let occupancy = Arc::strong_count(&line.semaphore) - 1;
        let holding_a_slot = self.per_subscription.saturating_sub(line.semaphore.available_permits());
        Line {
            occupancy,
            waiting: occupancy.saturating_sub(holding_a_slot),
            drain_rate: line.drain.per_second(Instant::now()),
        }
    }

    /// Subscriptions with an attempt running or waiting.
    #[cfg(test)]
    fn busy_subscriptions(&self) -> usize {
        self.subscriptions.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_full_subscription_does_not_block_others() {
        let gates = Gates::new(4, 2);
        let busy = SubscriptionId::new();
        let _a = gates.enter(busy).await;
        let _b = gates.enter(busy).await;
        let third = tokio::time::timeout(Duration::from_millis(50), gates.enter(busy)).await;
        assert!(third.is_err(), "a third attempt to the same subscription must wait");
        let other = tokio::time::timeout(Duration::from_millis(50), gates.enter(SubscriptionId::new())).await;
        assert!(other.is_ok(), "another subscription must get through");
    }

    #[tokio::test]
    async fn the_global_bound_holds() {
        let gates = Gates::new(2, 2);
        let _a = gates.enter(SubscriptionId::new()).await;
        let _b = gates.enter(SubscriptionId::new()).await;
        let third = tokio::time::timeout(Duration::from_millis(50), gates.enter(SubscriptionId::new())).await;
        assert!(third.is_err());
    }

    #[tokio::test]
    async fn idle_subscriptions_are_forgotten() {
        let gates = Gates::new(4, 1);
        let id = SubscriptionId::new();
        let pass = gates.enter(id).await;
        let waiting = tokio::time::timeout(Duration::from_millis(20), gates.enter(id)).await;
        assert!(waiting.is_err());
        assert_eq!(gates.busy_subscriptions(), 1);
        drop(pass);
        assert_eq!(gates.busy_subscriptions(), 0);
    }

    #[tokio::test]
    async fn a_line_shows_who_waits_and_how_fast_it_drains() {
        let gates = Arc::new(Gates::new(4, 1));
        let id = SubscriptionId::new();
        let empty = Line { occupancy: 0, waiting: 0, drain_rate: 0.0 };
        assert_eq!(gates.line(id), empty);

        let first = gates.enter(id).await;
        let second = tokio::spawn({
            let gates = gates.clone();
            async move { gates.enter(id).await }
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        while gates.line(id).occupancy < 2 && Instant::now() < deadline {
            tokio::task::yield_now().await;
        }
        // Nothing completed yet: no rate.
        assert_eq!(gates.line(id), Line { occupancy: 2, waiting: 1, drain_rate: 0.0 });

        drop(first);
        let second = second.await.expect("the second attempt gets in");
        let line = gates.line(id);
        assert_eq!((line.occupancy, line.waiting), (1, 0));
        assert!(line.drain_rate > 0.0, "{line:?}");

        // The rate goes with the line.
        drop(second);
        assert_eq!(gates.line(id), empty);
    }
}
