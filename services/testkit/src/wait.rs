//! Waiting on a condition with a deadline, the replacement for sleeps in tests.

use std::future::Future;
use std::time::Duration;

/// How often the condition is polled.
const POLL_EVERY: Duration = Duration::from_millis(20);

/// Calls `f` every ~20 ms until it yields `Some(value)`, and returns that value.
///
/// # Panics
/// When `timeout` passes first, with a message naming `what` was awaited.
pub async fn wait_until<F, Fut, T>(timeout: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = f().await {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep_until(deadline.min(tokio::time::Instant::now() + POLL_EVERY)).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[tokio::test]
    async fn returns_the_first_value_the_condition_yields() {
        let calls = AtomicU32::new(0);
        let value = wait_until(Duration::from_secs(5), "the third call", || {
            let call = calls.fetch_add(1, Ordering::SeqCst) + 1;
            async move { (call == 3).then_some(call * 10) }
        })
        .await;
        assert_eq!(value, 30);
    }

    #[tokio::test]
    #[should_panic(expected = "timed out after 100ms waiting for the impossible")]
    async fn panics_naming_the_condition_on_timeout() {
        wait_until(Duration::from_millis(100), "the impossible", || async { None::<()> }).await;
    }
}
