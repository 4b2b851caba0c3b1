//! `KAFKA_CONFIG` tunes librdkafka, but may not undo the settings the guarantees depend
//! on (they would win, being applied last): start-up refuses them, naming each.

use crate::common::{engines, refused, Deployment};

#[tokio::test]
async fn overrides_that_would_weaken_the_guarantees_are_refused_at_start() {
    let weakening = "linger.ms=10,enable.auto.commit=true,acks=1,enable.idempotence=false";
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let printed = refused(
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir],
        &[("KAFKA_BROKERS", "127.0.0.1:9"), ("KAFKA_CONFIG", weakening)],
    )
    .await;
    for key in ["enable.auto.commit", "acks", "enable.idempotence"] {
        assert!(printed.contains(&format!("KAFKA_CONFIG may not set {key}: hookline sets it itself")), "{printed}");
    }
    assert!(!printed.contains("may not set linger.ms"), "tuning stays allowed: {printed}");

    // On a real broker, a tuning override alone is taken.
    let Some(engines) = engines("overrides_that_would_weaken_the_guarantees_are_refused_at_start") else { return };
    let deployment = Deployment::new(&engines, &[("KAFKA_CONFIG", "linger.ms=10")]).await;
    let service = deployment.start("api", &[]).await;
    assert_eq!(service.get("/health").await.0, 200);
}
