//! Records that become tasks, records that are filtered, and task ids.

use hookline_domain::{topics, TaskId};
use hookline_ingest::{idempotency_name, IngestOutcome, IngestRequest};

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
    assert_eq!(running.settled(4).await.accepted, 4);
    running.stop().await.unwrap();

    let task_of = |tasks: &[hookline_domain::TaskAccepted], body: &str| {
        tasks.iter().find(|task| task.payload.get() == body).expect(body).task_id
    };
    let tasks = harness.tasks().await;
    let expected = TaskId::derived(subscription, b"key:order-7");
    assert_eq!(task_of(&tasks, r#"{"try":1}"#), expected);
    assert_eq!(task_of(&tasks, r#"{"try":2}"#), expected);
    assert_eq!(task_of(&tasks, r#"{"try":3}"#), TaskId::derived(subscription, b"key:order-8"));
    assert_eq!(task_of(&tasks, r#"{"try":4}"#), TaskId::derived(other, b"key:order-7"));
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
async fn rest_and_log_make_the_same_task_from_the_same_webhook() {
    let harness = Harness::new().await;
    let subscription = harness.subscription(None, None).await;
    let name = idempotency_name(b"order-9");
    let request = IngestRequest {
        subscription_id: subscription,
        body: BODY.as_bytes(),
        event_type: Some(b"order.created"),
        signature: None,
        dedup_name: Some(&name),
    };
    let queued = |outcome: IngestOutcome| match outcome {
        IngestOutcome::Queued(task_id) => task_id,
        filtered => panic!("expected a task, got {filtered:?}"),
    };
    let over_rest = queued(harness.ingestor.ingest(request).await.unwrap());
    assert_eq!(over_rest, TaskId::derived(subscription, b"key:order-9"));
    // Over REST without a name, every webhook is a new task.
    let fresh = queued(harness.ingestor.ingest(IngestRequest { dedup_name: None, ..request }).await.unwrap());
    assert_ne!(fresh, over_rest);

    harness
        .produce(vec![webhook(subscription, BODY).event_type("order.created").idempotency_key("order-9").build()])
        .await;
    let running = harness.start(GROUP);
    running.settled(1).await;
    running.stop().await.unwrap();

    let tasks = harness.tasks().await;
    assert_eq!(tasks.len(), 3);
    let same: Vec<_> = tasks.iter().filter(|task| task.task_id == over_rest).collect();
    assert_eq!(same.len(), 2, "the REST task and the log task share their id");
    for task in same {
        assert_eq!((task.subscription_id, task.payload.get()), (subscription, BODY));
        assert_eq!(task.event_type.as_deref(), Some("order.created"));
    }
}
