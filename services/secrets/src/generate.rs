//! Strong secrets for subscriptions that ask hookline to make one, and tenant tokens.

use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD};
use base64::Engine;
use hookline_domain::tenant::TOKEN_PREFIX;
use rand::RngCore;

/// Random bytes in a generated secret (192 bits).
const GENERATED_BYTES: usize = 24;
/// Random bytes in a tenant token (256 bits): a plain digest of it cannot be reversed.
const TOKEN_BYTES: usize = 32;

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

/// A new secret in the Standard Webhooks form: `whsec_` and the base64 of 24 random
/// bytes. Receivers' Standard Webhooks libraries key with the decoded bytes, as
/// hookline's own signatures do.
pub fn generate_secret() -> String {
    format!("whsec_{}", B64.encode(random_bytes::<GENERATED_BYTES>()))
}

/// A new tenant token: `hlt_` and the URL-safe base64 (no padding, 43 characters) of
/// 32 random bytes, so that it fits a header as it is and a leaked one is recognisable.
pub fn generate_tenant_token() -> String {
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(random_bytes::<TOKEN_BYTES>()))
}

#[cfg(test)]
mod tests {
    use hookline_domain::subscription::validate_secret;

    use super::*;

    #[test]
    fn generated_secrets_are_whsec_base64_of_24_bytes_and_differ() {
        let secret = generate_secret();
        let encoded = secret.strip_prefix("whsec_").expect("whsec_ prefix");
        assert_eq!(B64.decode(encoded).unwrap().len(), GENERATED_BYTES);
        assert!(validate_secret(&secret).is_ok());
        assert_ne!(generate_secret(), secret);
    }

    #[test]
    fn tenant_tokens_are_hlt_and_43_url_safe_characters_of_32_bytes() {
        let token = generate_tenant_token();
        let encoded = token.strip_prefix("hlt_").expect("hlt_ prefix");
        assert_eq!(encoded.len(), 43);
        assert!(encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{token}");
        assert_eq!(URL_SAFE_NO_PAD.decode(encoded).unwrap().len(), TOKEN_BYTES);
        assert_ne!(generate_tenant_token(), token);
    }
}
