//! Records that become tasks, records that are filtered, and task ids.

use hookline_domain::{topics, TaskId};
use hookline_ingest::{idempotency_name, IngestError, IngestOutcome, IngestRequest};

use crate::support::{webhook, Harness, GROUP};

/// Odd spacing and a number no float holds: the task must carry these exact bytes.
const BODY: &str = r#"{"event" : "order.created",  "n": 123456789012345678901234567890, "a":[1,"x"]}"#;

#[tokio::test]
async fn a_valid_record_becomes_a_task_with_the_exact_payload() {
    let harness = Harness::new().await;
    let subscription = harness.subscription(None, None).await;
    let landed = harness.produce(vec![webhook(subscription, BODY).event_type("order.created").build()]).await;
    let running = harness.start(GROUP);
    let counts = running.settled(1).await;
    assert_eq!((counts.accepted, counts.filtered, counts.rejected_total()), (1, 0, 0));
    running.stop().await.unwrap();

    let records = harness.read_topic(topics::DELIVERIES).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].key, subscription.to_string().into_bytes());
    let tasks = harness.tasks().await;
    let task = &tasks[0];
    assert_eq!(task.subscription_id, subscription);
    assert_eq!(task.payload.get(), BODY);
    assert_eq!(task.event_type.as_deref(), Some("order.created"));
    let position = format!("log:{}/{}/{}", topics::INGEST, landed[0].partition, landed[0].offset);
    assert_eq!(task.task_id, TaskId::derived(subscription, position.as_bytes()));
    assert!(harness.read_topic(topics::INGEST_REJECTED).await.is_empty());
}

#[tokio::test]
async fn the_same_idempotency_key_gives_the_same_task() {
    let harness = Harness::new().await;
    let subscription = harness.subscription(None, None).await;
    let other = harness.subscription(None, None).await;
    harness
        .produce(vec![
            webhook(subscription, r#"{"try":1}"#).idempotency_key("order-7").build(),
            webhook(subscription, r#"{"try":2}"#).idempotency_key("order-7").build(),
            webhook(subscription, r#"{"try":3}"#).idempotency_key("order-8").build(),
            webhook(other, r#"{"try":4}"#).idempotency_key("order-7").build(),
        ])
        .await;
    let running = harness.start(GROUP);
    let counts = running.settled(4).await;
    assert_eq!((counts.accepted, counts.replayed), (3, 1));
    running.stop().await.unwrap();

    let task_of = |tasks: &[hookline_domain::TaskAccepted], body: &str| {
        tasks.iter().find(|task| task.payload.get() == body).map(|task| task.task_id)
    };
    let tasks = harness.tasks().await;
    assert_eq!(tasks.len(), 3);
    let expected = TaskId::derived(subscription, b"key:order-7");
    assert_eq!(task_of(&tasks, r#"{"try":1}"#), Some(expected));
    assert_eq!(task_of(&tasks, r#"{"try":2}"#), None, "a repeated key is a replay: the first body wins");
    assert_eq!(task_of(&tasks, r#"{"try":3}"#), Some(TaskId::derived(subscription, b"key:order-8")));
    assert_eq!(task_of(&tasks, r#"{"try":4}"#), Some(TaskId::derived(other, b"key:order-7")));
}

#[tokio::test]
async fn filtered_records_create_nothing() {
    let harness = Harness::new().await;
    let subscription = harness.subscription(None, Some("order.created,order.paid")).await;
    harness
        .produce(vec![
            webhook(subscription, BODY).event_type("order.refunded").build(),
            webhook(subscription, BODY).build(),
            webhook(subscription, BODY).event_type("   ").build(),
            webhook(subscription, BODY).event_type("order.paid").build(),
        ])
        .await;
    let running = harness.start(GROUP);
    let counts = running.settled(4).await;
    assert_eq!((counts.accepted, counts.filtered, counts.rejected_total()), (1, 3, 0));
    running.stop().await.unwrap();

    let tasks = harness.tasks().await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].event_type.as_deref(), Some("order.paid"));
    assert!(harness.read_topic(topics::INGEST_REJECTED).await.is_empty());
}

#[tokio::test]
async fn an_idempotency_key_names_one_task_whichever_way_it_comes_in() {
    let harness = Harness::new().await;
    let subscription = harness.subscription(None, None).await;
    let request = IngestRequest {
        subscription_id: subscription,
        body: BODY.as_bytes(),
        event_type: Some(b"order.created"),
        signature: None,
        signed_message: None,
        idempotency_key: Some(b"order-9"),
        dedup_name: None,
        ordering_key: None,
        trace: None,
    };
    let over_rest = match harness.ingestor.ingest(request).await.unwrap() {
        IngestOutcome::Queued(task_id) => task_id,
        other => panic!("expected a task, got {other:?}"),
    };
    assert_eq!(over_rest, TaskId::derived(subscription, &idempotency_name(b"order-9")));
    // The same key again is answered with the same task, and nothing is appended.
    assert_eq!(harness.ingestor.ingest(request).await.unwrap(), IngestOutcome::Replayed(over_rest));
    // Without a key, every webhook is a new task.
    let fresh = harness.ingestor.ingest(IngestRequest { idempotency_key: None, ..request }).await.unwrap();
    assert!(matches!(fresh, IngestOutcome::Queued(task_id) if task_id != over_rest), "{fresh:?}");

    // Over the log: the REST key again, and a new key twice in one batch.
    harness
        .produce(vec![
            webhook(subscription, BODY).event_type("order.created").idempotency_key("order-9").build(),
            webhook(subscription, BODY).event_type("order.created").idempotency_key("order-10").build(),
            webhook(subscription, BODY).event_type("order.created").idempotency_key("order-10").build(),
        ])
        .await;
    let running = harness.start(GROUP);
    let counts = running.settled(3).await;
    running.stop().await.unwrap();
    assert_eq!((counts.accepted, counts.replayed), (1, 2));

    let tasks = harness.tasks().await;
    let ids: Vec<_> = tasks.iter().map(|task| task.task_id).collect();
    assert_eq!(tasks.len(), 3, "{ids:?}");
    assert_eq!(ids.iter().filter(|id| **id == over_rest).count(), 1);
    assert!(ids.contains(&TaskId::derived(subscription, &idempotency_name(b"order-10"))));
}

#[tokio::test]
async fn a_key_accepted_by_another_process_is_found_in_the_views() {
    let harness = Harness::new().await;
    let subscription = harness.subscription(None, None).await;
    let earlier = TaskId::derived(subscription, &idempotency_name(b"invoice-1"));
    harness.project_task(earlier, subscription).await;
    let request = IngestRequest {
        subscription_id: subscription,
        body: BODY.as_bytes(),
        event_type: None,
        signature: None,
        signed_message: None,
        idempotency_key: Some(b"invoice-1"),
        dedup_name: None,
        ordering_key: None,
        trace: None,
    };
    assert_eq!(harness.ingestor.ingest(request).await.unwrap(), IngestOutcome::Replayed(earlier));
    assert!(harness.tasks().await.is_empty());
    for bad in [&b"tab\tkey"[..], &[b'k'; 256]] {
        let refused = harness.ingestor.ingest(IngestRequest { idempotency_key: Some(bad), ..request }).await;
        assert!(matches!(refused, Err(IngestError::InvalidIdempotencyKey(_))), "{refused:?}");
    }
}
