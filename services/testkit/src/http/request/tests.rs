use super::*;

fn parse(raw: &str) -> Result<Option<(RequestHead, usize)>, ParseError> {
    parse_head(raw.as_bytes())
}

fn head(raw: &str) -> RequestHead {
    parse(raw).expect("valid request").expect("complete head").0
}

#[test]
fn parses_a_post_with_headers_and_reports_the_head_length() {
    let raw =
        "POST /hook?x=1 HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}";
    let (head, len) = parse(raw).unwrap().unwrap();
    assert_eq!(head.method, "POST");
    assert_eq!(head.target, "/hook?x=1");
    assert_eq!(head.path(), "/hook");
    assert_eq!(head.query(), Some("x=1"));
    assert_eq!(head.version, Version::Http11);
    assert_eq!(head.content_length, 7);
    assert_eq!(head.headers.len(), 3);
    assert_eq!(&raw[len..], "{\"a\":1}");
}

#[test]
fn header_lookup_is_case_insensitive_and_values_are_trimmed() {
    let head = head("GET / HTTP/1.1\r\nWebhook-ID:   msg_1 \t\r\n\r\n");
    assert_eq!(head.header("webhook-id"), Some("msg_1"));
    assert_eq!(head.header("WEBHOOK-ID"), Some("msg_1"));
    assert_eq!(head.header("missing"), None);
    assert_eq!(head.query(), None);
}

#[test]
fn bare_lf_line_endings_are_accepted() {
    let (head, len) = parse("GET /a HTTP/1.1\nHost: x\n\nrest").unwrap().unwrap();
    assert_eq!(head.path(), "/a");
    assert_eq!(head.header("host"), Some("x"));
    assert_eq!(len, "GET /a HTTP/1.1\nHost: x\n\n".len());
}

#[test]
fn an_incomplete_head_asks_for_more_bytes() {
    assert_eq!(parse("").unwrap(), None);
    assert_eq!(parse("GET / HTTP/1.1\r\nHost: x\r\n").unwrap(), None);
    assert_eq!(parse("GET / HTTP/1.1\r\nHost: x\r\n\r").unwrap(), None);
}

#[test]
fn only_the_first_of_pipelined_requests_is_consumed() {
    let first = "GET /1 HTTP/1.1\r\n\r\n";
    let raw = format!("{first}GET /2 HTTP/1.1\r\n\r\n");
    let (head, len) = parse(&raw).unwrap().unwrap();
    assert_eq!(head.path(), "/1");
    assert_eq!(len, first.len());
}

#[test]
fn keep_alive_follows_version_and_connection_header() {
    assert!(head("GET / HTTP/1.1\r\n\r\n").keep_alive());
    assert!(!head("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive());
    assert!(!head("GET / HTTP/1.1\r\nconnection: Upgrade, Close\r\n\r\n").keep_alive());
    assert!(!head("GET / HTTP/1.0\r\n\r\n").keep_alive());
    assert!(head("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive());
}

#[test]
fn expect_continue_is_recognised() {
    assert!(head("POST / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n").expects_continue());
    assert!(!head("POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\n").expects_continue());
}

#[test]
fn malformed_request_lines_are_refused() {
    for line in
        ["GET /", "GET  / HTTP/1.1", "GET / HTTP/1.1 extra", "G(T / HTTP/1.1", "GET hook HTTP/1.1", "/ GET HTTP"]
    {
        let err = parse(&format!("{line}\r\n\r\n")).unwrap_err();
        assert_eq!(err, ParseError::BadRequestLine(line.to_owned()), "{line}");
        assert_eq!(err.status(), 400);
    }
}

#[test]
fn other_http_versions_are_refused() {
    assert_eq!(parse("GET / HTTP/2.0\r\n\r\n").unwrap_err(), ParseError::UnsupportedVersion("HTTP/2.0".into()));
}

#[test]
fn malformed_headers_are_refused() {
    for line in ["NoColon", "Bad Name: x", "Space : x", ": empty-name", " folded: continuation"] {
        let err = parse(&format!("GET / HTTP/1.1\r\n{line}\r\n\r\n")).unwrap_err();
        assert_eq!(err, ParseError::BadHeader(line.to_owned()), "{line}");
    }
}

#[test]
fn bad_or_conflicting_content_lengths_are_refused() {
    for value in ["-1", "1.5", "", "+3", "99999999999999999999999999"] {
        let err = parse(&format!("POST / HTTP/1.1\r\nContent-Length: {value}\r\n\r\n")).unwrap_err();
        assert_eq!(err, ParseError::BadContentLength(value.to_owned()), "{value:?}");
    }
    let conflicting = parse("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n");
    assert_eq!(conflicting.unwrap_err(), ParseError::BadContentLength("4".into()));
    let repeated = head("POST / HTTP/1.1\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\n");
    assert_eq!(repeated.content_length, 3);
}

#[test]
fn chunked_bodies_are_refused() {
    let err = parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap_err();
    assert_eq!(err, ParseError::TransferEncoding("chunked".into()));
    assert_eq!(err.status(), 400);
}

#[test]
fn oversized_heads_and_too_many_headers_are_refused() {
    let unterminated = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(MAX_HEAD_BYTES));
    assert_eq!(parse(&unterminated).unwrap_err(), ParseError::HeadTooLarge);
    let terminated = format!("{unterminated}\r\n\r\n");
    assert_eq!(parse(&terminated).unwrap_err(), ParseError::HeadTooLarge);

    let many: String = (0..=MAX_HEADERS).map(|i| format!("H{i}: v\r\n")).collect();
    let err = parse(&format!("GET / HTTP/1.1\r\n{many}\r\n")).unwrap_err();
    assert_eq!(err, ParseError::TooManyHeaders);
    assert_eq!(err.status(), 431);
}

#[test]
fn non_utf8_heads_are_refused() {
    assert_eq!(parse_head(b"GET / HTTP/1.1\r\nX: \xff\r\n\r\n").unwrap_err(), ParseError::NotUtf8);
}
