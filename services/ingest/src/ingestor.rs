//! The checks every webhook passes, whichever way it came in, and the TaskAccepted
//! record they produce.

use std::sync::Arc;

use chrono::Utc;
use hookline_domain::events::TaskAccepted;
use hookline_domain::signature;
use hookline_domain::subscription::validate_event_type;
use hookline_domain::{filter, topics, SubscriptionId, SubscriptionState, TaskId};
use hookline_log::{EventLog, NewRecord};
use hookline_lookup::SubscriptionDirectory;
use serde_json::value::RawValue;

use crate::error::IngestError;

/// One webhook as it arrives.
#[derive(Clone, Copy, Debug)]
pub struct IngestRequest<'a> {
    pub subscription_id: SubscriptionId,
    pub body: &'a [u8],
    /// The raw event-type header, if any.
    pub event_type: Option<&'a [u8]>,
    /// The raw signature header, if any.
    pub signature: Option<&'a [u8]>,
    /// A stable name for this webhook (see [`idempotency_name`] and [`position_name`]):
    /// the same name always yields the same task id. `None` draws a fresh task id.
    pub dedup_name: Option<&'a [u8]>,
}

/// What became of an accepted webhook.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IngestOutcome {
    Queued(TaskId),
    /// The subscription's filter skipped it; `None` when no event type was given.
    Filtered(Option<String>),
}

/// The dedup name of a webhook carrying an idempotency key, the same for every way in.
pub fn idempotency_name(key: &[u8]) -> Vec<u8> {
    [b"key:".as_slice(), key].concat()
}

/// The dedup name of a webhook without an idempotency key, read at a position of the log.
pub fn position_name(topic: &str, partition: u32, offset: u64) -> Vec<u8> {
    format!("log:{topic}/{partition}/{offset}").into_bytes()
}

/// A webhook that passed every check.
pub(crate) enum Checked {
    /// Its TaskAccepted record, ready to append to `hookline.deliveries`.
    Accepted { task_id: TaskId, record: NewRecord },
    /// Skipped by the subscription's filter.
    Filtered(Option<String>),
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
        match self.check(&request).await? {
            Checked::Filtered(event_type) => Ok(IngestOutcome::Filtered(event_type)),
            Checked::Accepted { task_id, record } => {
                self.log.append(vec![record]).await?;
                tracing::debug!(%task_id, subscription_id = %request.subscription_id, "task accepted");
                Ok(IngestOutcome::Queued(task_id))
            }
        }
    }

    /// Every check of a webhook, in the order REST has always answered them, and the
    /// TaskAccepted record it becomes. Appends nothing: the caller decides how to batch.
    pub(crate) async fn check(&self, request: &IngestRequest<'_>) -> Result<Checked, IngestError> {
        if request.body.len() > self.max_body_bytes {
            return Err(IngestError::TooLarge { size: request.body.len(), limit: self.max_body_bytes });
        }
        let state = self.directory.get(request.subscription_id).await?;
        let subscription = match state.as_deref() {
            Some(SubscriptionState::Live(subscription)) => subscription,
            Some(SubscriptionState::Deleted { .. }) | None => return Err(IngestError::UnknownSubscription),
        };
        if let Some(secret) = &subscription.secret {
            signature::verify_ingest(secret.expose(), request.body, request.signature)?;
        }
        let event_type = event_type(request.event_type)?;
        let body = std::str::from_utf8(request.body).map_err(|_| IngestError::NotJson)?;
        let payload = RawValue::from_string(body.to_string()).map_err(|_| IngestError::NotJson)?;
        if !filter::passes(subscription.event_type_filter.as_deref(), event_type.as_deref()) {
            return Ok(Checked::Filtered(event_type));
        }
        let task_id = match request.dedup_name {
            Some(name) => TaskId::derived(subscription.id, name),
            None => TaskId::new(),
        };
        let accepted =
            TaskAccepted { task_id, subscription_id: subscription.id, event_type, accepted_at: Utc::now(), payload };
        Ok(Checked::Accepted { task_id, record: task_accepted_record(&accepted) })
    }
}

/// The event type header, trimmed; blank counts as none.
fn event_type(raw: Option<&[u8]>) -> Result<Option<String>, IngestError> {
    let Some(raw) = raw else { return Ok(None) };
    let text = std::str::from_utf8(raw).map_err(|_| IngestError::InvalidEventType("must be UTF-8".into()))?.trim();
    if text.is_empty() {
        return Ok(None);
    }
    validate_event_type("event_type", text).map_err(|e| IngestError::InvalidEventType(e.message))?;
    Ok(Some(text.to_string()))
}

fn task_accepted_record(accepted: &TaskAccepted) -> NewRecord {
    NewRecord {
        topic: topics::DELIVERIES.to_string(),
        key: accepted.subscription_id.to_string().into_bytes(),
        headers: vec![(topics::EVENT_HEADER.to_string(), TaskAccepted::KIND.as_bytes().to_vec())],
        // Plain fields and a raw JSON value: serializing cannot fail.
        value: serde_json::to_vec(accepted).expect("a TaskAccepted always serializes"),
    }
}
