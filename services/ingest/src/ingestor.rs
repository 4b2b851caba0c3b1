//! The checks every webhook passes, whichever way it came in, and the TaskAccepted
//! record they produce.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use hookline_domain::events::TaskAccepted;
use hookline_domain::limits::{
    json_nests_deeper_than, validate_idempotency_key, validate_ordering_key, MAX_JSON_DEPTH,
};
use hookline_domain::signature::{self, SignedMessage};
use hookline_domain::subscription::validate_event_type;
use hookline_domain::{topics, SubscriptionId, SubscriptionState, TaskId, TaskView, TraceContext};
use hookline_log::consume::Backoff;
use hookline_log::{EventLog, NewRecord};
use hookline_lookup::SubscriptionDirectory;
use hookline_records::task_accepted_record;
use hookline_views::{ViewChange, ViewStore};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use quick_cache::sync::Cache;
use serde_json::value::RawValue;

use crate::error::IngestError;

/// One webhook as it arrives.
#[derive(Clone, Copy, Debug)]
pub struct IngestRequest<'a> {
    pub subscription_id: SubscriptionId,
    pub body: &'a [u8],
    /// The raw event-type header, if any.
    pub event_type: Option<&'a [u8]>,
    /// The raw signature header, if any.
    pub signature: Option<&'a [u8]>,
    /// The Standard Webhooks headers, when the producer signed that way (then they are
    /// checked instead of `signature`, and the message id is the idempotency key unless
    /// one is given).
    pub signed_message: Option<SignedMessage<'a>>,
    /// The producer's idempotency key, if any: it names the task (see
    /// [`idempotency_name`]), and a repeat of it is answered as a replay of the task
    /// accepted before instead of being appended again.
    pub idempotency_key: Option<&'a [u8]>,
    /// Without a key, a stable name for this webhook (see [`position_name`]): the same
    /// name always yields the same task id. `None` draws a fresh task id.
    pub dedup_name: Option<&'a [u8]>,
    /// The raw ordering key, if any (see `hookline_domain::ordering`).
    pub ordering_key: Option<&'a [u8]>,
    /// The trace its deliveries join, kept with the task (see `hookline_traces::handed_on`).
    pub trace: Option<&'a TraceContext>,
}

impl<'a> IngestRequest<'a> {
    /// The key naming this webhook's task, if any: the idempotency key, else the id of
    /// a signed message.
    pub fn task_key(&self) -> Option<&'a [u8]> {
        self.idempotency_key.or(self.signed_message.and_then(|signed| signed.id))
    }
}

/// What became of an accepted webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IngestOutcome {
    Queued(TaskId),
    /// The idempotency key named a task accepted before: nothing was appended.
    Replayed(TaskId),
    /// The subscription's filter skipped it; `None` when no event type was given.
    Filtered(Option<String>),
}

/// The dedup name of a webhook carrying an idempotency key, the same for every way in.
pub fn idempotency_name(key: &[u8]) -> Vec<u8> {
    [b"key:".as_slice(), key].concat()
}

/// The dedup name of a webhook without an idempotency key, read at a position of the log.
pub fn position_name(topic: &str, partition: u32, offset: u64) -> Vec<u8> {
    format!("log:{topic}/{partition}/{offset}").into_bytes()
}

/// A webhook that passed every check.
pub(crate) enum Checked {
    /// Its TaskAccepted record, ready to append to `hookline.deliveries`, and the task
    /// as the views show it.
    Accepted { task_id: TaskId, record: NewRecord, view: Box<TaskView> },
    /// Its idempotency key names a task accepted before.
    Replayed(TaskId),
    /// Skipped by the subscription's filter.
    Filtered(Option<String>),
}

/// Checks webhooks and appends them to the log.
pub struct Ingestor {
    log: Arc<dyn EventLog>,
    directory: Arc<SubscriptionDirectory>,
    /// Where tasks accepted earlier (by any process, within the retention) are found.
    views: Arc<dyn ViewStore>,
    /// Tasks with an idempotency key this process accepted lately: they are found here
    /// before the projector has written them to the views, and a key being appended is
    /// held by a placeholder so that a concurrent repeat waits for it.
    keyed_tasks: Cache<TaskId, ()>,
    max_body_bytes: usize,
    /// How far the timestamp of a signed message may be from now, in seconds.
    timestamp_tolerance_secs: i64,
}

/// The default of [`Ingestor::with_timestamp_tolerance`]: five minutes, as Standard Webhooks advises.
pub const DEFAULT_TIMESTAMP_TOLERANCE: Duration = Duration::from_secs(300);

/// How many recently keyed tasks a process remembers besides the views.
const KEYED_TASKS_REMEMBERED: usize = 100_000;

impl Ingestor {
    pub fn new(
        log: Arc<dyn EventLog>,
        directory: Arc<SubscriptionDirectory>,
        views: Arc<dyn ViewStore>,
        max_body_bytes: usize,
    ) -> Self {
        Self {
            log,
            directory,
            views,
            keyed_tasks: Cache::new(KEYED_TASKS_REMEMBERED),
            max_body_bytes,
            timestamp_tolerance_secs: DEFAULT_TIMESTAMP_TOLERANCE.as_secs() as i64,
        }
    }

    /// How far the timestamp of a Standard Webhooks signed message may be from now.
    pub fn with_timestamp_tolerance(mut self, tolerance: Duration) -> Self {
        self.timestamp_tolerance_secs = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
        self
    }

    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// Checks the webhook, then appends its TaskAccepted and waits until it is durable.
    pub async fn ingest(&self, request: IngestRequest<'_>) -> Result<IngestOutcome, IngestError> {
        self.ingest_admitted(request, || Ok::<(), IngestError>(())).await
    }

    /// As [`Ingestor::ingest`], asking `admit` once every check has passed (the
    /// subscription exists, the signature is good) and before anything is appended:
    /// how a rate limit is spent only on webhooks that would be accepted.
    pub async fn ingest_admitted<E: From<IngestError>>(
        &self,
        request: IngestRequest<'_>,
        admit: impl FnOnce() -> Result<(), E>,
    ) -> Result<IngestOutcome, E> {
        match self.check(&request).await? {
            Checked::Filtered(event_type) => Ok(IngestOutcome::Filtered(event_type)),
            Checked::Replayed(task_id) => Ok(IngestOutcome::Replayed(task_id)),
            Checked::Accepted { task_id, record, .. } if request.task_key().is_some() => {
                admit()?;
                // A concurrent request with the same key waits here until this one is
                // durable (then it is a replay) or has failed (then it tries itself).
                match self.keyed_tasks.get_value_or_guard_async(&task_id).await {
                    Ok(()) => Ok(IngestOutcome::Replayed(task_id)),
                    Err(guard) => {
                        self.append(record).await?;
                        let _ = guard.insert(());
                        tracing::debug!(%task_id, subscription_id = %request.subscription_id, "keyed task accepted");
                        Ok(IngestOutcome::Queued(task_id))
                    }
                }
            }
            Checked::Accepted { task_id, record, .. } => {
                admit()?;
                self.append(record).await?;
                tracing::debug!(%task_id, subscription_id = %request.subscription_id, "task accepted");
                Ok(IngestOutcome::Queued(task_id))
            }
        }
    }

    /// Appends one TaskAccepted and waits until it is durable.
    async fn append(&self, record: NewRecord) -> Result<(), IngestError> {
        let span = hookline_traces::append_span(topics::DELIVERIES, 1);
        self.log.append(vec![record]).instrument(span).await?;
        Ok(())
    }

    /// Remembers keyed tasks appended by a caller that batches its own appends.
    pub(crate) fn remember_keyed(&self, task_ids: impl IntoIterator<Item = TaskId>) {
        for task_id in task_ids {
            self.keyed_tasks.insert(task_id, ());
        }
    }

    /// Writes keyed tasks appended by the log consumer into the views, before their
    /// records are committed (see [`write_ahead`]).
    pub(crate) async fn record_keyed(&self, changes: Vec<ViewChange>, shutdown: &CancellationToken) -> bool {
        write_ahead(self.views.as_ref(), changes, shutdown).await
    }

    /// Whether a task of this id was accepted before: lately by this process, or by
    /// anyone within the retention (the views keep tasks that long).
    async fn accepted_before(&self, task_id: TaskId) -> Result<bool, IngestError> {
        if self.keyed_tasks.get(&task_id).is_some() {
            return Ok(true);
        }
        Ok(self.views.task(task_id).await?.is_some())
    }

    /// Every check of a webhook, in the order REST has always answered them, and the
    /// TaskAccepted record it becomes. Appends nothing: the caller decides how to batch.
    pub(crate) async fn check(&self, request: &IngestRequest<'_>) -> Result<Checked, IngestError> {
        if request.body.len() > self.max_body_bytes {
            return Err(IngestError::TooLarge { size: request.body.len(), limit: self.max_body_bytes });
        }
        let state = self.directory.get(request.subscription_id).await?;
        let subscription = match state.as_deref() {
            Some(SubscriptionState::Live(subscription)) => subscription,
            Some(SubscriptionState::Deleted { .. }) | None => return Err(IngestError::UnknownSubscription),
        };
        // During a rotation's grace a signature by the previous secret counts too.
        let secrets: Vec<&str> = subscription.secrets_at(Utc::now()).into_iter().map(|s| s.expose()).collect();
        if !secrets.is_empty() {
            match &request.signed_message {
                Some(signed) => signature::verify_signed_message(
                    &secrets,
                    signed,
                    request.body,
                    Utc::now().timestamp(),
                    self.timestamp_tolerance_secs,
                )?,
                None => signature::verify_ingest_any(&secrets, request.body, request.signature)?,
            }
        }
        let event_type = event_type(request.event_type)?;
        if let Some(key) = request.task_key() {
            validate_idempotency_key(key).map_err(IngestError::InvalidIdempotencyKey)?;
        }
        let ordering_key = ordering_key(request.ordering_key)?;
        let payload = json_payload(request.body)?;
        if !subscription.wants(event_type.as_deref()) {
            return Ok(Checked::Filtered(event_type));
        }
        let task_id = match (request.task_key(), request.dedup_name) {
            (Some(key), _) => {
                let task_id = TaskId::derived(subscription.id, &idempotency_name(key));
                if self.accepted_before(task_id).await? {
                    return Ok(Checked::Replayed(task_id));
                }
                task_id
            }
            (None, Some(name)) => TaskId::derived(subscription.id, name),
            (None, None) => TaskId::new(),
        };
        let accepted = TaskAccepted {
            task_id,
            subscription_id: subscription.id,
            event_type,
            accepted_at: Utc::now(),
            payload,
            event_id: None,
            ordering_key,
            trace: request.trace.cloned(),
        };
        Ok(Checked::Accepted {
            task_id,
            record: task_accepted_record(&accepted),
            view: Box::new(TaskView::from_accepted(&accepted)),
        })
    }
}

/// Writes keyed tasks or events, just appended, into the views before their records
/// are committed (or before the answer, over REST): another process that gets the same
/// key finds them there, without waiting for the projector, and answers a replay.
/// Waits while the views are unavailable; `false` when shutdown came first. The
/// projector writes the same rows again later, which changes nothing.
pub(crate) async fn write_ahead(views: &dyn ViewStore, changes: Vec<ViewChange>, shutdown: &CancellationToken) -> bool {
    if changes.is_empty() {
        return true;
    }
    let mut backoff = Backoff::new();
    loop {
        match views.apply(changes.clone()).await {
            Ok(()) => return true,
            Err(error) if error.is_retryable() => {
                tracing::warn!(%error, "writing keyed rows to the views failed, retrying");
                if !backoff.wait(shutdown).await {
                    return false;
                }
            }
            // The projector writes them too: only a repeat during its lag may slip through.
            Err(error) => {
                tracing::error!(%error, rows = changes.len(), "writing keyed rows to the views failed");
                return true;
            }
        }
    }
}

/// The body as the payload of a record: UTF-8 JSON, nested no deeper than the limit,
/// kept byte for byte.
pub(crate) fn json_payload(body: &[u8]) -> Result<Box<RawValue>, IngestError> {
    let text = std::str::from_utf8(body).map_err(|_| IngestError::NotUtf8)?;
    if json_nests_deeper_than(body, MAX_JSON_DEPTH) {
        return Err(IngestError::TooDeep);
    }
    RawValue::from_string(text.to_string()).map_err(|_| IngestError::NotJson)
}

/// A valid ordering key, or none when absent.
pub(crate) fn ordering_key(raw: Option<&[u8]>) -> Result<Option<String>, IngestError> {
    let Some(raw) = raw else { return Ok(None) };
    validate_ordering_key(raw).map_err(IngestError::InvalidOrderingKey)?;
    // Validated as printable ASCII just now.
    Ok(Some(String::from_utf8_lossy(raw).into_owned()))
}

/// The event type header, trimmed; blank counts as none.
pub(crate) fn event_type(raw: Option<&[u8]>) -> Result<Option<String>, IngestError> {
    let Some(raw) = raw else { return Ok(None) };
    let text = std::str::from_utf8(raw).map_err(|_| IngestError::InvalidEventType("must be UTF-8".into()))?.trim();
    if text.is_empty() {
        return Ok(None);
    }
    validate_event_type("event_type", text).map_err(|e| IngestError::InvalidEventType(e.message))?;
    Ok(Some(text.to_string()))
}
