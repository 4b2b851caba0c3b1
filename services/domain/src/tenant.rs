//! Tenants (the operator's customers) and their API tokens, and the rule every reader
//! of the tenants topic folds them by.
//!
//! A tenant owns subscriptions, events and tasks. Everything written before tenants
//! existed belongs to [`TenantId::DEFAULT`], which always exists and cannot be
//! deleted. The first creation of an id in the log wins; a deletion is final (the id
//! is never used again). Tokens are kept only as SHA-256 digests: a token is 32
//! random bytes, so a plain digest cannot be reversed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::subscription::FieldError;

/// Longest tenant id.
pub const MAX_TENANT_ID_LEN: usize = 64;
/// Longest tenant or token name, in characters.
pub const MAX_NAME_LEN: usize = 256;
/// What every tenant token starts with, so that a leaked one is recognisable.
pub const TOKEN_PREFIX: &str = "hlt_";
/// How many leading characters of a token are kept to tell tokens apart in listings.
pub const SHOWN_TOKEN_CHARS: usize = 12;

/// Identifies a tenant: 1 to 64 of `a-z`, `0-9`, `_` and `-`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    /// The tenant everything belongs to unless said otherwise.
    pub const DEFAULT: &'static str = "default";

    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let valid = !raw.is_empty()
            && raw.len() <= MAX_TENANT_ID_LEN
            && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if valid {
            Ok(Self(raw.to_string()))
        } else {
            Err(FieldError::new("tenant_id", format!("must be 1 to {MAX_TENANT_ID_LEN} of a-z, 0-9, _ and -")))
        }
    }

    /// A fresh id for a tenant created without one.
    pub fn generate() -> Self {
        Self(format!("t-{}", Uuid::now_v7().simple()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_default(&self) -> bool {
        self.0 == Self::DEFAULT
    }
}

impl Default for TenantId {
    fn default() -> Self {
        Self(Self::DEFAULT.to_string())
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for TenantId {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for TenantId {
    type Error = FieldError;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<TenantId> for String {
    fn from(id: TenantId) -> String {
        id.0
    }
}

/// Limits of one tenant; `None` takes the operator's default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantLimits {
    /// Events (and webhooks) accepted per second over REST.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events_per_second: Option<u32>,
    /// Live subscriptions at most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_subscriptions: Option<u32>,
}

/// One customer of the operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    #[serde(default)]
    pub limits: TenantLimits,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Tenant {
    /// The default tenant as it is before anyone changed it.
    pub fn default_tenant() -> Tenant {
        Tenant {
            id: TenantId::default(),
            name: "Default".into(),
            limits: TenantLimits::default(),
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
        }
    }
}

/// Checks a tenant or token name: 1 to [`MAX_NAME_LEN`] characters, no control characters.
pub fn validate_name(field: &'static str, name: &str) -> Result<(), FieldError> {
    if name.trim().is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(FieldError::new(field, format!("must be at most {MAX_NAME_LEN} characters")));
    }
    if name.chars().any(char::is_control) {
        return Err(FieldError::new(field, "must not contain control characters"));
    }
    Ok(())
}

/// Identifies a tenant token (not the token itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TokenId(pub Uuid);

impl TokenId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl Default for TokenId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for TokenId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s).map(Self)
    }
}

/// The SHA-256 digest of a token, in lowercase hex: all that is kept of it.
pub fn token_digest(token: &[u8]) -> String {
    Sha256::digest(token).iter().map(|b| format!("{b:02x}")).collect()
}

/// A token of a tenant, as the log and the views keep it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantToken {
    pub id: TokenId,
    pub tenant_id: TenantId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// [`token_digest`] of the token.
    pub digest: String,
    /// The first [`SHOWN_TOKEN_CHARS`] characters of the token.
    pub prefix: String,
    pub created_at: DateTime<Utc>,
}

impl TenantToken {
    /// The record of `token` (the plain token, shown once to its creator).
    pub fn of(id: TokenId, tenant_id: TenantId, name: Option<String>, token: &str, at: DateTime<Utc>) -> Self {
        Self {
            id,
            tenant_id,
            name,
            digest: token_digest(token.as_bytes()),
            prefix: token.chars().take(SHOWN_TOKEN_CHARS).collect(),
            created_at: at,
        }
    }
}

/// A change to a tenant or its tokens (topic `hookline.tenants`, key = tenant id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum TenantEvent {
    TenantCreated { tenant: Tenant },
    TenantUpdated { tenant: Tenant },
    TenantDeleted { id: TenantId, deleted_at: DateTime<Utc> },
    TokenCreated { token: TenantToken },
    TokenRevoked { tenant_id: TenantId, token_id: TokenId, revoked_at: DateTime<Utc> },
}

impl TenantEvent {
    pub fn tenant_id(&self) -> &TenantId {
        match self {
            TenantEvent::TenantCreated { tenant } | TenantEvent::TenantUpdated { tenant } => &tenant.id,
            TenantEvent::TenantDeleted { id, .. } => id,
            TenantEvent::TokenCreated { token } => &token.tenant_id,
            TenantEvent::TokenRevoked { tenant_id, .. } => tenant_id,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            TenantEvent::TenantCreated { .. } => "TenantCreated",
            TenantEvent::TenantUpdated { .. } => "TenantUpdated",
            TenantEvent::TenantDeleted { .. } => "TenantDeleted",
            TenantEvent::TokenCreated { .. } => "TokenCreated",
            TenantEvent::TokenRevoked { .. } => "TokenRevoked",
        }
    }
}

/// Every tenant and live token, folded from the tenants topic in log order. Every
/// reader folds by this one rule, so all agree:
/// - a creation applies to an id never seen (the default tenant always exists);
/// - an update applies to a live tenant, keeping its creation time;
/// - a deletion applies to a live tenant other than the default one, is final, and
///   revokes its tokens;
/// - a token is added to a live tenant, and removed for good when revoked.
#[derive(Clone, Debug, Default)]
pub struct TenantRegistry {
    tenants: BTreeMap<TenantId, Tenant>,
    deleted: HashSet<TenantId>,
    tokens: HashMap<TokenId, TenantToken>,
    by_digest: HashMap<String, TokenId>,
}

impl TenantRegistry {
    pub fn new() -> Self {
        let mut registry = Self::default();
        let default = Tenant::default_tenant();
        registry.tenants.insert(default.id.clone(), default);
        registry
    }

    /// Folds one change; returns whether the rule accepted it.
    pub fn apply(&mut self, event: &TenantEvent) -> bool {
        match event {
            TenantEvent::TenantCreated { tenant } => {
                if self.tenants.contains_key(&tenant.id) || self.deleted.contains(&tenant.id) {
                    return false;
                }
                self.tenants.insert(tenant.id.clone(), tenant.clone());
                true
            }
            TenantEvent::TenantUpdated { tenant } => match self.tenants.get_mut(&tenant.id) {
                Some(current) => {
                    *current = Tenant { created_at: current.created_at, ..tenant.clone() };
                    true
                }
                None => false,
            },
            TenantEvent::TenantDeleted { id, .. } => {
                if id.is_default() || self.tenants.remove(id).is_none() {
                    return false;
                }
                self.deleted.insert(id.clone());
                let revoked: Vec<TokenId> =
                    self.tokens.values().filter(|token| &token.tenant_id == id).map(|token| token.id).collect();
                for token_id in revoked {
                    self.remove_token(token_id);
                }
                true
            }
            TenantEvent::TokenCreated { token } => {
                if !self.tenants.contains_key(&token.tenant_id) || self.tokens.contains_key(&token.id) {
                    return false;
                }
                self.by_digest.insert(token.digest.clone(), token.id);
                self.tokens.insert(token.id, token.clone());
                true
            }
            TenantEvent::TokenRevoked { tenant_id, token_id, .. } => {
                let owned = self.tokens.get(token_id).is_some_and(|token| &token.tenant_id == tenant_id);
                owned && self.remove_token(*token_id)
            }
        }
    }

    fn remove_token(&mut self, id: TokenId) -> bool {
        match self.tokens.remove(&id) {
            Some(token) => {
                self.by_digest.remove(&token.digest);
                true
            }
            None => false,
        }
    }

    /// A live tenant.
    pub fn tenant(&self, id: &TenantId) -> Option<&Tenant> {
        self.tenants.get(id)
    }

    /// Whether the id was deleted (and so can never be created again).
    pub fn was_deleted(&self, id: &TenantId) -> bool {
        self.deleted.contains(id)
    }

    /// Live tenants in id order, after `after`, `limit` at most.
    pub fn tenants_after(&self, after: Option<&TenantId>, limit: usize) -> Vec<&Tenant> {
        let range = match after {
            Some(after) => {
                self.tenants.range::<TenantId, _>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
            }
            None => self.tenants.range::<TenantId, _>(..),
        };
        range.map(|(_, tenant)| tenant).take(limit).collect()
    }

    /// The live token whose digest is `digest`.
    pub fn token_by_digest(&self, digest: &str) -> Option<&TenantToken> {
        self.by_digest.get(digest).and_then(|id| self.tokens.get(id))
    }

    pub fn token(&self, id: TokenId) -> Option<&TenantToken> {
        self.tokens.get(&id)
    }

    /// A tenant's live tokens, oldest first.
    pub fn tokens_of(&self, tenant: &TenantId) -> Vec<&TenantToken> {
        let mut tokens: Vec<&TenantToken> = self.tokens.values().filter(|t| &t.tenant_id == tenant).collect();
        tokens.sort_by_key(|t| (t.created_at, t.id));
        tokens
    }

    pub fn tenant_count(&self) -> usize {
        self.tenants.len()
    }

    pub fn token_count(&self) -> usize {
        self.tokens.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(id: &str, name: &str) -> Tenant {
        let at = Utc::now();
        Tenant {
            id: TenantId::parse(id).unwrap(),
            name: name.into(),
            limits: TenantLimits::default(),
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn ids_are_short_lowercase_words() {
        for good in ["acme", "a", "acme_corp-2", &"a".repeat(64)] {
            assert!(TenantId::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "Acme", "a b", "a.b", "é", &"a".repeat(65)] {
            assert!(TenantId::parse(bad).is_err(), "{bad}");
        }
        assert!(TenantId::parse(TenantId::generate().as_str()).is_ok());
        let old: TenantId = serde_json::from_str("\"default\"").unwrap();
        assert!(old.is_default());
        assert!(serde_json::from_str::<TenantId>("\"Not Valid\"").is_err());
    }

    #[test]
    fn the_first_creation_wins_and_deletion_is_final() {
        let mut registry = TenantRegistry::new();
        assert!(registry.tenant(&TenantId::default()).is_some());
        assert!(registry.apply(&TenantEvent::TenantCreated { tenant: tenant("acme", "Acme") }));
        assert!(!registry.apply(&TenantEvent::TenantCreated { tenant: tenant("acme", "Other") }));
        assert_eq!(registry.tenant(&TenantId::parse("acme").unwrap()).unwrap().name, "Acme");
        let id = TenantId::parse("acme").unwrap();
        assert!(registry.apply(&TenantEvent::TenantDeleted { id: id.clone(), deleted_at: Utc::now() }));
        assert!(!registry.apply(&TenantEvent::TenantCreated { tenant: tenant("acme", "Again") }));
        assert!(!registry.apply(&TenantEvent::TenantUpdated { tenant: tenant("acme", "Again") }));
        assert!(registry.tenant(&id).is_none() && registry.was_deleted(&id));
        assert!(!registry.apply(&TenantEvent::TenantDeleted { id: TenantId::default(), deleted_at: Utc::now() }));
    }

    #[test]
    fn tokens_are_found_by_digest_until_revoked_or_their_tenant_goes() {
        let mut registry = TenantRegistry::new();
        registry.apply(&TenantEvent::TenantCreated { tenant: tenant("acme", "Acme") });
        let acme = TenantId::parse("acme").unwrap();
        let token = TenantToken::of(TokenId::new(), acme.clone(), None, "hlt_secret-one", Utc::now());
        assert_eq!(token.prefix, "hlt_secret-o");
        assert!(registry.apply(&TenantEvent::TokenCreated { token: token.clone() }));
        assert_eq!(registry.token_by_digest(&token_digest(b"hlt_secret-one")).unwrap().id, token.id);
        // Revoking needs the owner's id.
        let other = TenantId::default();
        assert!(!registry.apply(&TenantEvent::TokenRevoked {
            tenant_id: other,
            token_id: token.id,
            revoked_at: Utc::now()
        }));
        assert!(registry.apply(&TenantEvent::TokenRevoked {
            tenant_id: acme.clone(),
            token_id: token.id,
            revoked_at: Utc::now()
        }));
        assert!(registry.token_by_digest(&token.digest).is_none());

        let second = TenantToken::of(TokenId::new(), acme.clone(), None, "hlt_secret-two", Utc::now());
        registry.apply(&TenantEvent::TokenCreated { token: second.clone() });
        registry.apply(&TenantEvent::TenantDeleted { id: acme.clone(), deleted_at: Utc::now() });
        assert!(registry.token_by_digest(&second.digest).is_none());
        // A token for a tenant that is not there is refused.
        let orphan = TenantToken::of(TokenId::new(), acme, None, "hlt_secret-three", Utc::now());
        assert!(!registry.apply(&TenantEvent::TokenCreated { token: orphan }));
    }
}
