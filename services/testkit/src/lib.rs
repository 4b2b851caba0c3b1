//! Test and benchmark helpers for hookline; used only by tests and benchmarks of other crates.
//!
//! - [`receiver`]: a real HTTP/1.1 server on 127.0.0.1 whose answers are scripted per path
//!   (statuses, redirects, hangs, closed connections, delays, dripped and huge bodies) and which
//!   can be stopped and resumed on the same port. It records every request it reads.
//! - [`process`]: runs the real `hookline` binary, waits for its `hookline listening on http://…`
//!   line, keeps its output in a log file, and stops it with SIGTERM or SIGKILL.
//! - [`wait_until`]: polls a condition with a deadline, so tests never sleep a fixed time.
//! - [`bench`](mod@bench): the lean receiver behind the `hookline-receiver` benchmark binary, counting
//!   requests, duplicates (by `webhook-id`) and end-to-end latency.
//! - [`collector`]: an OpenTelemetry collector (OTLP/HTTP protobuf) that keeps every span it
//!   receives and counts the connections it accepts.
//! - [`http`]: the one minimal HTTP/1.1 server codec the receivers and the collector share.
//!
//! Consumes nothing of hookline's own crates: it speaks only HTTP and process signals, so tests
//! built on it are black-box. Guarantees: servers bind loopback only, on a free port unless told
//! otherwise, and close every socket they own when stopped or dropped; helpers panic with the
//! evidence (what arrived, the process log) instead of returning errors a test would unwrap.

pub mod bench;
pub mod collector;
pub mod http;
pub mod process;
pub mod receiver;
mod wait;

pub use collector::{CollectedSpan, Collector};
pub use receiver::{ReceivedRequest, Receiver, Reply, Script};
pub use wait::wait_until;
