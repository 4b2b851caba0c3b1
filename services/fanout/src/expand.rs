//! One polled batch of `hookline.fanout`: every event turned into its tasks, the tasks
//! appended in bounded appends, and the offsets to commit once all are durable.

use hookline_domain::EventAccepted;
use hookline_log::consume::next_offsets;
use hookline_log::{LogError, Record, TopicPartition};
use hookline_quarantine::{Output, Reason, SetAside};
use hookline_records::task_accepted_record;
use tokio_util::sync::CancellationToken;

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
        let mut tasks = Vec::new();
        let mut events = 0;
        for record in records {
            match serde_json::from_slice::<EventAccepted>(&record.value) {
                Ok(event) => {
                    let span = tracing::debug_span!(
                        "fanout_event",
                        event_id = %event.event_id,
                        tenant_id = %event.tenant_id,
                        partition = record.partition,
                        offset = record.offset,
                    );
                    let _in_span = span.enter();
                    tracing::debug!(tasks = event.subscriptions.len(), "event expanded");
                    events += 1;
                    tasks.extend(event.subscriptions.iter().map(|subscription| Output {
                        record: task_accepted_record(&event.task_for(*subscription)),
                        origin: record,
                    }));
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
        let mut written = 0;
        let mut tasks = tasks.into_iter().peekable();
        while tasks.peek().is_some() {
            let chunk: Vec<Output> = tasks.by_ref().take(self.max_tasks_per_append).collect();
            match self.set_aside.append(chunk, shutdown).await? {
                Some(landed) => written += landed.iter().flatten().count(),
                None => return Ok(Vec::new()),
            }
        }
        self.metrics.expanded(events, written as u64);
        Ok(next_offsets(records))
    }
}
