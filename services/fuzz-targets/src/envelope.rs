//! Records of `hookline.ingest` read as webhooks: a record that reads hands its
//! fields to the checks unchanged and, written again from them, reads the same; a
//! refused one is copied whole, with exactly one reason.

use std::str::FromStr;

use hookline_domain::{topics, SubscriptionId};
use hookline_ingest::{
    position_name, rejected_copy, Envelope, IngestError, IngestRequest, Rejection, EVENT_TYPE_HEADER,
    IDEMPOTENCY_KEY_HEADER, REJECT_MESSAGE_HEADER, REJECT_REASON_HEADER, SIGNATURE_HEADER,
};
use hookline_log::{Header, Record};

use crate::input::Fields;

/// Header names a record is built with: the ones ingest reads, the ones it adds to a
/// rejected copy, and a stranger.
const HEADER_NAMES: [&str; 6] =
    [EVENT_TYPE_HEADER, SIGNATURE_HEADER, IDEMPOTENCY_KEY_HEADER, REJECT_REASON_HEADER, REJECT_MESSAGE_HEADER, "other"];

/// Input: key, partition and offset bytes, a header count and that many (name choice,
/// value) pairs, then the value.
pub fn ingest_record(data: &[u8]) {
    let record = record_from(data);
    let expected_id = std::str::from_utf8(&record.key).ok().and_then(|key| SubscriptionId::from_str(key).ok());

    match Envelope::read(&record) {
        Err(rejection) => {
            assert!(matches!(rejection, Rejection::InvalidKey));
            assert_eq!(expected_id, None, "key {:?} is a subscription id, yet refused", record.key);
            check_rejected_copy(&record, &rejection);
        }
        Ok(envelope) => {
            assert_eq!(Some(envelope.subscription_id), expected_id, "key {:?}", record.key);
            let request = envelope.request();
            check_request(&record, &request);
            let rewritten = record_of(&record, &request);
            let again = Envelope::read(&rewritten).expect("a record written from a request reads");
            let again = again.request();
            assert_eq!(
                (again.subscription_id, again.body, again.event_type, again.signature),
                (request.subscription_id, request.body, request.event_type, request.signature)
            );
            assert_eq!((again.idempotency_key, again.dedup_name), (request.idempotency_key, request.dedup_name));
            check_rejected_copy(&record, &Rejection::Refused(IngestError::NotJson));
        }
    }
}

fn record_from(data: &[u8]) -> Record {
    let mut fields = Fields::new(data);
    let key = fields.bytes().to_vec();
    let partition = u32::from(fields.byte());
    let offset = fields.i64().unsigned_abs();
    let headers = (0..fields.byte() % 8)
        .map(|_| {
            let name = HEADER_NAMES[usize::from(fields.byte()) % HEADER_NAMES.len()];
            (name.to_string(), fields.bytes().to_vec())
        })
        .collect();
    Record {
        topic: topics::INGEST.to_string(),
        partition,
        offset,
        timestamp_ms: 0,
        key,
        headers,
        value: fields.rest().to_vec(),
    }
}

/// The request carries the record's own bytes; a task is named by the idempotency key
/// when there is one, else by the record's place in the log.
fn check_request(record: &Record, request: &IngestRequest<'_>) {
    assert_eq!(request.body, record.value.as_slice());
    assert_eq!(request.event_type, record.header(EVENT_TYPE_HEADER));
    assert_eq!(request.signature, record.header(SIGNATURE_HEADER));
    assert_eq!(request.idempotency_key, record.header(IDEMPOTENCY_KEY_HEADER).filter(|key| !key.is_empty()));
    let position = position_name(&record.topic, record.partition, record.offset);
    assert_eq!(request.dedup_name, Some(position.as_slice()));
}

/// A record with the request's fields, as a producer would write it.
fn record_of(original: &Record, request: &IngestRequest<'_>) -> Record {
    let mut headers: Vec<Header> = Vec::new();
    let fields = [
        (EVENT_TYPE_HEADER, request.event_type),
        (SIGNATURE_HEADER, request.signature),
        (IDEMPOTENCY_KEY_HEADER, request.idempotency_key),
    ];
    for (name, value) in fields {
        headers.extend(value.map(|v| (name.to_string(), v.to_vec())));
    }
    Record {
        key: request.subscription_id.to_string().into_bytes(),
        headers,
        value: request.body.to_vec(),
        ..original.clone()
    }
}

/// The copy keeps key, value and every other header in order, ends with one reason and
/// one message, and copying the copy again changes nothing.
fn check_rejected_copy(record: &Record, rejection: &Rejection) {
    let copy = rejected_copy(record, rejection);
    assert_eq!(copy.topic, topics::INGEST_REJECTED);
    assert_eq!((&copy.key, &copy.value), (&record.key, &record.value));
    let is_reason = |name: &str| name == REJECT_REASON_HEADER || name == REJECT_MESSAGE_HEADER;
    let kept: Vec<&Header> = record.headers.iter().filter(|(name, _)| !is_reason(name)).collect();
    let (copied, added) = copy.headers.split_at(copy.headers.len() - 2);
    assert_eq!(copied.iter().collect::<Vec<_>>(), kept);
    assert_eq!(added[0], (REJECT_REASON_HEADER.to_string(), rejection.reason().as_bytes().to_vec()));
    assert_eq!(added[1], (REJECT_MESSAGE_HEADER.to_string(), rejection.message().into_bytes()));

    let fed_back = Record { headers: copy.headers.clone(), ..record.clone() };
    assert_eq!(rejected_copy(&fed_back, rejection).headers, copy.headers);
}
