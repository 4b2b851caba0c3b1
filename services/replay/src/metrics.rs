//! The replay role's metrics; labels are bounded (a fixed set of skip reasons).

use std::sync::Arc;

use hookline_metrics::{Counter, Family, Gauge, Registry};

/// Attempts the role queued (RetryScheduled records marked with a replay).
pub const TASKS_QUEUED_METRIC: &str = "hookline_replay_tasks_queued_total";
/// Matching tasks the role could not send again, by reason.
pub const TASKS_SKIPPED_METRIC: &str = "hookline_replay_tasks_skipped_total";
/// Replays this process is running now.
pub const RUNNING_METRIC: &str = "hookline_replays_running";
/// Replays waiting for one of the running ones to end.
pub const WAITING_METRIC: &str = "hookline_replays_waiting";
/// Replays ended, by final state.
pub const ENDED_METRIC: &str = "hookline_replays_ended_total";

/// Why a matching task was not sent again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    /// The log no longer holds its payload (past the retention), or the views no longer point at it.
    PayloadGone,
    /// Its subscription was deleted since the replay was asked for.
    SubscriptionGone,
    /// Its attempt is larger than the log takes.
    TooLarge,
}

impl Skip {
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::PayloadGone => "payload_gone",
            Skip::SubscriptionGone => "subscription_gone",
            Skip::TooLarge => "too_large",
        }
    }
}

pub(crate) struct ReplayMetrics {
    queued: Arc<Counter>,
    skipped: Arc<Family<Counter>>,
    pub running: Arc<Gauge>,
    pub waiting: Arc<Gauge>,
    ended: Arc<Family<Counter>>,
}

impl ReplayMetrics {
    pub fn new(registry: &Registry) -> Self {
        Self {
            queued: registry.counter(
                TASKS_QUEUED_METRIC,
                "Attempts replays queued in the shortest retry tier, counted once durable (again after a restart repeats a page).",
            ),
            skipped: registry.counter_family(
                TASKS_SKIPPED_METRIC,
                "Tasks a replay matched and could not send again, by reason.",
                &["reason"],
            ),
            running: registry.gauge(RUNNING_METRIC, "Replays this process is running (queueing, or waiting for their last tasks to end)."),
            waiting: registry.gauge(WAITING_METRIC, "Replays asked for and waiting for a running one to end."),
            ended: registry.counter_family(ENDED_METRIC, "Replays this process ended, by final state.", &["state"]),
        }
    }

    pub fn queued(&self, n: u64) {
        self.queued.inc_by(n);
    }

    pub fn skipped(&self, reason: Skip, n: u64) {
        self.skipped.with(&[reason.as_str()]).inc_by(n);
    }

    pub fn ended(&self, state: &str) {
        self.ended.with(&[state]).inc();
    }
}
