//! The open-loop load generator of long runs. Request `i` is due when the [`Schedule`] says,
//! whether or not earlier requests were answered; a pool of keep-alive connections takes
//! requests in order as they come due. When every connection is busy the due requests wait
//! for one, and their latency (202 and end to end) is counted from when they were due, not
//! from when they were written: a slow hookline shows as latency instead of hiding in a
//! lower offered load (no coordinated omission).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hookline_testkit::bench::Histogram;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::load::{self, Answer};
use crate::route::Route;
use crate::schedule::Schedule;
use crate::{pace, payload};

/// What to send and where.
pub struct Plan {
    pub addr: SocketAddr,
    pub route: Route,
    pub connections: usize,
    pub payload_bytes: usize,
    pub schedule: Schedule,
}

/// A running open-loop load, shared by its connections and by whoever samples it.
pub struct OpenLoop {
    plan: Plan,
    /// Where the schedule's clock starts, monotonic and on the wall clock (µs since the epoch,
    /// for the bodies' `sent_at_us`).
    started: Instant,
    started_at_us: u64,
    /// The next request a connection takes.
    next: AtomicU64,
    /// Requests from this index on are not sent: the schedule's end, or where a step run
    /// ended early.
    limit: AtomicU64,
    sent: AtomicU64,
    accepted: AtomicU64,
    failed: AtomicU64,
    /// 202 latencies (µs from due to answered) since the last [`take_ack_window`](Self::take_ack_window).
    ack_window_us: Mutex<Histogram>,
}

/// Counts so far.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Counts {
    /// Requests due by now: what the schedule has offered.
    pub offered: u64,
    /// Written to a connection.
    pub sent: u64,
    /// Answered 202.
    pub accepted: u64,
    /// Answered anything else, or lost with their connection.
    pub failed: u64,
}

impl OpenLoop {
    /// The load, with its clock starting now; [`run`](Self::run) sends it.
    pub fn new(plan: Plan) -> Arc<OpenLoop> {
        let limit = plan.schedule.requests();
        Arc::new(OpenLoop {
            plan,
            started: Instant::now(),
            started_at_us: pace::now_us(),
            next: AtomicU64::new(0),
            limit: AtomicU64::new(limit),
            sent: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            ack_window_us: Mutex::new(Histogram::default()),
        })
    }

    pub fn schedule(&self) -> &Schedule {
        &self.plan.schedule
    }

    /// When the schedule's clock started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// When the schedule's clock started, µs since the Unix epoch.
    pub fn started_at_us(&self) -> u64 {
        self.started_at_us
    }

    /// Time since the schedule's clock started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Sends until every request up to the limit was answered. Dropping the future stops
    /// the connections, with whatever they had unsent or unanswered.
    pub async fn run(self: Arc<Self>) -> anyhow::Result<()> {
        let mut connections = JoinSet::new();
        for _ in 0..self.plan.connections {
            let load = self.clone();
            connections.spawn(async move { load.connection().await });
        }
        while let Some(done) = connections.join_next().await {
            done??;
        }
        Ok(())
    }

    /// Ends the load after phase `phase` of the schedule. Requests already due stay offered
    /// (they may be on their way), so the cut is at the phase's end or now, whichever is later.
    pub fn end_after_phase(&self, phase: usize) {
        let due_now = self.plan.schedule.due_by(self.elapsed());
        self.limit.fetch_min(self.plan.schedule.requests_through(phase).max(due_now), Ordering::SeqCst);
    }

    pub fn counts(&self) -> Counts {
        let due = self.plan.schedule.due_by(self.elapsed());
        Counts {
            offered: due.min(self.limit.load(Ordering::SeqCst)),
            sent: self.sent.load(Ordering::Relaxed),
            accepted: self.accepted.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
        }
    }

    /// The 202 latencies (µs) since the last call; the next window starts empty.
    pub fn take_ack_window(&self) -> Histogram {
        std::mem::take(&mut *self.ack_window_us.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// One connection: takes the next request, waits until it is due, sends it and reads the
    /// answer, until the requests run out. A connection the server
    /// closes counts its request as failed and is opened again.
    async fn connection(&self) -> anyhow::Result<()> {
        let mut stream = load::connect(self.plan.addr).await?;
        let (mut body, mut request, mut answer) = (String::new(), Vec::new(), Answer::default());
        loop {
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            if index >= self.limit.load(Ordering::SeqCst) {
                return Ok(());
            }
            let Some(due) = self.plan.schedule.due_at(index) else { return Ok(()) };
            let due_at = self.started + due;
            tokio::time::sleep_until(due_at).await;
            // Checked once due: a step run may have ended while this request waited.
            if index >= self.limit.load(Ordering::SeqCst) {
                return Ok(());
            }
            let due_at_us = self.started_at_us + due.as_micros() as u64;
            payload::order_event(&mut body, due_at_us, index, self.plan.payload_bytes);
            load::write_request(&mut request, self.plan.addr, &self.plan.route, index as usize, &body);
            self.sent.fetch_add(1, Ordering::Relaxed);
            match load::exchange(&mut stream, &request, &mut answer).await {
                Ok(202) => {
                    let latency_us = due_at.elapsed().as_micros() as u64;
                    self.ack_window_us.lock().unwrap_or_else(PoisonError::into_inner).record(latency_us);
                    self.accepted.fetch_add(1, Ordering::Relaxed);
                }
                Ok(_) => {
                    self.failed.fetch_add(1, Ordering::Relaxed);
                }
                Err(error) => {
                    eprintln!("bench: connection lost ({error:#}), reconnecting");
                    self.failed.fetch_add(1, Ordering::Relaxed);
                    stream = load::connect(self.plan.addr).await?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// An ingest stand-in on 127.0.0.1 that answers every request 202 after `delay`, one
    /// request at a time per connection.
    async fn slow_server(delay: Duration) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
        let addr = listener.local_addr().expect("an address");
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    loop {
                        // Every request of the generator is one head and a body of known length.
                        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                            if stream.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                                return;
                            }
                            continue;
                        };
                        let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                        let length: usize = head
                            .split("content-length:")
                            .nth(1)
                            .and_then(|rest| rest.lines().next()?.trim().parse().ok())
                            .expect("a content-length");
                        while buf.len() < end + 4 + length {
                            if stream.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                                return;
                            }
                        }
                        buf.drain(..end + 4 + length);
                        tokio::time::sleep(delay).await;
                        let answer = b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n{}";
                        if stream.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    fn plan(addr: SocketAddr, connections: usize, schedule: Schedule) -> Plan {
        let route = Route { path: "/api/ingest/x".into(), event_type: None, fan_out: 1, ordering_keys: None };
        Plan { addr, route, connections, payload_bytes: 700, schedule }
    }

    #[tokio::test]
    async fn requests_go_out_on_schedule_and_latency_counts_from_when_they_were_due() {
        // One connection answered in 10 ms carries at most 100/s; 200 are due in the first second.
        let load = OpenLoop::new(plan(slow_server(Duration::from_millis(10)).await, 1, Schedule::fixed(200.0, 1)));
        load.clone().run().await.expect("sent");
        let counts = load.counts();
        assert_eq!((counts.offered, counts.sent, counts.accepted, counts.failed), (200, 200, 200, 0));
        let acks = load.take_ack_window();
        assert_eq!(acks.samples(), 200);
        // The last request was due at 1 s and answered after about 2 s: it waited for the
        // connection, and that wait counts. Timed from when it was written it would be 10 ms.
        assert!(acks.max() > 600_000, "max {} µs", acks.max());
        assert!(acks.quantile(0.01) < 100_000, "the first ones were on time: {} µs", acks.quantile(0.01));
    }

    #[tokio::test]
    async fn a_step_run_ended_early_sends_no_further_step() {
        let schedule = Schedule::steps(100.0, 100.0, 1, 1_000.0, 5);
        let load = OpenLoop::new(plan(slow_server(Duration::ZERO).await, 4, schedule));
        let run = tokio::spawn(load.clone().run());
        tokio::time::sleep_until(load.started() + Duration::from_millis(1_200)).await;
        load.end_after_phase(0);
        run.await.expect("joined").expect("sent");
        let counts = load.counts();
        // The first step (100) and what was due in the 0.2 s of the second (about 40) went out.
        assert!((100..=160).contains(&counts.sent), "{counts:?}");
        assert_eq!((counts.offered, counts.accepted), (counts.sent, counts.sent));
        assert!(load.elapsed() < Duration::from_secs(3), "it did not wait for the later steps");
    }
}
