//! Events sent to tenants: folded from their EventAccepted in any order and any
//! number of times, read by id, listed per tenant newest first with filters and
//! cursors, gone once past the retention; and when tenant tokens were last used.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hookline_domain::{EventAccepted, EventId, LogPosition, SubscriptionId, TaskId, TenantId, TokenId};
use serde_json::value::RawValue;

use super::fixtures::{apply, now, secs, wait_until};
use super::{ViewStoreFactory, LONG_RETENTION};
use crate::{EventFilter, EventPosition, EventView, Retention, ViewChange, ViewError, ViewStore};

/// A tenant of its own, so that cases sharing a store never see each other's events.
fn tenant() -> TenantId {
    TenantId::generate()
}

fn event_accepted(tenant: &TenantId, event_type: &str, at: DateTime<Utc>, subscriptions: usize) -> EventAccepted {
    let mut subscriptions: Vec<SubscriptionId> = (0..subscriptions).map(|_| SubscriptionId::new()).collect();
    subscriptions.sort();
    EventAccepted {
        event_id: EventId::new(),
        tenant_id: tenant.clone(),
        event_type: event_type.to_string(),
        accepted_at: at,
        idempotency_key: None,
        subscriptions,
        payload: RawValue::from_string(r#"{"held":"by the log"}"#.into()).expect("JSON"),
        ordering_key: None,
        trace: None,
    }
}

/// Where an event's record is: a position of its own, derived from its id, so that a
/// store mixing up two events' positions is caught. Offsets stay below 2^40, as in
/// any log (a store may rank records by their offset in fewer than 64 bits).
fn fanout_position(event: &EventAccepted) -> LogPosition {
    let bytes = event.event_id.as_bytes();
    LogPosition {
        topic: "hookline.fanout".into(),
        partition: u32::from(bytes[15] % 16),
        offset: u64::from_be_bytes(bytes[8..16].try_into().expect("8 bytes")) >> 24,
    }
}

fn view(event: &EventAccepted) -> EventView {
    EventView::of(event, fanout_position(event))
}

fn change(view: &EventView) -> ViewChange {
    ViewChange::Event(Box::new(view.clone()))
}

async fn read(store: &dyn ViewStore, id: EventId) -> Option<EventView> {
    store.event(id).await.unwrap_or_else(|e| panic!("event({id}) failed: {e}"))
}

/// Every page of a tenant's listing, `limit` at a time, checking each page.
async fn list_all(store: &dyn ViewStore, tenant: &TenantId, filter: &EventFilter, limit: usize) -> Vec<EventView> {
    let mut all: Vec<EventView> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .events(tenant, filter, limit, cursor.as_deref())
            .await
            .unwrap_or_else(|e| panic!("events({tenant}, {filter:?}, {limit}, {cursor:?}) failed: {e}"));
        assert!(page.items.len() <= limit, "a page of {} events for a limit of {limit}", page.items.len());
        for event in &page.items {
            assert!(all.iter().all(|seen| seen.event_id != event.event_id), "event {} listed twice", event.event_id);
        }
        all.extend(page.items);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return all,
        }
    }
}

/// `events` in listing order: newest acceptance (to the millisecond) first, then the greater id.
fn newest_first(mut events: Vec<EventView>) -> Vec<EventView> {
    events
        .sort_by_key(|e| std::cmp::Reverse(EventPosition { at_ms: e.accepted_at.timestamp_millis(), id: e.event_id }));
    events
}

/// An event and a repeated record of it later in the log.
fn with_repeat(tenant: &TenantId) -> (EventAccepted, EventView, EventView) {
    let mut accepted = event_accepted(tenant, "order.created", now() - secs(30), 3);
    accepted.idempotency_key = Some("order-17".into());
    let first = view(&accepted);
    let repeated = EventView {
        payload_at: LogPosition { offset: first.payload_at.offset + 5, ..first.payload_at.clone() },
        ..first.clone()
    };
    (accepted, first, repeated)
}

/// An event folded several times, in separate batches and within one, with a repeated
/// record of it later in the log applied before, after or between: the views hold
/// the first record's event, whole, with its tasks' ids, listed once; an unknown id
/// is unknown.
pub async fn events_fold_ignores_order_and_repeats(factory: &impl ViewStoreFactory) {
    let store = factory.open(LONG_RETENTION).await;
    let t = tenant();
    // Each order is batches applied one after the other, of the first record and a repeat.
    type Order = fn(&EventView, &EventView) -> Vec<Vec<ViewChange>>;
    let orders: [Order; 4] = [
        |first, repeated| vec![vec![change(first), change(first)], vec![change(first)], vec![change(repeated)]],
        |first, repeated| vec![vec![change(repeated)], vec![change(first)], vec![change(repeated)]],
        |first, repeated| vec![vec![change(repeated), change(first), change(repeated)]],
        |first, repeated| vec![vec![change(first), change(repeated)], vec![change(first)]],
    ];
    let mut expected = Vec::new();
    for (n, order) in orders.into_iter().enumerate() {
        let (accepted, first, repeated) = with_repeat(&t);
        for batch in order(&first, &repeated) {
            apply(&store, batch).await;
        }
        let held = read(store.as_ref(), first.event_id).await;
        assert_eq!(held, Some(first.clone()), "order {n}: the first record's event");
        assert_eq!(first.subscriptions, accepted.subscriptions, "its subscriptions, in id order");
        let tasks: Vec<TaskId> =
            accepted.subscriptions.iter().map(|sub| TaskId::for_event(accepted.event_id, *sub)).collect();
        assert_eq!(first.task_ids(), tasks, "the task of each subscription");
        expected.push(first);
    }
    let listed = list_all(store.as_ref(), &t, &EventFilter::default(), 10).await;
    assert_eq!(listed, newest_first(expected), "each listed once");
    assert_eq!(read(store.as_ref(), EventId::new()).await, None, "an event never written is unknown");
}

/// A tenant's events, newest first (ties by id), paged by any limit without gaps or
/// repeats; filtered by type, by time and by both; an event accepted after a page's
/// cursor does not slip into the next pages; other tenants' events never show.
pub async fn event_listing_pages_newest_first_with_filters(factory: &impl ViewStoreFactory) {
    let store = factory.open(LONG_RETENTION).await;
    let (mine, theirs) = (tenant(), tenant());
    let t0 = now() - secs(1800);
    // Two events share an acceptance millisecond: the greater id comes first.
    let times = [t0, t0 + secs(5), t0 + secs(5), t0 + secs(9), t0 + secs(20), t0 + secs(21), t0 + secs(40)];
    let types = ["order.created", "order.paid", "order.created", "user.created", "order.created", "order.paid", "x"];
    let events: Vec<EventView> =
        times.iter().zip(types).map(|(at, kind)| view(&event_accepted(&mine, kind, *at, 1))).collect();
    let foreign = view(&event_accepted(&theirs, "order.created", t0 + secs(7), 2));
    let mut changes: Vec<ViewChange> = events.iter().chain([&foreign]).map(change).collect();
    changes.reverse();
    apply(&store, changes).await;
    let expected = newest_first(events.clone());
    let all = EventFilter::default();

    for limit in [1, 2, 3, 100] {
        assert_eq!(list_all(store.as_ref(), &mine, &all, limit).await, expected, "limit {limit}: newest first");
    }
    assert_eq!(list_all(store.as_ref(), &theirs, &all, 10).await, vec![foreign.clone()], "the other tenant's only");
    assert_eq!(list_all(store.as_ref(), &tenant(), &all, 10).await, vec![], "a tenant without events");

    let created = EventFilter { event_type: Some("order.created".into()), since: None };
    let want: Vec<EventView> = expected.iter().filter(|e| e.event_type == "order.created").cloned().collect();
    assert_eq!(want.len(), 3);
    assert_eq!(list_all(store.as_ref(), &mine, &created, 1).await, want, "by exact type");
    let prefix = EventFilter { event_type: Some("order.".into()), since: None };
    assert_eq!(list_all(store.as_ref(), &mine, &prefix, 10).await, vec![], "a type is matched exactly");

    let since = t0 + secs(9);
    let recent = EventFilter { event_type: None, since: Some(since) };
    let want: Vec<EventView> = expected.iter().filter(|e| e.accepted_at >= since).cloned().collect();
    assert_eq!(want.len(), 4, "since keeps the event accepted at that very time");
    assert_eq!(list_all(store.as_ref(), &mine, &recent, 2).await, want, "since");
    let both = EventFilter { event_type: Some("order.paid".into()), since: Some(since) };
    assert_eq!(list_all(store.as_ref(), &mine, &both, 10).await, vec![events[5].clone()], "type and since");

    let first = store.events(&mine, &all, 3, None).await.unwrap_or_else(|e| panic!("first page: {e}"));
    assert_eq!(first.items, expected[..3], "the first page holds the 3 newest");
    let cursor = first.next.expect("a full page with more events gives a cursor");
    let newer = view(&event_accepted(&mine, "order.created", now(), 0));
    apply(&store, vec![change(&newer)]).await;
    let rest = store.events(&mine, &all, 10, Some(&cursor)).await.unwrap_or_else(|e| panic!("next page: {e}"));
    assert_eq!(rest.items, expected[3..], "the next page continues after the first, without the newer event");
    assert_eq!(rest.next, None, "the last page has no cursor");
    let listed = list_all(store.as_ref(), &mine, &all, 4).await;
    assert_eq!((listed[0].clone(), listed[1..].to_vec()), (newer, expected), "the newer event comes first");
}

/// A cursor that no page gave out is refused.
pub async fn event_listing_rejects_invalid_cursor(factory: &impl ViewStoreFactory) {
    let store = factory.open(LONG_RETENTION).await;
    let filters = [EventFilter::default(), EventFilter { event_type: Some("a".into()), since: Some(now()) }];
    for filter in filters {
        for bad in ["not a cursor", "\u{0}\u{7f}garbage", "%%%", "12_34", "_", "x_0190a5b4-7f43-7cc2-9a3e-2b1f6c8d9e01"]
        {
            match store.events(&tenant(), &filter, 10, Some(bad)).await {
                Err(ViewError::InvalidCursor) => {}
                other => panic!("cursor {bad:?} must give ViewError::InvalidCursor, got {other:?}"),
            }
        }
    }
}

/// Events leave reads and the listing once their retention (from their acceptance)
/// has passed, one older than the retention is never written, and a purge keeps the
/// events not yet expired.
pub async fn events_expire_with_the_retention(factory: &impl ViewStoreFactory) {
    let store = factory.open(Retention { ttl: Duration::from_secs(2) }).await;
    let t = tenant();
    // A second ahead, so that a slow machine still reads it before it expires.
    let short_lived = view(&event_accepted(&t, "a", now() + secs(1), 1));
    let lasting = view(&event_accepted(&t, "a", now() + secs(3600), 1));
    apply(&store, vec![change(&short_lived), change(&lasting)]).await;
    assert_eq!(read(store.as_ref(), short_lived.event_id).await, Some(short_lived.clone()), "readable at once");
    assert_eq!(
        list_all(store.as_ref(), &t, &EventFilter::default(), 10).await,
        vec![lasting.clone(), short_lived.clone()]
    );
    let s = &store;
    wait_until("the event expires", Duration::from_secs(20), || async move {
        read(s.as_ref(), short_lived.event_id).await.is_none()
    })
    .await;
    assert_eq!(list_all(store.as_ref(), &t, &EventFilter::default(), 10).await, vec![lasting.clone()], "listing");
    store.purge_expired(Utc::now()).await.unwrap_or_else(|e| panic!("purge_expired failed: {e}"));
    assert_eq!(read(store.as_ref(), short_lived.event_id).await, None, "a purged event stays gone");
    assert_eq!(read(store.as_ref(), lasting.event_id).await, Some(lasting.clone()), "a live event survives the purge");

    let hour = factory.open(Retention { ttl: Duration::from_secs(3600) }).await;
    let old = view(&event_accepted(&t, "a", now() - secs(2 * 3600), 1));
    apply(&hour, vec![change(&old)]).await;
    apply(&hour, vec![change(&old)]).await;
    assert_eq!(read(hour.as_ref(), old.event_id).await, None, "an event past the retention is not written");
    let listed = list_all(hour.as_ref(), &t, &EventFilter::default(), 10).await;
    assert!(listed.iter().all(|e| e.event_id != old.event_id), "nor listed");
}

/// The latest use of each token is kept whatever the order and grouping of its
/// TokenUsed changes, repeated ones included; a token never used is absent.
pub async fn tokens_last_used_keeps_the_latest(factory: &impl ViewStoreFactory) {
    let store = factory.open(LONG_RETENTION).await;
    let (one, two, three, never) = (TokenId::new(), TokenId::new(), TokenId::new(), TokenId::new());
    let t0 = now() - secs(600);
    let used = |token_id: TokenId, at: DateTime<Utc>| ViewChange::TokenUsed { token_id, at };
    apply(&store, vec![used(one, t0 + secs(120))]).await;
    apply(&store, vec![used(one, t0), used(two, t0 + secs(60)), used(one, t0 + secs(60))]).await;
    apply(&store, vec![used(two, t0), used(three, t0 + secs(1)), used(two, t0 + secs(180)), used(two, t0)]).await;
    apply(&store, vec![used(three, t0 + secs(1))]).await;
    let ids = [one, two, three, never];
    let last = store.tokens_last_used(&ids).await.unwrap_or_else(|e| panic!("tokens_last_used failed: {e}"));
    let expected = [(one, t0 + secs(120)), (two, t0 + secs(180)), (three, t0 + secs(1))].into_iter().collect();
    assert_eq!(last, expected, "the latest use of each, none for the token never used");
    let none = store.tokens_last_used(&[]).await.unwrap_or_else(|e| panic!("tokens_last_used(&[]) failed: {e}"));
    assert!(none.is_empty());
    let just_two = store.tokens_last_used(&[two]).await.unwrap_or_else(|e| panic!("tokens_last_used failed: {e}"));
    assert_eq!(just_two, [(two, t0 + secs(180))].into_iter().collect(), "only the tokens asked for");
}
