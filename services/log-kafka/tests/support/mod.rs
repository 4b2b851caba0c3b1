//! What every Kafka test needs: the broker's address, or a clear reason to skip.

use std::sync::Arc;

use hookline_log_kafka::{KafkaLog, KafkaSettings};

/// `KAFKA_BROKERS`, or `None` after printing why the test is skipped. With
/// `HOOKLINE_REQUIRE_ENGINES=1` a missing broker fails the test instead.
pub fn brokers() -> Option<String> {
    // Empty counts as unset, as it does for hookline itself.
    if let Some(brokers) = std::env::var("KAFKA_BROKERS").ok().filter(|b| !b.trim().is_empty()) {
        return Some(brokers);
    }
    if std::env::var("HOOKLINE_REQUIRE_ENGINES").as_deref() == Ok("1") {
        panic!("KAFKA_BROKERS is not set (or empty) but HOOKLINE_REQUIRE_ENGINES=1: start a broker with scripts/kafka.sh start");
    }
    println!("SKIPPED: KAFKA_BROKERS not set (run scripts/kafka.sh start)");
    None
}

/// A log on the test broker with default settings.
pub async fn connect(brokers: &str) -> Arc<KafkaLog> {
    KafkaLog::connect(KafkaSettings::new(brokers))
        .await
        .unwrap_or_else(|e| panic!("connecting to the kafka broker at {brokers} failed: {e}"))
}
