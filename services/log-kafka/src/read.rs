//! Reading one record by its position, for views that keep where a record is
//! instead of a copy of it.
//!
//! One librdkafka consumer serves every read: assigned to the partition at the offset
//! wanted (no group is joined, nothing is committed), it fetches that record. Reads are
//! rare (a retry by hand, a replay), so they take turns on it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use hookline_log::{LogError, Record, TopicPartition};
use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::Offset;

use crate::consumer::{one_partition, to_record};
use crate::errors::unavailable;
use crate::events::LogContext;
use crate::{client_config, KafkaSettings};

/// How long one read waits for the broker.
const READ_DEADLINE: Duration = Duration::from_secs(10);

pub(crate) struct RecordReader {
    consumer: Mutex<BaseConsumer<LogContext>>,
}

impl RecordReader {
    pub(crate) fn new(settings: &KafkaSettings) -> Result<RecordReader, LogError> {
        let consumer = client_config::reader(settings)
            .create_with_context(LogContext)
            .map_err(|e| LogError::Invalid(format!("kafka reader settings: {e}")))?;
        Ok(RecordReader { consumer: Mutex::new(consumer) })
    }

    /// Blocking: the record at `offset` of `tp`, if the partition still holds it.
    pub(crate) fn read(&self, tp: &TopicPartition, offset: u64) -> Result<Option<Record>, LogError> {
        let wanted = i64::try_from(offset).map_err(|_| LogError::Invalid(format!("offset {offset} out of range")))?;
        let consumer = self.consumer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let partition = i32::try_from(tp.partition).map_err(|_| LogError::Invalid(format!("no partition {tp}")))?;
        let (low, high) = consumer.fetch_watermarks(&tp.topic, partition, READ_DEADLINE).map_err(|e| {
            match e.rdkafka_error_code() {
                Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownPartition) => {
                    LogError::UnknownTopic(tp.topic.clone())
                }
                _ => unavailable("reading watermarks", &e),
            }
        })?;
        if wanted < low || wanted >= high {
            return Ok(None);
        }
        consumer
            .assign(&one_partition(tp, Offset::Offset(wanted))?)
            .map_err(|e| unavailable("assigning a partition to read", &e))?;
        let deadline = Instant::now() + READ_DEADLINE;
        let found = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break Err(LogError::Unavailable(format!("kafka: reading {tp} at {offset} timed out")));
            }
            match consumer.poll(left) {
                None => continue,
                Some(Err(e)) if e.rdkafka_error_code() == Some(RDKafkaErrorCode::OffsetOutOfRange) => break Ok(None),
                Some(Err(e)) => break Err(unavailable("reading a record", &e)),
                // A record prefetched for an earlier read of the same partition.
                Some(Ok(message))
                    if message.topic() != tp.topic || message.partition() != partition || message.offset() < wanted =>
                {
                    continue
                }
                // Past it: the record is gone (a compacted or aborted offset).
                Some(Ok(message)) if message.offset() > wanted => break Ok(None),
                Some(Ok(message)) => break Ok(Some(to_record(&message))),
            }
        };
        // Stop fetching until the next read.
        let _ = consumer.unassign();
        found
    }
}
