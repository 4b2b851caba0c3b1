//! One server-side HTTP/1.1 connection: reads whole requests (keep-alive and pipelining
//! included) and writes raw response bytes.

use std::io;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::request::{parse_head, ParseError, Request};
use super::response::response_head;

/// Largest request body accepted; beyond it the request is refused (413).
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

const READ_CHUNK: usize = 16 * 1024;

/// Why no request could be read from a connection.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The peer closed the connection part-way through a request.
    #[error("connection closed in the middle of a request")]
    Truncated,
    /// The request is malformed; answer it with [`HttpConnection::refuse`].
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error("reading the request failed: {0}")]
    Io(#[from] io::Error),
}

/// A server-side connection with its read buffer.
pub struct HttpConnection {
    stream: TcpStream,
    buf: BytesMut,
}

impl HttpConnection {
    pub fn new(stream: TcpStream) -> Self {
        // Replies are written whole or, when dripped, byte by byte on purpose: Nagle's delay would
        // only blur the timings tests stage. Failing to set it changes timing, not correctness.
        let _ = stream.set_nodelay(true);
        HttpConnection { stream, buf: BytesMut::with_capacity(READ_CHUNK) }
    }

    /// The next request to answer, or `None` when there is none: the peer closed the
    /// connection, or sent what cannot be read (refused with its 4xx first, best effort:
    /// the connection is closed next either way).
    pub async fn next_request(&mut self) -> Option<Request> {
        match self.read_request().await {
            Ok(request) => request,
            Err(ReadError::Truncated | ReadError::Io(_)) => None,
            Err(ReadError::Parse(error)) => {
                let _ = self.refuse(&error).await;
                None
            }
        }
    }

    /// Reads the next request. `Ok(None)` means the peer closed the connection cleanly between
    /// requests. Answers `Expect: 100-continue` by itself.
    pub async fn read_request(&mut self) -> Result<Option<Request>, ReadError> {
        let (head, head_len) = loop {
            if let Some(parsed) = parse_head(&self.buf)? {
                break parsed;
            }
            if self.fill(READ_CHUNK).await? == 0 {
                return if self.buf.is_empty() { Ok(None) } else { Err(ReadError::Truncated) };
            }
        };
        let length = head.content_length;
        if length > MAX_BODY_BYTES {
            return Err(ParseError::BodyTooLarge { length, limit: MAX_BODY_BYTES }.into());
        }
        self.buf.advance(head_len);
        if self.buf.len() < length && head.expects_continue() {
            self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
        }
        while self.buf.len() < length {
            if self.fill(length - self.buf.len()).await? == 0 {
                return Err(ReadError::Truncated);
            }
        }
        let body = self.buf.split_to(length).freeze();
        Ok(Some(Request { head, body }))
    }

    /// Writes raw bytes (a response head, a body, or part of one).
    pub async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Writes a complete response in one go.
    pub async fn respond(
        &mut self,
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
        close: bool,
    ) -> io::Result<()> {
        let mut bytes = response_head(status, headers, body.len() as u64, close);
        bytes.extend_from_slice(body);
        self.stream.write_all(&bytes).await
    }

    /// Answers a malformed request with its status and reason; the caller then closes.
    pub async fn refuse(&mut self, error: &ParseError) -> io::Result<()> {
        let headers = [("content-type".to_owned(), "text/plain".to_owned())];
        self.respond(error.status(), &headers, error.to_string().as_bytes(), true).await
    }

    /// Waits until the peer closes the connection, discarding anything it sends.
    pub async fn wait_closed(&mut self) {
        loop {
            self.buf.clear();
            match self.fill(READ_CHUNK).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    }

    async fn fill(&mut self, at_least: usize) -> io::Result<usize> {
        self.buf.reserve(at_least.min(MAX_BODY_BYTES));
        self.stream.read_buf(&mut self.buf).await
    }
}

#[cfg(test)]
mod tests;
