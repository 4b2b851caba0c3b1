//! The walk over the tasks a replay selects: one piece of code for the count of a dry
//! run (and of the request) and for the role that queues them.
//!
//! It goes through the replay's subscriptions in their order, each one's tasks newest
//! first, through the task listing of the views narrowed to the subscription, the
//! selection's window and (when the selection names one) its status; the selection
//! then keeps what it wants of each page. A [`ReplayCursor`] says where it goes on.
//!
//! Cost: one listing call per page, and a listing call examines at most its page plus
//! [`hookline_views::LISTING_SCAN_BUDGET`] tasks. A count stops after
//! [`COUNT_PAGES`] calls: up to `COUNT_PAGES × COUNT_PAGE_SIZE` matches are counted
//! exactly, a larger selection is said to match "at least" what was counted.

use hookline_domain::replay::{ReplayCursor, ReplayRequested, ReplaySelection};
use hookline_domain::{SubscriptionId, TaskView};
use hookline_views::{TaskFilter, ViewError, ViewStore};

/// Tasks asked for per listing call when counting.
pub const COUNT_PAGE_SIZE: usize = 500;
/// Listing calls a count makes at most: ~200,000 matches counted exactly, at most
/// ~600,000 tasks examined (a few seconds on the embedded views).
pub const COUNT_PAGES: usize = 400;

/// One page of the walk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalkPage {
    /// The subscription the page's tasks belong to (`None`: the walk was already over).
    pub subscription: Option<SubscriptionId>,
    /// The tasks the selection keeps, newest first (fewer than asked, even none, while
    /// `next` is set).
    pub tasks: Vec<TaskView>,
    /// Where the walk goes on; `None`: it is over.
    pub next: Option<ReplayCursor>,
}

/// How many tasks a selection matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MatchCount {
    pub matched: u64,
    /// False when the count stopped at its bound: at least `matched` match.
    pub exact: bool,
}

/// The walk of one replay over the views.
pub struct Walk<'a> {
    views: &'a dyn ViewStore,
    selection: &'a ReplaySelection,
    subscriptions: &'a [SubscriptionId],
}

impl<'a> Walk<'a> {
    pub fn new(views: &'a dyn ViewStore, selection: &'a ReplaySelection, subscriptions: &'a [SubscriptionId]) -> Self {
        Self { views, selection, subscriptions }
    }

    /// The walk of a replay as it was asked for.
    pub fn of(views: &'a dyn ViewStore, request: &'a ReplayRequested) -> Self {
        Self::new(views, &request.selection, &request.subscriptions)
    }

    /// Where a walk starts.
    pub fn start() -> ReplayCursor {
        ReplayCursor { subscription_index: 0, page: None }
    }

    /// The page at `at`, at most `limit` tasks. A cursor no page gave out is
    /// [`ViewError::InvalidCursor`].
    pub async fn page(&self, at: &ReplayCursor, limit: usize) -> Result<WalkPage, ViewError> {
        let index = at.subscription_index as usize;
        let Some(&subscription) = self.subscriptions.get(index) else {
            return Ok(WalkPage { subscription: None, tasks: Vec::new(), next: None });
        };
        let filter = TaskFilter {
            subscription: Some(subscription),
            status: self.selection.listing_status(),
            accepted_since: Some(self.selection.since),
            accepted_before: Some(self.selection.until),
        };
        let page = self.views.tasks(filter, limit, at.page.as_deref()).await?;
        let tasks = page.items.into_iter().filter(|task| self.selection.keeps(task)).collect();
        let next = match page.next {
            Some(cursor) => Some(ReplayCursor { subscription_index: at.subscription_index, page: Some(cursor) }),
            None => (index + 1 < self.subscriptions.len())
                .then(|| ReplayCursor { subscription_index: at.subscription_index + 1, page: None }),
        };
        Ok(WalkPage { subscription: Some(subscription), tasks, next })
    }

    /// Counts the matching tasks, within [`COUNT_PAGES`] listing calls.
    pub async fn count(&self) -> Result<MatchCount, ViewError> {
        self.count_within(COUNT_PAGES, COUNT_PAGE_SIZE).await
    }

    async fn count_within(&self, pages: usize, page_size: usize) -> Result<MatchCount, ViewError> {
        let mut at = Self::start();
        let mut matched = 0u64;
        for _ in 0..pages {
            let page = self.page(&at, page_size).await?;
            matched += page.tasks.len() as u64;
            match page.next {
                Some(next) => at = next,
                None => return Ok(MatchCount { matched, exact: true }),
            }
        }
        Ok(MatchCount { matched, exact: false })
    }
}
