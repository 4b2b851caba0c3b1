//! Concurrency bounds: at most `per_subscription` attempts to one subscription and
//! `global` attempts in all at once in this process.
//!
//! Each subscription has its own fair (FIFO) semaphore, so the records beyond its
//! bound wait in line for that subscription only, and never hold a global slot while
//! they wait: a hanging receiver uses up its own slots, not everyone's. Semaphores of
//! idle subscriptions are dropped so the map stays as small as the set of busy ones.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use hookline_domain::SubscriptionId;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The bounds shared by every consumer of the role.
pub struct Gates {
    global: Arc<Semaphore>,
    per_subscription: usize,
    subscriptions: Arc<Mutex<HashMap<SubscriptionId, Arc<Semaphore>>>>,
}

/// Leave to make one attempt; the slots are given back when it is dropped.
pub struct Pass {
    _global: OwnedSemaphorePermit,
    _subscription: SubscriptionSlot,
}

struct SubscriptionSlot {
    id: SubscriptionId,
    permit: Option<OwnedSemaphorePermit>,
    subscriptions: Arc<Mutex<HashMap<SubscriptionId, Arc<Semaphore>>>>,
}

impl Drop for SubscriptionSlot {
    fn drop(&mut self) {
        drop(self.permit.take());
        let mut subscriptions = self.subscriptions.lock().unwrap_or_else(PoisonError::into_inner);
        // Only the map still holds it: nobody is attempting or waiting.
        if subscriptions.get(&self.id).is_some_and(|semaphore| Arc::strong_count(semaphore) == 1) {
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
            subscriptions.entry(id).or_insert_with(|| Arc::new(Semaphore::new(self.per_subscription))).clone()
        };
        // Registered before awaiting, so the semaphore outlives this wait even when the
        // future is dropped midway (the slot's Drop then tidies the map).
        let mut slot = SubscriptionSlot { id, permit: None, subscriptions: self.subscriptions.clone() };
        // The semaphores are never closed, so acquiring cannot fail.
        slot.permit = semaphore.acquire_owned().await.ok();
        let global = self.global.clone().acquire_owned().await.expect("the global semaphore is never closed");
        Pass { _global: global, _subscription: slot }
    }

    /// Attempts to `id` running or waiting in its line now.
    pub fn occupancy(&self, id: SubscriptionId) -> usize {
        let subscriptions = self.subscriptions.lock().unwrap_or_else(PoisonError::into_inner);
        // Every running or waiting attempt holds one clone of the semaphore; the map holds one more.
        subscriptions.get(&id).map_or(0, |semaphore| Arc::strong_count(semaphore) - 1)
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
}
