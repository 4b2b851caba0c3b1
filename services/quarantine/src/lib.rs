//! Setting aside records a role cannot process, so that no record stops a role.
//!
//! Consumes: a record a role read and cannot process (undecodable, too large to copy,
//! or whose outcome the log refuses for good), the reason, and the copy the role keeps
//! such records in, if it has one (`hookline.ingest.rejected`, `hookline.dlq`); or a
//! role's batch of output records, each with the record it came from.
//! Produces: the role's copy when the log takes it, else a truncated copy in
//! `hookline.quarantine` with the record's position and the reason in headers (see
//! [`quarantine_copy`]); each record set aside is logged once and counted in
//! `hookline_records_set_aside_total{role, topic, reason}`.
//! Guarantees: a call returns only once the record is durably set aside (the caller
//! may then commit past it), or when shutdown came first (then nothing is known
//! durable, and the caller commits nothing). It fails only when the log fails for a
//! reason that is not the record's: a missing topic, a closed or corrupt log.
//!
//! Every role uses this one piece: ingest, delivery and the projector.

mod copy;

use std::sync::Arc;

use hookline_log::consume::Backoff;
use hookline_log::{Appended, EventLog, LogError, NewRecord, Record, TopicPartition};
use hookline_metrics::{Counter, Family, Registry};
use tokio_util::sync::CancellationToken;

pub use copy::{
    quarantine_copy, Why, KEPT_VALUE_BYTES, MESSAGE_HEADER, OFFSET_HEADER, PARTITION_HEADER, REASON_HEADER,
    ROLE_HEADER, TOPIC_HEADER, VALUE_BYTES_HEADER,
};

/// Name of the counter of records set aside.
pub const SET_ASIDE_METRIC: &str = "hookline_records_set_aside_total";

/// Why a record is set aside, as counted (a fixed set, so the label stays bounded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// It cannot be read as what its topic carries (garbage, or another schema).
    Undecodable,
    /// It, or what the role makes of it, is larger than the log takes.
    TooLarge,
    /// The log refused what the role makes of it for good, for another reason.
    Refused,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Undecodable => "undecodable",
            Reason::TooLarge => "too_large",
            Reason::Refused => "refused",
        }
    }

    /// The reason a log error gives for refusing a record for good; `None` when the
    /// error is not the record's fault (passing, or the log itself is broken).
    pub fn of_refusal(error: &LogError) -> Option<Reason> {
        match error {
            LogError::TooLarge { .. } => Some(Reason::TooLarge),
            LogError::Invalid(_) => Some(Reason::Refused),
            _ => None,
        }
    }
}

/// Where a record set aside was kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kept {
    /// In the copy the role keeps such records as (its rejected or dead-letter topic).
    Copy,
    /// In `hookline.quarantine`.
    Quarantine,
}

/// A record a role appends, and the record it read that this one stands for: if the
/// log refuses it for good, that record is set aside instead.
pub struct Output<'a> {
    pub record: NewRecord,
    pub origin: &'a Record,
}

/// Where one role sets records aside. Cheap to clone.
#[derive(Clone)]
pub struct SetAside {
    log: Arc<dyn EventLog>,
    role: &'static str,
    counts: Arc<Family<Counter>>,
}

impl SetAside {
    /// The set-aside of `role` (`ingest`, `delivery`, `projector`), counting in `registry`.
    pub fn new(log: Arc<dyn EventLog>, registry: &Registry, role: &'static str) -> Self {
        let counts = registry.counter_family(
            SET_ASIDE_METRIC,
            "Records a role could not process and set aside (in its rejected or dead-letter topic, or hookline.quarantine), by role, topic read and reason.",
            &["role", "topic", "reason"],
        );
        Self { log, role, counts }
    }

    /// How many records this role set aside from `topic` for `reason`.
    pub fn count(&self, topic: &str, reason: Reason) -> u64 {
        self.counts.with(&[self.role, topic, reason.as_str()]).get()
    }

    /// Sets `record` aside: `copy` (the role's own topic for such records) when the log
    /// takes it, else a truncated copy in `hookline.quarantine`. Waits while the log is
    /// unavailable. `Ok(None)`: shutdown came first, nothing was set aside.
    pub async fn set_aside(
        &self,
        record: &Record,
        reason: Reason,
        message: &str,
        copy: Option<NewRecord>,
        shutdown: &CancellationToken,
    ) -> Result<Option<Kept>, LogError> {
        if let Some(copy) = copy.filter(|copy| hookline_log::fits(self.log.as_ref(), copy)) {
            match self.append_one(copy, shutdown).await {
                Ok(None) => return Ok(None),
                Ok(Some(to)) => {
                    self.note(record, reason, message, &to);
                    return Ok(Some(Kept::Copy));
                }
                // The role's own topic refused the copy: the quarantine keeps a smaller one.
                Err(error) if Reason::of_refusal(&error).is_some() => {}
                Err(error) => return Err(error),
            }
        }
        Ok(self.quarantine(record, reason, message, shutdown).await?.then_some(Kept::Quarantine))
    }

    /// Sets aside the record at `offset` of `tp`, read back from the log: for a role
    /// that no longer holds the record itself. A record the log no longer holds is
    /// noted by its position alone.
    pub async fn set_aside_at(
        &self,
        tp: &TopicPartition,
        offset: u64,
        reason: Reason,
        message: &str,
        shutdown: &CancellationToken,
    ) -> Result<Option<Kept>, LogError> {
        let mut backoff = Backoff::new();
        let read = loop {
            match self.log.read(tp, offset).await {
                Ok(read) => break read,
                Err(error) if error.is_retryable() => {
                    tracing::warn!(partition = %tp, offset, %error, "reading a record to set aside failed, retrying");
                    if !backoff.wait(shutdown).await {
                        return Ok(None);
                    }
                }
                Err(error) => return Err(error),
            }
        };
        let record = read.unwrap_or_else(|| Record {
            topic: tp.topic.clone(),
            partition: tp.partition,
            offset,
            timestamp_ms: 0,
            key: Vec::new(),
            headers: Vec::new(),
            value: Vec::new(),
        });
        Ok(self.quarantine(&record, reason, message, shutdown).await?.then_some(Kept::Quarantine))
    }

    /// Appends `outputs` in one call, durably, waiting while the log is unavailable.
    /// An output larger than the log takes, or one the log refuses for good, is not
    /// appended: the record it came from is set aside instead. Returns where each
    /// output landed, in order (`None` for one set aside); `Ok(None)`: shutdown came
    /// first, and nothing is known durable.
    pub async fn append(
        &self,
        outputs: Vec<Output<'_>>,
        shutdown: &CancellationToken,
    ) -> Result<Option<Vec<Option<Appended>>>, LogError> {
        let mut landed = vec![None; outputs.len()];
        let mut fitting = Vec::with_capacity(outputs.len());
        for (index, output) in outputs.into_iter().enumerate() {
            let size = self.log.record_bytes(&output.record);
            let limit = self.log.max_record_bytes();
            if size <= limit {
                fitting.push((index, output));
                continue;
            }
            let message = format!("{} record of {size} bytes exceeds the log's limit of {limit}", output.record.topic);
            if !self.quarantine(output.origin, Reason::TooLarge, &message, shutdown).await? {
                return Ok(None);
            }
        }
        if fitting.is_empty() {
            return Ok(Some(landed));
        }
        let records: Vec<NewRecord> = fitting.iter().map(|(_, output)| output.record.clone()).collect();
        match self.append_all(records, shutdown).await {
            Ok(None) => return Ok(None),
            Ok(Some(appended)) => {
                for ((index, _), at) in fitting.iter().zip(appended) {
                    landed[*index] = Some(at);
                }
                return Ok(Some(landed));
            }
            Err(error) if Reason::of_refusal(&error).is_some() => {
                tracing::warn!(%error, records = fitting.len(), "the log refused a batch, appending its records one by one");
            }
            Err(error) => return Err(error),
        }
        // One of them is refused for good: find it by appending each alone. Those of the
        // batch that landed before the refusal may land twice (at least once).
        for (index, output) in fitting {
            match self.append_all(vec![output.record], shutdown).await {
                Ok(Some(appended)) => landed[index] = appended.into_iter().next(),
                Ok(None) => return Ok(None),
                Err(error) => match Reason::of_refusal(&error) {
                    Some(reason) => {
                        if !self.quarantine(output.origin, reason, &error.to_string(), shutdown).await? {
                            return Ok(None);
                        }
                    }
                    None => return Err(error),
                },
            }
        }
        Ok(Some(landed))
    }

    /// Puts the truncated copy of `record` in `hookline.quarantine`.
    async fn quarantine(
        &self,
        record: &Record,
        reason: Reason,
        message: &str,
        shutdown: &CancellationToken,
    ) -> Result<bool, LogError> {
        // Room for the copy's key and headers, whatever the log's limit.
        let room = self.log.max_record_bytes() / 2;
        let copy = quarantine_copy(record, Why { role: self.role, reason: reason.as_str(), message }, room);
        match self.append_one(copy, shutdown).await? {
            None => Ok(false),
            Some(to) => {
                self.note(record, reason, message, &to);
                Ok(true)
            }
        }
    }

    /// Logs and counts a record set aside, once.
    fn note(&self, record: &Record, reason: Reason, message: &str, to: &str) {
        tracing::warn!(
            role = self.role,
            topic = %record.topic,
            partition = record.partition,
            offset = record.offset,
            reason = reason.as_str(),
            to,
            message,
            "record set aside"
        );
        self.counts.with(&[self.role, &record.topic, reason.as_str()]).inc();
    }

    /// Appends one record; `Ok(None)` on shutdown, else the topic it went to.
    async fn append_one(&self, record: NewRecord, shutdown: &CancellationToken) -> Result<Option<String>, LogError> {
        let topic = record.topic.clone();
        Ok(self.append_all(vec![record], shutdown).await?.map(|_| topic))
    }

    /// Appends the records in one call; `Ok(None)` on shutdown, else where each landed.
    async fn append_all(
        &self,
        records: Vec<NewRecord>,
        shutdown: &CancellationToken,
    ) -> Result<Option<Vec<Appended>>, LogError> {
        let mut backoff = Backoff::new();
        loop {
            match self.log.append(records.clone()).await {
                Ok(appended) => return Ok(Some(appended)),
                Err(error) if error.is_retryable() => {
                    tracing::warn!(%error, records = records.len(), "append failed, retrying");
                    if !backoff.wait(shutdown).await {
                        return Ok(None);
                    }
                }
                Err(error) => return Err(error),
            }
        }
    }
}
