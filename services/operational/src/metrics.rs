//! The operational role's metrics: labels are the four operational types, a fixed set.

use std::sync::Arc;

use hookline_metrics::{Counter, Family, Gauge, Registry};

/// Operational events handed to the fan-out to be delivered, by type.
pub const NOTIFICATIONS_METRIC: &str = "hookline_operational_notifications_total";
/// Operational records passed because the subscription change that made them was refused.
pub const OVERTAKEN_METRIC: &str = "hookline_operational_overtaken_total";
/// Subscriptions whose exhausted tasks are being gathered into a summary now.
pub const GATHERING_METRIC: &str = "hookline_operational_exhausted_gathering";

#[derive(Clone)]
pub(crate) struct OperationalMetrics {
    notifications: Arc<Family<Counter>>,
    overtaken: Arc<Counter>,
    gathering: Arc<Gauge>,
}

impl OperationalMetrics {
    pub fn new(registry: &Registry) -> Self {
        Self {
            notifications: registry.counter_family(
                NOTIFICATIONS_METRIC,
                "Operational events turned into webhooks (an EventAccepted in hookline.fanout), by type, counted once durable (again after a re-read).",
                &["type"],
            ),
            overtaken: registry.counter(
                OVERTAKEN_METRIC,
                "Operational records not delivered because the subscription change that made them was refused (another change landed first).",
            ),
            gathering: registry.gauge(
                GATHERING_METRIC,
                "Subscriptions whose exhausted tasks are being gathered into their next hookline.task.exhausted.",
            ),
        }
    }

    pub fn notified(&self, event_type: &str) {
        self.notifications.with(&[event_type]).inc();
    }

    pub fn overtaken(&self) {
        self.overtaken.inc();
    }

    pub fn gathering(&self, subscriptions: usize) {
        self.gathering.set(subscriptions as i64);
    }
}
