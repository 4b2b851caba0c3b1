//! What clients send to create or change a subscription, and its validation. Every
//! problem of a request is reported at once, keyed by field name.

use std::collections::BTreeMap;
use std::time::Duration;

use hookline_domain::delivery_settings::{
    validate_headers, validate_max_in_flight, validate_rate_limit, validate_timeout_ms, NamedSchedule, OwnedHeaders,
    DEFAULT_SCHEDULE,
};
use hookline_domain::event_types::{parse_patterns, patterns_of_filter, EventTypePattern};
use hookline_domain::subscription::{validate_secret, validate_target_url, FieldError};
use hookline_domain::target::TargetPolicy;
use hookline_domain::{DeliverySettings, OrderingMode, RetrySchedules, ScheduleChoice, Secret, TenantId};
use hookline_secrets::generate_secret;
use serde_json::{Map, Value};

use crate::config::ApiConfig;
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
    pub delivery: DeliverySettings,
}

/// What the delivery settings of a subscription may be, as this process is configured.
pub(crate) struct DeliveryRules {
    pub owned_headers: OwnedHeaders,
    /// `HOOKLINE_MAX_TIMEOUT_SECONDS`.
    pub max_timeout: Duration,
    /// `HOOKLINE_MAX_IN_FLIGHT_PER_SUBSCRIPTION`.
    pub max_in_flight: usize,
    pub schedules: RetrySchedules,
}

impl DeliveryRules {
    pub(crate) fn of(config: &ApiConfig) -> Self {
        Self {
            owned_headers: OwnedHeaders::new(&config.secret_header, &config.event_type_header),
            max_timeout: config.max_timeout,
            max_in_flight: config.max_in_flight_per_subscription,
            schedules: RetrySchedules::new(config.retry.clone()),
        }
    }
}

/// A valid change of delivery settings: each one kept, cleared (back to its default) or set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DeliveryPatch {
    pub headers: Change<BTreeMap<String, Secret>>,
    pub timeout_ms: Change<u64>,
    pub retry_schedule: Change<ScheduleChoice>,
    pub rate_limit_per_second: Change<u32>,
    pub max_in_flight: Change<u32>,
}

impl DeliveryPatch {
    fn keep() -> Self {
        Self {
            headers: Change::Keep,
            timeout_ms: Change::Keep,
            retry_schedule: Change::Keep,
            rate_limit_per_second: Change::Keep,
            max_in_flight: Change::Keep,
        }
    }

    /// The settings `current` becomes.
    pub(crate) fn apply(self, current: DeliverySettings) -> DeliverySettings {
        let headers = (!current.headers.is_empty()).then_some(current.headers);
        DeliverySettings {
            headers: self.headers.apply(headers).unwrap_or_default(),
            timeout_ms: self.timeout_ms.apply(current.timeout_ms),
            retry_schedule: self.retry_schedule.apply(current.retry_schedule),
            rate_limit_per_second: self.rate_limit_per_second.apply(current.rate_limit_per_second),
            max_in_flight: self.max_in_flight.apply(current.max_in_flight),
        }
    }
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
    pub delivery: DeliveryPatch,
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
    delivery: DeliveryPatch,
    errors: BTreeMap<String, String>,
}

impl Fields {
    fn read(body: &[u8], policy: &TargetPolicy, rules: &DeliveryRules) -> Result<Self, ApiError> {
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
            delivery: DeliveryPatch::keep(),
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
                "headers" => fields.delivery.headers = fields.headers(value, rules),
                "timeout_ms" => {
                    fields.delivery.timeout_ms =
                        fields.number("timeout_ms", value, "an integer of milliseconds", |ms| {
                            validate_timeout_ms(ms, rules.max_timeout)
                        })
                }
                "retry_schedule" => fields.delivery.retry_schedule = fields.retry_schedule(value, &rules.schedules),
                "rate_limit_per_second" => {
                    fields.delivery.rate_limit_per_second =
                        fields.number("rate_limit_per_second", value, "an integer", validate_rate_limit)
                }
                "max_in_flight" => {
                    fields.delivery.max_in_flight = match value {
                        // The default: found by adaptive concurrency.
                        Value::String(auto) if auto == "auto" => Change::Clear,
                        Value::Null | Value::String(_) => {
                            fields.problem(
                                "max_in_flight",
                                &format!("must be \"auto\" or an integer from 1 to {}", rules.max_in_flight),
                            );
                            Change::Keep
                        }
                        value => fields.number("max_in_flight", value, "\"auto\" or an integer", |n| {
                            validate_max_in_flight(n, rules.max_in_flight)
                        }),
                    }
                }
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

    /// An optional whole number (`null` clears it), read by `read` into what it stands for.
    fn number<T>(
        &mut self,
        field: &str,
        value: Value,
        shape: &str,
        read: impl FnOnce(u64) -> Result<T, FieldError>,
    ) -> Change<T> {
        if value.is_null() {
            return Change::Clear;
        }
        let Some(number) = whole_number(&value) else {
            self.problem(field, &format!("must be {shape}, or null for the default"));
            return Change::Keep;
        };
        match read(number) {
            Ok(read) => Change::Set(read),
            Err(e) => {
                self.reject(e);
                Change::Keep
            }
        }
    }

    /// Extra headers: an object of names to string values; `null` or `{}`: none.
    fn headers(&mut self, value: Value, rules: &DeliveryRules) -> Change<BTreeMap<String, Secret>> {
        const SHAPE: &str = "must be an object of header names to string values, or null for none";
        let object = match value {
            Value::Null => return Change::Clear,
            Value::Object(object) => object,
            _ => {
                self.problem("headers", SHAPE);
                return Change::Keep;
            }
        };
        let mut pairs = Vec::with_capacity(object.len());
        for (name, value) in object {
            match value {
                Value::String(value) => pairs.push((name, value)),
                _ => {
                    self.problem("headers", &format!("the value of {name} must be a string"));
                    return Change::Keep;
                }
            }
        }
        match validate_headers(pairs, &rules.owned_headers) {
            Ok(headers) if headers.is_empty() => Change::Clear,
            Ok(headers) => Change::Set(headers),
            Err(e) => {
                self.reject(e);
                Change::Keep
            }
        }
    }

    /// A schedule's name (`default`, `production`) or a list of delays in seconds.
    fn retry_schedule(&mut self, value: Value, schedules: &RetrySchedules) -> Change<ScheduleChoice> {
        const FIELD: &str = "retry_schedule";
        match value {
            Value::Null => Change::Clear,
            Value::String(name) if name == DEFAULT_SCHEDULE => Change::Clear,
            Value::String(name) if name == "production" => {
                Change::Set(ScheduleChoice::Named(NamedSchedule::Production))
            }
            Value::Array(items) => {
                let Some(delays) = items.iter().map(whole_number).collect::<Option<Vec<u64>>>() else {
                    self.problem(FIELD, "must list delays in seconds (integers)");
                    return Change::Keep;
                };
                match schedules.check_delays(&delays) {
                    Ok(()) => Change::Set(ScheduleChoice::Delays(delays)),
                    Err(e) => {
                        self.reject(e);
                        Change::Keep
                    }
                }
            }
            _ => {
                self.problem(FIELD, "must be \"default\", \"production\" or a list of delays in seconds");
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
pub(crate) fn parse_new(
    body: &[u8],
    policy: &TargetPolicy,
    rules: &DeliveryRules,
) -> Result<NewSubscription, ApiError> {
    let mut fields = Fields::read(body, policy, rules)?;
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
        delivery: fields.delivery.apply(DeliverySettings::default()),
    })
}

/// Reads a partial update: absent fields keep their value, `null` clears an optional one.
pub(crate) fn parse_patch(
    body: &[u8],
    policy: &TargetPolicy,
    rules: &DeliveryRules,
) -> Result<SubscriptionPatch, ApiError> {
    let mut fields = Fields::read(body, policy, rules)?;
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
        delivery: fields.delivery,
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

    fn rules() -> DeliveryRules {
        DeliveryRules {
            owned_headers: OwnedHeaders::new("X-Hub-Signature-256", "X-Event-Type"),
            max_timeout: Duration::from_secs(60),
            max_in_flight: 64,
            schedules: RetrySchedules::new(hookline_domain::RetryPolicy::default()),
        }
    }

    #[test]
    fn delivery_settings_are_read_and_checked() {
        let new = parse_new(
            br#"{"target_url":"https://e.com/h","headers":{"X-Api-Key":"k"},"timeout_ms":1000,
                 "retry_schedule":[5,10],"rate_limit_per_second":5,"max_in_flight":8}"#,
            &open(),
            &rules(),
        )
        .unwrap();
        assert_eq!(new.delivery.headers["X-Api-Key"].expose(), "k");
        assert_eq!(new.delivery.timeout_ms, Some(1000));
        assert_eq!(new.delivery.retry_schedule, Some(ScheduleChoice::Delays(vec![5, 10])));
        assert_eq!((new.delivery.rate_limit_per_second, new.delivery.max_in_flight), (Some(5), Some(8)));
        let defaults = parse_new(
            br#"{"target_url":"https://e.com/h","headers":{},"retry_schedule":"default","max_in_flight":"auto"}"#,
            &open(),
            &rules(),
        )
        .unwrap();
        assert!(defaults.delivery.is_default());
        let errs = errors(parse_new(
            br#"{"target_url":"https://e.com/h","headers":{"Webhook-Id":"x"},"timeout_ms":50,
                 "retry_schedule":[7],"rate_limit_per_second":0,"max_in_flight":65}"#,
            &open(),
            &rules(),
        ));
        assert_eq!(
            errs.keys().map(String::as_str).collect::<Vec<_>>(),
            ["headers", "max_in_flight", "rate_limit_per_second", "retry_schedule", "timeout_ms"]
        );
        assert!(errs["headers"].contains("Webhook-Id"), "{errs:?}");
        assert!(errs["retry_schedule"].contains("5, 10, 30"), "{errs:?}");
        for bad in [
            &br#"{"headers":["X-A"]}"#[..],
            br#"{"headers":{"X-A":1}}"#,
            br#"{"timeout_ms":"1000"}"#,
            br#"{"timeout_ms":1000.5}"#,
            br#"{"retry_schedule":"weekly"}"#,
            br#"{"retry_schedule":[]}"#,
            br#"{"max_in_flight":"many"}"#,
            br#"{"max_in_flight":null}"#,
        ] {
            assert_eq!(errors(parse_patch(bad, &open(), &rules())).len(), 1, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn delivery_patches_keep_clear_or_set_each_setting() {
        let current = parse_new(
            br#"{"target_url":"https://e.com/h","headers":{"X-A":"1"},"timeout_ms":1000,"retry_schedule":"production",
                 "rate_limit_per_second":5,"max_in_flight":8}"#,
            &open(),
            &rules(),
        )
        .unwrap()
        .delivery;
        let kept = parse_patch(b"{}", &open(), &rules()).unwrap().delivery.apply(current.clone());
        assert_eq!(kept, current);
        let cleared = parse_patch(
            br#"{"headers":null,"timeout_ms":null,"retry_schedule":"default","rate_limit_per_second":null,"max_in_flight":"auto"}"#,
            &open(),
            &rules(),
        )
        .unwrap()
        .delivery
        .apply(current.clone());
        assert!(cleared.is_default(), "{cleared:?}");
        let changed =
            parse_patch(br#"{"timeout_ms":2000}"#, &open(), &rules()).unwrap().delivery.apply(current.clone());
        assert_eq!(changed, DeliverySettings { timeout_ms: Some(2000), ..current });
    }

    fn errors(result: Result<impl std::fmt::Debug, ApiError>) -> BTreeMap<String, String> {
        match result {
            Err(ApiError::Validation(errors)) => errors,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn creation_needs_a_target_url() {
        let new = parse_new(br#"{"target_url":"https://example.com/h","secret":null}"#, &open(), &rules()).unwrap();
        assert_eq!(new.target_url, "https://example.com/h");
        assert_eq!(new.secret, None);
        assert_eq!(
            errors(parse_new(b"{}", &open(), &rules())).get("target_url").map(String::as_str),
            Some("is required")
        );
    }

    #[test]
    fn every_problem_is_listed() {
        let errs = errors(parse_new(
            br#"{"target_url":"ftp://x","secret":"","event_type_filter":7,"colour":"red"}"#,
            &open(),
            &rules(),
        ));
        assert_eq!(
            errs.keys().map(String::as_str).collect::<Vec<_>>(),
            ["colour", "event_type_filter", "secret", "target_url"]
        );
        assert_eq!(errs["colour"], "unknown field");
    }

    #[test]
    fn patches_distinguish_absent_from_null() {
        let patch =
            parse_patch(r#"{"secret":null,"event_type_filter":"order.créé"}"#.as_bytes(), &open(), &rules()).unwrap();
        assert_eq!(patch.target_url, None);
        assert_eq!(patch.secret, Change::Clear);
        assert_eq!(patch.patterns, Change::Set(patterns(&["order.créé"])));
        assert_eq!(parse_patch(b"{}", &open(), &rules()).unwrap().secret, Change::Keep);
        assert!(errors(parse_patch(br#"{"target_url":null}"#, &open(), &rules())).contains_key("target_url"));
    }

    fn patterns(raw: &[&str]) -> Vec<EventTypePattern> {
        parse_patterns("event_types", raw).unwrap()
    }

    #[test]
    fn event_types_and_the_seed_filter_name_the_same_patterns() {
        let url = r#""target_url":"https://e.com/h""#;
        let new = |rest: &str| parse_new(format!("{{{url},{rest}}}").as_bytes(), &open(), &rules());
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
        let patch = parse_patch(br#"{"event_types":null}"#, &open(), &rules()).unwrap();
        assert_eq!(patch.patterns, Change::Clear);
        assert_eq!(parse_patch(b"{}", &open(), &rules()).unwrap().patterns, Change::Keep);
    }

    #[test]
    fn a_tenant_is_named_only_when_creating() {
        let new = parse_new(br#"{"target_url":"https://e.com/h","tenant_id":"acme"}"#, &open(), &rules()).unwrap();
        assert_eq!(new.tenant_id, Some(TenantId::parse("acme").unwrap()));
        assert!(errors(parse_new(br#"{"target_url":"https://e.com/h","tenant_id":"Acme!"}"#, &open(), &rules()))
            .contains_key("tenant_id"));
        assert!(errors(parse_patch(br#"{"tenant_id":"acme"}"#, &open(), &rules())).contains_key("tenant_id"));
    }

    #[test]
    fn ordering_is_key_or_none_kept_when_absent() {
        let url = r#""target_url":"https://example.com/h""#;
        assert_eq!(parse_new(format!("{{{url}}}").as_bytes(), &open(), &rules()).unwrap().ordering, OrderingMode::None);
        let keyed = parse_new(format!(r#"{{{url},"ordering":"key"}}"#).as_bytes(), &open(), &rules()).unwrap();
        assert_eq!(keyed.ordering, OrderingMode::Key);
        assert_eq!(parse_patch(b"{}", &open(), &rules()).unwrap().ordering, None);
        assert_eq!(
            parse_patch(br#"{"ordering":"none"}"#, &open(), &rules()).unwrap().ordering,
            Some(OrderingMode::None)
        );
        for bad in [r#""fifo""#, "null", "true", r#""KEY""#] {
            let body = format!(r#"{{"ordering":{bad}}}"#);
            assert_eq!(
                errors(parse_patch(body.as_bytes(), &open(), &rules()))["ordering"],
                r#"must be "key" or "none""#
            );
        }
    }

    #[test]
    fn enabled_is_a_boolean_kept_when_absent() {
        assert_eq!(parse_patch(br#"{"enabled":true}"#, &open(), &rules()).unwrap().enabled, Some(true));
        assert_eq!(parse_patch(br#"{"enabled":false}"#, &open(), &rules()).unwrap().enabled, Some(false));
        assert_eq!(parse_patch(b"{}", &open(), &rules()).unwrap().enabled, None);
        assert_eq!(errors(parse_patch(br#"{"enabled":"yes"}"#, &open(), &rules()))["enabled"], "must be true or false");
        assert!(errors(parse_patch(br#"{"enabled":null}"#, &open(), &rules())).contains_key("enabled"));
        assert!(parse_new(br#"{"target_url":"https://example.com/h"}"#, &open(), &rules()).unwrap().enabled);
    }

    #[test]
    fn internal_targets_are_refused_with_the_reason_unless_allowlisted() {
        let body = br#"{"target_url":"http://2130706433:9/hook"}"#;
        assert_eq!(
            errors(parse_new(body, &open(), &rules()))["target_url"],
            "resolves to a loopback address (127.0.0.1); set HOOKLINE_TARGET_ALLOWLIST to allow it"
        );
        assert!(
            errors(parse_patch(br#"{"target_url":"http://localhost/"}"#, &open(), &rules())).contains_key("target_url")
        );
        let loopback = TargetPolicy::parse_allowlist("127.0.0.0/8").unwrap();
        assert_eq!(parse_new(body, &loopback, &rules()).unwrap().target_url, "http://2130706433:9/hook");
    }

    #[test]
    fn a_secret_is_generated_on_request_but_not_alongside_one() {
        let new =
            parse_new(br#"{"target_url":"https://example.com/h","generate_secret":true}"#, &open(), &rules()).unwrap();
        assert!(new.secret.unwrap().starts_with("whsec_"));
        let new =
            parse_new(br#"{"target_url":"https://e.com/h","generate_secret":true,"secret":null}"#, &open(), &rules());
        assert!(new.unwrap().secret.is_some());
        let both = errors(parse_new(
            br#"{"target_url":"https://e.com/h","generate_secret":true,"secret":"s"}"#,
            &open(),
            &rules(),
        ));
        assert_eq!(both["generate_secret"], "conflicts with secret: give a secret or ask for one, not both");
        let off =
            parse_new(br#"{"target_url":"https://e.com/h","generate_secret":false,"secret":"s"}"#, &open(), &rules());
        assert_eq!(off.unwrap().secret.as_deref(), Some("s"));
        assert!(errors(parse_patch(br#"{"generate_secret":true}"#, &open(), &rules())).contains_key("generate_secret"));
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
            assert!(matches!(parse_new(body, &open(), &rules()), Err(ApiError::BadRequest(_))), "{body:?}");
        }
    }
}
