//! Sealing secrets with the encryption key, and opening them again.
//!
//! Sealed text is `hlenc:v1:<base64 of nonce (12 bytes) ++ ciphertext ++ tag>`:
//! ChaCha20-Poly1305 under a random nonce, with the subscription id as associated
//! data, so a sealed secret copied onto another subscription does not open.

use std::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, KeyInit, Nonce};
use hookline_domain::{DeliverySettings, Secret, Subscription, SubscriptionEvent, SubscriptionId};
use rand::RngCore;

/// How sealed text starts (the domain reserves `hlenc:` so no user secret does).
pub const SEALED_PREFIX: &str = "hlenc:v1:";

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;

/// Why `HOOKLINE_ENCRYPTION_KEY` was refused. Never carries the key itself.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("HOOKLINE_ENCRYPTION_KEY is not valid base64")]
    NotBase64,
    #[error("HOOKLINE_ENCRYPTION_KEY must decode to {KEY_LEN} bytes, not {0}")]
    WrongLength(usize),
}

/// Why a stored secret could not be opened; always permanent until the
/// configuration changes. Names the subscription, never the secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the secret of subscription {0} is sealed, but HOOKLINE_ENCRYPTION_KEY is not set")]
    NoKey(SubscriptionId),
    #[error(
        "the secret of subscription {0} does not open with HOOKLINE_ENCRYPTION_KEY \
         (sealed with another key, or altered)"
    )]
    WrongKey(SubscriptionId),
    #[error("the sealed secret of subscription {0} is malformed")]
    Malformed(SubscriptionId),
}

/// Seals secrets for storage and opens them when read back; without a key it writes
/// plaintext and refuses sealed text.
#[derive(Clone, Default)]
pub struct SecretSealer {
    cipher: Option<ChaCha20Poly1305>,
}

impl fmt::Debug for SecretSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = if self.cipher.is_some() { "set" } else { "none" };
        f.debug_struct("SecretSealer").field("key", &key).finish()
    }
}

impl SecretSealer {
    /// No key: secrets are stored as they are.
    pub fn without_key() -> Self {
        Self::default()
    }

    /// The key as configured: base64 (standard alphabet, padded) of 32 bytes.
    pub fn from_base64_key(text: &str) -> Result<Self, KeyError> {
        let bytes = B64.decode(text.trim()).map_err(|_| KeyError::NotBase64)?;
        let cipher = ChaCha20Poly1305::new_from_slice(&bytes).map_err(|_| KeyError::WrongLength(bytes.len()))?;
        Ok(Self { cipher: Some(cipher) })
    }

    pub fn has_key(&self) -> bool {
        self.cipher.is_some()
    }

    /// Whether `stored` is sealed text rather than a plaintext secret.
    pub fn is_sealed(stored: &Secret) -> bool {
        stored.expose().starts_with(SEALED_PREFIX)
    }

    /// The subscription as it is to be stored: with a key, every secret sealed (text
    /// already sealed is kept), the values of its extra delivery headers too (they may
    /// be credentials); without one, unchanged.
    pub fn seal_subscription(&self, subscription: &Subscription) -> Subscription {
        let id = subscription.id;
        let seal = |secret: &Option<Secret>| secret.as_ref().map(|s| self.seal(id, s));
        let headers = subscription.delivery.headers.iter().map(|(name, value)| (name.clone(), self.seal(id, value)));
        Subscription {
            secret: seal(&subscription.secret),
            previous_secret: seal(&subscription.previous_secret),
            delivery: DeliverySettings { headers: headers.collect(), ..subscription.delivery.clone() },
            ..subscription.clone()
        }
    }

    /// The subscription as read from storage, with plaintext secrets and header values.
    pub fn open_subscription(&self, stored: Subscription) -> Result<Subscription, SealError> {
        let id = stored.id;
        let open = |secret: Option<Secret>| secret.map(|s| self.open(id, s)).transpose();
        let headers = stored
            .delivery
            .headers
            .into_iter()
            .map(|(name, value)| Ok((name, self.open(id, value)?)))
            .collect::<Result<_, SealError>>()?;
        Ok(Subscription {
            secret: open(stored.secret)?,
            previous_secret: open(stored.previous_secret)?,
            delivery: DeliverySettings { headers, ..stored.delivery },
            ..stored
        })
    }

    /// Whether anything of `stored` is sealed text: its secrets or header values.
    pub fn holds_sealed(stored: &Subscription) -> bool {
        [&stored.secret, &stored.previous_secret].into_iter().flatten().any(Self::is_sealed)
            || stored.delivery.headers.values().any(Self::is_sealed)
    }

    /// The event as it is to be appended to the log.
    pub fn seal_event(&self, event: &SubscriptionEvent) -> SubscriptionEvent {
        match event {
            SubscriptionEvent::SubscriptionCreated { subscription } => {
                SubscriptionEvent::SubscriptionCreated { subscription: self.seal_subscription(subscription) }
            }
            SubscriptionEvent::SubscriptionUpdated { subscription } => {
                SubscriptionEvent::SubscriptionUpdated { subscription: self.seal_subscription(subscription) }
            }
            SubscriptionEvent::SubscriptionDeleted { .. } => event.clone(),
        }
    }

    /// The event as read from the log, with plaintext secrets.
    pub fn open_event(&self, event: SubscriptionEvent) -> Result<SubscriptionEvent, SealError> {
        Ok(match event {
            SubscriptionEvent::SubscriptionCreated { subscription } => {
                SubscriptionEvent::SubscriptionCreated { subscription: self.open_subscription(subscription)? }
            }
            SubscriptionEvent::SubscriptionUpdated { subscription } => {
                SubscriptionEvent::SubscriptionUpdated { subscription: self.open_subscription(subscription)? }
            }
            deleted @ SubscriptionEvent::SubscriptionDeleted { .. } => deleted,
        })
    }

    fn seal(&self, id: SubscriptionId, secret: &Secret) -> Secret {
        let Some(cipher) = &self.cipher else { return secret.clone() };
        if Self::is_sealed(secret) {
            return secret.clone();
        }
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let payload = Payload { msg: secret.expose().as_bytes(), aad: id.as_bytes() };
        // ChaCha20-Poly1305 refuses only messages of 256 GiB and more; secrets are at most 1 KiB.
        let sealed = cipher.encrypt(&Nonce::from(nonce), payload).expect("a secret is far below the AEAD size limit");
        let mut bytes = Vec::with_capacity(NONCE_LEN + sealed.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        Secret::new(format!("{SEALED_PREFIX}{}", B64.encode(bytes)))
    }

    fn open(&self, id: SubscriptionId, stored: Secret) -> Result<Secret, SealError> {
        let Some(encoded) = stored.expose().strip_prefix(SEALED_PREFIX) else {
            // Written before a key was set: plaintext, sealed on its next write.
            return Ok(stored);
        };
        let cipher = self.cipher.as_ref().ok_or(SealError::NoKey(id))?;
        let bytes = B64.decode(encoded).map_err(|_| SealError::Malformed(id))?;
        if bytes.len() < NONCE_LEN {
            return Err(SealError::Malformed(id));
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_from(nonce).map_err(|_| SealError::Malformed(id))?;
        let plain =
            cipher.decrypt(&nonce, Payload { msg: sealed, aad: id.as_bytes() }).map_err(|_| SealError::WrongKey(id))?;
        String::from_utf8(plain).map(Secret::new).map_err(|_| SealError::Malformed(id))
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, Utc};
    use hookline_domain::subscription::SEALED_SECRET_PREFIX;

    use super::*;

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const OTHER_KEY: &str = "HxwdHhscGRoXGBUWExQREg8QDQ4LDAkKBwgFBgMEAQI=";

    fn keyed(key: &str) -> SecretSealer {
        SecretSealer::from_base64_key(key).unwrap()
    }

    fn subscription(secret: &str) -> Subscription {
        let now = Utc::now();
        let plain = Subscription::new(SubscriptionId::new(), "https://example.com/hook", now);
        plain.with_rotated_secret(Some(Secret::new("old-secret")), TimeDelta::zero(), now).with_rotated_secret(
            Some(Secret::new(secret)),
            TimeDelta::hours(1),
            now,
        )
    }

    #[test]
    fn sealing_round_trips_both_secrets() {
        let sealer = keyed(KEY);
        let plain = subscription("whsec_current");
        let sealed = sealer.seal_subscription(&plain);
        for stored in [&sealed.secret, &sealed.previous_secret] {
            let stored = stored.as_ref().unwrap();
            assert!(SecretSealer::is_sealed(stored));
            assert!(!stored.expose().contains("current") && !stored.expose().contains("old-secret"));
        }
        // A fresh nonce each time: sealing twice gives two texts.
        assert_ne!(sealer.seal_subscription(&plain).secret, sealed.secret);
        // Sealing what is sealed keeps it.
        assert_eq!(sealer.seal_subscription(&sealed), sealed);
        assert_eq!(sealer.open_subscription(sealed).unwrap(), plain);
    }

    #[test]
    fn header_values_are_sealed_like_secrets() {
        let sealer = keyed(KEY);
        let mut plain = subscription("whsec_current");
        plain.delivery.headers.insert("X-Api-Key".into(), Secret::new("api-key-value"));
        let sealed = sealer.seal_subscription(&plain);
        let stored = &sealed.delivery.headers["X-Api-Key"];
        assert!(SecretSealer::is_sealed(stored) && !stored.expose().contains("api-key-value"));
        assert!(SecretSealer::holds_sealed(&sealed) && !SecretSealer::holds_sealed(&plain));
        assert_eq!(sealer.open_subscription(sealed.clone()).unwrap(), plain);
        assert!(keyed(OTHER_KEY).open_subscription(sealed).is_err());
        // Without a key, headers are stored as they are.
        assert_eq!(SecretSealer::without_key().seal_subscription(&plain), plain);
    }

    #[test]
    fn a_wrong_key_or_no_key_is_refused() {
        let sealed = keyed(KEY).seal_subscription(&subscription("s3cret"));
        let id = sealed.id;
        assert_eq!(keyed(OTHER_KEY).open_subscription(sealed.clone()), Err(SealError::WrongKey(id)));
        assert_eq!(SecretSealer::without_key().open_subscription(sealed), Err(SealError::NoKey(id)));
    }

    #[test]
    fn tampered_or_moved_ciphertext_is_refused() {
        let sealer = keyed(KEY);
        let sealed = sealer.seal_subscription(&subscription("s3cret"));
        let text = sealed.secret.as_ref().unwrap().expose();
        let mut bytes = B64.decode(&text[SEALED_PREFIX.len()..]).unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        let tampered = Secret::new(format!("{SEALED_PREFIX}{}", B64.encode(&bytes)));
        let altered = Subscription { secret: Some(tampered), ..sealed.clone() };
        assert_eq!(sealer.open_subscription(altered), Err(SealError::WrongKey(sealed.id)));
        let moved = Subscription { id: SubscriptionId::new(), ..sealed.clone() };
        assert_eq!(sealer.open_subscription(moved.clone()), Err(SealError::WrongKey(moved.id)));
        let garbled = Subscription { secret: Some(Secret::new(format!("{SEALED_PREFIX}!!"))), ..sealed.clone() };
        assert_eq!(sealer.open_subscription(garbled), Err(SealError::Malformed(sealed.id)));
    }

    #[test]
    fn plaintext_passes_through() {
        let plain = subscription("s3cret");
        assert_eq!(keyed(KEY).open_subscription(plain.clone()).unwrap(), plain);
        let without_key = SecretSealer::without_key();
        assert_eq!(without_key.seal_subscription(&plain), plain);
        assert_eq!(without_key.open_subscription(plain.clone()).unwrap(), plain);
    }

    #[test]
    fn events_are_sealed_and_opened_whole() {
        let sealer = keyed(KEY);
        let event = SubscriptionEvent::SubscriptionUpdated { subscription: subscription("s3cret") };
        let sealed = sealer.seal_event(&event);
        let encoded = serde_json::to_string(&sealed).unwrap();
        assert!(!encoded.contains("s3cret") && !encoded.contains("old-secret"));
        assert_eq!(sealer.open_event(serde_json::from_str(&encoded).unwrap()).unwrap(), event);
        let deleted = SubscriptionEvent::SubscriptionDeleted {
            id: SubscriptionId::new(),
            deleted_at: Utc::now(),
            version: 0,
            write_id: None,
        };
        assert_eq!(sealer.seal_event(&deleted), deleted);
    }

    #[test]
    fn bad_keys_are_refused_without_echoing_them() {
        assert_eq!(SecretSealer::from_base64_key("not base64!").unwrap_err(), KeyError::NotBase64);
        let short = SecretSealer::from_base64_key("c2hvcnQ=").unwrap_err();
        assert_eq!(short, KeyError::WrongLength(5));
        assert!(!short.to_string().contains("c2hvcnQ="));
        assert!(keyed(KEY).has_key() && !SecretSealer::without_key().has_key());
        assert_eq!(format!("{:?}", keyed(KEY)), r#"SecretSealer { key: "set" }"#);
    }

    #[test]
    fn sealed_text_uses_the_prefix_the_domain_reserves() {
        assert!(SEALED_PREFIX.starts_with(SEALED_SECRET_PREFIX));
    }
}
