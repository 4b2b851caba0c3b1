//! The delivery role's metrics. Labels are bounded: attempt outcomes, status classes,
//! dead-letter causes, source topics (deliveries plus the configured retry tiers), and
//! the subscriptions of dead letters, at most [`DEAD_LETTER_SUBSCRIPTIONS`] of them.

use std::sync::Arc;
use std::time::Duration;

use hookline_domain::{Outcome, SubscriptionId};
use hookline_metrics::{CappedCounters, Counter, Family, Gauge, Histogram, Registry, LATENCY_BUCKETS};

/// How many subscriptions get a dead-letter series of their own: the first ones to
/// dead-letter a task since the process started. Later ones count under
/// [`OTHER_SUBSCRIPTIONS`].
pub(crate) const DEAD_LETTER_SUBSCRIPTIONS: usize = 50;
/// The `subscription_id` label of the dead letters of every subscription past the first
/// [`DEAD_LETTER_SUBSCRIPTIONS`] (never a subscription id: those are UUIDs).
pub(crate) const OTHER_SUBSCRIPTIONS: &str = "other";

/// Why a record went to the dead-letter topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DeadLetterCause {
    /// Every attempt failed.
    Exhausted,
    /// No later attempt could succeed (the subscription is deleted, or the receiver answered 410 Gone).
    Permanent,
    /// The record could not be read as work.
    Undecodable,
}

impl DeadLetterCause {
    fn as_str(self) -> &'static str {
        match self {
            DeadLetterCause::Exhausted => "exhausted",
            DeadLetterCause::Permanent => "permanent",
            DeadLetterCause::Undecodable => "undecodable",
        }
    }
}

/// What a keyed task's wait for its turn came to (ordering per key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TurnResult {
    /// Its turn came: it was attempted.
    Went,
    /// It did not come soon enough: the task went to the shortest retry tier, unattempted.
    Deferred,
    /// The task had ended already: not attempted again.
    Ended,
}

impl TurnResult {
    fn as_str(self) -> &'static str {
        match self {
            TurnResult::Went => "went",
            TurnResult::Deferred => "deferred",
            TurnResult::Ended => "ended",
        }
    }
}

/// What one attempt came to, counted once its outcome is durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AttemptTally {
    pub outcome: Outcome,
    pub http_status: Option<u16>,
    pub dead_letter: Option<DeadLetterCause>,
}

/// The delivery role's metrics, registered in the process registry.
pub(crate) struct DeliveryMetrics {
    attempts: Arc<Family<Counter>>,
    latency: Arc<Histogram>,
    in_flight: Arc<Gauge>,
    dead_letters: Arc<Family<Counter>>,
    dead_letters_by_subscription: CappedCounters,
    held: Arc<Family<Gauge>>,
    overdue: Arc<Family<Gauge>>,
    duplicates: Arc<Counter>,
    turns: Arc<Family<Counter>>,
    rate_deferred: Arc<Counter>,
}

impl DeliveryMetrics {
    pub fn new(registry: &Registry) -> Self {
        Self {
            attempts: registry.counter_family(
                "hookline_delivery_attempts_total",
                "Delivery attempts whose outcome is durable, by outcome and HTTP status class (none: no answer).",
                &["outcome", "status_class"],
            ),
            latency: registry
                .histogram_family(
                    "hookline_delivery_attempt_duration_seconds",
                    "Time from sending a webhook to having read the receiver's answer (or giving up on it).",
                    &[],
                    &LATENCY_BUCKETS,
                )
                .with(&[]),
            in_flight: registry.gauge("hookline_delivery_in_flight", "Delivery attempts running now."),
            dead_letters: registry.counter_family(
                "hookline_delivery_dead_letters_total",
                "Records written to hookline.dlq, by cause (exhausted, permanent, undecodable).",
                &["cause"],
            ),
            dead_letters_by_subscription: CappedCounters::new(
                registry.counter_family(
                    "hookline_delivery_dead_letters_by_subscription_total",
                    &format!(
                        "Tasks dead-lettered (every attempt failed, or none could succeed), by subscription: the \
                         first {DEAD_LETTER_SUBSCRIPTIONS} subscriptions to dead-letter since the process started, \
                         the rest under \"{OTHER_SUBSCRIPTIONS}\"."
                    ),
                    &["subscription_id"],
                ),
                DEAD_LETTER_SUBSCRIPTIONS,
                OTHER_SUBSCRIPTIONS,
            ),
            held: registry.gauge_family(
                "hookline_delivery_held_records",
                "Records a source has polled and not finished: waiting until due, waiting for a slot, or in flight.",
                &["source"],
            ),
            overdue: registry.gauge_family(
                "hookline_delivery_retry_overdue_seconds",
                "Seconds since the oldest retry a tier has dispatched and not finished was due (0: none is late).",
                &["source"],
            ),
            duplicates: registry.counter(
                "hookline_delivery_duplicates_skipped_total",
                "TaskAccepted records not attempted because this process started the same task lately (a task appended twice).",
            ),
            turns: registry.counter_family(
                "hookline_delivery_ordering_turns_total",
                "First attempts of keyed tasks of subscriptions ordered by key, by what their wait for their turn came to (went, deferred, ended).",
                &["result"],
            ),
            rate_deferred: registry.counter(
                "hookline_delivery_rate_deferred_total",
                "Tasks put back in a retry tier, unattempted, until their turn under their subscription's rate limit.",
            ),
        }
    }

    /// Counts an attempt of a task of `subscription` whose outcome is durable.
    pub fn attempt_settled(&self, subscription: SubscriptionId, tally: AttemptTally) {
        self.attempts.with(&[tally.outcome.as_str(), status_class(tally.http_status)]).inc();
        if let Some(cause) = tally.dead_letter {
            self.dead_lettered(cause);
            self.dead_letters_by_subscription.inc(&subscription.to_string());
        }
    }

    /// A record dead-lettered, by cause only: an undecodable one names no subscription.
    pub fn dead_lettered(&self, cause: DeadLetterCause) {
        self.dead_letters.with(&[cause.as_str()]).inc();
    }

    pub fn turn(&self, result: TurnResult) {
        self.turns.with(&[result.as_str()]).inc();
    }

    pub fn rate_deferred(&self) {
        self.rate_deferred.inc();
    }

    pub fn duplicate_skipped(&self) {
        self.duplicates.inc();
    }

    pub fn request_took(&self, latency: Duration) {
        self.latency.observe(latency.as_secs_f64());
    }

    /// Counts an attempt as running until the guard is dropped.
    pub fn running(&self) -> InFlight {
        self.in_flight.add(1);
        InFlight(self.in_flight.clone())
    }

    /// The gauge of records held by the source reading `topic`.
    pub fn held(&self, topic: &str) -> Arc<Gauge> {
        self.held.with(&[topic])
    }

    /// The gauge of how late the retry tier `topic` runs.
    pub fn overdue(&self, topic: &str) -> Arc<Gauge> {
        self.overdue.with(&[topic])
    }
}

/// One running attempt, for the in-flight gauge.
pub(crate) struct InFlight(Arc<Gauge>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.add(-1);
    }
}

fn status_class(status: Option<u16>) -> &'static str {
    match status {
        Some(200..=299) => "2xx",
        Some(300..=399) => "3xx",
        Some(400..=499) => "4xx",
        Some(500..=599) => "5xx",
        _ => "none",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_fall_in_bounded_classes() {
        assert_eq!(status_class(Some(204)), "2xx");
        assert_eq!(status_class(Some(302)), "3xx");
        assert_eq!(status_class(Some(404)), "4xx");
        assert_eq!(status_class(Some(503)), "5xx");
        assert_eq!(status_class(Some(101)), "none");
        assert_eq!(status_class(Some(999)), "none");
        assert_eq!(status_class(None), "none");
    }

    #[test]
    fn in_flight_goes_back_down_when_the_attempt_ends() {
        let registry = Registry::new();
        let metrics = DeliveryMetrics::new(&registry);
        let first = metrics.running();
        let second = metrics.running();
        assert_eq!(metrics.in_flight.get(), 2);
        drop(first);
        drop(second);
        assert_eq!(metrics.in_flight.get(), 0);
    }

    #[test]
    fn dead_letters_are_counted_by_subscription_and_attempts_that_go_on_are_not() {
        let registry = Registry::new();
        let metrics = DeliveryMetrics::new(&registry);
        let (sub, other) = (SubscriptionId::new(), SubscriptionId::new());
        let tally =
            |dead_letter| AttemptTally { outcome: Outcome::PermanentlyFailed, http_status: Some(500), dead_letter };
        metrics.attempt_settled(sub, tally(Some(DeadLetterCause::Exhausted)));
        metrics.attempt_settled(sub, tally(Some(DeadLetterCause::Permanent)));
        metrics.attempt_settled(other, tally(None));
        metrics.dead_lettered(DeadLetterCause::Undecodable);
        let text = registry.render();
        let by_subscription = "hookline_delivery_dead_letters_by_subscription_total";
        assert!(text.contains(&format!("{by_subscription}{{subscription_id=\"{sub}\"}} 2\n")), "{text}");
        assert!(!text.contains(&other.to_string()), "{text}");
        assert!(text.contains(&format!("{by_subscription}{{subscription_id=\"other\"}} 0\n")), "{text}");
    }
}
