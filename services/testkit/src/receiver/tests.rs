//! The receiver driven over real sockets by `reqwest` and by a raw TCP client.

mod lifecycle;
mod replies;

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Longest any single exchange in these tests may take: a hang fails the test instead of stalling the run.
const EXCHANGE_LIMIT: std::time::Duration = std::time::Duration::from_secs(15);

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(EXCHANGE_LIMIT)
        .build()
        .unwrap()
}

/// A response read off a raw socket.
#[derive(Debug)]
struct RawResponse {
    head: String,
    body: Vec<u8>,
}

impl RawResponse {
    fn status(&self) -> u16 {
        self.head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status code")
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.head
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(": "))
            .find_map(|(n, v)| n.eq_ignore_ascii_case(name).then_some(v))
    }
}

/// Reads one `Content-Length` framed response, and nothing past it (pipelined responses stay
/// unread); `None` if the server closed before a whole head came.
async fn read_response(stream: &mut TcpStream) -> Option<RawResponse> {
    tokio::time::timeout(EXCHANGE_LIMIT, read_response_unbounded(stream))
        .await
        .unwrap_or_else(|_| panic!("no whole response within {EXCHANGE_LIMIT:?}"))
}

async fn read_response_unbounded(stream: &mut TcpStream) -> Option<RawResponse> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        match stream.read(&mut byte).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => head.push(byte[0]),
        }
    }
    let mut response = RawResponse { head: String::from_utf8(head).unwrap(), body: Vec::new() };
    let length: usize = response.header("content-length").unwrap().parse().unwrap();
    response.body = vec![0; length];
    stream.read_exact(&mut response.body).await.unwrap();
    Some(response)
}

/// Sends `raw` on a new connection and returns the socket for reading the answer.
async fn send_raw(addr: SocketAddr, raw: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(raw.as_bytes()).await.unwrap();
    stream
}

/// Whether the server has closed `stream` (EOF or reset) with nothing more to read.
async fn is_closed(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(EXCHANGE_LIMIT, stream.read(&mut byte)).await;
    matches!(read, Ok(Ok(0) | Err(_)))
}
