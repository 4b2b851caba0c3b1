//! Replays reach the views: the running projector folds the records of
//! `hookline.replays` and the attempts a replay queued into the replay's view, and a
//! rebuild from the log brings it back into emptied views.

mod support;

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use hookline_domain::replay::{ReplayScope, ReplaySelection, ReplayStatus};
use hookline_domain::{
    topics, AttemptRecorded, Outcome, ReplayEvent, ReplayId, ReplayRequested, ReplayState, SubscriptionId, TaskId,
    TenantId,
};
use hookline_log::NewRecord;
use hookline_records::{event_record, replay_record};
use hookline_views::ReplayView;
use support::{log, now_ms, rebuilt, Running};

fn attempt_record(attempt: &AttemptRecorded) -> NewRecord {
    event_record(topics::ATTEMPTS, attempt.subscription_id, AttemptRecorded::KIND, attempt)
}

/// A replay of one subscription that queued two tasks: one delivered, one failed
/// for good; its records and attempts as the replay role and delivery write them.
fn a_replay(tenant: &TenantId, at: DateTime<Utc>) -> (ReplayRequested, Vec<NewRecord>) {
    let (id, sub) = (ReplayId::new(), SubscriptionId::new());
    let request = ReplayRequested {
        replay_id: id,
        tenant_id: tenant.clone(),
        selection: ReplaySelection {
            scope: ReplayScope::Subscription(sub),
            since: at - TimeDelta::hours(6),
            until: at,
            statuses: vec![ReplayStatus::Failed],
            event_types: None,
        },
        subscriptions: vec![sub],
        target_url: None,
        rate_per_second: 10,
        matched: 2,
        requested_at: at,
    };
    let attempt = |outcome| AttemptRecorded {
        task_id: TaskId::new(),
        subscription_id: sub,
        attempt_number: 6,
        outcome,
        http_status: Some(if outcome == Outcome::Success { 200 } else { 410 }),
        error: None,
        latency_ms: 4,
        response_body: None,
        attempted_at: at + TimeDelta::seconds(1),
        next_attempt_at: None,
        task_accepted_at: at - TimeDelta::hours(1),
        event_type: Some("order.created".into()),
        replay_id: Some(id),
    };
    let records = vec![
        replay_record(&ReplayEvent::ReplayRequested(request.clone())),
        replay_record(&ReplayEvent::ReplayProgressed { replay_id: id, queued: 2, next: None, at: at + secs(1) }),
        attempt_record(&attempt(Outcome::Success)),
        attempt_record(&attempt(Outcome::PermanentlyFailed)),
        replay_record(&ReplayEvent::ReplayEnded {
            replay_id: id,
            state: ReplayState::Completed,
            queued: 2,
            delivered: 1,
            failed: 1,
            reason: None,
            at: at + secs(2),
        }),
    ];
    (request, records)
}

fn secs(n: i64) -> TimeDelta {
    TimeDelta::seconds(n)
}

fn expected(request: &ReplayRequested) -> ReplayView {
    ReplayView {
        request: request.clone(),
        state: ReplayState::Completed,
        cancelled_at: None,
        queued: 2,
        all_queued: true,
        next: None,
        delivered: 1,
        failed: 1,
        finished_at: Some(request.requested_at + secs(2)),
        reason: None,
    }
}

#[tokio::test]
async fn the_projector_folds_replays_into_the_views() {
    let dir = tempfile::tempdir().unwrap();
    let log = log(dir.path()).await;
    let running = Running::start(&log, &dir.path().join("views.redb"));
    let (views, projector) = (&running.views, &running.projector);

    let tenant = TenantId::generate();
    let (request, records) = a_replay(&tenant, now_ms());
    log.append(records).await.unwrap();
    let want = expected(&request);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while views.replay(request.replay_id).await.unwrap().as_ref() != Some(&want) {
        assert!(!projector.is_finished(), "the projector stopped");
        assert!(
            tokio::time::Instant::now() < deadline,
            "the replay never reached the views as {want:?}: {:?}",
            views.replay(request.replay_id).await.unwrap()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let listed = views.replays(Some(&tenant), 10, None).await.unwrap().items;
    assert_eq!(listed, vec![want], "the tenant's replays");
    running.stop().await;
}

#[tokio::test]
async fn a_rebuild_brings_replays_back() {
    let dir = tempfile::tempdir().unwrap();
    let log = log(dir.path()).await;
    let (request, records) = a_replay(&TenantId::generate(), now_ms());
    let count = records.len() as u64;
    log.append(records).await.unwrap();

    let (views, projected) = rebuilt(&log, &dir.path().join("rebuilt.redb")).await;
    assert_eq!(projected, count, "the replay's records and its attempts");
    assert_eq!(views.replay(request.replay_id).await.unwrap(), Some(expected(&request)));
}
