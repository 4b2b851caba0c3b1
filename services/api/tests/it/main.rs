//! Black-box tests of the REST API over the real embedded log and views, with the
//! projector running.

mod errors;
mod ingest;
mod openapi;
mod probes;
mod serve;
mod status;
mod subscriptions;
mod support;
