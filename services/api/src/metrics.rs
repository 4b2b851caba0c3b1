//! The API's metrics: webhooks received over REST by outcome, in the family the ingest
//! consumer also counts into (`source="rest"` here, `"log"` there).

use std::sync::{Arc, OnceLock};

use hookline_ingest::{IngestOutcome, REQUESTS_HELP, REQUESTS_METRIC};
use hookline_metrics::{Counter, Family, Registry};

use crate::error::ApiError;

pub(crate) struct ApiMetrics {
    ingest: Arc<Family<Counter>>,
    /// The counter nearly every request goes to, looked up once (on first use, so that
    /// it is not shown before anything was queued).
    queued: OnceLock<Arc<Counter>>,
}

impl ApiMetrics {
    pub fn new(registry: &Registry) -> Self {
        Self {
            ingest: registry.counter_family(REQUESTS_METRIC, REQUESTS_HELP, &["source", "outcome"]),
            queued: OnceLock::new(),
        }
    }

    pub fn ingested(&self, result: &Result<IngestOutcome, ApiError>) {
        match result {
            Ok(IngestOutcome::Queued(_)) => self.queued.get_or_init(|| self.ingest.with(&["rest", "queued"])).inc(),
            other => self.ingest.with(&["rest", ingest_outcome(other)]).inc(),
        }
    }
}

/// A bounded name for what became of a REST webhook.
fn ingest_outcome(result: &Result<IngestOutcome, ApiError>) -> &'static str {
    match result {
        Ok(IngestOutcome::Queued(_)) => "queued",
        Ok(IngestOutcome::Replayed(_)) => "replayed",
        Ok(IngestOutcome::Filtered(_)) => "filtered",
        Err(ApiError::Ingest(e)) if e.is_refusal() => e.reason(),
        Err(ApiError::InvalidId(_)) => "invalid_subscription_id",
        Err(ApiError::UnsupportedMediaType) => "not_json",
        Err(ApiError::PayloadTooLarge { .. }) => "too_large",
        Err(ApiError::BadRequest(_)) => "bad_request",
        Err(ApiError::RateLimited { .. }) => "rate_limited",
        Err(_) => "error",
    }
}
