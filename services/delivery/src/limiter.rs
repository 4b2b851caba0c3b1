//! Adaptive concurrency: how many attempts one subscription may have in flight, found
//! from how its receiver answers (`max_in_flight: "auto"`). Pure: times are passed in.
//!
//! AIMD on latency and overload, in the spirit of TCP and of Netflix's
//! concurrency-limits (whose gradient limiter the cut follows):
//! - **Overload** — a 429, a 503 or a timeout — cuts the limit to three quarters.
//! - **Rising latency** — answers taking more than 1.5 times the receiver's no-load
//!   latency (the fastest answer of the last 10 to 20 s, but at least 50 ms), and at
//!   least 20 ms more — cuts it in proportion (`limit × 1.5 × no-load / latency`), to
//!   between a half and 0.9 of what it was. Below 75 ms, a rise tells more of this
//!   process and the machine (scheduling, other work) than of the receiver: a fast
//!   receiver is held by its 429s, 503s and timeouts. The latency weighed is a moving average (each answer counts
//!   for a quarter), so that one slow answer on a busy machine is not taken for a
//!   receiver slowing down, while a run of them is within three or four answers.
//!   When this process runs late itself (short of CPU: see [`crate::lag`]), every
//!   request looks slow whatever the receiver does, so the excess must also be at
//!   least four times the process's recent scheduling lag.
//! - Only answers to requests sent a round trip after the last cut count: those sent
//!   before tell of the limit as it was (or of the requests still in flight from then),
//!   and one slow burst must cut once, not once per answer.
//! - **Successes** while the line is full (every slot taken, or tasks waiting) raise
//!   it: by one per answer at first (slow start: the limit doubles every round trip)
//!   until the first cut. Slow start ends at the first answer that shows rising
//!   latency: the receiver slowed down with that request's `k` in flight, so the
//!   limit becomes at most `k - 1`. A cut by a factor alone would leave it far too
//!   high: by the time the first slow answers come back, the fast answers of the
//!   requests within capacity have doubled the limit again. After that, then by one per round trip, but by one per 32 round trips
//!   near the limit where the last cut happened, so that a receiver whose capacity is
//!   found is probed rarely (each probe past its capacity costs a round of slow
//!   answers), while one whose capacity grew is soon found again.
//! - Other failures (a 500, a refused connection) say nothing of capacity: the limit
//!   stays.
//!
//! The limit stays between 1 and the configured cap (`HOOKLINE_MAX_IN_FLIGHT_PER_SUBSCRIPTION`).

use std::time::Duration;

use tokio::time::Instant;

/// The limit a subscription starts with.
const INITIAL_LIMIT: f64 = 4.0;
/// How much longer than the no-load latency an answer may take before it counts as congestion.
const LATENCY_TOLERANCE: f64 = 1.5;
/// The least no-load latency latencies are compared with: a receiver faster than this
/// is compared as if it took this long.
const LATENCY_FLOOR: Duration = Duration::from_millis(50);
/// The least excess latency that counts as congestion, above the jitter of a busy machine.
const LATENCY_NOISE: Duration = Duration::from_millis(20);
/// What an overload (429, 503, timeout) leaves of the limit.
const OVERLOAD_BACKOFF: f64 = 0.75;
/// The bounds of a cut for rising latency.
const LATENCY_BACKOFF: (f64, f64) = (0.5, 0.9);
/// How many times the process's own scheduling lag an excess latency must be to count.
const SELF_DELAY_FACTOR: u32 = 4;
/// How much of the moving average of latencies each answer makes.
const SMOOTHING: f64 = 0.25;
/// Round trips per step of the limit near where the last cut happened.
const PLATEAU_ROUND_TRIPS: f64 = 32.0;
/// How long one bucket of the no-load latency's windowed minimum lasts.
const BASELINE_WINDOW: Duration = Duration::from_secs(10);

/// What one answer tells about the receiver's capacity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// A 2xx.
    Success,
    /// A 429, a 503 or a timeout: too much.
    Overload,
    /// Any other failure: nothing about capacity.
    Failure,
}

/// One answer, as the limiter weighs it.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// When the request was sent.
    pub sent_at: Instant,
    pub latency: Duration,
    pub signal: Signal,
    /// Whether the line used its whole limit when the answer came (every slot taken, or
    /// tasks waiting): only then does a success show the limit could be higher.
    pub saturated: bool,
    /// How late this process has run its tasks of late ([`crate::lag`]).
    pub self_delay: Duration,
    /// The line's attempts in flight when this request was sent, itself included.
    pub in_flight: usize,
}

/// The fastest answer of the last one or two windows.
#[derive(Clone, Copy, Debug)]
struct WindowedMin {
    window_start: Instant,
    current: Option<Duration>,
    previous: Option<Duration>,
}

impl WindowedMin {
    fn new(now: Instant) -> Self {
        Self { window_start: now, current: None, previous: None }
    }

    fn observe(&mut self, latency: Duration, now: Instant) {
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed >= BASELINE_WINDOW {
            // A window with nothing in it forgets the one before too.
            self.previous = if elapsed >= BASELINE_WINDOW * 2 { None } else { self.current };
            self.current = None;
            self.window_start = now;
        }
        self.current = Some(self.current.map_or(latency, |known| known.min(latency)));
    }

    fn get(&self) -> Option<Duration> {
        match (self.current, self.previous) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// One subscription's adaptive limit.
#[derive(Clone, Copy, Debug)]
pub struct AdaptiveLimit {
    limit: f64,
    max: f64,
    /// The limit just before the last cut; `None` until the first (slow start).
    cut_from: Option<f64>,
    /// A round trip after the last cut: answers to requests sent before it are not
    /// weighed (the requests in flight at the cut had not drained yet).
    weigh_after: Option<Instant>,
    baseline: WindowedMin,
    /// The moving average of the latencies of successes weighed, in seconds.
    smoothed: Option<f64>,
}

impl AdaptiveLimit {
    /// A limit starting low, at most `max`.
    pub fn new(max: usize, now: Instant) -> Self {
        let max = max.max(1) as f64;
        Self {
            limit: INITIAL_LIMIT.min(max),
            max,
            cut_from: None,
            weigh_after: None,
            baseline: WindowedMin::new(now),
            smoothed: None,
        }
    }

    /// The attempts that may be in flight now.
    pub fn limit(&self) -> usize {
        self.limit.floor().clamp(1.0, self.max) as usize
    }

    /// Weighs one answer, received at `now`.
    pub fn observe(&mut self, sample: Sample, now: Instant) {
        if sample.signal == Signal::Success {
            self.baseline.observe(sample.latency, now);
        }
        if self.weigh_after.is_some_and(|after| sample.sent_at < after) {
            return;
        }
        match sample.signal {
            Signal::Overload => {
                let round_trip = self.smoothed.unwrap_or_default().max(sample.latency.as_secs_f64());
                self.cut(OVERLOAD_BACKOFF, round_trip, now)
            }
            Signal::Failure => {}
            Signal::Success => {
                let latency = sample.latency.as_secs_f64();
                let smoothed = self.smoothed.map_or(latency, |known| known + SMOOTHING * (latency - known));
                self.smoothed = Some(smoothed);
                match self.congestion(smoothed, sample.self_delay) {
                    // Slow start ends below the in-flight count the receiver slowed at.
                    Some(factor) if self.cut_from.is_none() => {
                        let below = sample.in_flight.saturating_sub(1) as f64;
                        self.cut_to((self.limit * factor).min(below), smoothed, now)
                    }
                    Some(factor) => self.cut(factor, smoothed, now),
                    None if sample.saturated => self.raise(),
                    None => {}
                }
            }
        }
    }

    /// The cut a latency (in seconds) calls for, if it shows congestion rather than this
    /// process running `self_delay` late.
    fn congestion(&self, latency: f64, self_delay: Duration) -> Option<f64> {
        let baseline = self.baseline.get()?;
        let reference = baseline.max(LATENCY_FLOOR).as_secs_f64();
        let noise = LATENCY_NOISE.max(self_delay * SELF_DELAY_FACTOR).as_secs_f64();
        let congested = latency > reference * LATENCY_TOLERANCE && latency - baseline.as_secs_f64() >= noise;
        congested.then(|| (LATENCY_TOLERANCE * reference / latency).clamp(LATENCY_BACKOFF.0, LATENCY_BACKOFF.1))
    }

    /// Cuts the limit by `factor`, at `now`, when requests take `round_trip` seconds.
    fn cut(&mut self, factor: f64, round_trip: f64, now: Instant) {
        self.cut_to(self.limit * factor, round_trip, now)
    }

    /// Cuts the limit to `limit`, at `now`, when requests take `round_trip` seconds.
    fn cut_to(&mut self, limit: f64, round_trip: f64, now: Instant) {
        self.cut_from = Some(self.limit);
        self.limit = limit.clamp(1.0, self.max);
        self.weigh_after = Some(now + Duration::try_from_secs_f64(round_trip).unwrap_or_default());
        // Weighed afresh from the answers to come, starting from no load.
        self.smoothed = self.baseline.get().map(|baseline| baseline.as_secs_f64());
    }

    fn raise(&mut self) {
        let step = match self.cut_from {
            None => 1.0,
            Some(cut_from) if (self.limit - cut_from).abs() <= 1.0 => 1.0 / (PLATEAU_ROUND_TRIPS * self.limit),
            Some(_) => 1.0 / self.limit,
        };
        self.limit = (self.limit + step).min(self.max);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn success(sent_at: Instant, latency: Duration) -> Sample {
        // In a full line of 64: not what limits a cut.
        Sample { sent_at, latency, signal: Signal::Success, saturated: true, self_delay: Duration::ZERO, in_flight: 64 }
    }

    #[test]
    fn slow_start_doubles_the_limit_each_round_trip_while_the_line_is_full() {
        let t0 = Instant::now();
        let mut limit = AdaptiveLimit::new(64, t0);
        assert_eq!(limit.limit(), 4);
        for n in 1..=4 {
            limit.observe(success(t0, ms(5)), t0 + ms(5 + n));
        }
        assert_eq!(limit.limit(), 8);
        // A line that does not use its limit gives no reason to raise it.
        limit.observe(Sample { saturated: false, ..success(t0, ms(5)) }, t0 + ms(20));
        assert_eq!(limit.limit(), 8);
        for n in 0..100 {
            limit.observe(success(t0, ms(5)), t0 + ms(30 + n));
        }
        assert_eq!(limit.limit(), 64, "capped");
    }

    #[test]
    fn slow_start_ends_below_the_in_flight_count_the_receiver_slowed_at() {
        let t0 = Instant::now();
        let mut limit = AdaptiveLimit::new(64, t0);
        let sent = |in_flight, latency| Sample { in_flight, ..success(t0, latency) };
        for n in 1..=12 {
            limit.observe(sent(n.min(8), ms(50)), t0 + ms(50 + n as u64));
        }
        assert_eq!(limit.limit(), 16);
        // The requests sent with 9 and 10 in flight come back slower: 62 ms, then
        // 84 ms in the average, congestion. A cut by the factor alone would leave 15.
        limit.observe(sent(9, ms(100)), t0 + ms(100));
        assert_eq!(limit.limit(), 17);
        limit.observe(sent(10, ms(150)), t0 + ms(150));
        assert_eq!(limit.limit(), 9);
    }

    #[test]
    fn overload_cuts_once_per_round_of_requests() {
        let t0 = Instant::now();
        let mut limit = AdaptiveLimit::new(64, t0);
        for n in 0..28 {
            limit.observe(success(t0, ms(5)), t0 + ms(n));
        }
        assert_eq!(limit.limit(), 32);
        let overloaded = |sent_at| Sample {
            sent_at,
            latency: ms(1),
            signal: Signal::Overload,
            saturated: true,
            self_delay: Duration::ZERO,
            in_flight: 32,
        };
        limit.observe(overloaded(t0 + ms(100)), t0 + ms(101));
        assert_eq!(limit.limit(), 24);
        // Every other 429 of requests sent before the cut: nothing more.
        for n in 0..31 {
            limit.observe(overloaded(t0 + ms(100)), t0 + ms(102 + n));
        }
        assert_eq!(limit.limit(), 24);
        // One sent after it cuts again.
        limit.observe(overloaded(t0 + ms(200)), t0 + ms(201));
        assert_eq!(limit.limit(), 18);
        // Other failures say nothing.
        limit.observe(Sample { signal: Signal::Failure, ..overloaded(t0 + ms(300)) }, t0 + ms(301));
        assert_eq!(limit.limit(), 18);
    }

    #[test]
    fn latency_cuts_in_proportion_and_small_jitter_does_not() {
        let t0 = Instant::now();
        let mut limit = AdaptiveLimit::new(64, t0);
        for n in 0..12 {
            limit.observe(success(t0, ms(2)), t0 + ms(n));
        }
        assert_eq!(limit.limit(), 16);
        // Ten times slower, but only by 18 ms: the noise of a busy machine.
        limit.observe(success(t0 + ms(20), ms(20)), t0 + ms(40));
        assert_eq!(limit.limit(), 17);
        // 100 ms against 2 (compared with 50): 26.5 ms in the average, nothing yet.
        limit.observe(success(t0 + ms(50), ms(100)), t0 + ms(150));
        assert_eq!(limit.limit(), 18);
        // 400 ms more: 120 ms in the average, a cut in proportion, 1.5 × 50 / 120.
        limit.observe(success(t0 + ms(60), ms(400)), t0 + ms(460));
        assert_eq!(limit.limit(), 11);
    }

    #[test]
    fn a_process_running_late_is_not_taken_for_a_slow_receiver() {
        let t0 = Instant::now();
        let mut limit = AdaptiveLimit::new(64, t0);
        for n in 0..12 {
            limit.observe(success(t0, ms(2)), t0 + ms(n));
        }
        assert_eq!(limit.limit(), 16);
        // Every answer 200 ms late, while the process's own tasks run 60 ms late.
        let late = |sent_at| Sample { self_delay: ms(60), ..success(sent_at, ms(200)) };
        for n in 0..20 {
            limit.observe(late(t0 + ms(20 + n)), t0 + ms(220 + n));
        }
        let kept = limit.limit();
        assert!(kept >= 16, "{kept}");
        // Running on time, the same answers are congestion: the deepest cut.
        limit.observe(success(t0 + ms(300), ms(200)), t0 + ms(500));
        assert_eq!(limit.limit(), kept / 2);
    }

    #[test]
    fn the_no_load_latency_follows_a_receiver_that_became_slower() {
        let t0 = Instant::now();
        let mut limit = AdaptiveLimit::new(64, t0);
        limit.observe(success(t0, ms(10)), t0 + ms(10));
        // From here every answer takes 100 ms: congestion, for a while.
        let mut at = t0 + ms(100);
        let mut cuts = 0;
        for _ in 0..400 {
            let before = limit.limit();
            limit.observe(success(at, ms(100)), at + ms(100));
            cuts += usize::from(limit.limit() < before);
            at += ms(100);
        }
        assert!(cuts >= 1);
        // Once the old answers left the window, 100 ms is the receiver's no-load latency
        // and the limit grows again.
        assert!(limit.limit() > 1, "{limit:?}");
        let before = limit.limit();
        for _ in 0..200 {
            limit.observe(success(at, ms(100)), at + ms(100));
            at += ms(10);
        }
        assert!(limit.limit() > before, "{before} -> {}", limit.limit());
    }

    /// A receiver whose latency climbs steeply above `capacity` requests in flight,
    /// against a line that keeps `limit` requests in flight: discrete events, no clock.
    /// Returns the in-flight counts the receiver saw at each arrival and what was
    /// completed by the end.
    fn simulate(capacity: usize, base: Duration, span: Duration, adaptive: bool) -> (Vec<usize>, usize) {
        let t0 = Instant::now();
        let mut limiter = AdaptiveLimit::new(64, t0);
        let fixed = capacity;
        // (done at, sent at, in flight when sent)
        let mut in_flight: VecDeque<(Instant, Instant, usize)> = VecDeque::new();
        let mut seen = Vec::new();
        let mut completed = 0;
        let mut now = t0;
        while now < t0 + span {
            let limit = if adaptive { limiter.limit() } else { fixed };
            while in_flight.len() < limit {
                let n = in_flight.len() + 1;
                seen.push(n);
                // A busy machine's noise: up to 40 ms more, every few answers.
                let noise = ms((seen.len() as u64 * 37) % 41) * u32::from(seen.len() % 3 == 0);
                let latency = base * (1 + n.saturating_sub(capacity) as u32) + noise;
                in_flight.push_back((now + latency, now, n));
            }
            in_flight.make_contiguous().sort();
            let (done_at, sent_at, sent_with) = in_flight.pop_front().expect("something in flight");
            now = done_at;
            completed += 1;
            let saturated = in_flight.len() + 1 >= limiter.limit();
            let latency = done_at - sent_at;
            let sample = Sample {
                sent_at,
                latency,
                signal: Signal::Success,
                saturated,
                self_delay: ms(0),
                in_flight: sent_with,
            };
            limiter.observe(sample, now);
        }
        (seen, completed)
    }

    #[test]
    fn it_settles_at_the_capacity_of_a_receiver_that_slows_down_past_it() {
        let base = ms(50);
        for span in [Duration::from_secs(10), Duration::from_secs(60)] {
            let (seen, adaptive) = simulate(8, base, span, true);
            let (_, fixed) = simulate(8, base, span, false);
            let settled = &seen[seen.len() / 2..];
            let mut sorted = settled.to_vec();
            sorted.sort_unstable();
            let median = sorted[sorted.len() / 2];
            let above = settled.iter().filter(|n| **n > 12).count();
            let peak = seen.iter().max().expect("requests sent");
            println!(
                "{span:?}: adaptive {adaptive} done, fixed 8 {fixed} done ({:.2}), median in flight {median}, \
                 above 12: {above}, most in flight {peak}",
                adaptive as f64 / fixed as f64
            );
            assert!((8..=12).contains(&median), "median in flight {median}");
            assert_eq!(above, 0);
            // Slow start doubles the limit each round trip: it overshoots once, to
            // about twice the capacity, and stops there.
            assert!(*peak <= 20, "{peak} in flight at the start");
            assert!(adaptive as f64 >= 0.9 * fixed as f64, "{adaptive} against {fixed}");
        }
    }
}
