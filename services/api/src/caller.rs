//! Who makes a request, and what they may see.
//!
//! The operator holds one of `HOOKLINE_API_TOKENS` (or anyone is the operator when
//! none are configured, as in the seed). A tenant holds one of its live tokens
//! (`hlt_…`), found by digest in the routing directory, so a revocation takes effect
//! as soon as the directory has read it. A tenant sees only its own tenant: what
//! another tenant owns answers exactly as an unknown id does, so that ids cannot be
//! probed.

use std::sync::Arc;

use hookline_domain::tenant::{token_digest, TOKEN_PREFIX};
use hookline_domain::{TenantId, TenantToken};
use warp::http::HeaderMap;
use warp::{Filter, Rejection};

use crate::auth::bearer_token;
use crate::edge::Refused;
use crate::error::ApiError;
use crate::state::ApiState;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Caller {
    Operator,
    Tenant(TenantToken),
}

impl Caller {
    /// The tenant a tenant caller acts for; `None` for the operator.
    pub(crate) fn tenant(&self) -> Option<&TenantId> {
        match self {
            Caller::Operator => None,
            Caller::Tenant(token) => Some(&token.tenant_id),
        }
    }

    /// Whether this caller may see what `owner` owns.
    pub(crate) fn sees(&self, owner: &TenantId) -> bool {
        self.tenant().is_none_or(|own| own == owner)
    }

    /// Whether this caller manages tenants (only the operator does).
    pub(crate) fn require_operator(&self) -> Result<(), ApiError> {
        match self {
            Caller::Operator => Ok(()),
            Caller::Tenant(_) => Err(ApiError::Forbidden("Only the operator can create, change or delete tenants")),
        }
    }

    /// The tenant a request is about: the one it names (`tenant_id`), else the
    /// caller's own, else the default one. A tenant naming another is told the
    /// tenant does not exist.
    pub(crate) fn tenant_named(&self, named: Option<TenantId>) -> Result<TenantId, ApiError> {
        match (self.tenant(), named) {
            (Some(own), Some(named)) if *own != named => Err(ApiError::TenantNotFound),
            (Some(own), _) => Ok(own.clone()),
            (None, Some(named)) => Ok(named),
            (None, None) => Ok(TenantId::default()),
        }
    }

    /// The tenant a list is narrowed to: the one named, or the caller's own; `None`:
    /// every tenant (the operator naming none).
    pub(crate) fn list_scope(&self, named: Option<TenantId>) -> Result<Option<TenantId>, ApiError> {
        if self.tenant().is_none() && named.is_none() {
            return Ok(None);
        }
        self.tenant_named(named).map(Some)
    }
}

/// A tenant id from a path or a query: 400 when it cannot be one.
pub(crate) fn parse_tenant_id(raw: &str) -> Result<TenantId, ApiError> {
    TenantId::parse(raw).map_err(|e| ApiError::BadRequest(format!("Invalid tenant id: {}", e.message)))
}

/// The `tenant_id` query parameter, if given.
pub(crate) fn tenant_param(params: &std::collections::HashMap<String, String>) -> Result<Option<TenantId>, ApiError> {
    params.get("tenant_id").map(|raw| parse_tenant_id(raw)).transpose()
}

/// Who `headers` say the caller is. An operator token makes the operator. A tenant
/// token (`hlt_…`) that is not live is refused even when the API is open, so that a
/// revoked token never becomes more than it was. Without operator tokens configured,
/// anyone else is the operator.
pub(crate) fn identify(state: &ApiState, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let operator_tokens = &state.config.tokens;
    if !operator_tokens.is_empty() && operator_tokens.admits(headers) {
        return Ok(Caller::Operator);
    }
    if let Some(token) = bearer_token(headers).filter(|token| token.starts_with(TOKEN_PREFIX.as_bytes())) {
        let live = state.deps.routing.token_by_digest(&token_digest(token));
        return live.map(Caller::Tenant).ok_or(ApiError::Unauthorized);
    }
    if operator_tokens.is_empty() {
        Ok(Caller::Operator)
    } else {
        Err(ApiError::Unauthorized)
    }
}

/// The caller of a request that passed the edge. It is identified again here (a
/// digest and a lookup): a token revoked since the edge looked is refused. A tenant
/// token's use is noted here, once per request that reaches a route.
pub(crate) fn caller(state: &Arc<ApiState>) -> impl Filter<Extract = (Caller,), Error = Rejection> + Clone {
    let state = state.clone();
    warp::header::headers_cloned().and_then(move |headers: HeaderMap| {
        let state = state.clone();
        async move {
            let caller = identify(&state, &headers).map_err(|e| warp::reject::custom(Refused(e)))?;
            if let Caller::Tenant(token) = &caller {
                state.token_uses.used(token.id, &state.deps.views);
            }
            Ok::<_, Rejection>(caller)
        }
    })
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use hookline_domain::TokenId;

    use super::*;

    fn id(raw: &str) -> TenantId {
        TenantId::parse(raw).unwrap()
    }

    fn tenant(raw: &str) -> Caller {
        Caller::Tenant(TenantToken::of(TokenId::new(), id(raw), None, "hlt_x", Utc::now()))
    }

    #[test]
    fn the_operator_names_any_tenant_and_defaults_to_the_default_one() {
        let operator = Caller::Operator;
        assert_eq!(operator.tenant_named(None).unwrap(), TenantId::default());
        assert_eq!(operator.tenant_named(Some(id("acme"))).unwrap(), id("acme"));
        assert_eq!(operator.list_scope(None).unwrap(), None);
        assert_eq!(operator.list_scope(Some(id("acme"))).unwrap(), Some(id("acme")));
        assert!(operator.sees(&id("acme")) && operator.require_operator().is_ok());
    }

    #[test]
    fn a_tenant_is_held_to_its_own() {
        let acme = tenant("acme");
        assert_eq!(acme.tenant_named(None).unwrap(), id("acme"));
        assert_eq!(acme.tenant_named(Some(id("acme"))).unwrap(), id("acme"));
        assert!(matches!(acme.tenant_named(Some(id("globex"))), Err(ApiError::TenantNotFound)));
        assert_eq!(acme.list_scope(None).unwrap(), Some(id("acme")));
        assert!(matches!(acme.list_scope(Some(id("globex"))), Err(ApiError::TenantNotFound)));
        assert!(acme.sees(&id("acme")) && !acme.sees(&id("globex")));
        assert!(matches!(acme.require_operator(), Err(ApiError::Forbidden(_))));
    }
}
