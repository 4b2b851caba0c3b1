//! The ingest signature header (`sha256=<hex>`) and the Standard Webhooks
//! `webhook-signature` header: a signature verifies exactly when it is the one made
//! with the key over those bytes.

use hookline_domain::signature::{
    ingest_signature, standard_webhooks_signature, verify_ingest, verify_ingest_any, verify_standard_webhooks,
    SignatureError,
};

use crate::input::Fields;

/// Input: secret, body, then the header value as sent. The header is checked against
/// the secret alone, and against it and a second one (a rotation's grace period).
pub fn ingest_header(data: &[u8]) {
    let mut fields = Fields::new(data);
    let secret = fields.text();
    let body = fields.bytes();
    let header = fields.rest();
    let previous = format!("{secret}x");

    let by_secret = ingest_signature(&secret, body);
    let by_previous = ingest_signature(&previous, body);
    let alone = verify_ingest(&secret, body, Some(header));
    let either = verify_ingest_any(&[&secret, &previous], body, Some(header));
    match canonical_ingest_header(header) {
        None => assert_eq!((alone, either), (Err(SignatureError::Missing), Err(SignatureError::Missing))),
        Some(canonical) => {
            assert_eq!(alone.is_ok(), canonical == by_secret, "header {header:?}: expected {by_secret}, got {alone:?}");
            let signed = canonical == by_secret || canonical == by_previous;
            assert_eq!(either.is_ok(), signed, "header {header:?} with two secrets: {either:?}");
        }
    }

    assert_eq!(verify_ingest(&secret, body, Some(by_secret.as_bytes())), Ok(()));
    assert_eq!(verify_ingest(&previous, body, Some(by_secret.as_bytes())), Err(SignatureError::Invalid));
    assert_eq!(verify_ingest_any(&[], body, Some(by_secret.as_bytes())), Err(SignatureError::Invalid));
    let other_body = [body, b"x"].concat();
    assert_eq!(verify_ingest(&secret, &other_body, Some(by_secret.as_bytes())), Err(SignatureError::Invalid));
}

/// The header as `ingest_signature` would write it, if it is of that form at all
/// (surrounding spaces, an upper-case prefix and upper-case digits are accepted);
/// `None` for a blank header. Anything else comes out unequal to every signature.
fn canonical_ingest_header(header: &[u8]) -> Option<String> {
    let Ok(text) = std::str::from_utf8(header) else { return Some(String::new()) };
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let digest = text.strip_prefix("sha256=").or_else(|| text.strip_prefix("SHA256="));
    Some(digest.map(|hex| format!("sha256={}", hex.to_ascii_lowercase())).unwrap_or_default())
}

/// Input: secret, message id, timestamp, body, then the `webhook-signature` value.
pub fn standard_webhooks(data: &[u8]) {
    let mut fields = Fields::new(data);
    let secret = fields.text();
    let msg_id = fields.text();
    let timestamp = fields.i64();
    let body = fields.bytes();
    let header = String::from_utf8_lossy(fields.rest());

    let expected = standard_webhooks_signature(&secret, &msg_id, timestamp, body);
    // Base64 has one spelling per digest (padding and trailing bits are checked), so
    // a header verifies exactly when one of its entries is the expected one.
    let verdict = verify_standard_webhooks(&secret, &msg_id, timestamp, body, &header);
    assert_eq!(verdict, header.split(' ').any(|entry| entry == expected), "header {header:?}, expected {expected}");

    assert!(verify_standard_webhooks(&secret, &msg_id, timestamp, body, &expected));
    let listed = format!("v1,bm90IGl0 {expected}");
    assert!(verify_standard_webhooks(&secret, &msg_id, timestamp, body, &listed));
    let other_time = timestamp.wrapping_add(1);
    assert!(!verify_standard_webhooks(&secret, &msg_id, other_time, body, &expected));
    let other_body = [body, b"x"].concat();
    assert!(!verify_standard_webhooks(&secret, &msg_id, timestamp, &other_body, &expected));
}
