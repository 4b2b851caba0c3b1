//! The lines of ordering per key (`line_entries`, `line_places`): written blind like
//! every other table, with one rule of their own: the entries of one line are written
//! in log order, one single-partition batch after the other, so that a reader that
//! sees an entry sees every entry before it (see `ViewStore::line_place`).

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt, TryStreamExt};
use hookline_domain::{LinePlace, SubscriptionId, TaskId, TaskStatus};
use hookline_views::{LineEntry, ViewError};
use scylla::client::session::Session;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::Consistency;
use uuid::Uuid;

use crate::read::{rows, task};
use crate::rows::cql_position;
use crate::stamps;
use crate::statements::Statements;

/// Entries of one line per batch: a few kilobytes, well under the batch size limit.
const ENTRIES_PER_BATCH: usize = 64;
/// Lines written at once.
const LINES_IN_FLIGHT: usize = 32;
/// Rows of a line read per step of the walk back from a task's place.
const WALK_STEP: i32 = 16;

pub(crate) const PUT_LINE_ENTRY: &str = "INSERT INTO line_entries \
     (subscription_id, ordering_key, log_partition, log_offset, task_id) VALUES (?, ?, ?, ?, ?) \
     USING TTL ? AND TIMESTAMP ?";
pub(crate) const PUT_LINE_PLACE: &str = "UPDATE line_places USING TTL ? AND TIMESTAMP ? \
     SET subscription_id = ?, ordering_key = ?, log_partition = ?, log_offset = ? WHERE task_id = ?";
pub(crate) const LINE_PLACE: &str =
    "SELECT subscription_id, ordering_key, log_partition, log_offset FROM line_places WHERE task_id = ?";
/// A line's entries at or before a place, the latest first.
pub(crate) const LINE_UP_TO: &str = "SELECT log_partition, log_offset, task_id FROM line_entries \
     WHERE subscription_id = ? AND ordering_key = ? AND (log_partition, log_offset) <= (?, ?) LIMIT ?";
/// A line's entries strictly before a place, the latest first.
pub(crate) const LINE_BEFORE: &str = "SELECT log_partition, log_offset, task_id FROM line_entries \
     WHERE subscription_id = ? AND ordering_key = ? AND (log_partition, log_offset) < (?, ?) LIMIT ?";

type Line = (SubscriptionId, String);
type Place = (i32, i64);

/// Writes `entries`: each task's first place, and each entry in its line, line by
/// line in log order. Entries already past the retention at `now` are not written.
pub(crate) async fn join(
    session: &Session,
    statements: &Statements,
    consistency: Consistency,
    retention: Duration,
    now: DateTime<Utc>,
    entries: Vec<LineEntry>,
) -> Result<(), ViewError> {
    let mut lines: HashMap<Line, Vec<(LineEntry, i32)>> = HashMap::new();
    for entry in entries {
        if let Some(ttl) = stamps::ttl_secs(stamps::expiry(entry.accepted_at, retention), now) {
            lines.entry((entry.subscription_id, entry.ordering_key.clone())).or_default().push((entry, ttl));
        }
    }
    let writes: Vec<_> = lines
        .into_values()
        .map(|mut line| {
            line.sort_by_key(|(entry, _)| entry.place());
            line.dedup_by_key(|(entry, _)| (entry.place(), entry.task_id));
            write_line(session, statements, consistency, line)
        })
        .collect();
    stream::iter(writes).buffer_unordered(LINES_IN_FLIGHT).try_for_each(|()| async { Ok(()) }).await
}

/// Writes one line's entries, in log order, a batch at a time; each batch's places first.
async fn write_line(
    session: &Session,
    statements: &Statements,
    consistency: Consistency,
    line: Vec<(LineEntry, i32)>,
) -> Result<(), ViewError> {
    for chunk in line.chunks(ENTRIES_PER_BATCH) {
        // Built before they enter the stream, as in `write::apply`: the compiler's Send check.
        let places: Vec<_> =
            chunk.iter().map(|(entry, ttl)| put_place(session, &statements.put_line_place, entry, *ttl)).collect();
        stream::iter(places).buffer_unordered(ENTRIES_PER_BATCH).try_for_each(|()| async { Ok(()) }).await?;
        let mut batch = Batch::new(BatchType::Unlogged);
        batch.set_consistency(consistency);
        batch.set_is_idempotent(true);
        let mut values = Vec::with_capacity(chunk.len());
        for (entry, ttl) in chunk {
            batch.append_statement(statements.put_line_entry.clone());
            let (_, partition, offset) = cql_position(&entry.position);
            values.push((
                entry.subscription_id.0,
                entry.ordering_key.clone(),
                partition,
                offset,
                entry.task_id.0,
                *ttl,
                stamps::lives_from(entry.accepted_at),
            ));
        }
        session.batch(&batch, values).await.map_err(|e| crate::error::execution(PUT_LINE_ENTRY, e))?;
    }
    Ok(())
}

async fn put_place(
    session: &Session,
    statement: &PreparedStatement,
    entry: &LineEntry,
    ttl: i32,
) -> Result<(), ViewError> {
    let (_, partition, offset) = cql_position(&entry.position);
    let stamp = stamps::event_record(entry.position.partition, entry.position.offset);
    let values = (ttl, stamp, entry.subscription_id.0, entry.ordering_key.clone(), partition, offset, entry.task_id.0);
    session.execute_unpaged(statement, values).await.map_err(|e| crate::error::execution(PUT_LINE_PLACE, e))?;
    Ok(())
}

/// A task's line and first place, unless unknown or expired.
async fn first_place(
    session: &Session,
    statements: &Statements,
    id: TaskId,
) -> Result<Option<(Line, Place)>, ViewError> {
    type Row = (Option<Uuid>, Option<String>, Option<i32>, Option<i64>);
    let found: Vec<Row> = rows(session, &statements.line_place, (id.0,)).await?;
    Ok(match found.into_iter().next() {
        Some((Some(sub), Some(key), Some(partition), Some(offset))) => {
            Some(((SubscriptionId(sub), key), (partition, offset)))
        }
        _ => None,
    })
}

/// Where `id` stands in its line (see `ViewStore::line_place`).
pub(crate) async fn line_place(
    session: &Session,
    statements: &Statements,
    id: TaskId,
    retention: Duration,
    now: DateTime<Utc>,
) -> Result<LinePlace, ViewError> {
    let ended = |id: TaskId| async move {
        let view = task(session, statements, id, retention, now).await?;
        Ok::<_, ViewError>(matches!(view.map(|v| v.status()), Some(TaskStatus::Succeeded | TaskStatus::Failed)))
    };
    if ended(id).await? {
        return Ok(LinePlace::Ended);
    }
    let Some(((sub, key), own)) = first_place(session, statements, id).await? else {
        return Ok(LinePlace::Unknown);
    };
    // The walk starts at the task's own entry: until it is visible, neither are those before it.
    type Row = (i32, i64, Uuid);
    let mut step: Vec<Row> = rows(session, &statements.line_up_to, (sub.0, &key, own.0, own.1, WALK_STEP)).await?;
    if step.first().is_none_or(|&(partition, offset, task)| (partition, offset) != own || task != id.0) {
        return Ok(LinePlace::Unknown);
    }
    let mut full = step.len() == WALK_STEP as usize;
    step.remove(0);
    loop {
        let mut last = None;
        for (partition, offset, task) in step {
            let ahead = TaskId(task);
            last = Some((partition, offset));
            // A copy appended later than the task's first place is not a place of its own.
            let first = first_place(session, statements, ahead).await?;
            if first.is_some_and(|(_, first)| first != (partition, offset)) {
                continue;
            }
            return Ok(LinePlace::Behind { ahead, ended: ended(ahead).await? });
        }
        let Some(before) = last.filter(|_| full) else {
            return Ok(LinePlace::First);
        };
        step = rows(session, &statements.line_before, (sub.0, &key, before.0, before.1, WALK_STEP)).await?;
        full = step.len() == WALK_STEP as usize;
    }
}
