//! When each request of an open-loop run is due: a sequence of phases, each a fixed rate for
//! a number of seconds. A fixed-rate run is one phase; a step run is one phase per step.
//! Request `i` is due at a time that depends only on `i`, never on when earlier requests were
//! answered, which is what makes the load open.

use std::time::Duration;

/// A constant rate for a stretch of the run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Phase {
    /// Requests per second.
    pub rate: f64,
    pub seconds: u64,
}

impl Phase {
    /// Requests started in the phase.
    fn requests(&self) -> u64 {
        (self.rate * self.seconds as f64).round() as u64
    }

    /// When request `n` of the phase is due, from the phase's start.
    fn offset(&self, n: u64) -> Duration {
        Duration::from_secs_f64(n as f64 / self.rate)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    phases: Vec<Phase>,
}

impl Schedule {
    /// `rate` requests per second for `seconds`.
    pub fn fixed(rate: f64, seconds: u64) -> Schedule {
        Schedule { phases: vec![Phase { rate, seconds }] }
    }

    /// Steps of `step_seconds` from `start_rate`, each `step_rate` higher than the last, for as
    /// long as the rate stays at or below `max_rate` and the steps fit in `seconds`.
    pub fn steps(start_rate: f64, step_rate: f64, step_seconds: u64, max_rate: f64, seconds: u64) -> Schedule {
        let count = seconds / step_seconds;
        let phases = (0..count)
            .map(|step| Phase { rate: start_rate + step_rate * step as f64, seconds: step_seconds })
            // A little slack so that a max equal to a step's rate is not lost to rounding.
            .take_while(|phase| phase.rate <= max_rate * (1.0 + 1e-9))
            .collect();
        Schedule { phases }
    }

    pub fn phases(&self) -> &[Phase] {
        &self.phases
    }

    /// Requests in the whole schedule.
    pub fn requests(&self) -> u64 {
        self.phases.iter().map(Phase::requests).sum()
    }

    /// When the last phase ends, from the start of the run.
    pub fn end(&self) -> Duration {
        Duration::from_secs(self.phases.iter().map(|phase| phase.seconds).sum())
    }

    /// The index of the first request after phase `phase` (the requests of phases up to it).
    pub fn requests_through(&self, phase: usize) -> u64 {
        self.phases.iter().take(phase + 1).map(Phase::requests).sum()
    }

    /// When request `index` is due, from the start of the run; `None` past the last one.
    pub fn due_at(&self, index: u64) -> Option<Duration> {
        let (mut first, mut phase_start) = (0u64, Duration::ZERO);
        for phase in &self.phases {
            let requests = phase.requests();
            if index < first + requests {
                return Some(phase_start + phase.offset(index - first));
            }
            first += requests;
            phase_start += Duration::from_secs(phase.seconds);
        }
        None
    }

    /// How many requests are due by `elapsed` (due at or before it).
    pub fn due_by(&self, elapsed: Duration) -> u64 {
        let (mut due, mut phase_start) = (0u64, Duration::ZERO);
        for phase in &self.phases {
            let Some(into) = elapsed.checked_sub(phase_start) else { break };
            let requests = phase.requests();
            let mut in_phase = ((into.as_secs_f64() * phase.rate).floor() as u64 + 1).min(requests);
            // The estimate may be one off at a boundary: settle it on `offset`, as `due_at` does.
            while in_phase > 0 && phase.offset(in_phase - 1) > into {
                in_phase -= 1;
            }
            while in_phase < requests && phase.offset(in_phase) <= into {
                in_phase += 1;
            }
            due += in_phase;
            phase_start += Duration::from_secs(phase.seconds);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_rate_spaces_requests_evenly() {
        let schedule = Schedule::fixed(1_000.0, 10);
        assert_eq!(schedule.requests(), 10_000);
        assert_eq!(schedule.due_at(0), Some(Duration::ZERO));
        assert_eq!(schedule.due_at(500), Some(Duration::from_millis(500)));
        assert_eq!(schedule.due_at(9_999), Some(Duration::from_millis(9_999)));
        assert_eq!(schedule.due_at(10_000), None);
        assert_eq!(schedule.due_by(Duration::from_millis(500)), 501);
        assert_eq!(schedule.due_by(Duration::from_secs(60)), 10_000);
        assert_eq!(schedule.end(), Duration::from_secs(10));
    }

    #[test]
    fn steps_rise_until_the_max_rate_or_the_duration() {
        let phases = |schedule: Schedule| schedule.phases().iter().map(|p| p.rate).collect::<Vec<_>>();
        assert_eq!(phases(Schedule::steps(2_000.0, 1_000.0, 30, 5_000.0, 600)), [2_000.0, 3_000.0, 4_000.0, 5_000.0]);
        assert_eq!(phases(Schedule::steps(2_000.0, 1_000.0, 30, 50_000.0, 100)), [2_000.0, 3_000.0, 4_000.0]);
        assert!(phases(Schedule::steps(2_000.0, 1_000.0, 30, 1_000.0, 600)).is_empty());
    }

    #[test]
    fn a_later_step_starts_where_the_earlier_ended_at_its_own_rate() {
        let schedule = Schedule::steps(100.0, 100.0, 10, 1_000.0, 30);
        assert_eq!(schedule.requests_through(0), 1_000);
        assert_eq!(schedule.requests_through(1), 3_000);
        assert_eq!(schedule.due_at(1_000), Some(Duration::from_secs(10)));
        // 200/s in the second step: request 1,100 is half a second into it.
        assert_eq!(schedule.due_at(1_100), Some(Duration::from_millis(10_500)));
        assert_eq!(schedule.due_by(Duration::from_millis(10_500)), 1_000 + 101);
        assert_eq!(schedule.due_by(Duration::from_secs(30)), schedule.requests());
    }

    #[test]
    fn due_by_counts_exactly_the_requests_due_at_or_before() {
        let schedule = Schedule::steps(300.0, 700.0, 10, 5_000.0, 40);
        for millis in (0..42_000).step_by(377) {
            let elapsed = Duration::from_millis(millis);
            let due = schedule.due_by(elapsed);
            assert!(schedule.due_at(due.saturating_sub(1)).is_none_or(|at| at <= elapsed), "{millis} ms");
            assert!(schedule.due_at(due).is_none_or(|at| at > elapsed), "{millis} ms");
        }
    }
}
