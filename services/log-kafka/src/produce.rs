//! Appending: every record of a call is handed to librdkafka first, then the delivery
//! reports are awaited, so one call costs about one round trip, not one per record.

use std::time::Duration;

use hookline_log::{Appended, LogError, NewRecord};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use tokio::time::Instant;

use crate::errors;
use crate::events::LogContext;

/// How long to wait for room in librdkafka's local queue before giving up.
const QUEUE_FULL_DEADLINE: Duration = Duration::from_secs(30);
/// Pause before retrying when librdkafka's local queue is full.
const QUEUE_FULL_RETRY: Duration = Duration::from_millis(5);

pub(crate) async fn append(
    producer: &FutureProducer<LogContext>,
    records: Vec<NewRecord>,
    max_message_bytes: usize,
) -> Result<Vec<Appended>, LogError> {
    let mut pending = Vec::with_capacity(records.len());
    // In call order: librdkafka keeps the order of records it is handed per partition.
    for record in &records {
        pending.push(enqueue(producer, record, max_message_bytes).await?);
    }
    let mut landed = Vec::with_capacity(records.len());
    for (delivery, record) in pending.into_iter().zip(&records) {
        let delivered = delivery
            .await
            .map_err(|_| LogError::Unavailable("kafka producer dropped a delivery report".into()))?
            .map_err(|(error, _)| errors::delivery(&error, &record.topic, size_of(record), max_message_bytes))?;
        landed.push(Appended {
            partition: u32::try_from(delivered.partition).unwrap_or_default(),
            offset: u64::try_from(delivered.offset).unwrap_or_default(),
        });
    }
    Ok(landed)
}

/// Hands one record to librdkafka, waiting while its local queue is full.
async fn enqueue(
    producer: &FutureProducer<LogContext>,
    record: &NewRecord,
    max_message_bytes: usize,
) -> Result<DeliveryFuture, LogError> {
    let mut outgoing = FutureRecord::to(&record.topic).key(record.key.as_slice()).payload(record.value.as_slice());
    if !record.headers.is_empty() {
        let headers =
            record.headers.iter().fold(OwnedHeaders::new_with_capacity(record.headers.len()), |all, (k, v)| {
                all.insert(Header { key: k, value: Some(v.as_slice()) })
            });
        outgoing = outgoing.headers(headers);
    }
    let deadline = Instant::now() + QUEUE_FULL_DEADLINE;
    loop {
        match producer.send_result(outgoing) {
            Ok(delivery) => return Ok(delivery),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned))
                if Instant::now() < deadline =>
            {
                outgoing = returned;
                tokio::time::sleep(QUEUE_FULL_RETRY).await;
            }
            Err((error, _)) => {
                return Err(errors::delivery(&error, &record.topic, size_of(record), max_message_bytes));
            }
        }
    }
}

/// The bytes a record carries (key, value, header names and values).
fn size_of(record: &NewRecord) -> usize {
    record.key.len() + record.value.len() + record.headers.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
}

/// Room librdkafka counts around a record's bytes when it checks `message.max.bytes`:
/// the v2 record batch header (61 bytes) and a record's own varints and attributes.
const RECORD_OVERHEAD: usize = 61 + 40;
/// The varints of one header (lengths of its name and value).
const HEADER_OVERHEAD: usize = 10;

/// The most a record can weigh on the wire, as librdkafka counts it against
/// `message.max.bytes` (an upper bound: varints are taken at their longest).
pub(crate) fn wire_size(record: &NewRecord) -> usize {
    size_of(record) + RECORD_OVERHEAD + HEADER_OVERHEAD * record.headers.len()
}
