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
//!
//! Ingest also takes the Standard Webhooks form (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature`), whose signed timestamp must lie within a tolerance of now, so
//! that a captured request cannot be replayed later.
//!
//! While a rotated-out secret is in its grace period, ingest accepts a signature by
//! either secret, and delivery sends one signature per secret in the one header
//! (`v1,<new> v1,<old>`, the specification's form for several keys).

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
    #[error("Signature timestamp missing, malformed or outside the accepted window")]
    Timestamp,
}

/// The Standard Webhooks headers of a signed ingest request, raw.
#[derive(Clone, Copy, Debug)]
pub struct SignedMessage<'a> {
    pub id: Option<&'a [u8]>,
    pub timestamp: Option<&'a [u8]>,
    pub signature: &'a [u8],
}

/// Verifies a Standard Webhooks signed ingest request against any of `secrets`: the
/// timestamp must be within `tolerance_secs` of `now_unix` (either way), and one
/// `v1,` entry of the signature must be made with one of the secrets.
pub fn verify_signed_message(
    secrets: &[&str],
    message: &SignedMessage<'_>,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    fn text(raw: Option<&[u8]>) -> Option<&str> {
        raw.and_then(|raw| std::str::from_utf8(raw).ok()).map(str::trim)
    }
    let id = text(message.id).filter(|id| !id.is_empty()).ok_or(SignatureError::Missing)?;
    let timestamp = text(message.timestamp)
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|t| t.parse::<i64>().ok())
        .ok_or(SignatureError::Timestamp)?;
    if now_unix.abs_diff(timestamp) > tolerance_secs.unsigned_abs() {
        return Err(SignatureError::Timestamp);
    }
    let header = std::str::from_utf8(message.signature).map_err(|_| SignatureError::Invalid)?;
    if secrets.iter().any(|secret| verify_standard_webhooks(secret, id, timestamp, body, header)) {
        Ok(())
    } else {
        Err(SignatureError::Invalid)
    }
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
    verify_ingest_any(&[secret], body, header)
}

/// Verifies an ingest signature header made with any of `secrets` (each compared in
/// constant time). No secret: nothing verifies.
pub fn verify_ingest_any(secrets: &[&str], body: &[u8], header: Option<&[u8]>) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let header = std::str::from_utf8(header).map_err(|_| SignatureError::Invalid)?.trim();
    if header.is_empty() {
        return Err(SignatureError::Missing);
    }
    let hex_digest =
        header.strip_prefix("sha256=").or_else(|| header.strip_prefix("SHA256=")).ok_or(SignatureError::Invalid)?;
    let expected = unhex(hex_digest).ok_or(SignatureError::Invalid)?;
    let signed_by = |secret: &&str| {
        let mut m = mac(secret.as_bytes());
        m.update(body);
        m.verify_slice(&expected).is_ok()
    };
    if secrets.iter().any(signed_by) {
        Ok(())
    } else {
        Err(SignatureError::Invalid)
    }
}

/// Fewest key bytes a `whsec_` secret given in configuration must decode to (the
/// Standard Webhooks libraries ask for 24 to 64; generated secrets have 24).
pub const MIN_STANDARD_KEY_BYTES: usize = 24;

/// Checks a secret that must be in the Standard Webhooks form: `whsec_` and the
/// base64 of at least [`MIN_STANDARD_KEY_BYTES`] bytes (what receivers' libraries take).
pub fn validate_standard_secret(secret: &str) -> Result<(), String> {
    let Some(encoded) = secret.strip_prefix("whsec_") else {
        return Err("must start with whsec_ (a Standard Webhooks secret)".into());
    };
    match B64.decode(encoded) {
        Ok(key) if key.len() >= MIN_STANDARD_KEY_BYTES => Ok(()),
        Ok(key) => Err(format!("must hold at least {MIN_STANDARD_KEY_BYTES} bytes after whsec_, not {}", key.len())),
        Err(_) => Err("must be whsec_ followed by standard base64".into()),
    }
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

/// The `webhook-signature` header value for several secrets: one `v1,<base64>` entry
/// per secret, space-separated, in the order given.
pub fn standard_webhooks_signatures(secrets: &[&str], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let entries: Vec<String> =
        secrets.iter().map(|secret| standard_webhooks_signature(secret, msg_id, timestamp, body)).collect();
    entries.join(" ")
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

    #[test]
    fn configured_standard_secrets_are_whsec_base64_of_enough_bytes() {
        assert_eq!(validate_standard_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), Ok(()));
        assert!(validate_standard_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap_err().contains("whsec_"));
        assert!(validate_standard_secret("whsec_c2VjcmV0").unwrap_err().contains("not 6"));
        assert!(validate_standard_secret("whsec_not base64!").unwrap_err().contains("base64"));
    }
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

    #[test]
    fn ingest_accepts_a_signature_by_any_valid_secret() {
        let by_old = ingest_signature("old", b"{}");
        let by_new = ingest_signature("new", b"{}");
        for header in [&by_old, &by_new] {
            assert_eq!(verify_ingest_any(&["new", "old"], b"{}", Some(header.as_bytes())), Ok(()));
        }
        // Once the old secret has expired only the current one is passed in.
        assert_eq!(verify_ingest_any(&["new"], b"{}", Some(by_old.as_bytes())), Err(SignatureError::Invalid));
        assert_eq!(verify_ingest_any(&[], b"{}", Some(by_new.as_bytes())), Err(SignatureError::Invalid));
    }

    #[test]
    fn a_two_signature_header_verifies_with_either_secret() {
        let header =
            standard_webhooks_signatures(&["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "old"], "msg_1", 7, b"{}");
        let entries: Vec<&str> = header.split(' ').collect();
        assert_eq!(entries.len(), 2);
        assert!(entries.iter().all(|entry| entry.starts_with("v1,")));
        assert!(verify_standard_webhooks("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_1", 7, b"{}", &header));
        assert!(verify_standard_webhooks("old", "msg_1", 7, b"{}", &header));
        assert!(!verify_standard_webhooks("other", "msg_1", 7, b"{}", &header));
        assert_eq!(standard_webhooks_signatures(&["old"], "msg_1", 7, b"{}"), entries[1]);
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

    #[test]
    fn signed_messages_need_a_fresh_timestamp_and_a_matching_signature() {
        let body = br#"{"a":1}"#;
        let now = 1_700_000_000;
        let signature = standard_webhooks_signature("whsec_c2VjcmV0", "msg_1", now - 10, body);
        let stamp = (now - 10).to_string();
        let message = |id: &'static str, timestamp: &str, signature: &str| {
            (id.to_string(), timestamp.to_string(), signature.to_string())
        };
        let check = |(id, timestamp, signature): (String, String, String), secrets: &[&str]| {
            let signed = SignedMessage {
                id: Some(id.as_bytes()),
                timestamp: Some(timestamp.as_bytes()),
                signature: signature.as_bytes(),
            };
            verify_signed_message(secrets, &signed, body, now, 300)
        };
        assert_eq!(check(message("msg_1", &stamp, &signature), &["whsec_c2VjcmV0"]), Ok(()));
        assert_eq!(
            check(message("msg_1", &stamp, &format!("v1,AAAA {signature}")), &["other", "whsec_c2VjcmV0"]),
            Ok(())
        );
        assert_eq!(check(message("msg_2", &stamp, &signature), &["whsec_c2VjcmV0"]), Err(SignatureError::Invalid));
        assert_eq!(check(message("msg_1", &stamp, &signature), &["other"]), Err(SignatureError::Invalid));
        let old = standard_webhooks_signature("whsec_c2VjcmV0", "msg_1", now - 301, body);
        assert_eq!(
            check(message("msg_1", &(now - 301).to_string(), &old), &["whsec_c2VjcmV0"]),
            Err(SignatureError::Timestamp)
        );
        assert_eq!(check(message("msg_1", "-5", &signature), &["whsec_c2VjcmV0"]), Err(SignatureError::Timestamp));
        assert_eq!(check(message("", &stamp, &signature), &["whsec_c2VjcmV0"]), Err(SignatureError::Missing));
    }
}
