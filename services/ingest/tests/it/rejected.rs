//! Records that fail a check: copied to `hookline.ingest.rejected` with their reason,
//! counted, and committed past.

use std::sync::Arc;

use hookline_domain::{topics, SubscriptionId};
use hookline_ingest::{
    run_consumer, IngestConsumerConfig, IngestConsumerDeps, IngestConsumerError, IngestCounters, REJECT_MESSAGE_HEADER,
    REJECT_REASON_HEADER,
};
use hookline_log::embedded::{EmbeddedLog, EmbeddedOptions};
use hookline_log::{EventLog, LogError, Record, TopicSpec};
use tokio_util::sync::CancellationToken;

use crate::support::{webhook, webhook_with_key, Harness, GROUP, MAX_BODY_BYTES};

const BODY: &str = r#"{"ok":true}"#;

fn copies_with_reason<'a>(rejected: &'a [Record], reason: &str) -> Vec<&'a Record> {
    rejected.iter().filter(|r| r.header(REJECT_REASON_HEADER) == Some(reason.as_bytes())).collect()
}

fn message(record: &Record) -> &str {
    std::str::from_utf8(record.header(REJECT_MESSAGE_HEADER).expect("a reject message")).unwrap()
}

#[tokio::test]
async fn refused_records_are_copied_with_their_reason_and_the_consumer_moves_on() {
    let harness = Harness::new().await;
    let live = harness.subscription(None, None).await;
    let deleted = harness.subscription(None, None).await;
    harness.delete(deleted).await;
    let unknown = SubscriptionId::new();
    let oversized = format!(r#"{{"pad":"{}"}}"#, "x".repeat(MAX_BODY_BYTES));
    let not_utf8 = b"\xffnot json {".as_slice();

    let mut not_utf8_record = webhook(live, "").build();
    not_utf8_record.value = not_utf8.to_vec();
    harness
        .produce(vec![
            webhook_with_key(b"not-a-subscription", BODY).event_type("order.created").build(),
            webhook_with_key(b"", BODY).build(),
            webhook(unknown, BODY).build(),
            webhook(deleted, BODY).build(),
            not_utf8_record,
            webhook(live, "[1, 2").build(),
            webhook(live, &oversized).build(),
            webhook(live, BODY).event_type("order\u{7}created").build(),
            webhook(live, BODY).header("event_type", b"\xff\xfe").build(),
            webhook(live, BODY).event_type("order.created").build(),
        ])
        .await;

    let running = harness.start(GROUP);
    let counts = running.settled(10).await;
    running.stop().await.unwrap();
    assert_eq!(counts.accepted, 1);
    let by_reason: Vec<(&str, u64)> = counts.rejected.iter().map(|(r, n)| (*r, *n)).filter(|(_, n)| *n > 0).collect();
    assert_eq!(
        by_reason,
        [
            ("invalid_event_type", 2),
            ("invalid_key", 2),
            ("not_json", 1),
            ("not_utf8", 1),
            ("too_large", 1),
            ("unknown_subscription", 2)
        ]
    );

    // Nothing refused became a task; the valid record after them did.
    let tasks = harness.tasks().await;
    assert_eq!(tasks.len(), 1);
    assert_eq!((tasks[0].subscription_id, tasks[0].payload.get()), (live, BODY));

    let rejected = harness.read_topic(topics::INGEST_REJECTED).await;
    assert_eq!(rejected.len(), 9);
    for copy in &rejected {
        assert!(copy.header(REJECT_MESSAGE_HEADER).is_some_and(|m| !m.is_empty()));
    }
    let bad_keys = copies_with_reason(&rejected, "invalid_key");
    assert_eq!(bad_keys.len(), 2);
    let named = bad_keys.iter().find(|r| r.key == b"not-a-subscription").expect("the copy keeps its key");
    assert_eq!(
        (named.value.as_slice(), named.header("event_type")),
        (BODY.as_bytes(), Some(b"order.created".as_slice()))
    );
    assert!(bad_keys.iter().any(|r| r.key.is_empty()));

    let unknowns = copies_with_reason(&rejected, "unknown_subscription");
    let unknown_keys: Vec<_> = unknowns.iter().map(|r| r.key.clone()).collect();
    assert!(unknown_keys.contains(&unknown.to_string().into_bytes()));
    assert!(unknown_keys.contains(&deleted.to_string().into_bytes()));
    assert!(unknowns.iter().all(|r| message(r) == "Subscription not found"));

    let [large] = copies_with_reason(&rejected, "too_large")[..] else { panic!("one copy rejected as too_large") };
    assert_eq!(large.value, oversized.as_bytes());
    assert_eq!(message(large), format!("Request body too large: {} bytes (limit {MAX_BODY_BYTES})", oversized.len()));
    let not_utf8_copies = copies_with_reason(&rejected, "not_utf8");
    assert!(not_utf8_copies.iter().any(|r| r.value == not_utf8), "original bytes kept, even when not UTF-8");
    assert!(copies_with_reason(&rejected, "not_json").iter().any(|r| r.value == b"[1, 2"));

    // The consumer committed past every record: the next one its group reads is new.
    let marker = harness.produce(vec![webhook(live, r#"{"marker":1}"#).build()]).await;
    let next = harness.next_for_group(GROUP).await;
    assert_eq!(next.len(), 1);
    assert_eq!((next[0].partition, next[0].offset), (marker[0].partition, marker[0].offset));
}

#[tokio::test]
async fn a_missing_output_topic_stops_the_consumer_at_start() {
    let harness = Harness::new().await;
    let dir = tempfile::TempDir::new().unwrap();
    let log: Arc<dyn EventLog> = EmbeddedLog::open(&dir.path().join("log"), EmbeddedOptions::default()).unwrap();
    let spec = TopicSpec { name: topics::INGEST.into(), partitions: 1, retention: None };
    log.ensure_topics(&[spec]).await.unwrap();
    let deps = IngestConsumerDeps {
        log,
        ingestor: harness.ingestor.clone(),
        intake: harness.intake.clone(),
        counters: Arc::new(IngestCounters::new()),
        metrics: hookline_metrics::Registry::new(),
    };
    let ended = run_consumer(IngestConsumerConfig::default(), deps, CancellationToken::new()).await;
    match ended {
        Err(IngestConsumerError::Log(LogError::UnknownTopic(missing))) => {
            let expected = [topics::DELIVERIES, topics::FANOUT, topics::INGEST_REJECTED, topics::QUARANTINE];
            assert_eq!(missing, expected.join(", "))
        }
        other => panic!("expected the missing topics to be named, got {other:?}"),
    }
}
