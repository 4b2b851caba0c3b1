//! Events sent to tenants reach the views: the running projector folds each
//! EventAccepted of `hookline.fanout` into an event pointing at its record, and a
//! rebuild from the log brings them back into emptied views.

mod support;

use std::time::Duration;

use chrono::{DateTime, Utc};
use hookline_domain::{topics, EventAccepted, EventId, LogPosition, SubscriptionId, TenantId};
use hookline_log::EventLog;
use hookline_records::event_accepted_record;
use hookline_views::{EventFilter, EventView};
use serde_json::value::RawValue;
use support::{log, now_ms, rebuilt, Running};

fn event(tenant: &TenantId, at: DateTime<Utc>) -> EventAccepted {
    EventAccepted {
        event_id: EventId::new(),
        tenant_id: tenant.clone(),
        event_type: "order.created".into(),
        accepted_at: at,
        idempotency_key: None,
        subscriptions: vec![SubscriptionId::new(), SubscriptionId::new()],
        payload: RawValue::from_string(r#"{"n":1}"#.into()).unwrap(),
        ordering_key: None,
        trace: None,
    }
}

/// Appends the events; returns each one's view, pointing at where its record landed.
async fn append(log: &dyn EventLog, events: &[EventAccepted]) -> Vec<EventView> {
    let appended = log.append(events.iter().map(event_accepted_record).collect()).await.unwrap();
    events
        .iter()
        .zip(appended)
        .map(|(event, at)| {
            let position = LogPosition { topic: topics::FANOUT.into(), partition: at.partition, offset: at.offset };
            EventView::of(event, position)
        })
        .collect()
}

#[tokio::test]
async fn the_projector_folds_events_into_the_views() {
    let dir = tempfile::tempdir().unwrap();
    let log = log(dir.path()).await;
    let running = Running::start(&log, &dir.path().join("views.redb"));
    let (views, projector) = (&running.views, &running.projector);

    let tenant = TenantId::generate();
    let t0 = now_ms();
    let expected =
        append(log.as_ref(), &[event(&tenant, t0), event(&tenant, t0 + chrono::TimeDelta::seconds(1))]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    for view in &expected {
        while views.event(view.event_id).await.unwrap().is_none() {
            assert!(!projector.is_finished(), "the projector stopped");
            assert!(tokio::time::Instant::now() < deadline, "event {} never reached the views", view.event_id);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(views.event(view.event_id).await.unwrap().as_ref(), Some(view), "pointing at its record");
    }
    let listed = views.events(&tenant, &EventFilter::default(), 10, None).await.unwrap().items;
    assert_eq!(listed, vec![expected[1].clone(), expected[0].clone()], "the tenant's events, newest first");
    running.stop().await;
}

#[tokio::test]
async fn a_rebuild_brings_events_back() {
    let dir = tempfile::tempdir().unwrap();
    let log = log(dir.path()).await;
    let tenant = TenantId::generate();
    let expected = append(log.as_ref(), &[event(&tenant, now_ms())]).await;

    let (views, projected) = rebuilt(&log, &dir.path().join("rebuilt.redb")).await;
    assert_eq!(projected, 1, "the event's record");
    assert_eq!(views.event(expected[0].event_id).await.unwrap(), Some(expected[0].clone()));
}
