//! One polled batch of `hookline.fanout`: every event turned into its tasks, the tasks
//! appended in bounded appends, and the offsets to commit once all are durable.

use hookline_domain::EventAccepted;
use hookline_log::consume::next_offsets;
use hookline_log::{LogError, Record, TopicPartition};
use hookline_quarantine::{Output, Reason, SetAside};
use hookline_records::task_accepted_record;
use hookline_traces::Kind;
use tokio_util::sync::CancellationToken;
use tracing::field::Empty;
use tracing::Span;

use crate::metrics::FanoutMetrics;

pub(crate) struct Expander {
    pub set_aside: SetAside,
    pub metrics: FanoutMetrics,
    pub max_tasks_per_append: usize,
}

impl Expander {
    /// Expands the events of `records` and appends their tasks durably. Returns the
    /// offsets to commit: past every record, once all its tasks are durable (or it was
    /// set aside). On shutdown before that, nothing: the batch is expanded again next
    /// run, into the same task ids.
    pub async fn expand(
        &self,
        records: &[Record],
        shutdown: &CancellationToken,
    ) -> Result<Vec<(TopicPartition, u64)>, LogError> {
        let mut events = Vec::with_capacity(records.len());
        // The expansion spans, open until the batch's tasks are durable (traces only).
        let mut expansions = Vec::new();
        for record in records {
            match serde_json::from_slice::<EventAccepted>(&record.value) {
                Ok(mut event) => {
                    let span = tracing::debug_span!(
                        "fanout_event",
                        event_id = %event.event_id,
                        tenant_id = %event.tenant_id,
                        partition = record.partition,
                        offset = record.offset,
                    );
                    let _in_span = span.enter();
                    tracing::debug!(tasks = event.subscriptions.len(), "event expanded");
                    if hookline_traces::enabled() {
                        expansions.push(expansion_span(&mut event, record));
                    }
                    events.push((event, record));
                }
                Err(error) => {
                    let message = format!("not an EventAccepted: {error}");
                    if self.set_aside.set_aside(record, Reason::Undecodable, &message, None, shutdown).await?.is_none()
                    {
                        return Ok(Vec::new());
                    }
                }
            }
        }
        // Tasks are made a chunk at a time, so a batch of large fan-outs holds one
        // chunk of records in memory, not every task of the batch.
        let (mut written, mut next) = (0, TaskCursor::default());
        loop {
            let chunk = next.take(&events, self.max_tasks_per_append);
            if chunk.is_empty() {
                break;
            }
            match self.set_aside.append(chunk, shutdown).await? {
                Some(landed) => written += landed.iter().flatten().count(),
                None => return Ok(Vec::new()),
            }
        }
        let events = events.len() as u64;
        self.metrics.expanded(events, written as u64);
        drop(expansions);
        Ok(next_offsets(records))
    }
}

/// The span of one event's expansion, in the event's trace; the event's tasks then
/// carry its context, so that their attempts are its children.
fn expansion_span(event: &mut EventAccepted, record: &Record) -> Span {
    let span = tracing::info_span!(
        "expand",
        otel.name = "expand hookline.fanout",
        otel.kind = Empty,
        event_id = %event.event_id,
        tenant_id = %event.tenant_id,
        tasks = event.subscriptions.len(),
        partition = record.partition,
        offset = record.offset,
    );
    hookline_traces::continue_trace(&span, event.trace.as_ref(), Kind::Consumer);
    hookline_traces::messaging(&span, "process", &record.topic);
    event.trace = hookline_traces::handed_on(&span, event.trace.as_ref());
    span
}

/// Where the next task of a batch's events is: which event, which of its subscriptions.
#[derive(Default)]
struct TaskCursor {
    event: usize,
    subscription: usize,
}

impl TaskCursor {
    /// The next `max` tasks at most (none once every event is expanded), moving past them.
    fn take<'a>(&mut self, events: &[(EventAccepted, &'a Record)], max: usize) -> Vec<Output<'a>> {
        let mut chunk = Vec::with_capacity(max.min(1024));
        while chunk.len() < max {
            let Some((event, origin)) = events.get(self.event) else { break };
            match event.subscriptions.get(self.subscription) {
                Some(subscription) => {
                    chunk.push(Output { record: task_accepted_record(&event.task_for(*subscription)), origin });
                    self.subscription += 1;
                }
                None => (self.event, self.subscription) = (self.event + 1, 0),
            }
        }
        chunk
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use hookline_domain::{EventId, SubscriptionId, TaskAccepted, TenantId};
    use serde_json::value::RawValue;

    use super::*;

    fn event(subscriptions: usize) -> EventAccepted {
        EventAccepted {
            event_id: EventId::new(),
            tenant_id: TenantId::default(),
            event_type: "order.created".into(),
            accepted_at: Utc::now(),
            idempotency_key: None,
            subscriptions: (0..subscriptions).map(|_| SubscriptionId::new()).collect(),
            payload: RawValue::from_string("{}".into()).unwrap(),
            ordering_key: None,
            trace: None,
        }
    }

    #[test]
    fn chunks_hold_every_task_once_in_order_and_never_more_than_asked() {
        let record = Record {
            topic: "hookline.fanout".into(),
            partition: 0,
            offset: 0,
            timestamp_ms: 0,
            key: Vec::new(),
            headers: Vec::new(),
            value: Vec::new(),
        };
        let events: Vec<(EventAccepted, &Record)> = [3, 0, 5, 1].map(|n| (event(n), &record)).into_iter().collect();
        let want: Vec<_> = events.iter().flat_map(|(e, _)| e.task_ids()).collect();
        let mut cursor = TaskCursor::default();
        let mut chunks = Vec::new();
        loop {
            let chunk = cursor.take(&events, 4);
            if chunk.is_empty() {
                break;
            }
            chunks.push(chunk);
        }
        assert_eq!(chunks.iter().map(Vec::len).collect::<Vec<_>>(), vec![4, 4, 1]);
        let got: Vec<_> = chunks
            .iter()
            .flatten()
            .map(|output| serde_json::from_slice::<TaskAccepted>(&output.record.value).unwrap().task_id)
            .collect();
        assert_eq!(got, want);
    }
}
