//! Request bodies: the JSON content-type rule and reading with a size limit that is
//! enforced while reading, so an oversized body is never buffered whole.

use std::pin::Pin;

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

/// Reads the whole body, refusing it as soon as it is known to exceed `limit`: from
/// `Content-Length` before reading anything, else as the chunks arrive.
pub(crate) async fn read_limited(headers: &HeaderMap, mut body: BodyStream, limit: usize) -> Result<Bytes, ApiError> {
    let declared = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(size) = declared {
        if size > limit as u64 {
            return Err(ApiError::PayloadTooLarge { size: BodySize::Declared(size), limit });
        }
    }
    let mut buffer = BytesMut::with_capacity(declared.map_or(0, |size| size as usize));
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("Request body could not be read: {e}")))?;
        if buffer.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { size: BodySize::MoreThan(limit), limit });
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(buffer.freeze())
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

    fn chunks(parts: Vec<&'static [u8]>) -> BodyStream {
        Box::pin(futures::stream::iter(parts.into_iter().map(|p| Ok(Bytes::from_static(p)))))
    }

    #[tokio::test]
    async fn limit_is_enforced_while_reading() {
        let body = read_limited(&HeaderMap::new(), chunks(vec![b"{\"a\"", b":1}"]), 7).await.unwrap();
        assert_eq!(&body[..], b"{\"a\":1}");
        let err = read_limited(&HeaderMap::new(), chunks(vec![b"1234", b"5678"]), 7).await.unwrap_err();
        assert!(matches!(err, ApiError::PayloadTooLarge { size: BodySize::MoreThan(7), limit: 7 }));
    }

    #[tokio::test]
    async fn declared_length_is_refused_before_reading() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("100"));
        let never_read: BodyStream = Box::pin(futures::stream::pending());
        let err = read_limited(&headers, never_read, 10).await.unwrap_err();
        assert_eq!(err.to_string(), "Request body too large: 100 bytes (limit 10 bytes)");
    }
}
