//! Subscriptions and the validation of what users send for them.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::delivery_settings::DeliverySettings;
use crate::event_types::{self, EventTypePattern};
use crate::ids::SubscriptionId;
use crate::limits::{MAX_EVENT_TYPE_LEN, MAX_SECRET_LEN, MAX_URL_LEN};
use crate::ordering::OrderingMode;
use crate::target::TargetPolicy;
use crate::tenant::TenantId;

/// Secrets starting with this are sealed text (see the `hookline-secrets` crate), so
/// users may not register one that does.
pub const SEALED_SECRET_PREFIX: &str = "hlenc:";

/// A shared secret. Never printed: `Debug` and `Display` show a placeholder.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A registered webhook target.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: SubscriptionId,
    /// The tenant that owns it, for good. Absent in events written before tenants
    /// existed: the default tenant.
    #[serde(default)]
    pub tenant_id: TenantId,
    pub target_url: String,
    pub secret: Option<Secret>,
    /// The seed's filter: the event types wanted, comma-separated. Kept in step with
    /// `event_types` by every writer; read only where `event_types` is absent (events
    /// written before patterns existed).
    pub event_type_filter: Option<String>,
    /// The event-type patterns wanted (see [`crate::event_types`]); absent: every event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_types: Option<Vec<EventTypePattern>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Whether tasks are attempted. A disabled subscription's tasks are kept, not
    /// attempted, until it is enabled again or they pass the retention. Absent in
    /// events written before it existed: enabled.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// Why the subscription was disabled (`None` while enabled).
    #[serde(default)]
    pub disabled_reason: Option<String>,
    /// The secret replaced by the last rotation, still valid (ingest accepts it,
    /// delivery signs with it too) until `previous_secret_expires_at`. Absent in
    /// events written before rotation existed, and once no grace was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    /// How many changes made this subscription what it is: 1 when created, one more
    /// with each change the log accepted (see [`crate::versions`]). 0 in events written
    /// before versions existed.
    #[serde(default)]
    pub version: u64,
    /// The write that made this version, so that its writer can learn whether the log
    /// accepted it. Absent in events written before versions existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_id: Option<Uuid>,
    /// Whether the tasks carrying the same ordering key are delivered one at a time,
    /// in acceptance order (see [`crate::ordering`]). Absent in events written before
    /// it existed, and left out while it is the default: unordered.
    #[serde(default, skip_serializing_if = "OrderingMode::is_none")]
    pub ordering: OrderingMode,
    /// How its webhooks are delivered where the receiver needs other than the defaults
    /// (see [`crate::delivery_settings`]). Absent in events written before it existed,
    /// and while every setting is the default.
    #[serde(default, skip_serializing_if = "DeliverySettings::is_default")]
    pub delivery: DeliverySettings,
}

fn enabled_by_default() -> bool {
    true
}

impl Subscription {
    /// A subscription to `target_url` made at `at`: enabled, without secret or filter.
    pub fn new(id: SubscriptionId, target_url: impl Into<String>, at: DateTime<Utc>) -> Subscription {
        Subscription {
            id,
            tenant_id: TenantId::default(),
            target_url: target_url.into(),
            secret: None,
            event_type_filter: None,
            event_types: None,
            created_at: at,
            updated_at: at,
            enabled: true,
            disabled_reason: None,
            previous_secret: None,
            previous_secret_expires_at: None,
            version: 1,
            write_id: None,
            ordering: OrderingMode::None,
            delivery: DeliverySettings::default(),
        }
    }

    /// The event-type patterns this subscription wants; `None`: every event.
    pub fn patterns(&self) -> Option<Vec<EventTypePattern>> {
        match (&self.event_types, &self.event_type_filter) {
            (Some(patterns), _) => Some(patterns.clone()),
            // Written before patterns existed: the filter's types, exactly as it had them.
            (None, Some(filter)) => Some(
                filter
                    .split(',')
                    .map(str::trim)
                    .filter(|part| !part.is_empty())
                    .map(EventTypePattern::verbatim)
                    .collect(),
            ),
            (None, None) => None,
        }
    }

    /// Whether this subscription wants an event of `event_type`.
    pub fn wants(&self, event_type: Option<&str>) -> bool {
        event_types::wanted(self.patterns().as_deref(), event_type)
    }

    /// This subscription wanting `patterns` (`None`: every event), with the seed's
    /// filter written to match.
    pub fn with_patterns(self, patterns: Option<Vec<EventTypePattern>>) -> Subscription {
        let event_type_filter = patterns.as_deref().map(event_types::filter_of_patterns);
        Subscription { event_types: patterns, event_type_filter, ..self }
    }

    /// This subscription as the next version, made by the write `write_id`. The
    /// writer states the version it read by building on it.
    pub fn next_version(&self, write_id: Uuid) -> Subscription {
        Subscription { version: self.version + 1, write_id: Some(write_id), ..self.clone() }
    }

    /// This subscription disabled at `at` for `reason`.
    pub fn disabled(&self, reason: impl Into<String>, at: DateTime<Utc>) -> Subscription {
        Subscription { enabled: false, disabled_reason: Some(reason.into()), updated_at: at, ..self.clone() }
    }

    /// This subscription with `secret` as its secret from `at` on. The secret it
    /// replaces stays valid for `grace` (none when `grace` is zero, or when the secret
    /// is removed: without a secret nothing is signed). Setting the same secret again
    /// changes nothing about the previous one.
    pub fn with_rotated_secret(&self, secret: Option<Secret>, grace: TimeDelta, at: DateTime<Utc>) -> Subscription {
        if secret == self.secret {
            return Subscription { updated_at: at, ..self.clone() };
        }
        let keeps_previous = secret.is_some() && grace > TimeDelta::zero();
        let (previous_secret, previous_secret_expires_at) = match (&self.secret, keeps_previous) {
            (Some(replaced), true) => (Some(replaced.clone()), Some(at + grace)),
            _ => (None, None),
        };
        Subscription { secret, previous_secret, previous_secret_expires_at, updated_at: at, ..self.clone() }
    }

    /// The previous secret while it is still valid at `now`.
    pub fn previous_secret_at(&self, now: DateTime<Utc>) -> Option<&Secret> {
        match (&self.previous_secret, self.previous_secret_expires_at) {
            (Some(previous), Some(expires_at)) if now < expires_at => Some(previous),
            _ => None,
        }
    }

    /// The secrets that sign and verify at `now`: the current one first, then the
    /// previous one during its grace. Empty when the subscription has no secret.
    pub fn secrets_at(&self, now: DateTime<Utc>) -> Vec<&Secret> {
        match &self.secret {
            Some(current) => std::iter::once(current).chain(self.previous_secret_at(now)).collect(),
            None => Vec::new(),
        }
    }
}

/// The reason recorded when a user disables a subscription.
pub const DISABLED_BY_USER: &str = "disabled by user";

/// What the views know of a subscription id.
// Nearly every state is live, and caches hold states behind an `Arc` already: boxing
// the live one would add an allocation to every read for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubscriptionState {
    Live(Subscription),
    Deleted { id: SubscriptionId, deleted_at: DateTime<Utc> },
}

impl SubscriptionState {
    pub fn live(&self) -> Option<&Subscription> {
        match self {
            SubscriptionState::Live(s) => Some(s),
            SubscriptionState::Deleted { .. } => None,
        }
    }
}

/// One field of a subscription that failed validation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self { field, message: message.into() }
    }
}

/// Checks a target URL: absolute `http` or `https` with a host, no credentials, bounded
/// length, and a host `policy` does not refuse. A host name is not resolved here (what
/// it resolves to may change): delivery checks its addresses on every connection.
pub fn validate_target_url(raw: &str, policy: &TargetPolicy) -> Result<(), FieldError> {
    const FIELD: &str = "target_url";
    if raw.trim().is_empty() {
        return Err(FieldError::new(FIELD, "must not be empty"));
    }
    if raw.len() > MAX_URL_LEN {
        return Err(FieldError::new(FIELD, format!("must be at most {MAX_URL_LEN} bytes")));
    }
    let url = url::Url::parse(raw).map_err(|e| FieldError::new(FIELD, format!("is not a valid URL ({e})")))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(FieldError::new(FIELD, "must use http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(FieldError::new(FIELD, "must name a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(FieldError::new(FIELD, "must not carry credentials"));
    }
    policy.check_url(&url).map_err(|refusal| FieldError::new(FIELD, refusal.to_string()))
}

/// Checks an optional secret: non-empty, bounded length, printable ASCII.
pub fn validate_secret(secret: &str) -> Result<(), FieldError> {
    const FIELD: &str = "secret";
    if secret.is_empty() {
        return Err(FieldError::new(FIELD, "must not be empty (send null for no secret)"));
    }
    if secret.len() > MAX_SECRET_LEN {
        return Err(FieldError::new(FIELD, format!("must be at most {MAX_SECRET_LEN} bytes")));
    }
    if !secret.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(FieldError::new(FIELD, "must be printable ASCII without spaces"));
    }
    if secret.starts_with(SEALED_SECRET_PREFIX) {
        return Err(FieldError::new(FIELD, format!("must not start with {SEALED_SECRET_PREFIX:?} (reserved)")));
    }
    Ok(())
}

/// Checks an event type or filter: non-empty, at most 256 characters, no control characters.
pub fn validate_event_type(field: &'static str, value: &str) -> Result<(), FieldError> {
    if value.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if value.chars().count() > MAX_EVENT_TYPE_LEN {
        return Err(FieldError::new(field, format!("must be at most {MAX_EVENT_TYPE_LEN} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(FieldError::new(field, "must not contain control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validate(raw: &str) -> Result<(), FieldError> {
        validate_target_url(raw, &TargetPolicy::default())
    }

    #[test]
    fn accepts_http_and_https_urls() {
        assert!(validate("http://example.com/hook").is_ok());
        assert!(validate("https://example.com:8443/a?b=c").is_ok());
    }

    #[test]
    fn rejects_bad_urls() {
        for bad in ["", "   ", "ftp://example.com", "example.com/hook", "http://", "http://user:pw@example.com/"] {
            assert!(validate(bad).is_err(), "{bad:?} should be rejected");
        }
        let long = format!("http://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(validate(&long).is_err());
    }

    #[test]
    fn internal_targets_are_refused_unless_allowlisted() {
        let refused = validate("http://0x7f.1:8080/hook").unwrap_err();
        assert_eq!(
            refused.to_string(),
            "target_url: resolves to a loopback address (127.0.0.1); set HOOKLINE_TARGET_ALLOWLIST to allow it"
        );
        assert!(validate("http://user@127.0.0.1/").is_err());
        let allow = TargetPolicy::parse_allowlist("127.0.0.0/8").unwrap();
        assert!(validate_target_url("http://0x7f.1:8080/hook", &allow).is_ok());
    }

    #[test]
    fn events_written_before_the_enabled_flag_decode_as_enabled() {
        let old = r#"{"id":"0192f5e4-7c3a-7b1e-9f00-000000000001","target_url":"https://example.com/h",
            "secret":null,"event_type_filter":null,
            "created_at":"2024-01-01T00:00:00Z","updated_at":"2024-01-01T00:00:00Z"}"#;
        let subscription: Subscription = serde_json::from_str(old).unwrap();
        assert!(subscription.enabled);
        assert_eq!(subscription.disabled_reason, None);
        assert_eq!((subscription.previous_secret.as_ref(), subscription.previous_secret_expires_at), (None, None));
        let at = subscription.updated_at + chrono::TimeDelta::seconds(1);
        let disabled = subscription.disabled("receiver answered 410 Gone", at);
        assert!(!disabled.enabled);
        assert_eq!(disabled.disabled_reason.as_deref(), Some("receiver answered 410 Gone"));
        assert_eq!(disabled.updated_at, at);
    }

    fn with_secret(secret: &str) -> Subscription {
        let old = r#"{"id":"0192f5e4-7c3a-7b1e-9f00-000000000001","target_url":"https://example.com/h",
            "secret":null,"event_type_filter":null,
            "created_at":"2024-01-01T00:00:00Z","updated_at":"2024-01-01T00:00:00Z"}"#;
        let subscription: Subscription = serde_json::from_str(old).unwrap();
        Subscription { secret: Some(Secret::new(secret)), ..subscription }
    }

    fn exposed(secrets: Vec<&Secret>) -> Vec<&str> {
        secrets.into_iter().map(Secret::expose).collect()
    }

    #[test]
    fn a_rotation_keeps_the_old_secret_for_the_grace() {
        let old = with_secret("old");
        let at = old.updated_at + TimeDelta::seconds(10);
        let rotated = old.with_rotated_secret(Some(Secret::new("new")), TimeDelta::seconds(60), at);
        assert_eq!(rotated.updated_at, at);
        assert_eq!(exposed(rotated.secrets_at(at)), ["new", "old"]);
        assert_eq!(exposed(rotated.secrets_at(at + TimeDelta::seconds(59))), ["new", "old"]);
        // Checked by time at use: from the expiry on only the current secret counts.
        assert_eq!(exposed(rotated.secrets_at(at + TimeDelta::seconds(60))), ["new"]);
        assert_eq!(rotated.previous_secret_expires_at, Some(at + TimeDelta::seconds(60)));
        // A second rotation replaces the previous secret with the one it retires.
        let again = rotated.with_rotated_secret(Some(Secret::new("newer")), TimeDelta::seconds(60), at);
        assert_eq!(exposed(again.secrets_at(at)), ["newer", "new"]);
    }

    #[test]
    fn no_grace_or_no_secret_keeps_nothing() {
        let old = with_secret("old");
        let at = old.updated_at;
        let now_only = old.with_rotated_secret(Some(Secret::new("new")), TimeDelta::zero(), at);
        assert_eq!(exposed(now_only.secrets_at(at)), ["new"]);
        assert_eq!(now_only.previous_secret, None);
        let removed = old.with_rotated_secret(None, TimeDelta::seconds(60), at);
        assert!(removed.secrets_at(at).is_empty());
        assert_eq!(removed.previous_secret_expires_at, None);
        let same = old.with_rotated_secret(Some(Secret::new("old")), TimeDelta::seconds(60), at);
        assert_eq!(exposed(same.secrets_at(at)), ["old"]);
    }

    #[test]
    fn sealed_looking_secrets_are_reserved() {
        assert!(validate_secret("whsec_abc").is_ok());
        assert!(validate_secret("hlenc:v1:abc").is_err());
    }

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn event_types_are_bounded_and_printable() {
        assert!(validate_event_type("event_type", "order.créé").is_ok());
        assert!(validate_event_type("event_type", "a\nb").is_err());
        assert!(validate_event_type("event_type", &"x".repeat(257)).is_err());
        assert!(validate_event_type("event_type", &"é".repeat(256)).is_ok());
    }
}
