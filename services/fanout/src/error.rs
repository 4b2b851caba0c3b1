//! Why the fan-out role stopped.

use hookline_log::LogError;

/// Why the fan-out role stopped before its shutdown was asked for.
#[derive(Debug, thiserror::Error)]
pub enum FanoutError {
    #[error("invalid fan-out settings: {0}")]
    Config(String),
    #[error("log: {0}")]
    Log(#[from] LogError),
}

impl FanoutError {
    /// Whether running the role again later may succeed (a permanent failure needs an operator).
    pub fn is_retryable(&self) -> bool {
        match self {
            FanoutError::Config(_) => false,
            FanoutError::Log(e) => e.is_retryable(),
        }
    }
}
