//! Write timestamps and TTLs: how blind writes converge to the same rows
//! whatever order the log is replayed in.
//!
//! CQL keeps, per cell, the value with the highest write timestamp; at equal
//! timestamps the cell that expires later wins (Cassandra since CASSANDRA-14592,
//! ScyllaDB since scylladb#14183), then the larger value. So instead of reading a
//! row to merge into it, every write says with its timestamp how it ranks:
//!
//! * an attempt (the task's `last_attempt` and its `attempts_by_task` row):
//!   attempt number, then outcome (failed < permanently failed < success), then
//!   time, the order of `TaskView::merge`;
//! * a task's identity cells (subscription, event type, acceptance time): the
//!   earlier acceptance time wins, and among writes of the same acceptance time
//!   (all of them, in practice) the one that expires last, so those cells live as
//!   long as the task's latest attempt;
//! * subscriptions: the event's own time in microseconds (a deletion one
//!   microsecond later), so that changes the log accepted one after the other
//!   within a millisecond keep their order;
//! * a task's payload and its listing entries: the time (milliseconds) their TTL
//!   counts from, so the write that expires last wins;
//! * the listing buckets (of tasks and of events), which entries of many tasks or
//!   events share: their expiry (milliseconds), so the write that expires last
//!   wins even when the writers' retentions differ (a retention shortened while
//!   older entries still live);
//! * an event's row: its record's place in the log, falling as the offset (then
//!   the partition) grows, so the first record of an event appended twice wins;
//!   its listing entry: the time its TTL counts from, as for a task's;
//! * when a token was last used: the time of the use in microseconds, so the
//!   latest use wins;
//! * a replay's cells: its request and `all_queued` a constant (each only ever
//!   holds one value); its progress the number of tasks queued, so the furthest wins; its
//!   cancellation as a task's identity, so the earliest wins; its end and latest
//!   activity their time, so the latest wins. Its cells are written again with the
//!   same timestamps and a later expiry as the replay goes on;
//! * a replay's task outcome: the outcome's rank (failed for good < delivered).
//!
//! These timestamps are not wall-clock times: never write these tables without
//! them, and never give them a time-window compaction strategy.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hookline_domain::Outcome;

/// Milliseconds fit in 42 bits until the year 2109.
const MILLIS_BITS: u32 = 42;
const MILLIS_MAX: i64 = (1 << MILLIS_BITS) - 1;
const OUTCOME_BITS: u32 = 2;
/// The attempt number takes the remaining 19 bits of a positive i64.
const NUMBER_MAX: u32 = (1 << (63 - MILLIS_BITS - OUTCOME_BITS)) - 1;
/// The longest TTL CQL accepts (20 years).
const MAX_TTL_SECS: i64 = 20 * 365 * 24 * 60 * 60;

fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis().clamp(0, MILLIS_MAX)
}

fn outcome_rank(outcome: Outcome) -> i64 {
    match outcome {
        Outcome::FailedAttempt => 0,
        Outcome::PermanentlyFailed => 1,
        Outcome::Success => 2,
    }
}

/// The write timestamp of an attempt record: higher for the attempt that wins.
pub(crate) fn attempt_rank(number: u32, outcome: Outcome, at: DateTime<Utc>) -> i64 {
    let number = i64::from(number.min(NUMBER_MAX));
    (number << (MILLIS_BITS + OUTCOME_BITS)) | (outcome_rank(outcome) << MILLIS_BITS) | millis(at)
}

/// The write timestamp of a task's identity cells: higher for an earlier acceptance.
pub(crate) fn task_identity(created_at: DateTime<Utc>) -> i64 {
    earliest_wins(created_at)
}

/// The write timestamp of a replay's cancellation: the earliest wins.
pub(crate) fn replay_cancelled(at: DateTime<Utc>) -> i64 {
    earliest_wins(at)
}

/// A write timestamp higher for an earlier time.
fn earliest_wins(at: DateTime<Utc>) -> i64 {
    (MILLIS_MAX + 1) - millis(at)
}

/// The write timestamp of a replay's progress: the most tasks queued wins.
pub(crate) fn replay_progress(queued: u64) -> i64 {
    i64::try_from(queued).unwrap_or(i64::MAX)
}

/// The write timestamp of cells that only ever hold one value (a replay's request,
/// its `all_queued`): rewriting them only makes them expire later.
pub(crate) const ONE_VALUE: i64 = 0;

/// The write timestamp of a row whose TTL counts from `at`: the row that lives
/// longest wins, and reading it back gives `at` to the millisecond.
pub(crate) fn lives_from(at: DateTime<Utc>) -> i64 {
    millis(at)
}

/// The write timestamp of a row that expires at `expires`, whatever its retention:
/// the row that lives longest wins.
pub(crate) fn lives_until(expires: DateTime<Utc>) -> i64 {
    millis(expires)
}

/// The time a row stamped by [`lives_from`] counts its TTL from.
pub(crate) fn lived_from(stamp: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(stamp).unwrap_or(DateTime::UNIX_EPOCH)
}

/// The write timestamp of a subscription created or updated at `updated_at`.
pub(crate) fn subscription_upsert(updated_at: DateTime<Utc>) -> i64 {
    updated_at.timestamp_micros()
}

/// The write timestamp of a subscription deleted at `deleted_at`: a deletion wins
/// over an update of the same microsecond, whichever is applied last.
pub(crate) fn subscription_delete(deleted_at: DateTime<Utc>) -> i64 {
    subscription_upsert(deleted_at).saturating_add(1)
}

/// Offsets fit in 47 bits and partitions in 15 (a log of 2^47 records per partition,
/// or 32,768 partitions, is beyond any hookline runs on); larger ones are clamped.
const OFFSET_BITS: u32 = 47;
const PARTITION_BITS: u32 = 15;

/// The write timestamp of an event's row, written by its record at `partition` and
/// `offset`: higher for the record earlier in the log.
pub(crate) fn event_record(partition: u32, offset: u64) -> i64 {
    let offset = offset.min((1 << OFFSET_BITS) - 1) as i64;
    let partition = i64::from(partition.min((1 << PARTITION_BITS) - 1));
    ((1 << (OFFSET_BITS + PARTITION_BITS)) - 1) - ((offset << PARTITION_BITS) | partition)
}

/// The write timestamp of a token's use at `at`: the latest use wins.
pub(crate) fn token_use(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// When a row about something that happened at `at` stops being visible.
pub(crate) fn expiry(at: DateTime<Utc>, retention: Duration) -> DateTime<Utc> {
    let retention = chrono::TimeDelta::from_std(retention).unwrap_or(chrono::TimeDelta::MAX);
    at.checked_add_signed(retention).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The TTL in whole seconds (rounded up, so the database never drops a row before
/// its expiry) of a row expiring at `expires`, or `None` if it has expired by `now`.
pub(crate) fn ttl_secs(expires: DateTime<Utc>, now: DateTime<Utc>) -> Option<i32> {
    let left_ms = expires.signed_duration_since(now).num_milliseconds();
    if left_ms <= 0 {
        return None;
    }
    let secs = (left_ms + 999) / 1000;
    Some(i32::try_from(secs.min(MAX_TTL_SECS)).unwrap_or(i32::MAX))
}

/// Days since the epoch (UTC) of `at`: the bucket of `attempts_by_subscription`
/// and `tasks_by_subscription`.
pub(crate) fn day(at: DateTime<Utc>) -> i32 {
    bucket(at.timestamp(), 86_400)
}

/// Hours since the epoch (UTC) of `at`: the bucket of `tasks_by_hour`.
pub(crate) fn hour(at: DateTime<Utc>) -> i32 {
    bucket(at.timestamp(), 3_600)
}

/// Minutes since the epoch (UTC) of `at`: the bucket of `events_by_tenant`.
pub(crate) fn minute(at: DateTime<Utc>) -> i32 {
    bucket(at.timestamp(), 60)
}

fn bucket(secs: i64, width: i64) -> i32 {
    let n = secs.div_euclid(width);
    i32::try_from(n).unwrap_or(if n < 0 { i32::MIN } else { i32::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn at(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(ms).single().expect("valid millis")
    }

    fn outcome(i: u8) -> Outcome {
        [Outcome::FailedAttempt, Outcome::PermanentlyFailed, Outcome::Success][usize::from(i % 3)]
    }

    proptest! {
        /// The timestamp orders attempts exactly as (number, outcome, time) does.
        #[test]
        fn attempt_rank_orders_like_the_fold(
            a in (0u32..1000, 0u8..3, 0i64..5_000_000_000_000),
            b in (0u32..1000, 0u8..3, 0i64..5_000_000_000_000),
        ) {
            let key = |(n, o, t): (u32, u8, i64)| (n, outcome_rank(outcome(o)), t);
            let stamp = |(n, o, t): (u32, u8, i64)| attempt_rank(n, outcome(o), at(t));
            prop_assert_eq!(stamp(a).cmp(&stamp(b)), key(a).cmp(&key(b)));
            prop_assert!(stamp(a) >= 0);
        }

        /// The record earlier in the log (offset, then partition) has the higher stamp.
        #[test]
        fn event_record_stamps_fall_through_the_log(
            a in (0u32..1 << 15, 0u64..1 << 47),
            b in (0u32..1 << 15, 0u64..1 << 47),
        ) {
            let stamp = |(p, o): (u32, u64)| event_record(p, o);
            prop_assert_eq!(stamp(a).cmp(&stamp(b)), (b.1, b.0).cmp(&(a.1, a.0)));
            prop_assert!(stamp(a) >= 0);
        }

        #[test]
        fn earlier_acceptance_has_the_higher_identity_stamp(a in 0i64..4_000_000_000_000, b in 0i64..4_000_000_000_000) {
            prop_assert_eq!(task_identity(at(a)).cmp(&task_identity(at(b))), b.cmp(&a));
            prop_assert!(task_identity(at(a)) > 0);
        }
    }

    #[test]
    fn a_deletion_beats_an_update_of_the_same_millisecond_only() {
        let t = at(1_700_000_000_123);
        assert!(subscription_delete(t) > subscription_upsert(t));
        assert!(subscription_delete(t) < subscription_upsert(at(1_700_000_000_124)));
    }

    #[test]
    fn ttl_rounds_up_and_refuses_expired_rows() {
        let now = at(10_000);
        assert_eq!(ttl_secs(at(10_001), now), Some(1));
        assert_eq!(ttl_secs(at(12_000), now), Some(2));
        assert_eq!(ttl_secs(at(12_001), now), Some(3));
        assert_eq!(ttl_secs(now, now), None);
        assert_eq!(ttl_secs(at(9_000), now), None);
        assert_eq!(ttl_secs(DateTime::<Utc>::MAX_UTC, now), Some(MAX_TTL_SECS as i32));
    }

    #[test]
    fn expiry_saturates() {
        assert_eq!(expiry(at(1_000), Duration::from_secs(2)), at(3_000));
        assert_eq!(expiry(at(1_000), Duration::MAX), DateTime::<Utc>::MAX_UTC);
    }

    #[test]
    fn days_are_utc_days_since_the_epoch() {
        assert_eq!(day(at(0)), 0);
        assert_eq!(day(at(86_399_999)), 0);
        assert_eq!(day(at(86_400_000)), 1);
        assert_eq!(day(at(-1)), -1);
        assert_eq!(hour(at(3_599_999)), 0);
        assert_eq!(hour(at(3_600_000)), 1);
        assert_eq!(hour(at(-1)), -1);
        assert_eq!(minute(at(59_999)), 0);
        assert_eq!(minute(at(60_000)), 1);
        assert_eq!(minute(at(-1)), -1);
    }

    #[test]
    fn lives_from_reads_back_to_the_millisecond() {
        let t = at(1_700_000_000_123);
        assert_eq!(lived_from(lives_from(t)), t);
        assert!(lives_from(t) < lives_from(at(1_700_000_000_124)));
    }
}
