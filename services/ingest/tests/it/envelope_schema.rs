//! `schemas/events/IngestEnvelope.json` and `EventEnvelope.json` describe the records
//! the consumer takes: a record described as JSON validates exactly when its format is
//! right, and the valid samples are accepted by the consumer.

use std::path::PathBuf;

use hookline_domain::SubscriptionId;
use hookline_ingest::SIGNATURE_HEADER;
use hookline_log::NewRecord;
use serde_json::{json, Map, Value};

use crate::support::{create_routed_subscription, create_tenant, event_for, webhook, webhook_with_key, Harness, GROUP};

const BASE: &str = "https://hookline.example/schemas/events/";
const SECRET: &str = "envelope-secret";

fn load(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../schemas/events").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

fn validator() -> jsonschema::Validator {
    validator_of("IngestEnvelope.json")
}

fn validator_of(schema: &str) -> jsonschema::Validator {
    let common = jsonschema::Resource::from_contents(load("common.json")).expect("common schema");
    jsonschema::options()
        .with_resource(format!("{BASE}common.json"), common)
        .build(&load(schema))
        .unwrap_or_else(|e| panic!("{schema} is not a valid schema: {e}"))
}

/// A record as the schema sees it: key and headers as text, the value parsed as JSON
/// (left out when it is not JSON, as it then has no JSON description).
fn describe(record: &NewRecord) -> Value {
    let text = |bytes: &[u8]| Value::String(String::from_utf8_lossy(bytes).into_owned());
    let headers: Map<String, Value> = record.headers.iter().map(|(name, value)| (name.clone(), text(value))).collect();
    let mut described = json!({ "key": text(&record.key), "headers": headers });
    if let Ok(value) = serde_json::from_slice::<Value>(&record.value) {
        described["value"] = value;
    }
    described
}

#[tokio::test]
async fn records_of_the_documented_format_validate_and_are_accepted() {
    let harness = Harness::new().await;
    let subscription = harness.subscription(Some(SECRET), None).await;
    let samples = vec![
        webhook(subscription, r#"{"event":"order.created","data":{"order_id":12345}}"#)
            .event_type("order.created")
            .idempotency_key("order-12345")
            .signed(SECRET)
            .build(),
        webhook(subscription, "[1, 2, 3]").signed(SECRET).header("traceparent", "00-abc-def-01").build(),
        webhook(subscription, r#""just a string""#).signed(SECRET).build(),
    ];
    let validator = validator();
    for sample in &samples {
        let described = describe(sample);
        let errors: Vec<String> =
            validator.iter_errors(&described).map(|e| format!("{e} at {}", e.instance_path)).collect();
        assert!(errors.is_empty(), "the schema rejects {described}: {errors:?}");
    }

    harness.produce(samples).await;
    let running = harness.start(GROUP);
    let counts = running.settled(3).await;
    running.stop().await.unwrap();
    assert_eq!((counts.accepted, counts.rejected_total()), (3, 0));
}

#[test]
fn records_of_another_format_do_not_validate() {
    let validator = validator();
    let subscription = SubscriptionId::new();
    let body = r#"{"a":1}"#;
    let mut not_json = webhook(subscription, body).build();
    not_json.value = b"{not json".to_vec();
    let wrong = [
        ("key not a uuid", webhook_with_key(b"orders", body).build()),
        ("signature without its scheme", webhook(subscription, body).header(SIGNATURE_HEADER, "abcd").build()),
        (
            "signature not hex",
            webhook(subscription, body).header(SIGNATURE_HEADER, format!("sha256={}", "z".repeat(64))).build(),
        ),
        ("empty event type", webhook(subscription, body).event_type("").build()),
        ("empty idempotency key", webhook(subscription, body).idempotency_key("").build()),
        ("value not JSON", not_json),
    ];
    for (what, record) in wrong {
        assert!(!validator.is_valid(&describe(&record)), "{what} validates");
    }
}

#[tokio::test]
async fn event_records_of_the_documented_format_validate_and_are_accepted() {
    let harness = Harness::new().await;
    let acme = create_tenant(&harness.log, &harness.routing, "acme").await;
    create_routed_subscription(&harness.log, &harness.routing, &acme, Some(&["order.*"]), true).await;
    let samples = vec![
        event_for("acme", r#"{"order_id":12345}"#).event_type("order.created").idempotency_key("order-12345").build(),
        event_for("acme", "[1, 2, 3]").event_type("order.paid").header("traceparent", "00-abc-def-01").build(),
    ];
    let validator = validator_of("EventEnvelope.json");
    for sample in &samples {
        let described = describe(sample);
        let errors: Vec<String> =
            validator.iter_errors(&described).map(|e| format!("{e} at {}", e.instance_path)).collect();
        assert!(errors.is_empty(), "the schema rejects {described}: {errors:?}");
    }

    harness.produce(samples).await;
    let running = harness.start(GROUP);
    let counts = running.settled(2).await;
    running.stop().await.unwrap();
    assert_eq!((counts.accepted, counts.rejected_total()), (2, 0));
}

#[test]
fn event_records_of_another_format_do_not_validate() {
    let validator = validator_of("EventEnvelope.json");
    let body = r#"{"a":1}"#;
    let mut not_json = event_for("acme", body).event_type("order.created").build();
    not_json.value = b"{not json".to_vec();
    let wrong = [
        ("key not a tenant id", event_for("Not A Tenant!", body).event_type("order.created").build()),
        ("no event type", event_for("acme", body).build()),
        ("empty event type", event_for("acme", body).event_type("").build()),
        ("empty idempotency key", event_for("acme", body).event_type("order.created").idempotency_key("").build()),
        ("value not JSON", not_json),
    ];
    for (what, record) in wrong {
        assert!(!validator.is_valid(&describe(&record)), "{what} validates");
    }
}
