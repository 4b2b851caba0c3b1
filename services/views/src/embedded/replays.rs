//! The replay rows, their listings and their tasks' outcomes, as one write
//! transaction changes them (folding, or purging).

use std::ops::Bound;

use hookline_domain::{ReplayId, TaskId};
use redb::{ReadableTable, Table, WriteTransaction};

use super::error::EmbeddedError;
use super::schema::{
    decode, prefix_end, replay_listing_keys, replay_row, replay_task_key, split_row, Bytes, REPLAYS, REPLAYS_BY_TENANT,
    REPLAYS_BY_TIME, REPLAY_TASKS,
};
use super::stored::StoredReplay;
use crate::ReplayTaskOutcome;

pub(super) struct ReplayTables<'txn> {
    replays: Table<'txn, Bytes, Bytes>,
    by_time: Table<'txn, Bytes, ()>,
    by_tenant: Table<'txn, Bytes, ()>,
    tasks: Table<'txn, Bytes, Bytes>,
}

impl<'txn> ReplayTables<'txn> {
    pub fn open(txn: &'txn WriteTransaction) -> Result<Self, EmbeddedError> {
        Ok(Self {
            replays: txn.open_table(REPLAYS)?,
            by_time: txn.open_table(REPLAYS_BY_TIME)?,
            by_tenant: txn.open_table(REPLAYS_BY_TENANT)?,
            tasks: txn.open_table(REPLAY_TASKS)?,
        })
    }

    /// The stored row of a replay and its expiry.
    pub fn get(&self, id: ReplayId) -> Result<Option<(u64, StoredReplay)>, EmbeddedError> {
        let Some(row) = self.replays.get(&id.as_bytes()[..])? else {
            return Ok(None);
        };
        let (expires, json) = split_row(row.value())?;
        Ok(Some((expires, decode(json)?)))
    }

    /// Writes a replay's row (with `expires`), listing it once its request is known;
    /// `known` is the row it replaces.
    pub fn put(
        &mut self,
        id: ReplayId,
        expires: u64,
        replay: &StoredReplay,
        known: Option<&StoredReplay>,
    ) -> Result<(), EmbeddedError> {
        self.replays.insert(&id.as_bytes()[..], &replay_row(expires, replay)?[..])?;
        let was_listed = known.is_some_and(|known| known.records.request.is_some());
        if let (false, Some((by_time, by_tenant))) = (was_listed, replay_listing_keys(replay)) {
            self.by_time.insert(&by_time[..], ())?;
            self.by_tenant.insert(&by_tenant[..], ())?;
        }
        Ok(())
    }

    /// Removes a replay's row (as `known` holds it), its listing entries and its
    /// tasks' outcomes; returns how many entries of `replay_tasks` went.
    pub fn forget(&mut self, id: ReplayId, known: Option<&StoredReplay>) -> Result<u64, EmbeddedError> {
        self.replays.remove(&id.as_bytes()[..])?;
        if let Some((by_time, by_tenant)) = known.and_then(replay_listing_keys) {
            self.by_time.remove(&by_time[..])?;
            self.by_tenant.remove(&by_tenant[..])?;
        }
        let prefix = id.as_bytes();
        let end = prefix_end(prefix);
        let upper = match &end {
            Some(end) => Bound::Excluded(&end[..]),
            None => Bound::Unbounded,
        };
        let removed = self.tasks.extract_from_if::<&[u8], _>((Bound::Included(&prefix[..]), upper), |_, _| true)?;
        let mut count = 0;
        for entry in removed {
            entry?;
            count += 1;
        }
        Ok(count)
    }

    /// Records `outcome` for a task of a replay; returns what the task counted as
    /// before when that changes (`Ok(None)` with no change: it counted as much already).
    pub fn note_task(
        &mut self,
        replay: ReplayId,
        task: TaskId,
        outcome: ReplayTaskOutcome,
    ) -> Result<Option<Option<ReplayTaskOutcome>>, EmbeddedError> {
        let key = replay_task_key(replay, task);
        let before = match self.tasks.get(&key[..])? {
            Some(row) => Some(
                row.value()
                    .first()
                    .copied()
                    .and_then(ReplayTaskOutcome::from_tag)
                    .ok_or_else(|| EmbeddedError::Corrupt("replay task outcome".into()))?,
            ),
            None => None,
        };
        if before.is_some_and(|before| before >= outcome) {
            return Ok(None);
        }
        self.tasks.insert(&key[..], &[outcome.tag()][..])?;
        Ok(Some(before))
    }
}
