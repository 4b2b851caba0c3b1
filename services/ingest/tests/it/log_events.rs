//! Events produced straight into `hookline.events`: the ingest consumer accepts them
//! with the same `EventIntake` as `POST /api/v1/events`, and copies refused ones to
//! `hookline.ingest.rejected` as it does refused webhooks.

use std::collections::BTreeSet;

use hookline_domain::{topics, EventAccepted, EventId, TenantId};
use hookline_ingest::{position_name, REJECT_MESSAGE_HEADER, REJECT_REASON_HEADER};

use crate::support::{create_routed_subscription, create_tenant, event_for, webhook, Harness, GROUP};

const BODY: &str = r#"{"order" : 42,  "n": 123456789012345678901234567890}"#;

impl Harness {
    async fn accepted_events(&self) -> Vec<EventAccepted> {
        let records = self.read_topic(topics::FANOUT).await;
        for record in &records {
            assert_eq!(record.header(topics::EVENT_HEADER), Some(EventAccepted::KIND.as_bytes()));
        }
        records.iter().map(|record| serde_json::from_slice(&record.value).unwrap()).collect()
    }

    async fn routed_subscription(&self, tenant: &TenantId, patterns: &[&str]) -> hookline_domain::SubscriptionId {
        create_routed_subscription(&self.log, &self.routing, tenant, Some(patterns), true).await
    }
}

#[tokio::test]
async fn an_event_record_becomes_one_event_accepted_for_its_matching_subscriptions() {
    let harness = Harness::new().await;
    let acme = create_tenant(&harness.log, &harness.routing, "acme").await;
    let exact = harness.routed_subscription(&acme, &["order.created"]).await;
    let prefix = harness.routed_subscription(&acme, &["order.*"]).await;
    let _invoices = harness.routed_subscription(&acme, &["invoice.*"]).await;
    let webhook_subscription = harness.subscription(None, None).await;
    let landed = harness
        .produce(vec![
            event_for("acme", BODY).event_type("order.created").build(),
            webhook(webhook_subscription, "{}").build(),
        ])
        .await;
    let running = harness.start(GROUP);
    let counts = running.settled(2).await;
    assert_eq!((counts.accepted, counts.rejected_total()), (2, 0));
    running.stop().await.unwrap();

    let events = harness.accepted_events().await;
    assert_eq!(events.len(), 1, "one record however many subscriptions match");
    let event = &events[0];
    let position = position_name(topics::EVENTS, landed[0].partition, landed[0].offset);
    assert_eq!(event.event_id, EventId::derived(&acme, &position), "named by its position: a re-read is the same");
    assert_eq!(event.tenant_id, acme);
    assert_eq!(event.event_type, "order.created");
    assert_eq!(event.payload.get(), BODY, "the exact bytes");
    assert_eq!(event.subscriptions.iter().copied().collect::<BTreeSet<_>>(), BTreeSet::from([exact, prefix]));
    let fanout = harness.read_topic(topics::FANOUT).await;
    assert_eq!(fanout[0].key, b"acme", "keyed by tenant");
    // The webhook of the same batch went its own way.
    assert_eq!(harness.tasks().await[0].subscription_id, webhook_subscription);
}

#[tokio::test]
async fn refused_event_records_are_copied_to_rejected_with_the_reason() {
    let harness = Harness::new().await;
    create_tenant(&harness.log, &harness.routing, "acme").await;
    let refused = [
        (event_for("nobody", "{}").event_type("order.created").build(), "unknown_tenant"),
        (event_for("Not A Tenant!", "{}").event_type("order.created").build(), "invalid_key"),
        (event_for("acme", "{}").build(), "missing_event_type"),
        (event_for("acme", "{nope").event_type("order.created").build(), "not_json"),
        (
            event_for("acme", "{}").event_type("order.created").idempotency_key("bad\nkey").build(),
            "invalid_idempotency_key",
        ),
    ];
    let records: Vec<_> = refused.iter().map(|(record, _)| record.clone()).collect();
    harness.produce(records.clone()).await;
    let running = harness.start(GROUP);
    let counts = running.settled(refused.len() as u64).await;
    running.stop().await.unwrap();

    assert_eq!(counts.accepted, 0);
    assert!(harness.accepted_events().await.is_empty());
    let copies = harness.read_topic(topics::INGEST_REJECTED).await;
    assert_eq!(copies.len(), refused.len());
    for ((_, reason), original) in refused.iter().zip(&records) {
        assert_eq!(counts.rejected[reason], 1, "{reason}");
        let copy = copies
            .iter()
            .find(|copy| copy.header(REJECT_REASON_HEADER) == Some(reason.as_bytes()))
            .unwrap_or_else(|| panic!("no copy for {reason}"));
        assert_eq!((&copy.key, &copy.value), (&original.key, &original.value), "{reason}");
        assert!(original.headers.iter().all(|header| copy.headers.contains(header)), "{reason}: headers kept");
        assert!(copy.header(REJECT_MESSAGE_HEADER).is_some_and(|message| !message.is_empty()), "{reason}");
    }
}

#[tokio::test]
async fn a_keyed_event_is_accepted_once_and_a_reread_names_the_same_events() {
    let harness = Harness::new().await;
    let acme = create_tenant(&harness.log, &harness.routing, "acme").await;
    harness.routed_subscription(&acme, &["order.*"]).await;
    let keyed = || event_for("acme", BODY).event_type("order.created").idempotency_key("order-42").build();
    harness.produce(vec![keyed(), keyed(), event_for("acme", "{}").event_type("order.paid").build()]).await;
    let running = harness.start(GROUP);
    let counts = running.settled(3).await;
    assert_eq!((counts.accepted, counts.replayed), (2, 1), "the repeat in the same batch is a replay");
    // A later repeat, in another batch, is a replay too.
    harness.produce(vec![keyed()]).await;
    assert_eq!(running.settled(4).await.replayed, 2);
    running.stop().await.unwrap();
    let first: BTreeSet<EventId> = harness.accepted_events().await.iter().map(|event| event.event_id).collect();
    assert_eq!(first.len(), 2);

    // Another group reads every record again, as after a crash before the commit: the
    // keyed event is a replay, the other is named by its position, so the same event.
    let again = harness.start("another-group");
    again.settled(4).await;
    again.stop().await.unwrap();
    let events = harness.accepted_events().await;
    assert_eq!(events.len(), 3);
    assert_eq!(events.iter().map(|event| event.event_id).collect::<BTreeSet<_>>(), first);
}
