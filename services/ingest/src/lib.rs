//! Accepting webhooks.
//!
//! Consumes: a raw body with its subscription id, event type, signature and optional
//! idempotency key, from REST or from the direct-ingest topic. Produces: one durable
//! `TaskAccepted` in `hookline.deliveries` (key = subscription id). Guarantees: the
//! same checks for every way in; `Queued` is returned only once the TaskAccepted is
//! durable in the log.

use std::sync::Arc;

use chrono::Utc;
use hookline_domain::events::TaskAccepted;
use hookline_domain::signature::{self, SignatureError};
use hookline_domain::subscription::validate_event_type;
use hookline_domain::{filter, topics, SubscriptionId, SubscriptionState, TaskId};
use hookline_log::{EventLog, LogError, NewRecord};
use hookline_lookup::SubscriptionDirectory;
use hookline_views::ViewError;
use serde_json::value::RawValue;

/// One webhook as it arrives.
#[derive(Clone, Copy, Debug)]
pub struct IngestRequest<'a> {
    pub subscription_id: SubscriptionId,
    pub body: &'a [u8],
    /// The raw event-type header, if any.
    pub event_type: Option<&'a [u8]>,
    /// The raw signature header, if any.
    pub signature: Option<&'a [u8]>,
    /// A stable name for this webhook (an idempotency key or a log position): the
    /// same name always yields the same task id.
    pub dedup_name: Option<&'a [u8]>,
}

/// What became of an accepted webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IngestOutcome {
    Queued(TaskId),
    /// The subscription's filter skipped it; `None` when no event type was given.
    Filtered(Option<String>),
}

/// Why a webhook was refused.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("Subscription not found")]
    UnknownSubscription,
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error("Request body must be JSON")]
    NotJson,
    #[error("Request body too large: {size} bytes (limit {limit})")]
    TooLarge { size: usize, limit: usize },
    #[error("Invalid event type: {0}")]
    InvalidEventType(String),
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

    /// A short stable name for metrics and rejection headers.
    pub fn reason(&self) -> &'static str {
        match self {
            IngestError::UnknownSubscription => "unknown_subscription",
            IngestError::Signature(SignatureError::Missing) => "signature_missing",
            IngestError::Signature(SignatureError::Invalid) => "signature_invalid",
            IngestError::NotJson => "not_json",
            IngestError::TooLarge { .. } => "too_large",
            IngestError::InvalidEventType(_) => "invalid_event_type",
            IngestError::Log(_) => "log_error",
            IngestError::Views(_) => "view_error",
        }
    }
}

/// Checks webhooks and appends them to the log.
pub struct Ingestor {
    log: Arc<dyn EventLog>,
    directory: Arc<SubscriptionDirectory>,
    max_body_bytes: usize,
}

impl Ingestor {
    pub fn new(log: Arc<dyn EventLog>, directory: Arc<SubscriptionDirectory>, max_body_bytes: usize) -> Self {
        Self { log, directory, max_body_bytes }
    }

    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// Checks the webhook, then appends its TaskAccepted and waits until it is durable.
    pub async fn ingest(&self, request: IngestRequest<'_>) -> Result<IngestOutcome, IngestError> {
        let accepted = match self.check(&request).await? {
            Checked::Filtered(event_type) => return Ok(IngestOutcome::Filtered(event_type)),
            Checked::Accepted(accepted) => accepted,
        };
        let task_id = accepted.task_id;
        let record = NewRecord {
            topic: topics::DELIVERIES.to_string(),
            key: accepted.subscription_id.to_string().into_bytes(),
            headers: vec![(topics::EVENT_HEADER.to_string(), TaskAccepted::KIND.as_bytes().to_vec())],
            value: serde_json::to_vec(&accepted).expect("a TaskAccepted always serializes"),
        };
        self.log.append(vec![record]).await?;
        tracing::debug!(task_id = %task_id, subscription_id = %accepted.subscription_id, "task accepted");
        Ok(IngestOutcome::Queued(task_id))
    }

    async fn check(&self, request: &IngestRequest<'_>) -> Result<Checked, IngestError> {
        if request.body.len() > self.max_body_bytes {
            return Err(IngestError::TooLarge { size: request.body.len(), limit: self.max_body_bytes });
        }
        let state = self.directory.get(request.subscription_id).await?;
        let subscription = match state.as_deref() {
            Some(SubscriptionState::Live(subscription)) => subscription.clone(),
            Some(SubscriptionState::Deleted { .. }) | None => return Err(IngestError::UnknownSubscription),
        };
        if let Some(secret) = &subscription.secret {
            signature::verify_ingest(secret.expose(), request.body, request.signature)?;
        }
        let event_type = match request.event_type {
            None => None,
            Some(raw) => {
                let text =
                    std::str::from_utf8(raw).map_err(|_| IngestError::InvalidEventType("must be UTF-8".into()))?.trim();
                if text.is_empty() {
                    None
                } else {
                    validate_event_type("event_type", text).map_err(|e| IngestError::InvalidEventType(e.message))?;
                    Some(text.to_string())
                }
            }
        };
        let body = std::str::from_utf8(request.body).map_err(|_| IngestError::NotJson)?;
        let payload = RawValue::from_string(body.to_string()).map_err(|_| IngestError::NotJson)?;
        if !filter::passes(subscription.event_type_filter.as_deref(), event_type.as_deref()) {
            return Ok(Checked::Filtered(event_type));
        }
        let task_id = match request.dedup_name {
            Some(name) => TaskId::derived(subscription.id, name),
            None => TaskId::new(),
        };
        Ok(Checked::Accepted(TaskAccepted {
            task_id,
            subscription_id: subscription.id,
            event_type,
            accepted_at: Utc::now(),
            payload,
        }))
    }
}

enum Checked {
    Accepted(TaskAccepted),
    Filtered(Option<String>),
}
