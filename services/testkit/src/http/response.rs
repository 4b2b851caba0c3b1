//! Encoding a response head. Bodies are written by the caller, so they can be dripped or streamed.

use std::fmt::Write as _;

/// The response head for `status` with `headers`, framed by `content_length`.
///
/// `Content-Length` (and `Connection: close` when `close` is set) are always written here, so
/// `headers` must not carry framing headers of their own.
pub fn response_head(status: u16, headers: &[(String, String)], content_length: u64, close: bool) -> Vec<u8> {
    let mut head = String::with_capacity(128);
    // Writing into a String cannot fail.
    let _ = write!(head, "HTTP/1.1 {status} {}\r\ncontent-length: {content_length}\r\n", reason_phrase(status));
    for (name, value) in headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    if close {
        head.push_str("connection: close\r\n");
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// The usual reason phrase of `status`; clients ignore it, people reading captures do not.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        410 => "Gone",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_carries_status_length_headers_and_close() {
        let headers = vec![("Retry-After".to_owned(), "5".to_owned())];
        let head = String::from_utf8(response_head(503, &headers, 12, true)).unwrap();
        assert_eq!(
            head,
            "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 12\r\nRetry-After: 5\r\nconnection: close\r\n\r\n"
        );
        let keep = String::from_utf8(response_head(299, &[], 0, false)).unwrap();
        assert_eq!(keep, "HTTP/1.1 299 Status\r\ncontent-length: 0\r\n\r\n");
    }
}
