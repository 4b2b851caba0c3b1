//! What the API is configured with and what it is wired to.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use hookline_domain::limits::DEFAULT_MAX_BODY_BYTES;
use hookline_domain::target::TargetPolicy;
use hookline_domain::RetryPolicy;
use hookline_ingest::{EventIntake, Ingestor};
use hookline_log::EventLog;
use hookline_lookup::SubscriptionDirectory;
use hookline_overview::Overview;
use hookline_routing::Directory;
use hookline_views::ViewStore;

use crate::auth::ApiTokens;
use crate::edge::HeaderLimits;
use crate::probes::Probes;
use crate::rate_limit::RateLimits;

/// Settings of the REST API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiConfig {
    /// Header carrying the ingest signature (`WEBHOOK_SECRET_HEADER`).
    pub secret_header: String,
    /// Header carrying the event type (`WEBHOOK_EVENT_TYPE_HEADER`).
    pub event_type_header: String,
    /// Largest accepted ingest body, in bytes.
    pub max_body_bytes: usize,
    /// How long a subscription write waits for the views to show it before answering anyway.
    pub read_your_writes_timeout: Duration,
    /// Which target URLs subscriptions may have (`HOOKLINE_TARGET_ALLOWLIST`); by default global addresses only.
    pub target_policy: TargetPolicy,
    /// How long a replaced secret stays valid when a rotation names no grace
    /// (`HOOKLINE_SECRET_ROTATION_GRACE_SECONDS`).
    pub secret_rotation_grace: Duration,
    /// Tokens the API asks for (`HOOKLINE_API_TOKENS`); none: the API is open.
    pub tokens: ApiTokens,
    /// Whether ingest needs a token too (besides the signature of subscriptions with a secret).
    pub ingest_requires_token: bool,
    pub rate_limits: RateLimits,
    pub header_limits: HeaderLimits,
    /// The retry schedule, whose shortest tier takes a retry by hand.
    pub retry: RetryPolicy,
    /// Connections served at once (`HOOKLINE_MAX_CONNECTIONS`); further ones wait in the
    /// listen backlog until one closes.
    pub max_connections: usize,
    /// How long a request body may take to arrive, whole (`HOOKLINE_BODY_READ_TIMEOUT_SECONDS`); 408 after.
    pub body_read_timeout: Duration,
    /// The limits of a tenant that sets none of its own.
    pub tenant_defaults: TenantDefaults,
    /// The longest per-attempt timeout a subscription may ask for (`HOOKLINE_MAX_TIMEOUT_SECONDS`).
    pub max_timeout: Duration,
    /// The highest fixed `max_in_flight` a subscription may ask for (`HOOKLINE_MAX_IN_FLIGHT_PER_SUBSCRIPTION`).
    pub max_in_flight_per_subscription: usize,
}

/// The default of [`ApiConfig::max_timeout`].
pub const DEFAULT_MAX_TIMEOUT: Duration = Duration::from_secs(60);

/// The limits a tenant has where its own `limits` say nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TenantDefaults {
    /// Events and webhooks per second over REST (`HOOKLINE_TENANT_EVENTS_PER_SECOND`); `None`: no limit.
    pub events_per_second: Option<NonZeroU32>,
    /// Live subscriptions at most (`HOOKLINE_TENANT_MAX_SUBSCRIPTIONS`).
    pub max_subscriptions: u32,
}

/// The default of [`TenantDefaults::max_subscriptions`].
pub const DEFAULT_TENANT_MAX_SUBSCRIPTIONS: u32 = 100_000;

impl Default for TenantDefaults {
    fn default() -> Self {
        Self { events_per_second: None, max_subscriptions: DEFAULT_TENANT_MAX_SUBSCRIPTIONS }
    }
}

/// The default of [`ApiConfig::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// The default of [`ApiConfig::body_read_timeout`].
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            secret_header: "X-Hub-Signature-256".into(),
            event_type_header: "X-Event-Type".into(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            read_your_writes_timeout: Duration::from_secs(5),
            target_policy: TargetPolicy::default(),
            secret_rotation_grace: Duration::from_secs(24 * 3600),
            tokens: ApiTokens::default(),
            ingest_requires_token: false,
            rate_limits: RateLimits::default(),
            header_limits: HeaderLimits::default(),
            retry: RetryPolicy::default(),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            tenant_defaults: TenantDefaults::default(),
            max_timeout: DEFAULT_MAX_TIMEOUT,
            max_in_flight_per_subscription: 64,
        }
    }
}

/// The ports and services the API uses.
#[derive(Clone)]
pub struct ApiDeps {
    pub log: Arc<dyn EventLog>,
    pub views: Arc<dyn ViewStore>,
    pub directory: Arc<SubscriptionDirectory>,
    /// Tenants, their tokens and which subscriptions want an event (and who owns each):
    /// the process's one directory, followed from the log by the binary.
    pub routing: Arc<Directory>,
    pub ingestor: Arc<Ingestor>,
    /// Accepts events sent to a tenant (`POST /events`).
    pub events: Arc<EventIntake>,
    /// The process's metrics and readiness checks, for `/metrics` and `/ready`.
    pub probes: Probes,
    /// Rates, latencies, backlogs and failing subscriptions (`GET /overview`), followed
    /// from the log by the binary.
    pub overview: Arc<Overview>,
}
