//! Running one replay: queue what its walk selects, paced, recording how far it got
//! after each page; then wait until every queued attempt has ended, and end it.
//!
//! Each task of a page is read back from the log (the views point at its record) and
//! queued as one more attempt, `attempts_count() + 1`, marked with the replay, in the
//! shortest retry tier ([`hookline_records::retried_by_hand`]), due at the pace of
//! [`crate::pace`]. Once a page's attempts are durable, a `ReplayProgressed` records
//! the count and the cursor after the page: a replay taken up again after a crash
//! starts from there, so that it may queue a task twice, never skip one.
//!
//! A task whose payload the log no longer holds, or whose subscription was deleted, is
//! skipped, counted and logged. A replay that could send nothing of what it matched
//! ends `failed`, with the reason; so does one whose walk the views refuse for good.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::stream::{self, StreamExt, TryStreamExt};
use hookline_domain::replay::{ReplayCursor, ReplayEvent, ReplayMark, ReplayRequested, ReplayState};
use hookline_domain::{OperationalData, OperationalEvent, RetryPolicy, SubscriptionState, TaskAccepted, TaskView};
use hookline_log::consume::Backoff;
use hookline_log::{EventLog, LogError, NewRecord};
use hookline_quarantine::Reason;
use hookline_records::{operational_record, replay_record, retried_by_hand};
use hookline_views::{ViewError, ViewStore};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::error::ReplayError;
use crate::metrics::{ReplayMetrics, Skip};
use crate::pace::{Pacer, APPEND_WINDOW};
use crate::payload::{read_task, ReadError, StoredTask};
use crate::walk::Walk;

/// Payloads read from the log at once while a page is prepared.
const PAYLOAD_READS: usize = 8;

/// What a replay runs on, shared by every replay of the process.
pub(crate) struct Runner {
    pub log: Arc<dyn EventLog>,
    pub views: Arc<dyn ViewStore>,
    pub retry: RetryPolicy,
    /// Tasks per page of the walk (and per progress record).
    pub page_size: usize,
    /// How often the views are read while waiting for the queued attempts to end.
    pub watch_every: Duration,
    pub metrics: Arc<ReplayMetrics>,
}

/// A replay taken up: as asked for, and as far as its records say it got.
#[derive(Clone, Debug)]
pub(crate) struct Resume {
    pub request: ReplayRequested,
    pub queued: u64,
    /// Where the walk goes on (`None` with `all_queued` false: at its start).
    pub next: Option<ReplayCursor>,
    pub all_queued: bool,
    pub cancelled: bool,
}

/// How the queueing of a replay ended.
enum Queueing {
    /// Every matching task is queued.
    Done,
    /// Cancelled: nothing more is queued.
    Cancelled,
    /// The process is stopping: the replay is taken up again after its last progress.
    Stopped,
    /// It cannot go on, for this reason.
    Failed(String),
}

/// What a replay has done so far in this run.
#[derive(Debug, Default)]
struct Tally {
    queued: u64,
    /// Tasks skipped in this run (a restart counts afresh).
    skipped: u64,
}

impl Runner {
    /// Runs the replay until it has ended (`cancel`: it was cancelled) or `stop`.
    /// Errors are the log's or the views' that will not pass.
    pub async fn run(
        self: Arc<Self>,
        resume: Resume,
        cancel: CancellationToken,
        stop: CancellationToken,
    ) -> Result<(), ReplayError> {
        let request = resume.request.clone();
        let span = tracing::info_span!("replay", replay_id = %request.replay_id, tenant_id = %request.tenant_id);
        async move {
            let mut tally = Tally { queued: resume.queued, skipped: 0 };
            if resume.cancelled {
                return self.end(&request, ReplayState::Cancelled, &tally, None, &stop).await;
            }
            if !resume.all_queued {
                let from = resume.next.clone().unwrap_or_else(Walk::start);
                tracing::info!(queued = tally.queued, subscription_index = from.subscription_index, "replay queueing");
                match self.queue(&request, from, &mut tally, &cancel, &stop).await? {
                    Queueing::Done => {}
                    Queueing::Cancelled => {
                        return self.end(&request, ReplayState::Cancelled, &tally, None, &stop).await;
                    }
                    Queueing::Stopped => return Ok(()),
                    Queueing::Failed(reason) => {
                        return self.end(&request, ReplayState::Failed, &tally, Some(reason), &stop).await;
                    }
                }
            }
            if tally.queued == 0 && tally.skipped > 0 {
                let reason = format!(
                    "none of the {} matching tasks could be sent again: their payloads are past the log's retention or their subscriptions were deleted",
                    tally.skipped
                );
                return self.end(&request, ReplayState::Failed, &tally, Some(reason), &stop).await;
            }
            let reason = skipped_reason(&tally);
            match self.watch(&request, &tally, &cancel, &stop).await {
                Some(state) => self.end(&request, state, &tally, reason, &stop).await,
                None => Ok(()),
            }
        }
        .instrument(span)
        .await
    }

    /// Queues the walk's tasks page by page from `at`. The next page is read (from the
    /// views, and its payloads from the log) while the current one is paced out, so
    /// that reading does not slow the pace: two pages are held at most.
    async fn queue(
        &self,
        request: &ReplayRequested,
        at: ReplayCursor,
        tally: &mut Tally,
        cancel: &CancellationToken,
        stop: &CancellationToken,
    ) -> Result<Queueing, ReplayError> {
        if self.retry.tier_delays().is_empty() {
            return Ok(Queueing::Failed("retries are off (MAX_RETRIES is 1): no attempt can be queued".into()));
        }
        let walk = Walk::of(self.views.as_ref(), request);
        let mark = ReplayMark { replay_id: request.replay_id, target_url: request.target_url.clone() };
        let lead = self.retry.tier_delays()[0];
        let mut pacer = Pacer::new(request.rate_per_second, lead);
        let mut prepared = self.prepare(&walk, &at, stop).await?;
        loop {
            let page = match prepared {
                Prepared::Page(page) => page,
                Prepared::Stopped => return Ok(Queueing::Stopped),
                Prepared::Refused(reason) => return Ok(Queueing::Failed(reason)),
            };
            if cancel.is_cancelled() {
                return Ok(Queueing::Cancelled);
            }
            tally.skipped += page.skipped;
            let records = page.tasks.into_iter().map(|(view, task)| (task, view.attempts_count() + 1));
            let upcoming = async {
                match &page.next {
                    Some(next) => Some(self.prepare(&walk, next, stop).await),
                    None => None,
                }
            };
            let (paced, upcoming) =
                tokio::join!(self.append_paced(records, &mark, &mut pacer, &mut tally.queued, cancel, stop), upcoming);
            match paced? {
                Paced::All => {}
                Paced::Cancelled => return Ok(Queueing::Cancelled),
                Paced::Stopped => return Ok(Queueing::Stopped),
            }
            let progressed = ReplayEvent::ReplayProgressed {
                replay_id: request.replay_id,
                queued: tally.queued,
                next: page.next.clone(),
                at: Utc::now(),
            };
            if !self.append(vec![replay_record(&progressed)], stop).await? {
                return Ok(Queueing::Stopped);
            }
            tracing::debug!(queued = tally.queued, done = page.next.is_none(), "replay progressed");
            match upcoming {
                Some(next) => prepared = next?,
                None => return Ok(Queueing::Done),
            }
        }
    }

    /// The page of the walk at `at`, with the payloads of the tasks that can be sent again.
    async fn prepare(
        &self,
        walk: &Walk<'_>,
        at: &ReplayCursor,
        stop: &CancellationToken,
    ) -> Result<Prepared, ReplayError> {
        let page = match patiently(stop, || walk.page(at, self.page_size)).await {
            None => return Ok(Prepared::Stopped),
            Some(Ok(page)) => page,
            Some(Err(e)) => return Ok(Prepared::Refused(format!("the views refused the walk: {e}"))),
        };
        let reading = std::time::Instant::now();
        let listed = page.tasks.len() as u64;
        let Some(tasks) = self.readable(page.subscription, page.tasks, stop).await? else {
            return Ok(Prepared::Stopped);
        };
        tracing::debug!(tasks = tasks.len(), took_ms = reading.elapsed().as_millis() as u64, "page read from the log");
        let skipped = listed - tasks.len() as u64;
        Ok(Prepared::Page(ReadyPage { tasks, skipped, next: page.next }))
    }

    /// The page's tasks that can be sent again, each with its payload read from the
    /// log; the others are skipped, counted and logged. `None`: shutdown came first.
    async fn readable(
        &self,
        subscription: Option<hookline_domain::SubscriptionId>,
        tasks: Vec<TaskView>,
        stop: &CancellationToken,
    ) -> Result<Option<Vec<(TaskView, TaskAccepted)>>, ReplayError> {
        let Some(subscription) = subscription.filter(|_| !tasks.is_empty()) else {
            return Ok(Some(Vec::new()));
        };
        let state = match patiently(stop, || self.views.subscription(subscription)).await {
            None => return Ok(None),
            Some(state) => state?,
        };
        // A disabled subscription's tasks are queued all the same: the delivery role
        // parks them until it is enabled again, as it does for any of its tasks.
        if !matches!(state, Some(SubscriptionState::Live(_))) {
            tracing::warn!(subscription_id = %subscription, tasks = tasks.len(), "subscription deleted, its tasks skipped");
            self.metrics.skipped(Skip::SubscriptionGone, tasks.len() as u64);
            return Ok(Some(Vec::new()));
        }
        let reads = stream::iter(tasks)
            .map(|view| async move {
                let read = patiently(stop, || read_task(self.views.as_ref(), self.log.as_ref(), view.task_id)).await;
                Ok::<_, ReplayError>(read.map(|read| (view, read)))
            })
            .buffered(PAYLOAD_READS)
            .try_collect::<Vec<_>>()
            .await?;
        let mut found = Vec::with_capacity(reads.len());
        for read in reads {
            let Some((view, read)) = read else { return Ok(None) };
            match read {
                Ok(StoredTask::Found(task)) => found.push((view, task)),
                Ok(StoredTask::NotKept) | Ok(StoredTask::Gone(_)) => {
                    tracing::warn!(task_id = %view.task_id, subscription_id = %subscription, "payload no longer kept, task skipped");
                    self.metrics.skipped(Skip::PayloadGone, 1);
                }
                Err(ReadError::Log(LogError::Corrupt(e))) => {
                    tracing::warn!(task_id = %view.task_id, subscription_id = %subscription, error = %e, "payload unreadable, task skipped");
                    self.metrics.skipped(Skip::PayloadGone, 1);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Some(found))
    }

    /// Appends one attempt per task, each as soon as the pacer lets it go.
    async fn append_paced(
        &self,
        tasks: impl Iterator<Item = (TaskAccepted, u32)>,
        mark: &ReplayMark,
        pacer: &mut Pacer,
        queued: &mut u64,
        cancel: &CancellationToken,
        stop: &CancellationToken,
    ) -> Result<Paced, ReplayError> {
        let mut tasks = tasks.peekable();
        while tasks.peek().is_some() {
            let now = Utc::now();
            let mut batch = Vec::new();
            while tasks.peek().is_some() {
                let Some(due) = pacer.take(now) else { break };
                let Some((task, attempt)) = tasks.next() else { break };
                tracing::trace!(task_id = %task.task_id, subscription_id = %task.subscription_id, attempt, %due, "attempt queued");
                // The policy has tiers (checked before queueing).
                batch.extend(retried_by_hand(&self.retry, &task, attempt, due, Some(mark.clone())));
            }
            if !batch.is_empty() {
                let Some(appended) = self.append_attempts(batch, stop).await? else {
                    return Ok(Paced::Stopped);
                };
                *queued += appended;
                self.metrics.queued(appended);
            }
            if tasks.peek().is_none() {
                break;
            }
            // Appends are batched over a part of the append window at least.
            let gap = chrono::TimeDelta::from_std(APPEND_WINDOW / 2).unwrap_or_default();
            let wake = pacer.append_at().map_or(now + gap, |at| at.max(now + gap));
            let wait = (wake - Utc::now()).to_std().unwrap_or_default();
            tokio::select! {
                biased;
                _ = stop.cancelled() => return Ok(Paced::Stopped),
                _ = cancel.cancelled() => return Ok(Paced::Cancelled),
                _ = tokio::time::sleep(wait) => {}
            }
        }
        Ok(Paced::All)
    }

    /// Appends a batch of attempts; one the log refuses for good (larger than it
    /// takes) is skipped and counted, the others go in. Returns how many went in;
    /// `None`: shutdown came first.
    async fn append_attempts(
        &self,
        batch: Vec<NewRecord>,
        stop: &CancellationToken,
    ) -> Result<Option<u64>, ReplayError> {
        let size = batch.len() as u64;
        match self.try_append(batch.clone(), stop).await {
            Some(Ok(())) => return Ok(Some(size)),
            None => return Ok(None),
            Some(Err(e)) if Reason::of_refusal(&e).is_none() => return Err(e.into()),
            Some(Err(_)) => {}
        }
        let mut queued = 0;
        for record in batch {
            match self.try_append(vec![record], stop).await {
                None => return Ok(None),
                Some(Ok(())) => queued += 1,
                Some(Err(e)) if Reason::of_refusal(&e).is_some() => {
                    tracing::warn!(error = %e, "attempt refused by the log, task skipped");
                    self.metrics.skipped(Skip::TooLarge, 1);
                }
                Some(Err(e)) => return Err(e.into()),
            }
        }
        Ok(Some(queued))
    }

    /// Appends durably; `false`: shutdown came first.
    async fn append(&self, records: Vec<NewRecord>, stop: &CancellationToken) -> Result<bool, ReplayError> {
        match self.try_append(records, stop).await {
            None => Ok(false),
            Some(result) => result.map(|()| true).map_err(Into::into),
        }
    }

    async fn try_append(&self, records: Vec<NewRecord>, stop: &CancellationToken) -> Option<Result<(), LogError>> {
        patiently(stop, || {
            let records = records.clone();
            async move { self.log.append(records).await.map(|_| ()) }
        })
        .await
    }

    /// Waits until every queued attempt has ended (delivered, or failed for good), as
    /// the views count them. `None`: shutdown came first.
    async fn watch(
        &self,
        request: &ReplayRequested,
        tally: &Tally,
        cancel: &CancellationToken,
        stop: &CancellationToken,
    ) -> Option<ReplayState> {
        tracing::info!(queued = tally.queued, "replay queued everything, waiting for the attempts to end");
        loop {
            match self.views.replay(request.replay_id).await {
                Ok(Some(view)) if view.delivered + view.failed >= tally.queued => return Some(ReplayState::Completed),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "reading the replay's view failed, trying again"),
            }
            tokio::select! {
                biased;
                _ = stop.cancelled() => return None,
                _ = cancel.cancelled() => return Some(ReplayState::Cancelled),
                _ = tokio::time::sleep(self.watch_every) => {}
            }
        }
    }

    /// Ends the replay: its `ReplayEnded` and the operational event that tells its
    /// tenant, in one append.
    async fn end(
        &self,
        request: &ReplayRequested,
        state: ReplayState,
        tally: &Tally,
        reason: Option<String>,
        stop: &CancellationToken,
    ) -> Result<(), ReplayError> {
        let (delivered, failed) = match patiently(stop, || self.views.replay(request.replay_id)).await {
            None => return Ok(()),
            Some(Ok(Some(view))) => (view.delivered, view.failed),
            Some(Ok(None)) => (0, 0),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "the replay's counts are unreadable, ended without them");
                (0, 0)
            }
        };
        let at = Utc::now();
        let replay_id = request.replay_id;
        let ended = ReplayEvent::ReplayEnded {
            replay_id,
            state,
            queued: tally.queued,
            delivered,
            failed,
            reason: reason.clone(),
            at,
        };
        let told = OperationalEvent {
            event_id: OperationalEvent::id_for(&request.tenant_id, replay_id.as_bytes()),
            tenant_id: request.tenant_id.clone(),
            timestamp: at,
            data: OperationalData::ReplayCompleted {
                replay_id,
                state,
                matched: request.matched,
                queued: tally.queued,
                delivered,
                failed,
            },
        };
        if self.append(vec![replay_record(&ended), operational_record(&told)], stop).await? {
            self.metrics.ended(state.as_str());
            tracing::info!(state = state.as_str(), queued = tally.queued, delivered, failed, reason, "replay ended");
        }
        Ok(())
    }
}

/// A page of the walk ready to be queued.
struct ReadyPage {
    tasks: Vec<(TaskView, TaskAccepted)>,
    /// Tasks of the page that cannot be sent again.
    skipped: u64,
    next: Option<ReplayCursor>,
}

/// What reading a page came to.
enum Prepared {
    Page(ReadyPage),
    /// Shutdown came first.
    Stopped,
    /// The views refuse the walk for good (a cursor they no longer take), for this reason.
    Refused(String),
}

/// How the pacing of one page ended.
enum Paced {
    All,
    Cancelled,
    Stopped,
}

/// What a completed replay says about what it skipped in this run.
fn skipped_reason(tally: &Tally) -> Option<String> {
    (tally.skipped > 0).then(|| {
        format!(
            "{} matching tasks were skipped: their payloads are past the log's retention or their subscriptions were deleted",
            tally.skipped
        )
    })
}

/// Runs `op` until it succeeds or fails for good, waiting out failures that may pass;
/// `None`: `stop` came first.
async fn patiently<T, E, F, Fut>(stop: &CancellationToken, mut op: F) -> Option<Result<T, E>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
    E: Retryable + std::fmt::Display,
{
    let mut backoff = Backoff::new();
    loop {
        let result = tokio::select! {
            biased;
            _ = stop.cancelled() => return None,
            result = op() => result,
        };
        match result {
            Err(e) if e.may_pass() => {
                tracing::warn!(error = %e, "replay step failed, retrying");
                if !backoff.wait(stop).await {
                    return None;
                }
            }
            result => return Some(result),
        }
    }
}

/// An error that may pass if the same call is made again.
trait Retryable {
    fn may_pass(&self) -> bool;
}

impl Retryable for LogError {
    fn may_pass(&self) -> bool {
        self.is_retryable()
    }
}

impl Retryable for ViewError {
    fn may_pass(&self) -> bool {
        self.is_retryable()
    }
}

impl Retryable for ReadError {
    fn may_pass(&self) -> bool {
        self.is_retryable()
    }
}
