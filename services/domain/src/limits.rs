//! Input limits shared by every way in (REST and direct log ingestion).

/// Longest accepted target URL, in bytes.
pub const MAX_URL_LEN: usize = 2048;
/// Longest accepted event type or event-type filter, in characters.
pub const MAX_EVENT_TYPE_LEN: usize = 256;
/// Longest accepted subscription secret, in bytes.
pub const MAX_SECRET_LEN: usize = 1024;
/// How much of a receiver's response body an attempt keeps.
pub const RESPONSE_BODY_CAP: usize = 4096;
/// Default cap on an ingested body.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
