//! The receiver driven over real sockets by `reqwest` and by a raw TCP client.

mod lifecycle;
mod replies;

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().redirect(reqwest::redirect::Policy::none()).build().unwrap()
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

/// Reads one `Content-Length` framed response; `None` if the server closed before a head came.
async fn read_response(stream: &mut TcpStream) -> Option<RawResponse> {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    let mut body = buf[head_end..].to_vec();
    let mut response = RawResponse { head, body: Vec::new() };
    let length: usize = response.header("content-length").unwrap().parse().unwrap();
    while body.len() < length {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed mid-body after {} of {length} bytes", body.len());
        body.extend_from_slice(&chunk[..n]);
    }
    response.body = body;
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
    matches!(stream.read(&mut byte).await, Ok(0) | Err(_))
}
