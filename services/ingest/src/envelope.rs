//! Records of `hookline.ingest` read as webhooks, records of `hookline.events` read as
//! events sent to a tenant, and the copies of refused ones for `hookline.ingest.rejected`. The format is described in the crate doc and in
//! `schemas/events/IngestEnvelope.json`.

use std::str::FromStr;

use hookline_domain::signature::SignedMessage;
use hookline_domain::trace::{TRACEPARENT_HEADER, TRACESTATE_HEADER};
use hookline_domain::{topics, SubscriptionId, TenantId, TraceContext};
use hookline_log::{NewRecord, Record};

use crate::error::IngestError;
use crate::events::EventRequest;
use crate::ingestor::{position_name, IngestRequest};

/// Header of an ingest record carrying the event type (optional).
pub const EVENT_TYPE_HEADER: &str = "event_type";
/// Header of an ingest record carrying `sha256=<hex HMAC-SHA256 of the value>`
/// (required when the subscription has a secret).
pub const SIGNATURE_HEADER: &str = "signature";
/// Headers of an ingest record signed the Standard Webhooks way (instead of [`SIGNATURE_HEADER`]).
pub const SIGNED_MESSAGE_HEADERS: [&str; 3] = ["webhook-id", "webhook-timestamp", "webhook-signature"];
/// Header of an ingest record carrying an idempotency key (optional).
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency_key";
/// Header of an ingest or event record carrying an ordering key (optional). The
/// record key already names the subscription or the tenant (it routes the record),
/// so the ordering key travels in a header.
pub const ORDERING_KEY_HEADER: &str = "ordering_key";
/// Header added to a rejected copy: the stable reason (see [`crate::REJECT_REASONS`]).
pub const REJECT_REASON_HEADER: &str = "hookline-reject-reason";
/// Header added to a rejected copy: the reason in words.
pub const REJECT_MESSAGE_HEADER: &str = "hookline-reject-message";

/// A record of `hookline.ingest` whose key names a subscription.
pub struct Envelope<'a> {
    record: &'a Record,
    pub subscription_id: SubscriptionId,
    /// Where the record sits, the name of its task when it carries no idempotency key.
    position: Vec<u8>,
}

impl<'a> Envelope<'a> {
    pub fn read(record: &'a Record) -> Result<Envelope<'a>, Rejection> {
        let subscription_id = std::str::from_utf8(&record.key)
            .ok()
            .and_then(|key| SubscriptionId::from_str(key).ok())
            .ok_or(Rejection::InvalidKey)?;
        // A re-read record must yield the same task: unless a key names it, its place in the log does.
        let position = position_name(&record.topic, record.partition, record.offset);
        Ok(Envelope { record, subscription_id, position })
    }

    /// The webhook, as the REST path would hand it to the checks.
    pub fn request(&self) -> IngestRequest<'_> {
        IngestRequest {
            subscription_id: self.subscription_id,
            body: &self.record.value,
            event_type: self.record.header(EVENT_TYPE_HEADER),
            signature: self.record.header(SIGNATURE_HEADER),
            signed_message: signed_message(|name| self.record.header(name)),
            idempotency_key: self.record.header(IDEMPOTENCY_KEY_HEADER).filter(|key| !key.is_empty()),
            dedup_name: Some(&self.position),
            ordering_key: self.record.header(ORDERING_KEY_HEADER).filter(|key| !key.is_empty()),
            trace: None,
        }
    }
}

/// The W3C trace context a record of `hookline.ingest` or `hookline.events` carries in
/// its `traceparent` and `tracestate` headers, when valid (an invalid one is ignored,
/// never a reason to refuse the record).
pub fn trace_of(record: &Record) -> Option<TraceContext> {
    TraceContext::from_headers(record.header(TRACEPARENT_HEADER), record.header(TRACESTATE_HEADER))
}

/// The Standard Webhooks headers of a webhook, when it carries a `webhook-signature`;
/// `header` finds a header by name, whichever way the webhook came in.
pub fn signed_message<'a>(header: impl Fn(&str) -> Option<&'a [u8]>) -> Option<SignedMessage<'a>> {
    let [id, timestamp, signature] = SIGNED_MESSAGE_HEADERS;
    Some(SignedMessage { id: header(id), timestamp: header(timestamp), signature: header(signature)? })
}

/// A record of `hookline.events` whose key names a tenant.
pub struct EventEnvelope<'a> {
    record: &'a Record,
    pub tenant: TenantId,
    /// Where the record sits, the name of its event when it carries no idempotency key.
    position: Vec<u8>,
}

impl<'a> EventEnvelope<'a> {
    pub fn read(record: &'a Record) -> Result<EventEnvelope<'a>, Rejection> {
        let tenant = std::str::from_utf8(&record.key)
            .ok()
            .and_then(|key| TenantId::parse(key).ok())
            .ok_or(Rejection::InvalidTenantKey)?;
        // A re-read record must yield the same event: unless a key names it, its place in the log does.
        let position = position_name(&record.topic, record.partition, record.offset);
        Ok(EventEnvelope { record, tenant, position })
    }

    /// The event, as `POST /api/v1/events` would hand it to the checks.
    pub fn request(&self) -> EventRequest<'_> {
        EventRequest {
            tenant: &self.tenant,
            event_type: self.record.header(EVENT_TYPE_HEADER),
            body: &self.record.value,
            idempotency_key: self.record.header(IDEMPOTENCY_KEY_HEADER).filter(|key| !key.is_empty()),
            dedup_name: Some(&self.position),
            ordering_key: self.record.header(ORDERING_KEY_HEADER).filter(|key| !key.is_empty()),
            trace: None,
        }
    }
}

/// Why a record of `hookline.ingest` or `hookline.events` was refused.
#[derive(Debug)]
pub enum Rejection {
    /// The key of a `hookline.ingest` record is not a subscription id.
    InvalidKey,
    /// The key of a `hookline.events` record is not a tenant id.
    InvalidTenantKey,
    /// The webhook failed one of the shared checks.
    Refused(IngestError),
}

impl Rejection {
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::InvalidKey | Rejection::InvalidTenantKey => "invalid_key",
            Rejection::Refused(error) => error.reason(),
        }
    }

    pub fn message(&self) -> String {
        match self {
            Rejection::InvalidKey => "Record key must be a subscription id (a UUID string)".to_string(),
            Rejection::InvalidTenantKey => "Record key must be a tenant id".to_string(),
            Rejection::Refused(error) => error.to_string(),
        }
    }
}

/// The refused record as it goes to `hookline.ingest.rejected`: original key, value and
/// headers, plus the reason. Reject headers it already carried (a copy fed back in) are
/// replaced, so the first one found is always the latest.
pub fn rejected_copy(record: &Record, rejection: &Rejection) -> NewRecord {
    let mut headers: Vec<_> = record
        .headers
        .iter()
        .filter(|(name, _)| name != REJECT_REASON_HEADER && name != REJECT_MESSAGE_HEADER)
        .cloned()
        .collect();
    headers.push((REJECT_REASON_HEADER.to_string(), rejection.reason().as_bytes().to_vec()));
    headers.push((REJECT_MESSAGE_HEADER.to_string(), rejection.message().into_bytes()));
    NewRecord {
        topic: topics::INGEST_REJECTED.to_string(),
        key: record.key.clone(),
        headers,
        value: record.value.clone(),
    }
}

#[cfg(test)]
mod tests {
    use hookline_domain::TaskId;

    use super::*;

    fn record(key: &[u8], headers: &[(&str, &[u8])]) -> Record {
        Record {
            topic: topics::INGEST.to_string(),
            partition: 3,
            offset: 42,
            timestamp_ms: 0,
            key: key.to_vec(),
            headers: headers.iter().map(|(name, value)| (name.to_string(), value.to_vec())).collect(),
            value: br#"{"a":1}"#.to_vec(),
        }
    }

    #[test]
    fn keys_that_are_not_subscription_ids_are_refused() {
        for key in [b"".as_slice(), b"not-a-uuid", b"\xff\xfe", b"123e4567-e89b-12d3-a456-42661417400"] {
            assert!(matches!(Envelope::read(&record(key, &[])), Err(Rejection::InvalidKey)), "{key:?}");
        }
    }

    #[test]
    fn the_task_is_named_by_the_idempotency_key_else_the_position() {
        let id = SubscriptionId::new();
        let key = id.to_string().into_bytes();
        let keyed = record(&key, &[(IDEMPOTENCY_KEY_HEADER, b"order-7")]);
        let envelope = Envelope::read(&keyed).unwrap();
        assert_eq!(envelope.request().idempotency_key, Some(b"order-7".as_slice()));

        for headers in [&[][..], &[(IDEMPOTENCY_KEY_HEADER, b"".as_slice())][..]] {
            let unkeyed = record(&key, headers);
            let envelope = Envelope::read(&unkeyed).unwrap();
            assert_eq!(envelope.request().idempotency_key, None);
            let name = envelope.request().dedup_name.unwrap();
            assert_eq!(name, b"log:hookline.ingest/3/42");
            assert_eq!(TaskId::derived(id, name), TaskId::derived(id, b"log:hookline.ingest/3/42"));
        }
    }

    #[test]
    fn headers_reach_the_request_unchanged() {
        let key = SubscriptionId::new().to_string().into_bytes();
        let with = record(&key, &[(EVENT_TYPE_HEADER, b" order.created "), (SIGNATURE_HEADER, b"sha256=00")]);
        let envelope = Envelope::read(&with).unwrap();
        let request = envelope.request();
        assert_eq!(request.event_type, Some(b" order.created ".as_slice()));
        assert_eq!(request.signature, Some(b"sha256=00".as_slice()));
        assert_eq!(request.body, br#"{"a":1}"#);
    }

    #[test]
    fn a_rejected_copy_keeps_the_original_and_replaces_old_reasons() {
        let original = record(b"k", &[(EVENT_TYPE_HEADER, b"x"), (REJECT_REASON_HEADER, b"old")]);
        let copy = rejected_copy(&original, &Rejection::Refused(IngestError::NotJson));
        assert_eq!(copy.topic, topics::INGEST_REJECTED);
        assert_eq!((copy.key.as_slice(), copy.value.as_slice()), (b"k".as_slice(), original.value.as_slice()));
        assert_eq!(
            copy.headers,
            vec![
                (EVENT_TYPE_HEADER.to_string(), b"x".to_vec()),
                (REJECT_REASON_HEADER.to_string(), b"not_json".to_vec()),
                (REJECT_MESSAGE_HEADER.to_string(), b"Request body must be JSON".to_vec()),
            ]
        );
    }
}
