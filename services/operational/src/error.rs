//! Why the operational role stopped.

use hookline_log::LogError;
use hookline_lookup::ChangeError;
use hookline_views::ViewError;

/// Why the operational role stopped before its shutdown was asked for.
#[derive(Debug, thiserror::Error)]
pub enum OperationalError {
    #[error("invalid operational settings: {0}")]
    Config(String),
    #[error("log: {0}")]
    Log(#[from] LogError),
    #[error("views: {0}")]
    Views(#[from] ViewError),
    #[error("the operator's subscription: {0}")]
    Operator(#[from] ChangeError),
}

impl OperationalError {
    /// Whether running the role again later may succeed (a permanent failure needs an operator).
    pub fn is_retryable(&self) -> bool {
        match self {
            OperationalError::Config(_) => false,
            OperationalError::Log(e) => e.is_retryable(),
            OperationalError::Views(e) => e.is_retryable(),
            OperationalError::Operator(ChangeError::Log(e)) => e.is_retryable(),
            OperationalError::Operator(ChangeError::Views(e)) => e.is_retryable(),
            OperationalError::Operator(ChangeError::NoWriteId) => false,
        }
    }
}
