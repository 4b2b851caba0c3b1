//! When burst senders send and what they stamp on it: pacing for a fixed offered load, and
//! the clock of the time stamp in every body.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::{Interval, MissedTickBehavior};

/// A ticker for sender `index` of `senders` that together start `rate` sends per second.
/// Senders start spread over one interval, so the rate is even from the start; a sender
/// that falls behind catches up in a burst, so the offered load stays what was asked.
pub fn ticker(rate: f64, index: usize, senders: usize) -> Interval {
    let every = Duration::from_secs_f64(senders as f64 / rate);
    let start = tokio::time::Instant::now() + every.mul_f64(index as f64 / senders as f64);
    let mut interval = tokio::time::interval_at(start, every);
    interval.set_missed_tick_behavior(MissedTickBehavior::Burst);
    interval
}

/// Microseconds since the Unix epoch: the clock the receiver measures end-to-end latency on.
pub fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_micros() as u64
}
