//! Request bodies: the JSON content-type rule and reading with a size limit that is
//! enforced while reading, so an oversized body is never buffered whole.
//!
//! A refused body is still read and thrown away, up to a bound, before the refusal is
//! answered (nginx's lingering close): many clients (Python's `urllib`, for one) write
//! the whole body before reading the answer, and a connection closed under them is a
//! "broken pipe" instead of the 413 or 415 they were sent.

use std::pin::Pin;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures::{Stream, StreamExt, TryStreamExt};
use warp::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use warp::http::HeaderMap;
use warp::Filter;

use crate::error::{ApiError, BodySize};

/// The request body, not read yet.
pub(crate) type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, warp::Error>> + Send>>;

/// Extracts the body as a stream, leaving it to the handler to read (or not).
pub(crate) fn body_stream() -> impl Filter<Extract = (BodyStream,), Error = warp::Rejection> + Clone {
    warp::body::stream().map(boxed)
}

fn boxed<S, B>(stream: S) -> BodyStream
where
    S: Stream<Item = Result<B, warp::Error>> + Send + 'static,
    B: Buf,
{
    Box::pin(stream.map_ok(|mut chunk| chunk.copy_to_bytes(chunk.remaining())))
}

/// Whether the request says its body is JSON: `application/json` or `application/*+json`,
/// whatever the parameters (charset).
pub(crate) fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let value = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).ok_or(ApiError::UnsupportedMediaType)?;
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let json = match essence.split_once('/') {
        Some(("application", "json")) => true,
        Some(("application", subtype)) => subtype.ends_with("+json") && subtype.len() > "+json".len(),
        _ => false,
    };
    if json {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType)
    }
}

/// How much of a refused body is read and thrown away before answering.
const DISCARD_BYTES: u64 = 16 * 1024 * 1024;
/// How long reading a refused body away may take.
const DISCARD_TIME: Duration = Duration::from_secs(5);

/// Reads and throws away what is left of a refused body, up to [`DISCARD_BYTES`] and
/// [`DISCARD_TIME`], so that a client still writing it can read the answer. A body
/// declared larger than the bound is not read at all: the connection is closed.
pub(crate) async fn discard(headers: &HeaderMap, mut body: BodyStream) {
    if declared_length(headers).is_some_and(|size| size > DISCARD_BYTES) {
        return;
    }
    let drain = async {
        let mut read = 0u64;
        while let Some(Ok(chunk)) = body.next().await {
            read += chunk.len() as u64;
            if read > DISCARD_BYTES {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(DISCARD_TIME, drain).await;
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok())
}

/// What a body is read with: its size limit and the time it may take to arrive.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BodyLimits {
    pub bytes: usize,
    pub time: Duration,
}

/// Room made for a body before it arrives, whatever it declares: the rest is
/// allocated as it comes, so a client that declares a large body and sends it slowly
/// holds no more memory than it has sent.
const INITIAL_CAPACITY: usize = 64 * 1024;

/// Reads the whole body within `limits.time` (else 408), refusing it as soon as it is
/// known to exceed `limits.bytes`: from `Content-Length` before reading anything, else
/// as the chunks arrive. The rest of a refused body is read away first (see [`discard`]).
pub(crate) async fn read_limited(headers: &HeaderMap, body: BodyStream, limits: BodyLimits) -> Result<Bytes, ApiError> {
    match tokio::time::timeout(limits.time, read_within(headers, body, limits.bytes)).await {
        Ok(read) => read,
        Err(_) => Err(ApiError::BodyTimeout(limits.time.as_secs().max(1))),
    }
}

async fn read_within(headers: &HeaderMap, mut body: BodyStream, limit: usize) -> Result<Bytes, ApiError> {
    let declared = declared_length(headers);
    if let Some(size) = declared {
        if size > limit as u64 {
            discard(headers, body).await;
            return Err(ApiError::PayloadTooLarge { size: BodySize::Declared(size), limit });
        }
    }
    let mut buffer = BytesMut::with_capacity(declared.map_or(0, |size| size as usize).min(INITIAL_CAPACITY));
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("Request body could not be read: {e}")))?;
        if buffer.len() + chunk.len() > limit {
            discard(headers, body).await;
            return Err(ApiError::PayloadTooLarge { size: BodySize::MoreThan(limit), limit });
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(buffer.freeze())
}

/// [`read_limited`] of a body that must be declared JSON; a body that is not is read
/// away before the 415.
pub(crate) async fn read_json(headers: &HeaderMap, body: BodyStream, limits: BodyLimits) -> Result<Bytes, ApiError> {
    if let Err(refused) = require_json(headers) {
        discard(headers, body).await;
        return Err(refused);
    }
    read_limited(headers, body, limits).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use warp::http::HeaderValue;

    fn with_content_type(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn json_content_types() {
        for ok in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/cloudevents+json",
            " application/json ;x=y",
        ] {
            assert!(require_json(&with_content_type(ok)).is_ok(), "{ok}");
        }
        for bad in ["text/plain", "application/jsonx", "application/+json", "json", "text/json", "multipart/form-data"]
        {
            assert!(require_json(&with_content_type(bad)).is_err(), "{bad}");
        }
        assert!(require_json(&HeaderMap::new()).is_err());
    }

    fn bytes(limit: usize) -> BodyLimits {
        BodyLimits { bytes: limit, time: Duration::from_secs(60) }
    }

    #[tokio::test]
    async fn a_body_that_does_not_arrive_in_time_is_a_408() {
        let stalled = futures::stream::iter([Ok(Bytes::from_static(b"{"))]).chain(futures::stream::pending());
        let limits = BodyLimits { bytes: 100, time: Duration::from_millis(100) };
        let err = read_limited(&HeaderMap::new(), Box::pin(stalled), limits).await.unwrap_err();
        assert!(matches!(err, ApiError::BodyTimeout(1)), "{err}");
    }

    fn chunks(parts: Vec<&'static [u8]>) -> BodyStream {
        Box::pin(futures::stream::iter(parts.into_iter().map(|p| Ok(Bytes::from_static(p)))))
    }

    #[tokio::test]
    async fn limit_is_enforced_while_reading() {
        let body = read_limited(&HeaderMap::new(), chunks(vec![b"{\"a\"", b":1}"]), bytes(7)).await.unwrap();
        assert_eq!(&body[..], b"{\"a\":1}");
        let err = read_limited(&HeaderMap::new(), chunks(vec![b"1234", b"5678"]), bytes(7)).await.unwrap_err();
        assert!(matches!(err, ApiError::PayloadTooLarge { size: BodySize::MoreThan(7), limit: 7 }));
    }

    #[tokio::test]
    async fn declared_length_is_refused_before_buffering() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("100"));
        let err = read_limited(&headers, chunks(vec![&[b'x'; 100]]), bytes(10)).await.unwrap_err();
        assert_eq!(err.to_string(), "Request body too large: 100 bytes (limit 10 bytes)");
        // Past the bound nothing is read: a body that never comes is not waited for.
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("1000000000"));
        let never_read: BodyStream = Box::pin(futures::stream::pending());
        assert!(read_limited(&headers, never_read, bytes(10)).await.is_err());
    }

    #[tokio::test]
    async fn a_refused_body_is_read_away_within_bounds() {
        let read = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = read.clone();
        let endless = futures::stream::repeat_with(move || {
            counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(Bytes::from_static(&[0; 64 * 1024]))
        });
        discard(&HeaderMap::new(), Box::pin(endless)).await;
        let chunks = read.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(chunks as u64, DISCARD_BYTES / (64 * 1024) + 1, "read up to the bound, then given up");
        // A body that stalls is given up after the time bound.
        let stalled: BodyStream = Box::pin(futures::stream::pending());
        let started = std::time::Instant::now();
        discard(&HeaderMap::new(), stalled).await;
        let waited = started.elapsed();
        assert!(waited >= DISCARD_TIME && waited < DISCARD_TIME + Duration::from_secs(2), "{waited:?}");
    }
}
