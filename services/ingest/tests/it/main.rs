//! The ingest consumer over the real embedded log and views: what becomes a task,
//! what is refused and where it goes, and what a re-read yields.

mod accepted;
mod envelope_schema;
mod events;
mod log_events;
mod poison;
mod rejected;
mod restart;
mod signatures;
mod support;
