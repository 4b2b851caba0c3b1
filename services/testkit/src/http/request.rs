//! Parsing a request head (request line and headers) out of a byte buffer, without I/O.

use bytes::Bytes;

/// Longest request head accepted; beyond it the request is refused (431).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Most header lines accepted in one request.
pub const MAX_HEADERS: usize = 128;

/// Why a request could not be parsed. Every variant is permanent for the connection: the server
/// answers [`ParseError::status`] and closes, since the framing of what follows is unknown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("request head longer than {MAX_HEAD_BYTES} bytes")]
    HeadTooLarge,
    #[error("more than {MAX_HEADERS} headers")]
    TooManyHeaders,
    #[error("request head is not valid UTF-8")]
    NotUtf8,
    #[error("malformed request line {0:?}")]
    BadRequestLine(String),
    #[error("unsupported HTTP version {0:?}")]
    UnsupportedVersion(String),
    #[error("malformed header line {0:?}")]
    BadHeader(String),
    #[error("invalid Content-Length {0:?}")]
    BadContentLength(String),
    #[error("Transfer-Encoding {0:?} is not supported; send a Content-Length body")]
    TransferEncoding(String),
    #[error("body of {length} bytes exceeds the limit of {limit} bytes")]
    BodyTooLarge { length: usize, limit: usize },
}

impl ParseError {
    /// The status the server answers before closing the connection.
    pub fn status(&self) -> u16 {
        match self {
            ParseError::HeadTooLarge | ParseError::TooManyHeaders => 431,
            ParseError::BodyTooLarge { .. } => 413,
            _ => 400,
        }
    }
}

/// The HTTP versions understood; they differ only in the keep-alive default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// A parsed request line and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    pub method: String,
    /// The request target as sent (origin form: path and optional query).
    pub target: String,
    pub version: Version,
    /// Header names and values in the order received, names as sent (compare case-insensitively).
    pub headers: Vec<(String, String)>,
    /// The body length announced by `Content-Length` (0 when absent).
    pub content_length: usize,
}

impl RequestHead {
    /// The first value of the header `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The path part of the target, without the query.
    pub fn path(&self) -> &str {
        self.target.split_once('?').map_or(&self.target, |(path, _)| path)
    }

    /// The query part of the target (after `?`), if any.
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, query)| query)
    }

    /// Whether the client lets the connection stay open after this request.
    pub fn keep_alive(&self) -> bool {
        let connection = self.header("connection").unwrap_or("");
        let has = |token: &str| connection.split(',').any(|t| t.trim().eq_ignore_ascii_case(token));
        match self.version {
            Version::Http11 => !has("close"),
            Version::Http10 => has("keep-alive"),
        }
    }

    /// Whether the client waits for `100 Continue` before sending the body.
    pub fn expects_continue(&self) -> bool {
        self.header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    }
}

/// A whole request: head and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub head: RequestHead,
    pub body: Bytes,
}

/// Parses a request head at the start of `buf`.
///
/// Returns `Ok(None)` when the head is not complete yet (read more and call again), or the head
/// and the number of bytes it took (body and pipelined requests follow). Lines may end with CRLF
/// or a bare LF.
pub fn parse_head(buf: &[u8]) -> Result<Option<(RequestHead, usize)>, ParseError> {
    let Some(head_len) = find_head_end(buf) else {
        return if buf.len() > MAX_HEAD_BYTES { Err(ParseError::HeadTooLarge) } else { Ok(None) };
    };
    if head_len > MAX_HEAD_BYTES {
        return Err(ParseError::HeadTooLarge);
    }
    let text = std::str::from_utf8(&buf[..head_len]).map_err(|_| ParseError::NotUtf8)?;
    let mut lines = text.split('\n').map(|line| line.strip_suffix('\r').unwrap_or(line));
    let (method, target, version) = parse_request_line(lines.next().unwrap_or(""))?;

    let mut headers = Vec::new();
    for line in lines.take_while(|line| !line.is_empty()) {
        if headers.len() == MAX_HEADERS {
            return Err(ParseError::TooManyHeaders);
        }
        headers.push(parse_header_line(line)?);
    }
    let mut head = RequestHead { method, target, version, headers, content_length: 0 };
    head.content_length = content_length(&head)?;
    Ok(Some((head, head_len)))
}

/// The length of the head including its blank line, if the blank line has arrived.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    // A blank line is "\n\n" or "\n\r\n"; whichever comes first ends the head.
    buf.iter().enumerate().filter(|(_, b)| **b == b'\n').find_map(|(i, _)| match &buf[i + 1..] {
        [b'\n', ..] => Some(i + 2),
        [b'\r', b'\n', ..] => Some(i + 3),
        _ => None,
    })
}

fn parse_request_line(line: &str) -> Result<(String, String, Version), ParseError> {
    let bad = || ParseError::BadRequestLine(line.to_owned());
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if !is_token(method) || !target.starts_with('/') || target.bytes().any(|b| b.is_ascii_whitespace()) {
        return Err(bad());
    }
    let version = match version {
        "HTTP/1.1" => Version::Http11,
        "HTTP/1.0" => Version::Http10,
        other if other.starts_with("HTTP/") => return Err(ParseError::UnsupportedVersion(other.to_owned())),
        _ => return Err(bad()),
    };
    Ok((method.to_owned(), target.to_owned(), version))
}

fn parse_header_line(line: &str) -> Result<(String, String), ParseError> {
    // A line starting with whitespace is obsolete line folding, which RFC 9112 lets servers refuse;
    // a name must be a token with no whitespace before the colon.
    match line.split_once(':') {
        Some((name, value)) if is_token(name) => Ok((name.to_owned(), value.trim_matches([' ', '\t']).to_owned())),
        _ => Err(ParseError::BadHeader(line.to_owned())),
    }
}

fn content_length(head: &RequestHead) -> Result<usize, ParseError> {
    if let Some(encoding) = head.header("transfer-encoding") {
        return Err(ParseError::TransferEncoding(encoding.to_owned()));
    }
    let mut length = None;
    for (_, value) in head.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("content-length")) {
        let bad = || ParseError::BadContentLength(value.clone());
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let parsed: usize = value.parse().map_err(|_| bad())?;
        // Differing lengths are the classic request-smuggling ambiguity: refuse rather than pick one.
        if length.is_some_and(|seen| seen != parsed) {
            return Err(bad());
        }
        length = Some(parsed);
    }
    Ok(length.unwrap_or(0))
}

/// RFC 9110 token: one or more visible characters other than delimiters.
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests;
