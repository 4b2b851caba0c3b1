//! Black-box tests of the REST API over the real embedded log and views, with the
//! projector running.

mod errors;
mod events;
mod ingest;
mod openapi;
mod probes;
mod scope;
mod serve;
mod status;
mod subscriptions;
mod support;
mod tenants;
