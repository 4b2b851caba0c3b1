//! The benchmark receiver behind the `hookline-receiver` binary: answers every POST as fast as
//! it can (keep-alive), optionally after a delay or with a share of failures, and counts what
//! arrived.
//!
//! - `POST <any path>`: counted, answered `status` (or 500 for a random `fail_rate` share).
//! - `GET /stats`: a [`StatsReport`] as JSON.
//! - `POST /window`: a [`WindowReport`] as JSON: the totals, and the latency of the deliveries
//!   since the last `/window`, which starts the next window.
//! - `POST /reset`: clears the counts.

mod histogram;
mod stats;

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::http::{accept_until_stopped, HttpConnection, Request};
pub use histogram::Histogram;
pub use stats::{sent_at_us, Delivery, LatencyReport, Stats, StatsReport, WindowReport};

/// How the benchmark receiver answers deliveries.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchConfig {
    /// Waited before answering each delivery.
    pub latency: Duration,
    /// Share of deliveries answered 500, drawn at random (0.0..=1.0).
    pub fail_rate: f64,
    /// Status of the other deliveries.
    pub status: u16,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig { latency: Duration::ZERO, fail_rate: 0.0, status: 200 }
    }
}

/// Serves `listener` until `shutdown` fires, then closes every connection and returns.
pub async fn run(listener: TcpListener, config: BenchConfig, shutdown: CancellationToken) {
    let receiver = Arc::new(BenchReceiver {
        config,
        stats: Mutex::default(),
        random: RandomState::new(),
        draws: AtomicU64::new(0),
    });
    let tasks = TaskTracker::new();
    let serve = |mut connection: HttpConnection| {
        let receiver = receiver.clone();
        async move { receiver.converse(&mut connection).await }
    };
    accept_until_stopped(listener, shutdown, tasks.clone(), serve).await;
    tasks.close();
    tasks.wait().await;
}

struct BenchReceiver {
    config: BenchConfig,
    stats: Mutex<Stats>,
    /// Keyed hashing of a counter: uniform draws without a random-number crate.
    random: RandomState,
    draws: AtomicU64,
}

/// A response: status, content type, body.
type Answer = (u16, &'static str, Vec<u8>);

impl BenchReceiver {
    async fn converse(&self, connection: &mut HttpConnection) {
        while let Some(request) = connection.next_request().await {
            let close = !request.head.keep_alive();
            let (status, content_type, body) = self.answer(&request).await;
            let headers = [("content-type".to_owned(), content_type.to_owned())];
            if connection.respond(status, &headers, &body, close).await.is_err() || close {
                return;
            }
        }
    }

    async fn answer(&self, request: &Request) -> Answer {
        match (request.head.method.as_str(), request.head.path()) {
            ("GET", "/stats") => json_answer(&self.lock_stats().report()),
            ("POST", "/window") => json_answer(&self.lock_stats().take_window()),
            ("POST", "/reset") => {
                *self.lock_stats() = Stats::default();
                (200, "text/plain", b"reset".to_vec())
            }
            ("POST", _) => self.deliver(request).await,
            ("GET", _) => (404, "text/plain", b"not found".to_vec()),
            _ => (405, "text/plain", b"method not allowed".to_vec()),
        }
    }

    async fn deliver(&self, request: &Request) -> Answer {
        let fails = self.config.fail_rate > 0.0 && self.draw() < self.config.fail_rate;
        let status = if fails { 500 } else { self.config.status };
        let at_us = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_micros() as u64;
        let delivery = Delivery {
            path: request.head.path(),
            id: request.head.header("webhook-id"),
            sent_at_us: sent_at_us(&request.body),
            at_us,
            ok: (200..300).contains(&status),
        };
        self.lock_stats().record(delivery);
        if !self.config.latency.is_zero() {
            tokio::time::sleep(self.config.latency).await;
        }
        (status, "text/plain", Vec::new())
    }

    /// A uniform draw in 0.0..1.0.
    fn draw(&self) -> f64 {
        let n = self.draws.fetch_add(1, Ordering::Relaxed);
        // The top 53 bits of the hash fill an f64 mantissa exactly.
        (self.random.hash_one(n) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn lock_stats(&self) -> std::sync::MutexGuard<'_, Stats> {
        self.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A 200 with `report` as JSON.
fn json_answer(report: &impl serde::Serialize) -> Answer {
    (200, "application/json", serde_json::to_vec(report).expect("a report of numbers serializes"))
}

#[cfg(test)]
mod tests;
