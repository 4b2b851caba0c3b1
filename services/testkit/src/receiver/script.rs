//! What the receiver answers on a path: a queue of replies, then one reply forever.

use std::collections::VecDeque;
use std::time::Duration;

/// One way of answering (or not answering) a request.
///
/// Every reply is framed by `Content-Length`; `Connection: close` is added when the client asked
/// for it. Bodies of plain status replies are `status {code}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// That status, with the small body `status {code}`.
    Status(u16),
    StatusWithBody(u16, Vec<u8>),
    /// That status with extra headers (not framing ones: `Content-Length` is always set by the receiver).
    StatusWithHeaders(u16, Vec<(String, String)>),
    /// That status with a `Location` header.
    Redirect(u16, String),
    /// Read the request, never answer, keep the socket open until the client or the receiver closes it.
    Hang,
    /// Read the request, then close the connection without answering.
    Close,
    /// Wait, then answer with that status.
    Delay(Duration, u16),
    /// A receiver that slows down steeply past its capacity: answer 200 after `base`
    /// while at most `capacity` requests are in flight on the path (this one included,
    /// counted when it arrives), and after one `base` more for each request beyond.
    Congested {
        capacity: usize,
        base: Duration,
    },
    /// Send the head at once, then the body one byte per `every`.
    Drip {
        status: u16,
        bytes: usize,
        every: Duration,
    },
    /// Stream a body of `bytes` bytes (with `Content-Length`) as fast as the client reads it.
    Huge {
        status: u16,
        bytes: u64,
    },
}

/// The behaviour of one path: `steps` are used once each, in order, then `after` forever;
/// a request whose body contains the needle of `exception`, if any, gets its reply instead
/// (and uses no step).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    steps: VecDeque<Reply>,
    after: Reply,
    exception: Option<(Vec<u8>, Reply)>,
}

impl Script {
    /// Answer every request with `reply`.
    pub fn always(reply: Reply) -> Script {
        Script { steps: VecDeque::new(), after: reply, exception: None }
    }

    /// Answer the first requests with `steps`, one each, then every later one with `after`,
    /// e.g. `Script::then(vec![Reply::Status(500); 2], Reply::Status(200))`.
    pub fn then(steps: Vec<Reply>, after: Reply) -> Script {
        Script { steps: steps.into(), after, exception: None }
    }

    /// This script, except that requests whose body contains `needle` get `reply`, e.g.
    /// a receiver that fails the webhooks of one customer only.
    pub fn except_bodies_containing(self, needle: &str, reply: Reply) -> Script {
        Script { exception: Some((needle.as_bytes().to_vec(), reply)), ..self }
    }

    /// The reply for the next request, whose body is `body`, consuming a step if any is
    /// left (unless the exception answers it).
    pub(super) fn next_reply(&mut self, body: &[u8]) -> Reply {
        if let Some((needle, reply)) = &self.exception {
            if !needle.is_empty() && body.windows(needle.len()).any(|window| window == needle) {
                return reply.clone();
            }
        }
        self.steps.pop_front().unwrap_or_else(|| self.after.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_used_once_in_order_then_the_default_forever() {
        let mut script = Script::then(vec![Reply::Status(500), Reply::Close], Reply::Status(200));
        let replies: Vec<Reply> = (0..4).map(|_| script.next_reply(b"{}")).collect();
        assert_eq!(replies, [Reply::Status(500), Reply::Close, Reply::Status(200), Reply::Status(200)]);

        let mut always = Script::always(Reply::Hang);
        assert_eq!((always.next_reply(b"{}"), always.next_reply(b"{}")), (Reply::Hang, Reply::Hang));
    }

    #[test]
    fn bodies_with_the_needle_get_the_exception_and_use_no_step() {
        let mut script = Script::then(vec![Reply::Status(500)], Reply::Status(200))
            .except_bodies_containing("k0", Reply::Status(503));
        assert_eq!(script.next_reply(br#"{"key":"k0"}"#), Reply::Status(503));
        assert_eq!(script.next_reply(br#"{"key":"k1"}"#), Reply::Status(500));
        assert_eq!(script.next_reply(br#"{"key":"k0"}"#), Reply::Status(503));
        assert_eq!(script.next_reply(br#"{"key":"k1"}"#), Reply::Status(200));
    }
}
