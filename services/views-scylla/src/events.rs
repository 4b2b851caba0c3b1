//! Reading events (by id, and a tenant's listing, see `listing.rs`) and when
//! tokens were last used.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hookline_domain::{EventId, SubscriptionId, TenantId, TokenId};
use hookline_views::{EventView, ViewError};
use scylla::client::session::Session;
use scylla::response::PagingState;
use uuid::Uuid;

use crate::listing::{self, Before, BucketedListing, Entry};
use crate::read::rows;
use crate::rows::domain_position;
use crate::stamps;
use crate::statements::Statements;

type EventRow = (
    Option<String>,
    Option<String>,
    Option<DateTime<Utc>>,
    Option<String>,
    Option<Vec<Uuid>>,
    Option<String>,
    Option<i32>,
    Option<i64>,
);

/// An event, unless unknown or past the retention.
pub(crate) async fn event(
    session: &Session,
    statements: &Statements,
    id: EventId,
    retention: Duration,
    now: DateTime<Utc>,
) -> Result<Option<EventView>, ViewError> {
    let found: Vec<EventRow> = rows(session, &statements.event, (id.0,)).await?;
    let Some(row) = found.into_iter().next() else {
        return Ok(None);
    };
    let (
        Some(tenant),
        Some(event_type),
        Some(accepted_at),
        idempotency_key,
        subscriptions,
        Some(topic),
        Some(p),
        Some(o),
    ) = row
    else {
        // Only cells of an event whose row has expired.
        return Ok(None);
    };
    if stamps::expiry(accepted_at, retention) <= now {
        return Ok(None);
    }
    let tenant_id = TenantId::parse(&tenant).map_err(|e| ViewError::Corrupt(format!("events: tenant: {e}")))?;
    Ok(Some(EventView {
        event_id: id,
        tenant_id,
        event_type,
        accepted_at,
        idempotency_key,
        // An event that matched no subscription: CQL may keep its empty list as null.
        subscriptions: subscriptions.unwrap_or_default().into_iter().map(SubscriptionId).collect(),
        payload_at: domain_position(topic, p, o, "events")?,
    }))
}

/// A tenant's events, in the minutes of `events_by_tenant`, as of `now`.
pub(crate) struct EventListing<'a> {
    pub(crate) session: &'a Session,
    pub(crate) statements: &'a Statements,
    pub(crate) tenant: &'a TenantId,
    pub(crate) retention: Duration,
    pub(crate) now: DateTime<Utc>,
}

impl BucketedListing for EventListing<'_> {
    type Item = EventView;

    fn bucket_of(&self, at: DateTime<Utc>) -> i32 {
        stamps::minute(at)
    }

    async fn buckets(&self, newest: i32) -> Result<Vec<i32>, ViewError> {
        let values = (self.tenant.as_str(), newest);
        let buckets: Vec<(i32,)> = rows(self.session, &self.statements.event_buckets, values).await?;
        Ok(buckets.into_iter().map(|(bucket,)| bucket).collect())
    }

    async fn entries(
        &self,
        bucket: i32,
        before: &Before,
        paging: PagingState,
    ) -> Result<(Vec<Entry>, ControlFlow<(), PagingState>), ViewError> {
        let values = (self.tenant.as_str(), bucket, before.at, before.id.clone());
        listing::entries_page(self.session, &self.statements.events_of_minute, values, paging).await
    }

    async fn item(&self, id: EventId) -> Result<Option<EventView>, ViewError> {
        event(self.session, self.statements, id, self.retention, self.now).await
    }
}

/// When each token was last used; tokens never used are absent.
pub(crate) async fn tokens_last_used(
    session: &Session,
    statements: &Statements,
    ids: &[TokenId],
) -> Result<HashMap<TokenId, DateTime<Utc>>, ViewError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let ids: Vec<Uuid> = ids.iter().map(|id| id.0).collect();
    let found: Vec<(Uuid, Option<DateTime<Utc>>)> = rows(session, &statements.tokens_last_used, (ids,)).await?;
    Ok(found.into_iter().filter_map(|(id, at)| Some((TokenId(id), at?))).collect())
}
