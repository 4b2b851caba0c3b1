//! Events sent to a tenant, through `EventIntake` over a real embedded log: which
//! subscriptions an event goes to, what a repeated key answers, and what is refused.

use std::sync::Arc;
use std::time::Duration;

use hookline_domain::{topics, EventAccepted, EventId, SubscriptionId, TaskId, TenantId};
use hookline_ingest::{EventIntake, EventOutcome, EventRequest, IngestError};
use hookline_log::embedded::{EmbeddedLog, EmbeddedOptions};
use hookline_log::{EventLog, TopicSpec};
use hookline_routing::Directory;
use hookline_views::embedded::EmbeddedViews;
use hookline_views::{Retention, ViewStore};
use tempfile::TempDir;
use tokio_util::sync::CancellationToken;

use crate::support::{create_routed_subscription, create_tenant, read_all};

struct Tenants {
    log: Arc<dyn EventLog>,
    views: Arc<dyn ViewStore>,
    routing: Arc<Directory>,
    intake: EventIntake,
    shutdown: CancellationToken,
    _dir: TempDir,
}

impl Drop for Tenants {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

const MAX_BODY_BYTES: usize = 2048;

impl Tenants {
    async fn new() -> Tenants {
        let dir = TempDir::new().unwrap();
        let log: Arc<dyn EventLog> = EmbeddedLog::open(&dir.path().join("log"), EmbeddedOptions::default()).unwrap();
        let views: Arc<dyn ViewStore> =
            EmbeddedViews::open(&dir.path().join("views.redb"), Retention { ttl: Duration::from_secs(3600) }).unwrap();
        let spec = |name: &str, partitions| TopicSpec { name: name.to_string(), partitions, retention: None };
        log.ensure_topics(&[spec(topics::TENANTS, 1), spec(topics::SUBSCRIPTIONS, 3), spec(topics::FANOUT, 3)])
            .await
            .unwrap();
        let routing = Arc::new(Directory::new());
        let shutdown = CancellationToken::new();
        tokio::spawn({
            let (routing, log, shutdown) = (routing.clone(), log.clone(), shutdown.clone());
            async move { routing.follow(log, shutdown).await }
        });
        let intake = EventIntake::new(log.clone(), routing.clone(), views.clone(), MAX_BODY_BYTES);
        Tenants { log, views, routing, intake, shutdown, _dir: dir }
    }

    async fn tenant(&self, id: &str) -> TenantId {
        create_tenant(&self.log, &self.routing, id).await
    }

    async fn subscription(&self, tenant: &TenantId, patterns: Option<&[&str]>, enabled: bool) -> SubscriptionId {
        create_routed_subscription(&self.log, &self.routing, tenant, patterns, enabled).await
    }

    async fn send(&self, tenant: &TenantId, event_type: &str, key: Option<&str>) -> Result<EventOutcome, IngestError> {
        self.intake
            .accept(EventRequest {
                tenant,
                event_type: Some(event_type.as_bytes()),
                body: br#"{"order": 42}"#,
                idempotency_key: key.map(str::as_bytes),
                dedup_name: None,
                ordering_key: None,
                trace: None,
            })
            .await
    }

    async fn accepted_events(&self) -> Vec<EventAccepted> {
        read_all(&self.log, topics::FANOUT).await.iter().map(|r| serde_json::from_slice(&r.value).unwrap()).collect()
    }
}

fn tasks_of(event_id: EventId, mut subscriptions: Vec<SubscriptionId>) -> Vec<TaskId> {
    subscriptions.sort();
    subscriptions.into_iter().map(|sub| TaskId::for_event(event_id, sub)).collect()
}

#[tokio::test]
async fn an_event_goes_to_every_enabled_matching_subscription_of_its_tenant_in_one_append() {
    let tenants = Tenants::new().await;
    let acme = tenants.tenant("acme").await;
    let globex = tenants.tenant("globex").await;
    let exact = tenants.subscription(&acme, Some(&["order.created"]), true).await;
    let prefix = tenants.subscription(&acme, Some(&["order.*"]), true).await;
    let _invoices = tenants.subscription(&acme, Some(&["invoice.*"]), true).await;
    let _disabled = tenants.subscription(&acme, Some(&["order.*"]), false).await;
    let _elsewhere = tenants.subscription(&globex, Some(&["*"]), true).await;

    let EventOutcome::Accepted { event_id, task_ids } = tenants.send(&acme, "order.created", None).await.unwrap()
    else {
        panic!("a fresh event is accepted");
    };
    assert_eq!(task_ids, tasks_of(event_id, vec![exact, prefix]));
    let events = tenants.accepted_events().await;
    assert_eq!(events.len(), 1, "one record however many subscriptions match");
    let mut wanted = vec![exact, prefix];
    wanted.sort();
    assert_eq!((events[0].event_id, &events[0].subscriptions, &events[0].tenant_id), (event_id, &wanted, &acme));
    assert_eq!(events[0].payload.get(), r#"{"order": 42}"#);

    // No match: accepted all the same, with no task.
    let EventOutcome::Accepted { task_ids, .. } = tenants.send(&acme, "shipment.sent", None).await.unwrap() else {
        panic!("accepted");
    };
    assert!(task_ids.is_empty());
}

#[tokio::test]
async fn a_repeated_key_answers_the_first_event_and_appends_nothing() {
    let tenants = Tenants::new().await;
    let acme = tenants.tenant("acme").await;
    let first_sub = tenants.subscription(&acme, Some(&["order.*"]), true).await;
    let first = tenants.send(&acme, "order.created", Some("order-42")).await.unwrap();
    let EventOutcome::Accepted { event_id, task_ids } = first else { panic!("accepted") };
    assert_eq!(task_ids, tasks_of(event_id, vec![first_sub]));
    // A subscription added since does not change what the repeat answers.
    tenants.subscription(&acme, Some(&["order.*"]), true).await;
    let again = tenants.send(&acme, "order.created", Some("order-42")).await.unwrap();
    assert_eq!(again, EventOutcome::Replayed { event_id, task_ids: task_ids.clone() });
    assert_eq!(tenants.accepted_events().await.len(), 1);
    // The same key in another tenant names another event.
    let globex = tenants.tenant("globex").await;
    let EventOutcome::Accepted { event_id: other, .. } =
        tenants.send(&globex, "order.created", Some("order-42")).await.unwrap()
    else {
        panic!("accepted in the other tenant");
    };
    assert_ne!(other, event_id);
}

#[tokio::test]
async fn another_process_answers_a_repeated_key_from_the_views_before_any_projector() {
    let tenants = Tenants::new().await;
    let acme = tenants.tenant("acme").await;
    let sub = tenants.subscription(&acme, Some(&["order.*"]), true).await;
    let EventOutcome::Accepted { event_id, task_ids } =
        tenants.send(&acme, "order.created", Some("k-1")).await.unwrap()
    else {
        panic!("accepted");
    };
    assert_eq!(task_ids, tasks_of(event_id, vec![sub]));
    // A second intake shares the log and the views but none of the first one's memory,
    // as another api process does; no projector runs.
    let other = EventIntake::new(tenants.log.clone(), tenants.routing.clone(), tenants.views.clone(), MAX_BODY_BYTES);
    let request = EventRequest {
        tenant: &acme,
        event_type: Some(b"order.created"),
        body: br#"{"order": 42}"#,
        idempotency_key: Some(b"k-1"),
        dedup_name: None,
        ordering_key: None,
        trace: None,
    };
    assert_eq!(other.accept(request).await.unwrap(), EventOutcome::Replayed { event_id, task_ids });
    assert_eq!(tenants.accepted_events().await.len(), 1);
}

#[tokio::test]
async fn refusals_name_what_is_wrong_and_append_nothing() {
    let tenants = Tenants::new().await;
    let acme = tenants.tenant("acme").await;
    let nobody = TenantId::parse("nobody").unwrap();
    assert!(matches!(tenants.send(&nobody, "order.created", None).await, Err(IngestError::UnknownTenant)));
    let request = |event_type: Option<&'static [u8]>, body: &'static [u8]| EventRequest {
        tenant: &acme,
        event_type,
        body,
        idempotency_key: None,
        dedup_name: None,
        ordering_key: None,
        trace: None,
    };
    assert!(matches!(tenants.intake.accept(request(None, b"{}")).await, Err(IngestError::MissingEventType)));
    assert!(matches!(tenants.intake.accept(request(Some(b"  "), b"{}")).await, Err(IngestError::MissingEventType)));
    assert!(matches!(
        tenants.intake.accept(request(Some(b"a\nb"), b"{}")).await,
        Err(IngestError::InvalidEventType(_))
    ));
    assert!(matches!(tenants.intake.accept(request(Some(b"order"), b"{nope")).await, Err(IngestError::NotJson)));
    // Hookline's own types are refused, with the reason the rejected copy carries.
    let reserved = tenants.intake.accept(request(Some(b" hookline.subscription.disabled"), b"{}")).await;
    let Err(reserved) = reserved else { panic!("a reserved type was accepted") };
    assert_eq!(reserved.reason(), "reserved_event_type");
    assert_eq!(
        reserved.to_string(),
        "Event type \"hookline.subscription.disabled\" is reserved: types starting with \"hookline.\" are hookline's own operational events"
    );
    let big: &'static [u8] = Box::leak(vec![b' '; MAX_BODY_BYTES + 1].into_boxed_slice());
    assert!(matches!(tenants.intake.accept(request(Some(b"order"), big)).await, Err(IngestError::TooLarge { .. })));
    assert!(tenants.accepted_events().await.is_empty());
}

#[tokio::test]
async fn a_fan_out_whose_list_would_not_fit_a_record_is_refused() {
    let tenants = Tenants::new().await;
    let acme = tenants.tenant("acme").await;
    // The record has room for the body plus half the envelope room (32 KiB): about 840 ids.
    for _ in 0..900 {
        tenants.subscription(&acme, None, true).await;
    }
    let refused = tenants.send(&acme, "order.created", None).await;
    assert!(matches!(refused, Err(IngestError::FanOutTooLarge { subscriptions: 900, .. })), "{refused:?}");
}
