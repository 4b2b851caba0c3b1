//! The ingest body limit must leave an accepted webhook's records room in the log:
//! a limit the log cannot hold is refused at start-up, naming both numbers; the
//! largest limit it takes works end to end, retry included.

use std::time::Duration;

use hookline_testkit::receiver::{Receiver, Reply, Script};

use crate::common::{engines, refused, Deployment};

/// The embedded log's record limit, and the Kafka producer's.
const EMBEDDED_LIMIT: usize = 8 << 20;
const KAFKA_LIMIT: usize = 4 << 20;
/// What each record keeps for the event around the body.
const ROOM: usize = 64 * 1024;

#[tokio::test]
async fn a_body_limit_the_log_cannot_hold_is_refused_naming_both_numbers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().to_str().expect("utf-8 path");
    let over = (EMBEDDED_LIMIT - ROOM + 1).to_string();
    let printed = refused(
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir],
        &[("HOOKLINE_MAX_BODY_BYTES", &over), ("KAFKA_BROKERS", ""), ("SCYLLA_NODES", "")],
    )
    .await;
    assert!(
        printed.contains(&format!(
            "HOOKLINE_MAX_BODY_BYTES is {over}, but the log takes records of at most {EMBEDDED_LIMIT} bytes"
        )),
        "{printed}"
    );
    assert!(printed.contains(&format!("set HOOKLINE_MAX_BODY_BYTES to {} or less", EMBEDDED_LIMIT - ROOM)));

    let Some(engines) = engines("a_body_limit_the_log_cannot_hold_is_refused_naming_both_numbers") else { return };
    let deployment = Deployment::new(&engines, &[]).await;
    let mut env: Vec<(&str, &str)> = deployment.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let at_record_limit = KAFKA_LIMIT.to_string();
    env.push(("HOOKLINE_MAX_BODY_BYTES", &at_record_limit));
    let printed = refused(&["serve", "--listen", "127.0.0.1:0"], &env).await;
    assert!(
        printed.contains(&format!(
            "HOOKLINE_MAX_BODY_BYTES is {KAFKA_LIMIT}, but the log takes records of at most {KAFKA_LIMIT} bytes"
        )),
        "{printed}"
    );
}

#[tokio::test]
async fn the_largest_body_kafka_holds_is_accepted_retried_and_delivered() {
    let Some(engines) = engines("the_largest_body_kafka_holds_is_accepted_retried_and_delivered") else { return };
    let receiver = Receiver::start().await;
    receiver.set("/big", Script::then(vec![Reply::Status(500)], Reply::Status(200)));
    let most = (KAFKA_LIMIT - ROOM).to_string();
    let deployment = Deployment::new(&engines, &[("HOOKLINE_MAX_BODY_BYTES", &most)]).await;
    let service = deployment.start("all", &[]).await;
    let sub = service.subscribe(&receiver.url("/big"), None, None).await;
    let prefix = r#"{"pad":""#;
    let body = format!("{prefix}{}\"}}", "x".repeat(KAFKA_LIMIT - ROOM - prefix.len() - 2));
    assert_eq!(body.len(), KAFKA_LIMIT - ROOM);
    let task = service.ingest_ok(&sub, &body, &[]).await;
    let got = receiver.wait_for("/big", 2, Duration::from_secs(60)).await;
    assert!(got.iter().all(|request| request.body.len() == body.len()), "the whole body, on each attempt");
    service.wait_task(&task, "succeeded", Duration::from_secs(60)).await;
}
