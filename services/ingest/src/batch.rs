//! One polled batch of `hookline.ingest` and `hookline.events`: every record judged by
//! the shared checks (webhooks by the [`Ingestor`], events by the [`EventIntake`]),
//! then every resulting record (TaskAccepted to `hookline.deliveries`, EventAccepted
//! to `hookline.fanout`, rejected copies to `hookline.ingest.rejected`) appended in one
//! call; a record whose outcome the log cannot take is set aside in
//! `hookline.quarantine` instead.

use std::collections::HashSet;
use std::time::Duration;

use hookline_domain::{topics, EventAccepted, EventId, LogPosition, TaskId, TaskView};
use hookline_log::consume::{next_offsets, Backoff};
use hookline_log::{Appended, EventLog, LogError, NewRecord, Record, TopicPartition};
use hookline_quarantine::{Output, SetAside};
use hookline_routing::Directory;
use hookline_traces::Kind;
use hookline_views::{EventView, ViewChange};
use tokio_util::sync::CancellationToken;
use tracing::field::{display, Empty};
use tracing::Instrument;

use crate::envelope::{rejected_copy, trace_of, Envelope, EventEnvelope, Rejection};
use crate::error::{IngestConsumerError, IngestError};
use crate::events::{CheckedEvent, EventIntake, EventRequest};
use crate::ingestor::{Checked, IngestRequest, Ingestor};
use crate::metrics::{IngestCounters, Tally};

/// How long an event whose tenant is unknown waits for the routing directory to read
/// the tenant changes appended before it, before it is refused.
const TENANTS_PATIENCE: Duration = Duration::from_secs(10);

/// What the consumer judges records with.
pub(crate) struct Judges<'a> {
    pub ingestor: &'a Ingestor,
    pub intake: &'a EventIntake,
    /// Read for how far `hookline.tenants` reaches, before an unknown tenant is refused.
    pub log: &'a dyn EventLog,
}

/// What one record comes to.
enum Verdict {
    Accepted {
        task_id: TaskId,
        task: NewRecord,
        /// The task as the views show it, when an idempotency key names it.
        keyed: Option<Box<TaskView>>,
    },
    /// An event sent to a tenant, accepted: its EventAccepted for `hookline.fanout`.
    EventAccepted {
        event_id: EventId,
        record: NewRecord,
        task_ids: Vec<TaskId>,
        /// The event, when an idempotency key names it: written to the views before the
        /// commit, like a keyed task.
        keyed: Option<Box<EventAccepted>>,
    },
    /// Its idempotency key named a task (or an event) accepted before.
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
    judges: &Judges<'_>,
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
    // Keyed events of this batch, likewise, and those to remember once appended:
    // (index in `output`, event, its tasks).
    let mut keyed_event_ids = HashSet::new();
    let mut keyed_events = Vec::new();
    for record in records {
        let verdict = if record.topic == topics::EVENTS {
            judge_event(judges, record, shutdown).await?
        } else {
            judge(judges.ingestor, record, shutdown).await?
        };
        let Some(verdict) = verdict else { break };
        match verdict {
            Verdict::Accepted { task_id, keyed: Some(_), .. } if !keyed.insert(task_id) => tally.replayed += 1,
            Verdict::EventAccepted { event_id, keyed: Some(_), .. } if !keyed_event_ids.insert(event_id) => {
                tally.replayed += 1
            }
            Verdict::EventAccepted { event_id, record: accepted, task_ids, keyed } => {
                tally.accepted += 1;
                if let Some(event) = keyed {
                    keyed_events.push((output.len(), event_id, task_ids, event));
                }
                output.push(Output { record: accepted, origin: record });
            }
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
    let position = |topic: &str, index: usize| {
        landed[index].map(|at| LogPosition { topic: topic.to_string(), partition: at.partition, offset: at.offset })
    };
    let task_changes = keyed_views.into_iter().filter_map(|(index, view)| {
        Some(ViewChange::Task { task: *view, payload_at: position(topics::DELIVERIES, index)? })
    });
    let mut appended_events = Vec::new();
    let mut event_changes = Vec::new();
    for (index, event_id, task_ids, event) in keyed_events {
        if let Some(at) = position(topics::FANOUT, index) {
            event_changes.push(ViewChange::Event(Box::new(EventView::of(&event, at))));
            appended_events.push((event_id, task_ids));
        }
    }
    if !judges.ingestor.record_keyed(task_changes.chain(event_changes).collect(), shutdown).await {
        return Ok(Vec::new());
    }
    judges.ingestor.remember_keyed(keyed);
    judges.intake.remember_keyed(appended_events);
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
        task_id = Empty,
        otel.kind = Empty,
    );
    let incoming = trace_of(record);
    hookline_traces::continue_trace(&span, incoming.as_ref(), Kind::Consumer);
    hookline_traces::messaging(&span, "process", &record.topic);
    async {
        // The task's attempts join the trace of this span (or the producer's, when off).
        let trace = hookline_traces::handed_on(&tracing::Span::current(), incoming.as_ref());
        let envelope = match Envelope::read(record) {
            Ok(envelope) => envelope,
            Err(rejection) => return Ok(Some(reject(record, rejection))),
        };
        tracing::Span::current().record("subscription_id", display(envelope.subscription_id));
        let mut backoff = Backoff::new();
        loop {
            let request = IngestRequest { trace: trace.as_ref(), ..envelope.request() };
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
                Err(error) => {
                    if let Some(verdict) = after_failed_check(error, record, &mut backoff, shutdown).await? {
                        return Ok(verdict);
                    }
                }
            }
        }
    }
    .instrument(span)
    .await
}

/// What a failed check of `record` comes to: a refusal is the record's rejected copy;
/// a failure that may pass is tried again after a pause (`None`); anything else stops
/// the consumer. `Some(None)`: shutdown came while waiting to try again.
async fn after_failed_check(
    error: IngestError,
    record: &Record,
    backoff: &mut Backoff,
    shutdown: &CancellationToken,
) -> Result<Option<Option<Verdict>>, IngestConsumerError> {
    if error.is_refusal() {
        return Ok(Some(Some(reject(record, Rejection::Refused(error)))));
    }
    if !error.is_retryable() {
        return Err(IngestConsumerError::Check(error));
    }
    tracing::warn!(%error, "checking failed, retrying");
    Ok((!backoff.wait(shutdown).await).then_some(None))
}

/// Runs the event checks on one record of `hookline.events`, trying again while the
/// log or views are unavailable. An unknown tenant is refused only once the routing
/// directory has read every tenant change appended so far. `None`: shutdown came
/// while waiting to try again.
async fn judge_event(
    judges: &Judges<'_>,
    record: &Record,
    shutdown: &CancellationToken,
) -> Result<Option<Verdict>, IngestConsumerError> {
    let span = tracing::info_span!(
        "ingest_event",
        partition = record.partition,
        offset = record.offset,
        tenant_id = Empty,
        event_id = Empty,
        otel.kind = Empty,
    );
    let incoming = trace_of(record);
    hookline_traces::continue_trace(&span, incoming.as_ref(), Kind::Consumer);
    hookline_traces::messaging(&span, "process", &record.topic);
    async {
        let trace = hookline_traces::handed_on(&tracing::Span::current(), incoming.as_ref());
        let envelope = match EventEnvelope::read(record) {
            Ok(envelope) => envelope,
            Err(rejection) => return Ok(Some(reject(record, rejection))),
        };
        tracing::Span::current().record("tenant_id", display(&envelope.tenant));
        let mut backoff = Backoff::new();
        let mut tenants_read = false;
        loop {
            let request = EventRequest { trace: trace.as_ref(), ..envelope.request() };
            let checked = match judges.intake.check(&request).await {
                Err(IngestError::UnknownTenant) if !tenants_read => {
                    match read_tenants_to_end(judges.log, judges.intake.routing()).await {
                        Ok(()) => {
                            tenants_read = true;
                            continue;
                        }
                        Err(error) => Err(IngestError::Log(error)),
                    }
                }
                checked => checked,
            };
            match checked {
                Ok(CheckedEvent::Accepted { event, record: accepted }) => {
                    tracing::Span::current().record("event_id", display(event.event_id));
                    tracing::debug!(tasks = event.subscriptions.len(), "event accepted");
                    let (event_id, task_ids) = (event.event_id, event.task_ids());
                    let keyed = event.idempotency_key.is_some().then_some(event);
                    return Ok(Some(Verdict::EventAccepted { event_id, record: accepted, task_ids, keyed }));
                }
                Ok(CheckedEvent::Replayed { event_id, .. }) => {
                    tracing::Span::current().record("event_id", display(event_id));
                    tracing::debug!("idempotency key seen before, no new event");
                    return Ok(Some(Verdict::Replayed));
                }
                Err(error) => {
                    if let Some(verdict) = after_failed_check(error, record, &mut backoff, shutdown).await? {
                        return Ok(verdict);
                    }
                }
            }
        }
    }
    .instrument(span)
    .await
}

/// Waits, [`TENANTS_PATIENCE`] at most, until the routing directory has folded every
/// record `hookline.tenants` holds now: an event produced just after its tenant was
/// created is then judged with that tenant known. A directory that stays behind is
/// logged, and the event judged as the directory stands.
async fn read_tenants_to_end(log: &dyn EventLog, routing: &Directory) -> Result<(), LogError> {
    for (partition, end) in log.end_offsets(topics::TENANTS).await? {
        let Some(last) = end.checked_sub(1) else { continue };
        if let Err(error) =
            routing.wait_for(topics::TENANTS, &Appended { partition, offset: last }, TENANTS_PATIENCE).await
        {
            tracing::warn!(%error, partition, "routing directory behind hookline.tenants");
            return Ok(());
        }
    }
    Ok(())
}

fn reject(record: &Record, rejection: Rejection) -> Verdict {
    let reason = rejection.reason();
    tracing::warn!(reason, message = %rejection.message(), "record rejected");
    Verdict::Rejected { copy: rejected_copy(record, &rejection), reason }
}
