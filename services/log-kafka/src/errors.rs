//! Turning librdkafka errors into `LogError`s that say whether trying again may help.

use hookline_log::LogError;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// What went wrong delivering one record of `topic` (`size` bytes; the producer
/// accepts at most `limit`).
pub(crate) fn delivery(error: &KafkaError, topic: &str, size: usize, limit: usize) -> LogError {
    use RDKafkaErrorCode as Code;
    match error.rdkafka_error_code() {
        Some(Code::MessageSizeTooLarge | Code::MessageBatchTooLarge | Code::InvalidMessageSize) => {
            LogError::TooLarge { size, limit }
        }
        Some(Code::UnknownTopic | Code::UnknownTopicOrPartition | Code::UnknownPartition) => {
            LogError::UnknownTopic(topic.to_string())
        }
        Some(
            Code::InvalidTopic
            | Code::TopicAuthorizationFailed
            | Code::ClusterAuthorizationFailed
            | Code::InvalidRecord
            | Code::InvalidMessage
            | Code::PolicyViolation
            | Code::InvalidRequiredAcks
            | Code::UnsupportedForMessageFormat
            | Code::UnsupportedCompressionType
            | Code::InvalidArgument,
        ) => LogError::Invalid(format!("kafka refused a record of {topic}: {error}")),
        // The idempotent producer stopped for good (e.g. a sequence gap it cannot
        // repair): retrying on this producer cannot help.
        Some(Code::Fatal) => {
            tracing::error!(%error, "kafka producer hit a fatal error");
            LogError::Closed
        }
        _ => unavailable("appending", error),
    }
}

/// A failure that may pass: broker down, timeout, rebalance in progress.
pub(crate) fn unavailable(what: &str, error: &KafkaError) -> LogError {
    LogError::Unavailable(format!("kafka {what}: {error}"))
}
