//! Step mode: whether hookline held the rate of one step. A step is held when, over the
//! step's rows,
//! 1. at least [`ACCEPTED_SHARE`] (98 %) of the offered requests were answered 202 within
//!    the step,
//! 2. the backlog (accepted, not yet delivered) at the step's end is at most
//!    [`BACKLOG_SECONDS`] (one second) of the step's traffic, and
//! 3. the backlog is not growing: the step's last row ends with at most
//!    [`GROWTH_SECONDS`] (a tenth of a second) of traffic more backlog than the row before.
//!
//! The run stops raising the rate at the first step not held; the highest rate held is the
//! step before it (or the last step, when every step was held).

use serde::Serialize;

use crate::rows::Row;

pub const ACCEPTED_SHARE: f64 = 0.98;
pub const BACKLOG_SECONDS: f64 = 1.0;
pub const GROWTH_SECONDS: f64 = 0.1;

/// The judgement of one step.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    /// The step's rate, requests per second.
    pub rate: f64,
    pub held: bool,
    /// Accepted ÷ offered over the step.
    pub accepted_share: f64,
    /// Backlog at the end of the step, and at the end of the row before.
    pub end_backlog: u64,
    pub previous_backlog: u64,
    /// Why it was not held, in words; empty when held.
    pub why_not: String,
}

/// Judges a step of `rate` from its rows, in order (at least one).
pub fn judge(rate: f64, rows: &[Row]) -> Verdict {
    let offered: u64 = rows.iter().map(|row| row.offered).sum();
    let accepted: u64 = rows.iter().map(|row| row.accepted).sum();
    let accepted_share = if offered == 0 { 1.0 } else { accepted as f64 / offered as f64 };
    let end_backlog = rows.last().map_or(0, |row| row.backlog);
    let previous_backlog = rows.iter().rev().nth(1).map_or(0, |row| row.backlog);
    let mut why_not = Vec::new();
    if accepted_share < ACCEPTED_SHARE {
        why_not.push(format!("{:.1} % of the offered requests accepted", accepted_share * 100.0));
    }
    if end_backlog as f64 > rate * BACKLOG_SECONDS {
        why_not.push(format!("backlog {end_backlog} at the end, over {:.0} (one second)", rate * BACKLOG_SECONDS));
    }
    if end_backlog as f64 > previous_backlog as f64 + rate * GROWTH_SECONDS {
        why_not.push(format!("backlog grew from {previous_backlog} to {end_backlog} in the last row"));
    }
    Verdict {
        rate,
        held: why_not.is_empty(),
        accepted_share,
        end_backlog,
        previous_backlog,
        why_not: why_not.join("; "),
    }
}

/// The highest rate held: that of the last held step before the first step not held.
pub fn highest_held(verdicts: &[Verdict]) -> Option<f64> {
    verdicts.iter().take_while(|verdict| verdict.held).last().map(|verdict| verdict.rate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::tests::row;

    fn step(rate: u64, backlogs: [u64; 3]) -> Vec<Row> {
        backlogs.iter().enumerate().map(|(n, &backlog)| row(10.0 * (n + 1) as f64, rate, backlog)).collect()
    }

    #[test]
    fn a_step_that_keeps_up_is_held() {
        let verdict = judge(2_000.0, &step(2_000, [150, 90, 120]));
        assert!(verdict.held, "{verdict:?}");
        assert_eq!((verdict.accepted_share, verdict.end_backlog, verdict.previous_backlog), (1.0, 120, 90));
        assert!(verdict.why_not.is_empty());
    }

    #[test]
    fn too_few_accepted_is_not_held() {
        let mut rows = step(2_000, [10, 10, 10]);
        rows[1].accepted = 19_000; // 59,000 of 60,000: 98.3 %, still held
        assert!(judge(2_000.0, &rows).held);
        rows[2].accepted = 19_000; // 58,000 of 60,000: 96.7 %
        let verdict = judge(2_000.0, &rows);
        assert!(!verdict.held && verdict.why_not.contains("96.7 % of the offered"), "{verdict:?}");
    }

    #[test]
    fn a_backlog_over_one_second_of_traffic_is_not_held() {
        assert!(judge(2_000.0, &step(2_000, [2_000, 2_000, 2_000])).held);
        let verdict = judge(2_000.0, &step(2_000, [2_100, 2_100, 2_100]));
        assert!(!verdict.held && verdict.why_not.contains("over 2000"), "{verdict:?}");
    }

    #[test]
    fn a_growing_backlog_is_not_held_even_when_small() {
        // Growth of at most a tenth of a second of traffic (200) is jitter.
        assert!(judge(2_000.0, &step(2_000, [0, 100, 300])).held);
        let verdict = judge(2_000.0, &step(2_000, [0, 100, 301]));
        assert!(!verdict.held && verdict.why_not.contains("grew from 100 to 301"), "{verdict:?}");
    }

    #[test]
    fn the_highest_rate_held_is_the_last_before_the_first_failure() {
        let verdict = |rate: f64, held: bool| Verdict {
            rate,
            held,
            accepted_share: 1.0,
            end_backlog: 0,
            previous_backlog: 0,
            why_not: String::new(),
        };
        let run = [verdict(2_000.0, true), verdict(3_000.0, true), verdict(4_000.0, false), verdict(5_000.0, true)];
        assert_eq!(highest_held(&run), Some(3_000.0));
        assert_eq!(highest_held(&run[..2]), Some(3_000.0));
        assert_eq!(highest_held(&[verdict(2_000.0, false)]), None);
    }
}
