//! How a writer learns what became of a subscription change it appended.
//!
//! A change states the version it would make (see `hookline_domain::versions`);
//! the log's order decides between changes that state the same version, and the
//! views, folding the log by that rule, record which write made each version. The
//! writer waits for that record: its own write id means applied, another one means
//! refused (someone else's change landed first, or the subscription was deleted).

use std::time::Duration;

use hookline_domain::{OperationalEvent, SubscriptionEvent, SubscriptionId, SubscriptionState};
use hookline_log::{Appended, EventLog, LogError};
use hookline_records::change_records;
use hookline_views::ViewError;
use tokio::time::Instant;
use uuid::Uuid;

use crate::SubscriptionDirectory;

/// How often the views are asked while a writer waits.
const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// What the log made of a change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The change made its version.
    Applied,
    /// Another change made that version first, or the subscription is deleted: this
    /// one changed nothing.
    Refused,
    /// The views had not folded the change when the writer stopped waiting; it is
    /// durable and will be applied or refused all the same.
    Unknown,
}

/// Why a subscription change could not be recorded or its verdict learnt.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("a subscription change without a write id")]
    NoWriteId,
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Views(#[from] ViewError),
}

/// A change recorded: what the log made of it, and where it landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recorded {
    pub verdict: Verdict,
    pub at: Appended,
}

impl SubscriptionDirectory {
    /// The one way every writer records a subscription change: sealed with this
    /// directory's sealer, appended with the `decision` it makes (one append, see
    /// `hookline_records::change_records`), then the views' verdict awaited for up to
    /// `patience`; a change applied is remembered here (in plaintext).
    pub async fn record_change(
        &self,
        log: &dyn EventLog,
        change: &SubscriptionEvent,
        decision: Option<&OperationalEvent>,
        patience: Duration,
    ) -> Result<Recorded, ChangeError> {
        let write_id = change.write_id().ok_or(ChangeError::NoWriteId)?;
        let appended = log.append(change_records(&self.sealer.seal_event(change), decision)).await?;
        let at = *appended.first().ok_or_else(|| LogError::Invalid("an append that landed nothing".into()))?;
        let verdict = self.verdict(change.subscription_id(), change.version(), write_id, patience).await?;
        if verdict == Verdict::Applied {
            self.remember(change);
        }
        Ok(Recorded { verdict, at })
    }

    /// What the views hold of `id` now, secrets opened, without the cache: the state a
    /// writer builds its change on.
    pub async fn current(&self, id: SubscriptionId) -> Result<Option<SubscriptionState>, ViewError> {
        match self.views.subscription(id).await? {
            Some(SubscriptionState::Live(stored)) => Ok(Some(SubscriptionState::Live(
                self.sealer.open_subscription(stored).map_err(|e| ViewError::Corrupt(e.to_string()))?,
            ))),
            other => Ok(other),
        }
    }

    /// Like [`SubscriptionDirectory::current`], but waits (up to `patience`) while the
    /// views hold a live version older than `at_least`: a client that read a version
    /// elsewhere may be ahead of these views.
    pub async fn current_at_least(
        &self,
        id: SubscriptionId,
        at_least: u64,
        patience: Duration,
    ) -> Result<Option<SubscriptionState>, ViewError> {
        let deadline = Instant::now() + patience;
        loop {
            let state = self.current(id).await?;
            let behind = matches!(&state, Some(SubscriptionState::Live(live)) if live.version < at_least);
            if !behind || Instant::now() >= deadline {
                return Ok(state);
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Waits (up to `patience`) until the views say whether the write `write_id`,
    /// which stated `version` of `id`, was applied.
    pub async fn verdict(
        &self,
        id: SubscriptionId,
        version: u64,
        write_id: Uuid,
        patience: Duration,
    ) -> Result<Verdict, ViewError> {
        let deadline = Instant::now() + patience;
        loop {
            if let Some(made_by) = self.views.subscription_write(id, version).await? {
                return Ok(if made_by == write_id { Verdict::Applied } else { Verdict::Refused });
            }
            // Nothing follows a deletion, so no write will ever make this version.
            if let Some(SubscriptionState::Deleted { .. }) = self.views.subscription(id).await? {
                // Unless the deletion is this very write, recorded in between.
                let made_by = self.views.subscription_write(id, version).await?;
                return Ok(if made_by == Some(write_id) { Verdict::Applied } else { Verdict::Refused });
            }
            if Instant::now() >= deadline {
                return Ok(Verdict::Unknown);
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}
