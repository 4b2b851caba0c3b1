//! Replays in CQL (tables `replays`, `replay_tasks`, `replays_by_day`,
//! `replay_listing_buckets`): folding their records, counting their tasks'
//! outcomes, reading and listing them.
//!
//! A replay lives the retention from its latest activity, which no single record
//! knows: a batch's records of a replay are written blind (each cell stamped so that
//! the records fold in any order, see `stamps.rs`), then the replay is read back and
//! every cell written again with the same stamps and a TTL from its latest activity.
//! Writing before reading back means that of two projectors folding records of one
//! replay at once (a rebalance), at least one reads what the other wrote.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt, TryStreamExt};
use hookline_domain::{AttemptRecorded, ReplayEvent, ReplayId, TenantId};
use hookline_views::{
    Page, ReplayEnd, ReplayFilter, ReplayOutcomes, ReplayPosition, ReplayProgress, ReplayRecords, ReplayTaskOutcome,
    ReplayView, ViewError,
};
use scylla::client::session::Session;
use scylla::response::PagingState;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::Consistency;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error;
use crate::listing::{self, Before, BucketedListing, Entry};
use crate::read::rows;
use crate::stamps;
use crate::statements::Statements;

/// The listing of every tenant's replays in `replays_by_day` (no tenant id has a `*`).
const ALL_TENANTS: &str = "*";
/// Replays whose records one batch folds at once.
const REPLAYS_IN_FLIGHT: usize = 8;

/// The write of a replay task's best outcome, with the attempt's TTL:
/// (ttl, stamp, best, replay id, task id).
pub(crate) type ReplayTaskWrite = (i32, i64, i32, uuid::Uuid, uuid::Uuid);

/// What an attempt of a replay writes to `replay_tasks`, if it counts.
pub(crate) fn task_outcome(attempt: &AttemptRecorded, ttl: i32) -> Option<(ReplayId, ReplayTaskWrite)> {
    let replay = attempt.replay_id?;
    let outcome = ReplayTaskOutcome::of(attempt.outcome)?;
    let best = i32::from(outcome.tag());
    Some((replay, (ttl, i64::from(best), best, replay.0, attempt.task_id.0)))
}

/// Folds each replay's records of a batch (see the module's doc).
pub(crate) async fn fold(
    session: &Session,
    statements: &Statements,
    consistency: Consistency,
    retention: Duration,
    now: DateTime<Utc>,
    records: HashMap<ReplayId, Vec<ReplayEvent>>,
) -> Result<(), ViewError> {
    let folds: Vec<_> = records
        .into_iter()
        .map(|(id, events)| fold_one(session, statements, consistency, retention, now, id, events))
        .collect();
    stream::iter(folds).buffer_unordered(REPLAYS_IN_FLIGHT).try_for_each(|()| async { Ok(()) }).await
}

async fn fold_one(
    session: &Session,
    statements: &Statements,
    consistency: Consistency,
    retention: Duration,
    now: DateTime<Utc>,
    id: ReplayId,
    events: Vec<ReplayEvent>,
) -> Result<(), ViewError> {
    let mut batch_records = ReplayRecords::default();
    for event in events.iter().cloned() {
        batch_records.fold(event);
    }
    let Some(activity) = batch_records.last_activity() else {
        return Ok(());
    };
    let Some(ttl) = stamps::ttl_secs(stamps::expiry(activity, retention), now) else {
        return Ok(());
    };
    write_cells(session, statements, consistency, id, &batch_records, activity, ttl).await?;
    let Some(mut stored) = read_records(session, statements, id).await? else {
        return Ok(());
    };
    for event in events {
        stored.records.fold(event);
    }
    let latest = stored.last_activity();
    let Some(ttl) = latest.and_then(|latest| stamps::ttl_secs(stamps::expiry(latest, retention), now)) else {
        return Ok(());
    };
    let latest = latest.unwrap_or(activity);
    write_cells(session, statements, consistency, id, &stored.records, latest, ttl).await?;
    if let Some(request) = &stored.records.request {
        let expires = stamps::expiry(latest, retention);
        let day = stamps::day(request.requested_at);
        let entry_stamp = stamps::lives_from(latest);
        for listing in [ALL_TENANTS, request.tenant_id.as_str()] {
            let entry = (listing, day, request.requested_at, id.as_bytes().to_vec(), ttl, entry_stamp);
            execute(session, &statements.list_replay, entry).await?;
            let bucket = (listing, day, ttl, stamps::lives_until(expires));
            execute(session, &statements.note_replay_bucket, bucket).await?;
        }
    }
    Ok(())
}

async fn execute(
    session: &Session,
    statement: &PreparedStatement,
    values: impl scylla::serialize::row::SerializeRow,
) -> Result<(), ViewError> {
    session.execute_unpaged(statement, values).await.map_err(|e| error::execution(statement.get_statement(), e))?;
    Ok(())
}

fn json<T: Serialize>(value: &T) -> Result<String, ViewError> {
    serde_json::to_string(value).map_err(|e| ViewError::Storage(format!("encode a replay cell: {e}")))
}

/// Writes what `records` know of a replay, each cell with its stamp, and its latest
/// activity, all with `ttl`: one unlogged batch, within the replay's partition.
async fn write_cells(
    session: &Session,
    statements: &Statements,
    consistency: Consistency,
    id: ReplayId,
    records: &ReplayRecords,
    activity: DateTime<Utc>,
    ttl: i32,
) -> Result<(), ViewError> {
    let mut batch = Batch::new(BatchType::Unlogged);
    batch.set_consistency(consistency);
    batch.set_is_idempotent(true);
    let mut values: Vec<Box<dyn scylla::serialize::row::SerializeRow + Send + Sync>> = Vec::new();
    let mut push = |statement: &PreparedStatement, row: Box<dyn scylla::serialize::row::SerializeRow + Send + Sync>| {
        batch.append_statement(statement.clone());
        values.push(row);
    };
    if let Some(request) = &records.request {
        push(&statements.replay_request, Box::new((ttl, stamps::ONE_VALUE, json(request)?, id.0)));
    }
    if let Some(progress) = &records.progress {
        let stamp = stamps::replay_progress(progress.queued);
        push(&statements.replay_progress, Box::new((ttl, stamp, json(progress)?, id.0)));
    }
    if records.all_queued {
        push(&statements.replay_all_queued, Box::new((ttl, stamps::ONE_VALUE, id.0)));
    }
    if let Some(at) = records.cancelled_at {
        push(&statements.replay_cancelled, Box::new((ttl, stamps::replay_cancelled(at), at, id.0)));
    }
    if let Some(end) = &records.end {
        push(&statements.replay_ended, Box::new((ttl, stamps::lives_from(end.at), json(end)?, id.0)));
    }
    push(&statements.replay_activity, Box::new((ttl, stamps::lives_from(activity), activity, id.0)));
    session.batch(&batch, values).await.map_err(|e| error::execution("write a replay", e))?;
    Ok(())
}

type ReplayRow =
    (Option<String>, Option<String>, Option<bool>, Option<DateTime<Utc>>, Option<String>, Option<DateTime<Utc>>);

/// A replay's row as read.
struct StoredReplay {
    records: ReplayRecords,
    /// The latest activity any record wrote (progress records that lost to one with
    /// more tasks queued included).
    last_activity: Option<DateTime<Utc>>,
}

impl StoredReplay {
    fn last_activity(&self) -> Option<DateTime<Utc>> {
        self.records.last_activity().max(self.last_activity)
    }
}

fn decode_cell<T: DeserializeOwned>(text: Option<String>, what: &str) -> Result<Option<T>, ViewError> {
    text.map(|text| serde_json::from_str(&text).map_err(|e| ViewError::Corrupt(format!("replays.{what}: {e}"))))
        .transpose()
}

async fn read_records(
    session: &Session,
    statements: &Statements,
    id: ReplayId,
) -> Result<Option<StoredReplay>, ViewError> {
    let found: Vec<ReplayRow> = rows(session, &statements.replay, (id.0,)).await?;
    let Some((request, progress, all_queued, cancelled_at, ended, last_activity)) = found.into_iter().next() else {
        return Ok(None);
    };
    let records = ReplayRecords {
        request: decode_cell(request, "request")?,
        progress: decode_cell::<ReplayProgress>(progress, "progress")?,
        all_queued: all_queued.unwrap_or(false),
        cancelled_at,
        end: decode_cell::<ReplayEnd>(ended, "ended")?,
    };
    Ok(Some(StoredReplay { records, last_activity }))
}

/// A replay, unless unknown, without its request yet, or past the retention.
pub(crate) async fn replay(
    session: &Session,
    statements: &Statements,
    id: ReplayId,
    retention: Duration,
    now: DateTime<Utc>,
) -> Result<Option<ReplayView>, ViewError> {
    let Some(stored) = read_records(session, statements, id).await? else {
        return Ok(None);
    };
    let live = stored.last_activity().is_some_and(|latest| stamps::expiry(latest, retention) > now);
    if !live || stored.records.request.is_none() {
        return Ok(None);
    }
    let outcomes = outcomes(session, &statements.replay_task_outcomes, id).await?;
    Ok(stored.records.view(outcomes))
}

/// Counts a replay's tasks by their best outcome, page by page.
async fn outcomes(session: &Session, statement: &PreparedStatement, id: ReplayId) -> Result<ReplayOutcomes, ViewError> {
    let what = statement.get_statement();
    let mut counted = ReplayOutcomes::default();
    let mut paging = PagingState::start();
    loop {
        let (result, next) =
            session.execute_single_page(statement, (id.0,), paging).await.map_err(|e| error::execution(what, e))?;
        let result = result.into_rows_result().map_err(|e| error::decode(what, e))?;
        for row in result.rows::<(Option<i32>,)>().map_err(|e| error::decode(what, e))? {
            let best = row.map_err(|e| error::decode(what, e))?.0;
            let outcome = best.and_then(|b| u8::try_from(b).ok()).and_then(ReplayTaskOutcome::from_tag);
            if let Some(outcome) = outcome {
                counted.count(None, outcome);
            }
        }
        match next.into_paging_control_flow() {
            ControlFlow::Continue(state) => paging = state,
            ControlFlow::Break(()) => return Ok(counted),
        }
    }
}

/// Every tenant's replays, or one tenant's (days of `replays_by_day`).
struct ReplayListing<'a> {
    session: &'a Session,
    statements: &'a Statements,
    listing: &'a str,
    retention: Duration,
    now: DateTime<Utc>,
}

impl BucketedListing for ReplayListing<'_> {
    type Item = ReplayView;

    fn bucket_of(&self, at: DateTime<Utc>) -> i32 {
        stamps::day(at)
    }

    async fn buckets(&self, newest: i32) -> Result<Vec<i32>, ViewError> {
        let days: Vec<(i32,)> = rows(self.session, &self.statements.replay_buckets, (self.listing, newest)).await?;
        Ok(days.into_iter().map(|(day,)| day).collect())
    }

    async fn entries(
        &self,
        bucket: i32,
        before: &Before,
        paging: PagingState,
    ) -> Result<(Vec<Entry>, ControlFlow<(), PagingState>), ViewError> {
        let values = (self.listing, bucket, before.at, before.id.clone());
        listing::entries_page(self.session, &self.statements.replays_of_day, values, paging).await
    }

    async fn item(&self, id: ReplayId) -> Result<Option<ReplayView>, ViewError> {
        replay(self.session, self.statements, id, self.retention, self.now).await
    }
}

pub(crate) async fn replays(
    session: &Session,
    statements: &Statements,
    tenant: Option<&TenantId>,
    limit: usize,
    cursor: Option<&str>,
    retention: Duration,
    now: DateTime<Utc>,
) -> Result<Page<ReplayView>, ViewError> {
    let after = cursor.map(ReplayPosition::from_cursor).transpose()?;
    let listing = tenant.map_or(ALL_TENANTS, TenantId::as_str);
    let replays = ReplayListing { session, statements, listing, retention, now };
    listing::page(&replays, ReplayFilter { tenant: tenant.cloned() }, limit, after).await
}
