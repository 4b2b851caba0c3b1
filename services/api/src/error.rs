//! Everything a request can fail with, and the one place that picks an HTTP status
//! and a body for each. 5xx bodies are opaque; their cause goes to the log.

use std::collections::BTreeMap;
use std::fmt;

use hookline_ingest::IngestError;
use hookline_log::LogError;
use hookline_views::ViewError;
use serde_json::{json, Value};
use warp::http::StatusCode;

/// Which kind of id a path segment was meant to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdKind {
    Subscription,
    Task,
    Token,
    Event,
    Replay,
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdKind::Subscription => "subscription",
            IdKind::Task => "task",
            IdKind::Token => "token",
            IdKind::Event => "event",
            IdKind::Replay => "replay",
        })
    }
}

/// How big a refused body was, as far as the API knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodySize {
    /// Declared by `Content-Length`.
    Declared(u64),
    /// Read up to the limit and found to go on.
    MoreThan(usize),
}

impl fmt::Display for BodySize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodySize::Declared(size) => write!(f, "{size} bytes"),
            BodySize::MoreThan(limit) => write!(f, "more than {limit} bytes"),
        }
    }
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("Invalid {0} id: must be a UUID")]
    InvalidId(IdKind),
    /// Field name → problem, every problem of the request at once.
    #[error("Validation failed")]
    Validation(BTreeMap<String, String>),
    #[error("{0}")]
    BadRequest(String),
    #[error("Request body must be JSON")]
    UnsupportedMediaType,
    #[error("Request body too large: {size} (limit {limit} bytes)")]
    PayloadTooLarge { size: BodySize, limit: usize },
    #[error("Request body not received within {0} s")]
    BodyTimeout(u64),
    #[error("Subscription not found")]
    SubscriptionNotFound,
    #[error("Delivery task not found")]
    TaskNotFound,
    /// Unknown, deleted, or another tenant's: the same answer for all three.
    #[error("Tenant not found")]
    TenantNotFound,
    #[error("Token not found")]
    TokenNotFound,
    /// Unknown, past the retention, or another tenant's: the same answer for all three.
    #[error("Event not found")]
    EventNotFound,
    /// Unknown, past the retention, or another tenant's: the same answer for all three.
    #[error("Replay not found")]
    ReplayNotFound,
    /// The caller is known but may not do this (a tenant managing tenants).
    #[error("{0}")]
    Forbidden(&'static str),
    /// The request does not fit the current state of what it names.
    #[error("{0}")]
    Conflict(String),
    /// `If-Match` names a version that is not the current one, or another change
    /// landed first.
    #[error(
        "Precondition failed: the subscription is no longer at the version in If-Match (read it again for its ETag)"
    )]
    PreconditionFailed { current: u64 },
    /// A change is durable, but the views did not say in time whether it applied.
    #[error("The change was recorded but not yet confirmed; read it again to see whether it applied")]
    Unsettled,
    /// A change without `If-Match` was overtaken by others every time it was made.
    #[error("The subscription kept changing while this change was made; try again")]
    Contended,
    #[error("Not found")]
    RouteNotFound,
    #[error("Method not allowed")]
    MethodNotAllowed { allow: &'static str },
    #[error("Missing or invalid API token: send `Authorization: Bearer <token>`")]
    Unauthorized,
    #[error("Too many requests{scope}: retry after {retry_after_seconds} s")]
    RateLimited { scope: &'static str, retry_after_seconds: u64 },
    #[error("Request headers too large: {0}")]
    HeadersTooLarge(String),
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error("log: {0}")]
    Log(#[from] LogError),
    #[error("views: {0}")]
    Views(#[from] ViewError),
    #[error("encoding a response: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("listener: {0}")]
    Listener(#[source] std::io::Error),
    #[error("unexpected rejection: {0}")]
    UnexpectedRejection(String),
}

impl From<hookline_replay::payload::ReadError> for ApiError {
    fn from(error: hookline_replay::payload::ReadError) -> Self {
        match error {
            hookline_replay::payload::ReadError::Log(e) => ApiError::Log(e),
            hookline_replay::payload::ReadError::Views(e) => ApiError::Views(e),
        }
    }
}

/// What an error turns into on the wire.
pub(crate) struct ErrorReply {
    pub status: StatusCode,
    pub body: Value,
    /// Extra headers (`Allow`, `Retry-After`).
    pub headers: Vec<(&'static str, String)>,
}

const INTERNAL: &str = "Internal server error";
const UNAVAILABLE: &str = "Service temporarily unavailable";

impl ApiError {
    /// Whether the failure is the server's and may pass if the client tries again.
    fn is_retryable(&self) -> bool {
        match self {
            ApiError::Ingest(e) => e.is_retryable(),
            ApiError::Log(e) => e.is_retryable(),
            ApiError::Views(e) => e.is_retryable(),
            _ => false,
        }
    }

    /// The status, body and headers of this error: the only place that decides them.
    pub(crate) fn to_reply(&self) -> ErrorReply {
        let message = |status: StatusCode, text: String| ErrorReply {
            status,
            body: json!({ "message": text }),
            headers: Vec::new(),
        };
        if self.is_retryable() {
            let mut reply = message(StatusCode::SERVICE_UNAVAILABLE, UNAVAILABLE.into());
            reply.headers.push(("retry-after", "1".into()));
            return reply;
        }
        match self {
            ApiError::InvalidId(_) | ApiError::BadRequest(_) => message(StatusCode::BAD_REQUEST, self.to_string()),
            ApiError::Views(ViewError::InvalidCursor) => message(StatusCode::BAD_REQUEST, "Invalid cursor".into()),
            ApiError::Validation(errors) => ErrorReply {
                status: StatusCode::BAD_REQUEST,
                body: json!({ "message": self.to_string(), "errors": errors }),
                headers: Vec::new(),
            },
            ApiError::UnsupportedMediaType => message(StatusCode::UNSUPPORTED_MEDIA_TYPE, self.to_string()),
            ApiError::PayloadTooLarge { .. } => message(StatusCode::PAYLOAD_TOO_LARGE, self.to_string()),
            ApiError::BodyTimeout(_) => {
                let mut reply = message(StatusCode::REQUEST_TIMEOUT, self.to_string());
                reply.headers.push(("connection", "close".into()));
                reply
            }
            // The seed answered `{"error": ...}` here; both keys keep old and new clients happy.
            ApiError::SubscriptionNotFound => ErrorReply {
                status: StatusCode::NOT_FOUND,
                body: json!({ "message": self.to_string(), "error": self.to_string() }),
                headers: Vec::new(),
            },
            ApiError::TaskNotFound
            | ApiError::TenantNotFound
            | ApiError::TokenNotFound
            | ApiError::EventNotFound
            | ApiError::ReplayNotFound
            | ApiError::RouteNotFound => message(StatusCode::NOT_FOUND, self.to_string()),
            ApiError::Forbidden(_) => message(StatusCode::FORBIDDEN, self.to_string()),
            ApiError::Conflict(_) => ErrorReply {
                status: StatusCode::CONFLICT,
                body: json!({ "error": "conflict", "message": self.to_string() }),
                headers: Vec::new(),
            },
            ApiError::PreconditionFailed { .. } => message(StatusCode::PRECONDITION_FAILED, self.to_string()),
            ApiError::Unsettled | ApiError::Contended => {
                let mut reply = message(StatusCode::SERVICE_UNAVAILABLE, self.to_string());
                reply.headers.push(("retry-after", "1".into()));
                reply
            }
            ApiError::MethodNotAllowed { allow } => {
                let mut reply = message(StatusCode::METHOD_NOT_ALLOWED, self.to_string());
                reply.headers.push(("allow", (*allow).to_string()));
                reply
            }
            ApiError::Unauthorized => {
                let mut reply = message(StatusCode::UNAUTHORIZED, self.to_string());
                reply.headers.push(("www-authenticate", "Bearer".into()));
                reply
            }
            ApiError::RateLimited { retry_after_seconds, .. } => {
                let mut reply = message(StatusCode::TOO_MANY_REQUESTS, self.to_string());
                reply.headers.push(("retry-after", retry_after_seconds.to_string()));
                reply
            }
            ApiError::HeadersTooLarge(_) => message(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, self.to_string()),
            ApiError::Ingest(e) => ingest_reply(e),
            ApiError::Log(_)
            | ApiError::Views(_)
            | ApiError::Encode(_)
            | ApiError::Listener(_)
            | ApiError::UnexpectedRejection(_) => message(StatusCode::INTERNAL_SERVER_ERROR, INTERNAL.into()),
        }
    }
}

fn ingest_reply(error: &IngestError) -> ErrorReply {
    let status = match error {
        IngestError::UnknownSubscription | IngestError::UnknownTenant => StatusCode::NOT_FOUND,
        IngestError::Signature(_) => StatusCode::UNAUTHORIZED,
        IngestError::NotJson => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        IngestError::TooLarge { .. } | IngestError::FanOutTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        IngestError::InvalidEventType(_)
        | IngestError::ReservedEventType(_)
        | IngestError::MissingEventType
        | IngestError::InvalidIdempotencyKey(_)
        | IngestError::InvalidOrderingKey(_)
        | IngestError::NotUtf8
        | IngestError::TooDeep => StatusCode::BAD_REQUEST,
        IngestError::Log(_) | IngestError::Views(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let text = if status.is_server_error() { INTERNAL.to_string() } else { error.to_string() };
    ErrorReply { status, body: json!({ "message": text }), headers: Vec::new() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookline_domain::signature::SignatureError;

    #[test]
    fn server_errors_are_opaque() {
        let reply = ApiError::Log(LogError::Corrupt("segment 7 at /var/lib/secret".into())).to_reply();
        assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(reply.body, json!({ "message": "Internal server error" }));
        let reply = ApiError::Ingest(IngestError::Views(ViewError::Storage("disk".into()))).to_reply();
        assert_eq!(reply.body, json!({ "message": "Internal server error" }));
    }

    #[test]
    fn retryable_failures_ask_to_come_back() {
        let reply = ApiError::Ingest(IngestError::Log(LogError::Unavailable("broker down".into()))).to_reply();
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(reply.headers, vec![("retry-after", "1".to_string())]);
        assert!(!reply.body.to_string().contains("broker"));
    }

    #[test]
    fn ingest_refusals_keep_the_seed_messages() {
        let reply = ApiError::Ingest(IngestError::Signature(SignatureError::Missing)).to_reply();
        assert_eq!(
            (reply.status, reply.body),
            (StatusCode::UNAUTHORIZED, json!({"message": "Signature header missing"}))
        );
        let reply = ApiError::Ingest(IngestError::NotJson).to_reply();
        assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}
