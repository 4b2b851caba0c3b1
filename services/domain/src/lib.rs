//! The pure core of hookline: identifiers, the events that make up the log, the
//! retry schedule, signatures, the event-type filter and the task-status fold.
//!
//! Consumes nothing and produces nothing: no I/O, no async runtime. Every other
//! crate builds on these types, and the JSON Schemas under `schemas/events/`
//! describe exactly what `serde` makes of them.

pub mod events;
pub mod filter;
pub mod ids;
pub mod limits;
pub mod retry;
pub mod signature;
pub mod subscription;
pub mod task;
pub mod topics;

pub use events::{AttemptRecorded, Outcome, RetryScheduled, SubscriptionEvent, TaskAccepted, TaskDeadLettered};
pub use ids::{SubscriptionId, TaskId};
pub use retry::RetryPolicy;
pub use subscription::{Secret, Subscription, SubscriptionState};
pub use task::{TaskStatus, TaskView};
