//! What every handler shares: configuration, ports, and the ids it parses from paths.

use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Instant;

use hookline_domain::{SubscriptionId, TaskId, TenantId};

use crate::caller::Caller;
use crate::config::{ApiConfig, ApiDeps};
use crate::error::{ApiError, IdKind};
use crate::metrics::ApiMetrics;
use crate::rate_limit::{retry_after_seconds, Rate, RateLimiter};
use crate::recent_tasks::RecentTasks;
use crate::replays::RecentReplays;
use crate::tasks::QueuedRetries;
use crate::token_use::TokenUses;

pub(crate) struct ApiState {
    pub config: ApiConfig,
    pub deps: ApiDeps,
    pub recent_tasks: RecentTasks,
    pub recent_replays: RecentReplays,
    pub metrics: ApiMetrics,
    pub rate_limiter: RateLimiter,
    pub queued_retries: QueuedRetries,
    pub token_uses: TokenUses,
}

impl ApiState {
    pub(crate) fn new(config: ApiConfig, deps: ApiDeps) -> Self {
        let metrics = ApiMetrics::new(&deps.probes.registry);
        let rate_limiter = RateLimiter::new(config.rate_limits);
        Self {
            config,
            deps,
            recent_tasks: RecentTasks::new(),
            recent_replays: RecentReplays::new(),
            metrics,
            rate_limiter,
            queued_retries: QueuedRetries::new(),
            token_uses: TokenUses::new(),
        }
    }
}

impl ApiState {
    /// Whether `caller` may see what subscription `id` holds (its tasks, attempts,
    /// statistics): the operator sees all; a tenant only its own subscriptions.
    pub(crate) fn shows_subscription(&self, caller: &Caller, id: SubscriptionId) -> bool {
        caller.tenant().is_none_or(|own| self.deps.routing.owner(id).as_ref() == Some(own))
    }

    /// Spends one of `tenant`'s events per second: its own limit, else the configured default.
    pub(crate) fn admit_tenant(&self, tenant: &TenantId, now: Instant) -> Result<(), ApiError> {
        let own = self.deps.routing.tenant(tenant).and_then(|t| t.limits.events_per_second).and_then(NonZeroU32::new);
        let rate = own.or(self.config.tenant_defaults.events_per_second).map(Rate::per_second);
        self.rate_limiter.admit_tenant(tenant, rate, now).map_err(|wait| ApiError::RateLimited {
            scope: " for this tenant",
            retry_after_seconds: retry_after_seconds(wait),
        })
    }
}

pub(crate) fn subscription_id(segment: &str) -> Result<SubscriptionId, ApiError> {
    SubscriptionId::from_str(segment).map_err(|_| ApiError::InvalidId(IdKind::Subscription))
}

pub(crate) fn task_id(segment: &str) -> Result<TaskId, ApiError> {
    TaskId::from_str(segment).map_err(|_| ApiError::InvalidId(IdKind::Task))
}
