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
/// Bytes of a log record kept for what surrounds a payload: the JSON fields of the
/// event carrying it (ids, event type, times, attempt number, a dead letter's last
/// error), its key and headers. An ingested body may take the rest of a record.
pub const ENVELOPE_ROOM_BYTES: usize = 64 * 1024;
/// Longest accepted idempotency key, in bytes.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// Checks an idempotency key: 1 to [`MAX_IDEMPOTENCY_KEY_LEN`] printable ASCII
/// characters (a key travels in HTTP and log headers, and names a task for good).
pub fn validate_idempotency_key(key: &[u8]) -> Result<(), String> {
    validate_header_key(key, MAX_IDEMPOTENCY_KEY_LEN)
}

/// Longest accepted ordering key, in bytes.
pub const MAX_ORDERING_KEY_LEN: usize = 255;

/// Checks an ordering key: 1 to [`MAX_ORDERING_KEY_LEN`] printable ASCII characters
/// (a key travels in HTTP and log headers, and names a line of deliveries).
pub fn validate_ordering_key(key: &[u8]) -> Result<(), String> {
    validate_header_key(key, MAX_ORDERING_KEY_LEN)
}

/// A key sent in a header: 1 to `max` printable ASCII characters, spaces included.
fn validate_header_key(key: &[u8], max: usize) -> Result<(), String> {
    if key.is_empty() {
        return Err("must not be empty".into());
    }
    if key.len() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if !key.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        return Err("must be printable ASCII".into());
    }
    Ok(())
}

/// Deepest accepted nesting of JSON arrays and objects, in bodies and payloads.
pub const MAX_JSON_DEPTH: usize = 64;

/// Whether the JSON text nests arrays and objects deeper than `max`. Scans the bytes
/// without parsing (brackets inside strings do not count), so it is cheap enough to run
/// before a parser that would recurse that deep.
pub fn json_nests_deeper_than(text: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &byte in text {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_counted_outside_strings_only() {
        assert!(!json_nests_deeper_than(br#"{"a":[1,{"b":[]}]}"#, 4));
        assert!(json_nests_deeper_than(br#"{"a":[1,{"b":[]}]}"#, 3));
        assert!(!json_nests_deeper_than(br#"{"s":"[[[[{{{{"}"#, 1));
        assert!(!json_nests_deeper_than(br#"{"s":"\"[[[["}"#, 1));
        let deep = format!("{}{}", "[".repeat(MAX_JSON_DEPTH + 1), "]".repeat(MAX_JSON_DEPTH + 1));
        assert!(json_nests_deeper_than(deep.as_bytes(), MAX_JSON_DEPTH));
        let limit = format!("{}{}", "[".repeat(MAX_JSON_DEPTH), "]".repeat(MAX_JSON_DEPTH));
        assert!(!json_nests_deeper_than(limit.as_bytes(), MAX_JSON_DEPTH));
    }

    #[test]
    fn idempotency_keys_are_short_printable_ascii() {
        assert!(validate_idempotency_key(b"order-12345").is_ok());
        assert!(validate_idempotency_key(b"a b:c/d").is_ok());
        assert!(validate_idempotency_key(&[b'k'; MAX_IDEMPOTENCY_KEY_LEN]).is_ok());
        assert!(validate_idempotency_key(&[b'k'; MAX_IDEMPOTENCY_KEY_LEN + 1]).is_err());
        assert!(validate_ordering_key(b"customer-42").is_ok());
        assert!(validate_ordering_key(&[b'k'; MAX_ORDERING_KEY_LEN + 1]).is_err());
        assert!(validate_ordering_key(b"").is_err());
        for bad in [&b""[..], b"tab\there", b"\xff", "caf\u{e9}".as_bytes(), b"new\nline"] {
            assert!(validate_idempotency_key(bad).is_err(), "{bad:?}");
        }
    }
}
