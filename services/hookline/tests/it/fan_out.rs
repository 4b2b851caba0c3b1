//! Events sent to a tenant, end to end on the real engines: produced to
//! `hookline.events`, accepted by the ingest role, expanded by the fanout role and
//! delivered, each to every subscription that wants it, under one `webhook-id`.

use std::collections::BTreeSet;
use std::str::FromStr;
use std::time::Duration;

use hookline_domain::{EventAccepted, SubscriptionId, TenantId};
use hookline_log::NewRecord;
use hookline_testkit::receiver::Receiver;

use crate::common::{engines, Deployment};
use crate::distributed::{kafka, read_all};

const T: Duration = Duration::from_secs(60);

fn event(event_type: &str, body: &str) -> NewRecord {
    NewRecord {
        topic: "hookline.events".into(),
        key: TenantId::default().as_str().as_bytes().to_vec(),
        headers: vec![("event_type".into(), event_type.as_bytes().to_vec())],
        value: body.as_bytes().to_vec(),
    }
}

#[tokio::test]
async fn an_event_produced_to_kafka_reaches_every_subscription_that_wants_it_under_one_id() {
    let test = "an_event_produced_to_kafka_reaches_every_subscription_that_wants_it_under_one_id";
    let Some(engines) = engines(test) else { return };
    let receiver = Receiver::start().await;
    let deployment = Deployment::new(&engines, &[]).await;
    let api = deployment.start("api,projector", &[]).await;
    let orders = api.subscribe(&receiver.url("/orders"), Some("orders-secret"), Some("order.created")).await;
    let everything = api.subscribe(&receiver.url("/everything"), None, None).await;
    let invoices = api.subscribe(&receiver.url("/invoices"), None, Some("invoice.paid")).await;
    // Started after the subscriptions exist: the ingest role routes events only once its
    // directory has read the log as far as it reached at start.
    let _workers = deployment.start("delivery,ingest,fanout", &[]).await;

    let log = kafka(&engines, &deployment).await;
    let order = r#"{"order": 42}"#;
    log.append(vec![event("order.created", order), event("invoice.paid", r#"{"invoice": 7}"#)])
        .await
        .expect("produce to hookline.events");

    let accepted: Vec<EventAccepted> = read_all(&log, "hookline.fanout", 2)
        .await
        .iter()
        .map(|record| serde_json::from_slice(&record.value).expect("an EventAccepted"))
        .collect();
    assert_eq!(accepted.len(), 2);
    let id = |text: &String| SubscriptionId::from_str(text).expect("a subscription id");
    let routed = |event_type: &str| -> (String, BTreeSet<SubscriptionId>) {
        let event = accepted.iter().find(|event| event.event_type == event_type).expect("accepted");
        (event.event_id.to_string(), event.subscriptions.iter().copied().collect())
    };
    let (order_id, order_subscriptions) = routed("order.created");
    let (invoice_id, invoice_subscriptions) = routed("invoice.paid");
    assert_eq!(order_subscriptions, BTreeSet::from([id(&orders), id(&everything)]));
    assert_eq!(invoice_subscriptions, BTreeSet::from([id(&everything), id(&invoices)]));

    let to_orders = receiver.wait_for("/orders", 1, T).await.remove(0);
    assert_eq!(to_orders.header("webhook-id"), Some(order_id.as_str()));
    assert_eq!(to_orders.body, order.as_bytes());
    assert!(to_orders.header("webhook-signature").is_some(), "signed with the subscription's secret");
    let to_invoices = receiver.wait_for("/invoices", 1, T).await.remove(0);
    assert_eq!(to_invoices.header("webhook-id"), Some(invoice_id.as_str()));
    let to_everything: BTreeSet<String> = receiver
        .wait_for("/everything", 2, T)
        .await
        .iter()
        .filter_map(|request| request.header("webhook-id").map(str::to_string))
        .collect();
    assert_eq!(to_everything, BTreeSet::from([order_id, invoice_id]), "one id per event, shared across subscriptions");
}
