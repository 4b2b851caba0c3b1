//! Errors that stop the delivery role. Everything a receiver or a single record can
//! do wrong becomes an attempt outcome or a dead letter instead, never one of these.

use hookline_log::LogError;

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("invalid delivery settings: {}", .0.join("; "))]
    Config(Vec<String>),
    #[error("cannot build the http client: {0}")]
    HttpClient(#[source] reqwest::Error),
    #[error("log: {0}")]
    Log(#[from] LogError),
    #[error("delivery worker failed: {0}")]
    Worker(String),
}

impl DeliveryError {
    /// Whether starting the role again may help.
    pub fn is_retryable(&self) -> bool {
        match self {
            DeliveryError::Log(e) => e.is_retryable(),
            DeliveryError::Config(_) | DeliveryError::HttpClient(_) | DeliveryError::Worker(_) => false,
        }
    }
}
