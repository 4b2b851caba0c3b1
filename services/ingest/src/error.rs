//! Why a webhook was refused, and why the ingest consumer stopped.

use hookline_domain::signature::SignatureError;
use hookline_log::LogError;
use hookline_views::ViewError;

/// Why a webhook was refused.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("Subscription not found")]
    UnknownSubscription,
    #[error("Tenant not found")]
    UnknownTenant,
    #[error("An event type is required")]
    MissingEventType,
    #[error("Event too large to send to {subscriptions} subscriptions: {size} bytes with their list (limit {limit})")]
    FanOutTooLarge { subscriptions: usize, size: usize, limit: usize },
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error("Request body must be JSON")]
    NotJson,
    #[error("Request body must be UTF-8 encoded JSON")]
    NotUtf8,
    #[error("Request body nests JSON deeper than {} levels", hookline_domain::limits::MAX_JSON_DEPTH)]
    TooDeep,
    #[error("Request body too large: {size} bytes (limit {limit})")]
    TooLarge { size: usize, limit: usize },
    #[error("Invalid event type: {0}")]
    InvalidEventType(String),
    #[error("Event type {0:?} is reserved: types starting with \"hookline.\" are hookline's own operational events")]
    ReservedEventType(String),
    #[error("Invalid idempotency key: {0}")]
    InvalidIdempotencyKey(String),
    #[error("Invalid ordering key: {0}")]
    InvalidOrderingKey(String),
    #[error("log: {0}")]
    Log(#[from] LogError),
    #[error("views: {0}")]
    Views(#[from] ViewError),
}

impl IngestError {
    /// Whether the producer may succeed by sending the same webhook again later.
    pub fn is_retryable(&self) -> bool {
        match self {
            IngestError::Log(e) => e.is_retryable(),
            IngestError::Views(e) => e.is_retryable(),
            _ => false,
        }
    }

    /// Whether the webhook itself failed a check (as opposed to the log or views failing).
    pub fn is_refusal(&self) -> bool {
        !matches!(self, IngestError::Log(_) | IngestError::Views(_))
    }

    /// A short stable name for metrics and rejection headers.
    pub fn reason(&self) -> &'static str {
        match self {
            IngestError::UnknownSubscription => "unknown_subscription",
            IngestError::UnknownTenant => "unknown_tenant",
            IngestError::MissingEventType => "missing_event_type",
            IngestError::FanOutTooLarge { .. } => "fan_out_too_large",
            IngestError::Signature(SignatureError::Missing) => "signature_missing",
            IngestError::Signature(SignatureError::Invalid) => "signature_invalid",
            IngestError::Signature(SignatureError::Timestamp) => "signature_timestamp",
            IngestError::NotJson => "not_json",
            IngestError::NotUtf8 => "not_utf8",
            IngestError::TooDeep => "too_deep",
            IngestError::TooLarge { .. } => "too_large",
            IngestError::InvalidEventType(_) => "invalid_event_type",
            IngestError::ReservedEventType(_) => "reserved_event_type",
            IngestError::InvalidIdempotencyKey(_) => "invalid_idempotency_key",
            IngestError::InvalidOrderingKey(_) => "invalid_ordering_key",
            IngestError::Log(_) => "log_error",
            IngestError::Views(_) => "view_error",
        }
    }
}

/// Why the ingest consumer stopped before its shutdown was asked for.
#[derive(Debug, thiserror::Error)]
pub enum IngestConsumerError {
    #[error("invalid ingest consumer settings: {0}")]
    Config(String),
    #[error("log: {0}")]
    Log(#[from] LogError),
    /// Checking a record failed for a reason that is not the record's fault and will not pass.
    #[error("checking a record: {0}")]
    Check(#[source] IngestError),
}

impl IngestConsumerError {
    /// Whether running the consumer again later may succeed (a permanent failure needs an operator).
    pub fn is_retryable(&self) -> bool {
        match self {
            IngestConsumerError::Config(_) => false,
            IngestConsumerError::Log(e) => e.is_retryable(),
            IngestConsumerError::Check(e) => e.is_retryable(),
        }
    }
}
