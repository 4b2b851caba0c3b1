//! The REST API of hookline (warp), compatible with the seed service: subscription
//! CRUD, webhook ingestion and delivery status, and tenants, their tokens and events
//! sent to a tenant, under both `/api` and `/api/v1`.
//!
//! Consumes: HTTP requests; the subscription directory, the routing directory
//! (tenants, tokens, owners), the views (reads) and the process's overview.
//! Produces: subscription events in `hookline.subscriptions`, tenant events in
//! `hookline.tenants`, through the [`hookline_ingest::Ingestor`] TaskAccepted records
//! in `hookline.deliveries`, through the [`hookline_ingest::EventIntake`]
//! EventAccepted records in `hookline.fanout`, and (in the background, at most once a
//! minute per token) when tenant tokens were last used, in the views. A tenant's token
//! sees only its own tenant; another tenant's ids answer exactly as unknown ones.
//! Guarantees: a 201/200 on a subscription write means the change is durable and the
//! log accepted it on the version it read (the views and this instance's routing
//! directory recorded it within `read_your_writes_timeout`, else the answer is 503),
//! so an event sent after it is routed by it; a tenant or token write is answered once
//! this instance's routing directory holds it (a revoked token is refused from then on); a stale `If-Match` or a change
//! overtaken under one is a 412 that changed nothing; a
//! 202 with a `task_id` means the task is durable, and its status is found on this
//! instance at once. Every answer is JSON, errors are `{"message": ...}` with the
//! status picked in one place ([`ApiError`]); bad input never gets a 5xx and 5xx
//! bodies never carry internals.
//!
//! Every process, whatever its roles, also serves `/health` (alive), `/ready` (the log
//! and views answer and every expected consumer group has partitions) and `/metrics`
//! (Prometheus text format 0.0.4) — see [`Probes`] and [`serve_probes`].

mod auth;
mod body;
mod caller;
mod config;
mod dead_letters;
mod edge;
mod error;
mod events;
mod ingest;
mod metrics;
mod overview;
mod probes;
mod query;
mod rate_limit;
mod readiness;
mod recent_tasks;
mod replay_input;
mod replays;
mod reply;
mod routes;
mod server;
mod shapes;
mod state;
mod stats;
mod status;
mod subscription_input;
mod subscription_writes;
mod subscriptions;
mod tasks;
mod tenant_input;
mod tenants;
mod token_use;
mod tokens;
mod traced;

use std::convert::Infallible;
use std::sync::Arc;

pub use auth::{ApiTokens, TokenConfigError, MIN_TOKEN_LEN};
pub use config::{
    ApiConfig, ApiDeps, TenantDefaults, DEFAULT_BODY_READ_TIMEOUT, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_TIMEOUT,
    DEFAULT_TENANT_MAX_SUBSCRIPTIONS,
};
pub use edge::HeaderLimits;
pub use error::{ApiError, BodySize, IdKind};
pub use probes::Probes;
pub use rate_limit::{Rate, RateLimits};
pub use readiness::{Readiness, Verdict};
pub use server::{serve, serve_probes};

/// The API as a warp filter, ready for [`warp::serve`] or `warp::test`.
pub fn routes(
    config: ApiConfig,
    deps: ApiDeps,
) -> impl warp::Filter<Extract = (impl warp::Reply,), Error = Infallible> + Clone + Send + Sync + 'static {
    routes::tree(Arc::new(state::ApiState::new(config, deps)))
}
