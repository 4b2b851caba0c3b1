//! Which subscriptions want an event: an index by tenant and event-type pattern,
//! folded from the subscriptions topic by the rule of [`crate::versions`], so that
//! matching never scans every subscription.
//!
//! For each tenant it keeps the enabled subscriptions in three groups: by exact event
//! type, by pattern prefix (`order.` for `order.*`, empty for `*`), and those wanting
//! every event. An event type is matched with one probe per prefix it has (one per
//! separator in it, plus the empty one), whatever the number of subscriptions. It also
//! remembers the owner of every subscription it has seen, deleted ones included, so
//! that reads can be kept within a tenant. About 150 bytes per subscription.

use std::collections::{BTreeSet, HashMap};

use crate::event_types::{may_match, EventTypePattern, PatternKind};
use crate::events::SubscriptionEvent;
use crate::ids::SubscriptionId;
use crate::subscription::Subscription;
use crate::tenant::TenantId;
use crate::versions::{self, Known};

/// What the index keeps of one subscription.
#[derive(Clone, Debug)]
struct Entry {
    tenant: TenantId,
    known: Known,
    /// Where it is filed while live and enabled: `None` when not filed.
    filed: Option<Option<Vec<EventTypePattern>>>,
}

#[derive(Clone, Debug, Default)]
struct TenantRoutes {
    exact: HashMap<String, BTreeSet<SubscriptionId>>,
    prefixes: HashMap<String, BTreeSet<SubscriptionId>>,
    everything: BTreeSet<SubscriptionId>,
    /// Live subscriptions, enabled or not.
    live: usize,
}

impl TenantRoutes {
    fn file(&mut self, id: SubscriptionId, patterns: &Option<Vec<EventTypePattern>>) {
        match patterns {
            None => {
                self.everything.insert(id);
            }
            Some(patterns) => {
                for pattern in patterns {
                    let (map, key) = match pattern.kind() {
                        PatternKind::Exact(exact) => (&mut self.exact, exact),
                        PatternKind::Prefix(prefix) => (&mut self.prefixes, prefix),
                    };
                    map.entry(key.to_string()).or_default().insert(id);
                }
            }
        }
    }

    fn unfile(&mut self, id: SubscriptionId, patterns: &Option<Vec<EventTypePattern>>) {
        match patterns {
            None => {
                self.everything.remove(&id);
            }
            Some(patterns) => {
                for pattern in patterns {
                    let (map, key) = match pattern.kind() {
                        PatternKind::Exact(exact) => (&mut self.exact, exact),
                        PatternKind::Prefix(prefix) => (&mut self.prefixes, prefix),
                    };
                    if let Some(set) = map.get_mut(key) {
                        set.remove(&id);
                        if set.is_empty() {
                            map.remove(key);
                        }
                    }
                }
            }
        }
    }

    fn matching(&self, event_type: &str, out: &mut BTreeSet<SubscriptionId>) {
        // Hookline's own types are wanted only by patterns that name them (`may_match`):
        // not by subscriptions without patterns, not by `*` or any prefix short of `hookline.`.
        if may_match("", event_type) {
            out.extend(self.everything.iter().copied());
        }
        if let Some(set) = self.exact.get(event_type) {
            out.extend(set.iter().copied());
        }
        if self.prefixes.is_empty() {
            return;
        }
        // Every prefix a pattern could have: the empty one (`*`) and each one ending
        // in a separator, as `EventTypePattern::parse` allows.
        let candidates = std::iter::once(0).chain(
            event_type
                .char_indices()
                .filter(|(_, c)| matches!(c, '.' | '_' | '-' | '/'))
                .map(|(i, c)| i + c.len_utf8()),
        );
        for end in candidates.filter(|end| may_match(&event_type[..*end], event_type)) {
            if let Some(set) = self.prefixes.get(&event_type[..end]) {
                out.extend(set.iter().copied());
            }
        }
    }
}

/// The routing index of every tenant.
#[derive(Clone, Debug, Default)]
pub struct RoutingIndex {
    subscriptions: HashMap<SubscriptionId, Entry>,
    tenants: HashMap<TenantId, TenantRoutes>,
}

impl RoutingIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Folds one change in log order; returns whether the log's rule accepted it.
    pub fn apply(&mut self, event: &SubscriptionEvent) -> bool {
        let id = event.subscription_id();
        let known = self.subscriptions.get(&id).map_or(Known::Unknown, |entry| entry.known);
        if !versions::accepts(known, event) {
            return false;
        }
        if let Some(entry) = self.subscriptions.get_mut(&id) {
            let routes = self.tenants.entry(entry.tenant.clone()).or_default();
            if let Some(patterns) = entry.filed.take() {
                routes.unfile(id, &patterns);
            }
            if matches!(entry.known, Known::Live { .. }) {
                routes.live -= 1;
            }
        }
        match event {
            SubscriptionEvent::SubscriptionCreated { subscription }
            | SubscriptionEvent::SubscriptionUpdated { subscription } => self.file(subscription),
            SubscriptionEvent::SubscriptionDeleted { .. } => {
                // The owner stays known (an update before any creation has none: default).
                let tenant = self.subscriptions.get(&id).map(|e| e.tenant.clone()).unwrap_or_default();
                self.subscriptions.insert(id, Entry { tenant, known: Known::Deleted, filed: None });
            }
        }
        true
    }

    fn file(&mut self, subscription: &Subscription) {
        // A subscription never changes owner: the first one the index saw stays.
        let tenant = self
            .subscriptions
            .get(&subscription.id)
            .map_or_else(|| subscription.tenant_id.clone(), |entry| entry.tenant.clone());
        let routes = self.tenants.entry(tenant.clone()).or_default();
        routes.live += 1;
        let filed = subscription.enabled.then(|| subscription.patterns());
        if let Some(patterns) = &filed {
            routes.file(subscription.id, patterns);
        }
        let known = Known::Live { version: subscription.version };
        self.subscriptions.insert(subscription.id, Entry { tenant, known, filed });
    }

    /// The enabled subscriptions of `tenant` that want an event of `event_type`, in id order.
    pub fn matching(&self, tenant: &TenantId, event_type: &str) -> Vec<SubscriptionId> {
        let mut found = BTreeSet::new();
        if let Some(routes) = self.tenants.get(tenant) {
            routes.matching(event_type, &mut found);
        }
        found.into_iter().collect()
    }

    /// The enabled subscriptions of `tenant`, whatever they want, in id order.
    pub fn enabled(&self, tenant: &TenantId) -> Vec<SubscriptionId> {
        let Some(routes) = self.tenants.get(tenant) else { return Vec::new() };
        let mut found: BTreeSet<SubscriptionId> = routes.everything.clone();
        for set in routes.exact.values().chain(routes.prefixes.values()) {
            found.extend(set.iter().copied());
        }
        found.into_iter().collect()
    }

    /// The tenant that owns (or owned) a subscription the index has seen.
    pub fn owner(&self, id: SubscriptionId) -> Option<&TenantId> {
        self.subscriptions.get(&id).map(|entry| &entry.tenant)
    }

    /// How many live subscriptions `tenant` has.
    pub fn live_count(&self, tenant: &TenantId) -> usize {
        self.tenants.get(tenant).map_or(0, |routes| routes.live)
    }

    /// Subscriptions known, deleted ones included.
    pub fn len(&self) -> usize {
        self.subscriptions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.subscriptions.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::event_types::parse_patterns;

    fn subscription(tenant: &str, patterns: Option<&[&str]>) -> Subscription {
        let at = Utc::now();
        let base = Subscription::new(SubscriptionId::new(), "https://example.com/h", at);
        Subscription { tenant_id: TenantId::parse(tenant).unwrap(), ..base }
            .with_patterns(patterns.map(|p| parse_patterns("event_types", p).unwrap()))
    }

    fn created(s: &Subscription) -> SubscriptionEvent {
        SubscriptionEvent::SubscriptionCreated { subscription: s.clone() }
    }

    fn t(id: &str) -> TenantId {
        TenantId::parse(id).unwrap()
    }

    #[test]
    fn an_event_reaches_exactly_the_patterns_that_match_it_within_its_tenant() {
        let mut index = RoutingIndex::new();
        let exact = subscription("acme", Some(&["order.created"]));
        let prefix = subscription("acme", Some(&["order.*"]));
        let invoices = subscription("acme", Some(&["invoice.*"]));
        let other_tenant = subscription("globex", Some(&["*"]));
        let everything = subscription("acme", None);
        for s in [&exact, &prefix, &invoices, &other_tenant, &everything] {
            assert!(index.apply(&created(s)));
        }
        let mut want = vec![exact.id, prefix.id, everything.id];
        want.sort();
        assert_eq!(index.matching(&t("acme"), "order.created"), want);
        assert_eq!(index.matching(&t("globex"), "order.created"), vec![other_tenant.id]);
        assert_eq!(index.matching(&t("acme"), "order"), vec![everything.id]);
        assert_eq!(index.matching(&t("nobody"), "order.created"), Vec::<SubscriptionId>::new());
        assert_eq!(index.owner(invoices.id), Some(&t("acme")));
        assert_eq!(index.live_count(&t("acme")), 4);
        let mut enabled = vec![exact.id, prefix.id, invoices.id, everything.id];
        enabled.sort();
        assert_eq!(index.enabled(&t("acme")), enabled, "each once, whatever it wants");
    }

    #[test]
    fn updates_refile_disabling_unfiles_and_deletes_are_final() {
        let mut index = RoutingIndex::new();
        let s = subscription("acme", Some(&["order.*"]));
        index.apply(&created(&s));
        let moved =
            s.next_version(uuid::Uuid::new_v4()).with_patterns(Some(parse_patterns("x", &["invoice.*"]).unwrap()));
        assert!(index.apply(&SubscriptionEvent::SubscriptionUpdated { subscription: moved.clone() }));
        assert!(index.matching(&t("acme"), "order.created").is_empty());
        assert_eq!(index.matching(&t("acme"), "invoice.paid"), vec![s.id]);
        // A stale write (same version again) is refused and changes nothing.
        let stale = s.next_version(uuid::Uuid::new_v4());
        assert!(!index.apply(&SubscriptionEvent::SubscriptionUpdated { subscription: stale }));
        assert_eq!(index.matching(&t("acme"), "invoice.paid"), vec![s.id]);
        let disabled = moved.next_version(uuid::Uuid::new_v4()).disabled("by user", Utc::now());
        assert!(index.apply(&SubscriptionEvent::SubscriptionUpdated { subscription: disabled.clone() }));
        assert!(index.matching(&t("acme"), "invoice.paid").is_empty());
        assert!(index.enabled(&t("acme")).is_empty(), "a disabled subscription is not enabled");
        assert_eq!(index.live_count(&t("acme")), 1);
        let deleted = SubscriptionEvent::SubscriptionDeleted {
            id: s.id,
            deleted_at: Utc::now(),
            version: disabled.version + 1,
            write_id: None,
        };
        assert!(index.apply(&deleted));
        assert_eq!(index.live_count(&t("acme")), 0);
        assert!(!index.apply(&created(&s)));
        assert_eq!(index.owner(s.id), Some(&t("acme")), "the owner of a deleted subscription stays known");
    }

    #[test]
    fn operational_types_reach_only_patterns_that_name_them() {
        let mut index = RoutingIndex::new();
        let everything = subscription("acme", None);
        let star = subscription("acme", Some(&["*"]));
        let all_of_hookline = subscription("acme", Some(&["hookline.*"]));
        let disabled_only = subscription("acme", Some(&["hookline.subscription.disabled"]));
        let subscriptions_only = subscription("acme", Some(&["hookline.subscription.*", "order.*"]));
        let other_tenant = subscription("globex", Some(&["hookline.*"]));
        for s in [&everything, &star, &all_of_hookline, &disabled_only, &subscriptions_only, &other_tenant] {
            index.apply(&created(s));
        }
        let sorted = |mut ids: Vec<SubscriptionId>| {
            ids.sort();
            ids
        };
        assert_eq!(
            index.matching(&t("acme"), "hookline.subscription.disabled"),
            sorted(vec![all_of_hookline.id, disabled_only.id, subscriptions_only.id])
        );
        assert_eq!(index.matching(&t("acme"), "hookline.task.exhausted"), vec![all_of_hookline.id]);
        // Every other type as before: `*` and no patterns get it.
        assert_eq!(
            index.matching(&t("acme"), "order.created"),
            sorted(vec![everything.id, star.id, subscriptions_only.id])
        );
        // The index and a subscription's own check agree.
        for s in [&everything, &star, &all_of_hookline, &disabled_only, &subscriptions_only] {
            for event_type in ["hookline.subscription.disabled", "hookline.task.exhausted", "order.created"] {
                let indexed = index.matching(&t("acme"), event_type).contains(&s.id);
                assert_eq!(indexed, s.wants(Some(event_type)), "{event_type} for {:?}", s.event_types);
            }
        }
    }

    #[test]
    fn prefixes_are_probed_at_every_separator() {
        let mut index = RoutingIndex::new();
        let a = subscription("acme", Some(&["a.*"]));
        let ab = subscription("acme", Some(&["a.b_*"]));
        let slash = subscription("acme", Some(&["a.b_c/*"]));
        for s in [&a, &ab, &slash] {
            index.apply(&created(s));
        }
        let mut all = vec![a.id, ab.id, slash.id];
        all.sort();
        assert_eq!(index.matching(&t("acme"), "a.b_c/d"), all);
        assert_eq!(index.matching(&t("acme"), "a.bc"), vec![a.id]);
    }
}
