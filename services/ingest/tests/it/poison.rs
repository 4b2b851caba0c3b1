//! A record the consumer cannot even copy to `hookline.ingest.rejected` (at the log's
//! record limit, the reject headers make the copy too large) is set aside in
//! `hookline.quarantine`, and the consumer moves on to the next record.

use hookline_domain::topics;
use hookline_log::embedded::EmbeddedOptions;
use hookline_quarantine::{OFFSET_HEADER, REASON_HEADER, TOPIC_HEADER, VALUE_BYTES_HEADER};

use crate::support::{webhook, Harness, GROUP};

/// The log's record limit in this test: small, so a record at it is cheap to make.
const LIMIT: usize = 64 * 1024;

#[tokio::test]
async fn a_record_at_the_log_limit_is_quarantined_and_the_next_one_becomes_a_task() {
    let harness = Harness::with_log_options(EmbeddedOptions { max_record_bytes: LIMIT, ..Default::default() }).await;
    let live = harness.subscription(None, None).await;
    // As large as the log takes: its rejected copy (two more headers) is not.
    let mut at_limit = webhook(live, "").build();
    let size = LIMIT - harness.log.record_bytes(&at_limit);
    at_limit.value = vec![b' '; size];
    assert_eq!(harness.log.record_bytes(&at_limit), LIMIT);
    harness.produce(vec![at_limit]).await;
    let garbage = {
        let mut record = webhook(live, "").build();
        record.value = vec![0xff, 0x00, 0xfe, 0x7b];
        record
    };
    let good = webhook(live, r#"{"good":true}"#).build();
    let landed = harness.produce(vec![garbage, good]).await;

    let running = harness.start(GROUP);
    let counts = running.settled(3).await;
    running.stop().await.unwrap();
    assert_eq!(counts.accepted, 1, "the record after the poison one became a task");
    assert_eq!(counts.rejected_total(), 2);

    let tasks = harness.tasks().await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].payload.get(), r#"{"good":true}"#);
    let rejected = harness.read_topic(topics::INGEST_REJECTED).await;
    assert_eq!(rejected.len(), 1, "the garbage record's copy fits");
    let kept = harness.read_topic(topics::QUARANTINE).await;
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].header(TOPIC_HEADER), Some(topics::INGEST.as_bytes()));
    assert_eq!(kept[0].header(REASON_HEADER), Some(&b"too_large"[..]));
    assert_eq!(kept[0].header(VALUE_BYTES_HEADER), Some(size.to_string().as_bytes()));
    assert!(kept[0].header(OFFSET_HEADER).is_some());

    // Committed past all three: the group's next record is a new one.
    let marker = harness.produce(vec![webhook(live, r#"{"marker":1}"#).build()]).await;
    let next = harness.next_for_group(GROUP).await;
    assert_eq!((next[0].partition, next[0].offset), (marker[0].partition, marker[0].offset));
    assert!(landed.iter().all(|l| l.partition == marker[0].partition), "one subscription, one partition");
}
