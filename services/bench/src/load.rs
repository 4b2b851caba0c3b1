//! The load generator of burst runs: keep-alive HTTP/1.1 connections that each send one
//! webhook at a time and read the answer. It writes a fixed request head and reads with one
//! small parser, so it costs a fraction of a general-purpose client per request and leaves
//! the shared cores to hookline and the receiver. Long runs send over the same connection
//! code on an open-loop schedule (`open_loop.rs`).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::route::Route;
use crate::{pace, payload};

/// What to send: `requests` webhooks along `route` to `addr`, over `concurrency`
/// connections, each body an order event of `payload_bytes` stamped when it is sent.
#[derive(Clone)]
pub struct Load {
    pub addr: SocketAddr,
    pub route: Route,
    pub requests: usize,
    pub concurrency: usize,
    pub payload_bytes: usize,
    /// Requests started per second, spread evenly over the connections; `None`: each
    /// connection sends its next request as soon as the answer to the last one is in.
    pub rate: Option<f64>,
}

/// What the senders saw.
pub struct Sent {
    /// Milliseconds from writing each request to having read its 202.
    pub latencies_ms: Vec<f64>,
    /// Requests answered with another status, or lost to a broken connection.
    pub failures: usize,
}

/// Sends the load and waits for every answer.
pub async fn send(load: Load) -> anyhow::Result<Sent> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut senders = Vec::with_capacity(load.concurrency);
    for connection in 0..load.concurrency {
        let (load, next) = (load.clone(), next.clone());
        senders.push(tokio::spawn(async move { sender(&load, connection, &next).await }));
    }
    let mut sent = Sent { latencies_ms: Vec::with_capacity(load.requests), failures: 0 };
    for sender in senders {
        let (latencies, failures) = sender.await??;
        sent.latencies_ms.extend(latencies);
        sent.failures += failures;
    }
    Ok(sent)
}

/// One connection's share: takes request numbers until they run out. A connection the
/// server closes counts its request as failed and is opened again.
async fn sender(load: &Load, connection: usize, next: &AtomicUsize) -> anyhow::Result<(Vec<f64>, usize)> {
    let mut ticker = load.rate.map(|rate| pace::ticker(rate, connection, load.concurrency));
    let mut stream = connect(load.addr).await?;
    let (mut body, mut request, mut answer) = (String::new(), Vec::new(), Answer::default());
    let (mut latencies, mut failures) = (Vec::new(), 0usize);
    loop {
        let sequence = next.fetch_add(1, Ordering::Relaxed);
        if sequence >= load.requests {
            break;
        }
        if let Some(ticker) = ticker.as_mut() {
            ticker.tick().await;
        }
        payload::order_event(&mut body, pace::now_us(), sequence as u64, load.payload_bytes);
        write_request(&mut request, load.addr, &load.route, sequence, &body);
        let sent = Instant::now();
        match exchange(&mut stream, &request, &mut answer).await {
            Ok(202) => latencies.push(sent.elapsed().as_secs_f64() * 1000.0),
            Ok(_) => failures += 1,
            Err(error) => {
                eprintln!("bench: connection lost ({error:#}), reconnecting");
                failures += 1;
                stream = connect(load.addr).await?;
            }
        }
    }
    Ok((latencies, failures))
}

pub async fn connect(addr: SocketAddr) -> anyhow::Result<TcpStream> {
    let stream = TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Fills `out` with a JSON POST of `body`, the `sequence`th request, along `route` to
/// `addr`.
pub fn write_request(out: &mut Vec<u8>, addr: SocketAddr, route: &Route, sequence: usize, body: &str) {
    out.clear();
    let path = &route.path;
    let event_type = route.event_type.map(|event_type| format!("x-event-type: {event_type}\r\n")).unwrap_or_default();
    let ordering_key =
        route.ordering_keys.map(|keys| format!("x-ordering-key: k{}\r\n", sequence % keys)).unwrap_or_default();
    out.extend_from_slice(
        format!(
            "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n{event_type}{ordering_key}content-length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(body.as_bytes());
}

/// The read buffer of one connection, kept across requests.
#[derive(Default)]
pub struct Answer {
    buf: Vec<u8>,
}

/// Writes one request and reads its whole response; returns the status.
pub async fn exchange(stream: &mut TcpStream, request: &[u8], answer: &mut Answer) -> anyhow::Result<u16> {
    stream.write_all(request).await?;
    answer.buf.clear();
    let head_len = loop {
        if let Some(end) = answer.buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        read_more(stream, &mut answer.buf).await?;
    };
    let (status, body_len) = parse_head(&answer.buf[..head_len])?;
    while answer.buf.len() < head_len + body_len {
        read_more(stream, &mut answer.buf).await?;
    }
    Ok(status)
}

/// The status and `content-length` of a response head (hyper always sends the length
/// for the bodies hookline answers with).
fn parse_head(head: &[u8]) -> anyhow::Result<(u16, usize)> {
    let head = std::str::from_utf8(head).context("response head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3)?.parse().ok())
        .with_context(|| format!("bad status line {status_line:?}"))?;
    let body_len = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse().ok())
        .context("response without content-length")?;
    Ok((status, body_len))
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> anyhow::Result<()> {
    buf.reserve(1024);
    if stream.read_buf(buf).await? == 0 {
        bail!("connection closed by the server");
    }
    Ok(())
}
