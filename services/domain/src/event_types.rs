//! Event-type patterns: which events a subscription wants.
//!
//! A pattern is an event type (`order.created` matches itself), a prefix ending in
//! `*` (`order.*` matches `order.` followed by anything, `order.created` included and
//! `order` itself not), or `*` alone (every event that has a type). A subscription
//! without patterns wants every event, with or without a type. The seed's
//! `event_type_filter` (`a,b`: exactly `a` or `b`) is the same thing written as one
//! comma-separated string.
//!
//! Operational types (`hookline.…`, hookline's own events, see [`crate::operational`])
//! are matched only by patterns that start with `hookline.` ([`may_match`]): `*` and
//! a subscription without patterns do not get them, so that nobody receives
//! hookline's own events without asking for them by name.

use serde::{Deserialize, Serialize};

use crate::operational::{is_operational_type, OPERATIONAL_TYPE_PREFIX};
use crate::subscription::{validate_event_type, FieldError};

/// Most patterns one subscription may list.
pub const MAX_PATTERNS: usize = 64;

/// One validated event-type pattern.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EventTypePattern(String);

/// How a pattern matches, for the index that finds subscriptions without scanning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatternKind<'a> {
    /// Exactly this event type.
    Exact(&'a str),
    /// Every event type starting with this (the pattern without its `*`; empty for `*`).
    Prefix(&'a str),
}

impl EventTypePattern {
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, FieldError> {
        let raw = raw.trim();
        validate_event_type(field, raw)?;
        if let Some(star) = raw.find('*') {
            if star != raw.len() - 1 {
                return Err(FieldError::new(field, format!("{raw:?}: `*` may only end a pattern")));
            }
            if star > 0 && !raw.ends_with(".*") && !raw.ends_with("_*") && !raw.ends_with("-*") && !raw.ends_with("/*")
            {
                return Err(FieldError::new(
                    field,
                    format!("{raw:?}: `*` follows a separator (`order.*`) or stands alone (`*`)"),
                ));
            }
        }
        Ok(Self(raw.to_string()))
    }

    /// A pattern taken as written, unchecked: for filters stored before patterns existed.
    pub(crate) fn verbatim(raw: &str) -> Self {
        Self(raw.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn kind(&self) -> PatternKind<'_> {
        match self.0.strip_suffix('*') {
            Some(prefix) => PatternKind::Prefix(prefix),
            None => PatternKind::Exact(&self.0),
        }
    }

    pub fn matches(&self, event_type: &str) -> bool {
        if !may_match(&self.0, event_type) {
            return false;
        }
        match self.kind() {
            PatternKind::Exact(wanted) => wanted == event_type,
            PatternKind::Prefix(prefix) => event_type.starts_with(prefix),
        }
    }
}

impl TryFrom<String> for EventTypePattern {
    type Error = FieldError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse("event_types", &raw)
    }
}

impl From<EventTypePattern> for String {
    fn from(pattern: EventTypePattern) -> String {
        pattern.0
    }
}

/// Validates a list of patterns as a user sent it: at most [`MAX_PATTERNS`], each
/// valid, duplicates dropped, order kept. An empty list is refused: absent (`None`)
/// is how a subscription says "every event".
pub fn parse_patterns<S: AsRef<str>>(field: &'static str, raw: &[S]) -> Result<Vec<EventTypePattern>, FieldError> {
    if raw.is_empty() {
        return Err(FieldError::new(field, "must list at least one pattern (omit it, or send null, for every event)"));
    }
    if raw.len() > MAX_PATTERNS {
        return Err(FieldError::new(field, format!("must list at most {MAX_PATTERNS} patterns")));
    }
    let mut patterns: Vec<EventTypePattern> = Vec::with_capacity(raw.len());
    for item in raw {
        let pattern = EventTypePattern::parse(field, item.as_ref())?;
        if !patterns.contains(&pattern) {
            patterns.push(pattern);
        }
    }
    Ok(patterns)
}

/// The patterns the seed's `event_type_filter` stands for: each comma-separated type,
/// matched exactly (a `*` in it is taken as a pattern too).
pub fn patterns_of_filter(filter: &str) -> Result<Vec<EventTypePattern>, FieldError> {
    let parts: Vec<&str> = filter.split(',').map(str::trim).filter(|part| !part.is_empty()).collect();
    parse_patterns("event_type_filter", &parts)
}

/// The seed's `event_type_filter` written for a list of patterns.
pub fn filter_of_patterns(patterns: &[EventTypePattern]) -> String {
    patterns.iter().map(EventTypePattern::as_str).collect::<Vec<_>>().join(",")
}

/// The rule for hookline's own event types: whether a pattern written `pattern` (or
/// its prefix; the empty text for a subscription without patterns) may match
/// `event_type` at all. An operational type is matched only by patterns that start
/// with [`OPERATIONAL_TYPE_PREFIX`]; any other type, by any pattern that matches it.
pub fn may_match(pattern: &str, event_type: &str) -> bool {
    !is_operational_type(event_type) || pattern.starts_with(OPERATIONAL_TYPE_PREFIX)
}

/// Whether an event of `event_type` is wanted by a subscription with `patterns`.
pub fn wanted(patterns: Option<&[EventTypePattern]>, event_type: Option<&str>) -> bool {
    match (patterns, event_type) {
        (None, Some(event_type)) => may_match("", event_type),
        (None, None) => true,
        (Some(_), None) => false,
        (Some(patterns), Some(event_type)) => patterns.iter().any(|p| p.matches(event_type)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(raw: &str) -> EventTypePattern {
        EventTypePattern::parse("event_types", raw).unwrap()
    }

    #[test]
    fn exact_prefix_and_everything() {
        assert!(p("order.created").matches("order.created"));
        assert!(!p("order.created").matches("order.created.v2"));
        assert!(p("order.*").matches("order.created"));
        assert!(p("order.*").matches("order.a.b"));
        assert!(!p("order.*").matches("order"));
        assert!(!p("order.*").matches("orders.created"));
        assert!(p("*").matches("anything"));
    }

    #[test]
    fn stars_only_end_a_pattern_after_a_separator() {
        for bad in ["or*der", "order*", "*.created", "**", "", " ", "a\nb"] {
            assert!(EventTypePattern::parse("event_types", bad).is_err(), "{bad:?}");
        }
        assert_eq!(p(" order.* ").as_str(), "order.*");
    }

    #[test]
    fn lists_are_bounded_non_empty_and_deduplicated() {
        assert_eq!(parse_patterns("event_types", &["a", "b", "a"]).unwrap(), vec![p("a"), p("b")]);
        assert!(parse_patterns::<&str>("event_types", &[]).is_err());
        let many: Vec<String> = (0..=MAX_PATTERNS).map(|i| format!("t{i}")).collect();
        assert!(parse_patterns("event_types", &many).is_err());
    }

    #[test]
    fn the_seed_filter_is_a_list_of_exact_types() {
        let patterns = patterns_of_filter("order.created, order.paid").unwrap();
        assert_eq!(patterns, vec![p("order.created"), p("order.paid")]);
        assert_eq!(filter_of_patterns(&patterns), "order.created,order.paid");
        assert!(wanted(Some(&patterns), Some("order.paid")));
        assert!(!wanted(Some(&patterns), Some("order.shipped")));
        assert!(!wanted(Some(&patterns), None));
        assert!(wanted(None, None));
        assert!(patterns_of_filter(" , ").is_err());
    }

    #[test]
    fn operational_types_are_matched_only_by_patterns_that_name_them() {
        for event_type in ["hookline.subscription.disabled", "hookline.task.exhausted", "hookline.x"] {
            assert!(!p("*").matches(event_type), "{event_type}");
            assert!(!wanted(None, Some(event_type)), "no patterns: {event_type}");
            assert!(!wanted(Some(&[p("*"), p("order.*")]), Some(event_type)));
            assert!(p("hookline.*").matches(event_type));
            assert!(wanted(Some(&[p("order.*"), p("hookline.*")]), Some(event_type)));
        }
        assert!(p("hookline.subscription.*").matches("hookline.subscription.enabled"));
        assert!(!p("hookline.subscription.*").matches("hookline.task.exhausted"));
        assert!(p("hookline.task.exhausted").matches("hookline.task.exhausted"));
        // Other types are untouched, those that merely look alike included.
        assert!(p("*").matches("hookline_x") && p("*").matches("hooklines.x") && wanted(None, Some("hookline")));
        assert!(may_match("", "order.created") && !may_match("", "hookline.x") && may_match("hookline.", "hookline.x"));
    }
}
