//! How late this process's tasks run: a probe that sleeps 10 ms over and over and
//! notes how much longer each sleep took (the lag of the runtime's scheduling, as
//! Node's event-loop lag). When the process is short of CPU (its own load, or other
//! processes on the machine), every request it makes looks slower than the receiver
//! answered; the adaptive limit must not take that for a receiver slowing down
//! (see [`crate::limiter`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long each probe sleeps.
const PROBE_EVERY: Duration = Duration::from_millis(10);
/// What is left of the worst lag after each probe: it fades over about a second.
const FADE: f64 = 0.95;

/// The process's recent scheduling lag, shared with every line.
#[derive(Clone, Default)]
pub struct SchedulingLag {
    /// Microseconds: the worst lag of late, fading.
    recent: Arc<AtomicU64>,
}

impl SchedulingLag {
    /// The worst lag of the last second or so.
    pub fn recent(&self) -> Duration {
        Duration::from_micros(self.recent.load(Ordering::Relaxed))
    }

    /// Probes until `stop`.
    pub async fn probe(self, stop: CancellationToken) {
        loop {
            let started = Instant::now();
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(PROBE_EVERY) => {}
            }
            let late = started.elapsed().saturating_sub(PROBE_EVERY);
            self.note(late);
        }
    }

    fn note(&self, late: Duration) {
        let late = u64::try_from(late.as_micros()).unwrap_or(u64::MAX);
        let faded = (self.recent.load(Ordering::Relaxed) as f64 * FADE) as u64;
        self.recent.store(late.max(faded), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_lag_fades() {
        let lag = SchedulingLag::default();
        lag.note(Duration::from_millis(100));
        assert_eq!(lag.recent(), Duration::from_millis(100));
        lag.note(Duration::from_millis(1));
        assert_eq!(lag.recent(), Duration::from_millis(95));
        for _ in 0..100 {
            lag.note(Duration::ZERO);
        }
        assert!(lag.recent() < Duration::from_millis(1), "{:?}", lag.recent());
    }
}
