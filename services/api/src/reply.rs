//! Turning handler results into HTTP responses: the one function every route ends in.

use serde::Serialize;
use warp::http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use warp::http::StatusCode;
use warp::reply::{Reply, Response};

use crate::error::ApiError;

/// A successful answer: a status, a JSON body (serialized once, straight from the
/// handler's type) and extra headers.
pub(crate) struct ApiReply {
    status: StatusCode,
    /// `None`: no body at all (204).
    body: Option<Vec<u8>>,
    headers: Vec<(&'static str, String)>,
}

impl ApiReply {
    pub(crate) fn json<T: Serialize>(status: StatusCode, body: &T) -> Result<Self, ApiError> {
        Ok(Self { status, body: Some(serde_json::to_vec(body)?), headers: Vec::new() })
    }

    /// 204, without a body or a content type.
    pub(crate) fn no_content() -> Self {
        Self { status: StatusCode::NO_CONTENT, body: None, headers: Vec::new() }
    }

    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    pub(crate) fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
}

/// The response for a handler's result. Server errors are logged here with their cause.
pub(crate) fn into_response(result: Result<ApiReply, ApiError>) -> Response {
    match result {
        Ok(reply) => {
            let mut response = match reply.body {
                Some(body) => {
                    let mut response = Response::new(body.into());
                    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                    response
                }
                None => Response::default(),
            };
            *response.status_mut() = reply.status;
            with_headers(response, reply.headers)
        }
        Err(error) => error_response(&error),
    }
}

/// The response for an error.
pub(crate) fn error_response(error: &ApiError) -> Response {
    let reply = error.to_reply();
    if reply.status.is_server_error() {
        tracing::error!(status = reply.status.as_u16(), error = %error, cause = ?error, "request failed");
    } else {
        tracing::debug!(status = reply.status.as_u16(), error = %error, "request refused");
    }
    let response = warp::reply::with_status(warp::reply::json(&reply.body), reply.status).into_response();
    with_headers(response, reply.headers)
}

fn with_headers(mut response: Response, headers: Vec<(&'static str, String)>) -> Response {
    for (name, value) in headers {
        // Header values are built from ids, numbers and percent-encoded cursors, so they
        // are always valid; one that is not is dropped rather than failing the request.
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(HeaderName::from_static(name), value);
        }
    }
    response
}
