//! The projector on the embedded log and views: every record reaches the views, and
//! the offsets of what the views hold are committed once the log is quiet and by the
//! time it stops, without waiting for the periodic commit.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use hookline_domain::events::TaskAccepted;
use hookline_domain::{topics, SubscriptionId, TaskId};
use hookline_log::embedded::{EmbeddedLog, EmbeddedOptions};
use hookline_log::{ConsumerSpec, EventLog, NewRecord, StartFrom, TopicSpec};
use hookline_metrics::{ConsumerBook, ObservedLog, Registry};
use hookline_projector::{ProjectorConfig, ProjectorDeps};
use hookline_views::embedded::EmbeddedViews;
use hookline_views::{Retention, ViewStore};
use serde_json::value::RawValue;
use tokio_util::sync::CancellationToken;

fn task_accepted(subscription_id: SubscriptionId) -> (TaskId, NewRecord) {
    let task_id = TaskId::new();
    let accepted = TaskAccepted {
        task_id,
        subscription_id,
        event_type: None,
        accepted_at: Utc::now(),
        payload: RawValue::from_string(r#"{"n":1}"#.into()).unwrap(),
        event_id: None,
        ordering_key: None,
        trace: None,
    };
    let record = NewRecord {
        topic: topics::DELIVERIES.into(),
        key: subscription_id.to_string().into_bytes(),
        headers: vec![(topics::EVENT_HEADER.into(), TaskAccepted::KIND.as_bytes().to_vec())],
        value: serde_json::to_vec(&accepted).unwrap(),
    };
    (task_id, record)
}

async fn wait_for_task(views: &dyn ViewStore, task_id: TaskId) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while views.task(task_id).await.unwrap().is_none() {
        assert!(tokio::time::Instant::now() < deadline, "task {task_id} never reached the views");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An embedded log (observed, so positions can be read) and views in `dir`, with the
/// projector's topics.
async fn stores(dir: &std::path::Path, book: Arc<ConsumerBook>) -> (Arc<dyn EventLog>, Arc<dyn ViewStore>) {
    let raw: Arc<dyn EventLog> = EmbeddedLog::open(&dir.join("log"), EmbeddedOptions::default()).unwrap();
    let log = ObservedLog::wrap(raw, book);
    let views: Arc<dyn ViewStore> =
        EmbeddedViews::open(&dir.join("views.redb"), Retention { ttl: Duration::from_secs(3600) }).unwrap();
    let specs: Vec<TopicSpec> = hookline_projector::topics()
        .into_iter()
        .map(|name| TopicSpec { name, partitions: 2, retention: None })
        .collect();
    log.ensure_topics(&specs).await.unwrap();
    (log, views)
}

/// A periodic commit that never comes during a test.
fn config() -> ProjectorConfig {
    ProjectorConfig { commit_every: Duration::from_secs(3600), ..ProjectorConfig::default() }
}

#[tokio::test]
async fn a_quiet_log_gets_its_offsets_committed_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let book = ConsumerBook::new();
    let (log, views) = stores(dir.path(), book.clone()).await;
    let shutdown = CancellationToken::new();
    let deps = ProjectorDeps { log: log.clone(), views: views.clone(), metrics: Registry::new() };
    let projector = tokio::spawn(hookline_projector::run(config(), deps, shutdown.clone()));

    let records: Vec<(TaskId, NewRecord)> = (0..30).map(|_| task_accepted(SubscriptionId::new())).collect();
    let last = records.last().unwrap().0;
    log.append(records.into_iter().map(|(_, record)| record).collect()).await.unwrap();
    wait_for_task(views.as_ref(), last).await;

    // The group's position (what it committed) reaches the end of every partition.
    let ends = log.end_offsets(topics::DELIVERIES).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let progress = book.progress();
        let positions = progress.iter().flat_map(|group| group.partitions.iter());
        let committed = ends.iter().all(|&(partition, end)| {
            positions.clone().any(|(tp, position)| {
                tp.topic == topics::DELIVERIES && tp.partition == partition && *position == Some(end)
            })
        });
        if committed {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "not committed: {progress:?}, ends {ends:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.cancel();
    projector.await.unwrap().unwrap();
}

#[tokio::test]
async fn what_the_views_hold_is_committed_by_the_time_it_stops() {
    let dir = tempfile::tempdir().unwrap();
    let (log, views) = stores(dir.path(), ConsumerBook::new()).await;
    let config = config();
    let group = config.group.clone();
    let shutdown = CancellationToken::new();
    let deps = ProjectorDeps { log: log.clone(), views: views.clone(), metrics: Registry::new() };
    let projector = tokio::spawn(hookline_projector::run(config, deps, shutdown.clone()));

    let mut last = None;
    for round in 0..5 {
        let records: Vec<(TaskId, NewRecord)> = (0..50).map(|_| task_accepted(SubscriptionId::new())).collect();
        last = records.last().map(|(task_id, _)| *task_id);
        log.append(records.into_iter().map(|(_, record)| record).collect()).await.unwrap();
        if round % 2 == 0 {
            wait_for_task(views.as_ref(), last.unwrap()).await;
        }
    }
    wait_for_task(views.as_ref(), last.unwrap()).await;
    shutdown.cancel();
    projector.await.unwrap().unwrap();

    // The group resumes past every record: nothing is left to fold in again.
    let consumer = log
        .consumer(ConsumerSpec { group: Some(group), topics: hookline_projector::topics(), start: StartFrom::Earliest })
        .await
        .unwrap();
    let left = consumer.poll(1000, Duration::from_millis(200)).await.unwrap();
    assert!(left.is_empty(), "{} records were not committed", left.len());
}
