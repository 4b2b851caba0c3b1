//! `Retry-After` on 429 and 503: how long the receiver asked us to wait. Pure: the
//! current time is passed in.

use std::time::{Duration, SystemTime};

/// Statuses whose `Retry-After` is honoured (RFC 9110 §10.2.3, RFC 6585 §4).
pub fn honoured_for(status: u16) -> bool {
    status == 429 || status == 503
}

/// The wait a `Retry-After` value asks for: delta seconds, or an HTTP date (a date in
/// the past asks for none). `None` when the value is neither.
pub fn parse(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Beyond u64 seconds is "for ever"; the retry policy caps it anyway.
        return Some(value.parse().map(Duration::from_secs).unwrap_or(Duration::MAX));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delta_seconds() {
        let now = SystemTime::now();
        assert_eq!(parse("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse("99999999999999999999999", now), Some(Duration::MAX));
        for bad in ["", "-5", "1.5", "soon", "12s"] {
            assert_eq!(parse(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn http_dates_in_every_format_the_rfc_allows() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:00 GMT").unwrap();
        for value in ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994"] {
            assert_eq!(parse(value, now), Some(Duration::from_secs(37)), "{value}");
        }
        assert_eq!(parse("Sun, 06 Nov 1994 08:48:00 GMT", now), Some(Duration::ZERO));
    }

    #[test]
    fn only_429_and_503_are_honoured() {
        assert!(honoured_for(429) && honoured_for(503));
        assert!(!honoured_for(500) && !honoured_for(301) && !honoured_for(200));
    }
}
