//! The fan-out role's metrics; no labels.

use std::sync::Arc;

use hookline_metrics::{Counter, Registry};

/// Events expanded into their tasks.
pub const EVENTS_METRIC: &str = "hookline_fanout_events_total";
/// Task records the role wrote.
pub const TASKS_METRIC: &str = "hookline_fanout_tasks_total";

pub(crate) struct FanoutMetrics {
    events: Arc<Counter>,
    tasks: Arc<Counter>,
}

impl FanoutMetrics {
    pub fn new(registry: &Registry) -> Self {
        Self {
            events: registry.counter(
                EVENTS_METRIC,
                "Events read from hookline.fanout and expanded into their tasks, counted once the tasks are durable (again after a re-read).",
            ),
            tasks: registry.counter(
                TASKS_METRIC,
                "TaskAccepted records the fan-out role wrote to hookline.deliveries, one per subscription of an event.",
            ),
        }
    }

    /// Counts a batch whose tasks are durable.
    pub fn expanded(&self, events: u64, tasks: u64) {
        self.events.inc_by(events);
        self.tasks.inc_by(tasks);
    }
}
