//! Folding a batch of changes into the tables, in one write transaction.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hookline_domain::{
    versions, AttemptRecorded, Outcome, ReplayEvent, ReplayId, SubscriptionEvent, SubscriptionState, TaskId, TaskView,
    TokenId,
};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, Table, WriteTransaction};

use super::codec::{decode_attempt, decode_event, decode_task, decode_time, encode_time};
use super::error::EmbeddedError;
use super::replays::ReplayTables;
use super::schema::{
    attempt_key, attempt_row, by_sub_key, decode, encode, event_listing_key, event_row, expiry_key, expiry_ms,
    listing_key, split_row, subscription_key, subscription_write_key, task_by_sub_key, task_row, Bytes, RowKind,
    ATTEMPTS, ATTEMPTS_BY_SUB, EVENTS, EVENTS_BY_TENANT, EXPIRY, SUBSCRIPTIONS, SUBSCRIPTION_WRITES, TASKS,
    TASKS_BY_SUB, TASKS_BY_TIME, TOKENS_LAST_USED, TOMBSTONES, WRITES_KEPT,
};
use super::stored::{PayloadAt, StoredReplay, StoredTask};
use crate::{EventView, ReplayTaskOutcome, TaskPosition, ViewChange};

/// Applies `changes` and commits durably; rows already expired at `now_ms` are not written.
pub(super) fn apply(db: &Database, ttl: Duration, now_ms: u64, changes: Vec<ViewChange>) -> Result<(), EmbeddedError> {
    let txn = db.begin_write()?;
    {
        let mut tables = Tables::open(&txn)?;
        // Every change to a task within the batch is merged in memory first, so each
        // task row is read and written once per batch.
        let mut tasks: HashMap<TaskId, StoredTask> = HashMap::new();
        // Likewise each replay row, with what it was when read.
        let mut replays = ReplayChanges::default();
        for change in changes {
            match change {
                ViewChange::Subscription(event) => tables.apply_subscription(&event)?,
                ViewChange::Task { task, payload_at } => {
                    let payload = PayloadAt { since: task.created_at, position: payload_at };
                    fold(&mut tasks, StoredTask { view: task, payload: Some(payload) });
                }
                ViewChange::Attempt(attempt) => {
                    fold(&mut tasks, StoredTask { view: TaskView::from_attempt(&attempt), payload: None });
                    replays.count_attempt(&mut tables, &attempt, now_ms)?;
                    tables.put_attempt(&attempt, ttl, now_ms)?;
                }
                ViewChange::Replay(event) => replays.fold(&mut tables, event, now_ms)?,
                ViewChange::DeadLettered { task, failed_at, payload_at } => {
                    let payload = PayloadAt { since: failed_at, position: payload_at };
                    fold(&mut tasks, StoredTask { view: task, payload: Some(payload) });
                }
                ViewChange::Event(event) => tables.put_event(*event, ttl, now_ms)?,
                ViewChange::TokenUsed { token_id, at } => tables.note_token_used(token_id, at)?,
            }
        }
        for task in tasks.into_values() {
            tables.merge_task(task, ttl, now_ms)?;
        }
        replays.write(&mut tables, ttl, now_ms)?;
    }
    txn.commit()?;
    Ok(())
}

/// Lists the tasks of a file written before the task listings existed: an empty
/// listing beside stored tasks means nothing else. (Their payload positions were never kept.)
pub(super) fn list_unlisted_tasks(db: &Database) -> Result<(), EmbeddedError> {
    {
        let txn = db.begin_read()?;
        if !txn.open_table(TASKS_BY_TIME)?.is_empty()? || txn.open_table(TASKS)?.is_empty()? {
            return Ok(());
        }
    }
    let txn = db.begin_write()?;
    {
        let mut tables = Tables::open(&txn)?;
        let mut stored = Vec::new();
        for entry in tables.tasks.iter()? {
            let (_, row) = entry?;
            stored.push(decode_task(split_row(row.value())?.1)?.view);
        }
        for task in &stored {
            let position = TaskPosition::of(task);
            tables.tasks_by_time.insert(&listing_key(position)[..], ())?;
            tables.tasks_by_sub.insert(&task_by_sub_key(task.subscription_id, position)[..], ())?;
        }
    }
    txn.commit()?;
    Ok(())
}

fn fold(tasks: &mut HashMap<TaskId, StoredTask>, task: StoredTask) {
    let merged = match tasks.remove(&task.view.task_id) {
        Some(known) => known.merge(task),
        None => task,
    };
    tasks.insert(merged.view.task_id, merged);
}

struct Tables<'txn> {
    subscriptions: Table<'txn, Bytes, Bytes>,
    tombstones: Table<'txn, Bytes, Bytes>,
    subscription_writes: Table<'txn, Bytes, Bytes>,
    tasks: Table<'txn, Bytes, Bytes>,
    attempts: Table<'txn, Bytes, Bytes>,
    attempts_by_sub: Table<'txn, Bytes, ()>,
    tasks_by_time: Table<'txn, Bytes, ()>,
    tasks_by_sub: Table<'txn, Bytes, ()>,
    events: Table<'txn, Bytes, Bytes>,
    events_by_tenant: Table<'txn, Bytes, ()>,
    tokens_last_used: Table<'txn, Bytes, Bytes>,
    replays: ReplayTables<'txn>,
    expiry: Table<'txn, Bytes, ()>,
}

impl<'txn> Tables<'txn> {
    fn open(txn: &'txn WriteTransaction) -> Result<Self, EmbeddedError> {
        Ok(Self {
            subscriptions: txn.open_table(SUBSCRIPTIONS)?,
            tombstones: txn.open_table(TOMBSTONES)?,
            subscription_writes: txn.open_table(SUBSCRIPTION_WRITES)?,
            tasks: txn.open_table(TASKS)?,
            attempts: txn.open_table(ATTEMPTS)?,
            attempts_by_sub: txn.open_table(ATTEMPTS_BY_SUB)?,
            tasks_by_time: txn.open_table(TASKS_BY_TIME)?,
            tasks_by_sub: txn.open_table(TASKS_BY_SUB)?,
            events: txn.open_table(EVENTS)?,
            events_by_tenant: txn.open_table(EVENTS_BY_TENANT)?,
            tokens_last_used: txn.open_table(TOKENS_LAST_USED)?,
            replays: ReplayTables::open(txn)?,
            expiry: txn.open_table(EXPIRY)?,
        })
    }

    /// Folds a change into what is stored by the rule of [`versions`]: a refused change
    /// (stale, or after a deletion) writes nothing. An accepted one is stored whole,
    /// with the write that made its version.
    fn apply_subscription(&mut self, event: &SubscriptionEvent) -> Result<(), EmbeddedError> {
        let id = event.subscription_id();
        let key = subscription_key(id);
        let current = match self.subscriptions.get(&key[..])? {
            Some(row) => Some(SubscriptionState::Live(decode(row.value())?)),
            None => match self.tombstones.get(&key[..])? {
                Some(row) => Some(SubscriptionState::Deleted { id, deleted_at: decode(row.value())? }),
                None => None,
            },
        };
        let Some(next) = versions::apply(current.as_ref(), event) else {
            return Ok(());
        };
        match next {
            SubscriptionState::Live(subscription) => {
                self.subscriptions.insert(&key[..], &encode(&subscription)?[..])?;
            }
            SubscriptionState::Deleted { deleted_at, .. } => {
                self.subscriptions.remove(&key[..])?;
                self.tombstones.insert(&key[..], &encode(&deleted_at)?[..])?;
            }
        }
        if let Some(write_id) = event.write_id() {
            let version = event.version();
            self.subscription_writes.insert(&subscription_write_key(id, version)[..], &write_id.as_bytes()[..])?;
            if let Some(forgotten) = version.checked_sub(WRITES_KEPT) {
                self.subscription_writes.remove(&subscription_write_key(id, forgotten)[..])?;
            }
        }
        Ok(())
    }

    /// Merges `task` into the stored one; an expired stored row counts as absent.
    fn merge_task(&mut self, task: StoredTask, ttl: Duration, now_ms: u64) -> Result<(), EmbeddedError> {
        let key = *task.view.task_id.as_bytes();
        let stored = match self.tasks.get(&key[..])? {
            Some(row) => {
                let (expires, encoded) = split_row(row.value())?;
                Some((expires, decode_task(encoded)?))
            }
            None => None,
        };
        let merged = match &stored {
            Some((expires, known)) if *expires > now_ms => known.clone().merge(task),
            _ => task,
        };
        let expires = merged.expiry_ms(ttl);
        if expires <= now_ms {
            // Nothing live to write; an expired stored row is left to purge_expired.
            return Ok(());
        }
        // A stored row is always listed (purge removes both together), so the listings
        // only change when the task moves: an attempt, the common update, never moves it.
        let mut listed = false;
        if let Some((old_expires, known)) = stored {
            if old_expires == expires && known == merged {
                return Ok(());
            }
            if old_expires != expires {
                self.expiry.remove(&expiry_key(old_expires, RowKind::Task, &key)[..])?;
            }
            listed = TaskPosition::of(&known.view) == TaskPosition::of(&merged.view)
                && known.view.subscription_id == merged.view.subscription_id;
            if !listed {
                self.unlist_task(&known.view)?;
            }
        }
        self.tasks.insert(&key[..], &task_row(expires, &merged)[..])?;
        self.expiry.insert(&expiry_key(expires, RowKind::Task, &key)[..], ())?;
        if !listed {
            let position = TaskPosition::of(&merged.view);
            self.tasks_by_time.insert(&listing_key(position)[..], ())?;
            self.tasks_by_sub.insert(&task_by_sub_key(merged.view.subscription_id, position)[..], ())?;
        }
        Ok(())
    }

    /// Removes a task's entries from both listings.
    fn unlist_task(&mut self, task: &TaskView) -> Result<(), EmbeddedError> {
        let position = TaskPosition::of(task);
        self.tasks_by_time.remove(&listing_key(position)[..])?;
        self.tasks_by_sub.remove(&task_by_sub_key(task.subscription_id, position)[..])?;
        Ok(())
    }

    /// Stores an event, or keeps the stored one if its record came first (see
    /// [`first_in_log`]); an expired stored row counts as absent and is replaced.
    fn put_event(&mut self, event: EventView, ttl: Duration, now_ms: u64) -> Result<(), EmbeddedError> {
        let key = *event.event_id.as_bytes();
        let stored = match self.events.get(&key[..])? {
            Some(row) => {
                let (expires, encoded) = split_row(row.value())?;
                Some((expires, decode_event(encoded)?))
            }
            None => None,
        };
        let event = match &stored {
            Some((expires, known)) if *expires > now_ms => first_in_log(known.clone(), event),
            _ => event,
        };
        let expires = expiry_ms(event.accepted_at, ttl);
        if expires <= now_ms {
            return Ok(());
        }
        if let Some((old_expires, known)) = stored {
            if old_expires == expires && known == event {
                return Ok(());
            }
            self.expiry.remove(&expiry_key(old_expires, RowKind::Event, &key)[..])?;
            self.events_by_tenant.remove(&event_listing_key(&known)[..])?;
        }
        self.events.insert(&key[..], &event_row(expires, &event)[..])?;
        self.expiry.insert(&expiry_key(expires, RowKind::Event, &key)[..], ())?;
        self.events_by_tenant.insert(&event_listing_key(&event)[..], ())?;
        Ok(())
    }

    /// Keeps the latest use of a token.
    fn note_token_used(&mut self, token: TokenId, at: DateTime<Utc>) -> Result<(), EmbeddedError> {
        let key = *token.0.as_bytes();
        let known = match self.tokens_last_used.get(&key[..])? {
            Some(row) => Some(decode_time(row.value())?),
            None => None,
        };
        if known.is_none_or(|known| at > known) {
            self.tokens_last_used.insert(&key[..], &encode_time(at)[..])?;
        }
        Ok(())
    }

    /// Stores an attempt unless a higher-ranked record of the same attempt number is live.
    fn put_attempt(&mut self, attempt: &AttemptRecorded, ttl: Duration, now_ms: u64) -> Result<(), EmbeddedError> {
        let expires = expiry_ms(attempt.attempted_at, ttl);
        if expires <= now_ms {
            return Ok(());
        }
        let key = attempt_key(attempt.task_id, attempt.attempt_number);
        let row = attempt_row(expires, attempt);
        let stored = match self.attempts.get(&key[..])? {
            Some(old_row) => {
                let (old_expires, old_encoded) = split_row(old_row.value())?;
                Some((old_expires, decode_attempt(old_encoded)?, old_encoded.to_vec()))
            }
            None => None,
        };
        if let Some((old_expires, old, old_encoded)) = stored {
            let outranked = rank(attempt, split_row(&row)?.1) <= rank(&old, &old_encoded);
            if old_expires > now_ms && outranked {
                return Ok(());
            }
            self.attempts_by_sub.remove(&by_sub_key(&old)[..])?;
            self.expiry.remove(&expiry_key(old_expires, RowKind::Attempt, &key)[..])?;
        }
        self.attempts.insert(&key[..], &row[..])?;
        self.attempts_by_sub.insert(&by_sub_key(attempt)[..], ())?;
        self.expiry.insert(&expiry_key(expires, RowKind::Attempt, &key)[..], ())?;
        Ok(())
    }
}

/// The replay rows a batch changes, each read once (an expired one counts as absent,
/// and goes with what it held) and written once at the end.
#[derive(Default)]
struct ReplayChanges {
    /// Each replay's row as the batch leaves it, and as it was read (with its expiry).
    rows: HashMap<ReplayId, (StoredReplay, Option<(u64, StoredReplay)>)>,
}

impl ReplayChanges {
    fn row(&mut self, tables: &mut Tables, id: ReplayId, now_ms: u64) -> Result<&mut StoredReplay, EmbeddedError> {
        let row = match self.rows.entry(id) {
            Entry::Occupied(row) => row.into_mut(),
            Entry::Vacant(vacant) => {
                let known = match tables.replays.get(id)? {
                    Some((expires, stale)) if expires <= now_ms => {
                        // Forgotten now rather than at the next purge, so that its outcomes
                        // are not mistaken for those of the rows folded afresh.
                        tables.replays.forget(id, Some(&stale))?;
                        tables.expiry.remove(&expiry_key(expires, RowKind::Replay, id.as_bytes())[..])?;
                        None
                    }
                    known => known,
                };
                let current = known.as_ref().map(|(_, row)| row.clone()).unwrap_or_default();
                vacant.insert((current, known))
            }
        };
        Ok(&mut row.0)
    }

    fn fold(&mut self, tables: &mut Tables, event: ReplayEvent, now_ms: u64) -> Result<(), EmbeddedError> {
        self.row(tables, event.replay_id(), now_ms)?.records.fold(event);
        Ok(())
    }

    /// Counts an attempt of a replay towards its delivered or failed tasks, once per task.
    fn count_attempt(
        &mut self,
        tables: &mut Tables,
        attempt: &AttemptRecorded,
        now_ms: u64,
    ) -> Result<(), EmbeddedError> {
        let (Some(replay), Some(outcome)) = (attempt.replay_id, ReplayTaskOutcome::of(attempt.outcome)) else {
            return Ok(());
        };
        // The row first: a stale row's task outcomes go before this one is noted.
        self.row(tables, replay, now_ms)?;
        let changed = tables.replays.note_task(replay, attempt.task_id, outcome)?;
        let row = self.row(tables, replay, now_ms)?;
        if let Some(before) = changed {
            row.outcomes.count(before, outcome);
        }
        row.last_attempt_at = row.last_attempt_at.max(Some(attempt.attempted_at));
        Ok(())
    }

    fn write(self, tables: &mut Tables, ttl: Duration, now_ms: u64) -> Result<(), EmbeddedError> {
        for (id, (replay, known)) in self.rows {
            let expires = replay.expiry_ms(ttl);
            let key = id.as_bytes();
            if let Some((old_expires, old)) = &known {
                if *old_expires == expires && *old == replay {
                    continue;
                }
                tables.expiry.remove(&expiry_key(*old_expires, RowKind::Replay, key)[..])?;
            }
            if expires <= now_ms {
                // Past its retention already: nothing of it is kept.
                tables.replays.forget(id, known.as_ref().map(|(_, old)| old))?;
                continue;
            }
            tables.replays.put(id, expires, &replay, known.as_ref().map(|(_, old)| old))?;
            tables.expiry.insert(&expiry_key(expires, RowKind::Replay, key)[..], ())?;
        }
        Ok(())
    }
}

/// Which of two records of one event the views keep: the one earliest in the log
/// (an event's records share its tenant's partition, so the lower offset is the
/// first append; the rest break ties the same way whatever the order).
fn first_in_log(a: EventView, b: EventView) -> EventView {
    let rank = |e: &EventView| (e.payload_at.offset, e.payload_at.partition, e.payload_at.topic.clone());
    if rank(&b) < rank(&a) {
        b
    } else {
        a
    }
}

/// Which of two records of one attempt number wins: the better outcome, then the
/// later time, then (for records that differ in nothing else) the larger encoding,
/// so that the winner never depends on the order they were applied in.
fn rank<'a>(attempt: &AttemptRecorded, encoded: &'a [u8]) -> (u8, chrono::DateTime<chrono::Utc>, &'a [u8]) {
    let outcome = match attempt.outcome {
        Outcome::FailedAttempt => 0,
        Outcome::PermanentlyFailed => 1,
        Outcome::Success => 2,
    };
    (outcome, attempt.attempted_at, encoded)
}
