//! Walking a listing kept as index entries in time buckets (the task listings, a
//! tenant's events), newest first.
//!
//! A listing walks the buckets a table of buckets names, newest first, and each
//! bucket's index entries page by page; every entry is checked against its item's
//! row, which gives the item as it is now and tells an entry of an item that
//! expired or now sits at another position (skipped) from a live one.

use std::ops::ControlFlow;

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt, TryStreamExt};
use hookline_views::{Listed, ListingFilter, ListingId, ListingPosition, Page, PageBuilder, ViewError};
use scylla::client::session::Session;
use scylla::response::PagingState;
use scylla::serialize::row::SerializeRow;
use scylla::statement::prepared::PreparedStatement;

use crate::error;

/// Items checked against their rows at once.
const CHECKS_IN_FLIGHT: usize = 32;

/// An index entry: the item's time and its id (as stored, a blob).
pub(crate) type Entry = (DateTime<Utc>, Vec<u8>);

/// Where a walk stands within a bucket: entries strictly before this time and id.
pub(crate) struct Before {
    pub(crate) at: DateTime<Utc>,
    pub(crate) id: Vec<u8>,
}

impl Before {
    /// Before every entry a bucket can hold.
    fn everything() -> Self {
        Self { at: DateTime::<Utc>::MAX_UTC, id: vec![u8::MAX; 16] }
    }
}

/// A listing kept in time buckets.
pub(crate) trait BucketedListing: Sync {
    type Item: Listed + Send;

    /// The bucket of an item of time `at`.
    fn bucket_of(&self, at: DateTime<Utc>) -> i32;

    /// The buckets holding entries, newest first, from `newest` down.
    async fn buckets(&self, newest: i32) -> Result<Vec<i32>, ViewError>;

    /// One page of the entries of `bucket` before `before`, in listing order.
    async fn entries(
        &self,
        bucket: i32,
        before: &Before,
        paging: PagingState,
    ) -> Result<(Vec<Entry>, ControlFlow<(), PagingState>), ViewError>;

    /// The item of this id, unless unknown or expired.
    async fn item(&self, id: <Self::Item as Listed>::Id) -> Result<Option<Self::Item>, ViewError>;
}

/// A page of `listing`: the items `filter` keeps, `limit` at most, after the
/// position `after` (a cursor's, or where a filter starts the walk).
pub(crate) async fn page<L, F>(
    listing: &L,
    filter: F,
    limit: usize,
    after: Option<ListingPosition<<L::Item as Listed>::Id>>,
) -> Result<Page<L::Item>, ViewError>
where
    L: BucketedListing,
    F: ListingFilter<L::Item>,
{
    let mut page = PageBuilder::new(filter, limit);
    if page.is_complete() {
        return Ok(page.finish());
    }
    // The walk starts after the given position, or after any position there is.
    let (mut before, mut newest_bucket) = (Before::everything(), i32::MAX);
    if let Some(position) = after {
        let at = DateTime::from_timestamp_millis(position.at_ms).ok_or(ViewError::InvalidCursor)?;
        newest_bucket = listing.bucket_of(at);
        before = Before { at, id: position.id.id_bytes().to_vec() };
    }
    for bucket in listing.buckets(newest_bucket).await? {
        let mut paging = PagingState::start();
        loop {
            let (entries, next) = listing.entries(bucket, &before, paging).await?;
            for chunk in entries.chunks(CHECKS_IN_FLIGHT) {
                for (position, found) in checked(listing, chunk).await? {
                    if !page.offer(position, found) {
                        return Ok(page.finish());
                    }
                }
            }
            match next {
                ControlFlow::Continue(state) => paging = state,
                ControlFlow::Break(()) => break,
            }
        }
        // Older buckets are read whole.
        before = Before::everything();
    }
    Ok(page.finish())
}

/// Each entry's position and its item, `None` unless the item is live and still at
/// that position.
async fn checked<L: BucketedListing>(
    listing: &L,
    entries: &[Entry],
) -> Result<Vec<(ListingPosition<<L::Item as Listed>::Id>, Option<L::Item>)>, ViewError> {
    stream::iter(entries.iter().cloned())
        .map(|(at, id)| async move {
            let id: [u8; 16] = id
                .try_into()
                .map_err(|id: Vec<u8>| ViewError::Corrupt(format!("listing: id of {} bytes", id.len())))?;
            let position = ListingPosition { at_ms: at.timestamp_millis(), id: ListingId::from_id_bytes(id) };
            let found = listing.item(position.id).await?;
            Ok::<_, ViewError>((position, found.filter(|item| item.position() == position)))
        })
        .buffered(CHECKS_IN_FLIGHT)
        .try_collect()
        .await
}

/// One page of a bucket's index entries, read by `statement`.
pub(crate) async fn entries_page(
    session: &Session,
    statement: &PreparedStatement,
    values: impl SerializeRow,
    paging: PagingState,
) -> Result<(Vec<Entry>, ControlFlow<(), PagingState>), ViewError> {
    let what = statement.get_statement();
    let (result, paging) =
        session.execute_single_page(statement, values, paging).await.map_err(|e| error::execution(what, e))?;
    let result = result.into_rows_result().map_err(|e| error::decode(what, e))?;
    let entries = result
        .rows::<Entry>()
        .map_err(|e| error::decode(what, e))?
        .map(|row| row.map_err(|e| error::decode(what, e)))
        .collect::<Result<Vec<_>, ViewError>>()?;
    Ok((entries, paging.into_paging_control_flow()))
}
