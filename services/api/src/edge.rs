//! What every request passes before any route looks at it: header limits, then for
//! `/api` the token check (operator or tenant) and then the API-wide rate limit. Refusals travel as a
//! [`Refused`] rejection, which `recover` answers before any other.

use std::sync::Arc;
use std::time::Instant;

use warp::filters::path::FullPath;
use warp::http::HeaderMap;
use warp::{Filter, Rejection};

use crate::caller::identify;
use crate::error::ApiError;
use crate::rate_limit::retry_after_seconds;
use crate::state::ApiState;

/// Limits on request headers, below the HTTP server's own hard limits so that a
/// request over them still gets a JSON answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeaderLimits {
    pub max_count: usize,
    /// Names, values and their separators, summed.
    pub max_bytes: usize,
}

impl Default for HeaderLimits {
    fn default() -> Self {
        Self { max_count: 64, max_bytes: 16 * 1024 }
    }
}

/// The hard limit of the HTTP server, answered without a body: far above [`HeaderLimits`].
pub(crate) const SERVER_MAX_HEADERS: usize = 1024;

/// A request refused at the edge.
#[derive(Debug)]
pub(crate) struct Refused(pub ApiError);

impl warp::reject::Reject for Refused {}

fn refuse(error: ApiError) -> Rejection {
    warp::reject::custom(Refused(error))
}

pub(crate) fn check_headers(headers: &HeaderMap, limits: HeaderLimits) -> Result<(), ApiError> {
    if headers.len() > limits.max_count {
        return Err(ApiError::HeadersTooLarge(format!("{} headers (limit {})", headers.len(), limits.max_count)));
    }
    let bytes: usize = headers.iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum();
    if bytes > limits.max_bytes {
        return Err(ApiError::HeadersTooLarge(format!("{bytes} bytes (limit {})", limits.max_bytes)));
    }
    Ok(())
}

/// Header limits, for every path.
pub(crate) fn header_limits(limits: HeaderLimits) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::header::headers_cloned()
        .and_then(move |headers: HeaderMap| async move { check_headers(&headers, limits).map_err(refuse) })
        .untuple_one()
}

/// Which rule of access a path under `/api` falls under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Access {
    /// Liveness: open to all.
    Open,
    /// Webhooks: authenticated by their signature; a token only when configured so.
    Ingest,
    /// Everything else: a token whenever tokens are configured.
    Management,
}

fn access_of(path: &str) -> Access {
    let rest = path.trim_start_matches('/').strip_prefix("api").unwrap_or_default();
    let rest = rest.strip_prefix("/v1").unwrap_or(rest);
    match rest.trim_start_matches('/').split('/').next() {
        Some("health") => Access::Open,
        Some("ingest") => Access::Ingest,
        _ => Access::Management,
    }
}

/// The API-wide rate limit and the token check, for paths under `/api`.
pub(crate) fn api_guard(state: Arc<ApiState>) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::path::full()
        .and(warp::header::headers_cloned())
        .and_then(move |path: FullPath, headers: HeaderMap| {
            let state = state.clone();
            async move { admit(&state, access_of(path.as_str()), &headers).map_err(refuse) }
        })
        .untuple_one()
}

/// Authenticates first (see [`crate::caller::identify`]), then spends the API-wide
/// allowance: a request without a valid token spends nothing. Ingest spends it later,
/// once its signature is checked (see `ingest.rs`), since that is what authenticates
/// a webhook; it asks for a token only when configured so.
fn admit(state: &ApiState, access: Access, headers: &HeaderMap) -> Result<(), ApiError> {
    match access {
        Access::Open => return Ok(()),
        Access::Ingest if !state.config.ingest_requires_token => return Ok(()),
        Access::Ingest => {
            identify(state, headers)?;
            return Ok(());
        }
        Access::Management => identify(state, headers)?,
    };
    state
        .rate_limiter
        .admit_request(Instant::now())
        .map_err(|wait| ApiError::RateLimited { scope: "", retry_after_seconds: retry_after_seconds(wait) })
}

#[cfg(test)]
mod tests {
    use warp::http::{HeaderName, HeaderValue};

    use super::*;

    #[test]
    fn paths_fall_under_their_rule_in_both_versions() {
        for (path, access) in [
            ("/api/health", Access::Open),
            ("/api/v1/health", Access::Open),
            ("/api/ingest/abc", Access::Ingest),
            ("/api/v1/ingest/abc", Access::Ingest),
            ("/api/v1/subscriptions", Access::Management),
            ("/api/status/delivery_tasks/x", Access::Management),
            ("/api/v1/tasks", Access::Management),
            ("/api/v1/ingestion", Access::Management),
            ("/api/v1/tenants/acme/tokens", Access::Management),
            ("/api/events", Access::Management),
            ("/api", Access::Management),
        ] {
            assert_eq!(access_of(path), access, "{path}");
        }
    }

    #[test]
    fn header_count_and_size_are_limited() {
        let limits = HeaderLimits { max_count: 3, max_bytes: 100 };
        let mut headers = HeaderMap::new();
        for i in 0..3 {
            headers.insert(HeaderName::from_bytes(format!("x-{i}").as_bytes()).unwrap(), HeaderValue::from_static("v"));
        }
        assert!(check_headers(&headers, limits).is_ok());
        headers.insert("x-3", HeaderValue::from_static("v"));
        assert_eq!(
            check_headers(&headers, limits).unwrap_err().to_string(),
            "Request headers too large: 4 headers (limit 3)"
        );
        let mut big = HeaderMap::new();
        big.insert("x-big", HeaderValue::from_str(&"v".repeat(100)).unwrap());
        assert!(matches!(check_headers(&big, limits), Err(ApiError::HeadersTooLarge(_))));
    }
}
