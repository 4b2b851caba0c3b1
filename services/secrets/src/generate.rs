//! Strong secrets for subscriptions that ask hookline to make one.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::RngCore;

/// Random bytes in a generated secret (192 bits).
const GENERATED_BYTES: usize = 24;

/// A new secret in the Standard Webhooks form: `whsec_` and the base64 of 24 random
/// bytes. Receivers' Standard Webhooks libraries key with the decoded bytes, as
/// hookline's own signatures do.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; GENERATED_BYTES];
    rand::rng().fill_bytes(&mut bytes);
    format!("whsec_{}", B64.encode(bytes))
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
}
