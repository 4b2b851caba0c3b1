//! Rate limits (`rate_limit_per_second`): requests to one subscription are spaced so
//! that its receiver never gets more than the limit in any one-second window.
//!
//! Spacing, not a token bucket: a bucket of R tokens lets a burst of R through at the
//! end of one second and R more at the start of the next, 2R in one sliding second.
//! Here every request is sent at least `(1 s + 100 ms) / R` after the one before (a
//! leaky bucket without burst, GCRA's emission interval), so R + 1 requests span more
//! than a second by 100 ms: room for requests that travel unevenly (on a machine short
//! of CPU, the receiver may read one 50 ms later than the next), at the cost of a
//! throughput 9 % below the limit.
//!
//! The wait is short or it is in the log: a task whose turn would come more than a
//! second from now is not held here but deferred — unattempted, the same attempt
//! number — to a retry tier, due at the turn it would get behind the tasks already let
//! in and deferred before it. Nothing is dropped; a burst of N tasks takes N / R
//! seconds and keeps at most about R of them in memory. Pure: times are passed in.

use std::collections::HashMap;
use std::time::Duration;

use hookline_domain::SubscriptionId;
use tokio::time::Instant;

/// Added to each second's worth of spacing, for requests that travel unevenly.
const JITTER_ROOM: Duration = Duration::from_millis(100);
/// The longest a task waits in memory for its turn; beyond it, it waits in the log.
pub const LONGEST_WAIT: Duration = Duration::from_secs(1);
/// Subscriptions whose turns are all past are forgotten once this many are remembered.
const FORGET_FROM: usize = 1024;

/// The spacing of requests under a limit of `per_second`.
pub fn interval(per_second: u32) -> Duration {
    (Duration::from_secs(1) + JITTER_ROOM) / per_second.max(1)
}

/// Whether a task may go on to its subscription's line, or waits in the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Its turn comes within [`LONGEST_WAIT`].
    Go,
    /// Its turn comes later: it is deferred until `due`.
    Defer { due: Instant },
}

/// One subscription's turns.
#[derive(Clone, Copy, Debug)]
struct Turns {
    /// The earliest the next request may be sent.
    next_send: Instant,
    /// When the last request left.
    last_sent: Option<Instant>,
    /// Turns promised to tasks let in, up to here.
    admitted_until: Instant,
    /// Turns promised to deferred tasks, up to here.
    deferred_until: Instant,
}

impl Turns {
    fn new(now: Instant) -> Self {
        Self { next_send: now, last_sent: None, admitted_until: now, deferred_until: now }
    }

    fn past(&self, now: Instant) -> bool {
        self.next_send <= now && self.admitted_until <= now && self.deferred_until <= now
    }
}

/// The turns of every rate-limited subscription this process delivers to. Only
/// subscriptions with a turn ahead are kept: at most those that sent or deferred
/// something in the last moments.
#[derive(Debug, Default)]
pub struct Pacer {
    turns: HashMap<SubscriptionId, Turns>,
}

impl Pacer {
    /// Whether a task of `id` (limited to `per_second`) arriving at `now` goes on, or
    /// is deferred (and until when).
    pub fn admit(&mut self, id: SubscriptionId, per_second: u32, now: Instant) -> Admission {
        let step = interval(per_second);
        let turns = self.turns_of(id, now);
        let start = turns.admitted_until.max(now);
        if start.saturating_duration_since(now) <= LONGEST_WAIT {
            turns.admitted_until = start + step;
            return Admission::Go;
        }
        let due = start.max(turns.deferred_until);
        turns.deferred_until = due + step;
        Admission::Defer { due }
    }

    /// When a request to `id` (limited to `per_second`), ready at `now`, may be sent: at
    /// least one interval after the one before. The turn is taken; once it has come,
    /// [`Pacer::go`] says whether the request may really leave.
    pub fn send_at(&mut self, id: SubscriptionId, per_second: u32, now: Instant) -> Instant {
        let step = interval(per_second);
        let turns = self.turns_of(id, now);
        let at = turns.next_send.max(now);
        turns.next_send = at + step;
        at
    }

    /// Whether a request to `id` whose turn has come may leave at `now`; if another left
    /// less than an interval ago (it woke late for its turn, this one on time), when to
    /// ask again. Spacing is thus kept between the moments requests really leave, not
    /// only between their turns.
    pub fn go(&mut self, id: SubscriptionId, per_second: u32, now: Instant) -> Result<(), Instant> {
        let step = interval(per_second);
        let turns = self.turns_of(id, now);
        match turns.last_sent {
            Some(last) if now < last + step => Err(last + step),
            _ => {
                turns.last_sent = Some(now);
                Ok(())
            }
        }
    }

    fn turns_of(&mut self, id: SubscriptionId, now: Instant) -> &mut Turns {
        if self.turns.len() >= FORGET_FROM && !self.turns.contains_key(&id) {
            self.turns.retain(|_, turns| !turns.past(now));
        }
        self.turns.entry(id).or_insert_with(|| Turns::new(now))
    }

    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.turns.len()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn five_a_second_are_220_ms_apart() {
        assert_eq!(interval(5), Duration::from_millis(220));
        assert_eq!(interval(1000), Duration::from_micros(1100));
    }

    #[test]
    fn a_burst_goes_a_second_at_a_time_and_the_rest_is_deferred_in_turn() {
        let (t0, id) = (Instant::now(), SubscriptionId::new());
        let mut pacer = Pacer::default();
        let admissions: Vec<Admission> = (0..100).map(|_| pacer.admit(id, 5, t0)).collect();
        let let_in = admissions.iter().filter(|a| **a == Admission::Go).count();
        assert_eq!(let_in, 5, "turns at 0, 220, 440, 660 and 880 ms");
        let dues: Vec<Duration> = admissions
            .iter()
            .filter_map(|a| match a {
                Admission::Defer { due } => Some(*due - t0),
                Admission::Go => None,
            })
            .collect();
        assert_eq!(dues.len(), 95);
        assert_eq!(dues[0], Duration::from_millis(1100));
        assert!(dues.windows(2).all(|w| w[1] - w[0] == Duration::from_millis(220)));
        // The sends of the five let in are spaced even when they are ready together.
        let sends: Vec<Instant> = (0..5).map(|_| pacer.send_at(id, 5, t0)).collect();
        assert!(sends.windows(2).all(|w| w[1] - w[0] == Duration::from_millis(220)));
        // A deferred task that comes back at its turn goes on.
        assert_eq!(pacer.admit(id, 5, t0 + dues[0]), Admission::Go);
    }

    #[test]
    fn turns_of_idle_subscriptions_are_forgotten() {
        let t0 = Instant::now();
        let mut pacer = Pacer::default();
        for _ in 0..FORGET_FROM {
            pacer.admit(SubscriptionId::new(), 1000, t0);
        }
        assert_eq!(pacer.remembered(), FORGET_FROM);
        pacer.admit(SubscriptionId::new(), 1000, t0 + Duration::from_secs(1));
        assert_eq!(pacer.remembered(), 1);
    }

    proptest! {
        /// However tasks arrive, however late their sends are ready and however late they
        /// wake for their turn, no second holds more sends than the limit.
        #[test]
        fn no_second_holds_more_than_the_limit(per_second in 1u32..50,
                                                gaps in proptest::collection::vec(0u64..400, 1..300),
                                                delays in proptest::collection::vec(0u64..300, 300)) {
            let (t0, id) = (Instant::now(), SubscriptionId::new());
            let mut pacer = Pacer::default();
            let mut now = t0;
            let mut sends = Vec::new();
            for (gap, delay) in gaps.iter().zip(&delays) {
                now += Duration::from_millis(*gap);
                if pacer.admit(id, per_second, now) == Admission::Go {
                    let ready = now + Duration::from_millis(*delay);
                    // It may wake late for its turn, by up to `delay` again.
                    let mut woke = pacer.send_at(id, per_second, ready) + Duration::from_millis(*delay);
                    while let Err(again) = pacer.go(id, per_second, woke) {
                        woke = again;
                    }
                    sends.push(woke);
                }
            }
            sends.sort();
            for (i, first) in sends.iter().enumerate() {
                let in_window = sends[i..].iter().take_while(|at| **at < *first + Duration::from_secs(1)).count();
                prop_assert!(in_window <= per_second as usize, "{} in the second from {:?}", in_window, *first - t0);
            }
        }
    }
}
