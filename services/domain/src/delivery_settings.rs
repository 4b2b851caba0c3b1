//! How one subscription's webhooks are delivered where its receiver needs other than
//! the defaults: extra request headers, a per-attempt timeout, a retry schedule, a rate
//! limit and a bound on attempts in flight. Every setting is optional; an absent one
//! means the configured default (for `max_in_flight`: adaptive concurrency).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::retry::{RetryPolicy, Schedule};
use crate::subscription::{FieldError, Secret, SEALED_SECRET_PREFIX};
use crate::topics;

/// Most extra headers one subscription may send.
pub const MAX_HEADERS: usize = 20;
/// Longest header name, in bytes.
pub const MAX_HEADER_NAME_LEN: usize = 256;
/// Longest header value, in bytes.
pub const MAX_HEADER_VALUE_LEN: usize = 4096;
/// Shortest per-attempt timeout, in milliseconds.
pub const MIN_TIMEOUT_MS: u64 = 100;
/// Highest rate limit, in requests per second (above it, spacing requests is finer
/// than timers on a busy machine keep).
pub const MAX_RATE_LIMIT_PER_SECOND: u32 = 1000;
/// Most delays a list schedule may name (one attempt more than delays).
pub const MAX_SCHEDULE_DELAYS: usize = 50;

/// A subscription's delivery settings; `Default` is "as configured" throughout.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliverySettings {
    /// Extra request headers, by name as given. Values may be credentials (an API key):
    /// they are [`Secret`]s, never printed, sealed at rest like the signing secret.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, Secret>,
    /// How long one attempt may take; `None`: `DELIVERY_TIMEOUT_SECONDS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// The schedule retries follow; `None`: the configured one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_schedule: Option<ScheduleChoice>,
    /// Most requests the receiver gets in any one-second window; `None`: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit_per_second: Option<u32>,
    /// Attempts in flight at once, at most; `None`: found by adaptive concurrency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<u32>,
}

impl DeliverySettings {
    pub fn is_default(&self) -> bool {
        *self == DeliverySettings::default()
    }

    /// The per-attempt timeout: the subscription's, else `default`; never above `max`.
    pub fn timeout(&self, default: Duration, max: Duration) -> Duration {
        self.timeout_ms.map_or(default, Duration::from_millis).min(max)
    }
}

/// A retry schedule a subscription chose instead of the configured one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ScheduleChoice {
    Named(NamedSchedule),
    /// Seconds before each retry; one attempt more than delays in all.
    Delays(Vec<u64>),
}

/// A schedule known by name (besides `default`, which is no choice at all).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NamedSchedule {
    /// [`RetryPolicy::production`].
    #[serde(rename = "production")]
    Production,
}

/// The name that stands for the configured schedule.
pub const DEFAULT_SCHEDULE: &str = "default";

/// The schedules subscriptions may follow: the configured one, the production preset,
/// and lists of delays drawn from the tiers of those two. The delivery role consumes
/// every tier of both, so whichever a subscription picks has its topics read.
#[derive(Clone, Debug, PartialEq)]
pub struct RetrySchedules {
    configured: RetryPolicy,
    production: RetryPolicy,
}

impl RetrySchedules {
    pub fn new(configured: RetryPolicy) -> Self {
        Self { configured, production: RetryPolicy::production() }
    }

    /// The configured schedule (`HOOKLINE_RETRY_SCHEDULE` and the seed's settings).
    pub fn configured(&self) -> &RetryPolicy {
        &self.configured
    }

    /// The schedule a subscription with `choice` follows.
    pub fn policy_for(&self, choice: Option<&ScheduleChoice>) -> RetryPolicy {
        match choice {
            None => self.configured.clone(),
            Some(ScheduleChoice::Named(NamedSchedule::Production)) => self.production.clone(),
            Some(ScheduleChoice::Delays(delays)) => {
                RetryPolicy { max_attempts: delays.len() as u32 + 1, schedule: Schedule::Fixed(delays.clone()) }
            }
        }
    }

    /// Every tier delay of every schedule, shortest first: one tier topic each.
    pub fn tier_delays(&self) -> Vec<Duration> {
        let mut delays = self.configured.tier_delays();
        delays.extend(self.production.tier_delays());
        delays.sort();
        delays.dedup();
        delays
    }

    /// Every tier topic, shortest delay first.
    pub fn tier_topics(&self) -> Vec<String> {
        self.tier_delays().into_iter().map(|d| topics::retry_tier(d.as_secs())).collect()
    }

    /// The longest wait any schedule may give a retry: up to it, a retry due further
    /// ahead than its tier's delay is put back in a tier rather than attempted early.
    pub fn max_delay(&self) -> Duration {
        self.configured.max_delay().max(self.production.max_delay())
    }

    /// The tier that holds a wait of `wait`, among every schedule's tiers: the shortest
    /// at least as long, else the longest.
    pub fn tier_for(&self, wait: Duration) -> Option<String> {
        let delays = self.tier_delays();
        let tier = delays.iter().find(|delay| **delay >= wait).or(delays.last())?;
        Some(topics::retry_tier(tier.as_secs()))
    }

    /// Checks a list of delays: each one a tier delay that exists.
    pub fn check_delays(&self, delays: &[u64]) -> Result<(), FieldError> {
        const FIELD: &str = "retry_schedule";
        let allowed: Vec<u64> = self.tier_delays().iter().map(Duration::as_secs).collect();
        let listed = || allowed.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
        if delays.is_empty() || delays.len() > MAX_SCHEDULE_DELAYS {
            return Err(FieldError::new(
                FIELD,
                format!("must list 1 to {MAX_SCHEDULE_DELAYS} delays in seconds, each one of {}", listed()),
            ));
        }
        match delays.iter().find(|delay| !allowed.contains(delay)) {
            Some(bad) => Err(FieldError::new(
                FIELD,
                format!("{bad} s is not a retry tier: each delay must be one of {} (seconds)", listed()),
            )),
            None => Ok(()),
        }
    }
}

/// The header names hookline sets itself, which subscriptions may not set: `webhook-*`
/// (Standard Webhooks), the seed's signature and event-type headers as configured, the
/// framing and identity of the request, trace context, and hop-by-hop headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedHeaders {
    /// `WEBHOOK_SECRET_HEADER`, lowercased.
    secret_header: String,
    /// `WEBHOOK_EVENT_TYPE_HEADER`, lowercased.
    event_type_header: String,
}

/// Headers hookline owns whatever the configuration.
const ALWAYS_OWNED: [&str; 15] = [
    "content-type",
    "content-length",
    "host",
    "traceparent",
    "tracestate",
    "user-agent",
    // Hop-by-hop (RFC 9110 §7.6.1, and those HTTP/1.1 proxies still honour).
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

impl OwnedHeaders {
    pub fn new(secret_header: &str, event_type_header: &str) -> Self {
        Self {
            secret_header: secret_header.to_ascii_lowercase(),
            event_type_header: event_type_header.to_ascii_lowercase(),
        }
    }

    /// Whether hookline sets `name` itself (compared case-insensitively).
    pub fn owns(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        name.starts_with("webhook-")
            || name == self.secret_header
            || name == self.event_type_header
            || ALWAYS_OWNED.contains(&name.as_str())
    }
}

/// Whether `byte` may appear in a header name: an RFC 9110 token character.
fn token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// Checks extra headers as sent: at most [`MAX_HEADERS`], names that are tokens no two
/// alike (ignoring case) and not owned by hookline, values of visible ASCII, spaces and
/// tabs. The first problem is reported, naming the header.
pub fn validate_headers(
    headers: Vec<(String, String)>,
    owned: &OwnedHeaders,
) -> Result<BTreeMap<String, Secret>, FieldError> {
    const FIELD: &str = "headers";
    let problem = |message: String| Err(FieldError::new(FIELD, message));
    if headers.len() > MAX_HEADERS {
        return problem(format!("at most {MAX_HEADERS} headers (got {})", headers.len()));
    }
    let mut checked: BTreeMap<String, Secret> = BTreeMap::new();
    for (name, value) in headers {
        if name.is_empty() || name.len() > MAX_HEADER_NAME_LEN || !name.bytes().all(token_byte) {
            return problem(format!(
                "{name:?} is not a header name (1 to {MAX_HEADER_NAME_LEN} letters, digits or !#$%&'*+-.^_`|~)"
            ));
        }
        if owned.owns(&name) {
            return problem(format!("{name} is set by hookline and cannot be set by a subscription"));
        }
        if checked.keys().any(|seen| seen.eq_ignore_ascii_case(&name)) {
            return problem(format!("{name} is given twice (header names ignore case)"));
        }
        if value.is_empty() || value.len() > MAX_HEADER_VALUE_LEN {
            return problem(format!("the value of {name} must be 1 to {MAX_HEADER_VALUE_LEN} bytes"));
        }
        if !value.bytes().all(|b| b.is_ascii_graphic() || b == b' ' || b == b'\t') {
            return problem(format!("the value of {name} must be visible ASCII, spaces and tabs"));
        }
        if value.starts_with(SEALED_SECRET_PREFIX) {
            return problem(format!("the value of {name} must not start with {SEALED_SECRET_PREFIX:?} (reserved)"));
        }
        checked.insert(name, Secret::new(value));
    }
    Ok(checked)
}

/// Checks a per-attempt timeout: [`MIN_TIMEOUT_MS`] up to `max`.
pub fn validate_timeout_ms(timeout_ms: u64, max: Duration) -> Result<u64, FieldError> {
    let max_ms = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    if (MIN_TIMEOUT_MS..=max_ms).contains(&timeout_ms) {
        Ok(timeout_ms)
    } else {
        Err(FieldError::new("timeout_ms", format!("must be an integer from {MIN_TIMEOUT_MS} to {max_ms}")))
    }
}

/// Checks a rate limit: 1 to [`MAX_RATE_LIMIT_PER_SECOND`] requests per second.
pub fn validate_rate_limit(per_second: u64) -> Result<u32, FieldError> {
    match u32::try_from(per_second) {
        Ok(rate) if (1..=MAX_RATE_LIMIT_PER_SECOND).contains(&rate) => Ok(rate),
        _ => Err(FieldError::new(
            "rate_limit_per_second",
            format!("must be an integer from 1 to {MAX_RATE_LIMIT_PER_SECOND}, or null for no limit"),
        )),
    }
}

/// Checks a fixed bound on attempts in flight: 1 to `cap` (`HOOKLINE_MAX_IN_FLIGHT_PER_SUBSCRIPTION`).
pub fn validate_max_in_flight(max_in_flight: u64, cap: usize) -> Result<u32, FieldError> {
    match u32::try_from(max_in_flight) {
        Ok(max) if max >= 1 && (max as usize) <= cap => Ok(max),
        _ => Err(FieldError::new("max_in_flight", format!("must be \"auto\" or an integer from 1 to {cap}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned() -> OwnedHeaders {
        OwnedHeaders::new("X-Hub-Signature-256", "X-Event-Type")
    }

    fn headers(pairs: &[(&str, &str)]) -> Result<BTreeMap<String, Secret>, FieldError> {
        validate_headers(pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(), &owned())
    }

    #[test]
    fn custom_headers_are_kept_as_given() {
        let checked = headers(&[("X-Api-Key", "k3y with space\tand tab"), ("Authorization", "Bearer abc")]).unwrap();
        assert_eq!(checked["X-Api-Key"].expose(), "k3y with space\tand tab");
        assert_eq!(checked.len(), 2);
    }

    #[test]
    fn owned_headers_are_refused_by_name_whatever_the_case() {
        for name in [
            "webhook-id",
            "Webhook-Signature",
            "WEBHOOK-anything",
            "x-hub-signature-256",
            "X-EVENT-TYPE",
            "Content-Type",
            "content-length",
            "Host",
            "traceparent",
            "TraceState",
            "User-Agent",
            "Connection",
            "Transfer-Encoding",
            "Upgrade",
        ] {
            let error = headers(&[(name, "v")]).unwrap_err();
            assert_eq!(error.field, "headers");
            assert!(error.message.contains(name), "{name}: {error}");
        }
        let renamed = OwnedHeaders::new("X-Signature", "X-Kind");
        assert!(renamed.owns("x-kind") && renamed.owns("X-SIGNATURE") && !renamed.owns("X-Event-Type"));
    }

    #[test]
    fn bad_names_and_values_are_refused() {
        let long_name = "x".repeat(MAX_HEADER_NAME_LEN + 1);
        let long_value = "v".repeat(MAX_HEADER_VALUE_LEN + 1);
        for bad in [
            &[("", "v")][..],
            &[("X Api", "v")],
            &[("X-Api:", "v")],
            &[("X-Ä", "v")],
            &[(long_name.as_str(), "v")],
            &[("X-A", "")],
            &[("X-A", "line\nbreak")],
            &[("X-A", "é")],
            &[("X-A", long_value.as_str())],
            &[("X-A", "hlenc:v1:abc")],
            &[("X-A", "1"), ("x-a", "2")],
        ] {
            assert!(headers(bad).is_err(), "{bad:?}");
        }
        let many: Vec<(String, String)> = (0..=MAX_HEADERS).map(|i| (format!("X-H{i}"), "v".into())).collect();
        assert!(validate_headers(many, &owned()).is_err());
    }

    #[test]
    fn header_values_never_print() {
        let settings =
            DeliverySettings { headers: headers(&[("X-Api-Key", "hunter2")]).unwrap(), ..Default::default() };
        assert!(!format!("{settings:?}").contains("hunter2"));
    }

    #[test]
    fn bounds_of_the_numbers() {
        let max = Duration::from_secs(60);
        assert_eq!(validate_timeout_ms(100, max), Ok(100));
        assert_eq!(validate_timeout_ms(60_000, max), Ok(60_000));
        assert!(validate_timeout_ms(99, max).is_err() && validate_timeout_ms(60_001, max).is_err());
        assert_eq!(validate_rate_limit(5), Ok(5));
        assert!(validate_rate_limit(0).is_err() && validate_rate_limit(1001).is_err());
        assert_eq!(validate_max_in_flight(64, 64), Ok(64));
        assert!(validate_max_in_flight(0, 64).is_err() && validate_max_in_flight(65, 64).is_err());
        let settings = DeliverySettings { timeout_ms: Some(90_000), ..Default::default() };
        assert_eq!(settings.timeout(Duration::from_secs(10), max), max);
        assert_eq!(DeliverySettings::default().timeout(Duration::from_secs(10), max), Duration::from_secs(10));
    }

    #[test]
    fn schedules_by_name_or_by_delays() {
        let schedules = RetrySchedules::new(RetryPolicy::default());
        assert_eq!(schedules.policy_for(None), RetryPolicy::default());
        assert_eq!(
            schedules.policy_for(Some(&ScheduleChoice::Named(NamedSchedule::Production))),
            RetryPolicy::production()
        );
        let short = schedules.policy_for(Some(&ScheduleChoice::Delays(vec![5, 10])));
        assert_eq!(short.max_attempts, 3);
        assert_eq!((1..3).map(|a| short.delay_after(a).as_secs()).collect::<Vec<_>>(), vec![5, 10]);
        // The seed's tiers and the production preset's, every one consumed.
        let tiers: Vec<u64> = schedules.tier_delays().iter().map(Duration::as_secs).collect();
        assert_eq!(tiers, vec![5, 10, 30, 90, 270, 300, 1_800, 7_200, 18_000, 36_000]);
        assert_eq!(schedules.max_delay(), Duration::from_secs(36_000));
        assert_eq!(schedules.tier_for(Duration::from_secs(100)).as_deref(), Some("hookline.retry.270s"));
        assert_eq!(schedules.tier_for(Duration::from_secs(50_000)).as_deref(), Some("hookline.retry.36000s"));
        assert!(schedules.check_delays(&[5, 10, 30]).is_ok());
        let refused = schedules.check_delays(&[5, 7]).unwrap_err();
        assert!(
            refused.message.contains("7 s is not a retry tier") && refused.message.contains("5, 10, 30"),
            "{refused}"
        );
        assert!(schedules.check_delays(&[]).is_err());
    }

    #[test]
    fn settings_travel_as_json_and_default_ones_not_at_all() {
        let settings = DeliverySettings {
            headers: headers(&[("X-Api-Key", "k")]).unwrap(),
            timeout_ms: Some(1000),
            retry_schedule: Some(ScheduleChoice::Named(NamedSchedule::Production)),
            rate_limit_per_second: Some(5),
            max_in_flight: Some(8),
        };
        let json = serde_json::to_value(&settings).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"headers": {"X-Api-Key": "k"}, "timeout_ms": 1000, "retry_schedule": "production",
                               "rate_limit_per_second": 5, "max_in_flight": 8})
        );
        assert_eq!(serde_json::from_value::<DeliverySettings>(json).unwrap(), settings);
        let delays =
            DeliverySettings { retry_schedule: Some(ScheduleChoice::Delays(vec![5, 5])), ..Default::default() };
        let json = serde_json::to_value(&delays).unwrap();
        assert_eq!(json, serde_json::json!({"retry_schedule": [5, 5]}));
        assert_eq!(serde_json::from_value::<DeliverySettings>(json).unwrap(), delays);
        assert_eq!(serde_json::to_value(DeliverySettings::default()).unwrap(), serde_json::json!({}));
    }
}
