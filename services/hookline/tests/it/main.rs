//! Black-box tests: the real `hookline` binary on 127.0.0.1:0 with its embedded log
//! and views in a temporary directory, real HTTP receivers that fail, hang and
//! recover, and a real HTTP client.

mod api_access;
mod api_errors;
mod body_limit;
mod common;
mod dashboard;
mod dashboard_api;
mod dead_letters;
mod delivery;
mod delivery_settings;
mod deploy;
mod disabling;
mod distributed;
mod durability;
mod fan_out;
mod idempotency;
mod isolation;
mod kafka_settings;
mod log_damage;
mod memory;
mod operational;
mod operations;
mod ordering;
mod overview;
mod poison;
mod rebuild;
mod replays;
mod retention;
mod safe_delivery;
mod schemathesis;
mod secrets;
mod shutdown;
mod slow_clients;
mod supervision;
mod tenants;
mod traces;
mod versions;
