//! Accepting webhooks, over REST and straight from the log.
//!
//! Two kinds of input: a webhook for one subscription ([`Ingestor`], below), and an
//! event sent to a tenant ([`EventIntake`]), which becomes one `EventAccepted` in
//! `hookline.fanout` listing the subscriptions whose patterns it matched (the fan-out
//! role expands it into their tasks). Both share the body and event-type checks.
//!
//! Consumes: a raw body with its subscription id, event type, signature and optional
//! idempotency key — from the REST API through [`Ingestor::ingest`], or as records of
//! `hookline.ingest` through [`run_consumer`]. Produces: one durable `TaskAccepted` in
//! `hookline.deliveries` (key = subscription id) per accepted webhook; for the log way
//! in, a copy of every refused record in `hookline.ingest.rejected`.
//!
//! Guarantees: both ways in pass the same checks, in the same order, through the same
//! function (body within the size limit, subscription exists and is live, signature,
//! event type, idempotency key, ordering key, body is UTF-8 JSON no deeper than the limit, filter). [`IngestOutcome::Queued`] is returned only once
//! the TaskAccepted is durable. The consumer commits a record only once what it came to
//! is durable, so a crash re-reads and never loses one; a re-read record yields the same
//! task id, so it never becomes a second task. No record is dropped unseen: it becomes a
//! task, is filtered (counted), or is copied to `hookline.ingest.rejected` (counted).
//!
//! # Records of `hookline.ingest`
//!
//! Described as JSON in `schemas/events/IngestEnvelope.json`.
//! - key: the subscription id as a UUID string (UTF-8), e.g.
//!   `0191f1d2-7c4e-7a34-9b1e-3f2a5c6d7e8f`.
//! - value: the webhook's JSON body, raw bytes — exactly what would be POSTed to
//!   `/api/ingest/{id}`; receivers get these bytes.
//! - headers (UTF-8 values; others are kept and ignored):
//!   - `event_type` (optional): the event type, as the REST event-type header.
//!   - `signature` (required when the subscription has a secret, unless signed the
//!     Standard Webhooks way): `sha256=<hex HMAC-SHA256 of the value, keyed with the
//!     secret>`, as over REST.
//!   - `webhook-id`, `webhook-timestamp`, `webhook-signature` (instead of `signature`):
//!     a Standard Webhooks signature, whose timestamp must be within the tolerance of
//!     now; the id is the idempotency key unless `idempotency_key` is given.
//!   - `idempotency_key` (optional, 1–255 printable ASCII characters): names the task
//!     (`TaskId::derived(subscription, "key:" + key)`), the same over REST
//!     (`Idempotency-Key`); a later record or request with the same key for the same
//!     subscription, while the task is retained, is a replay: nothing is appended.
//!     The consumer writes keyed tasks to the views before committing their records,
//!     so a repeat read by another process after a rebalance is a replay too.
//!     Without it the task id comes from the record's position
//!     (`"log:" + topic/partition/offset`), so only a re-read of that same record
//!     yields that task.
//!   - `ordering_key` (optional, 1–255 printable ASCII characters): the task's
//!     ordering key, as REST's `X-Ordering-Key`. The record key cannot carry it: it
//!     names the subscription, which routes the record.
//!   - `traceparent`, `tracestate` (optional): the W3C trace context its deliveries
//!     join, kept with the task (`TaskAccepted.trace`); an invalid one is ignored.
//!
//! # Records of `hookline.events`
//!
//! The same consumer reads them, in the same group and batches, and accepts each with
//! the same [`EventIntake`] as `POST /api/v1/events`: one `EventAccepted` in
//! `hookline.fanout` (key = tenant id) per accepted event, appended with the rest of
//! its batch before the commit. Described as JSON in `schemas/events/EventEnvelope.json`.
//! - key: the tenant id (UTF-8), e.g. `acme`.
//! - value: the event's JSON body, raw bytes; receivers get these bytes.
//! - headers: `traceparent` and `tracestate` (optional) as for `hookline.ingest`;
//!   `event_type` (required), `idempotency_key` (optional): names the event
//!   (`EventId::derived(tenant, "key:" + key)`); a repeat, in the same batch or later,
//!   is a replay. Without it the event id comes from the record's position, so a
//!   re-read of the record yields the same event and the same task ids.
//!   `ordering_key` (optional): the ordering key every task of the event carries (the
//!   record key names the tenant).
//!
//! The consumer starts reading only once the routing directory has caught up with the
//! log, and refuses an unknown tenant only once the directory has read every tenant
//! change appended before (10 s at most), so that an event produced right after its
//! tenant was created is not refused.
//!
//! A refused record goes to `hookline.ingest.rejected` with its original key, value and
//! headers, plus [`REJECT_REASON_HEADER`] (one of [`REJECT_REASONS`]) and
//! [`REJECT_MESSAGE_HEADER`] (the reason in words). A record whose key is not a UUID (a
//! tenant id, for `hookline.events`) is refused as `invalid_key`; every other reason is
//! [`IngestError::reason`].

mod batch;
mod consumer;
mod envelope;
mod error;
mod events;
mod ingestor;
mod metrics;

pub use consumer::{run_consumer, IngestConsumerConfig, IngestConsumerDeps};
pub use envelope::{
    rejected_copy, signed_message, trace_of, Envelope, Rejection, EVENT_TYPE_HEADER, IDEMPOTENCY_KEY_HEADER,
    ORDERING_KEY_HEADER, REJECT_MESSAGE_HEADER, REJECT_REASON_HEADER, SIGNATURE_HEADER, SIGNED_MESSAGE_HEADERS,
};
pub use error::{IngestConsumerError, IngestError};
pub use events::{EventIntake, EventOutcome, EventRequest};
pub use ingestor::{
    idempotency_name, position_name, IngestOutcome, IngestRequest, Ingestor, DEFAULT_TIMESTAMP_TOLERANCE,
};
pub use metrics::{IngestCounters, IngestCounts, REJECT_REASONS, REQUESTS_HELP, REQUESTS_METRIC};
