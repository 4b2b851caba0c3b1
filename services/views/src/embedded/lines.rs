//! The lines of ordering per key in redb: each keyed task's entry, and each task's
//! first place (see [`crate::ViewStore::line_place`]).
//!
//! | table         | key                                                                   | value                                  |
//! |---------------|-----------------------------------------------------------------------|----------------------------------------|
//! | `lines`       | subscription id ++ key length (u8) ++ key ++ partition (u32 BE) ++ offset (u64 BE) | expiry ++ task id          |
//! | `line_places` | task id                                                               | expiry ++ the task's `lines` key, of its first place |
//!
//! A line is one prefix of `lines` (a key is at most 255 bytes, so its length fits a
//! byte and no line's prefix starts another's), walked backwards from a task's place
//! to find the task just before it. A copy of a task appended again later has an entry
//! of its own at its later place, skipped by that walk because the task's first place
//! (in `line_places`) is elsewhere. Both rows expire with the task's acceptance plus
//! the retention, through the shared expiry index.

use std::time::Duration;

use hookline_domain::{LinePlace, TaskId, TaskStatus};
use redb::{Database, ReadableDatabase, ReadableTable, Table, TableDefinition, WriteTransaction};

use super::error::EmbeddedError;
use super::read::live_task;
use super::schema::{expiry_key, expiry_ms, split_row, Bytes, RowKind, EXPIRY, ID_LEN, TASKS};
use crate::LineEntry;

pub(super) const LINES: TableDefinition<Bytes, Bytes> = TableDefinition::new("lines");
pub(super) const LINE_PLACES: TableDefinition<Bytes, Bytes> = TableDefinition::new("line_places");

const PLACE_LEN: usize = 4 + 8;

/// The prefix of a line: its subscription, then its key with its length first.
fn line_prefix(entry: &LineEntry) -> Vec<u8> {
    let key = entry.ordering_key.as_bytes();
    let mut prefix = Vec::with_capacity(ID_LEN + 1 + key.len() + PLACE_LEN);
    prefix.extend_from_slice(entry.subscription_id.as_bytes());
    // Ordering keys are at most 255 bytes (MAX_ORDERING_KEY_LEN).
    prefix.push(u8::try_from(key.len()).unwrap_or(u8::MAX));
    prefix.extend_from_slice(&key[..key.len().min(255)]);
    prefix
}

/// An entry's key in `lines`: its line, then its place.
fn entry_key(entry: &LineEntry) -> Vec<u8> {
    let (partition, offset) = entry.place();
    let mut key = line_prefix(entry);
    key.extend_from_slice(&partition.to_be_bytes());
    key.extend_from_slice(&offset.to_be_bytes());
    key
}

/// A row: its expiry, then what it holds.
fn row(expires_ms: u64, value: &[u8]) -> Vec<u8> {
    let mut row = expires_ms.to_be_bytes().to_vec();
    row.extend_from_slice(value);
    row
}

/// Folds entries in: each is written at its place, and its task's first place is
/// the lowest of its places. Entries already past the retention are not written.
pub(super) fn join(
    txn: &WriteTransaction,
    entries: Vec<LineEntry>,
    ttl: Duration,
    now_ms: u64,
) -> Result<(), EmbeddedError> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut lines = txn.open_table(LINES)?;
    let mut places = txn.open_table(LINE_PLACES)?;
    let mut expiry = txn.open_table(EXPIRY)?;
    for entry in entries {
        let expires = expiry_ms(entry.accepted_at, ttl);
        if expires <= now_ms {
            continue;
        }
        let key = entry_key(&entry);
        if lines.get(&key[..])?.is_none() {
            lines.insert(&key[..], &row(expires, entry.task_id.as_bytes())[..])?;
            expiry.insert(&expiry_key(expires, RowKind::LineEntry, &key)[..], ())?;
        }
        let task_key = entry.task_id.as_bytes();
        let held_is_first = match places.get(&task_key[..])? {
            Some(held) => place_of(split_row(held.value())?.1)? <= entry.place(),
            None => false,
        };
        if !held_is_first {
            insert_place(&mut places, &mut expiry, entry.task_id, expires, &key)?;
        }
    }
    Ok(())
}

fn insert_place(
    places: &mut Table<Bytes, Bytes>,
    expiry: &mut Table<Bytes, ()>,
    task: TaskId,
    expires: u64,
    key: &[u8],
) -> Result<(), EmbeddedError> {
    places.insert(&task.as_bytes()[..], &row(expires, key)[..])?;
    expiry.insert(&expiry_key(expires, RowKind::LinePlace, task.as_bytes())[..], ())?;
    Ok(())
}

/// The place a `lines` key ends with.
fn place_of(key: &[u8]) -> Result<(u32, u64), EmbeddedError> {
    let corrupt = || EmbeddedError::Corrupt(format!("line key of {} bytes", key.len()));
    let tail = key.len().checked_sub(PLACE_LEN).map(|start| &key[start..]).ok_or_else(corrupt)?;
    let (partition, offset) = tail.split_first_chunk::<4>().ok_or_else(corrupt)?;
    let offset: [u8; 8] = offset.try_into().map_err(|_| corrupt())?;
    Ok((u32::from_be_bytes(*partition), u64::from_be_bytes(offset)))
}

/// Where `task` stands in its line, at `now_ms`.
pub(super) fn line_place(db: &Database, task: TaskId, now_ms: u64) -> Result<LinePlace, EmbeddedError> {
    let txn = db.begin_read()?;
    let tasks = txn.open_table(TASKS)?;
    let ended = |id: TaskId| -> Result<bool, EmbeddedError> {
        let status = live_task(&tasks, id, now_ms)?.map(|view| view.status());
        Ok(matches!(status, Some(TaskStatus::Succeeded | TaskStatus::Failed)))
    };
    if ended(task)? {
        return Ok(LinePlace::Ended);
    }
    let places = txn.open_table(LINE_PLACES)?;
    let Some(own_key) = live_place(&places, task, now_ms)? else {
        return Ok(LinePlace::Unknown);
    };
    let line = &own_key[..own_key.len() - PLACE_LEN];
    let lines = txn.open_table(LINES)?;
    for entry in lines.range::<&[u8]>(line..&own_key[..])?.rev() {
        let (key, value) = entry?;
        let (expires, held) = split_row(value.value())?;
        if expires <= now_ms {
            continue;
        }
        let ahead = TaskId::from_bytes(held.try_into().map_err(|_| EmbeddedError::Corrupt("line entry".into()))?);
        // A copy appended later than the task's first place is not a place of its own.
        if live_place(&places, ahead, now_ms)?.is_some_and(|first| first != key.value()) {
            continue;
        }
        return Ok(LinePlace::Behind { ahead, ended: ended(ahead)? });
    }
    Ok(LinePlace::First)
}

/// The `lines` key of a task's first place, unless unknown or expired.
fn live_place(
    places: &impl ReadableTable<Bytes, Bytes>,
    task: TaskId,
    now_ms: u64,
) -> Result<Option<Vec<u8>>, EmbeddedError> {
    let Some(row) = places.get(&task.as_bytes()[..])? else {
        return Ok(None);
    };
    let (expires, key) = split_row(row.value())?;
    Ok((expires > now_ms).then(|| key.to_vec()))
}

/// Deletes the row at `key` of a line table if its expiry is still `expires`: a row
/// rewritten with a later expiry keeps its row but not the index entry of its earlier
/// one. Returns whether a row was deleted.
pub(super) fn purge(table: &mut Table<Bytes, Bytes>, key: &[u8], expires: u64) -> Result<bool, EmbeddedError> {
    let due = match table.get(key)? {
        Some(row) => split_row(row.value())?.0 == expires,
        None => false,
    };
    if due {
        table.remove(key)?;
    }
    Ok(due)
}
