//! API tokens: who may call the management and status endpoints (and ingest, when
//! configured). Tokens are kept only as SHA-256 digests and compared in constant time,
//! so neither memory dumps nor response timing reveal them.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use warp::http::header::AUTHORIZATION;
use warp::http::HeaderMap;

/// The shortest plain token accepted: shorter ones are guessable.
pub const MIN_TOKEN_LEN: usize = 16;
const DIGEST_PREFIX: &str = "sha256:";

/// Why the configured token list was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenConfigError {
    #[error("API token #{0} is shorter than {MIN_TOKEN_LEN} characters")]
    TooShort(usize),
    #[error("API token #{0} starts with `sha256:` but is not 64 hex digits after it")]
    BadDigest(usize),
}

/// The accepted tokens, as digests. Empty: the API is open (as the seed was).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ApiTokens {
    digests: Vec<[u8; 32]>,
}

impl fmt::Debug for ApiTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiTokens({} configured)", self.digests.len())
    }
}

impl ApiTokens {
    /// Reads tokens as configured: each either the token itself or `sha256:<hex digest
    /// of the token>`, so that the plain token need not be stored in the configuration.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, TokenConfigError> {
        let mut digests = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().map(|e| e.as_ref().trim()).enumerate() {
            let number = index + 1;
            let digest = match entry.strip_prefix(DIGEST_PREFIX) {
                Some(hex) => parse_digest(hex).ok_or(TokenConfigError::BadDigest(number))?,
                None if entry.chars().count() < MIN_TOKEN_LEN => return Err(TokenConfigError::TooShort(number)),
                None => digest(entry.as_bytes()),
            };
            digests.push(digest);
        }
        Ok(Self { digests })
    }

    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Whether the request carries `Authorization: Bearer <one of the tokens>`. Every
    /// digest is compared, whichever matches, so timing says nothing about which.
    pub fn admits(&self, headers: &HeaderMap) -> bool {
        let Some(token) = bearer_token(headers) else { return false };
        let presented = digest(token);
        self.digests.iter().fold(subtle::Choice::from(0), |found, known| found | known.ct_eq(&presented)).into()
    }
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
pub(crate) fn bearer_token(headers: &HeaderMap) -> Option<&[u8]> {
    let value = headers.get(AUTHORIZATION)?.as_bytes();
    let (scheme, token) = value.split_at_checked(7)?;
    (scheme.eq_ignore_ascii_case(b"bearer ") && !token.is_empty()).then_some(token.trim_ascii())
}

fn digest(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

fn parse_digest(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex.as_bytes().chunks(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use warp::http::HeaderValue;

    use super::*;

    fn with_authorization(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    const TOKEN: &str = "hl_4f9c2e7a1b3d5f60";

    #[test]
    fn plain_and_digest_entries_admit_the_same_token() {
        let hex: String = digest(TOKEN.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        for tokens in [ApiTokens::parse(&[TOKEN]).unwrap(), ApiTokens::parse(&[format!("sha256:{hex}")]).unwrap()] {
            assert!(tokens.admits(&with_authorization(&format!("Bearer {TOKEN}"))));
            assert!(tokens.admits(&with_authorization(&format!("bearer {TOKEN}"))));
            assert!(!tokens.admits(&with_authorization(&format!("Bearer {TOKEN}x"))));
            assert!(!tokens.admits(&with_authorization(&format!("Basic {TOKEN}"))));
            assert!(!tokens.admits(&with_authorization("Bearer ")));
            assert!(!tokens.admits(&HeaderMap::new()));
        }
    }

    #[test]
    fn any_of_several_tokens_is_admitted() {
        let tokens = ApiTokens::parse(&["first-token-0123456", "second-token-012345"]).unwrap();
        assert!(tokens.admits(&with_authorization("Bearer second-token-012345")));
        assert!(tokens.admits(&with_authorization("Bearer first-token-0123456")));
    }

    #[test]
    fn weak_or_malformed_entries_are_refused_without_echoing_them() {
        assert_eq!(ApiTokens::parse(&["ok-token-0123456789", "short"]), Err(TokenConfigError::TooShort(2)));
        assert_eq!(ApiTokens::parse(&["sha256:abcd"]), Err(TokenConfigError::BadDigest(1)));
        let error = ApiTokens::parse(&["sha256:".to_string() + &"z".repeat(64)]).unwrap_err().to_string();
        assert!(!error.contains("zzzz"), "{error}");
        assert_eq!(format!("{:?}", ApiTokens::parse(&[TOKEN]).unwrap()), "ApiTokens(1 configured)");
    }
}
