//! Reads, each in one read transaction; rows expired at `now_ms` are never returned.

use std::collections::HashMap;
use std::ops::Bound;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hookline_domain::{
    AttemptRecorded, EventId, LogPosition, ReplayId, Subscription, SubscriptionId, SubscriptionState, TaskId, TaskView,
    TenantId, TokenId,
};
use redb::{Database, ReadableDatabase, ReadableTable};

use super::codec::{decode_attempt, decode_event, decode_task, decode_time};
use super::error::EmbeddedError;
use super::schema::{
    attempt_key, attempt_key_of_by_sub, decode, listing_key, position_of_listing_key, prefix_end, prefixed_listing_key,
    split_row, subscription_key, subscription_write_key, tenant_prefix, Bytes, ATTEMPTS, ATTEMPTS_BY_SUB, EVENTS,
    EVENTS_BY_TENANT, REPLAYS, REPLAYS_BY_TENANT, REPLAYS_BY_TIME, SUBSCRIPTIONS, SUBSCRIPTION_WRITES, TASKS,
    TASKS_BY_SUB, TASKS_BY_TIME, TOKENS_LAST_USED, TOMBSTONES,
};
use super::stored::StoredReplay;
use crate::{
    EventFilter, EventPosition, EventView, Listed, ListingFilter, ListingPosition, Page, PageBuilder, ReplayFilter,
    ReplayPosition, ReplayView, TaskFilter, TaskPosition,
};

pub(super) fn subscription(db: &Database, id: SubscriptionId) -> Result<Option<SubscriptionState>, EmbeddedError> {
    let txn = db.begin_read()?;
    let key = subscription_key(id);
    if let Some(row) = txn.open_table(SUBSCRIPTIONS)?.get(&key[..])? {
        return Ok(Some(SubscriptionState::Live(decode(row.value())?)));
    }
    match txn.open_table(TOMBSTONES)?.get(&key[..])? {
        Some(row) => {
            let deleted_at: DateTime<Utc> = decode(row.value())?;
            Ok(Some(SubscriptionState::Deleted { id, deleted_at }))
        }
        None => Ok(None),
    }
}

/// The write that made `version` of subscription `id`, while remembered.
pub(super) fn subscription_write(
    db: &Database,
    id: SubscriptionId,
    version: u64,
) -> Result<Option<uuid::Uuid>, EmbeddedError> {
    let txn = db.begin_read()?;
    let table = txn.open_table(SUBSCRIPTION_WRITES)?;
    let found = table.get(&subscription_write_key(id, version)[..])?;
    Ok(found.and_then(|row| uuid::Uuid::from_slice(row.value()).ok()))
}

/// Live subscriptions after `after`, in id order; the cursor of a page is its last id.
pub(super) fn subscriptions(
    db: &Database,
    limit: usize,
    after: Option<SubscriptionId>,
) -> Result<Page<Subscription>, EmbeddedError> {
    let txn = db.begin_read()?;
    let table = txn.open_table(SUBSCRIPTIONS)?;
    let after_key = after.map(subscription_key);
    let start = match &after_key {
        Some(key) => Bound::Excluded(&key[..]),
        None => Bound::Unbounded,
    };
    let mut items = Vec::with_capacity(limit.min(1024));
    let mut more = false;
    for entry in table.range::<&[u8]>((start, Bound::Unbounded))? {
        let (_, row) = entry?;
        if items.len() == limit {
            more = true;
            break;
        }
        items.push(decode::<Subscription>(row.value())?);
    }
    let next = match items.last() {
        Some(last) if more => Some(last.id.to_string()),
        _ => None,
    };
    Ok(Page { items, next })
}

pub(super) fn task(db: &Database, id: TaskId, now_ms: u64) -> Result<Option<TaskView>, EmbeddedError> {
    let txn = db.begin_read()?;
    live_task(&txn.open_table(TASKS)?, id, now_ms)
}

fn live_task(
    tasks: &impl ReadableTable<Bytes, Bytes>,
    id: TaskId,
    now_ms: u64,
) -> Result<Option<TaskView>, EmbeddedError> {
    let Some(row) = tasks.get(&id.as_bytes()[..])? else {
        return Ok(None);
    };
    let (expires, encoded) = split_row(row.value())?;
    if expires <= now_ms {
        return Ok(None);
    }
    Ok(Some(decode_task(encoded)?.view))
}

/// Walks one of the task listings backwards (newest first) from just before
/// `after`, reading each task's row for its current state.
pub(super) fn tasks(
    db: &Database,
    filter: TaskFilter,
    limit: usize,
    after: Option<TaskPosition>,
    now_ms: u64,
) -> Result<Page<TaskView>, EmbeddedError> {
    let mut page = PageBuilder::new(filter, limit);
    if page.is_complete() {
        return Ok(page.finish());
    }
    let txn = db.begin_read()?;
    let rows = txn.open_table(TASKS)?;
    let (index, prefix) = match filter.subscription {
        Some(sub) => (txn.open_table(TASKS_BY_SUB)?, subscription_key(sub).to_vec()),
        None => (txn.open_table(TASKS_BY_TIME)?, Vec::new()),
    };
    let start = filter.start_after(after);
    walk_newest_first(&index, &prefix, start, &mut page, |id| live_task(&rows, id, now_ms))?;
    Ok(page.finish())
}

/// Walks a tenant's listing backwards (newest first) from just before `after`.
pub(super) fn events(
    db: &Database,
    tenant: &TenantId,
    filter: EventFilter,
    limit: usize,
    after: Option<EventPosition>,
    now_ms: u64,
) -> Result<Page<EventView>, EmbeddedError> {
    let mut page = PageBuilder::new(filter, limit);
    if page.is_complete() {
        return Ok(page.finish());
    }
    let txn = db.begin_read()?;
    let rows = txn.open_table(EVENTS)?;
    let index = txn.open_table(EVENTS_BY_TENANT)?;
    walk_newest_first(&index, &tenant_prefix(tenant), after, &mut page, |id| live_event(&rows, id, now_ms))?;
    Ok(page.finish())
}

/// Offers `page` the items of the listing `index` under `prefix`, newest first, from
/// just before `after`, each as `item` reads it (`None`: expired, or since moved to
/// another position, which its entry there lists), until the page is complete.
fn walk_newest_first<T, F>(
    index: &impl ReadableTable<Bytes, ()>,
    prefix: &[u8],
    after: Option<ListingPosition<T::Id>>,
    page: &mut PageBuilder<T, F>,
    mut item: impl FnMut(T::Id) -> Result<Option<T>, EmbeddedError>,
) -> Result<(), EmbeddedError>
where
    T: Listed,
    F: ListingFilter<T>,
{
    let upper = match after {
        Some(position) => Some(match prefix.is_empty() {
            true => listing_key(position).to_vec(),
            false => prefixed_listing_key(prefix, position),
        }),
        None => prefix_end(prefix),
    };
    let upper = match &upper {
        Some(upper) => Bound::Excluded(&upper[..]),
        None => Bound::Unbounded,
    };
    for entry in index.range::<&[u8]>((Bound::Included(prefix), upper))?.rev() {
        let (key, _) = entry?;
        let position = position_of_listing_key::<T::Id>(key.value())?;
        let found = item(position.id)?.filter(|found| found.position() == position);
        if !page.offer(position, found) {
            break;
        }
    }
    Ok(())
}

pub(super) fn payload_position(
    db: &Database,
    id: TaskId,
    ttl: Duration,
    now_ms: u64,
) -> Result<Option<LogPosition>, EmbeddedError> {
    let txn = db.begin_read()?;
    let Some(row) = txn.open_table(TASKS)?.get(&id.as_bytes()[..])? else {
        return Ok(None);
    };
    let (expires, encoded) = split_row(row.value())?;
    if expires <= now_ms {
        return Ok(None);
    }
    Ok(decode_task(encoded)?.payload_position(ttl, now_ms))
}

/// The task's attempts in attempt-number order: a range over the task id prefix.
pub(super) fn attempts_for_task(db: &Database, id: TaskId, now_ms: u64) -> Result<Vec<AttemptRecorded>, EmbeddedError> {
    let txn = db.begin_read()?;
    let table = txn.open_table(ATTEMPTS)?;
    let (first, last) = (attempt_key(id, 0), attempt_key(id, u32::MAX));
    let mut attempts = Vec::new();
    for entry in table.range::<&[u8]>(&first[..]..=&last[..])? {
        let (_, row) = entry?;
        let (expires, encoded) = split_row(row.value())?;
        if expires > now_ms {
            attempts.push(decode_attempt(encoded)?);
        }
    }
    Ok(attempts)
}

/// Walks the subscription's prefix of the newest-first index and stops at `limit`
/// live attempts. Expired entries not yet purged are skipped; they are the oldest,
/// so they sit at the end of the walk.
pub(super) fn attempts_for_subscription(
    db: &Database,
    id: SubscriptionId,
    limit: usize,
    now_ms: u64,
) -> Result<Vec<AttemptRecorded>, EmbeddedError> {
    let mut attempts = Vec::with_capacity(limit.min(1024));
    if limit == 0 {
        return Ok(attempts);
    }
    let txn = db.begin_read()?;
    let index = txn.open_table(ATTEMPTS_BY_SUB)?;
    let rows = txn.open_table(ATTEMPTS)?;
    let prefix = subscription_key(id);
    let end = prefix_end(&prefix);
    let upper = match &end {
        Some(end) => Bound::Excluded(&end[..]),
        None => Bound::Unbounded,
    };
    for entry in index.range::<&[u8]>((Bound::Included(&prefix[..]), upper))? {
        let (key, _) = entry?;
        let key = key.value();
        let row = rows
            .get(attempt_key_of_by_sub(key)?)?
            .ok_or_else(|| EmbeddedError::Corrupt("attempts_by_sub points to a missing attempt".into()))?;
        let (expires, encoded) = split_row(row.value())?;
        if expires > now_ms {
            attempts.push(decode_attempt(encoded)?);
            if attempts.len() == limit {
                break;
            }
        }
    }
    Ok(attempts)
}

pub(super) fn event(db: &Database, id: EventId, now_ms: u64) -> Result<Option<EventView>, EmbeddedError> {
    let txn = db.begin_read()?;
    live_event(&txn.open_table(EVENTS)?, id, now_ms)
}

fn live_event(
    events: &impl ReadableTable<Bytes, Bytes>,
    id: EventId,
    now_ms: u64,
) -> Result<Option<EventView>, EmbeddedError> {
    let Some(row) = events.get(&id.as_bytes()[..])? else {
        return Ok(None);
    };
    let (expires, encoded) = split_row(row.value())?;
    if expires <= now_ms {
        return Ok(None);
    }
    Ok(Some(decode_event(encoded)?))
}

pub(super) fn replay(db: &Database, id: ReplayId, now_ms: u64) -> Result<Option<ReplayView>, EmbeddedError> {
    let txn = db.begin_read()?;
    live_replay(&txn.open_table(REPLAYS)?, id, now_ms)
}

fn live_replay(
    replays: &impl ReadableTable<Bytes, Bytes>,
    id: ReplayId,
    now_ms: u64,
) -> Result<Option<ReplayView>, EmbeddedError> {
    let Some(row) = replays.get(&id.as_bytes()[..])? else {
        return Ok(None);
    };
    let (expires, json) = split_row(row.value())?;
    if expires <= now_ms {
        return Ok(None);
    }
    let stored: StoredReplay = decode(json)?;
    Ok(stored.records.view(stored.outcomes))
}

/// Walks the listing of every replay, or a tenant's, backwards (newest first) from just before `after`.
pub(super) fn replays(
    db: &Database,
    tenant: Option<TenantId>,
    limit: usize,
    after: Option<ReplayPosition>,
    now_ms: u64,
) -> Result<Page<ReplayView>, EmbeddedError> {
    let prefix = tenant.as_ref().map(tenant_prefix).unwrap_or_default();
    let mut page = PageBuilder::new(ReplayFilter { tenant: tenant.clone() }, limit);
    if page.is_complete() {
        return Ok(page.finish());
    }
    let txn = db.begin_read()?;
    let rows = txn.open_table(REPLAYS)?;
    let index = match tenant {
        Some(_) => txn.open_table(REPLAYS_BY_TENANT)?,
        None => txn.open_table(REPLAYS_BY_TIME)?,
    };
    walk_newest_first(&index, &prefix, after, &mut page, |id| live_replay(&rows, id, now_ms))?;
    Ok(page.finish())
}

pub(super) fn tokens_last_used(
    db: &Database,
    ids: &[TokenId],
) -> Result<HashMap<TokenId, DateTime<Utc>>, EmbeddedError> {
    let txn = db.begin_read()?;
    let table = txn.open_table(TOKENS_LAST_USED)?;
    let mut used = HashMap::with_capacity(ids.len());
    for id in ids {
        if let Some(row) = table.get(&id.0.as_bytes()[..])? {
            used.insert(*id, decode_time(row.value())?);
        }
    }
    Ok(used)
}
