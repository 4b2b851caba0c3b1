//! The consumer of `hookline.dlq`: dead letters gathered per subscription
//! ([`crate::exhausted`]) and each closed window emitted as one
//! `hookline.task.exhausted` in `hookline.operational`, from where it is delivered
//! like every decision (and seen by Kafka consumers).
//!
//! Not gathered: copies of records delivery could not read (no `TaskDeadLettered`),
//! dead letters of hookline's own notifications (event type `hookline.…`: a receiver
//! of notifications that fails is not told so by another notification, which would
//! fail in turn) and dead letters of the operator's subscription.
//!
//! Offsets: a partition is committed up to the first dead letter an open window
//! still covers, so a crash gathers it again; a summary may be repeated, never lost.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use hookline_domain::operational::{is_operational_type, operator_subscription_id};
use hookline_domain::{topics, TaskDeadLettered};
use hookline_log::consume::Backoff;
use hookline_log::{Consumer, EventLog, LogError, Record, TopicPartition};
use hookline_records::operational_record;
use hookline_routing::Directory;
use tokio_util::sync::CancellationToken;

use crate::exhausted::{Added, At, Gatherer};
use crate::metrics::OperationalMetrics;

/// Longest one poll waits (windows closing and shutdown are served meanwhile).
const POLL_WAIT: Duration = Duration::from_secs(1);

pub(crate) struct DeadLetters {
    pub consumer: Arc<dyn Consumer>,
    pub log: Arc<dyn EventLog>,
    pub routing: Arc<Directory>,
    pub metrics: OperationalMetrics,
    pub batch: usize,
    pub gatherer: Gatherer,
}

impl DeadLetters {
    pub async fn run(mut self, shutdown: &CancellationToken) -> Result<(), LogError> {
        // Polled but not gathered yet: the gatherer was full. At most one batch.
        let mut held: VecDeque<Record> = VecDeque::new();
        // One past the last record read, per partition.
        let mut read: BTreeMap<u32, u64> = BTreeMap::new();
        let mut committed: BTreeMap<u32, u64> = BTreeMap::new();
        let mut backoff = Backoff::new();
        loop {
            let next_close = self.gatherer.next_close().map(|at| (at - Utc::now()).to_std().unwrap_or_default());
            let polled = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(next_close.unwrap_or(POLL_WAIT)), if !held.is_empty() => Ok(Vec::new()),
                polled = self.consumer.poll(self.batch, next_close.unwrap_or(POLL_WAIT).min(POLL_WAIT)), if held.is_empty() => polled,
            };
            match polled {
                Ok(records) => {
                    backoff.reset();
                    held.extend(records);
                }
                Err(error) if error.is_retryable() => {
                    tracing::warn!(%error, "dead letters: poll failed, retrying");
                    if !backoff.wait(shutdown).await {
                        break;
                    }
                }
                Err(error) => return Err(error),
            }
            if !self.emit_closed(shutdown).await? {
                break;
            }
            while let Some(record) = held.front() {
                if !self.gather(record) {
                    break;
                }
                let next = read.entry(record.partition).or_default();
                *next = (*next).max(record.offset + 1);
                held.pop_front();
            }
            self.metrics.gathering(self.gatherer.len());
            self.commit(&read, &mut committed).await?;
        }
        // Open windows are not emitted early: their dead letters are not committed, so
        // the next run gathers them again.
        self.commit(&read, &mut committed).await
    }

    /// Gathers one record; false when the gatherer is full (the record waits).
    fn gather(&mut self, record: &Record) -> bool {
        if record.header(topics::EVENT_HEADER) != Some(TaskDeadLettered::KIND.as_bytes()) {
            return true;
        }
        let dead: TaskDeadLettered = match serde_json::from_slice(&record.value) {
            Ok(dead) => dead,
            Err(error) => {
                tracing::warn!(partition = record.partition, offset = record.offset, %error, "undecodable dead letter, not counted");
                return true;
            }
        };
        let subscription = dead.task.subscription_id;
        let notification = dead.task.event_type.as_deref().is_some_and(is_operational_type);
        if notification || subscription == operator_subscription_id() {
            return true;
        }
        let tenant = self.routing.owner(subscription).unwrap_or_default();
        let at = At { partition: record.partition, offset: record.offset };
        self.gatherer.add(&dead, tenant, at, Utc::now()) == Added::Gathered
    }

    /// Appends the summaries of the windows closed now, durably. False: shutdown came
    /// first (the windows are gathered again next run).
    async fn emit_closed(&mut self, shutdown: &CancellationToken) -> Result<bool, LogError> {
        let summaries = self.gatherer.closed(Utc::now());
        if summaries.is_empty() {
            return Ok(true);
        }
        let records = summaries.iter().map(operational_record).collect::<Vec<_>>();
        let mut backoff = Backoff::new();
        loop {
            match self.log.append(records.clone()).await {
                Ok(_) => break,
                Err(error) if error.is_retryable() => {
                    tracing::warn!(%error, "appending task.exhausted summaries failed, retrying");
                    if !backoff.wait(shutdown).await {
                        return Ok(false);
                    }
                }
                Err(error) => return Err(error),
            }
        }
        for summary in &summaries {
            tracing::info!(
                event_id = %summary.event_id,
                tenant_id = %summary.tenant_id,
                subscription_id = summary.data.subscription_id().map(|id| id.to_string()),
                "task.exhausted summary emitted"
            );
        }
        Ok(true)
    }

    /// Commits each partition up to what no open window covers.
    async fn commit(&self, read: &BTreeMap<u32, u64>, committed: &mut BTreeMap<u32, u64>) -> Result<(), LogError> {
        let points: Vec<(u32, u64)> = read
            .iter()
            .map(|(partition, next)| {
                (*partition, self.gatherer.holds_from(*partition).map_or(*next, |held| held.min(*next)))
            })
            .filter(|(partition, point)| committed.get(partition) != Some(point))
            .collect();
        if points.is_empty() {
            return Ok(());
        }
        let offsets: Vec<(TopicPartition, u64)> =
            points.iter().map(|(partition, point)| (TopicPartition::new(topics::DLQ, *partition), *point)).collect();
        match self.consumer.commit(&offsets).await {
            Ok(()) => committed.extend(points),
            Err(error) if error.is_retryable() => tracing::warn!(%error, "dead letters: commit failed, retrying later"),
            Err(error) => return Err(error),
        }
        Ok(())
    }
}

/// The window length as the gatherer counts it.
pub(crate) fn window(length: Duration) -> TimeDelta {
    TimeDelta::from_std(length).unwrap_or(TimeDelta::MAX)
}
