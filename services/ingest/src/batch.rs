//! One polled batch of `hookline.ingest`: every record judged by the shared checks,
//! then every resulting record (TaskAccepted to `hookline.deliveries`, rejected copies
//! to `hookline.ingest.rejected`) appended in one call; a record whose outcome the log
//! cannot take is set aside in `hookline.quarantine` instead.

use std::collections::HashSet;

use hookline_domain::{topics, LogPosition, TaskId, TaskView};
use hookline_log::consume::{next_offsets, Backoff};
use hookline_log::{NewRecord, Record, TopicPartition};
use hookline_quarantine::{Output, SetAside};
use hookline_views::ViewChange;
use tokio_util::sync::CancellationToken;
use tracing::field::{display, Empty};
use tracing::Instrument;

use crate::envelope::{rejected_copy, Envelope, Rejection};
use crate::error::IngestConsumerError;
use crate::ingestor::{Checked, Ingestor};
use crate::metrics::{IngestCounters, Tally};

/// What one record comes to.
enum Verdict {
    Accepted {
        task_id: TaskId,
        task: NewRecord,
        /// The task as the views show it, when an idempotency key names it.
        keyed: Option<Box<TaskView>>,
    },
    /// Its idempotency key named a task accepted before.
    Replayed,
    Filtered,
    Rejected {
        copy: NewRecord,
        reason: &'static str,
    },
}

/// Judges the records in order and appends what they come to, durably. Returns the
/// offsets to commit: one past the last record whose outcome is durable, per partition.
/// A record whose outcome the log cannot take (a rejected copy larger than the log's
/// limit) is set aside instead, so no record stops the consumer. On shutdown during a
/// retry, what was judged before is still appended and returned; the rest is left for
/// the next run.
pub(crate) async fn process(
    ingestor: &Ingestor,
    set_aside: &SetAside,
    counters: &IngestCounters,
    records: &[Record],
    shutdown: &CancellationToken,
) -> Result<Vec<(TopicPartition, u64)>, IngestConsumerError> {
    let mut output = Vec::with_capacity(records.len());
    let mut tally = Tally::default();
    let mut judged = 0;
    // Keyed tasks of this batch: a key repeated within one batch is a replay too.
    let mut keyed = HashSet::new();
    // Keyed tasks to write to the views once appended: (index in `output`, task).
    let mut keyed_views = Vec::new();
    for record in records {
        let Some(verdict) = judge(ingestor, record, shutdown).await? else { break };
        match verdict {
            Verdict::Accepted { task_id, keyed: Some(_), .. } if !keyed.insert(task_id) => tally.replayed += 1,
            Verdict::Accepted { task, keyed: view, .. } => {
                tally.accepted += 1;
                if let Some(view) = view {
                    keyed_views.push((output.len(), view));
                }
                output.push(Output { record: task, origin: record });
            }
            Verdict::Replayed => tally.replayed += 1,
            Verdict::Filtered => tally.filtered += 1,
            Verdict::Rejected { copy, reason } => {
                tally.rejected(reason);
                output.push(Output { record: copy, origin: record });
            }
        }
        judged += 1;
    }
    let Some(landed) = set_aside.append(output, shutdown).await? else {
        return Ok(Vec::new());
    };
    let changes = keyed_views
        .into_iter()
        .filter_map(|(index, view)| {
            let at = landed[index]?;
            let payload_at =
                LogPosition { topic: topics::DELIVERIES.to_string(), partition: at.partition, offset: at.offset };
            Some(ViewChange::Task { task: *view, payload_at })
        })
        .collect();
    if !ingestor.record_keyed(changes, shutdown).await {
        return Ok(Vec::new());
    }
    ingestor.remember_keyed(keyed);
    counters.add(&tally);
    Ok(next_offsets(&records[..judged]))
}

/// Runs the shared checks on one record, trying again while the views are unavailable.
/// `None`: shutdown came while waiting to try again.
async fn judge(
    ingestor: &Ingestor,
    record: &Record,
    shutdown: &CancellationToken,
) -> Result<Option<Verdict>, IngestConsumerError> {
    let span = tracing::info_span!(
        "ingest_record",
        partition = record.partition,
        offset = record.offset,
        subscription_id = Empty,
        task_id = Empty
    );
    async {
        let envelope = match Envelope::read(record) {
            Ok(envelope) => envelope,
            Err(rejection) => return Ok(Some(reject(record, rejection))),
        };
        tracing::Span::current().record("subscription_id", display(envelope.subscription_id));
        let mut backoff = Backoff::new();
        loop {
            let request = envelope.request();
            match ingestor.check(&request).await {
                Ok(Checked::Accepted { task_id, record: task, view }) => {
                    tracing::Span::current().record("task_id", display(task_id));
                    tracing::debug!("task accepted");
                    let keyed = request.task_key().is_some().then_some(view);
                    return Ok(Some(Verdict::Accepted { task_id, task, keyed }));
                }
                Ok(Checked::Replayed(task_id)) => {
                    tracing::Span::current().record("task_id", display(task_id));
                    tracing::debug!("idempotency key seen before, no new task");
                    return Ok(Some(Verdict::Replayed));
                }
                Ok(Checked::Filtered(event_type)) => {
                    tracing::debug!(event_type, "filtered, no task");
                    return Ok(Some(Verdict::Filtered));
                }
                Err(error) if error.is_refusal() => return Ok(Some(reject(record, Rejection::Refused(error)))),
                Err(error) if error.is_retryable() => {
                    tracing::warn!(%error, "checking failed, retrying");
                    if !backoff.wait(shutdown).await {
                        return Ok(None);
                    }
                }
                Err(error) => return Err(IngestConsumerError::Check(error)),
            }
        }
    }
    .instrument(span)
    .await
}

fn reject(record: &Record, rejection: Rejection) -> Verdict {
    let reason = rejection.reason();
    tracing::warn!(reason, message = %rejection.message(), "record rejected");
    Verdict::Rejected { copy: rejected_copy(record, &rejection), reason }
}
