//! The redb tables of the embedded views, their keys and their values.
//!
//! | table            | key                                                          | value                     |
//! |------------------|--------------------------------------------------------------|---------------------------|
//! | `subscriptions`  | subscription id (16 bytes)                                   | JSON `Subscription`       |
//! | `tombstones`     | subscription id (16 bytes)                                   | JSON `deleted_at`         |
//! | `subscription_writes` | subscription id ++ version (u64 BE)                     | write id (16 bytes)       |
//! | `tasks`          | task id (16 bytes)                                           | expiry ++ task ++ payload position |
//! | `attempts`       | task id ++ attempt number (u32 BE)                           | expiry ++ attempt         |
//! | `attempts_by_sub`| subscription id ++ !attempted_at (u64 BE) ++ task id ++ number | `()`                    |
//! | `tasks_by_time`  | accepted ms (u64 BE) ++ task id                              | `()`                      |
//! | `tasks_by_sub`   | subscription id ++ accepted ms (u64 BE) ++ task id           | `()`                      |
//! | `events`         | event id (16 bytes)                                          | expiry ++ event           |
//! | `events_by_tenant` | tenant id length (u8) ++ tenant id ++ accepted ms (u64 BE) ++ event id | `()`          |
//! | `tokens_last_used` | token id (16 bytes)                                        | time of the latest use    |
//! | `replays`        | replay id (16 bytes)                                         | expiry ++ JSON `StoredReplay` |
//! | `replays_by_time`| requested ms (u64 BE) ++ replay id                           | `()`                      |
//! | `replays_by_tenant` | tenant id length (u8) ++ tenant id ++ requested ms (u64 BE) ++ replay id | `()`        |
//! | `replay_tasks`   | replay id ++ task id                                         | best outcome tag (u8)     |
//! | `expiry`         | expiry (u64 BE) ++ row kind tag ++ row key                   | `()`                      |
//!
//! Tasks, attempts, events and token times use the compact encoding of `codec.rs`;
//! subscriptions JSON. A tenant's prefix in `events_by_tenant` starts with its
//! length, so that no tenant's prefix is the start of another's.
//! The task and event listings are walked backwards (newest first); their accepted time is in
//! milliseconds with the sign bit flipped, so that it sorts as a signed time. A
//! task row also holds where the task's payload is in the log (the record of its
//! TaskAccepted or latest dead letter) and the time that position's retention counts
//! from; the row lives until both the task and the position expire. The payload itself
//! is only in the log.
//! Live subscriptions and tombstones live in separate tables so that listing walks
//! live rows only. "expiry" is milliseconds since the epoch, big-endian, so the
//! expiry index sorts by time and `purge_expired` walks it from the start; rows carry
//! their expiry too, so a read can hide an expired row without consulting the index.
//! In `attempts_by_sub` the attempt time is inverted (`u64::MAX - t`) so that a
//! forward scan of a subscription's prefix yields its newest attempts first.
//! A replay row holds its records folded and its counts of delivered and failed
//! tasks, kept up to date as `replay_tasks` learns each task's best outcome (so a read
//! costs one row, whatever the size of the replay); it is listed once its request is
//! known, and goes with its `replay_tasks` entries when it expires.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hookline_domain::{AttemptRecorded, ReplayId, SubscriptionId, TaskId, TenantId};
use redb::{Database, TableDefinition};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{EventView, Listed, ListingId, ListingPosition, TaskPosition};

use super::codec;
use super::error::EmbeddedError;
use super::stored::{StoredReplay, StoredTask};

pub(super) type Bytes = &'static [u8];

pub(super) const SUBSCRIPTIONS: TableDefinition<Bytes, Bytes> = TableDefinition::new("subscriptions");
pub(super) const TOMBSTONES: TableDefinition<Bytes, Bytes> = TableDefinition::new("tombstones");
pub(super) const SUBSCRIPTION_WRITES: TableDefinition<Bytes, Bytes> = TableDefinition::new("subscription_writes");
/// Versions of a subscription whose write is remembered: a writer asks within
/// seconds, so the last few dozen are plenty.
pub(super) const WRITES_KEPT: u64 = 64;
pub(super) const TASKS: TableDefinition<Bytes, Bytes> = TableDefinition::new("tasks");
pub(super) const ATTEMPTS: TableDefinition<Bytes, Bytes> = TableDefinition::new("attempts");
pub(super) const ATTEMPTS_BY_SUB: TableDefinition<Bytes, ()> = TableDefinition::new("attempts_by_sub");
pub(super) const EXPIRY: TableDefinition<Bytes, ()> = TableDefinition::new("expiry");
pub(super) const TASKS_BY_TIME: TableDefinition<Bytes, ()> = TableDefinition::new("tasks_by_time");
pub(super) const TASKS_BY_SUB: TableDefinition<Bytes, ()> = TableDefinition::new("tasks_by_sub");
pub(super) const EVENTS: TableDefinition<Bytes, Bytes> = TableDefinition::new("events");
pub(super) const EVENTS_BY_TENANT: TableDefinition<Bytes, ()> = TableDefinition::new("events_by_tenant");
pub(super) const TOKENS_LAST_USED: TableDefinition<Bytes, Bytes> = TableDefinition::new("tokens_last_used");
pub(super) const REPLAYS: TableDefinition<Bytes, Bytes> = TableDefinition::new("replays");
pub(super) const REPLAYS_BY_TIME: TableDefinition<Bytes, ()> = TableDefinition::new("replays_by_time");
pub(super) const REPLAYS_BY_TENANT: TableDefinition<Bytes, ()> = TableDefinition::new("replays_by_tenant");
pub(super) const REPLAY_TASKS: TableDefinition<Bytes, Bytes> = TableDefinition::new("replay_tasks");
/// Copies of payloads, kept by earlier versions: dropped on open (the log holds them).
const PAYLOAD_COPIES: TableDefinition<Bytes, Bytes> = TableDefinition::new("payloads");

/// Creates any missing table, so that read transactions can open them all.
pub(super) fn create_tables(db: &Database) -> Result<(), EmbeddedError> {
    let txn = db.begin_write()?;
    txn.delete_table(PAYLOAD_COPIES)?;
    for table in [
        SUBSCRIPTIONS,
        TOMBSTONES,
        SUBSCRIPTION_WRITES,
        TASKS,
        ATTEMPTS,
        EVENTS,
        TOKENS_LAST_USED,
        REPLAYS,
        REPLAY_TASKS,
    ] {
        txn.open_table(table)?;
    }
    for table in
        [ATTEMPTS_BY_SUB, EXPIRY, TASKS_BY_TIME, TASKS_BY_SUB, EVENTS_BY_TENANT, REPLAYS_BY_TIME, REPLAYS_BY_TENANT]
    {
        txn.open_table(table)?;
    }
    txn.commit()?;
    Ok(())
}

/// Which table an expiry index entry points into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RowKind {
    Task = 1,
    Attempt = 2,
    /// A payload copy of an earlier version's `payloads` table: its entry is dropped.
    PayloadCopy = 3,
    Event = 4,
    Replay = 5,
}

impl RowKind {
    fn from_tag(tag: u8) -> Option<Self> {
        match tag {
            1 => Some(RowKind::Task),
            2 => Some(RowKind::Attempt),
            3 => Some(RowKind::PayloadCopy),
            4 => Some(RowKind::Event),
            5 => Some(RowKind::Replay),
            _ => None,
        }
    }
}

pub(super) const ID_LEN: usize = 16;
const EXPIRY_LEN: usize = 8;
pub(super) const ATTEMPT_KEY_LEN: usize = ID_LEN + 4;
const BY_SUB_KEY_LEN: usize = ID_LEN + 8 + ATTEMPT_KEY_LEN;
const POSITION_LEN: usize = 8 + ID_LEN;

/// Milliseconds since the epoch at which a row stamped `at` expires (never before 0).
pub(super) fn expiry_ms(at: DateTime<Utc>, ttl: Duration) -> u64 {
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    u64::try_from(at.timestamp_millis().saturating_add(ttl_ms)).unwrap_or(0)
}

/// `now` as the expiry clock reads it: a row is expired once its expiry is `<=` this.
pub(super) fn clock_ms(now: DateTime<Utc>) -> u64 {
    u64::try_from(now.timestamp_millis()).unwrap_or(0)
}

pub(super) fn attempt_key(task: TaskId, number: u32) -> [u8; ATTEMPT_KEY_LEN] {
    let mut key = [0; ATTEMPT_KEY_LEN];
    key[..ID_LEN].copy_from_slice(task.as_bytes());
    key[ID_LEN..].copy_from_slice(&number.to_be_bytes());
    key
}

/// The index key of an attempt in its subscription's newest-first listing.
pub(super) fn by_sub_key(attempt: &AttemptRecorded) -> [u8; BY_SUB_KEY_LEN] {
    // Flipping the sign bit maps i64 onto u64 in the same order; subtracting from MAX reverses it.
    let micros = (attempt.attempted_at.timestamp_micros() as u64) ^ (1 << 63);
    let mut key = [0; BY_SUB_KEY_LEN];
    key[..ID_LEN].copy_from_slice(attempt.subscription_id.as_bytes());
    key[ID_LEN..ID_LEN + 8].copy_from_slice(&(u64::MAX - micros).to_be_bytes());
    key[ID_LEN + 8..].copy_from_slice(&attempt_key(attempt.task_id, attempt.attempt_number));
    key
}

/// The attempt row an `attempts_by_sub` key points to.
pub(super) fn attempt_key_of_by_sub(key: &[u8]) -> Result<&[u8], EmbeddedError> {
    if key.len() != BY_SUB_KEY_LEN {
        return Err(EmbeddedError::Corrupt(format!("attempts_by_sub key of {} bytes", key.len())));
    }
    Ok(&key[ID_LEN + 8..])
}

/// The smallest key that sorts after every key starting with `prefix`, if any.
pub(super) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// An item's key in a listing without prefix (`tasks_by_time`), and the end of its
/// key in the others: its listing position, as bytes that sort in its order.
pub(super) fn listing_key<Id: ListingId>(position: ListingPosition<Id>) -> [u8; POSITION_LEN] {
    let mut key = [0; POSITION_LEN];
    // Flipping the sign bit maps i64 onto u64 in the same order.
    key[..8].copy_from_slice(&((position.at_ms as u64) ^ (1 << 63)).to_be_bytes());
    key[8..].copy_from_slice(&position.id.id_bytes());
    key
}

/// A key in a listing of `prefix` (a subscription's tasks, a tenant's events).
pub(super) fn prefixed_listing_key<Id: ListingId>(prefix: &[u8], position: ListingPosition<Id>) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + POSITION_LEN);
    key.extend_from_slice(prefix);
    key.extend_from_slice(&listing_key(position));
    key
}

/// A task's key in `tasks_by_sub`: its subscription, then its listing position.
pub(super) fn task_by_sub_key(sub: SubscriptionId, position: TaskPosition) -> Vec<u8> {
    prefixed_listing_key(sub.as_bytes(), position)
}

/// A tenant's prefix in `events_by_tenant`: its length, then its id.
pub(super) fn tenant_prefix(tenant: &TenantId) -> Vec<u8> {
    let id = tenant.as_str().as_bytes();
    // Tenant ids are at most 64 bytes (MAX_TENANT_ID_LEN).
    let mut prefix = Vec::with_capacity(1 + id.len());
    prefix.push(u8::try_from(id.len()).unwrap_or(u8::MAX));
    prefix.extend_from_slice(id);
    prefix
}

/// The listing position a key of any listing ends with.
pub(super) fn position_of_listing_key<Id: ListingId>(key: &[u8]) -> Result<ListingPosition<Id>, EmbeddedError> {
    let corrupt = || EmbeddedError::Corrupt(format!("listing key of {} bytes", key.len()));
    let tail = key.len().checked_sub(POSITION_LEN).map(|start| &key[start..]).ok_or_else(corrupt)?;
    let (ms, id) = tail.split_first_chunk::<8>().ok_or_else(corrupt)?;
    let id: [u8; ID_LEN] = id.try_into().map_err(|_| corrupt())?;
    Ok(ListingPosition { at_ms: (u64::from_be_bytes(*ms) ^ (1 << 63)) as i64, id: Id::from_id_bytes(id) })
}

pub(super) fn subscription_key(id: SubscriptionId) -> [u8; ID_LEN] {
    *id.as_bytes()
}

/// The key of the write that made `version` of subscription `id`.
pub(super) fn subscription_write_key(id: SubscriptionId, version: u64) -> [u8; ID_LEN + 8] {
    let mut key = [0; ID_LEN + 8];
    key[..ID_LEN].copy_from_slice(id.as_bytes());
    key[ID_LEN..].copy_from_slice(&version.to_be_bytes());
    key
}

pub(super) fn expiry_key(expires_ms: u64, kind: RowKind, row_key: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(EXPIRY_LEN + 1 + row_key.len());
    key.extend_from_slice(&expires_ms.to_be_bytes());
    key.push(kind as u8);
    key.extend_from_slice(row_key);
    key
}

/// The expiry, kind and row key of an expiry index entry.
pub(super) fn split_expiry_key(key: &[u8]) -> Result<(u64, RowKind, &[u8]), EmbeddedError> {
    let corrupt = || EmbeddedError::Corrupt(format!("expiry key of {} bytes", key.len()));
    let (expiry, rest) = key.split_first_chunk::<EXPIRY_LEN>().ok_or_else(corrupt)?;
    let (tag, row_key) = rest.split_first().ok_or_else(corrupt)?;
    let kind = RowKind::from_tag(*tag).ok_or_else(corrupt)?;
    Ok((u64::from_be_bytes(*expiry), kind, row_key))
}

/// A task row: its expiry, then the task and its payload position in the compact encoding.
pub(super) fn task_row(expires_ms: u64, task: &StoredTask) -> Vec<u8> {
    let mut row = expires_ms.to_be_bytes().to_vec();
    codec::encode_task(task, &mut row);
    row
}

/// An event row: its expiry, then the event in the compact encoding.
pub(super) fn event_row(expires_ms: u64, event: &EventView) -> Vec<u8> {
    let mut row = expires_ms.to_be_bytes().to_vec();
    codec::encode_event(event, &mut row);
    row
}

/// An event's key in `events_by_tenant`: its tenant, then its listing position.
pub(super) fn event_listing_key(event: &EventView) -> Vec<u8> {
    prefixed_listing_key(&tenant_prefix(&event.tenant_id), event.position())
}

/// An attempt row: its expiry, then the attempt in the compact encoding.
pub(super) fn attempt_row(expires_ms: u64, attempt: &AttemptRecorded) -> Vec<u8> {
    let mut row = expires_ms.to_be_bytes().to_vec();
    codec::encode_attempt(attempt, &mut row);
    row
}

/// The expiry of a task, attempt or event row and its encoded value.
pub(super) fn split_row(row: &[u8]) -> Result<(u64, &[u8]), EmbeddedError> {
    let (expiry, encoded) =
        row.split_first_chunk::<EXPIRY_LEN>().ok_or_else(|| EmbeddedError::Corrupt("row too short".into()))?;
    Ok((u64::from_be_bytes(*expiry), encoded))
}

/// A replay row: its expiry, then the replay as JSON (replays are rare).
pub(super) fn replay_row(expires_ms: u64, replay: &StoredReplay) -> Result<Vec<u8>, EmbeddedError> {
    let mut row = expires_ms.to_be_bytes().to_vec();
    row.extend_from_slice(&encode(replay)?);
    Ok(row)
}

/// A replay's key in `replays_by_time` and in `replays_by_tenant`, once its request is known.
pub(super) fn replay_listing_keys(replay: &StoredReplay) -> Option<([u8; POSITION_LEN], Vec<u8>)> {
    let request = replay.records.request.as_ref()?;
    let position = ListingPosition { at_ms: request.requested_at.timestamp_millis(), id: request.replay_id };
    Some((listing_key(position), prefixed_listing_key(&tenant_prefix(&request.tenant_id), position)))
}

/// A task's key in `replay_tasks`.
pub(super) fn replay_task_key(replay: ReplayId, task: TaskId) -> [u8; 2 * ID_LEN] {
    let mut key = [0; 2 * ID_LEN];
    key[..ID_LEN].copy_from_slice(replay.as_bytes());
    key[ID_LEN..].copy_from_slice(task.as_bytes());
    key
}

/// Subscriptions and tombstones are rare and stay JSON.
pub(super) fn decode<T: DeserializeOwned>(json: &[u8]) -> Result<T, EmbeddedError> {
    serde_json::from_slice(json).map_err(|e| EmbeddedError::Corrupt(format!("decode: {e}")))
}

pub(super) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, EmbeddedError> {
    serde_json::to_vec(value).map_err(|e| EmbeddedError::Corrupt(format!("encode: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn by_sub_keys_sort_newest_first_across_the_epoch() {
        let attempt = |secs: i64| {
            let a = AttemptRecorded {
                task_id: TaskId::new(),
                subscription_id: SubscriptionId::from_bytes([7; 16]),
                attempt_number: 1,
                outcome: hookline_domain::Outcome::Success,
                http_status: None,
                error: None,
                latency_ms: 0,
                response_body: None,
                attempted_at: Utc.timestamp_opt(secs, 0).unwrap(),
                next_attempt_at: None,
                task_accepted_at: Utc.timestamp_opt(secs, 0).unwrap(),
                event_type: None,
                replay_id: None,
            };
            by_sub_key(&a)
        };
        let keys = [attempt(1_700_000_000), attempt(5), attempt(-5)];
        assert!(keys[0] < keys[1] && keys[1] < keys[2]);
    }

    #[test]
    fn task_listing_keys_sort_by_time_then_id_across_the_epoch() {
        let position = |ms: i64, id: u8| TaskPosition { at_ms: ms, id: TaskId::from_bytes([id; 16]) };
        let positions = [position(-5, 9), position(-5, 10), position(0, 1), position(1_700_000_000_000, 0)];
        let keys: Vec<_> = positions.iter().map(|p| listing_key(*p)).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        let sub = SubscriptionId::from_bytes([3; 16]);
        for p in positions {
            assert_eq!(position_of_listing_key::<TaskId>(&listing_key(p)).unwrap(), p);
            assert_eq!(position_of_listing_key(&task_by_sub_key(sub, p)).unwrap(), p);
        }
        assert!(position_of_listing_key::<TaskId>(&[0; 7]).is_err());
    }

    #[test]
    fn no_tenant_prefix_starts_another() {
        use hookline_domain::EventId;
        let tenant = |id: &str| tenant_prefix(&TenantId::parse(id).unwrap());
        let position = ListingPosition { at_ms: 7, id: EventId::from_bytes([0xff; 16]) };
        let acme_key = prefixed_listing_key(&tenant("acme"), position);
        assert!(!acme_key.starts_with(&tenant("acme-2")));
        assert!(!prefixed_listing_key(&tenant("acme-2"), position).starts_with(&tenant("acme")));
        assert_eq!(position_of_listing_key::<EventId>(&acme_key).unwrap(), position);
    }

    #[test]
    fn expiry_keys_round_trip() {
        let key = expiry_key(42, RowKind::Attempt, &[1, 2, 3]);
        assert_eq!(split_expiry_key(&key).unwrap(), (42, RowKind::Attempt, &[1u8, 2, 3][..]));
        assert!(split_expiry_key(&[0; 8]).is_err());
        assert!(split_expiry_key(&[0, 0, 0, 0, 0, 0, 0, 0, 9]).is_err());
    }

    #[test]
    fn prefix_end_bounds_the_prefix() {
        assert_eq!(prefix_end(&[1, 2]), Some(vec![1, 3]));
        assert_eq!(prefix_end(&[1, 255]), Some(vec![2]));
        assert_eq!(prefix_end(&[255, 255]), None);
    }

    #[test]
    fn expiry_saturates_instead_of_wrapping() {
        let before_epoch = Utc.timestamp_opt(-100, 0).unwrap();
        assert_eq!(expiry_ms(before_epoch, Duration::from_secs(1)), 0);
        assert_eq!(expiry_ms(Utc.timestamp_opt(10, 0).unwrap(), Duration::MAX), i64::MAX as u64);
    }
}
