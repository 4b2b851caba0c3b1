//! Subscriptions: upserts, tombstones, listing and paging, tenants and event-type patterns.

use std::sync::Arc;

use hookline_domain::event_types::parse_patterns;
use hookline_domain::{
    DeliverySettings, OrderingMode, ScheduleChoice, Secret, Subscription, SubscriptionEvent, SubscriptionId,
    SubscriptionState, TenantId,
};

use uuid::Uuid;

use super::fixtures::{apply, now, secs, subscription};
use super::{ViewStoreFactory, LONG_RETENTION};
use crate::{ViewChange, ViewError, ViewStore};

fn change(event: SubscriptionEvent) -> ViewChange {
    ViewChange::Subscription(event)
}

async fn state(store: &Arc<dyn ViewStore>, id: SubscriptionId) -> Option<SubscriptionState> {
    store.subscription(id).await.unwrap_or_else(|e| panic!("subscription({id}) failed: {e}"))
}

/// Pages through every live subscription, `limit` at a time, checking each page.
async fn list_all(store: &Arc<dyn ViewStore>, limit: usize) -> Vec<Subscription> {
    let mut all: Vec<Subscription> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .subscriptions(limit, cursor.as_deref())
            .await
            .unwrap_or_else(|e| panic!("subscriptions({limit}, {cursor:?}) failed: {e}"));
        assert!(page.items.len() <= limit, "a page of limit {limit} held {} items", page.items.len());
        for item in page.items {
            if let Some(previous) = all.last() {
                assert!(
                    previous.id < item.id,
                    "listing is not in strictly increasing id order: {} then {}",
                    previous.id,
                    item.id
                );
            }
            all.push(item);
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
}

/// Created, then updated, then deleted: each step replaces what `subscription`
/// answers; the tombstone stays visible there and the id leaves the listing.
pub async fn subscription_lifecycle(factory: &impl ViewStoreFactory) {
    let store = factory.open(LONG_RETENTION).await;
    let id = SubscriptionId::new();
    assert_eq!(state(&store, id).await, None, "an id never written must be unknown");

    let t0 = now();
    let created = subscription(id, "https://example.com/a", t0);
    apply(&store, vec![change(SubscriptionEvent::SubscriptionCreated { subscription: created.clone() })]).await;
    assert_eq!(state(&store, id).await, Some(SubscriptionState::Live(created.clone())), "after created");
    assert!(list_all(&store, 100).await.contains(&created), "a created subscription must be listed");

    let updated = Subscription {
        target_url: "https://example.com/b".to_string(),
        secret: Some(Secret::new("s3cret")),
        event_type_filter: Some("order.*".to_string()),
        updated_at: t0 + secs(1),
        ..created.next_version(Uuid::new_v4())
    };
    apply(&store, vec![change(SubscriptionEvent::SubscriptionUpdated { subscription: updated.clone() })]).await;
    assert_eq!(state(&store, id).await, Some(SubscriptionState::Live(updated.clone())), "after updated");
    assert!(list_all(&store, 100).await.contains(&updated), "the listing must show the updated subscription");

    let disabled =
        updated.disabled("receiver answered 410 Gone", t0 + secs(1) + secs(1) / 2).next_version(Uuid::new_v4());
    apply(&store, vec![change(SubscriptionEvent::SubscriptionUpdated { subscription: disabled.clone() })]).await;
    assert_eq!(state(&store, id).await, Some(SubscriptionState::Live(disabled.clone())), "after disabled");
    assert!(list_all(&store, 100).await.contains(&disabled), "the listing must show the disabled state and reason");

    let deleted_at = t0 + secs(2);
    apply(&store, vec![change(SubscriptionEvent::SubscriptionDeleted { id, deleted_at, version: 0, write_id: None })])
        .await;
    assert_eq!(state(&store, id).await, Some(SubscriptionState::Deleted { id, deleted_at }), "after deleted");
    assert!(list_all(&store, 100).await.iter().all(|s| s.id != id), "a deleted subscription must not be listed");

    // Within one batch the events apply in the order given.
    let other = SubscriptionId::new();
    let first = subscription(other, "https://example.com/c", t0);
    let second = Subscription {
        target_url: "https://example.com/d".to_string(),
        updated_at: t0 + secs(1),
        ..first.next_version(Uuid::new_v4())
    };
    let third = Subscription { updated_at: t0 + secs(2), ..second.next_version(Uuid::new_v4()) };
    apply(
        &store,
        vec![
            change(SubscriptionEvent::SubscriptionCreated { subscription: first.clone() }),
            change(SubscriptionEvent::SubscriptionUpdated { subscription: second.clone() }),
            change(SubscriptionEvent::SubscriptionUpdated { subscription: third.clone() }),
        ],
    )
    .await;
    assert_eq!(
        state(&store, other).await,
        Some(SubscriptionState::Live(third)),
        "a batch must apply its subscription events in order"
    );
}

/// Two changes that state the same version: the first in log order makes it, the
/// other changes nothing, and the views say which write made each version.
pub async fn subscription_changes_follow_versions(factory: &impl ViewStoreFactory) {
    let store = factory.open(LONG_RETENTION).await;
    let t0 = now();
    let id = SubscriptionId::new();
    let created = Subscription { write_id: Some(Uuid::new_v4()), ..subscription(id, "https://example.com/v", t0) };
    apply(&store, vec![change(SubscriptionEvent::SubscriptionCreated { subscription: created.clone() })]).await;
    let write = |version| {
        let store = store.clone();
        async move { store.subscription_write(id, version).await.unwrap_or_else(|e| panic!("subscription_write: {e}")) }
    };
    assert_eq!(write(1).await, created.write_id, "the creation made version 1");
    assert_eq!(write(2).await, None, "no write made version 2 yet");

    let edit = Subscription {
        target_url: "https://example.com/edit".into(),
        updated_at: t0 + secs(1),
        ..created.next_version(Uuid::new_v4())
    };
    let rotation = Subscription {
        secret: Some(Secret::new("rotated")),
        updated_at: t0 + secs(2),
        ..created.next_version(Uuid::new_v4())
    };
    apply(
        &store,
        vec![
            change(SubscriptionEvent::SubscriptionUpdated { subscription: edit.clone() }),
            change(SubscriptionEvent::SubscriptionUpdated { subscription: rotation.clone() }),
        ],
    )
    .await;
    // Applied again (a replay): still refused.
    apply(&store, vec![change(SubscriptionEvent::SubscriptionUpdated { subscription: rotation.clone() })]).await;
    assert_eq!(state(&store, id).await, Some(SubscriptionState::Live(edit.clone())), "the first of version 2 wins");
    assert!(list_all(&store, 1000).await.contains(&edit), "the listing shows the winner");
    assert_eq!(write(2).await, edit.write_id, "version 2 was made by the edit, not the rotation");

    // A deletion racing a disabling that read the same version: whichever comes
    // first, the subscription ends deleted and stays so.
    let disabled = edit.disabled("every attempt failed", t0 + secs(3)).next_version(Uuid::new_v4());
    let deletion = |version: u64| SubscriptionEvent::SubscriptionDeleted {
        id,
        deleted_at: t0 + secs(3),
        version,
        write_id: Some(Uuid::new_v4()),
    };
    let first_deletion = deletion(3);
    apply(&store, vec![change(first_deletion.clone())]).await;
    let later = Subscription { updated_at: t0 + secs(9), ..disabled.next_version(Uuid::new_v4()) };
    apply(
        &store,
        vec![
            change(SubscriptionEvent::SubscriptionUpdated { subscription: disabled.clone() }),
            change(SubscriptionEvent::SubscriptionUpdated { subscription: later }),
            change(SubscriptionEvent::SubscriptionCreated { subscription: created.clone() }),
        ],
    )
    .await;
    assert_eq!(
        state(&store, id).await,
        Some(SubscriptionState::Deleted { id, deleted_at: t0 + secs(3) }),
        "nothing brings a deleted subscription back"
    );
    assert!(list_all(&store, 1000).await.iter().all(|s| s.id != id), "nor back into the listing");
    assert_eq!(write(3).await, first_deletion.write_id(), "version 3 was made by the deletion");
}

/// The listing is in id order, honours the limit and pages with its cursor, and
/// leaves deleted subscriptions out.
pub async fn subscription_listing_pages_in_id_order(factory: &impl ViewStoreFactory) {
    let store = factory.open(LONG_RETENTION).await;
    let t0 = now();
    let mut mine: Vec<Subscription> =
        (0..5).map(|i| subscription(SubscriptionId::new(), &format!("https://example.com/{i}"), t0)).collect();
    // Written in reverse id order, so that insertion order cannot pass for id order.
    mine.sort_by_key(|s| std::cmp::Reverse(s.id));
    let creations =
        mine.iter().map(|s| change(SubscriptionEvent::SubscriptionCreated { subscription: s.clone() })).collect();
    apply(&store, creations).await;
    let removed = mine.remove(2);
    apply(
        &store,
        vec![change(SubscriptionEvent::SubscriptionDeleted {
            id: removed.id,
            deleted_at: t0,
            version: 0,
            write_id: None,
        })],
    )
    .await;
    mine.reverse();

    for limit in [1, 2, 1000] {
        let listed = list_all(&store, limit).await;
        let listed_mine: Vec<Subscription> =
            listed.iter().filter(|s| mine.iter().any(|m| m.id == s.id)).cloned().collect();
        assert_eq!(listed_mine, mine, "with limit {limit}: every live subscription, once, in id order");
        assert!(
            listed.iter().all(|s| s.id != removed.id),
            "with limit {limit}: a deleted subscription must not be listed"
        );
    }

    let first = store.subscriptions(1, None).await.unwrap_or_else(|e| panic!("subscriptions(1) failed: {e}"));
    assert_eq!(first.items.len(), 1, "a limit of 1 with subscriptions stored gives one item");
    assert!(first.next.is_some(), "a full page over more subscriptions must give a cursor");
}

/// A cursor that no page gave out is refused.
pub async fn subscription_listing_rejects_invalid_cursor(factory: &impl ViewStoreFactory) {
    let store = factory.open(LONG_RETENTION).await;
    for bad in ["not a cursor", "\u{0}\u{7f}garbage", "%%%"] {
        match store.subscriptions(10, Some(bad)).await {
            Err(ViewError::InvalidCursor) => {}
            other => panic!("cursor {bad:?} must give ViewError::InvalidCursor, got {other:?}"),
        }
    }
}

/// A subscription's tenant and event-type patterns read back as written, from
/// `subscription` and from the listing, through an update that changes the patterns
/// and one that drops them (and its ordering, set and back to the default); one written
/// before tenants existed belongs to the default tenant.
pub async fn subscriptions_keep_their_tenant_and_event_types(factory: &impl ViewStoreFactory) {
    let store = factory.open(LONG_RETENTION).await;
    let (id, plain_id) = (SubscriptionId::new(), SubscriptionId::new());
    let t0 = now();
    let patterns = |raw: &[&str]| Some(parse_patterns("event_types", raw).expect("valid patterns"));
    let created = Subscription {
        tenant_id: TenantId::generate(),
        ordering: OrderingMode::Key,
        ..subscription(id, "https://example.com/tenant", t0).with_patterns(patterns(&["order.*", "user.created", "*"]))
    };
    let plain = subscription(plain_id, "https://example.com/plain", t0);
    apply(
        &store,
        vec![
            change(SubscriptionEvent::SubscriptionCreated { subscription: created.clone() }),
            change(SubscriptionEvent::SubscriptionCreated { subscription: plain.clone() }),
        ],
    )
    .await;
    let listed = |store: &Arc<dyn ViewStore>, id: SubscriptionId| {
        let store = store.clone();
        async move { list_all(&store, 1000).await.into_iter().find(|s| s.id == id) }
    };
    assert_eq!(state(&store, id).await, Some(SubscriptionState::Live(created.clone())), "tenant and patterns kept");
    assert_eq!(listed(&store, id).await, Some(created.clone()), "and listed with them");
    assert_eq!(state(&store, plain_id).await, Some(SubscriptionState::Live(plain.clone())), "the default tenant");
    assert_eq!(listed(&store, plain_id).await, Some(plain), "listed in the default tenant, wanting every event");

    let narrowed = Subscription {
        updated_at: t0 + secs(1),
        ..created.next_version(Uuid::new_v4()).with_patterns(patterns(&["invoice.paid"]))
    };
    apply(&store, vec![change(SubscriptionEvent::SubscriptionUpdated { subscription: narrowed.clone() })]).await;
    assert_eq!(state(&store, id).await, Some(SubscriptionState::Live(narrowed.clone())), "other patterns");
    assert_eq!(listed(&store, id).await, Some(narrowed.clone()));
    let widened = Subscription {
        updated_at: t0 + secs(2),
        ordering: OrderingMode::None,
        ..narrowed.next_version(Uuid::new_v4()).with_patterns(None)
    };
    apply(&store, vec![change(SubscriptionEvent::SubscriptionUpdated { subscription: widened.clone() })]).await;
    assert_eq!(state(&store, id).await, Some(SubscriptionState::Live(widened.clone())), "patterns dropped");
    assert_eq!(listed(&store, id).await, Some(widened));
}

/// A subscription's delivery settings read back as written (header values as stored:
/// sealed text stays sealed text), from `subscription` and from the listing, and an
/// update back to the defaults clears them.
pub async fn subscriptions_keep_their_delivery_settings(factory: &impl ViewStoreFactory) {
    let store = factory.open(LONG_RETENTION).await;
    let id = SubscriptionId::new();
    let t0 = now();
    let settings = DeliverySettings {
        headers: [
            ("X-Api-Key".to_string(), Secret::new("hlenc:v1:c2VhbGVk")),
            ("X-Tenant".to_string(), Secret::new("acme")),
        ]
        .into(),
        timeout_ms: Some(1500),
        retry_schedule: Some(ScheduleChoice::Delays(vec![5, 300, 300])),
        rate_limit_per_second: Some(5),
        max_in_flight: Some(8),
    };
    let created = Subscription { delivery: settings, ..subscription(id, "https://example.com/settings", t0) };
    apply(&store, vec![change(SubscriptionEvent::SubscriptionCreated { subscription: created.clone() })]).await;
    let listed = |store: &Arc<dyn ViewStore>| {
        let store = store.clone();
        async move { list_all(&store, 1000).await.into_iter().find(|s| s.id == id) }
    };
    assert_eq!(state(&store, id).await, Some(SubscriptionState::Live(created.clone())), "settings kept");
    assert_eq!(listed(&store).await, Some(created.clone()), "and listed with them");
    let cleared = Subscription {
        updated_at: t0 + secs(1),
        delivery: DeliverySettings::default(),
        ..created.next_version(Uuid::new_v4())
    };
    apply(&store, vec![change(SubscriptionEvent::SubscriptionUpdated { subscription: cleared.clone() })]).await;
    assert_eq!(state(&store, id).await, Some(SubscriptionState::Live(cleared.clone())), "settings cleared");
    assert_eq!(listed(&store).await, Some(cleared));
}
