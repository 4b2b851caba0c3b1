//! What clients send to ask for a replay, and its validation. Every problem of a
//! request is reported at once, keyed by field name.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use hookline_domain::event_types::{parse_patterns, EventTypePattern};
use hookline_domain::replay::{ReplayStatus, DEFAULT_REPLAY_RATE_PER_SECOND, MAX_REPLAY_RATE_PER_SECOND};
use hookline_domain::subscription::validate_target_url;
use hookline_domain::target::TargetPolicy;
use hookline_domain::{SubscriptionId, TenantId};
use serde_json::Value;

use crate::error::ApiError;
use crate::subscription_input::{parse_object, whole_number};

/// Whose tasks a request names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Named {
    Subscription(SubscriptionId),
    Tenant(TenantId),
    /// Neither: the caller's own tenant (a tenant's token).
    Nothing,
}

/// A valid replay request, its scope not yet resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NewReplay {
    pub named: Named,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub statuses: Vec<ReplayStatus>,
    pub event_types: Option<Vec<EventTypePattern>>,
    pub target_url: Option<String>,
    pub rate_per_second: u32,
    pub dry_run: bool,
}

/// Reads a replay request at `now` (the default `until`): `since` required; exactly
/// one of `subscription_id` and `tenant_id`, or neither; `status` a list of
/// `failed`, `succeeded`, `pending` (or one of them), `["failed"]` by default.
pub(crate) fn parse_replay(body: &[u8], policy: &TargetPolicy, now: DateTime<Utc>) -> Result<NewReplay, ApiError> {
    let object = parse_object(body)?;
    let mut errors = BTreeMap::new();
    let (mut subscription, mut tenant, mut since, mut until) = (None, None, None, None);
    let mut replay = NewReplay {
        named: Named::Nothing,
        since: now,
        until: now,
        statuses: vec![ReplayStatus::Failed],
        event_types: None,
        target_url: None,
        rate_per_second: DEFAULT_REPLAY_RATE_PER_SECOND,
        dry_run: false,
    };
    for (name, value) in object {
        match (name.as_str(), value) {
            ("subscription_id", Value::Null) | ("tenant_id", Value::Null) => {}
            ("subscription_id", Value::String(raw)) => match SubscriptionId::from_str(&raw) {
                Ok(id) => subscription = Some(id),
                Err(_) => note(&mut errors, "subscription_id", "must be a UUID"),
            },
            ("subscription_id", _) => note(&mut errors, "subscription_id", "must be a UUID"),
            ("tenant_id", Value::String(raw)) => match TenantId::parse(&raw) {
                Ok(id) => tenant = Some(id),
                Err(e) => note(&mut errors, "tenant_id", &e.message),
            },
            ("tenant_id", _) => note(&mut errors, "tenant_id", "must be a string"),
            ("since", value) => match time(value) {
                Ok(at) => since = Some(at),
                Err(message) => note(&mut errors, "since", message),
            },
            ("until", Value::Null) => {}
            ("until", value) => match time(value) {
                Ok(at) => until = Some(at),
                Err(message) => note(&mut errors, "until", message),
            },
            ("status", value) => match statuses(value) {
                Ok(statuses) => replay.statuses = statuses,
                Err(message) => note(&mut errors, "status", &message),
            },
            ("event_types", Value::Null) => {}
            ("event_types", Value::Array(items)) => {
                match items.iter().map(Value::as_str).collect::<Option<Vec<&str>>>() {
                    Some(raw) => match parse_patterns("event_types", &raw) {
                        Ok(patterns) => replay.event_types = Some(patterns),
                        Err(e) => note(&mut errors, "event_types", &e.message),
                    },
                    None => note(&mut errors, "event_types", "must be a list of event-type patterns"),
                }
            }
            ("event_types", _) => note(&mut errors, "event_types", "must be a list of event-type patterns"),
            ("target_url", Value::Null) => {}
            ("target_url", Value::String(url)) => match validate_target_url(&url, policy) {
                Ok(()) => replay.target_url = Some(url),
                Err(e) => note(&mut errors, "target_url", &e.message),
            },
            ("target_url", _) => note(&mut errors, "target_url", "must be a string"),
            ("rate_per_second", value) => match whole_number(&value) {
                Some(rate) if (1..=u64::from(MAX_REPLAY_RATE_PER_SECOND)).contains(&rate) => {
                    replay.rate_per_second = rate as u32
                }
                _ => note(
                    &mut errors,
                    "rate_per_second",
                    &format!("must be an integer from 1 to {MAX_REPLAY_RATE_PER_SECOND}"),
                ),
            },
            ("dry_run", Value::Bool(dry_run)) => replay.dry_run = dry_run,
            ("dry_run", _) => note(&mut errors, "dry_run", "must be true or false"),
            (other, _) => note(&mut errors, other, "unknown field"),
        }
    }
    match (subscription, tenant) {
        (Some(_), Some(_)) => note(&mut errors, "tenant_id", "conflicts with subscription_id: name one of them"),
        (Some(id), None) => replay.named = Named::Subscription(id),
        (None, Some(id)) => replay.named = Named::Tenant(id),
        (None, None) => {}
    }
    match since {
        Some(at) => replay.since = at,
        None if !errors.contains_key("since") => note(&mut errors, "since", "is required (RFC 3339)"),
        None => {}
    }
    replay.until = until.unwrap_or(now);
    if since.is_some() && !errors.contains_key("until") && replay.until <= replay.since {
        note(&mut errors, "until", "must be after since");
    }
    if errors.is_empty() {
        Ok(replay)
    } else {
        Err(ApiError::Validation(errors))
    }
}

/// Notes what is wrong with `field`.
fn note(errors: &mut BTreeMap<String, String>, field: &str, message: &str) {
    errors.insert(field.to_string(), message.to_string());
}

fn time(value: Value) -> Result<DateTime<Utc>, &'static str> {
    const SHAPE: &str = "must be an RFC 3339 time, such as 2026-01-31T09:00:00Z";
    match value {
        Value::String(raw) => DateTime::parse_from_rfc3339(&raw).map(|at| at.with_timezone(&Utc)).map_err(|_| SHAPE),
        _ => Err(SHAPE),
    }
}

fn statuses(value: Value) -> Result<Vec<ReplayStatus>, String> {
    let known: Vec<&str> = ReplayStatus::ALL.iter().map(|status| status.as_str()).collect();
    let shape = || format!("must be one of {}, or a list of them", known.join(", "));
    let raw: Vec<String> = match value {
        Value::String(one) => vec![one],
        Value::Array(items) => {
            items.into_iter().map(|item| item.as_str().map(String::from)).collect::<Option<_>>().ok_or_else(shape)?
        }
        _ => return Err(shape()),
    };
    if raw.is_empty() {
        return Err("must list at least one status".into());
    }
    let mut statuses = Vec::with_capacity(raw.len());
    for name in raw {
        let status = ReplayStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == name)
            .ok_or_else(|| format!("unknown status '{name}': {}", shape()))?;
        if !statuses.contains(&status) {
            statuses.push(status);
        }
    }
    Ok(statuses)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000, 0).unwrap()
    }

    fn parse(body: serde_json::Value) -> Result<NewReplay, ApiError> {
        parse_replay(body.to_string().as_bytes(), &TargetPolicy::default(), now())
    }

    fn refusals(body: serde_json::Value) -> BTreeMap<String, String> {
        match parse(body) {
            Err(ApiError::Validation(errors)) => errors,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_fill_what_is_left_out() {
        let sub = SubscriptionId::new();
        let replay = parse(json!({"subscription_id": sub.to_string(), "since": "2027-01-15T00:00:00Z"})).unwrap();
        assert_eq!(replay.named, Named::Subscription(sub));
        assert_eq!((replay.until, replay.statuses.clone()), (now(), vec![ReplayStatus::Failed]));
        assert_eq!(
            (replay.rate_per_second, replay.dry_run, replay.target_url),
            (DEFAULT_REPLAY_RATE_PER_SECOND, false, None)
        );
        let one = parse(json!({"since": "2027-01-15T00:00:00+01:00", "status": "pending", "dry_run": true})).unwrap();
        assert_eq!((one.named, one.statuses, one.dry_run), (Named::Nothing, vec![ReplayStatus::Pending], true));
    }

    #[test]
    fn every_bad_field_is_named_at_once() {
        let errors = refusals(json!({
            "subscription_id": "nope",
            "tenant_id": "acme",
            "until": "yesterday",
            "status": ["failed", "lost"],
            "event_types": "order.*",
            "target_url": "ftp://example.com",
            "rate_per_second": 0,
            "dry_run": "yes",
            "colour": 1,
        }));
        let fields: Vec<&str> = errors.keys().map(String::as_str).collect();
        assert_eq!(
            fields,
            [
                "colour",
                "dry_run",
                "event_types",
                "rate_per_second",
                "since",
                "status",
                "subscription_id",
                "target_url",
                "until"
            ]
        );
        let both = refusals(
            json!({"subscription_id": SubscriptionId::new().to_string(), "tenant_id": "acme", "since": "2027-01-15T00:00:00Z"}),
        );
        assert!(both["tenant_id"].contains("conflicts"));
        let backwards = refusals(json!({"since": "2027-01-15T00:00:00Z", "until": "2027-01-14T00:00:00Z"}));
        assert_eq!(backwards["until"], "must be after since");
        let fast =
            refusals(json!({"since": "2027-01-15T00:00:00Z", "rate_per_second": MAX_REPLAY_RATE_PER_SECOND + 1}));
        assert!(fast.contains_key("rate_per_second"));
        assert!(refusals(json!({"since": "2027-01-15T00:00:00Z", "status": []})).contains_key("status"));
    }
}
