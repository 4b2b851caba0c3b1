//! The subscriptions that are disabled now, with why and since when, folded with the
//! rest of the directory: what an operator looks at first when deliveries stop. Held
//! for disabled subscriptions only (about 300 bytes each, their reason included).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use hookline_domain::{SubscriptionEvent, SubscriptionId, TenantId};

/// A subscription that is disabled now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DisabledSubscription {
    pub id: SubscriptionId,
    pub tenant_id: TenantId,
    pub target_url: String,
    /// Why, as the change that disabled it said (410 Gone, a failure streak, by hand).
    pub reason: Option<String>,
    /// When it was disabled: the change that disabled it, not later changes made while disabled.
    pub since: DateTime<Utc>,
}

#[derive(Debug, Default)]
pub(crate) struct DisabledIndex {
    by_id: HashMap<SubscriptionId, DisabledSubscription>,
}

impl DisabledIndex {
    /// Folds a change the log's rule accepted; `owner` is the subscription's tenant.
    pub fn apply(&mut self, event: &SubscriptionEvent, owner: TenantId) {
        match event {
            SubscriptionEvent::SubscriptionCreated { subscription }
            | SubscriptionEvent::SubscriptionUpdated { subscription } => {
                if subscription.enabled {
                    self.by_id.remove(&subscription.id);
                    return;
                }
                let since = self.by_id.get(&subscription.id).map_or(subscription.updated_at, |known| known.since);
                let disabled = DisabledSubscription {
                    id: subscription.id,
                    tenant_id: owner,
                    target_url: subscription.target_url.clone(),
                    reason: subscription.disabled_reason.clone(),
                    since,
                };
                self.by_id.insert(subscription.id, disabled);
            }
            SubscriptionEvent::SubscriptionDeleted { id, .. } => {
                self.by_id.remove(id);
            }
        }
    }

    /// The disabled subscriptions of `tenant` (all when `None`), most recently disabled
    /// first, `limit` at most, and how many there are in all.
    pub fn list(&self, tenant: Option<&TenantId>, limit: usize) -> (Vec<DisabledSubscription>, usize) {
        let mut found: Vec<&DisabledSubscription> =
            self.by_id.values().filter(|d| tenant.is_none_or(|t| &d.tenant_id == t)).collect();
        let total = found.len();
        found.sort_by(|a, b| b.since.cmp(&a.since).then(a.id.cmp(&b.id)));
        (found.into_iter().take(limit).cloned().collect(), total)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;
    use hookline_domain::Subscription;

    use super::*;

    fn tenant(name: &str) -> TenantId {
        name.parse().unwrap()
    }

    #[test]
    fn disabling_lists_enabling_and_deleting_unlist() {
        let at = Utc::now();
        let mut index = DisabledIndex::default();
        let first = Subscription::new(SubscriptionId::new(), "https://a.example/h", at);
        let second = Subscription::new(SubscriptionId::new(), "https://b.example/h", at);
        let created = |s: &Subscription| SubscriptionEvent::SubscriptionCreated { subscription: s.clone() };
        let updated = |s: Subscription| SubscriptionEvent::SubscriptionUpdated { subscription: s };
        index.apply(&created(&first), tenant("acme"));
        index.apply(&created(&second), tenant("globex"));
        assert_eq!(index.list(None, 10), (vec![], 0));

        let gone = first.disabled("receiver answered 410 Gone", at + TimeDelta::seconds(1));
        index.apply(&updated(gone.clone()), tenant("acme"));
        index.apply(&updated(second.disabled("failing", at + TimeDelta::seconds(2))), tenant("globex"));
        let (all, total) = index.list(None, 10);
        assert_eq!(total, 2);
        assert_eq!(all.iter().map(|d| d.id).collect::<Vec<_>>(), [second.id, first.id], "newest first");
        let (acme, total) = index.list(Some(&tenant("acme")), 10);
        assert_eq!(total, 1);
        assert_eq!(acme[0].reason.as_deref(), Some("receiver answered 410 Gone"));
        assert_eq!(acme[0].since, at + TimeDelta::seconds(1));

        // A change made while disabled keeps when it was disabled.
        let later = Subscription { updated_at: at + TimeDelta::seconds(9), ..gone.clone() };
        index.apply(&updated(later), tenant("acme"));
        assert_eq!(index.list(Some(&tenant("acme")), 10).0[0].since, at + TimeDelta::seconds(1));

        index.apply(&updated(Subscription { enabled: true, disabled_reason: None, ..gone }), tenant("acme"));
        index.apply(
            &SubscriptionEvent::SubscriptionDeleted { id: second.id, deleted_at: at, version: 9, write_id: None },
            tenant("globex"),
        );
        assert_eq!(index.list(None, 10), (vec![], 0));
    }

    #[test]
    fn the_list_is_capped_but_counts_them_all() {
        let at = Utc::now();
        let mut index = DisabledIndex::default();
        for n in 0..5 {
            let s = Subscription::new(SubscriptionId::new(), "https://a.example/h", at)
                .disabled("x", at + TimeDelta::seconds(n));
            index.apply(&SubscriptionEvent::SubscriptionUpdated { subscription: s }, tenant("acme"));
        }
        let (listed, total) = index.list(None, 2);
        assert_eq!((listed.len(), total), (2, 5));
        assert_eq!(listed[0].since, at + TimeDelta::seconds(4));
    }
}
