//! Waiting before trying again after a passing failure, cut short by shutdown.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

const FIRST: Duration = Duration::from_millis(100);
const LONGEST: Duration = Duration::from_secs(5);

/// Exponential backoff: 100 ms, doubling, at most 5 s.
#[derive(Debug)]
pub(crate) struct Backoff {
    next: Duration,
}

impl Backoff {
    pub fn new() -> Self {
        Self { next: FIRST }
    }

    /// The delay to wait now; the following one doubles.
    fn advance(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(LONGEST);
        delay
    }

    pub fn reset(&mut self) {
        self.next = FIRST;
    }

    /// Waits the next delay. Returns false, at once, when shutdown is asked for: the
    /// caller gives up on the work instead of trying again.
    pub async fn wait(&mut self, shutdown: &CancellationToken) -> bool {
        let delay = self.advance();
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => false,
            _ = tokio::time::sleep(delay) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_and_reset() {
        let mut backoff = Backoff::new();
        let delays: Vec<u128> = (0..8).map(|_| backoff.advance().as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        backoff.reset();
        assert_eq!(backoff.advance(), FIRST);
    }

    #[tokio::test]
    async fn shutdown_ends_the_wait_at_once() {
        let shutdown = CancellationToken::new();
        shutdown.cancel();
        let mut backoff = Backoff { next: Duration::from_secs(3600) };
        assert!(!backoff.wait(&shutdown).await);
    }
}
