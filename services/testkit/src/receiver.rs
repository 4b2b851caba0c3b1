//! A real HTTP/1.1 server on 127.0.0.1 whose answers are scripted per path, so tests can make a
//! webhook target fail, hang, drip, redirect, go down and come back.
//!
//! ```no_run
//! # async fn demo() {
//! use hookline_testkit::receiver::{Receiver, Reply, Script};
//! use std::time::Duration;
//!
//! let receiver = Receiver::start().await;
//! receiver.set("/hook", Script::then(vec![Reply::Status(500); 2], Reply::Status(200)));
//! // ... make hookline deliver to receiver.url("/hook") ...
//! let attempts = receiver.wait_for("/hook", 3, Duration::from_secs(10)).await;
//! assert_eq!(attempts[2].header("webhook-id"), attempts[0].header("webhook-id"));
//! # }
//! ```

mod script;
mod serve;

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;

use crate::http::Request;
pub use script::{Reply, Script};
use serve::Running;

/// Handle to a running receiver; clones share it. The server stops, and closes every connection
/// (hung ones included), when the last clone is dropped.
#[derive(Clone)]
pub struct Receiver {
    inner: Arc<Inner>,
}

struct Inner {
    addr: SocketAddr,
    state: Arc<State>,
    /// `None` while stopped.
    running: Mutex<Option<Running>>,
}

/// What the connection tasks share with the handle.
#[derive(Default)]
struct State {
    scripts: Mutex<HashMap<String, Script>>,
    requests: Mutex<Vec<ReceivedRequest>>,
    /// Count of recorded requests; `wait_for` watches it instead of polling.
    arrivals: watch::Sender<usize>,
    connections: AtomicUsize,
    /// Requests read and not yet answered, per path.
    in_flight: Arc<Mutex<HashMap<String, usize>>>,
}

/// One request counted in flight on its path until dropped.
pub(crate) struct InFlight {
    path: String,
    /// In flight on the path when it arrived, itself included.
    pub(crate) count: usize,
    paths: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(count) = lock(&self.paths).get_mut(&self.path) {
            *count = count.saturating_sub(1);
        }
    }
}

/// A request as the receiver got it.
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query (after `?`), if the target had one.
    pub query: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Requests in flight on its path when it arrived (not yet answered), itself included.
    pub in_flight: usize,
    /// When the whole request had been read.
    pub at: Instant,
    /// The same moment on the wall clock.
    pub received_at: SystemTime,
    /// What the path's script answered it.
    pub reply: Reply,
}

impl ReceivedRequest {
    /// The first value of header `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> serde_json::Result<serde_json::Value> {
        serde_json::from_slice(&self.body)
    }
}

impl Receiver {
    /// Binds 127.0.0.1 on a free port and serves until the last handle is dropped.
    ///
    /// # Panics
    /// If no port can be bound (a broken test machine, not a test failure to handle).
    pub async fn start() -> Receiver {
        let state = Arc::new(State::default());
        let running = serve::listen(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), state.clone())
            .unwrap_or_else(|e| panic!("receiver: cannot listen on 127.0.0.1: {e}"));
        let inner = Inner { addr: running.addr, state, running: Mutex::new(Some(running)) };
        Receiver { inner: Arc::new(inner) }
    }

    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.inner.addr)
    }

    /// Sets the behaviour of `path` (exact match, query ignored), replacing any earlier script.
    /// Paths without a script answer 200 with the body `ok`.
    pub fn set(&self, path: &str, script: Script) {
        lock(&self.inner.state.scripts).insert(path.to_owned(), script);
    }

    /// The requests received on `path` so far, in arrival order.
    pub fn requests(&self, path: &str) -> Vec<ReceivedRequest> {
        lock(&self.inner.state.requests).iter().filter(|r| r.path == path).cloned().collect()
    }

    /// Waits until at least `n` requests have arrived on `path` and returns all of them so far.
    ///
    /// # Panics
    /// On timeout, saying how many arrived on `path` and on every other path.
    pub async fn wait_for(&self, path: &str, n: usize, timeout: Duration) -> Vec<ReceivedRequest> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut arrivals = self.inner.state.arrivals.subscribe();
        loop {
            arrivals.borrow_and_update();
            let received = self.requests(path);
            if received.len() >= n {
                return received;
            }
            // The sender lives in `State`, which `self` keeps alive, so `changed` cannot fail.
            if tokio::time::timeout_at(deadline, arrivals.changed()).await.is_err() {
                panic!(
                    "receiver: waited {timeout:?} for {n} requests on {path}, {} arrived (all paths: {:?})",
                    received.len(),
                    self.counts_by_path()
                );
            }
        }
    }

    /// TCP connections accepted so far, across stops and resumes.
    pub fn connections(&self) -> usize {
        self.inner.state.connections.load(Ordering::SeqCst)
    }

    /// Stops listening and closes every connection; new connections are refused until
    /// [`resume`](Self::resume). Returns once the port and the connections are closed.
    /// Scripts and recorded requests are kept.
    pub async fn stop(&self) {
        let running = lock(&self.inner.running).take();
        if let Some(running) = running {
            running.shut_down().await;
        }
    }

    /// Listens again on the same port after [`stop`](Self::stop); does nothing if running.
    ///
    /// # Panics
    /// If the port was taken by someone else in the meantime.
    pub async fn resume(&self) {
        let mut running = lock(&self.inner.running);
        if running.is_none() {
            let addr = self.inner.addr;
            let listening = serve::listen(addr, self.inner.state.clone())
                .unwrap_or_else(|e| panic!("receiver: cannot listen again on {addr}: {e}"));
            *running = Some(listening);
        }
    }

    fn counts_by_path(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for request in lock(&self.inner.state.requests).iter() {
            *counts.entry(request.path.clone()).or_default() += 1;
        }
        counts
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(running) = lock(&self.running).take() {
            running.cancel();
        }
    }
}

impl State {
    /// Counts `request` in flight on its path, picks the reply its path's script gives
    /// next, and records both: under the scripts' lock, so that requests are recorded in
    /// the order their replies were picked.
    fn record(&self, request: Request) -> (Reply, InFlight) {
        let path = request.head.path().to_owned();
        let count = {
            let mut paths = lock(&self.in_flight);
            let count = paths.entry(path.clone()).or_default();
            *count += 1;
            *count
        };
        let in_flight = InFlight { path: path.clone(), count, paths: self.in_flight.clone() };
        let mut scripts = lock(&self.scripts);
        let reply = match scripts.get_mut(&path) {
            Some(script) => script.next_reply(&request.body),
            None => Reply::StatusWithBody(200, b"ok".to_vec()),
        };
        let received = ReceivedRequest {
            method: request.head.method.clone(),
            path,
            query: request.head.query().map(str::to_owned),
            headers: request.head.headers,
            body: request.body.to_vec(),
            in_flight: count,
            at: Instant::now(),
            received_at: SystemTime::now(),
            reply: reply.clone(),
        };
        lock(&self.requests).push(received);
        drop(scripts);
        self.arrivals.send_modify(|count| *count += 1);
        (reply, in_flight)
    }
}

/// Locks a mutex, ignoring poisoning: a panicking test thread must not hide what was recorded.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
