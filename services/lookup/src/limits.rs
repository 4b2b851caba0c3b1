//! The limit of attempts in flight the delivery role applies to each subscription now,
//! posted by the delivery role and read by the API when both run in one process (the
//! subscription's stats show it). Bounded like the subscription cache: the least used
//! entries go first, and a subscription that has not delivered lately has none.

use hookline_domain::SubscriptionId;
use quick_cache::sync::Cache;

/// Each busy subscription's current in-flight limit in this process.
pub struct InFlightLimits {
    limits: Cache<SubscriptionId, u32>,
}

impl InFlightLimits {
    /// At most `capacity` subscriptions are remembered.
    pub fn new(capacity: usize) -> Self {
        Self { limits: Cache::new(capacity.max(16)) }
    }

    /// The delivery role applies `limit` to `id` from now on.
    pub fn post(&self, id: SubscriptionId, limit: u32) {
        self.limits.insert(id, limit);
    }

    /// The limit last posted for `id`; `None` when no delivery role in this process
    /// attempted it lately.
    pub fn current(&self, id: SubscriptionId) -> Option<u32> {
        self.limits.get(&id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_posted_limit_is_current() {
        let limits = InFlightLimits::new(4);
        let id = SubscriptionId::new();
        assert_eq!(limits.current(id), None);
        limits.post(id, 10);
        limits.post(id, 8);
        assert_eq!(limits.current(id), Some(8));
    }
}
