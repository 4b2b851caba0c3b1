//! Concurrency bounds: at most `global` attempts in all at once in this process, and
//! for each subscription at most its own limit — the `max_in_flight` it set, or the
//! one adaptive concurrency finds ([`crate::limiter`]) — never above `per_subscription`.
//!
//! Each subscription has its own fair (FIFO) semaphore, so the records beyond its
//! limit wait in line for that subscription only, and never hold a global slot while
//! they wait: a hanging receiver uses up its own slots, not everyone's. A line's limit
//! can move while attempts run: raised, it gives the line more permits at once;
//! lowered, it takes back free permits and then, as attempts end, the permits they
//! give back, until the line holds as many as its limit. Each line also keeps how fast
//! it drains (attempts completed per second), for deciding whether a task should join
//! it or wait in a retry tier. The lines of idle subscriptions are dropped, rate and
//! all, so the map stays as small as the set of busy ones; an adaptive limit is kept a
//! while longer (the most recent 16,384), so that a subscription that pauses does not
//! start over.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hookline_domain::SubscriptionId;
use hookline_lookup::InFlightLimits;
use hookline_metrics::{Collector, FamilySnapshot, Kind, Sample as MetricSample};
use quick_cache::sync::Cache;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::drain::{DrainRate, Line};
use crate::lag::SchedulingLag;
use crate::limiter::{AdaptiveLimit, Sample, Signal};

/// Adaptive limits kept after their line was dropped.
const REMEMBERED_LIMITS: usize = 16_384;
/// Upper bounds of the buckets of `hookline_delivery_in_flight_limit`.
const LIMIT_BUCKETS: [usize; 10] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

/// How many attempts one subscription may have in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// The subscription's `max_in_flight`.
    Fixed(usize),
    /// Found by adaptive concurrency.
    Adaptive,
}

/// The bounds shared by every consumer of the role.
pub struct Gates {
    global: Arc<Semaphore>,
    per_subscription: usize,
    subscriptions: Arc<Mutex<Lines>>,
    remembered: Arc<Cache<SubscriptionId, AdaptiveLimit>>,
    /// Where each line's limit is posted for the API of this process.
    posted: Arc<InFlightLimits>,
    /// How late the process runs: weighed with every answer.
    lag: SchedulingLag,
}

type Lines = HashMap<SubscriptionId, SubscriptionLine>;

/// One subscription's line: its slots, its limit, and how fast its attempts complete.
struct SubscriptionLine {
    semaphore: Arc<Semaphore>,
    /// The permits the line holds in all (free, or taken by attempts): its limit once
    /// `debt` is paid.
    permits: usize,
    /// Permits to take back as attempts end, since the limit came down below what was taken.
    debt: usize,
    /// Under `"auto"`: the limit that adapts.
    adaptive: Option<AdaptiveLimit>,
    drain: DrainRate,
}

impl SubscriptionLine {
    fn limit(&self) -> usize {
        self.permits - self.debt
    }

    /// Moves the line's limit to `limit`.
    fn resize(&mut self, limit: usize) {
        let current = self.limit();
        if limit > current {
            let mut more = limit - current;
            let forgiven = more.min(self.debt);
            self.debt -= forgiven;
            more -= forgiven;
            self.semaphore.add_permits(more);
            self.permits += more;
        } else if limit < current {
            let fewer = current - limit;
            let taken = self.semaphore.forget_permits(fewer);
            self.permits -= taken;
            self.debt += fewer - taken;
        }
    }

    /// The attempts holding one of the line's slots.
    fn holding_a_slot(&self) -> usize {
        self.permits.saturating_sub(self.semaphore.available_permits())
    }

    /// Whether every slot is taken or tasks wait: a line using its whole limit.
    fn saturated(&self) -> bool {
        // Every running or waiting attempt holds one clone of the semaphore, the map one more: more
        // clones than the limit is a full line.
        Arc::strong_count(&self.semaphore) > self.limit()
    }
}

/// Leave to make one attempt; the slots are given back when it is dropped.
pub struct Pass {
    _global: OwnedSemaphorePermit,
    /// Given back as soon as the receiver has answered: the line counts requests to the
    /// receiver, not outcomes being written.
    subscription: Option<SubscriptionSlot>,
}

impl Pass {
    /// The receiver answered (or did not, within the timeout): tells the line's
    /// adaptive limit (if it has one) how, and gives the subscription's slot back. The
    /// global slot is kept until the pass is dropped, once the outcome is durable.
    pub fn answered(&mut self, latency: Duration, signal: Signal) {
        if let Some(slot) = self.subscription.take() {
            slot.answered(latency, signal);
        }
    }
}

struct SubscriptionSlot {
    id: SubscriptionId,
    permit: Option<OwnedSemaphorePermit>,
    /// Made into a pass: its end is an attempt completed, not a wait given up.
    entered: bool,
    /// The line's attempts holding a slot once this one took its own, itself included.
    in_flight: usize,
    subscriptions: Arc<Mutex<Lines>>,
    remembered: Arc<Cache<SubscriptionId, AdaptiveLimit>>,
    posted: Arc<InFlightLimits>,
    lag: SchedulingLag,
}

impl SubscriptionSlot {
    fn answered(&self, latency: Duration, signal: Signal) {
        let now = Instant::now();
        let mut subscriptions = self.subscriptions.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(line) = subscriptions.get_mut(&self.id) else { return };
        let saturated = line.saturated();
        let Some(adaptive) = &mut line.adaptive else { return };
        let sent_at = now.checked_sub(latency).unwrap_or(now);
        let sample =
            Sample { sent_at, latency, signal, saturated, self_delay: self.lag.recent(), in_flight: self.in_flight };
        adaptive.observe(sample, now);
        let limit = adaptive.limit();
        if limit != line.limit() {
            tracing::debug!(
                from = line.limit(),
                to = limit,
                latency_ms = latency.as_millis() as u64,
                ?signal,
                saturated,
                "in-flight limit moved"
            );
            line.resize(limit);
            self.posted.post(self.id, limit as u32);
        }
    }
}

impl Drop for SubscriptionSlot {
    fn drop(&mut self) {
        let mut subscriptions = self.subscriptions.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(line) = subscriptions.get_mut(&self.id) else { return };
        if let Some(permit) = self.permit.take() {
            if line.debt > 0 {
                // The limit came down: this permit is not given back.
                permit.forget();
                line.debt -= 1;
                line.permits -= 1;
            }
        }
        if self.entered {
            line.drain.completed(Instant::now());
        }
        // Only the map still holds it: nobody is attempting or waiting.
        if Arc::strong_count(&line.semaphore) == 1 {
            if let Some(adaptive) = line.adaptive {
                self.remembered.insert(self.id, adaptive);
            }
            subscriptions.remove(&self.id);
        }
    }
}

impl Gates {
    pub fn new(global: usize, per_subscription: usize, posted: Arc<InFlightLimits>, lag: SchedulingLag) -> Self {
        Self {
            global: Arc::new(Semaphore::new(global)),
            per_subscription: per_subscription.max(1),
            subscriptions: Arc::new(Mutex::new(HashMap::new())),
            remembered: Arc::new(Cache::new(REMEMBERED_LIMITS)),
            posted,
            lag,
        }
    }

    /// Waits in the subscription's line (whose limit `bound` sets; `None`: as it is, or
    /// adaptive for a new line), then for a global slot.
    pub async fn enter(&self, id: SubscriptionId, bound: Option<Bound>) -> Pass {
        let semaphore = {
            let mut subscriptions = self.subscriptions.lock().unwrap_or_else(PoisonError::into_inner);
            let line = subscriptions.entry(id).or_insert_with(|| SubscriptionLine {
                semaphore: Arc::new(Semaphore::new(0)),
                permits: 0,
                debt: 0,
                adaptive: None,
                drain: DrainRate::new(Instant::now()),
            });
            self.apply(id, line, bound);
            line.semaphore.clone()
        };
        // Registered before awaiting, so the semaphore outlives this wait even when the
        // future is dropped midway (the slot's Drop then tidies the map).
        let mut slot = SubscriptionSlot {
            id,
            permit: None,
            entered: false,
            in_flight: 0,
            subscriptions: self.subscriptions.clone(),
            remembered: self.remembered.clone(),
            posted: self.posted.clone(),
            lag: self.lag.clone(),
        };
        // The semaphores are never closed, so acquiring cannot fail.
        slot.permit = semaphore.acquire_owned().await.ok();
        slot.in_flight = self.holding_a_slot(id);
        let global = self.global.clone().acquire_owned().await.expect("the global semaphore is never closed");
        slot.entered = true;
        Pass { _global: global, subscription: Some(slot) }
    }

    /// How many of `id`'s attempts hold a slot of its line.
    fn holding_a_slot(&self, id: SubscriptionId) -> usize {
        let subscriptions = self.subscriptions.lock().unwrap_or_else(PoisonError::into_inner);
        subscriptions.get(&id).map_or(0, SubscriptionLine::holding_a_slot)
    }

    /// Sets the bound of `id`'s line, if it has one (the subscription's settings as
    /// read when its attempt got its turn).
    pub fn bound(&self, id: SubscriptionId, bound: Bound) {
        let mut subscriptions = self.subscriptions.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(line) = subscriptions.get_mut(&id) {
            self.apply(id, line, Some(bound));
        }
    }

    /// Moves `line`'s limit to what `bound` makes it (`None`: as it is, or adaptive for a
    /// new line), and posts it when it changed.
    fn apply(&self, id: SubscriptionId, line: &mut SubscriptionLine, bound: Option<Bound>) {
        let bound = bound.unwrap_or(match (line.adaptive, line.permits) {
            (None, 0) | (Some(_), _) => Bound::Adaptive,
            (None, _) => Bound::Fixed(line.limit()),
        });
        let limit = match bound {
            Bound::Fixed(max) => {
                line.adaptive = None;
                max.clamp(1, self.per_subscription)
            }
            Bound::Adaptive => line
                .adaptive
                .get_or_insert_with(|| {
                    self.remembered
                        .get(&id)
                        .unwrap_or_else(|| AdaptiveLimit::new(self.per_subscription, Instant::now()))
                })
                .limit(),
        };
        if limit != line.limit() {
            line.resize(limit);
            self.posted.post(id, limit as u32);
        }
    }

    /// The line of attempts to `id` as it is now.
    pub fn line(&self, id: SubscriptionId) -> Line {
        let subscriptions = self.subscriptions.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(line) = subscriptions.get(&id) else {
            return Line { occupancy: 0, waiting: 0, drain_rate: 0.0 };
        };
        // Every running or waiting attempt holds one clone of the semaphore; the map holds one more.
        let occupancy = Arc::strong_count(&line.semaphore) - 1;
        Line {
            occupancy,
            waiting: occupancy.saturating_sub(line.holding_a_slot()),
            drain_rate: line.drain.per_second(Instant::now()),
        }
    }

    /// `/metrics`: the limits of the busy lines, as a histogram (no label per subscription).
    pub fn limits_histogram(&self) -> Arc<dyn Collector> {
        Arc::new(LimitsHistogram(self.subscriptions.clone()))
    }

    /// Subscriptions with an attempt running or waiting.
    #[cfg(test)]
    fn busy_subscriptions(&self) -> usize {
        self.subscriptions.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    #[cfg(test)]
    fn limit(&self, id: SubscriptionId) -> Option<usize> {
        self.subscriptions.lock().unwrap_or_else(PoisonError::into_inner).get(&id).map(SubscriptionLine::limit)
    }
}

/// `hookline_delivery_in_flight_limit`: how many busy subscriptions have each limit.
struct LimitsHistogram(Arc<Mutex<Lines>>);

impl Collector for LimitsHistogram {
    fn collect(&self, out: &mut Vec<FamilySnapshot>) {
        let limits: Vec<usize> =
            self.0.lock().unwrap_or_else(PoisonError::into_inner).values().map(SubscriptionLine::limit).collect();
        let mut family = FamilySnapshot::new(
            "hookline_delivery_in_flight_limit",
            "The in-flight limits of the subscriptions with attempts running or waiting in this process \
             (set by max_in_flight, or found by adaptive concurrency).",
            Kind::Histogram,
        );
        let mut sample = |suffix, le: Option<String>, value: usize| {
            let labels = le.map(|le| vec![("le".to_string(), le)]).unwrap_or_default();
            family.samples.push(MetricSample { suffix, labels, value: value as f64 });
        };
        for bound in LIMIT_BUCKETS {
            sample("_bucket", Some(bound.to_string()), limits.iter().filter(|limit| **limit <= bound).count());
        }
        sample("_bucket", Some("+Inf".to_string()), limits.len());
        sample("_sum", None, limits.iter().sum());
        sample("_count", None, limits.len());
        out.push(family);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// As many as the per-subscription cap allows.
    const CAP: Option<Bound> = Some(Bound::Fixed(usize::MAX));

    fn gates(global: usize, per_subscription: usize) -> Gates {
        Gates::new(global, per_subscription, Arc::new(InFlightLimits::new(16)), SchedulingLag::default())
    }

    #[tokio::test]
    async fn a_lowered_limit_takes_back_permits_as_attempts_end() {
        let posted = Arc::new(InFlightLimits::new(16));
        let gates = Gates::new(16, 8, posted.clone(), SchedulingLag::default());
        let id = SubscriptionId::new();
        let mut passes = Vec::new();
        for _ in 0..3 {
            passes.push(gates.enter(id, Some(Bound::Fixed(3))).await);
        }
        assert_eq!((gates.limit(id), posted.current(id)), (Some(3), Some(3)));
        let waiting = tokio::time::timeout(Duration::from_millis(20), gates.enter(id, Some(Bound::Fixed(1)))).await;
        assert!(waiting.is_err(), "three running, the limit now one");
        assert_eq!((gates.limit(id), posted.current(id)), (Some(1), Some(1)));
        passes.pop();
        let still = tokio::time::timeout(Duration::from_millis(20), gates.enter(id, Some(Bound::Fixed(1)))).await;
        assert!(still.is_err(), "two running: still above the limit");
        passes.pop();
        let third = tokio::time::timeout(Duration::from_millis(20), gates.enter(id, Some(Bound::Fixed(1)))).await;
        assert!(third.is_err(), "one running: at the limit");
        passes.pop();
        let pass = tokio::time::timeout(Duration::from_millis(20), gates.enter(id, Some(Bound::Fixed(1)))).await;
        assert!(pass.is_ok(), "none running: one may go");
        // Raised again, at once.
        let second = tokio::time::timeout(Duration::from_millis(20), gates.enter(id, Some(Bound::Fixed(2)))).await;
        assert!(second.is_ok());
    }

    #[tokio::test]
    async fn an_adaptive_line_starts_low_and_follows_its_answers() {
        let posted = Arc::new(InFlightLimits::new(16));
        let gates = Gates::new(64, 64, posted.clone(), SchedulingLag::default());
        let id = SubscriptionId::new();
        let mut passes = Vec::new();
        for _ in 0..4 {
            passes.push(gates.enter(id, Some(Bound::Adaptive)).await);
        }
        assert_eq!(posted.current(id), Some(4));
        // Tasks waiting behind them: the line uses its whole limit.
        let gates = Arc::new(gates);
        let waiting: Vec<_> = (0..8)
            .map(|_| {
                let gates = gates.clone();
                tokio::spawn(async move { gates.enter(id, Some(Bound::Adaptive)).await })
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(5);
        while gates.line(id).waiting < 8 && Instant::now() < deadline {
            tokio::task::yield_now().await;
        }
        // Four quick successes of a full line: slow start doubles the limit, and four
        // of those waiting get in.
        for pass in &mut passes {
            pass.answered(Duration::from_millis(2), Signal::Success);
        }
        assert_eq!((gates.limit(id), posted.current(id)), (Some(8), Some(8)));
        let mut waiting = waiting.into_iter();
        for entered in waiting.by_ref().take(4) {
            passes.push(entered.await.expect("got in"));
        }
        drop(waiting);
        // A 429 cuts it.
        tokio::time::sleep(Duration::from_millis(2)).await;
        passes[7].answered(Duration::from_millis(1), Signal::Overload);
        assert_eq!(posted.current(id), Some(6));
        drop(passes);
        // Those still waiting get in, and leave at once.
        let deadline = Instant::now() + Duration::from_secs(5);
        while gates.busy_subscriptions() > 0 && Instant::now() < deadline {
            tokio::task::yield_now().await;
        }
        // The limit outlives the line.
        assert_eq!(gates.busy_subscriptions(), 0);
        let _again = gates.enter(id, Some(Bound::Adaptive)).await;
        assert_eq!(gates.limit(id), Some(6));
    }

    #[tokio::test]
    async fn the_histogram_counts_busy_lines_by_limit() {
        let gates = gates(64, 64);
        let _a = gates.enter(SubscriptionId::new(), Some(Bound::Fixed(8))).await;
        let _b = gates.enter(SubscriptionId::new(), None).await;
        let registry = hookline_metrics::Registry::new();
        registry.register(gates.limits_histogram());
        let text = registry.render();
        assert!(text.contains("hookline_delivery_in_flight_limit_bucket{le=\"4\"} 1"), "{text}");
        assert!(text.contains("hookline_delivery_in_flight_limit_bucket{le=\"8\"} 2"), "{text}");
        assert!(text.contains("hookline_delivery_in_flight_limit_sum 12"), "{text}");
    }

    #[tokio::test]
    async fn a_full_subscription_does_not_block_others() {
        let gates = gates(4, 2);
        let busy = SubscriptionId::new();
        let _a = gates.enter(busy, CAP).await;
        let _b = gates.enter(busy, CAP).await;
        let third = tokio::time::timeout(Duration::from_millis(50), gates.enter(busy, CAP)).await;
        assert!(third.is_err(), "a third attempt to the same subscription must wait");
        let other = tokio::time::timeout(Duration::from_millis(50), gates.enter(SubscriptionId::new(), CAP)).await;
        assert!(other.is_ok(), "another subscription must get through");
    }

    #[tokio::test]
    async fn the_global_bound_holds() {
        let gates = gates(2, 2);
        let _a = gates.enter(SubscriptionId::new(), CAP).await;
        let _b = gates.enter(SubscriptionId::new(), CAP).await;
        let third = tokio::time::timeout(Duration::from_millis(50), gates.enter(SubscriptionId::new(), CAP)).await;
        assert!(third.is_err());
    }

    #[tokio::test]
    async fn idle_subscriptions_are_forgotten() {
        let gates = gates(4, 1);
        let id = SubscriptionId::new();
        let pass = gates.enter(id, CAP).await;
        let waiting = tokio::time::timeout(Duration::from_millis(20), gates.enter(id, CAP)).await;
        assert!(waiting.is_err());
        assert_eq!(gates.busy_subscriptions(), 1);
        drop(pass);
        assert_eq!(gates.busy_subscriptions(), 0);
    }

    #[tokio::test]
    async fn a_line_shows_who_waits_and_how_fast_it_drains() {
        let gates = Arc::new(gates(4, 1));
        let id = SubscriptionId::new();
        let empty = Line { occupancy: 0, waiting: 0, drain_rate: 0.0 };
        assert_eq!(gates.line(id), empty);

        let first = gates.enter(id, CAP).await;
        let second = tokio::spawn({
            let gates = gates.clone();
            async move { gates.enter(id, CAP).await }
        });
        let deadline = Instant::now() + Duration::from_secs(5);
        while gates.line(id).occupancy < 2 && Instant::now() < deadline {
            tokio::task::yield_now().await;
        }
        // Nothing completed yet: no rate.
        assert_eq!(gates.line(id), Line { occupancy: 2, waiting: 1, drain_rate: 0.0 });

        drop(first);
        let second = second.await.expect("the second attempt gets in");
        let line = gates.line(id);
        assert_eq!((line.occupancy, line.waiting), (1, 0));
        assert!(line.drain_rate > 0.0, "{line:?}");

        // The rate goes with the line.
        drop(second);
        assert_eq!(gates.line(id), empty);
    }
}
