//! The pure core of hookline: identifiers, the events that make up the log, the
//! retry schedule and its jitter, signatures, event-type patterns and the routing index, tenants and their tokens, the task-status
//! fold, ordering per key, replays and operational events, the W3C trace context a task carries, and the address policy that decides where webhooks may go.
//!
//! Consumes nothing and produces nothing: no I/O, no async runtime. Every other
//! crate builds on these types, and the JSON Schemas under `schemas/events/`
//! describe exactly what `serde` makes of them.

pub mod delivery_settings;
pub mod event_types;
pub mod events;
pub mod ids;
pub mod limits;
pub mod operational;
pub mod ordering;
pub mod position;
pub mod replay;
pub mod retry;
pub mod routing;
pub mod signature;
pub mod subscription;
pub mod target;
pub mod task;
pub mod tenant;
pub mod topics;
pub mod trace;
pub mod versions;

pub use delivery_settings::{DeliverySettings, RetrySchedules, ScheduleChoice};
pub use events::{
    AttemptRecorded, EventAccepted, Outcome, RetryScheduled, SubscriptionEvent, TaskAccepted, TaskDeadLettered,
};
pub use ids::{EventId, ReplayId, SubscriptionId, TaskId};
pub use operational::{OperationalData, OperationalEvent};
pub use ordering::{LinePlace, OrderingMode, Turn};
pub use position::LogPosition;
pub use replay::{ReplayEvent, ReplayMark, ReplayRequested, ReplayState};
pub use retry::{RetryPolicy, Schedule};
pub use subscription::{Secret, Subscription, SubscriptionState};
pub use task::{TaskStatus, TaskView};
pub use tenant::{Tenant, TenantEvent, TenantId, TenantToken, TokenId};
pub use trace::TraceContext;
