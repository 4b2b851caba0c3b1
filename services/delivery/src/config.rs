//! The delivery role's settings and the topics it touches.

use std::fmt;
use std::time::Duration;

use hookline_domain::retry::Jitter;
use hookline_domain::target::TargetPolicy;
use hookline_domain::{topics, RetryPolicy, RetrySchedules};

use crate::disable::DisablePolicy;

/// How the delivery role runs.
#[derive(Clone, Debug, PartialEq)]
pub struct DeliveryConfig {
    /// The configured retry schedule; subscriptions may choose another
    /// ([`DeliveryConfig::schedules`]).
    pub retry: RetryPolicy,
    /// Random spread of retry delays (`HOOKLINE_RETRY_JITTER`).
    pub retry_jitter: Jitter,
    /// Where webhooks may go (`HOOKLINE_TARGET_ALLOWLIST`); by default global addresses only.
    pub target_policy: TargetPolicy,
    /// A proxy every webhook goes through (`HOOKLINE_OUTBOUND_PROXY`), e.g. for static egress IPs.
    pub outbound_proxy: Option<OutboundProxy>,
    /// Longest a whole attempt may take, connecting and reading the capped body included
    /// (`DELIVERY_TIMEOUT_SECONDS`), unless the subscription sets its own `timeout_ms`.
    pub timeout: Duration,
    /// The longest `timeout_ms` a subscription may have (`HOOKLINE_MAX_TIMEOUT_SECONDS`).
    pub max_timeout: Duration,
    /// Longest the TCP (and TLS) connect may take.
    pub connect_timeout: Duration,
    /// Attempts running at once in this process.
    pub max_in_flight: usize,
    /// Attempts running at once to one subscription in this process.
    pub max_in_flight_per_subscription: usize,
    /// The header that carries the event type to receivers (`WEBHOOK_EVENT_TYPE_HEADER`).
    pub event_type_header: String,
    /// The seed's signature header (`WEBHOOK_SECRET_HEADER`): no subscription's extra
    /// headers may take its name.
    pub secret_header: String,
    /// Consumer group prefix: `{group}` for first attempts, `{group}.{tier topic}` per tier.
    pub group: String,
    /// How long in-flight attempts may run on after shutdown was asked for.
    pub shutdown_grace: Duration,
    /// When a failing subscription is disabled.
    pub disable: DisablePolicy,
    /// How long a task is kept for a disabled subscription, from its acceptance
    /// (`LOG_RETENTION_HOURS`); then it is ended as failed.
    pub retention: Duration,
}

/// The URL of an outbound proxy. Its credentials, if any, never show in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboundProxy(String);

/// A proxy setting that is not a proxy URL.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("HOOKLINE_OUTBOUND_PROXY must be a proxy URL such as http://proxy.internal:3128")]
pub struct InvalidProxy;

impl OutboundProxy {
    pub fn parse(url: &str) -> Result<Self, InvalidProxy> {
        let parsed = reqwest::Url::parse(url).map_err(|_| InvalidProxy)?;
        let usable = matches!(parsed.scheme(), "http" | "https") && parsed.host_str().is_some();
        if !usable || reqwest::Proxy::all(url).is_err() {
            return Err(InvalidProxy);
        }
        Ok(Self(url.to_string()))
    }

    pub fn url(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for OutboundProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match reqwest::Url::parse(&self.0) {
            Ok(url) => write!(f, "OutboundProxy({}://{}:{:?})", url.scheme(), url.host_str().unwrap_or(""), url.port()),
            Err(_) => f.write_str("OutboundProxy(<invalid>)"),
        }
    }
}

/// The seed's `DELIVERY_TIMEOUT_SECONDS`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default of `HOOKLINE_MAX_TIMEOUT_SECONDS`.
pub const DEFAULT_MAX_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            retry_jitter: Jitter::default(),
            target_policy: TargetPolicy::default(),
            outbound_proxy: None,
            timeout: DEFAULT_TIMEOUT,
            max_timeout: DEFAULT_MAX_TIMEOUT,
            connect_timeout: DEFAULT_TIMEOUT.min(MAX_CONNECT_TIMEOUT),
            max_in_flight: 512,
            max_in_flight_per_subscription: 64,
            event_type_header: "X-Event-Type".to_string(),
            secret_header: "X-Hub-Signature-256".to_string(),
            group: "hookline-delivery".to_string(),
            shutdown_grace: Duration::from_secs(30),
            disable: DisablePolicy::default(),
            retention: Duration::from_secs(72 * 3600),
        }
    }
}

impl DeliveryConfig {
    /// Problems with the settings, one line each.
    pub fn problems(&self) -> Vec<String> {
        let mut out = self.retry.problems();
        if self.timeout.is_zero() {
            out.push("DELIVERY_TIMEOUT_SECONDS must be above zero".into());
        }
        if self.max_timeout.is_zero() {
            out.push("HOOKLINE_MAX_TIMEOUT_SECONDS must be above zero".into());
        }
        if self.connect_timeout.is_zero() {
            out.push("delivery connect timeout must be above zero".into());
        }
        if self.max_in_flight == 0 {
            out.push("delivery max_in_flight must be at least 1".into());
        }
        if self.max_in_flight_per_subscription == 0 {
            out.push("delivery max_in_flight_per_subscription must be at least 1".into());
        }
        if reqwest::header::HeaderName::from_bytes(self.event_type_header.as_bytes()).is_err() {
            out.push(format!("WEBHOOK_EVENT_TYPE_HEADER {:?} is not a valid header name", self.event_type_header));
        }
        if self.disable.after_attempts == 0 {
            out.push("HOOKLINE_DISABLE_AFTER_ATTEMPTS must be at least 1".into());
        }
        if self.group.trim().is_empty() {
            out.push("delivery consumer group must not be empty".into());
        }
        out
    }

    /// Every retry schedule a subscription may follow, the configured one included.
    pub fn schedules(&self) -> RetrySchedules {
        RetrySchedules::new(self.retry.clone())
    }

    /// The consumer group reading one source topic.
    pub(crate) fn group_for(&self, topic: &str) -> String {
        if topic == topics::DELIVERIES {
            self.group.clone()
        } else {
            format!("{}.{}", self.group, topic)
        }
    }

    /// How many records one source may hold in memory (polled, not yet done).
    pub(crate) fn held_limit(&self) -> usize {
        self.max_in_flight.saturating_mul(4)
    }

    /// Attempts to one subscription running or waiting from which its next tasks are
    /// deferred to the log if its line also drains too slowly for them to start within
    /// the shortest tier's delay: half of `held_limit`, so that one slow subscription can
    /// never hold a source's whole allowance and stop it reading for the others. A busy
    /// but healthy one, whose line drains quickly, is not sent round a tier: it may hold
    /// more, but not for long.
    pub(crate) fn backlog_per_subscription(&self) -> usize {
        (self.held_limit() / 2).max(self.max_in_flight_per_subscription).max(1)
    }

    /// How long a keyed task waits in memory for its turn, behind a task that is not
    /// waiting here too, before it waits in the shortest retry tier instead: twice the
    /// longest tier's delay, by which time the task ahead of it has had another attempt
    /// even if that one was due at the end of the longest tier (20 s without tiers,
    /// when it waits in memory however long it takes).
    pub(crate) fn ordering_patience(&self) -> Duration {
        2 * self.retry.tier_delays().last().copied().unwrap_or(Duration::from_secs(10))
    }

    /// How many keyed tasks may wait in memory for their turn at once, across every
    /// source: half of what a source may hold, so that tasks waiting for their turn
    /// never stop a source reading for the other lines and subscriptions.
    pub(crate) fn max_waiting_in_lines(&self) -> usize {
        (self.held_limit() / 2).max(1)
    }
}

/// Every topic the delivery role reads or writes: deliveries, attempts, the DLQ, the
/// quarantine, the operational events (a disabling's) and each retry tier of every
/// schedule, so that the binary can create them.
pub fn topics(config: &DeliveryConfig) -> Vec<String> {
    let mut out = [topics::DELIVERIES, topics::ATTEMPTS, topics::DLQ, topics::QUARANTINE, topics::OPERATIONAL]
        .map(String::from)
        .to_vec();
    out.extend(config.schedules().tier_topics());
    out
}

/// The consumer groups of the delivery role: `{group}` for first attempts, then
/// `{group}.{tier topic}` for each retry tier of every schedule.
pub fn groups(config: &DeliveryConfig) -> Vec<String> {
    sources(config).into_iter().map(|(_, group)| group).collect()
}

/// The topics the delivery role reads, each with the group that reads it: first
/// attempts, then each retry tier of every schedule (shortest first). Where the role's backlog is.
pub fn sources(config: &DeliveryConfig) -> Vec<(String, String)> {
    let mut topics = vec![topics::DELIVERIES.to_string()];
    topics.extend(config.schedules().tier_topics());
    topics.into_iter().map(|topic| (topic.clone(), config.group_for(&topic))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_seed() {
        let config = DeliveryConfig::default();
        assert_eq!(config.timeout, Duration::from_secs(10));
        assert_eq!(config.connect_timeout, Duration::from_secs(5));
        // Safe by default: global targets only, retries spread by ±20%.
        assert!(config.target_policy.allowlist().is_empty());
        assert_eq!(config.retry_jitter.fraction(), 0.2);
        assert_eq!(config.outbound_proxy, None);
        assert!(config.problems().is_empty());
    }

    #[test]
    fn topics_cover_every_tier() {
        let config = DeliveryConfig::default();
        assert_eq!(
            topics(&config),
            vec![
                "hookline.deliveries",
                "hookline.attempts",
                "hookline.dlq",
                "hookline.quarantine",
                "hookline.operational",
                "hookline.retry.5s",
                "hookline.retry.10s",
                "hookline.retry.30s",
                "hookline.retry.90s",
                "hookline.retry.270s",
                "hookline.retry.300s",
                "hookline.retry.1800s",
                "hookline.retry.7200s",
                "hookline.retry.18000s",
                "hookline.retry.36000s",
            ]
        );
    }

    #[test]
    fn groups_are_per_source() {
        let config = DeliveryConfig::default();
        assert_eq!(config.group_for("hookline.deliveries"), "hookline-delivery");
        assert_eq!(config.group_for("hookline.retry.10s"), "hookline-delivery.hookline.retry.10s");
        let all = groups(&config);
        // First attempts, then the tiers of the configured schedule and of the production preset.
        assert_eq!(all.len(), 11);
        assert_eq!(all[0], "hookline-delivery");
        assert_eq!(all[10], "hookline-delivery.hookline.retry.36000s");
    }

    #[test]
    fn bad_settings_are_all_listed() {
        let config = DeliveryConfig {
            timeout: Duration::ZERO,
            max_in_flight: 0,
            event_type_header: "bad header".into(),
            ..DeliveryConfig::default()
        };
        assert_eq!(config.problems().len(), 3);
    }

    #[test]
    fn proxies_are_urls_whose_credentials_never_print() {
        for bad in ["", "not a url", "proxy.internal:3128", "ftp://proxy.internal/"] {
            assert_eq!(OutboundProxy::parse(bad), Err(InvalidProxy), "{bad:?}");
        }
        let proxy = OutboundProxy::parse("http://user:hunter2@proxy.internal:3128").expect("a proxy URL");
        let shown = format!("{proxy:?}");
        assert!(!shown.contains("hunter2") && !shown.contains("user"), "{shown}");
        assert!(shown.contains("proxy.internal"), "{shown}");
    }
}
