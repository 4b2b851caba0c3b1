//! Subscription secrets beyond the pure rules of the domain: generating strong ones
//! (and tenant tokens), and sealing them at rest.
//!
//! Consumes: an optional 32-byte key (`HOOKLINE_ENCRYPTION_KEY`). Produces: sealed
//! copies of subscriptions and subscription events for storage, and plaintext copies
//! of what was read back. Guarantees: with a key, every secret written is
//! ChaCha20-Poly1305 ciphertext under a fresh random 96-bit nonce, bound to its
//! subscription id; a sealed secret is only ever opened with the key that sealed it,
//! anything else (no key, another key, altered text) is a [`SealError`], never a
//! secret silently lost; plaintext written before a key was set reads as it is.
//!
//! Why sealing is an explicit step here rather than inside the domain's serde: the
//! domain stays free of keys and randomness, no global holds the key, and only the
//! processes that read or write subscriptions (API, ingest, delivery) ever hold it.
//! Sealed text travels unchanged from the log into the views, so the projector and
//! the view stores never need the key.

mod generate;
mod sealer;

pub use generate::{generate_secret, generate_tenant_token};
pub use sealer::{KeyError, SealError, SecretSealer, SEALED_PREFIX};
