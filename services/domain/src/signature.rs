//! Signatures: verifying what producers send to ingest, and signing what hookline
//! sends to receivers.
//!
//! Ingest (as in the seed): header `sha256=<hex HMAC-SHA256 of the raw body>`, keyed
//! with the subscription secret's bytes, compared in constant time.
//!
//! Delivery (Standard Webhooks): `webhook-signature: v1,<base64 HMAC-SHA256 of
//! "{webhook-id}.{webhook-timestamp}.{body}">`. A secret of the form `whsec_<base64>`
//! is keyed with the decoded bytes, as the Standard Webhooks libraries do; any other
//! secret is keyed with its own bytes.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Why an ingest signature was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("Signature header missing")]
    Missing,
    #[error("Invalid signature")]
    Invalid,
}

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    HmacSha256::new_from_slice(key).expect("hmac takes any key length")
}

/// The `sha256=<hex>` header value for `body` under `secret` (what a producer sends).
pub fn ingest_signature(secret: &str, body: &[u8]) -> String {
    let mut m = mac(secret.as_bytes());
    m.update(body);
    format!("sha256={}", hex(&m.finalize().into_bytes()))
}

/// Verifies an ingest signature header in constant time.
pub fn verify_ingest(secret: &str, body: &[u8], header: Option<&[u8]>) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let header = std::str::from_utf8(header).map_err(|_| SignatureError::Invalid)?.trim();
    if header.is_empty() {
        return Err(SignatureError::Missing);
    }
    let hex_digest =
        header.strip_prefix("sha256=").or_else(|| header.strip_prefix("SHA256=")).ok_or(SignatureError::Invalid)?;
    let expected = unhex(hex_digest).ok_or(SignatureError::Invalid)?;
    let mut m = mac(secret.as_bytes());
    m.update(body);
    m.verify_slice(&expected).map_err(|_| SignatureError::Invalid)
}

/// The key a Standard Webhooks signature is made with.
fn standard_key(secret: &str) -> Vec<u8> {
    secret.strip_prefix("whsec_").and_then(|b64| B64.decode(b64).ok()).unwrap_or_else(|| secret.as_bytes().to_vec())
}

/// HMAC-SHA256 of `{msg_id}.{timestamp}.{body}`, the Standard Webhooks signed content.
fn standard_mac(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> [u8; 32] {
    let mut m = mac(&standard_key(secret));
    m.update(msg_id.as_bytes());
    m.update(b".");
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m.finalize().into_bytes().into()
}

/// The `webhook-signature` header value (`v1,<base64>`) for one delivery.
pub fn standard_webhooks_signature(secret: &str, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    format!("v1,{}", B64.encode(standard_mac(secret, msg_id, timestamp, body)))
}

/// Verifies a `webhook-signature` header (space-separated `v1,<base64>` entries), as a receiver would.
pub fn verify_standard_webhooks(secret: &str, msg_id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    let expected = standard_mac(secret, msg_id, timestamp, body);
    header
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .any(|sig| B64.decode(sig).map(|bytes| mac_eq(&bytes, &expected)).unwrap_or(false))
}

fn mac_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 0xf) as usize] as char);
    }
    out
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    s.as_bytes().chunks(2).map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_vector() {
        // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog"), RFC 4231 style vector.
        let sig = ingest_signature("key", b"The quick brown fox jumps over the lazy dog");
        assert_eq!(sig, "sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
    }

    #[test]
    fn standard_webhooks_vector() {
        // The example of the Standard Webhooks specification.
        let sig = standard_webhooks_signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn rejects_missing_and_malformed_headers() {
        assert_eq!(verify_ingest("s", b"{}", None), Err(SignatureError::Missing));
        assert_eq!(verify_ingest("s", b"{}", Some(b"")), Err(SignatureError::Missing));
        for bad in [&b"abc"[..], b"sha256=zz", b"sha256=abc", b"md5=00", b"sha256=\xff\xfe"] {
            assert_eq!(verify_ingest("s", b"{}", Some(bad)), Err(SignatureError::Invalid));
        }
    }

    proptest! {
        #[test]
        fn ingest_signature_round_trips(secret in "[!-~]{1,64}", body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let sig = ingest_signature(&secret, &body);
            prop_assert!(verify_ingest(&secret, &body, Some(sig.as_bytes())).is_ok());
            let mut tampered = body.clone();
            tampered.push(b'x');
            prop_assert_eq!(verify_ingest(&secret, &tampered, Some(sig.as_bytes())), Err(SignatureError::Invalid));
        }

        #[test]
        fn standard_signature_round_trips(secret in "[!-~]{1,64}", id in "[a-z0-9-]{1,40}", ts in 0i64..4_000_000_000, body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let sig = standard_webhooks_signature(&secret, &id, ts, &body);
            prop_assert!(verify_standard_webhooks(&secret, &id, ts, &body, &sig));
            prop_assert!(!verify_standard_webhooks(&secret, &id, ts + 1, &body, &sig));
        }
    }
}
