//! A subscription with a secret: records must carry the signature of their exact value.

use chrono::Utc;
use hookline_domain::signature::{ingest_signature, standard_webhooks_signature};
use hookline_domain::{topics, TaskId};
use hookline_ingest::{REJECT_MESSAGE_HEADER, REJECT_REASON_HEADER, SIGNATURE_HEADER, SIGNED_MESSAGE_HEADERS};

use crate::support::{webhook, Harness, GROUP};

const SECRET: &str = "my-secure-secret";
const BODY: &str = r#"{"event":"order.created","data":{"order_id":12345}}"#;

#[tokio::test]
async fn signed_subscriptions_take_only_records_signed_over_their_exact_value() {
    let harness = Harness::new().await;
    let subscription = harness.subscription(Some(SECRET), None).await;
    let good = ingest_signature(SECRET, BODY.as_bytes());
    let cases: [(&str, Option<String>, Option<&str>); 6] = [
        ("good", Some(good.clone()), None),
        ("missing", None, Some("signature_missing")),
        ("blank", Some(" ".into()), Some("signature_missing")),
        ("other secret", Some(ingest_signature("another-secret", BODY.as_bytes())), Some("signature_invalid")),
        ("not hex", Some("sha256=zz".into()), Some("signature_invalid")),
        ("cut short", Some(good[..good.len() - 1].to_string()), Some("signature_invalid")),
    ];
    let records = cases
        .iter()
        .map(|(name, signature, _)| {
            let record = webhook(subscription, BODY).idempotency_key(name);
            match signature {
                Some(signature) => record.header(SIGNATURE_HEADER, signature),
                None => record,
            }
            .build()
        })
        .collect();
    // The signature covers the exact bytes: the same JSON spaced differently fails.
    let respaced = webhook(subscription, &BODY.replace(':', ": ")).header(SIGNATURE_HEADER, &good).build();
    harness.produce(records).await;
    harness.produce(vec![respaced]).await;

    let running = harness.start(GROUP);
    let counts = running.settled(7).await;
    assert_eq!(counts.accepted, 1);
    assert_eq!((counts.rejected["signature_missing"], counts.rejected["signature_invalid"]), (2, 4));
    running.stop().await.unwrap();

    let tasks = harness.tasks().await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].task_id, TaskId::derived(subscription, b"key:good"));
    assert_eq!(tasks[0].payload.get(), BODY);

    let rejected = harness.read_topic(topics::INGEST_REJECTED).await;
    assert_eq!(rejected.len(), 6);
    for (name, _, reason) in &cases[1..] {
        let copy = rejected
            .iter()
            .find(|record| record.header("idempotency_key") == Some(name.as_bytes()))
            .unwrap_or_else(|| panic!("no rejected copy of {name}"));
        assert_eq!(copy.header(REJECT_REASON_HEADER), reason.map(str::as_bytes), "{name}");
        assert_eq!(copy.value, BODY.as_bytes());
    }
    let respaced = rejected.iter().find(|record| record.header("idempotency_key").is_none()).unwrap();
    assert_eq!(respaced.header(REJECT_REASON_HEADER), Some(b"signature_invalid".as_slice()));
    assert_eq!(respaced.header(REJECT_MESSAGE_HEADER), Some(b"Invalid signature".as_slice()));
    assert_eq!(respaced.header(SIGNATURE_HEADER), Some(good.as_bytes()));
}

#[tokio::test]
async fn records_signed_the_standard_webhooks_way_need_a_fresh_timestamp_and_are_named_by_their_id() {
    let harness = Harness::new().await;
    let subscription = harness.subscription(Some(SECRET), None).await;
    let now = Utc::now().timestamp();
    let signed = |id: &str, at: i64| {
        let [id_header, timestamp_header, signature_header] = SIGNED_MESSAGE_HEADERS;
        webhook(subscription, BODY)
            .header(id_header, id)
            .header(timestamp_header, at.to_string())
            .header(signature_header, standard_webhooks_signature(SECRET, id, at, BODY.as_bytes()))
            .build()
    };
    harness
        .produce(vec![
            signed("msg_fresh", now),
            signed("msg_fresh", now),
            signed("msg_stale", now - 3600),
            signed("msg_future", now + 3600),
        ])
        .await;
    let running = harness.start(GROUP);
    let counts = running.settled(4).await;
    running.stop().await.unwrap();
    assert_eq!((counts.accepted, counts.replayed, counts.rejected["signature_timestamp"]), (1, 1, 2));
    let tasks = harness.tasks().await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].task_id, TaskId::derived(subscription, b"key:msg_fresh"));
}
