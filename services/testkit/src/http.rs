//! The one small HTTP/1.1 server codec shared by the programmable [`Receiver`](crate::receiver::Receiver)
//! and the `hookline-receiver` benchmark binary.
//!
//! It understands just what a webhook receiver needs: a request line, headers, a body framed by
//! `Content-Length`, `Expect: 100-continue`, keep-alive and pipelining. Chunked request bodies are
//! refused (answered 400) rather than half-supported. Being hand-written, every byte the server
//! sends back is under the test's control, which is what lets the receiver misbehave on purpose.

mod connection;
mod request;
mod response;
mod server;

pub use connection::{HttpConnection, ReadError, MAX_BODY_BYTES};
pub use request::{parse_head, ParseError, Request, RequestHead, Version, MAX_HEADERS, MAX_HEAD_BYTES};
pub use response::{reason_phrase, response_head};
pub use server::accept_until_stopped;
