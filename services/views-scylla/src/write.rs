//! Folding a batch of changes into the tables: blind, timestamped upserts (see
//! `stamps.rs`) grouped into one unlogged batch per partition and sent
//! concurrently. Nothing is read, so two projectors applying overlapping changes
//! in any order still converge.
//!
//! Subscription changes are the exception: the log accepts or refuses each by the
//! version it states ([`versions`]), so they are folded one after the other, in log
//! order, each after reading the row it applies to. One projector owns a partition
//! at a time; one that lags behind a rebalance finds the row past its change and
//! writes nothing, and its timestamps (the change's time) could not win anyway.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt, TryStreamExt};
use hookline_domain::{
    versions, AttemptRecorded, DeliverySettings, EventId, LogPosition, ReplayEvent, ReplayId, Subscription,
    SubscriptionEvent, SubscriptionId, SubscriptionState, TaskId, TaskView, TenantId, TokenId,
};
use hookline_views::{EventView, ViewChange, ViewError};
use scylla::client::session::Session;
use scylla::serialize::row::SerializeRow;
use scylla::serialize::value::SerializeValue;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::Consistency;
use scylla::value::MaybeUnset;
use uuid::Uuid;

use crate::error;
use crate::lines;
use crate::read;
use crate::replays;
use crate::rows::{cql_number, cql_position, AttemptUdt, LastAttemptUdt};
use crate::stamps;
use crate::statements::Statements;
use crate::task_listing::ALL_TASKS;

/// Batches in flight at once: enough to keep a node's CQL threads busy without
/// queueing thousands of requests behind one connection.
const IN_FLIGHT: usize = 128;
/// A batch is split before its estimated size passes this (Cassandra refuses
/// batches over 50 KiB by default).
const BATCH_BYTES: usize = 24 * 1024;
/// The estimated size of a statement's fixed columns.
const STATEMENT_BYTES: usize = 128;

type Values = Box<dyn SerializeRow + Send + Sync>;

/// The partition a statement writes: statements of one partition share a batch.
/// A task's row and its attempts share a key, so they land on the same replicas.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Partition {
    Task(TaskId),
    SubscriptionDay(SubscriptionId, i32),
    TaskHour(i32),
    TaskSubscriptionDay(SubscriptionId, i32),
    ListingBuckets(Uuid),
    Event(EventId),
    TenantMinute(TenantId, i32),
    EventBuckets(TenantId),
    Token(TokenId),
    ReplayTasks(ReplayId),
}

/// A bucket of a listing that holds entries: of a task listing (`task_listing_buckets`)
/// or of a tenant's events (`event_listing_buckets`).
#[derive(Clone, PartialEq, Eq, Hash)]
enum Bucket {
    Tasks(Uuid, i32),
    Events(TenantId, i32),
}

struct Write {
    statement: PreparedStatement,
    values: Values,
    bytes: usize,
}

/// What one `apply` will send, by partition.
#[derive(Default)]
struct Plan {
    partitions: HashMap<Partition, Vec<Write>>,
    /// The listing buckets the batch's tasks and events fall in, each with the
    /// latest expiry of its entries (as a write timestamp) and the TTL that goes
    /// with it.
    buckets: HashMap<Bucket, (i64, i32)>,
}

impl Plan {
    fn note_bucket(&mut self, bucket: Bucket, stamp: i64, ttl: i32) {
        let noted = self.buckets.entry(bucket).or_insert((stamp, ttl));
        if stamp > noted.0 {
            *noted = (stamp, ttl);
        }
    }

    fn push(&mut self, partition: Partition, statement: &PreparedStatement, values: Values, bytes: usize) {
        let write = Write { statement: statement.clone(), values, bytes: STATEMENT_BYTES + bytes };
        self.partitions.entry(partition).or_default().push(write);
    }

    /// Unlogged batches, each within one partition and under [`BATCH_BYTES`].
    fn into_batches(mut self, statements: &Statements, consistency: Consistency) -> Vec<(Batch, Vec<Values>)> {
        for (bucket, (stamp, ttl)) in std::mem::take(&mut self.buckets) {
            match bucket {
                Bucket::Tasks(listing, bucket) => {
                    let values = Box::new((listing, bucket, ttl, stamp));
                    self.push(Partition::ListingBuckets(listing), &statements.note_listing_bucket, values, 0);
                }
                Bucket::Events(tenant, minute) => {
                    let values = Box::new((tenant.as_str().to_string(), minute, ttl, stamp));
                    self.push(Partition::EventBuckets(tenant), &statements.note_event_bucket, values, 0);
                }
            }
        }
        let mut batches = Vec::new();
        for writes in self.partitions.into_values() {
            let mut current: Option<(Batch, Vec<Values>, usize)> = None;
            for write in writes {
                if let Some((batch, values, bytes)) = current.take() {
                    if bytes + write.bytes > BATCH_BYTES {
                        batches.push((batch, values));
                    } else {
                        current = Some((batch, values, bytes));
                    }
                }
                let (batch, values, bytes) = current.get_or_insert_with(|| {
                    let mut batch = Batch::new(BatchType::Unlogged);
                    batch.set_consistency(consistency);
                    batch.set_is_idempotent(true);
                    (batch, Vec::new(), 0)
                });
                batch.append_statement(write.statement);
                values.push(write.values);
                *bytes += write.bytes;
            }
            if let Some((batch, values, _)) = current {
                batches.push((batch, values));
            }
        }
        batches
    }
}

/// Applies `changes`; task, attempt and event rows already expired at `now` are skipped.
pub(crate) async fn apply(
    session: &Session,
    statements: &Statements,
    consistency: Consistency,
    retention: Duration,
    now: DateTime<Utc>,
    changes: Vec<ViewChange>,
) -> Result<(), ViewError> {
    let mut plan = Plan::default();
    // Changes to one task are merged first, so its row gets one write per batch.
    let mut tasks: HashMap<TaskId, TaskView> = HashMap::new();
    let mut payloads: HashMap<TaskId, (DateTime<Utc>, LogPosition)> = HashMap::new();
    let mut subscription_changes = Vec::new();
    let mut line_entries = Vec::new();
    let mut replay_records: HashMap<ReplayId, Vec<ReplayEvent>> = HashMap::new();
    for change in changes {
        match change {
            ViewChange::Subscription(event) => subscription_changes.push(event),
            ViewChange::Task { task, payload_at } => {
                keep(&mut payloads, task.task_id, task.created_at, payload_at);
                if stamps::ttl_secs(stamps::expiry(task.last_activity(), retention), now).is_some() {
                    fold(&mut tasks, task);
                }
            }
            ViewChange::DeadLettered { task, failed_at, payload_at } => {
                keep(&mut payloads, task.task_id, failed_at, payload_at)
            }
            ViewChange::Attempt(attempt) => {
                let Some(ttl) = stamps::ttl_secs(stamps::expiry(attempt.attempted_at, retention), now) else {
                    continue;
                };
                fold(&mut tasks, TaskView::from_attempt(&attempt));
                plan_attempt(&mut plan, statements, &attempt, ttl);
                if let Some((replay, values)) = replays::task_outcome(&attempt, ttl) {
                    plan.push(Partition::ReplayTasks(replay), &statements.put_replay_task, Box::new(values), 0);
                }
            }
            ViewChange::Event(event) => plan_event(&mut plan, statements, &event, retention, now),
            ViewChange::Replay(event) => replay_records.entry(event.replay_id()).or_default().push(event),
            ViewChange::TokenUsed { token_id, at } => {
                let values = Box::new((stamps::token_use(at), at, token_id.0));
                plan.push(Partition::Token(token_id), &statements.token_used, values, 0);
            }
            ViewChange::JoinedLine(entry) => line_entries.push(entry),
        }
    }
    for view in tasks.into_values() {
        plan_task(&mut plan, statements, &view, retention, now);
    }
    for (task_id, (at, position)) in payloads {
        if let Some(ttl) = stamps::ttl_secs(stamps::expiry(at, retention), now) {
            let bytes = position.topic.len() + 12;
            let (topic, partition, offset) = cql_position(&position);
            let values = Box::new((ttl, stamps::lives_from(at), topic, partition, offset, task_id.0));
            plan.push(Partition::Task(task_id), &statements.put_payload_position, values, bytes);
        }
    }

    for event in &subscription_changes {
        apply_subscription(session, statements, event).await?;
    }

    // Built before they enter the stream: a closure over the boxed values inside
    // the stream's type trips the compiler's Send check of `apply`'s future.
    let sends: Vec<_> =
        plan.into_batches(statements, consistency).into_iter().map(|(b, v)| send(session, b, v)).collect();
    stream::iter(sends).buffer_unordered(IN_FLIGHT).try_for_each(|()| async { Ok(()) }).await?;
    lines::join(session, statements, consistency, retention, now, line_entries).await?;
    replays::fold(session, statements, consistency, retention, now, replay_records).await
}

async fn send(session: &Session, batch: Batch, values: Vec<Values>) -> Result<(), ViewError> {
    session.batch(&batch, values).await.map_err(|e| error::execution("apply view changes", e))?;
    Ok(())
}

/// Keeps the latest-stamped payload position of each task: its write wins and expires last.
fn keep(
    payloads: &mut HashMap<TaskId, (DateTime<Utc>, LogPosition)>,
    task_id: TaskId,
    at: DateTime<Utc>,
    position: LogPosition,
) {
    if payloads.get(&task_id).is_none_or(|(kept_at, _)| *kept_at < at) {
        payloads.insert(task_id, (at, position));
    }
}

fn fold(tasks: &mut HashMap<TaskId, TaskView>, view: TaskView) {
    let merged = match tasks.remove(&view.task_id) {
        Some(known) => known.merge(view),
        None => view,
    };
    tasks.insert(merged.task_id, merged);
}

fn listing_key(id: SubscriptionId) -> Vec<u8> {
    id.as_bytes().to_vec()
}

/// The values of a subscription upsert, keyed by `key` (the id as each table stores
/// it), bound in the statement's order. A row struct rather than a tuple: the driver
/// serializes tuples of at most 16 values, and an upsert binds 17.
#[derive(scylla::SerializeRow)]
#[scylla(flavor = "enforce_order", skip_name_checks)]
struct UpsertValues<K: SerializeValue> {
    stamp: i64,
    target_url: String,
    secret: Option<String>,
    event_type_filter: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    enabled: bool,
    disabled_reason: Option<String>,
    previous_secret: Option<String>,
    previous_secret_expires_at: Option<DateTime<Utc>>,
    version: i64,
    write_id: Option<Uuid>,
    tenant_id: String,
    event_types: Option<Vec<String>>,
    ordering: Option<&'static str>,
    delivery: Option<String>,
    key: K,
}

fn upsert_values<K: SerializeValue>(subscription: &Subscription, key: K) -> UpsertValues<K> {
    UpsertValues {
        stamp: stamps::subscription_upsert(subscription.updated_at),
        target_url: subscription.target_url.clone(),
        secret: subscription.secret.as_ref().map(|s| s.expose().to_string()),
        event_type_filter: subscription.event_type_filter.clone(),
        created_at: subscription.created_at,
        updated_at: subscription.updated_at,
        enabled: subscription.enabled,
        disabled_reason: subscription.disabled_reason.clone(),
        // Secrets are stored as the event carries them: sealed text when a key is set.
        previous_secret: subscription.previous_secret.as_ref().map(|s| s.expose().to_string()),
        previous_secret_expires_at: subscription.previous_secret_expires_at,
        version: i64::try_from(subscription.version).unwrap_or(i64::MAX),
        write_id: subscription.write_id,
        tenant_id: subscription.tenant_id.as_str().to_string(),
        event_types: subscription
            .event_types
            .as_ref()
            .map(|patterns| patterns.iter().map(|p| p.as_str().to_string()).collect()),
        // The default is left null, as rows written before the field existed have it.
        ordering: (!subscription.ordering.is_none()).then(|| subscription.ordering.as_str()),
        // As the event carries them: header values sealed when a key is set.
        delivery: (!subscription.delivery.is_default()).then(|| delivery_text(&subscription.delivery)),
        key,
    }
}

/// The delivery settings as stored: their JSON, which cannot fail to encode.
fn delivery_text(settings: &DeliverySettings) -> String {
    serde_json::to_string(settings).unwrap_or_default()
}

async fn execute(session: &Session, statement: &PreparedStatement, values: Values) -> Result<(), ViewError> {
    session.execute_unpaged(statement, values).await.map_err(|e| error::execution("apply a subscription change", e))?;
    Ok(())
}

/// Reads what the views hold of the change's subscription and writes what the log
/// makes of the change: nothing when it is refused.
async fn apply_subscription(
    session: &Session,
    statements: &Statements,
    event: &SubscriptionEvent,
) -> Result<(), ViewError> {
    let id = event.subscription_id();
    let current = read::subscription(session, statements, id).await?;
    let Some(next) = versions::apply(current.as_ref(), event) else {
        return Ok(());
    };
    // Which write made the version goes first: a writer that sees the deletion (after
    // which nothing is written) must find its write here if it was the deletion.
    if let Some(write_id) = event.write_id() {
        let version = i64::try_from(event.version()).unwrap_or(i64::MAX);
        execute(session, &statements.put_subscription_write, Box::new((id.0, version, write_id))).await?;
    }
    match next {
        SubscriptionState::Live(subscription) => {
            execute(session, &statements.upsert_subscription, Box::new(upsert_values(&subscription, id.0))).await?;
            execute(session, &statements.upsert_listing, Box::new(upsert_values(&subscription, listing_key(id))))
                .await?;
        }
        SubscriptionState::Deleted { deleted_at, .. } => {
            let stamp = stamps::subscription_delete(deleted_at);
            execute(session, &statements.delete_subscription, Box::new((stamp, deleted_at, id.0))).await?;
            execute(session, &statements.delete_listing, Box::new((stamp, listing_key(id)))).await?;
        }
    }
    Ok(())
}

/// The attempt's row by task, and its entry in the subscription's index of the day.
fn plan_attempt(plan: &mut Plan, statements: &Statements, attempt: &AttemptRecorded, ttl: i32) {
    let stamp = stamps::attempt_rank(attempt.attempt_number, attempt.outcome, attempt.attempted_at);
    let (task, number) = (attempt.task_id, cql_number(attempt.attempt_number));
    let bytes = attempt.response_body.as_ref().map_or(0, String::len) + attempt.error.as_ref().map_or(0, String::len);
    plan.push(
        Partition::Task(task),
        &statements.put_attempt,
        Box::new((ttl, stamp, AttemptUdt::from_domain(attempt), task.0, number)),
        bytes,
    );
    let day = stamps::day(attempt.attempted_at);
    plan.push(
        Partition::SubscriptionDay(attempt.subscription_id, day),
        &statements.index_attempt,
        Box::new((attempt.subscription_id.0, day, attempt.attempted_at, task.0, number, ttl)),
        0,
    );
}

/// The task's identity cells, if it has one its latest attempt, and its entries in
/// the task listings, all living until the task's last activity plus the retention.
fn plan_task(plan: &mut Plan, statements: &Statements, view: &TaskView, retention: Duration, now: DateTime<Utc>) {
    let expires = stamps::expiry(view.last_activity(), retention);
    let Some(ttl) = stamps::ttl_secs(expires, now) else {
        return;
    };
    let event_type = match &view.event_type {
        Some(event_type) => MaybeUnset::Set(event_type.clone()),
        None => MaybeUnset::Unset,
    };
    let id: Uuid = view.task_id.0;
    plan.push(
        Partition::Task(view.task_id),
        &statements.task_identity,
        Box::new((
            ttl,
            stamps::task_identity(view.created_at),
            view.subscription_id.0,
            event_type,
            view.created_at,
            id,
        )),
        0,
    );
    plan_listing(plan, statements, view, expires, ttl);
    if let Some(last) = &view.last_attempt {
        let stamp = stamps::attempt_rank(last.number, last.outcome, last.at);
        plan.push(
            Partition::Task(view.task_id),
            &statements.task_last_attempt,
            Box::new((ttl, stamp, LastAttemptUdt::from_domain(last), id)),
            last.error.as_ref().map_or(0, String::len),
        );
    }
}

/// The task's entries in both listings, and the buckets they fall in; all expire at `expires`.
fn plan_listing(plan: &mut Plan, statements: &Statements, view: &TaskView, expires: DateTime<Utc>, ttl: i32) {
    let stamp = stamps::lives_from(view.last_activity());
    let id = view.task_id.as_bytes().to_vec();
    let (hour, day) = (stamps::hour(view.created_at), stamps::day(view.created_at));
    plan.push(
        Partition::TaskHour(hour),
        &statements.list_task_by_hour,
        Box::new((hour, view.created_at, id.clone(), ttl, stamp)),
        0,
    );
    plan.push(
        Partition::TaskSubscriptionDay(view.subscription_id, day),
        &statements.list_task_by_subscription,
        Box::new((view.subscription_id.0, day, view.created_at, id, ttl, stamp)),
        0,
    );
    plan.note_bucket(Bucket::Tasks(ALL_TASKS, hour), stamps::lives_until(expires), ttl);
    plan.note_bucket(Bucket::Tasks(view.subscription_id.0, day), stamps::lives_until(expires), ttl);
}

/// The event's row, its entry in its tenant's listing and the minute that entry is
/// in, all living until its acceptance plus the retention.
fn plan_event(plan: &mut Plan, statements: &Statements, event: &EventView, retention: Duration, now: DateTime<Utc>) {
    let expires = stamps::expiry(event.accepted_at, retention);
    let Some(ttl) = stamps::ttl_secs(expires, now) else {
        return;
    };
    let tenant = event.tenant_id.as_str().to_string();
    let idempotency_key = match &event.idempotency_key {
        Some(key) => MaybeUnset::Set(key.clone()),
        None => MaybeUnset::Unset,
    };
    let subscriptions: Vec<Uuid> = event.subscriptions.iter().map(|sub| sub.0).collect();
    let (topic, partition, offset) = cql_position(&event.payload_at);
    let bytes = tenant.len() + event.event_type.len() + topic.len() + 16 * subscriptions.len();
    let row = (
        ttl,
        stamps::event_record(event.payload_at.partition, event.payload_at.offset),
        tenant.clone(),
        event.event_type.clone(),
        event.accepted_at,
        idempotency_key,
        subscriptions,
        topic,
        partition,
        offset,
        event.event_id.0,
    );
    plan.push(Partition::Event(event.event_id), &statements.put_event, Box::new(row), bytes);
    let minute = stamps::minute(event.accepted_at);
    let entry = (
        tenant,
        minute,
        event.accepted_at,
        event.event_id.as_bytes().to_vec(),
        ttl,
        stamps::lives_from(event.accepted_at),
    );
    plan.push(Partition::TenantMinute(event.tenant_id.clone(), minute), &statements.list_event, Box::new(entry), 0);
    plan.note_bucket(Bucket::Events(event.tenant_id.clone(), minute), stamps::lives_until(expires), ttl);
}
