//! What every handler shares: configuration, ports, and the ids it parses from paths.

use std::str::FromStr;

use hookline_domain::{SubscriptionId, TaskId};

use crate::config::{ApiConfig, ApiDeps};
use crate::error::{ApiError, IdKind};
use crate::metrics::ApiMetrics;
use crate::rate_limit::RateLimiter;
use crate::recent_tasks::RecentTasks;
use crate::tasks::QueuedRetries;

pub(crate) struct ApiState {
    pub config: ApiConfig,
    pub deps: ApiDeps,
    pub recent_tasks: RecentTasks,
    pub metrics: ApiMetrics,
    pub rate_limiter: RateLimiter,
    pub queued_retries: QueuedRetries,
}

impl ApiState {
    pub(crate) fn new(config: ApiConfig, deps: ApiDeps) -> Self {
        let metrics = ApiMetrics::new(&deps.probes.registry);
        let rate_limiter = RateLimiter::new(config.rate_limits);
        Self {
            config,
            deps,
            recent_tasks: RecentTasks::new(),
            metrics,
            rate_limiter,
            queued_retries: QueuedRetries::new(),
        }
    }
}

pub(crate) fn subscription_id(segment: &str) -> Result<SubscriptionId, ApiError> {
    SubscriptionId::from_str(segment).map_err(|_| ApiError::InvalidId(IdKind::Subscription))
}

pub(crate) fn task_id(segment: &str) -> Result<TaskId, ApiError> {
    TaskId::from_str(segment).map_err(|_| ApiError::InvalidId(IdKind::Task))
}
