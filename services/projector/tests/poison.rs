//! Records the projector cannot fold in are set aside in `hookline.quarantine` and
//! passed: garbage, another event's schema, and records as large as the log takes, on
//! every topic it reads. The next good record still reaches the views.

use std::time::Duration;

use chrono::Utc;
use hookline_domain::events::{EventAccepted, TaskAccepted};
use hookline_domain::{topics, SubscriptionId, TaskDeadLettered, TaskId};
use hookline_log::embedded::{EmbeddedLog, EmbeddedOptions};
use hookline_log::{ConsumerSpec, EventLog, NewRecord, StartFrom, TopicSpec};
use hookline_metrics::Registry;
use hookline_projector::{ProjectorConfig, ProjectorDeps};
use hookline_quarantine::{Reason, REASON_HEADER, ROLE_HEADER, SET_ASIDE_METRIC, TOPIC_HEADER};
use hookline_views::embedded::EmbeddedViews;
use hookline_views::{Retention, ViewStore};
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;

const LIMIT: usize = 256 * 1024;

fn record(topic: &str, kind: &str, value: Vec<u8>) -> NewRecord {
    NewRecord {
        topic: topic.into(),
        key: SubscriptionId::new().to_string().into_bytes(),
        headers: vec![(topics::EVENT_HEADER.into(), kind.as_bytes().to_vec())],
        value,
    }
}

#[tokio::test]
async fn poison_on_every_topic_is_quarantined_and_the_next_record_reaches_the_views() {
    let dir = tempfile::tempdir().unwrap();
    let options = EmbeddedOptions { max_record_bytes: LIMIT, ..EmbeddedOptions::default() };
    let log: std::sync::Arc<dyn EventLog> = EmbeddedLog::open(&dir.path().join("log"), options).unwrap();
    let views: std::sync::Arc<dyn ViewStore> =
        EmbeddedViews::open(&dir.path().join("views.redb"), Retention { ttl: Duration::from_secs(3600) }).unwrap();
    let mut names = hookline_projector::topics();
    names.push(topics::QUARANTINE.into());
    let specs: Vec<TopicSpec> =
        names.into_iter().map(|name| TopicSpec { name, partitions: 2, retention: None }).collect();
    log.ensure_topics(&specs).await.unwrap();

    // Each topic, with the kind its records carry (the DLQ folds only dead letters in).
    let read = [
        (topics::SUBSCRIPTIONS, "SubscriptionCreated"),
        (topics::DELIVERIES, TaskAccepted::KIND),
        (topics::ATTEMPTS, "AttemptRecorded"),
        (topics::DLQ, TaskDeadLettered::KIND),
        (topics::FANOUT, EventAccepted::KIND),
        (topics::REPLAYS, "ReplayRequested"),
    ];
    let wrong_schema = br#"{"task_id":"0190a5b4-7f43-7cc2-9a3e-2b1f6c8d9e01","unexpected":[1,2,3]}"#.to_vec();
    let mut poison = Vec::new();
    for (topic, kind) in read {
        poison.push(record(topic, kind, vec![0xff, 0x00, 0x7b]));
        poison.push(record(topic, kind, wrong_schema.clone()));
        let mut huge = record(topic, kind, Vec::new());
        huge.value = vec![b'{'; LIMIT - log.record_bytes(&huge)];
        assert_eq!(log.record_bytes(&huge), LIMIT);
        poison.push(huge);
    }
    log.append(poison).await.unwrap();

    let registry = Registry::new();
    let deps = ProjectorDeps { log: log.clone(), views: views.clone(), metrics: registry.clone() };
    let shutdown = CancellationToken::new();
    let projector = tokio::spawn(hookline_projector::run(ProjectorConfig::default(), deps, shutdown.clone()));

    let task_id = TaskId::new();
    let accepted = TaskAccepted {
        task_id,
        subscription_id: SubscriptionId::new(),
        event_type: None,
        accepted_at: Utc::now(),
        payload: RawValue::from_string(r#"{"good":true}"#.into()).unwrap(),
        event_id: None,
    };
    log.append(vec![record(topics::DELIVERIES, TaskAccepted::KIND, serde_json::to_vec(&accepted).unwrap())])
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while views.task(task_id).await.unwrap().is_none() {
        assert!(!projector.is_finished(), "the projector stopped");
        assert!(tokio::time::Instant::now() < deadline, "the good task never reached the views");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let spec = ConsumerSpec { group: None, topics: vec![topics::QUARANTINE.into()], start: StartFrom::Earliest };
    let consumer = log.consumer(spec).await.unwrap();
    let mut kept = Vec::new();
    let poisoned = 3 * read.len();
    while kept.len() < poisoned {
        assert!(tokio::time::Instant::now() < deadline, "{} of {poisoned} records quarantined", kept.len());
        kept.extend(consumer.poll(100, Duration::from_millis(100)).await.unwrap());
    }
    for (topic, _) in read {
        let from: Vec<_> = kept.iter().filter(|r| r.header(TOPIC_HEADER) == Some(topic.as_bytes())).collect();
        assert_eq!(from.len(), 3, "{topic}: garbage, wrong schema and the record at the limit");
        assert!(from.iter().all(|r| r.header(REASON_HEADER) == Some(&b"undecodable"[..])));
        assert!(from.iter().all(|r| r.header(ROLE_HEADER) == Some(&b"projector"[..])));
        assert!(from.iter().all(|r| r.value.len() <= LIMIT / 2), "{topic}: copies are truncated");
    }
    let text = registry.render();
    let line = format!(
        r#"{SET_ASIDE_METRIC}{{role="projector",topic="{}",reason="{}"}} 3"#,
        topics::ATTEMPTS,
        Reason::Undecodable.as_str()
    );
    assert!(text.contains(&line), "{line} not in:\n{text}");
    shutdown.cancel();
    projector.await.unwrap().unwrap();
}
