//! What clients send to create or change a subscription, and its validation. Every
//! problem of a request is reported at once, keyed by field name.

use std::collections::BTreeMap;
use std::time::Duration;

use hookline_domain::event_types::{parse_patterns, patterns_of_filter, EventTypePattern};
use hookline_domain::subscription::{validate_secret, validate_target_url, FieldError};
use hookline_domain::target::TargetPolicy;
use hookline_domain::{OrderingMode, TenantId};
use hookline_secrets::generate_secret;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// What a request does to an optional field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Change<T = String> {
    /// The field was absent: keep the current value.
    Keep,
    /// The field was `null`: clear it.
    Clear,
    Set(T),
}

impl<T> Change<T> {
    pub(crate) fn apply(self, current: Option<T>) -> Option<T> {
        match self {
            Change::Keep => current,
            Change::Clear => None,
            Change::Set(value) => Some(value),
        }
    }
}

/// A valid creation request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NewSubscription {
    /// The tenant named; `None`: the caller's own, or the default one.
    pub tenant_id: Option<TenantId>,
    pub target_url: String,
    pub secret: Option<String>,
    /// The event-type patterns wanted; `None`: every event.
    pub patterns: Option<Vec<EventTypePattern>>,
    /// `false` creates it disabled (by the user).
    pub enabled: bool,
    pub ordering: OrderingMode,
}

/// A valid partial update.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SubscriptionPatch {
    pub target_url: Option<String>,
    pub secret: Change,
    pub patterns: Change<Vec<EventTypePattern>>,
    /// `Some(true)` re-enables, `Some(false)` disables by hand, `None` keeps.
    pub enabled: Option<bool>,
    /// `None` keeps.
    pub ordering: Option<OrderingMode>,
}

/// The longest grace a rotation may give the secret it replaces (30 days).
pub(crate) const MAX_ROTATION_GRACE: Duration = Duration::from_secs(30 * 24 * 3600);

/// A valid rotation request.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Rotation {
    /// The new secret; `None`: hookline generates one.
    pub secret: Option<String>,
    /// How long the replaced secret stays valid; `None`: the configured default.
    pub grace: Option<Duration>,
}

/// The fields of a request body, read but not yet judged complete.
struct Fields {
    tenant_id: Option<TenantId>,
    target_url: Option<String>,
    secret: Change,
    /// `event_types` as sent.
    event_types: Change<Vec<EventTypePattern>>,
    /// The seed's `event_type_filter` as sent, read as patterns.
    event_type_filter: Change<Vec<EventTypePattern>>,
    enabled: Option<bool>,
    ordering: Option<OrderingMode>,
    generate_secret: bool,
    errors: BTreeMap<String, String>,
}

impl Fields {
    fn read(body: &[u8], policy: &TargetPolicy) -> Result<Self, ApiError> {
        let object = parse_object(body)?;
        let mut fields = Fields {
            tenant_id: None,
            target_url: None,
            secret: Change::Keep,
            event_types: Change::Keep,
            event_type_filter: Change::Keep,
            enabled: None,
            ordering: None,
            generate_secret: false,
            errors: BTreeMap::new(),
        };
        for (name, value) in object {
            match name.as_str() {
                "target_url" => match value {
                    Value::String(url) => match validate_target_url(&url, policy) {
                        Ok(()) => fields.target_url = Some(url),
                        Err(e) => fields.reject(e),
                    },
                    Value::Null => fields.problem("target_url", "must not be null"),
                    _ => fields.problem("target_url", "must be a string"),
                },
                "tenant_id" => match value {
                    Value::String(id) => match TenantId::parse(&id) {
                        Ok(id) => fields.tenant_id = Some(id),
                        Err(e) => fields.reject(e),
                    },
                    _ => fields.problem("tenant_id", "must be a string"),
                },
                "secret" => {
                    fields.secret = fields.optional("secret", value, |secret| validate_secret(&secret).map(|()| secret))
                }
                "event_types" => fields.event_types = fields.event_types(value),
                "event_type_filter" => {
                    fields.event_type_filter =
                        fields.optional("event_type_filter", value, |filter| patterns_of_filter(&filter))
                }
                "enabled" => match value {
                    Value::Bool(enabled) => fields.enabled = Some(enabled),
                    _ => fields.problem("enabled", "must be true or false"),
                },
                "ordering" => match value.as_str().and_then(OrderingMode::parse) {
                    Some(mode) => fields.ordering = Some(mode),
                    None => fields.problem("ordering", "must be \"key\" or \"none\""),
                },
                "generate_secret" => match value {
                    Value::Bool(generate) => fields.generate_secret = generate,
                    _ => fields.problem("generate_secret", "must be true or false"),
                },
                _ => fields.problem(&name, "unknown field"),
            }
        }
        Ok(fields)
    }

    /// An optional string field, read by `read` into what it stands for.
    fn optional<T>(
        &mut self,
        field: &str,
        value: Value,
        read: impl FnOnce(String) -> Result<T, FieldError>,
    ) -> Change<T> {
        match value {
            Value::Null => Change::Clear,
            Value::String(text) => match read(text) {
                Ok(read) => Change::Set(read),
                Err(e) => {
                    self.reject(e);
                    Change::Keep
                }
            },
            _ => {
                self.problem(field, "must be a string or null");
                Change::Keep
            }
        }
    }

    fn event_types(&mut self, value: Value) -> Change<Vec<EventTypePattern>> {
        const SHAPE: &str = "must be a list of event-type patterns, or null for every event";
        let items = match value {
            Value::Null => return Change::Clear,
            Value::Array(items) => items,
            _ => {
                self.problem("event_types", SHAPE);
                return Change::Keep;
            }
        };
        let Some(raw) = items.iter().map(Value::as_str).collect::<Option<Vec<&str>>>() else {
            self.problem("event_types", SHAPE);
            return Change::Keep;
        };
        match parse_patterns("event_types", &raw) {
            Ok(patterns) => Change::Set(patterns),
            Err(e) => {
                self.reject(e);
                Change::Keep
            }
        }
    }

    /// The patterns asked for, by `event_types` or the seed's `event_type_filter`;
    /// both may be sent only when they mean the same.
    fn patterns(&mut self) -> Change<Vec<EventTypePattern>> {
        let sorted = |patterns: &[EventTypePattern]| {
            let mut sorted = patterns.to_vec();
            sorted.sort();
            sorted
        };
        match (self.event_types.clone(), self.event_type_filter.clone()) {
            (Change::Keep, filter) => filter,
            (types, Change::Keep) => types,
            (Change::Clear, Change::Clear) => Change::Clear,
            (Change::Set(types), Change::Set(filter)) if sorted(&types) == sorted(&filter) => Change::Set(types),
            _ => {
                self.problem("event_types", "conflicts with event_type_filter: send one, or both meaning the same");
                Change::Keep
            }
        }
    }

    fn reject(&mut self, error: FieldError) {
        self.problem(error.field, &error.message);
    }

    fn problem(&mut self, field: &str, message: &str) {
        self.errors.insert(field.to_string(), message.to_string());
    }

    fn into_result(self) -> Result<Self, ApiError> {
        if self.errors.is_empty() {
            Ok(self)
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }
}

pub(crate) fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest("Request body must be a JSON object".into()));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(ApiError::BadRequest("Request body must be a JSON object".into())),
        Err(e) => Err(ApiError::BadRequest(format!("Malformed JSON: {e}"))),
    }
}

/// Reads a creation request: `target_url` required (and a target `policy` allows),
/// `secret` and `event_type_filter` optional; `generate_secret: true` instead of a
/// `secret` makes hookline generate a strong one.
pub(crate) fn parse_new(body: &[u8], policy: &TargetPolicy) -> Result<NewSubscription, ApiError> {
    let mut fields = Fields::read(body, policy)?;
    if fields.target_url.is_none() && !fields.errors.contains_key("target_url") {
        fields.problem("target_url", "is required");
    }
    if fields.generate_secret && matches!(fields.secret, Change::Set(_)) {
        fields.problem("generate_secret", "conflicts with secret: give a secret or ask for one, not both");
    }
    let patterns = fields.patterns();
    let fields = fields.into_result()?;
    let secret = if fields.generate_secret { Some(generate_secret()) } else { fields.secret.apply(None) };
    Ok(NewSubscription {
        tenant_id: fields.tenant_id,
        target_url: fields.target_url.unwrap_or_default(),
        secret,
        patterns: patterns.apply(None),
        enabled: fields.enabled.unwrap_or(true),
        ordering: fields.ordering.unwrap_or_default(),
    })
}

/// Reads a partial update: absent fields keep their value, `null` clears an optional one.
pub(crate) fn parse_patch(body: &[u8], policy: &TargetPolicy) -> Result<SubscriptionPatch, ApiError> {
    let mut fields = Fields::read(body, policy)?;
    if fields.generate_secret {
        fields.problem("generate_secret", "only when creating; POST /subscriptions/{id}/secret/rotate makes a new one");
    }
    if fields.tenant_id.is_some() || fields.errors.contains_key("tenant_id") {
        fields.problem("tenant_id", "only when creating: a subscription belongs to its tenant for good");
    }
    let patterns = fields.patterns();
    let fields = fields.into_result()?;
    Ok(SubscriptionPatch {
        target_url: fields.target_url,
        secret: fields.secret,
        patterns,
        enabled: fields.enabled,
        ordering: fields.ordering,
    })
}

/// A JSON number that is a whole non-negative integer, however it is spelled (JSON
/// Schema counts `60.0` as an integer, so clients may send it that way).
pub(crate) fn whole_number(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        let float = value.as_f64()?;
        (float.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(&float)).then_some(float as u64)
    })
}

/// Reads a rotation request: an empty body, or an object with an optional `secret`
/// (absent or null: generated) and an optional `grace_seconds` (0 to 30 days).
pub(crate) fn parse_rotation(body: &[u8]) -> Result<Rotation, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Rotation::default());
    }
    let mut rotation = Rotation::default();
    let mut errors = BTreeMap::new();
    for (name, value) in parse_object(body)? {
        let problem = match (name.as_str(), value) {
            ("secret", Value::Null) => None,
            ("secret", Value::String(secret)) => match validate_secret(&secret) {
                Ok(()) => {
                    rotation.secret = Some(secret);
                    None
                }
                Err(e) => Some(e.message),
            },
            ("secret", _) => Some("must be a string or null".to_string()),
            ("grace_seconds", value) => match whole_number(&value).map(Duration::from_secs) {
                Some(grace) if grace <= MAX_ROTATION_GRACE => {
                    rotation.grace = Some(grace);
                    None
                }
                _ => Some(format!("must be an integer from 0 to {}", MAX_ROTATION_GRACE.as_secs())),
            },
            _ => Some("unknown field".to_string()),
        };
        if let Some(problem) = problem {
            errors.insert(name, problem);
        }
    }
    if errors.is_empty() {
        Ok(rotation)
    } else {
        Err(ApiError::Validation(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> TargetPolicy {
        TargetPolicy::default()
    }

    fn errors(result: Result<impl std::fmt::Debug, ApiError>) -> BTreeMap<String, String> {
        match result {
            Err(ApiError::Validation(errors)) => errors,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn creation_needs_a_target_url() {
        let new = parse_new(br#"{"target_url":"https://example.com/h","secret":null}"#, &open()).unwrap();
        assert_eq!(new.target_url, "https://example.com/h");
        assert_eq!(new.secret, None);
        assert_eq!(errors(parse_new(b"{}", &open())).get("target_url").map(String::as_str), Some("is required"));
    }

    #[test]
    fn every_problem_is_listed() {
        let errs =
            errors(parse_new(br#"{"target_url":"ftp://x","secret":"","event_type_filter":7,"colour":"red"}"#, &open()));
        assert_eq!(
            errs.keys().map(String::as_str).collect::<Vec<_>>(),
            ["colour", "event_type_filter", "secret", "target_url"]
        );
        assert_eq!(errs["colour"], "unknown field");
    }

    #[test]
    fn patches_distinguish_absent_from_null() {
        let patch = parse_patch(r#"{"secret":null,"event_type_filter":"order.créé"}"#.as_bytes(), &open()).unwrap();
        assert_eq!(patch.target_url, None);
        assert_eq!(patch.secret, Change::Clear);
        assert_eq!(patch.patterns, Change::Set(patterns(&["order.créé"])));
        assert_eq!(parse_patch(b"{}", &open()).unwrap().secret, Change::Keep);
        assert!(errors(parse_patch(br#"{"target_url":null}"#, &open())).contains_key("target_url"));
    }

    fn patterns(raw: &[&str]) -> Vec<EventTypePattern> {
        parse_patterns("event_types", raw).unwrap()
    }

    #[test]
    fn event_types_and_the_seed_filter_name_the_same_patterns() {
        let url = r#""target_url":"https://e.com/h""#;
        let new = |rest: &str| parse_new(format!("{{{url},{rest}}}").as_bytes(), &open());
        let by_filter = new(r#""event_type_filter":"order.created, order.paid""#).unwrap();
        assert_eq!(by_filter.patterns, Some(patterns(&["order.created", "order.paid"])));
        let by_types = new(r#""event_types":["order.*","invoice.paid"]"#).unwrap();
        assert_eq!(by_types.patterns, Some(patterns(&["order.*", "invoice.paid"])));
        let both = new(r#""event_types":["b","a"],"event_type_filter":"a,b""#).unwrap();
        assert_eq!(both.patterns, Some(patterns(&["b", "a"])));
        assert_eq!(new(r#""event_types":null,"event_type_filter":null"#).unwrap().patterns, None);
        for conflicting in
            [r#""event_types":["a"],"event_type_filter":"b""#, r#""event_types":null,"event_type_filter":"b""#]
        {
            assert!(errors(new(conflicting)).contains_key("event_types"), "{conflicting}");
        }
        for bad in
            [r#""event_types":[]"#, r#""event_types":"a""#, r#""event_types":[1]"#, r#""event_types":["or*der"]"#]
        {
            assert!(errors(new(bad)).contains_key("event_types"), "{bad}");
        }
        let patch = parse_patch(br#"{"event_types":null}"#, &open()).unwrap();
        assert_eq!(patch.patterns, Change::Clear);
        assert_eq!(parse_patch(b"{}", &open()).unwrap().patterns, Change::Keep);
    }

    #[test]
    fn a_tenant_is_named_only_when_creating() {
        let new = parse_new(br#"{"target_url":"https://e.com/h","tenant_id":"acme"}"#, &open()).unwrap();
        assert_eq!(new.tenant_id, Some(TenantId::parse("acme").unwrap()));
        assert!(errors(parse_new(br#"{"target_url":"https://e.com/h","tenant_id":"Acme!"}"#, &open()))
            .contains_key("tenant_id"));
        assert!(errors(parse_patch(br#"{"tenant_id":"acme"}"#, &open())).contains_key("tenant_id"));
    }

    #[test]
    fn ordering_is_key_or_none_kept_when_absent() {
        let url = r#""target_url":"https://example.com/h""#;
        assert_eq!(parse_new(format!("{{{url}}}").as_bytes(), &open()).unwrap().ordering, OrderingMode::None);
        let keyed = parse_new(format!(r#"{{{url},"ordering":"key"}}"#).as_bytes(), &open()).unwrap();
        assert_eq!(keyed.ordering, OrderingMode::Key);
        assert_eq!(parse_patch(b"{}", &open()).unwrap().ordering, None);
        assert_eq!(parse_patch(br#"{"ordering":"none"}"#, &open()).unwrap().ordering, Some(OrderingMode::None));
        for bad in [r#""fifo""#, "null", "true", r#""KEY""#] {
            let body = format!(r#"{{"ordering":{bad}}}"#);
            assert_eq!(errors(parse_patch(body.as_bytes(), &open()))["ordering"], r#"must be "key" or "none""#);
        }
    }

    #[test]
    fn enabled_is_a_boolean_kept_when_absent() {
        assert_eq!(parse_patch(br#"{"enabled":true}"#, &open()).unwrap().enabled, Some(true));
        assert_eq!(parse_patch(br#"{"enabled":false}"#, &open()).unwrap().enabled, Some(false));
        assert_eq!(parse_patch(b"{}", &open()).unwrap().enabled, None);
        assert_eq!(errors(parse_patch(br#"{"enabled":"yes"}"#, &open()))["enabled"], "must be true or false");
        assert!(errors(parse_patch(br#"{"enabled":null}"#, &open())).contains_key("enabled"));
        assert!(parse_new(br#"{"target_url":"https://example.com/h"}"#, &open()).unwrap().enabled);
    }

    #[test]
    fn internal_targets_are_refused_with_the_reason_unless_allowlisted() {
        let body = br#"{"target_url":"http://2130706433:9/hook"}"#;
        assert_eq!(
            errors(parse_new(body, &open()))["target_url"],
            "resolves to a loopback address (127.0.0.1); set HOOKLINE_TARGET_ALLOWLIST to allow it"
        );
        assert!(errors(parse_patch(br#"{"target_url":"http://localhost/"}"#, &open())).contains_key("target_url"));
        let loopback = TargetPolicy::parse_allowlist("127.0.0.0/8").unwrap();
        assert_eq!(parse_new(body, &loopback).unwrap().target_url, "http://2130706433:9/hook");
    }

    #[test]
    fn a_secret_is_generated_on_request_but_not_alongside_one() {
        let new = parse_new(br#"{"target_url":"https://example.com/h","generate_secret":true}"#, &open()).unwrap();
        assert!(new.secret.unwrap().starts_with("whsec_"));
        let new = parse_new(br#"{"target_url":"https://e.com/h","generate_secret":true,"secret":null}"#, &open());
        assert!(new.unwrap().secret.is_some());
        let both =
            errors(parse_new(br#"{"target_url":"https://e.com/h","generate_secret":true,"secret":"s"}"#, &open()));
        assert_eq!(both["generate_secret"], "conflicts with secret: give a secret or ask for one, not both");
        let off = parse_new(br#"{"target_url":"https://e.com/h","generate_secret":false,"secret":"s"}"#, &open());
        assert_eq!(off.unwrap().secret.as_deref(), Some("s"));
        assert!(errors(parse_patch(br#"{"generate_secret":true}"#, &open())).contains_key("generate_secret"));
    }

    #[test]
    fn rotations_take_an_optional_secret_and_grace() {
        assert_eq!(parse_rotation(b"").unwrap(), Rotation::default());
        assert_eq!(parse_rotation(br#"{"secret":null}"#).unwrap(), Rotation::default());
        let given = parse_rotation(br#"{"secret":"n3w","grace_seconds":0}"#).unwrap();
        assert_eq!(given, Rotation { secret: Some("n3w".into()), grace: Some(Duration::ZERO) });
        assert_eq!(parse_rotation(br#"{"grace_seconds":2592000}"#).unwrap().grace, Some(MAX_ROTATION_GRACE));
        assert_eq!(parse_rotation(br#"{"grace_seconds":2961.0}"#).unwrap().grace, Some(Duration::from_secs(2961)));
        assert!(parse_rotation(br#"{"grace_seconds":2.5}"#).is_err());
        let errs = errors(parse_rotation(br#"{"secret":"","grace_seconds":2592001,"x":1}"#));
        assert_eq!(errs.keys().map(String::as_str).collect::<Vec<_>>(), ["grace_seconds", "secret", "x"]);
        for bad in [&br#"{"grace_seconds":-1}"#[..], br#"{"grace_seconds":1.5}"#, br#"{"grace_seconds":"60"}"#] {
            assert!(errors(parse_rotation(bad)).contains_key("grace_seconds"));
        }
        assert!(matches!(parse_rotation(b"[]"), Err(ApiError::BadRequest(_))));
    }

    #[test]
    fn bodies_that_are_not_objects_are_refused() {
        for body in [&b""[..], b"  ", b"[]", b"\"x\"", b"{", b"{\"target_url\":}"] {
            assert!(matches!(parse_new(body, &open()), Err(ApiError::BadRequest(_))), "{body:?}");
        }
    }
}
