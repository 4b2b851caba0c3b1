//! Making a subscription change durable and learning whether the log accepted it.
//!
//! Every change states the version it builds on (one more than the version it
//! read); the log's order decides between changes that state the same version (see
//! `hookline_domain::versions`) and the views record which write made each version.
//! A change is appended, then this instance waits for the views' word: applied (the
//! views then show it, so a read right after the 200 reflects it), or refused. A
//! request with `If-Match` is answered 412 when the version it names is not the
//! current one, or when another change lands first; without it, a refused change is
//! built again on the new current state, a bounded number of times.

use std::sync::Arc;

use hookline_domain::operational::DisableCause;
use hookline_domain::{topics, OperationalEvent, Subscription, SubscriptionEvent, SubscriptionId, SubscriptionState};
use hookline_lookup::{ChangeError, Verdict};
use warp::http::HeaderMap;

use crate::caller::Caller;
use crate::error::ApiError;
use crate::state::ApiState;

/// How many times a change without `If-Match` is built again after another change
/// landed first. Each round some writer wins, so this many writers racing on one
/// subscription all get through.
const WRITE_ATTEMPTS: usize = 64;

/// The `ETag` of a subscription version: a strong tag, the version in quotes.
pub(crate) fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

/// What `If-Match` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Precondition {
    /// No `If-Match`: the change is built on whatever is current.
    None,
    /// `If-Match: *`: the subscription exists.
    Exists,
    /// `If-Match: "<version>"` (a list allowed): one of these is current.
    Versions([Option<u64>; 4]),
}

impl Precondition {
    /// Parses `If-Match`: `*`, or one to four entity tags (`"7"` or weak `W/"7"`, at
    /// most 19 digits, quotes optional) separated by a comma with at most one space on either side;
    /// several header lines count as one list. Anything else is a 400.
    pub(crate) fn of(headers: &HeaderMap) -> Result<Precondition, ApiError> {
        let mut lines = Vec::new();
        for value in headers.get_all("if-match") {
            lines.push(value.to_str().map_err(|_| invalid_if_match())?);
        }
        if lines.is_empty() {
            return Ok(Precondition::None);
        }
        let text = lines.join(",");
        if text == "*" {
            return Ok(Precondition::Exists);
        }
        let tags: Vec<&str> = text.split(',').collect();
        if tags.len() > 4 {
            return Err(invalid_if_match());
        }
        let mut versions = [None; 4];
        let last = tags.len() - 1;
        for (i, tag) in tags.into_iter().enumerate() {
            let tag = if i > 0 { tag.strip_prefix(' ').unwrap_or(tag) } else { tag };
            let tag = if i < last { tag.strip_suffix(' ').unwrap_or(tag) } else { tag };
            // A weak tag never matches in If-Match (RFC 9110, strong comparison).
            let (weak, tag) = match tag.strip_prefix("W/") {
                Some(rest) => (true, rest),
                None => (false, tag),
            };
            // The quotes are taken as optional: some clients send the bare version.
            let tag = tag.strip_prefix('"').unwrap_or(tag);
            let digits = tag.strip_suffix('"').unwrap_or(tag);
            if digits.is_empty() || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid_if_match());
            }
            if !weak {
                versions[i] = Some(digits.parse::<u64>().map_err(|_| invalid_if_match())?);
            }
        }
        Ok(Precondition::Versions(versions))
    }

    fn highest(&self) -> u64 {
        match self {
            Precondition::Versions(versions) => versions.iter().flatten().copied().max().unwrap_or(0),
            _ => 0,
        }
    }

    fn holds_for(&self, current: &Subscription) -> bool {
        match self {
            Precondition::None | Precondition::Exists => true,
            Precondition::Versions(versions) => versions.contains(&Some(current.version)),
        }
    }

    /// Whether a change refused because another landed first may be built again.
    fn may_retry(&self) -> bool {
        !matches!(self, Precondition::Versions(_))
    }
}

fn invalid_if_match() -> ApiError {
    ApiError::BadRequest("If-Match must be * or ETags as given by GET (\"<version>\"), comma-separated".into())
}

/// Builds a change on the current state of `id` with `build` and records it, as
/// often as another change lands first and the precondition allows. Returns the
/// change applied. A change that disables or enables the subscription is recorded
/// with its decision (`hookline.subscription.disabled` by hand, or `.enabled`) in the
/// same append.
pub(crate) async fn change<F>(
    state: &Arc<ApiState>,
    caller: &Caller,
    id: SubscriptionId,
    precondition: Precondition,
    build: F,
) -> Result<SubscriptionEvent, ApiError>
where
    F: Fn(&Subscription) -> Result<SubscriptionEvent, ApiError>,
{
    let patience = state.config.read_your_writes_timeout;
    for _ in 0..WRITE_ATTEMPTS {
        let current = state.deps.directory.current_at_least(id, precondition.highest(), patience).await?;
        let current = match current {
            Some(SubscriptionState::Live(current)) if caller.sees(&current.tenant_id) => current,
            Some(_) | None => return Err(ApiError::SubscriptionNotFound),
        };
        if !precondition.holds_for(&current) {
            return Err(ApiError::PreconditionFailed { current: current.version });
        }
        let event = build(&current)?;
        let decision = match &event {
            SubscriptionEvent::SubscriptionUpdated { subscription } => {
                OperationalEvent::of_change(&current, subscription, DisableCause::ByHand)
            }
            _ => None,
        };
        match record(state, &event, decision.as_ref()).await? {
            Verdict::Applied => return Ok(event),
            Verdict::Refused if precondition.may_retry() => {
                tracing::debug!(subscription_id = %id, "another change landed first; building this one again");
            }
            Verdict::Refused => return Err(ApiError::PreconditionFailed { current: current.version + 1 }),
            Verdict::Unknown => return Err(ApiError::Unsettled),
        }
    }
    Err(ApiError::Contended)
}

/// Appends `event` to the subscriptions topic (with the `decision` it makes, if any)
/// and waits (up to the configured timeout) for the log's verdict; an applied change
/// is remembered by this instance, and folded into its routing directory before the
/// answer, so that an event sent right after it is routed by it.
pub(crate) async fn record(
    state: &ApiState,
    event: &SubscriptionEvent,
    decision: Option<&OperationalEvent>,
) -> Result<Verdict, ApiError> {
    let id = event.subscription_id();
    let patience = state.config.read_your_writes_timeout;
    let recorded =
        state.deps.directory.record_change(state.deps.log.as_ref(), event, decision, patience).await.map_err(
            |error| match error {
                ChangeError::NoWriteId => ApiError::UnexpectedRejection("a change without a write id".into()),
                ChangeError::Log(e) => ApiError::Log(e),
                ChangeError::Views(e) => ApiError::Views(e),
            },
        )?;
    let verdict = recorded.verdict;
    match verdict {
        Verdict::Applied | Verdict::Refused => {}
        Verdict::Unknown => tracing::warn!(
            subscription_id = %id,
            kind = event.kind(),
            timeout_ms = patience.as_millis() as u64,
            "views did not fold a subscription change in time; its outcome is not known yet (it is durable)"
        ),
    }
    tracing::debug!(subscription_id = %id, kind = event.kind(), version = event.version(), ?verdict, "subscription change recorded");
    if verdict == Verdict::Applied {
        if let Err(error) = state.deps.routing.wait_for(topics::SUBSCRIPTIONS, &recorded.at, patience).await {
            tracing::warn!(subscription_id = %id, %error, "the routing directory did not fold a subscription change in time");
            return Ok(Verdict::Unknown);
        }
    }
    Ok(verdict)
}

#[cfg(test)]
mod tests {
    use super::*;
    use warp::http::HeaderValue;

    fn precondition(values: &[&str]) -> Result<Precondition, ApiError> {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("if-match", HeaderValue::from_str(value).unwrap());
        }
        Precondition::of(&headers)
    }

    #[test]
    fn if_match_names_versions_or_any() {
        assert_eq!(precondition(&[]).unwrap(), Precondition::None);
        assert_eq!(precondition(&["*"]).unwrap(), Precondition::Exists);
        assert_eq!(precondition(&["\"7\""]).unwrap(), Precondition::Versions([Some(7), None, None, None]));
        let listed = precondition(&["\"3\", W/\"4\"", "\"5\""]).unwrap();
        assert_eq!(listed, Precondition::Versions([Some(3), None, Some(5), None]));
        assert_eq!(listed.highest(), 5);
        // Only weak tags: nothing can match.
        assert_eq!(precondition(&["W/\"4\""]).unwrap(), Precondition::Versions([None; 4]));
        // Exactly the documented pattern; anything else is a 400.
        for bad in [
            "\"seven\"",
            "\"1\",\"2\",\"3\",\"4\",\"5\"",
            " \"1\"",
            "\"1\" ",
            "\"1\"  ,\"2\"",
            "\"\"",
            "\"12345678901234567890\"",
            "*, \"1\"",
            "w/\"1\"",
        ] {
            assert!(matches!(precondition(&[bad]), Err(ApiError::BadRequest(_))), "{bad}");
        }
        assert_eq!(precondition(&["7"]).unwrap(), Precondition::Versions([Some(7), None, None, None]));
        assert_eq!(etag(12), "\"12\"");
    }
}
