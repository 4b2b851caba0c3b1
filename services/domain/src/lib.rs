//! The pure core of hookline: identifiers, the events that make up the log, the
//! retry schedule and its jitter, signatures, the event-type filter, the task-status
//! fold, and the address policy that decides where webhooks may go.
//!
//! Consumes nothing and produces nothing: no I/O, no async runtime. Every other
//! crate builds on these types, and the JSON Schemas under `schemas/events/`
//! describe exactly what `serde` makes of them.

pub mod events;
pub mod filter;
pub mod ids;
pub mod limits;
pub mod position;
pub mod retry;
pub mod signature;
pub mod subscription;
pub mod target;
pub mod task;
pub mod topics;
pub mod versions;

pub use events::{AttemptRecorded, Outcome, RetryScheduled, SubscriptionEvent, TaskAccepted, TaskDeadLettered};
pub use ids::{SubscriptionId, TaskId};
pub use position::LogPosition;
pub use retry::{RetryPolicy, Schedule};
pub use subscription::{Secret, Subscription, SubscriptionState};
pub use task::{TaskStatus, TaskView};
