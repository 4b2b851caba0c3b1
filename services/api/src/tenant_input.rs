//! What clients send to create or change a tenant, or to make a token, and its
//! validation. Every problem of a request is reported at once, keyed by field name.

use std::collections::BTreeMap;

use hookline_domain::tenant::{validate_name, TenantLimits};
use hookline_domain::TenantId;
use serde_json::Value;

use crate::error::ApiError;
use crate::subscription_input::{parse_object, whole_number, Change};

/// A valid creation request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct NewTenant {
    /// `None`: hookline makes one up.
    pub id: Option<TenantId>,
    pub name: String,
    pub limits: TenantLimits,
}

/// A valid change: absent fields keep their value.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TenantPatch {
    pub name: Option<String>,
    pub limits: LimitsPatch,
}

/// What a request does to each limit: `null` returns it to the operator's default.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct LimitsPatch {
    events_per_second: Change<u32>,
    max_subscriptions: Change<u32>,
}

impl LimitsPatch {
    const KEEP: LimitsPatch = LimitsPatch { events_per_second: Change::Keep, max_subscriptions: Change::Keep };
    const CLEAR: LimitsPatch = LimitsPatch { events_per_second: Change::Clear, max_subscriptions: Change::Clear };

    pub(crate) fn apply(self, current: TenantLimits) -> TenantLimits {
        TenantLimits {
            events_per_second: self.events_per_second.apply(current.events_per_second),
            max_subscriptions: self.max_subscriptions.apply(current.max_subscriptions),
        }
    }
}

/// The fields of a tenant request, read but not yet judged complete.
struct Fields {
    id: Option<TenantId>,
    name: Option<String>,
    limits: LimitsPatch,
    errors: BTreeMap<String, String>,
}

impl Fields {
    fn read(body: &[u8]) -> Result<Self, ApiError> {
        let mut fields = Fields { id: None, name: None, limits: LimitsPatch::KEEP, errors: BTreeMap::new() };
        for (name, value) in parse_object(body)? {
            match (name.as_str(), value) {
                ("id", Value::String(id)) => match TenantId::parse(&id) {
                    Ok(id) => fields.id = Some(id),
                    Err(e) => fields.problem("id", &e.message),
                },
                ("id", _) => fields.problem("id", "must be a string"),
                ("name", Value::String(text)) => match validate_name("name", &text) {
                    Ok(()) => fields.name = Some(text),
                    Err(e) => fields.problem("name", &e.message),
                },
                ("name", _) => fields.problem("name", "must be a string"),
                ("limits", Value::Null) => fields.limits = LimitsPatch::CLEAR,
                ("limits", Value::Object(limits)) => {
                    for (limit, value) in limits {
                        let field = format!("limits.{limit}");
                        match limit.as_str() {
                            "events_per_second" => {
                                fields.limits.events_per_second = fields.limit(&field, value, 1);
                            }
                            "max_subscriptions" => {
                                fields.limits.max_subscriptions = fields.limit(&field, value, 0);
                            }
                            _ => fields.problem(&field, "unknown field"),
                        }
                    }
                }
                ("limits", _) => fields.problem("limits", "must be an object or null"),
                _ => fields.problem(&name, "unknown field"),
            }
        }
        Ok(fields)
    }

    /// A limit: a whole number from `min` up, or `null` for the operator's default.
    fn limit(&mut self, field: &str, value: Value, min: u32) -> Change<u32> {
        if value.is_null() {
            return Change::Clear;
        }
        match whole_number(&value).and_then(|n| u32::try_from(n).ok()).filter(|n| *n >= min) {
            Some(limit) => Change::Set(limit),
            None => {
                self.problem(field, &format!("must be an integer from {min} to {}, or null for the default", u32::MAX));
                Change::Keep
            }
        }
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

/// Reads a creation request: `name` required, `id` and `limits` optional.
pub(crate) fn parse_new_tenant(body: &[u8]) -> Result<NewTenant, ApiError> {
    let mut fields = Fields::read(body)?;
    if fields.name.is_none() && !fields.errors.contains_key("name") {
        fields.problem("name", "is required");
    }
    let fields = fields.into_result()?;
    Ok(NewTenant {
        id: fields.id,
        name: fields.name.unwrap_or_default(),
        limits: fields.limits.apply(TenantLimits::default()),
    })
}

/// Reads a change: `name` and `limits`; the id is the path's.
pub(crate) fn parse_tenant_patch(body: &[u8]) -> Result<TenantPatch, ApiError> {
    let mut fields = Fields::read(body)?;
    if fields.id.is_some() || fields.errors.contains_key("id") {
        fields.problem("id", "cannot be changed");
    }
    let fields = fields.into_result()?;
    Ok(TenantPatch { name: fields.name, limits: fields.limits })
}

/// Reads a token request: an empty body, or an object with an optional `name`.
pub(crate) fn parse_token_name(body: &[u8]) -> Result<Option<String>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let mut name = None;
    let mut errors = BTreeMap::new();
    for (field, value) in parse_object(body)? {
        match (field.as_str(), value) {
            ("name", Value::Null) => {}
            ("name", Value::String(text)) => match validate_name("name", &text) {
                Ok(()) => name = Some(text),
                Err(e) => {
                    errors.insert(field, e.message);
                }
            },
            ("name", _) => {
                errors.insert(field, "must be a string or null".into());
            }
            _ => {
                errors.insert(field, "unknown field".into());
            }
        }
    }
    if errors.is_empty() {
        Ok(name)
    } else {
        Err(ApiError::Validation(errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(result: Result<impl std::fmt::Debug, ApiError>) -> BTreeMap<String, String> {
        match result {
            Err(ApiError::Validation(errors)) => errors,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn a_new_tenant_needs_a_name_and_may_name_its_id_and_limits() {
        let new = parse_new_tenant(br#"{"id":"acme","name":"Acme","limits":{"events_per_second":5}}"#).unwrap();
        assert_eq!(new.id, Some(TenantId::parse("acme").unwrap()));
        assert_eq!(new.limits, TenantLimits { events_per_second: Some(5), max_subscriptions: None });
        assert_eq!(parse_new_tenant(br#"{"name":"Acme"}"#).unwrap().id, None);
        let errs = errors(parse_new_tenant(
            br#"{"id":"Not Valid","limits":{"events_per_second":0,"max_subscriptions":-1,"x":1},"colour":1}"#,
        ));
        assert_eq!(
            errs.keys().map(String::as_str).collect::<Vec<_>>(),
            ["colour", "id", "limits.events_per_second", "limits.max_subscriptions", "limits.x", "name"]
        );
        assert_eq!(errs["name"], "is required");
        assert!(errors(parse_new_tenant(br#"{"name":"  "}"#)).contains_key("name"));
        assert!(matches!(parse_new_tenant(b"[]"), Err(ApiError::BadRequest(_))));
    }

    #[test]
    fn a_change_keeps_what_is_absent_and_resets_what_is_null() {
        let current = TenantLimits { events_per_second: Some(5), max_subscriptions: Some(10) };
        let patch = parse_tenant_patch(br#"{"limits":{"max_subscriptions":null}}"#).unwrap();
        assert_eq!(patch.name, None);
        assert_eq!(patch.limits.apply(current), TenantLimits { events_per_second: Some(5), max_subscriptions: None });
        let cleared = parse_tenant_patch(br#"{"name":"New","limits":null}"#).unwrap();
        assert_eq!(cleared.limits.apply(current), TenantLimits::default());
        assert_eq!(parse_tenant_patch(b"{}").unwrap().limits.apply(current), current);
        assert!(errors(parse_tenant_patch(br#"{"id":"other"}"#)).contains_key("id"));
    }

    #[test]
    fn a_token_may_be_named() {
        assert_eq!(parse_token_name(b"").unwrap(), None);
        assert_eq!(parse_token_name(br#"{"name":"ci"}"#).unwrap().as_deref(), Some("ci"));
        assert_eq!(parse_token_name(br#"{"name":null}"#).unwrap(), None);
        assert!(errors(parse_token_name(br#"{"name":7,"x":1}"#)).len() == 2);
    }
}
