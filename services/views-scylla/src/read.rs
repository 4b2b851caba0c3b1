//! Reads. Rows whose retention has passed are never returned, even in the second
//! before the database's TTL (whole seconds, rounded up) removes them.

use std::ops::ControlFlow;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt, TryStreamExt};
use hookline_domain::event_types::EventTypePattern;
use hookline_domain::subscription::FieldError;
use hookline_domain::{
    AttemptRecorded, DeliverySettings, OrderingMode, Secret, Subscription, SubscriptionId, SubscriptionState, TaskId,
    TaskView, TenantId,
};
use hookline_views::{Page, ViewError};
use scylla::client::session::Session;
use scylla::deserialize::row::DeserializeRow;
use scylla::response::PagingState;
use scylla::serialize::row::SerializeRow;
use scylla::statement::prepared::PreparedStatement;
use uuid::Uuid;

use crate::error;
use crate::rows::{AttemptUdt, LastAttemptUdt};
use crate::stamps;
use crate::statements::Statements;

/// Index entries checked against `attempts_by_task` at once.
const CHECKS_IN_FLIGHT: usize = 32;
/// Days of the subscription index fetched ahead of the walk.
const DAYS_AHEAD: usize = 4;

/// Runs `statement` unpaged (partitions read this way are small) and decodes its rows.
pub(crate) async fn rows<R>(
    session: &Session,
    statement: &PreparedStatement,
    values: impl SerializeRow,
) -> Result<Vec<R>, ViewError>
where
    R: for<'frame> DeserializeRow<'frame, 'frame>,
{
    let what = statement.get_statement();
    let result = session
        .execute_unpaged(statement, values)
        .await
        .map_err(|e| error::execution(what, e))?
        .into_rows_result()
        .map_err(|e| error::decode(what, e))?;
    let decoded = result.rows::<R>().map_err(|e| error::decode(what, e))?;
    decoded.map(|row| row.map_err(|e| error::decode(what, e))).collect()
}

fn live(at: DateTime<Utc>, retention: Duration, now: DateTime<Utc>) -> bool {
    stamps::expiry(at, retention) > now
}

type SubscriptionRow = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<bool>,
    Option<String>,
    Option<String>,
    Option<DateTime<Utc>>,
    Option<i64>,
    Option<Uuid>,
    Option<String>,
    Option<Vec<String>>,
    Option<String>,
    Option<String>,
);

/// The tenant and event-type patterns of a stored subscription: a row written before
/// tenants existed belongs to the default tenant and wants every event.
fn tenant_and_patterns(
    tenant_id: Option<String>,
    event_types: Option<Vec<String>>,
    what: &str,
) -> Result<(TenantId, Option<Vec<EventTypePattern>>), ViewError> {
    let corrupt = |e: FieldError| ViewError::Corrupt(format!("{what}: {e}"));
    let tenant_id = tenant_id.map(|id| TenantId::parse(&id)).transpose().map_err(corrupt)?.unwrap_or_default();
    let event_types = event_types
        .map(|patterns| patterns.iter().map(|p| EventTypePattern::parse("event_types", p)).collect())
        .transpose()
        .map_err(corrupt)?;
    Ok((tenant_id, event_types))
}

/// A stored ordering mode: null (a row written before it existed, or the default) is none.
fn ordering_mode(stored: Option<String>, what: &str) -> Result<OrderingMode, ViewError> {
    match stored {
        None => Ok(OrderingMode::None),
        Some(name) => OrderingMode::parse(&name)
            .ok_or_else(|| ViewError::Corrupt(format!("{what}: ordering {name:?} is no ordering mode"))),
    }
}

/// The delivery settings of a stored subscription: a row written before they existed,
/// or with every setting the default, has none.
fn delivery_settings(stored: Option<String>, what: &str) -> Result<DeliverySettings, ViewError> {
    stored
        .map(|text| serde_json::from_str(&text).map_err(|e| ViewError::Corrupt(format!("{what}: delivery: {e}"))))
        .transpose()
        .map(Option::unwrap_or_default)
}

/// The write that made `version` of subscription `id`, while remembered.
pub(crate) async fn subscription_write(
    session: &Session,
    statements: &Statements,
    id: SubscriptionId,
    version: u64,
) -> Result<Option<Uuid>, ViewError> {
    let version = i64::try_from(version).unwrap_or(i64::MAX);
    let found: Vec<(Option<Uuid>,)> = rows(session, &statements.subscription_write, (id.0, version)).await?;
    Ok(found.into_iter().next().and_then(|(write_id,)| write_id))
}

pub(crate) async fn subscription(
    session: &Session,
    statements: &Statements,
    id: SubscriptionId,
) -> Result<Option<SubscriptionState>, ViewError> {
    let found: Vec<SubscriptionRow> = rows(session, &statements.subscription, (id.0,)).await?;
    let Some((
        target_url,
        secret,
        event_type_filter,
        created_at,
        updated_at,
        deleted_at,
        enabled,
        disabled_reason,
        previous_secret,
        previous_secret_expires_at,
        version,
        write_id,
        tenant_id,
        event_types,
        ordering,
        delivery,
    )) = found.into_iter().next()
    else {
        return Ok(None);
    };
    if let Some(deleted_at) = deleted_at {
        return Ok(Some(SubscriptionState::Deleted { id, deleted_at }));
    }
    // A row with no target (only a cleared tombstone) has never been created.
    let (Some(target_url), Some(created_at), Some(updated_at)) = (target_url, created_at, updated_at) else {
        return Ok(None);
    };
    let columns = SubscriptionColumns {
        target_url,
        secret,
        event_type_filter,
        created_at,
        updated_at,
        enabled,
        disabled_reason,
        previous_secret,
        previous_secret_expires_at,
        version,
        write_id,
        tenant_id,
        event_types,
        ordering,
        delivery,
    };
    Ok(Some(SubscriptionState::Live(columns.into_subscription(id, "subscriptions")?)))
}

/// The columns a live subscription is read from, in either table that holds it.
struct SubscriptionColumns {
    target_url: String,
    secret: Option<String>,
    event_type_filter: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    enabled: Option<bool>,
    disabled_reason: Option<String>,
    previous_secret: Option<String>,
    previous_secret_expires_at: Option<DateTime<Utc>>,
    version: Option<i64>,
    write_id: Option<Uuid>,
    tenant_id: Option<String>,
    event_types: Option<Vec<String>>,
    ordering: Option<String>,
    delivery: Option<String>,
}

impl SubscriptionColumns {
    /// Subscription `id` as read from `table`; columns a row was written without read as
    /// their defaults.
    fn into_subscription(self, id: SubscriptionId, table: &str) -> Result<Subscription, ViewError> {
        let (tenant_id, event_types) = tenant_and_patterns(self.tenant_id, self.event_types, table)?;
        Ok(Subscription {
            id,
            tenant_id,
            event_types,
            target_url: self.target_url,
            secret: self.secret.map(Secret::new),
            event_type_filter: self.event_type_filter,
            created_at: self.created_at,
            updated_at: self.updated_at,
            // Rows written before the column existed: enabled.
            enabled: self.enabled.unwrap_or(true),
            disabled_reason: self.disabled_reason,
            previous_secret: self.previous_secret.map(Secret::new),
            previous_secret_expires_at: self.previous_secret_expires_at,
            // Rows written before versions existed: version 0.
            version: self.version.map_or(0, |v| u64::try_from(v).unwrap_or(0)),
            write_id: self.write_id,
            ordering: ordering_mode(self.ordering, table)?,
            delivery: delivery_settings(self.delivery, table)?,
        })
    }
}

type ListingRow = (
    Vec<u8>,
    String,
    Option<String>,
    Option<String>,
    DateTime<Utc>,
    DateTime<Utc>,
    Option<bool>,
    Option<String>,
    Option<String>,
    Option<DateTime<Utc>>,
    Option<i64>,
    Option<Uuid>,
    Option<String>,
    Option<Vec<String>>,
    Option<String>,
    Option<String>,
);

/// A page of the listing; its cursor is the last id of the page.
pub(crate) async fn subscriptions(
    session: &Session,
    statements: &Statements,
    limit: usize,
    cursor: Option<&str>,
) -> Result<Page<Subscription>, ViewError> {
    let after = cursor.map(|c| c.parse::<SubscriptionId>().map_err(|_| ViewError::InvalidCursor)).transpose()?;
    if limit == 0 {
        return Ok(Page { items: Vec::new(), next: None });
    }
    // One row more than asked for says whether another page follows.
    let fetch = i32::try_from(limit.saturating_add(1)).unwrap_or(i32::MAX);
    let found: Vec<ListingRow> = match after {
        Some(after) => rows(session, &statements.listing_after, (after.as_bytes().to_vec(), fetch)).await?,
        None => rows(session, &statements.listing_first, (fetch,)).await?,
    };
    let more = found.len() > limit;
    let items = found
        .into_iter()
        .take(limit)
        .map(|row| {
            let (
                id,
                target_url,
                secret,
                event_type_filter,
                created_at,
                updated_at,
                enabled,
                disabled_reason,
                previous_secret,
                previous_secret_expires_at,
                version,
                write_id,
                tenant_id,
                event_types,
                ordering,
                delivery,
            ) = row;
            let id: [u8; 16] = id.try_into().map_err(|id: Vec<u8>| {
                ViewError::Corrupt(format!("subscriptions_listing: id of {} bytes", id.len()))
            })?;
            let columns = SubscriptionColumns {
                target_url,
                secret,
                event_type_filter,
                created_at,
                updated_at,
                enabled,
                disabled_reason,
                previous_secret,
                previous_secret_expires_at,
                version,
                write_id,
                tenant_id,
                event_types,
                ordering,
                delivery,
            };
            columns.into_subscription(SubscriptionId::from_bytes(id), "subscriptions_listing")
        })
        .collect::<Result<Vec<_>, ViewError>>()?;
    let next = if more { items.last().map(|s| s.id.to_string()) } else { None };
    Ok(Page { items, next })
}

type TaskRow = (Option<Uuid>, Option<String>, Option<DateTime<Utc>>, Option<LastAttemptUdt>);

pub(crate) async fn task(
    session: &Session,
    statements: &Statements,
    id: TaskId,
    retention: Duration,
    now: DateTime<Utc>,
) -> Result<Option<TaskView>, ViewError> {
    let found: Vec<TaskRow> = rows(session, &statements.task, (id.0,)).await?;
    let Some((Some(subscription_id), event_type, Some(created_at), last_attempt)) = found.into_iter().next() else {
        // Unknown, or only cells of a task whose identity has expired.
        return Ok(None);
    };
    let view = TaskView {
        task_id: id,
        subscription_id: SubscriptionId(subscription_id),
        event_type,
        created_at,
        last_attempt: last_attempt.map(LastAttemptUdt::into_domain).transpose()?,
    };
    Ok(live(view.last_activity(), retention, now).then_some(view))
}

pub(crate) async fn attempts_for_task(
    session: &Session,
    statements: &Statements,
    id: TaskId,
    retention: Duration,
    now: DateTime<Utc>,
) -> Result<Vec<AttemptRecorded>, ViewError> {
    let found: Vec<(Option<AttemptUdt>,)> = rows(session, &statements.attempts_of_task, (id.0,)).await?;
    found
        .into_iter()
        .filter_map(|(record,)| record)
        .filter(|record| live(record.attempted_at(), retention, now))
        .map(|record| record.into_domain(id))
        .collect()
}

/// An entry of the subscription's index: which attempt, and of when.
type IndexRow = (DateTime<Utc>, Uuid, i32);

/// Walks the subscription's days newest first, from tomorrow (attempts stamped a
/// little ahead of this clock) back to the retention horizon, until `limit`
/// attempts are found. Each index entry is checked against the task's attempt of
/// that number, which holds the winning record: an entry of a record that lost
/// (a repeated attempt, recorded at another time) is skipped.
pub(crate) async fn attempts_for_subscription(
    session: &Session,
    statements: &Statements,
    id: SubscriptionId,
    limit: usize,
    retention: Duration,
    now: DateTime<Utc>,
) -> Result<Vec<AttemptRecorded>, ViewError> {
    let mut found = Vec::with_capacity(limit.min(1024));
    if limit == 0 {
        return Ok(found);
    }
    let horizon = now.checked_sub_signed(chrono::TimeDelta::from_std(retention).unwrap_or(chrono::TimeDelta::MAX));
    let horizon = horizon.unwrap_or(DateTime::<Utc>::MIN_UTC).max(DateTime::UNIX_EPOCH);
    let (newest_day, oldest_day) = (stamps::day(now).saturating_add(1), stamps::day(horizon));
    let mut days = stream::iter((oldest_day..=newest_day).rev())
        .map(|day| index_page(session, statements, id, day, horizon, PagingState::start()))
        .buffered(DAYS_AHEAD);
    while let Some(page) = days.next().await {
        let (day, mut entries, mut paging) = page?;
        loop {
            let mut rest = &entries[..];
            while !rest.is_empty() {
                // Only as many checks as attempts still wanted: stale entries are rare.
                let (chunk, tail) = rest.split_at((limit - found.len()).min(rest.len()));
                found.extend(checked(session, statements, chunk, retention, now).await?);
                if found.len() == limit {
                    return Ok(found);
                }
                rest = tail;
            }
            let ControlFlow::Continue(state) = paging else { break };
            (_, entries, paging) = index_page(session, statements, id, day, horizon, state).await?;
        }
    }
    Ok(found)
}

type IndexPage = (i32, Vec<IndexRow>, ControlFlow<(), PagingState>);

/// One page of the subscription's index entries of `day`, newer than `horizon`.
async fn index_page(
    session: &Session,
    statements: &Statements,
    id: SubscriptionId,
    day: i32,
    horizon: DateTime<Utc>,
    paging: PagingState,
) -> Result<IndexPage, ViewError> {
    let statement = &statements.index_of_day;
    let what = statement.get_statement();
    let (result, paging) = session
        .execute_single_page(statement, (id.0, day, horizon), paging)
        .await
        .map_err(|e| error::execution(what, e))?;
    let result = result.into_rows_result().map_err(|e| error::decode(what, e))?;
    let entries = result
        .rows::<IndexRow>()
        .map_err(|e| error::decode(what, e))?
        .map(|row| row.map_err(|e| error::decode(what, e)))
        .collect::<Result<Vec<_>, ViewError>>()?;
    Ok((day, entries, paging.into_paging_control_flow()))
}

/// The attempts the entries point to, in the entries' order, without the entries
/// whose attempt now holds a record of another time or has expired.
async fn checked(
    session: &Session,
    statements: &Statements,
    entries: &[IndexRow],
    retention: Duration,
    now: DateTime<Utc>,
) -> Result<Vec<AttemptRecorded>, ViewError> {
    let records: Vec<Option<AttemptRecorded>> = stream::iter(entries.iter().copied())
        .map(|(at, task, number)| async move {
            let found: Vec<(Option<AttemptUdt>,)> = rows(session, &statements.attempt, (task, number)).await?;
            match found.into_iter().next() {
                Some((Some(record),)) if record.attempted_at() == at && live(at, retention, now) => {
                    record.into_domain(TaskId(task)).map(Some)
                }
                _ => Ok(None),
            }
        })
        .buffered(CHECKS_IN_FLIGHT)
        .try_collect()
        .await?;
    Ok(records.into_iter().flatten().collect())
}
