//! The checks every event sent to a tenant passes, whichever way it came in (REST
//! `POST /api/v1/events` or a record of `hookline.events`), and the one
//! `EventAccepted` record it becomes: the subscriptions it goes to are chosen here,
//! at acceptance, from the routing index; expanding it into tasks happens later, in
//! the fan-out role.

use std::sync::Arc;

use chrono::Utc;
use hookline_domain::limits::{validate_idempotency_key, ENVELOPE_ROOM_BYTES};
use hookline_domain::operational::is_operational_type;
use hookline_domain::{topics, EventAccepted, EventId, LogPosition, TaskId, TenantId, TraceContext};
use hookline_log::{Appended, EventLog, NewRecord};
use hookline_records::event_accepted_record;
use hookline_routing::Directory;
use hookline_views::{EventView, ViewChange, ViewStore};
use quick_cache::sync::Cache;
use tracing::Instrument;

use crate::error::IngestError;
use crate::ingestor::{event_type, idempotency_name, json_payload, ordering_key};

/// One event as it arrives.
#[derive(Clone, Copy, Debug)]
pub struct EventRequest<'a> {
    pub tenant: &'a TenantId,
    /// The raw event-type header; required.
    pub event_type: Option<&'a [u8]>,
    pub body: &'a [u8],
    /// The producer's idempotency key, if any: it names the event
    /// ([`EventId::derived`] from the tenant and `"key:" + key`), and a repeat within
    /// the retention is answered with the event accepted before.
    pub idempotency_key: Option<&'a [u8]>,
    /// Without a key, a stable name for this event (the position of the record it was
    /// read from): the same name always yields the same event id. `None` draws a fresh one.
    pub dedup_name: Option<&'a [u8]>,
    /// The raw ordering key, if any: each of its tasks carries it.
    pub ordering_key: Option<&'a [u8]>,
    /// The trace its deliveries join, kept with the event (see `hookline_traces::handed_on`).
    pub trace: Option<&'a TraceContext>,
}

/// What became of an accepted event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventOutcome {
    /// Appended: one task per subscription that wanted it (none at all is fine).
    Accepted { event_id: EventId, task_ids: Vec<TaskId> },
    /// Its idempotency key named an event accepted before: nothing was appended, and
    /// these are that event's tasks.
    Replayed { event_id: EventId, task_ids: Vec<TaskId> },
}

/// An event that passed every check.
pub(crate) enum CheckedEvent {
    Accepted { event: Box<EventAccepted>, record: NewRecord },
    Replayed { event_id: EventId, task_ids: Vec<TaskId> },
}

/// How many recently keyed events a process remembers besides the views.
const KEYED_EVENTS_REMEMBERED: usize = 50_000;

/// Bytes an EventAccepted spends on each subscription it lists (a quoted UUID and a comma).
const BYTES_PER_LISTED_SUBSCRIPTION: usize = 39;

/// Checks events sent to tenants and appends them to the log.
pub struct EventIntake {
    log: Arc<dyn EventLog>,
    routing: Arc<Directory>,
    /// Where events accepted earlier (by any process, within the retention) are found.
    views: Arc<dyn ViewStore>,
    /// Keyed events this process accepted lately, with their tasks; a key being
    /// appended is held by a placeholder so that a concurrent repeat waits for it.
    keyed_events: Cache<EventId, Arc<Vec<TaskId>>>,
    max_body_bytes: usize,
}

impl EventIntake {
    pub fn new(
        log: Arc<dyn EventLog>,
        routing: Arc<Directory>,
        views: Arc<dyn ViewStore>,
        max_body_bytes: usize,
    ) -> Self {
        Self { log, routing, views, keyed_events: Cache::new(KEYED_EVENTS_REMEMBERED), max_body_bytes }
    }

    /// Checks the event, then appends its EventAccepted and waits until it is durable.
    pub async fn accept(&self, request: EventRequest<'_>) -> Result<EventOutcome, IngestError> {
        self.accept_admitted(request, || Ok::<(), IngestError>(())).await
    }

    /// As [`EventIntake::accept`], asking `admit` once every check has passed and
    /// before anything is appended: how a rate limit is spent only on events that
    /// would be accepted.
    pub async fn accept_admitted<E: From<IngestError>>(
        &self,
        request: EventRequest<'_>,
        admit: impl FnOnce() -> Result<(), E>,
    ) -> Result<EventOutcome, E> {
        let (event, record) = match self.check(&request).await? {
            CheckedEvent::Replayed { event_id, task_ids } => return Ok(EventOutcome::Replayed { event_id, task_ids }),
            CheckedEvent::Accepted { event, record } => (event, record),
        };
        admit()?;
        let (event_id, task_ids) = (event.event_id, event.task_ids());
        if event.idempotency_key.is_none() {
            self.append(record).await?;
            tracing::debug!(%event_id, tenant_id = %event.tenant_id, tasks = task_ids.len(), "event accepted");
            return Ok(EventOutcome::Accepted { event_id, task_ids });
        }
        // A concurrent request with the same key waits here until this one is durable
        // (then it is a replay) or has failed (then it tries itself).
        match self.keyed_events.get_value_or_guard_async(&event_id).await {
            Ok(earlier) => Ok(EventOutcome::Replayed { event_id, task_ids: earlier.as_ref().clone() }),
            Err(guard) => {
                let appended = self.append(record).await?;
                let _ = guard.insert(Arc::new(task_ids.clone()));
                tracing::debug!(%event_id, tenant_id = %event.tenant_id, tasks = task_ids.len(), "keyed event accepted");
                self.write_ahead(&event, &appended[0]).await;
                Ok(EventOutcome::Accepted { event_id, task_ids })
            }
        }
    }

    /// Appends one EventAccepted and waits until it is durable.
    async fn append(&self, record: NewRecord) -> Result<Vec<Appended>, IngestError> {
        let span = hookline_traces::append_span(topics::FANOUT, 1);
        Ok(self.log.append(vec![record]).instrument(span).await?)
    }

    /// Writes a keyed event just appended into the views, so that another process that
    /// gets its key answers a replay without waiting for the projector. Once: if the views
    /// fail, the projector writes it a moment later, and only a repeat on another process
    /// meanwhile would slip through.
    async fn write_ahead(&self, event: &EventAccepted, appended: &Appended) {
        let at =
            LogPosition { topic: topics::FANOUT.to_string(), partition: appended.partition, offset: appended.offset };
        if let Err(error) = self.views.apply(vec![ViewChange::Event(Box::new(EventView::of(event, at)))]).await {
            tracing::warn!(event_id = %event.event_id, %error, "writing a keyed event to the views failed");
        }
    }

    /// The routing directory the checks read: the log consumer waits for it to catch up.
    pub(crate) fn routing(&self) -> &Directory {
        &self.routing
    }

    /// Remembers keyed events the log consumer appended, so that a repeat of their key
    /// (in a later batch, or over REST) is a replay.
    pub(crate) fn remember_keyed(&self, events: Vec<(EventId, Vec<TaskId>)>) {
        for (event_id, task_ids) in events {
            self.keyed_events.insert(event_id, Arc::new(task_ids));
        }
    }

    /// The tasks of a keyed event accepted before: lately by this process, or by
    /// anyone within the retention (the views keep events that long).
    async fn accepted_before(&self, event_id: EventId) -> Result<Option<Vec<TaskId>>, IngestError> {
        if let Some(task_ids) = self.keyed_events.get(&event_id) {
            return Ok(Some(task_ids.as_ref().clone()));
        }
        Ok(self.views.event(event_id).await?.map(|earlier| earlier.task_ids()))
    }

    /// Every check of an event and the EventAccepted record it becomes. Appends
    /// nothing: the caller decides how to batch.
    pub(crate) async fn check(&self, request: &EventRequest<'_>) -> Result<CheckedEvent, IngestError> {
        if request.body.len() > self.max_body_bytes {
            return Err(IngestError::TooLarge { size: request.body.len(), limit: self.max_body_bytes });
        }
        if self.routing.tenant(request.tenant).is_none() {
            return Err(IngestError::UnknownTenant);
        }
        let event_type = event_type(request.event_type)?.ok_or(IngestError::MissingEventType)?;
        if is_operational_type(&event_type) {
            return Err(IngestError::ReservedEventType(event_type));
        }
        let idempotency_key = match request.idempotency_key {
            Some(key) => {
                validate_idempotency_key(key).map_err(IngestError::InvalidIdempotencyKey)?;
                // Validated as printable ASCII just now.
                Some(String::from_utf8_lossy(key).into_owned())
            }
            None => None,
        };
        let ordering_key = ordering_key(request.ordering_key)?;
        let payload = json_payload(request.body)?;
        let event_id = match (request.idempotency_key, request.dedup_name) {
            (Some(key), _) => {
                let event_id = EventId::derived(request.tenant, &idempotency_name(key));
                if let Some(task_ids) = self.accepted_before(event_id).await? {
                    return Ok(CheckedEvent::Replayed { event_id, task_ids });
                }
                event_id
            }
            (None, Some(name)) => EventId::derived(request.tenant, name),
            (None, None) => EventId::new(),
        };
        let subscriptions = self.routing.matching(request.tenant, &event_type);
        // The list shares the record with the body: both must fit the room a record has.
        let room = self.max_body_bytes + ENVELOPE_ROOM_BYTES / 2;
        let size = request.body.len() + subscriptions.len() * BYTES_PER_LISTED_SUBSCRIPTION;
        if size > room {
            return Err(IngestError::FanOutTooLarge { subscriptions: subscriptions.len(), size, limit: room });
        }
        let event = EventAccepted {
            event_id,
            tenant_id: request.tenant.clone(),
            event_type,
            accepted_at: Utc::now(),
            idempotency_key,
            subscriptions,
            payload,
            ordering_key,
            trace: request.trace.cloned(),
        };
        let record = event_accepted_record(&event);
        Ok(CheckedEvent::Accepted { event: Box::new(event), record })
    }
}
