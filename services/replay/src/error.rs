//! Why the replay role stopped.

use hookline_log::LogError;
use hookline_views::ViewError;

/// Why the replay role stopped before its shutdown was asked for.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("invalid replay settings: {0}")]
    Config(String),
    #[error("log: {0}")]
    Log(#[from] LogError),
    #[error("views: {0}")]
    Views(#[from] ViewError),
    #[error("a replay task failed: {0}")]
    Worker(String),
}

impl ReplayError {
    /// Whether running the role again later may succeed (a permanent failure needs an operator).
    pub fn is_retryable(&self) -> bool {
        match self {
            ReplayError::Config(_) | ReplayError::Worker(_) => false,
            ReplayError::Log(e) => e.is_retryable(),
            ReplayError::Views(e) => e.is_retryable(),
        }
    }
}

impl From<crate::payload::ReadError> for ReplayError {
    fn from(error: crate::payload::ReadError) -> Self {
        match error {
            crate::payload::ReadError::Log(e) => ReplayError::Log(e),
            crate::payload::ReadError::Views(e) => ReplayError::Views(e),
        }
    }
}
