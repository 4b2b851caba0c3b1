//! W3C trace context (<https://www.w3.org/TR/trace-context/>) carried with an accepted
//! webhook or event, so that its deliveries belong to the producer's trace.
//!
//! A producer sends `traceparent` (and optionally `tracestate`) with a webhook or an
//! event; what is kept is checked and bounded here. A `traceparent` that does not parse
//! is ignored, as the W3C rules ask (a trace header never costs a producer its
//! webhook), and so is a `tracestate` without a valid `traceparent`. A `tracestate`
//! that is malformed or longer than [`MAX_TRACESTATE_BYTES`] is dropped and the
//! `traceparent` kept.

use serde::{Deserialize, Serialize};

/// The W3C header carrying the trace id, the parent span id and the flags.
pub const TRACEPARENT_HEADER: &str = "traceparent";
/// The W3C header carrying vendor-specific trace state.
pub const TRACESTATE_HEADER: &str = "tracestate";
/// The longest `tracestate` kept: 512 bytes is what every party must pass on
/// (W3C, section 3.3.1.5); anything longer is dropped.
pub const MAX_TRACESTATE_BYTES: usize = 512;
/// At most this many `tracestate` list members (W3C).
const MAX_TRACESTATE_MEMBERS: usize = 32;
/// `00-` + 32 hex + `-` + 16 hex + `-` + 2 hex.
const TRACEPARENT_LEN: usize = 55;

/// The trace a webhook or event belongs to, as the W3C headers say it: `traceparent`
/// always in version `00` form, lowercase; `tracestate` as received, when valid.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TraceContext {
    pub traceparent: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracestate: Option<String>,
}

impl TraceContext {
    /// The trace context of the W3C headers, when `traceparent` is valid (see the
    /// module doc for what is dropped).
    pub fn from_headers(traceparent: Option<&[u8]>, tracestate: Option<&[u8]>) -> Option<TraceContext> {
        let traceparent = parse_traceparent(traceparent?)?;
        let tracestate = tracestate.and_then(parse_tracestate);
        Some(TraceContext { traceparent, tracestate })
    }

    /// A context from its parts (ids as lowercase hex), e.g. the span a delivery is part of.
    pub fn from_parts(trace_id: [u8; 16], span_id: [u8; 8], sampled: bool, tracestate: Option<String>) -> Self {
        let traceparent = format!("00-{}-{}-{:02x}", hex(&trace_id), hex(&span_id), u8::from(sampled));
        TraceContext {
            traceparent,
            tracestate: tracestate.filter(|state| parse_tracestate(state.as_bytes()).is_some()),
        }
    }

    /// The 32 hex digits of the trace id.
    pub fn trace_id(&self) -> &str {
        &self.traceparent[3..35]
    }

    /// The 16 hex digits of the span this context names as parent.
    pub fn parent_id(&self) -> &str {
        &self.traceparent[36..52]
    }

    /// Whether the producer asked for this trace to be recorded.
    pub fn sampled(&self) -> bool {
        u8::from_str_radix(&self.traceparent[53..55], 16).is_ok_and(|flags| flags & 1 == 1)
    }

    /// Whether a context read back from the log still is one [`TraceContext::from_headers`]
    /// would keep (records are written by hookline, but the log is shared).
    pub fn is_valid(&self) -> bool {
        parse_traceparent(self.traceparent.as_bytes()).as_deref() == Some(self.traceparent.as_str())
            && self.tracestate.as_ref().is_none_or(|state| parse_tracestate(state.as_bytes()).is_some())
    }
}

/// `traceparent` in version `00` form, or `None` when it is not valid. A later version
/// is read by its first four fields, as the W3C rules ask.
fn parse_traceparent(raw: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(raw).ok()?.trim_matches([' ', '\t']);
    if !text.is_ascii() || text.len() < TRACEPARENT_LEN {
        return None;
    }
    let version = &text[..2];
    if !is_lower_hex(version) || version == "ff" {
        return None;
    }
    // Version 00 is exactly 55 characters; a later one may carry more after a dash.
    let (head, rest) = text.split_at(TRACEPARENT_LEN);
    if (version == "00" && !rest.is_empty()) || (!rest.is_empty() && !rest.starts_with('-')) {
        return None;
    }
    let mut fields = head.split('-');
    let (Some(_), Some(trace_id), Some(parent_id), Some(flags), None) =
        (fields.next(), fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return None;
    };
    let shapes_hold = trace_id.len() == 32 && parent_id.len() == 16 && flags.len() == 2;
    if !shapes_hold || ![trace_id, parent_id, flags].iter().all(|field| is_lower_hex(field)) {
        return None;
    }
    if trace_id.bytes().all(|b| b == b'0') || parent_id.bytes().all(|b| b == b'0') {
        return None;
    }
    // Only the sampled bit has a meaning in version 00; the others are passed on as 0.
    let sampled = u8::from_str_radix(flags, 16).ok()? & 1;
    Some(format!("00-{trace_id}-{parent_id}-{sampled:02x}"))
}

/// `tracestate` as received, when it is printable ASCII within the bounds and every
/// member is `key=value`.
fn parse_tracestate(raw: &[u8]) -> Option<String> {
    if raw.is_empty() || raw.len() > MAX_TRACESTATE_BYTES || !raw.iter().all(|b| (0x20..=0x7e).contains(b)) {
        return None;
    }
    let text = std::str::from_utf8(raw).ok()?;
    let members: Vec<&str> = text.split(',').map(|member| member.trim_matches([' ', '\t'])).collect();
    let well_formed = members.len() <= MAX_TRACESTATE_MEMBERS
        && members.iter().all(|member| {
            member.is_empty() || member.split_once('=').is_some_and(|(key, value)| !key.is_empty() && !value.is_empty())
        });
    well_formed.then(|| text.to_string())
}

fn is_lower_hex(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn parse(traceparent: &str, tracestate: Option<&str>) -> Option<TraceContext> {
        TraceContext::from_headers(Some(traceparent.as_bytes()), tracestate.map(str::as_bytes))
    }

    #[test]
    fn a_valid_traceparent_is_kept_with_its_parts() {
        let trace = parse(PARENT, Some("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")).unwrap();
        assert_eq!(trace.traceparent, PARENT);
        assert_eq!(trace.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(trace.parent_id(), "00f067aa0ba902b7");
        assert!(trace.sampled());
        assert_eq!(trace.tracestate.as_deref(), Some("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"));
        assert!(trace.is_valid());
    }

    #[test]
    fn invalid_traceparents_are_ignored() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
        ] {
            assert_eq!(parse(bad, Some("a=b")), None, "{bad:?}");
        }
        assert_eq!(TraceContext::from_headers(None, Some(b"a=b")), None);
        assert_eq!(TraceContext::from_headers(Some(b"\xff\xfe"), None), None);
    }

    #[test]
    fn a_later_version_is_read_as_version_00() {
        let trace = parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-what-the-future-says", None);
        assert_eq!(trace.unwrap().traceparent, PARENT);
    }

    #[test]
    fn a_bad_or_long_tracestate_is_dropped_and_the_traceparent_kept() {
        let long = format!("k={}", "v".repeat(MAX_TRACESTATE_BYTES));
        let many = (0..33).map(|i| format!("k{i}=v")).collect::<Vec<_>>().join(",");
        for bad in [long.as_str(), many.as_str(), "novalue", "=v", "k=v\u{7f}", "k=\u{e9}"] {
            let trace = parse(PARENT, Some(bad)).unwrap();
            assert_eq!(trace.tracestate, None, "{bad:?}");
        }
    }

    #[test]
    fn parts_make_a_traceparent() {
        let trace = TraceContext::from_parts([0xab; 16], [0x01; 8], false, Some("a=b".into()));
        assert_eq!(trace.traceparent, format!("00-{}-{}-00", "ab".repeat(16), "01".repeat(8)));
        assert!(!trace.sampled());
        assert!(trace.is_valid());
    }
}
