//! When a subscription is disabled for its receiver's sake: at once on 410 Gone, or
//! after a sustained failure — every attempt failed for at least a period and at
//! least a number of attempts, with no success in between.
//!
//! The failure streaks live in memory, per process: a restart (or a rebalance that
//! moves a subscription's partitions) starts them again, which can only delay a
//! disabling, never cause one. At most [`STREAKS_REMEMBERED`] are kept; past that the
//! coldest are forgotten, which again can only delay a disabling. Pure: times are
//! passed in.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use hookline_domain::SubscriptionId;
use quick_cache::unsync::Cache;

/// The seed has no such setting; big senders disable after about five days.
pub const DEFAULT_DISABLE_AFTER_FAILING: Duration = Duration::from_secs(5 * 24 * 3600);
pub const DEFAULT_DISABLE_AFTER_ATTEMPTS: u32 = 50;
/// Failing subscriptions whose streak is kept (about 100 bytes each).
pub const STREAKS_REMEMBERED: usize = 100_000;

/// How long, and over how many attempts, a subscription must fail before it is disabled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DisablePolicy {
    /// `HOOKLINE_DISABLE_AFTER_FAILING_SECONDS`.
    pub after_failing: Duration,
    /// `HOOKLINE_DISABLE_AFTER_ATTEMPTS`.
    pub after_attempts: u32,
}

impl Default for DisablePolicy {
    fn default() -> Self {
        Self { after_failing: DEFAULT_DISABLE_AFTER_FAILING, after_attempts: DEFAULT_DISABLE_AFTER_ATTEMPTS }
    }
}

/// What an attempt told about its receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Succeeded,
    Failed,
    /// 410 Gone: the receiver is gone for good.
    Gone,
}

/// One subscription's failures since its last success.
#[derive(Debug)]
struct Streak {
    since: DateTime<Utc>,
    failures: u32,
}

/// The failure streak of every subscription this process delivers to.
pub struct Streaks {
    policy: DisablePolicy,
    streaks: Mutex<Cache<SubscriptionId, Streak>>,
}

impl Streaks {
    pub fn new(policy: DisablePolicy) -> Self {
        Self::with_capacity(policy, STREAKS_REMEMBERED)
    }

    fn with_capacity(policy: DisablePolicy, capacity: usize) -> Self {
        Self { policy, streaks: Mutex::new(Cache::new(capacity)) }
    }

    /// Notes the verdict of an attempt made at `at`; returns why the subscription must
    /// now be disabled, if it must. A disabling starts the streak again.
    pub fn observe(&self, id: SubscriptionId, verdict: Verdict, at: DateTime<Utc>) -> Option<String> {
        // A poisoned lock only means another attempt panicked mid-update: the counts stay usable.
        let mut streaks = self.streaks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match verdict {
            Verdict::Succeeded => {
                streaks.remove(&id);
                None
            }
            Verdict::Gone => {
                streaks.remove(&id);
                Some(format!("receiver answered 410 Gone at {}", at.to_rfc3339_opts(SecondsFormat::Secs, true)))
            }
            Verdict::Failed => {
                let (since, failures) = match streaks.get_mut(&id) {
                    Some(mut streak) => {
                        streak.failures += 1;
                        (streak.since, streak.failures)
                    }
                    None => {
                        streaks.insert(id, Streak { since: at, failures: 1 });
                        (at, 1)
                    }
                };
                let failing_for = (at - since).to_std().unwrap_or_default();
                if failures < self.policy.after_attempts || failing_for < self.policy.after_failing {
                    return None;
                }
                let reason = format!(
                    "every attempt failed since {} ({failures} attempts, no success)",
                    since.to_rfc3339_opts(SecondsFormat::Secs, true),
                );
                streaks.remove(&id);
                Some(reason)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    fn streaks() -> Streaks {
        Streaks::new(DisablePolicy { after_failing: Duration::from_secs(60), after_attempts: 3 })
    }

    #[test]
    fn gone_disables_at_once() {
        let at = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z").unwrap().with_timezone(&Utc);
        let reason = streaks().observe(SubscriptionId::new(), Verdict::Gone, at);
        assert_eq!(reason.as_deref(), Some("receiver answered 410 Gone at 2026-01-02T03:04:05Z"));
    }

    #[test]
    fn both_the_period_and_the_attempts_are_needed() {
        let (streaks, id, t0) = (streaks(), SubscriptionId::new(), Utc::now());
        // Many attempts in a short time: not yet.
        for n in 0..10 {
            assert_eq!(streaks.observe(id, Verdict::Failed, t0 + TimeDelta::seconds(n)), None);
        }
        let reason = streaks.observe(id, Verdict::Failed, t0 + TimeDelta::seconds(60)).expect("disabled");
        assert!(reason.contains("(11 attempts, no success)"), "{reason}");
        // The streak starts again after a disabling.
        assert_eq!(streaks.observe(id, Verdict::Failed, t0 + TimeDelta::seconds(200)), None);

        // A long time but few attempts: not yet.
        let other = SubscriptionId::new();
        assert_eq!(streaks.observe(other, Verdict::Failed, t0), None);
        assert_eq!(streaks.observe(other, Verdict::Failed, t0 + TimeDelta::hours(5)), None);
        assert!(streaks.observe(other, Verdict::Failed, t0 + TimeDelta::hours(6)).is_some());
    }

    #[test]
    fn streaks_are_capped_and_a_forgotten_one_starts_again() {
        let streaks = Streaks::with_capacity(DisablePolicy { after_failing: Duration::ZERO, after_attempts: 2 }, 100);
        let t0 = Utc::now();
        let first = SubscriptionId::new();
        assert_eq!(streaks.observe(first, Verdict::Failed, t0), None);
        for _ in 0..1_000 {
            streaks.observe(SubscriptionId::new(), Verdict::Failed, t0);
        }
        let held = streaks.streaks.lock().unwrap().len();
        assert!(held <= 100, "{held} streaks held");
        // Forgotten (or not), the first subscription is disabled after at most two more failures.
        let disabled = (1..=2).find_map(|n| streaks.observe(first, Verdict::Failed, t0 + TimeDelta::seconds(n)));
        assert!(disabled.is_some());
    }

    #[test]
    fn a_success_ends_the_streak() {
        let (streaks, id, t0) = (streaks(), SubscriptionId::new(), Utc::now());
        streaks.observe(id, Verdict::Failed, t0);
        streaks.observe(id, Verdict::Failed, t0 + TimeDelta::seconds(30));
        streaks.observe(id, Verdict::Succeeded, t0 + TimeDelta::seconds(40));
        assert_eq!(streaks.observe(id, Verdict::Failed, t0 + TimeDelta::seconds(70)), None);
    }
}
