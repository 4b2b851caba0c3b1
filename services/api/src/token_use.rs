//! When tenant tokens are used, recorded in the views for `GET /tenants/{id}/tokens`:
//! at most once a minute per token and process, in the background, so that a
//! request never waits for it and a busy token costs one write a minute.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use hookline_domain::TokenId;
use hookline_views::{ViewChange, ViewStore};
use quick_cache::sync::Cache;

/// How often one token's use is recorded at most: `last_used_at` is to the minute.
const EVERY: Duration = Duration::from_secs(60);
/// Tokens whose last recording is remembered (about 50 bytes each); a token dropped
/// from here is recorded again on its next use, a minute early at worst.
const TRACKED: usize = 100_000;

pub(crate) struct TokenUses {
    recorded: Cache<TokenId, Instant>,
}

impl TokenUses {
    pub(crate) fn new() -> Self {
        Self { recorded: Cache::new(TRACKED) }
    }

    /// Whether a use of `token` at `now` is to be recorded: none was within [`EVERY`].
    fn due(&self, token: TokenId, now: Instant) -> bool {
        if self.recorded.get(&token).is_some_and(|at| now.saturating_duration_since(at) < EVERY) {
            return false;
        }
        self.recorded.insert(token, now);
        true
    }

    /// Notes a use of `token`, recording it in `views` in the background when due.
    pub(crate) fn used(&self, token: TokenId, views: &Arc<dyn ViewStore>) {
        if !self.due(token, Instant::now()) {
            return;
        }
        let (views, at) = (views.clone(), Utc::now());
        tokio::spawn(async move {
            if let Err(error) = views.apply(vec![ViewChange::TokenUsed { token_id: token, at }]).await {
                tracing::warn!(token_id = %token, %error, "recording a token's use failed");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_use_is_recorded_once_a_minute_per_token() {
        let uses = TokenUses::new();
        let (busy, other, start) = (TokenId::new(), TokenId::new(), Instant::now());
        assert!(uses.due(busy, start));
        assert!(!uses.due(busy, start + Duration::from_secs(59)));
        assert!(uses.due(other, start + Duration::from_secs(59)), "each token has its own minute");
        assert!(uses.due(busy, start + EVERY));
        assert!(!uses.due(busy, start + EVERY + Duration::from_secs(1)));
    }
}
