//! Every statement the adapter runs, prepared once at connect.

use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::Consistency;

use hookline_views::ViewError;

use crate::error;
use crate::lines;

/// Page size of the index walks (a subscription's attempts, the task and event
/// listings): index rows are a few dozen bytes, so a page is cheap even when the
/// caller wants one row.
pub(crate) const INDEX_PAGE: i32 = 200;

pub(crate) struct Statements {
    pub(crate) upsert_subscription: PreparedStatement,
    pub(crate) delete_subscription: PreparedStatement,
    pub(crate) upsert_listing: PreparedStatement,
    pub(crate) delete_listing: PreparedStatement,
    pub(crate) task_identity: PreparedStatement,
    pub(crate) task_last_attempt: PreparedStatement,
    pub(crate) put_attempt: PreparedStatement,
    pub(crate) index_attempt: PreparedStatement,
    pub(crate) subscription: PreparedStatement,
    pub(crate) put_subscription_write: PreparedStatement,
    pub(crate) subscription_write: PreparedStatement,
    pub(crate) listing_first: PreparedStatement,
    pub(crate) listing_after: PreparedStatement,
    pub(crate) task: PreparedStatement,
    pub(crate) attempts_of_task: PreparedStatement,
    pub(crate) attempt: PreparedStatement,
    pub(crate) index_of_day: PreparedStatement,
    pub(crate) put_payload_position: PreparedStatement,
    pub(crate) list_task_by_hour: PreparedStatement,
    pub(crate) list_task_by_subscription: PreparedStatement,
    pub(crate) note_listing_bucket: PreparedStatement,
    pub(crate) payload_position: PreparedStatement,
    pub(crate) listing_buckets: PreparedStatement,
    pub(crate) tasks_of_hour: PreparedStatement,
    pub(crate) tasks_of_subscription_day: PreparedStatement,
    pub(crate) put_event: PreparedStatement,
    pub(crate) list_event: PreparedStatement,
    pub(crate) note_event_bucket: PreparedStatement,
    pub(crate) event: PreparedStatement,
    pub(crate) event_buckets: PreparedStatement,
    pub(crate) events_of_minute: PreparedStatement,
    pub(crate) token_used: PreparedStatement,
    pub(crate) tokens_last_used: PreparedStatement,
    pub(crate) put_line_entry: PreparedStatement,
    pub(crate) put_line_place: PreparedStatement,
    pub(crate) line_place: PreparedStatement,
    pub(crate) line_up_to: PreparedStatement,
    pub(crate) line_before: PreparedStatement,
    pub(crate) replay_request: PreparedStatement,
    pub(crate) replay_progress: PreparedStatement,
    pub(crate) replay_all_queued: PreparedStatement,
    pub(crate) replay_cancelled: PreparedStatement,
    pub(crate) replay_ended: PreparedStatement,
    pub(crate) replay_activity: PreparedStatement,
    pub(crate) put_replay_task: PreparedStatement,
    pub(crate) list_replay: PreparedStatement,
    pub(crate) note_replay_bucket: PreparedStatement,
    pub(crate) replay: PreparedStatement,
    pub(crate) replay_task_outcomes: PreparedStatement,
    pub(crate) replay_buckets: PreparedStatement,
    pub(crate) replays_of_day: PreparedStatement,
}

/// Page size of a replay's task outcomes, counted at each read: rows of a few bytes.
pub(crate) const OUTCOMES_PAGE: i32 = 5000;

/// Created and Updated carry the whole subscription and clear a tombstone written
/// at an earlier time.
const UPSERT_SUBSCRIPTION: &str = "UPDATE subscriptions USING TIMESTAMP ? \
     SET target_url = ?, secret = ?, event_type_filter = ?, created_at = ?, updated_at = ?, enabled = ?, \
     disabled_reason = ?, previous_secret = ?, previous_secret_expires_at = ?, version = ?, write_id = ?, \
     tenant_id = ?, event_types = ?, ordering = ?, delivery = ?, deleted_at = null WHERE id = ?";
const DELETE_SUBSCRIPTION: &str = "UPDATE subscriptions USING TIMESTAMP ? SET deleted_at = ? WHERE id = ?";
const UPSERT_LISTING: &str = "UPDATE subscriptions_listing USING TIMESTAMP ? \
     SET target_url = ?, secret = ?, event_type_filter = ?, created_at = ?, updated_at = ?, enabled = ?, \
     disabled_reason = ?, previous_secret = ?, previous_secret_expires_at = ?, version = ?, write_id = ?, \
     tenant_id = ?, event_types = ?, ordering = ?, delivery = ? WHERE shard = 0 AND id = ?";
const DELETE_LISTING: &str = "DELETE FROM subscriptions_listing USING TIMESTAMP ? WHERE shard = 0 AND id = ?";
/// `event_type` is bound as unset when the event has none, so that it never
/// erases one another event knew.
const TASK_IDENTITY: &str = "UPDATE delivery_tasks USING TTL ? AND TIMESTAMP ? \
     SET subscription_id = ?, event_type = ?, created_at = ? WHERE task_id = ?";
const TASK_LAST_ATTEMPT: &str =
    "UPDATE delivery_tasks USING TTL ? AND TIMESTAMP ? SET last_attempt = ? WHERE task_id = ?";
const PUT_ATTEMPT: &str = "UPDATE attempts_by_task USING TTL ? AND TIMESTAMP ? SET record = ? \
     WHERE task_id = ? AND attempt_number = ?";
const INDEX_ATTEMPT: &str = "INSERT INTO attempts_by_subscription \
     (subscription_id, day, attempted_at, task_id, attempt_number) VALUES (?, ?, ?, ?, ?) USING TTL ?";
const PUT_PAYLOAD_POSITION: &str =
    "UPDATE task_payload_positions USING TTL ? AND TIMESTAMP ? SET topic = ?, log_partition = ?, log_offset = ? WHERE task_id = ?";
const LIST_TASK_BY_HOUR: &str = "INSERT INTO tasks_by_hour (hour, created_at, task_id) VALUES (?, ?, ?) \
     USING TTL ? AND TIMESTAMP ?";
const LIST_TASK_BY_SUBSCRIPTION: &str = "INSERT INTO tasks_by_subscription \
     (subscription_id, day, created_at, task_id) VALUES (?, ?, ?, ?) USING TTL ? AND TIMESTAMP ?";
const NOTE_LISTING_BUCKET: &str =
    "INSERT INTO task_listing_buckets (listing, bucket) VALUES (?, ?) USING TTL ? AND TIMESTAMP ?";

const SUBSCRIPTION: &str = "SELECT target_url, secret, event_type_filter, created_at, updated_at, deleted_at, \
     enabled, disabled_reason, previous_secret, previous_secret_expires_at, version, write_id, tenant_id, event_types, \
     ordering, delivery FROM subscriptions WHERE id = ?";
const PUT_SUBSCRIPTION_WRITE: &str = "INSERT INTO subscription_writes (id, version, write_id) VALUES (?, ?, ?)";
const SUBSCRIPTION_WRITE: &str = "SELECT write_id FROM subscription_writes WHERE id = ? AND version = ?";
const LISTING_FIRST: &str = "SELECT id, target_url, secret, event_type_filter, created_at, updated_at, enabled, \
     disabled_reason, previous_secret, previous_secret_expires_at, version, write_id, tenant_id, event_types, \
     ordering, delivery FROM subscriptions_listing WHERE shard = 0 LIMIT ?";
const LISTING_AFTER: &str = "SELECT id, target_url, secret, event_type_filter, created_at, updated_at, enabled, \
     disabled_reason, previous_secret, previous_secret_expires_at, version, write_id, tenant_id, event_types, \
     ordering, delivery FROM subscriptions_listing WHERE shard = 0 AND id > ? LIMIT ?";
const TASK: &str = "SELECT subscription_id, event_type, created_at, last_attempt FROM delivery_tasks WHERE task_id = ?";
const ATTEMPTS_OF_TASK: &str = "SELECT record FROM attempts_by_task WHERE task_id = ?";
const ATTEMPT: &str = "SELECT record FROM attempts_by_task WHERE task_id = ? AND attempt_number = ?";
const INDEX_OF_DAY: &str = "SELECT attempted_at, task_id, attempt_number FROM attempts_by_subscription \
     WHERE subscription_id = ? AND day = ? AND attempted_at > ?";
const PAYLOAD_POSITION: &str =
    "SELECT topic, log_partition, log_offset, WRITETIME(topic) FROM task_payload_positions WHERE task_id = ?";
const LISTING_BUCKETS: &str = "SELECT bucket FROM task_listing_buckets WHERE listing = ? AND bucket <= ?";
/// Entries strictly after a position, in listing order (a page's first read starts
/// after a position greater than any).
const TASKS_OF_HOUR: &str = "SELECT created_at, task_id FROM tasks_by_hour \
     WHERE hour = ? AND (created_at, task_id) < (?, ?)";
const TASKS_OF_SUBSCRIPTION_DAY: &str = "SELECT created_at, task_id FROM tasks_by_subscription \
     WHERE subscription_id = ? AND day = ? AND (created_at, task_id) < (?, ?)";
/// `idempotency_key` is bound as unset when the event has none: no tombstone.
const PUT_EVENT: &str = "UPDATE events USING TTL ? AND TIMESTAMP ? SET tenant_id = ?, event_type = ?, \
     accepted_at = ?, idempotency_key = ?, subscriptions = ?, topic = ?, log_partition = ?, log_offset = ? \
     WHERE event_id = ?";
const LIST_EVENT: &str = "INSERT INTO events_by_tenant (tenant_id, minute, accepted_at, event_id) \
     VALUES (?, ?, ?, ?) USING TTL ? AND TIMESTAMP ?";
const NOTE_EVENT_BUCKET: &str =
    "INSERT INTO event_listing_buckets (tenant_id, minute) VALUES (?, ?) USING TTL ? AND TIMESTAMP ?";
const EVENT: &str = "SELECT tenant_id, event_type, accepted_at, idempotency_key, subscriptions, topic, \
     log_partition, log_offset FROM events WHERE event_id = ?";
const EVENT_BUCKETS: &str = "SELECT minute FROM event_listing_buckets WHERE tenant_id = ? AND minute <= ?";
/// Entries strictly after a position, in listing order, as for tasks.
const EVENTS_OF_MINUTE: &str = "SELECT accepted_at, event_id FROM events_by_tenant \
     WHERE tenant_id = ? AND minute = ? AND (accepted_at, event_id) < (?, ?)";
const TOKEN_USED: &str = "UPDATE tokens_last_used USING TIMESTAMP ? SET used_at = ? WHERE token_id = ?";
const TOKENS_LAST_USED: &str = "SELECT token_id, used_at FROM tokens_last_used WHERE token_id IN ?";
const REPLAY_REQUEST: &str = "UPDATE replays USING TTL ? AND TIMESTAMP ? SET request = ? WHERE replay_id = ?";
const REPLAY_PROGRESS: &str = "UPDATE replays USING TTL ? AND TIMESTAMP ? SET progress = ? WHERE replay_id = ?";
const REPLAY_ALL_QUEUED: &str = "UPDATE replays USING TTL ? AND TIMESTAMP ? SET all_queued = true WHERE replay_id = ?";
const REPLAY_CANCELLED: &str = "UPDATE replays USING TTL ? AND TIMESTAMP ? SET cancelled_at = ? WHERE replay_id = ?";
const REPLAY_ENDED: &str = "UPDATE replays USING TTL ? AND TIMESTAMP ? SET ended = ? WHERE replay_id = ?";
const REPLAY_ACTIVITY: &str = "UPDATE replays USING TTL ? AND TIMESTAMP ? SET last_activity = ? WHERE replay_id = ?";
const PUT_REPLAY_TASK: &str =
    "UPDATE replay_tasks USING TTL ? AND TIMESTAMP ? SET best = ? WHERE replay_id = ? AND task_id = ?";
const LIST_REPLAY: &str = "INSERT INTO replays_by_day (listing, day, requested_at, replay_id) VALUES (?, ?, ?, ?) \
     USING TTL ? AND TIMESTAMP ?";
const NOTE_REPLAY_BUCKET: &str =
    "INSERT INTO replay_listing_buckets (listing, day) VALUES (?, ?) USING TTL ? AND TIMESTAMP ?";
const REPLAY: &str =
    "SELECT request, progress, all_queued, cancelled_at, ended, last_activity FROM replays WHERE replay_id = ?";
const REPLAY_TASK_OUTCOMES: &str = "SELECT best FROM replay_tasks WHERE replay_id = ?";
const REPLAY_BUCKETS: &str = "SELECT day FROM replay_listing_buckets WHERE listing = ? AND day <= ?";
/// Entries strictly after a position, in listing order, as for tasks.
const REPLAYS_OF_DAY: &str = "SELECT requested_at, replay_id FROM replays_by_day \
     WHERE listing = ? AND day = ? AND (requested_at, replay_id) < (?, ?)";

impl Statements {
    pub(crate) async fn prepare(session: &Session, consistency: Consistency) -> Result<Self, ViewError> {
        let prepare = |text: &'static str| async move {
            let mut statement = session.prepare(text).await.map_err(|e| error::prepare(text, e))?;
            statement.set_consistency(consistency);
            // Every write is a blind upsert with its own timestamp: repeating it is harmless.
            statement.set_is_idempotent(true);
            Ok::<_, ViewError>(statement)
        };
        let mut index_of_day = prepare(INDEX_OF_DAY).await?;
        index_of_day.set_page_size(INDEX_PAGE);
        let mut tasks_of_hour = prepare(TASKS_OF_HOUR).await?;
        tasks_of_hour.set_page_size(INDEX_PAGE);
        let mut tasks_of_subscription_day = prepare(TASKS_OF_SUBSCRIPTION_DAY).await?;
        tasks_of_subscription_day.set_page_size(INDEX_PAGE);
        let mut events_of_minute = prepare(EVENTS_OF_MINUTE).await?;
        events_of_minute.set_page_size(INDEX_PAGE);
        let mut replays_of_day = prepare(REPLAYS_OF_DAY).await?;
        replays_of_day.set_page_size(INDEX_PAGE);
        let mut replay_task_outcomes = prepare(REPLAY_TASK_OUTCOMES).await?;
        replay_task_outcomes.set_page_size(OUTCOMES_PAGE);
        Ok(Self {
            upsert_subscription: prepare(UPSERT_SUBSCRIPTION).await?,
            delete_subscription: prepare(DELETE_SUBSCRIPTION).await?,
            upsert_listing: prepare(UPSERT_LISTING).await?,
            delete_listing: prepare(DELETE_LISTING).await?,
            task_identity: prepare(TASK_IDENTITY).await?,
            task_last_attempt: prepare(TASK_LAST_ATTEMPT).await?,
            put_attempt: prepare(PUT_ATTEMPT).await?,
            index_attempt: prepare(INDEX_ATTEMPT).await?,
            subscription: prepare(SUBSCRIPTION).await?,
            put_subscription_write: prepare(PUT_SUBSCRIPTION_WRITE).await?,
            subscription_write: prepare(SUBSCRIPTION_WRITE).await?,
            listing_first: prepare(LISTING_FIRST).await?,
            listing_after: prepare(LISTING_AFTER).await?,
            task: prepare(TASK).await?,
            attempts_of_task: prepare(ATTEMPTS_OF_TASK).await?,
            attempt: prepare(ATTEMPT).await?,
            index_of_day,
            put_payload_position: prepare(PUT_PAYLOAD_POSITION).await?,
            list_task_by_hour: prepare(LIST_TASK_BY_HOUR).await?,
            list_task_by_subscription: prepare(LIST_TASK_BY_SUBSCRIPTION).await?,
            note_listing_bucket: prepare(NOTE_LISTING_BUCKET).await?,
            payload_position: prepare(PAYLOAD_POSITION).await?,
            listing_buckets: prepare(LISTING_BUCKETS).await?,
            tasks_of_hour,
            tasks_of_subscription_day,
            put_event: prepare(PUT_EVENT).await?,
            list_event: prepare(LIST_EVENT).await?,
            note_event_bucket: prepare(NOTE_EVENT_BUCKET).await?,
            event: prepare(EVENT).await?,
            event_buckets: prepare(EVENT_BUCKETS).await?,
            events_of_minute,
            token_used: prepare(TOKEN_USED).await?,
            tokens_last_used: prepare(TOKENS_LAST_USED).await?,
            put_line_entry: prepare(lines::PUT_LINE_ENTRY).await?,
            put_line_place: prepare(lines::PUT_LINE_PLACE).await?,
            line_place: prepare(lines::LINE_PLACE).await?,
            line_up_to: prepare(lines::LINE_UP_TO).await?,
            line_before: prepare(lines::LINE_BEFORE).await?,
            replay_request: prepare(REPLAY_REQUEST).await?,
            replay_progress: prepare(REPLAY_PROGRESS).await?,
            replay_all_queued: prepare(REPLAY_ALL_QUEUED).await?,
            replay_cancelled: prepare(REPLAY_CANCELLED).await?,
            replay_ended: prepare(REPLAY_ENDED).await?,
            replay_activity: prepare(REPLAY_ACTIVITY).await?,
            put_replay_task: prepare(PUT_REPLAY_TASK).await?,
            list_replay: prepare(LIST_REPLAY).await?,
            note_replay_bucket: prepare(NOTE_REPLAY_BUCKET).await?,
            replay: prepare(REPLAY).await?,
            replay_task_outcomes,
            replay_buckets: prepare(REPLAY_BUCKETS).await?,
            replays_of_day,
        })
    }
}
