//! Reading the task listings and the payload positions kept for retries by hand.
//!
//! A listing walks the buckets `task_listing_buckets` names, newest first, and
//! each bucket's index entries page by page; every entry is checked against its
//! task's row, which gives the current status and tells an entry of a task that
//! expired or was accepted at another time (skipped) from a live one.

use std::ops::ControlFlow;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt, TryStreamExt};
use hookline_domain::{LogPosition, TaskId, TaskView};
use hookline_views::{Page, TaskFilter, TaskPageBuilder, TaskPosition, ViewError};
use scylla::client::session::Session;
use scylla::response::PagingState;
use scylla::serialize::row::SerializeRow;
use scylla::statement::prepared::PreparedStatement;
use uuid::Uuid;

use crate::error;
use crate::read::{rows, task};
use crate::stamps;
use crate::statements::Statements;

/// The listing of all tasks in `task_listing_buckets` (no subscription has this id).
pub(crate) const ALL_TASKS: Uuid = Uuid::nil();

/// Tasks checked against their rows at once.
const CHECKS_IN_FLIGHT: usize = 32;

/// An index entry: acceptance time and task id (as stored, a blob).
type Entry = (DateTime<Utc>, Vec<u8>);

pub(crate) async fn tasks(
    session: &Session,
    statements: &Statements,
    filter: TaskFilter,
    limit: usize,
    cursor: Option<&str>,
    retention: Duration,
    now: DateTime<Utc>,
) -> Result<Page<TaskView>, ViewError> {
    let after = cursor.map(TaskPosition::from_cursor).transpose()?;
    let mut page = TaskPageBuilder::new(filter, limit);
    if page.is_complete() {
        return Ok(page.finish());
    }
    let bucket_of = |at: DateTime<Utc>| match filter.subscription {
        Some(_) => stamps::day(at),
        None => stamps::hour(at),
    };
    let listing = filter.subscription.map_or(ALL_TASKS, |sub| sub.0);
    // The walk starts after the cursor's position, or after any position there is.
    let (mut before_at, mut before_id) = (DateTime::<Utc>::MAX_UTC, vec![u8::MAX; 16]);
    let mut newest_bucket = i32::MAX;
    if let Some(position) = after {
        before_at = DateTime::from_timestamp_millis(position.accepted_ms).ok_or(ViewError::InvalidCursor)?;
        before_id = position.task_id.as_bytes().to_vec();
        newest_bucket = bucket_of(before_at);
    }
    let buckets: Vec<(i32,)> = rows(session, &statements.listing_buckets, (listing, newest_bucket)).await?;
    for (bucket,) in buckets {
        let mut paging = PagingState::start();
        loop {
            let (entries, next) = match filter.subscription {
                Some(sub) => {
                    let values = (sub.0, bucket, before_at, before_id.clone());
                    entries_page(session, &statements.tasks_of_subscription_day, values, paging).await?
                }
                None => {
                    let values = (bucket, before_at, before_id.clone());
                    entries_page(session, &statements.tasks_of_hour, values, paging).await?
                }
            };
            for chunk in entries.chunks(CHECKS_IN_FLIGHT) {
                for (position, found) in checked(session, statements, chunk, retention, now).await? {
                    if !page.offer(position, found) {
                        return Ok(page.finish());
                    }
                }
            }
            match next {
                ControlFlow::Continue(state) => paging = state,
                ControlFlow::Break(()) => break,
            }
        }
        // Older buckets are read whole.
        (before_at, before_id) = (DateTime::<Utc>::MAX_UTC, vec![u8::MAX; 16]);
    }
    Ok(page.finish())
}

/// One page of a bucket's index entries.
async fn entries_page(
    session: &Session,
    statement: &PreparedStatement,
    values: impl SerializeRow,
    paging: PagingState,
) -> Result<(Vec<Entry>, ControlFlow<(), PagingState>), ViewError> {
    let what = statement.get_statement();
    let (result, paging) =
        session.execute_single_page(statement, values, paging).await.map_err(|e| error::execution(what, e))?;
    let result = result.into_rows_result().map_err(|e| error::decode(what, e))?;
    let entries = result
        .rows::<Entry>()
        .map_err(|e| error::decode(what, e))?
        .map(|row| row.map_err(|e| error::decode(what, e)))
        .collect::<Result<Vec<_>, ViewError>>()?;
    Ok((entries, paging.into_paging_control_flow()))
}

/// Each entry's position and its task, `None` unless the task is live and still
/// at that position.
async fn checked(
    session: &Session,
    statements: &Statements,
    entries: &[Entry],
    retention: Duration,
    now: DateTime<Utc>,
) -> Result<Vec<(TaskPosition, Option<TaskView>)>, ViewError> {
    stream::iter(entries.iter().cloned())
        .map(|(at, id)| async move {
            let id: [u8; 16] = id
                .try_into()
                .map_err(|id: Vec<u8>| ViewError::Corrupt(format!("task listing: task id of {} bytes", id.len())))?;
            let position = TaskPosition { accepted_ms: at.timestamp_millis(), task_id: TaskId::from_bytes(id) };
            let found = task(session, statements, position.task_id, retention, now).await?;
            Ok::<_, ViewError>((position, found.filter(|view| TaskPosition::of(view) == position)))
        })
        .buffered(CHECKS_IN_FLIGHT)
        .try_collect()
        .await
}

/// Where the payload is, unless its retention (from its write timestamp) has passed.
pub(crate) async fn payload_position(
    session: &Session,
    statements: &Statements,
    id: TaskId,
    retention: Duration,
    now: DateTime<Utc>,
) -> Result<Option<LogPosition>, ViewError> {
    type Row = (Option<String>, Option<i32>, Option<i64>, Option<i64>);
    let found: Vec<Row> = rows(session, &statements.payload_position, (id.0,)).await?;
    let Some((Some(topic), Some(partition), Some(offset), Some(stamp))) = found.into_iter().next() else {
        return Ok(None);
    };
    if stamps::expiry(stamps::lived_from(stamp), retention) <= now {
        return Ok(None);
    }
    let corrupt = || ViewError::Corrupt(format!("task_payload_positions: {topic}/{partition}@{offset}"));
    Ok(Some(LogPosition {
        partition: u32::try_from(partition).map_err(|_| corrupt())?,
        offset: u64::try_from(offset).map_err(|_| corrupt())?,
        topic,
    }))
}
