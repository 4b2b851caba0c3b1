//! The pacing rule of a replay: when each attempt it queues is due, and when it may be
//! appended. Pure: time is passed in.
//!
//! A replay's attempts go to the shortest retry tier, whose consumer holds each record
//! until it is due and dispatches a partition's records in order. So the receiver sees
//! the pace of the due times, provided that each record is due no later than those
//! behind it in its partition. Every other record of a tier is due at most the tier's
//! delay `d` after it was written; a replay's record is therefore appended exactly `d`
//! before it is due (no earlier, so that it is never held past a record written after
//! it; not much later, so that it is never held behind one written before it and then
//! released in a burst). Due times are spaced `1 / rate` apart at least: a replay that
//! fell behind (a slow log) takes up its pace again, it never catches up.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// How much less than the lead ahead an attempt may be due, so that attempts are
/// appended in batches of this much time rather than one by one.
pub const APPEND_WINDOW: Duration = Duration::from_millis(100);

/// Spaces the due times of a replay's attempts.
#[derive(Clone, Debug)]
pub struct Pacer {
    spacing: TimeDelta,
    lead: TimeDelta,
    window: TimeDelta,
    /// The earliest the next attempt may be due.
    next: Option<DateTime<Utc>>,
}

impl Pacer {
    /// Attempts at most `rate_per_second` a second (at least one), each appended
    /// at most `lead` (the shortest tier's delay) and at least `lead - APPEND_WINDOW`
    /// before it is due.
    pub fn new(rate_per_second: u32, lead: Duration) -> Self {
        let spacing = TimeDelta::nanoseconds(1_000_000_000 / i64::from(rate_per_second.max(1)));
        let lead = TimeDelta::from_std(lead).unwrap_or(TimeDelta::MAX);
        let window = TimeDelta::from_std(APPEND_WINDOW).unwrap_or_default().min(lead);
        Self { spacing, lead, window, next: None }
    }

    /// The due time of the next attempt, if it may be appended at `now`; `None`: not
    /// yet (see [`Pacer::append_at`]).
    pub fn take(&mut self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let latest = now.checked_add_signed(self.lead)?;
        let earliest = latest - self.window;
        let due = match self.next {
            Some(next) if next > latest => return None,
            Some(next) => next.max(earliest),
            None => earliest,
        };
        self.next = due.checked_add_signed(self.spacing);
        Some(due)
    }

    /// When the next attempt may be appended: its earliest due time less the lead.
    pub fn append_at(&self) -> Option<DateTime<Utc>> {
        self.next.and_then(|next| next.checked_sub_signed(self.lead))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use proptest::prelude::*;

    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_800_000_000_000 + ms).unwrap()
    }

    #[test]
    fn attempts_are_due_a_lead_after_their_append_and_spaced_by_the_rate() {
        let mut pacer = Pacer::new(10, Duration::from_secs(2));
        assert_eq!(pacer.take(at(0)), Some(at(1_900)));
        assert_eq!(pacer.take(at(0)), Some(at(2_000)), "the append window holds two");
        assert_eq!(pacer.take(at(0)), None, "the next one is appended 100 ms later");
        assert_eq!(pacer.append_at(), Some(at(100)));
        assert_eq!(pacer.take(at(100)), Some(at(2_100)));
        // Appended late (a slow log): due about a lead after its append, spaced from there.
        assert_eq!(pacer.take(at(850)), Some(at(2_750)));
        assert_eq!(pacer.take(at(850)), Some(at(2_850)));
        assert_eq!(pacer.take(at(850)), None);

        let mut fast = Pacer::new(1_000, Duration::from_secs(1));
        let batch = std::iter::from_fn(|| fast.take(at(0))).count();
        assert_eq!(batch, 101, "one append holds the attempts due within the window");
    }

    proptest! {
        /// Whatever the moments it is asked at, due times are spaced by the rate at
        /// least, and never more than the lead after the append.
        #[test]
        fn due_times_keep_the_pace_and_the_lead(rate in 1u32..=1000, steps in proptest::collection::vec(0i64..300, 1..200)) {
            let lead = Duration::from_millis(1_500);
            let mut pacer = Pacer::new(rate, lead);
            let spacing_ns = 1_000_000_000 / i64::from(rate);
            let (mut now, mut last): (i64, Option<DateTime<Utc>>) = (0, None);
            for step in steps {
                now += step;
                while let Some(due) = pacer.take(at(now)) {
                    prop_assert!(due <= at(now) + TimeDelta::milliseconds(1_500));
                    prop_assert!(due >= at(now) + TimeDelta::milliseconds(1_400));
                    if let Some(last) = last {
                        prop_assert!((due - last).num_nanoseconds().unwrap() >= spacing_ns);
                    }
                    last = Some(due);
                }
            }
        }
    }
}
