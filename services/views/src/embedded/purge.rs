//! Deleting rows whose retention has passed, by walking the expiry index from its start.

use redb::{Database, ReadableTable};

use super::codec::{decode_attempt, decode_event, decode_task};
use hookline_domain::ReplayId;

use super::error::EmbeddedError;
use super::replays::ReplayTables;
use super::schema::{
    by_sub_key, event_listing_key, listing_key, split_expiry_key, split_row, task_by_sub_key, Bytes, RowKind, ATTEMPTS,
    ATTEMPTS_BY_SUB, EVENTS, EVENTS_BY_TENANT, EXPIRY, ID_LEN, TASKS, TASKS_BY_SUB, TASKS_BY_TIME,
};
use crate::TaskPosition;

/// Index entries taken per step, so that the walk never holds the whole expired set in memory.
const CHUNK: usize = 1024;
/// Index entries one transaction takes at most. A minute of expired rows at 10,000
/// webhooks/s is over a million entries: in one transaction it overflowed the page
/// cache and held the write lock for seconds while the projector waited.
const ENTRIES_PER_TRANSACTION: usize = 4 * CHUNK;

/// What one purge transaction did.
pub(super) struct Purged {
    /// Task, attempt, event and replay rows deleted.
    pub rows: u64,
    /// The transaction stopped at its limit: more rows may be due.
    pub more: bool,
}

/// Deletes rows that expired at or before `now_ms`, with their index entries, oldest
/// first, in one durable transaction of at most [`ENTRIES_PER_TRANSACTION`] entries.
pub(super) fn purge_expired(db: &Database, now_ms: u64) -> Result<Purged, EmbeddedError> {
    let txn = db.begin_write()?;
    let mut deleted = 0;
    let mut taken = 0;
    {
        let mut expiry = txn.open_table(EXPIRY)?;
        let mut tasks = txn.open_table(TASKS)?;
        let mut attempts = txn.open_table(ATTEMPTS)?;
        let mut attempts_by_sub = txn.open_table(ATTEMPTS_BY_SUB)?;
        let mut tasks_by_time = txn.open_table(TASKS_BY_TIME)?;
        let mut tasks_by_sub = txn.open_table(TASKS_BY_SUB)?;
        let mut events = txn.open_table(EVENTS)?;
        let mut events_by_tenant = txn.open_table(EVENTS_BY_TENANT)?;
        let mut replays = ReplayTables::open(&txn)?;
        // Every key of a row expired at or before now_ms sorts before this one.
        let end = now_ms.saturating_add(1).to_be_bytes();
        while taken < ENTRIES_PER_TRANSACTION {
            let mut due = Vec::with_capacity(CHUNK);
            for entry in expiry.range::<&[u8]>(..&end[..])?.take(CHUNK) {
                due.push(entry?.0.value().to_vec());
            }
            if due.is_empty() {
                break;
            }
            taken += due.len();
            for index_key in &due {
                expiry.remove(&index_key[..])?;
                let (expires, kind, row_key) = split_expiry_key(index_key)?;
                match kind {
                    RowKind::Task => {
                        let due_task = still_due(&tasks, row_key, expires, decode_task)?.map(|task| task.view);
                        if let Some(task) = due_task {
                            let position = TaskPosition::of(&task);
                            tasks_by_time.remove(&listing_key(position)[..])?;
                            tasks_by_sub.remove(&task_by_sub_key(task.subscription_id, position)[..])?;
                            tasks.remove(row_key)?;
                            deleted += 1;
                        }
                    }
                    RowKind::Event => {
                        let due_event = still_due(&events, row_key, expires, decode_event)?;
                        if let Some(event) = due_event {
                            events_by_tenant.remove(&event_listing_key(&event)[..])?;
                            events.remove(row_key)?;
                            deleted += 1;
                        }
                    }
                    RowKind::Replay => {
                        let id: [u8; ID_LEN] =
                            row_key.try_into().map_err(|_| EmbeddedError::Corrupt("replay expiry entry".into()))?;
                        let id = ReplayId::from_bytes(id);
                        // Only the row of this expiry: one rewritten later has its own entry.
                        if let Some((_, replay)) = replays.get(id)?.filter(|(row_expires, _)| *row_expires == expires) {
                            // Its task outcomes go with it, and count towards this transaction's share.
                            taken += replays.forget(id, Some(&replay))? as usize;
                            deleted += 1;
                        }
                    }
                    // Its table was dropped on open; the entry above was all that was left.
                    RowKind::PayloadCopy => {}
                    RowKind::Attempt => {
                        let due_attempt = still_due(&attempts, row_key, expires, decode_attempt)?;
                        if let Some(attempt) = due_attempt {
                            attempts_by_sub.remove(&by_sub_key(&attempt)[..])?;
                            attempts.remove(row_key)?;
                            deleted += 1;
                        }
                    }
                }
            }
        }
    }
    txn.commit()?;
    Ok(Purged { rows: deleted, more: taken >= ENTRIES_PER_TRANSACTION })
}

/// The row at `key`, decoded, if its expiry is still `expires`: a row rewritten with a
/// later expiry keeps its row but not the index entry of its earlier one.
fn still_due<T>(
    table: &impl ReadableTable<Bytes, Bytes>,
    key: &[u8],
    expires: u64,
    decode: impl FnOnce(&[u8]) -> Result<T, EmbeddedError>,
) -> Result<Option<T>, EmbeddedError> {
    let Some(row) = table.get(key)? else {
        return Ok(None);
    };
    let (row_expires, encoded) = split_row(row.value())?;
    if row_expires == expires {
        Ok(Some(decode(encoded)?))
    } else {
        Ok(None)
    }
}
