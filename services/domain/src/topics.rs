//! Names of the log's topics.

/// Subscription changes, keyed by subscription id.
pub const SUBSCRIPTIONS: &str = "hookline.subscriptions";
/// Accepted tasks awaiting their first attempt, keyed by subscription id.
pub const DELIVERIES: &str = "hookline.deliveries";
/// One record per delivery attempt, keyed by subscription id.
pub const ATTEMPTS: &str = "hookline.attempts";
/// Tasks that ran out of attempts.
pub const DLQ: &str = "hookline.dlq";
/// Raw webhooks produced straight into the log by external producers.
pub const INGEST: &str = "hookline.ingest";
/// Raw webhooks from [`INGEST`] that failed a check, with the reason in a header.
pub const INGEST_REJECTED: &str = "hookline.ingest.rejected";
/// Records a role could not process and could not keep in its own topic for refused
/// records (too large, or refused by the log): a truncated copy with its position and
/// the reason in headers.
pub const QUARANTINE: &str = "hookline.quarantine";
/// Tenants and their tokens, keyed by tenant id.
pub const TENANTS: &str = "hookline.tenants";
/// Raw events produced straight into the log for a tenant (key = tenant id, event type
/// and idempotency key in headers), routed like `POST /api/v1/events`.
pub const EVENTS: &str = "hookline.events";
/// Accepted events, each to be expanded into one task per subscription it matched;
/// keyed by tenant id.
pub const FANOUT: &str = "hookline.fanout";
/// Replays (requests, progress, cancellation, end), keyed by replay id; one
/// partition, so that one process at a time runs them.
pub const REPLAYS: &str = "hookline.replays";
/// What hookline decided (a subscription disabled or enabled, tasks exhausted, a
/// replay completed), keyed by tenant id: for operators who consume Kafka, and the
/// source of the operational webhooks.
pub const OPERATIONAL: &str = "hookline.operational";
/// Prefix of the retry tier topics: `hookline.retry.<seconds>s`.
pub const RETRY_PREFIX: &str = "hookline.retry.";

/// Header naming the event type of a record's value.
pub const EVENT_HEADER: &str = "hookline-event";

/// The retry tier topic for one delay.
pub fn retry_tier(delay_secs: u64) -> String {
    format!("{RETRY_PREFIX}{delay_secs}s")
}
