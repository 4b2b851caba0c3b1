//! The quarantine copy of a record: small enough for any log, and enough to find the
//! original, see what it was, and know why it was set aside.

use hookline_domain::topics;
use hookline_log::{NewRecord, Record};

/// Header: the topic the record was read from.
pub const TOPIC_HEADER: &str = "hookline-quarantine-topic";
/// Header: its partition (decimal).
pub const PARTITION_HEADER: &str = "hookline-quarantine-partition";
/// Header: its offset (decimal).
pub const OFFSET_HEADER: &str = "hookline-quarantine-offset";
/// Header: the role that could not process it.
pub const ROLE_HEADER: &str = "hookline-quarantine-role";
/// Header: the stable reason (`undecodable`, `too_large`, `refused`).
pub const REASON_HEADER: &str = "hookline-quarantine-reason";
/// Header: the reason in words.
pub const MESSAGE_HEADER: &str = "hookline-quarantine-message";
/// Header: how many bytes the original value had (decimal); the copy keeps the first ones.
pub const VALUE_BYTES_HEADER: &str = "hookline-quarantine-value-bytes";

/// Most bytes of the original value a copy keeps.
pub const KEPT_VALUE_BYTES: usize = 64 * 1024;
/// Most bytes of the original key a copy keeps.
const KEPT_KEY_BYTES: usize = 1024;
/// Most bytes of the original headers, all together, a copy keeps; beyond, none are kept.
const KEPT_HEADER_BYTES: usize = 8 * 1024;
/// Most bytes of the message a copy keeps.
const KEPT_MESSAGE_BYTES: usize = 1024;

/// Where the record was and why it is set aside.
#[derive(Clone, Copy, Debug)]
pub struct Why<'a> {
    pub role: &'a str,
    pub reason: &'a str,
    pub message: &'a str,
}

/// The copy of `record` for `hookline.quarantine`, keeping at most `value_room` bytes of
/// its value (and at most [`KEPT_VALUE_BYTES`]).
pub fn quarantine_copy(record: &Record, why: Why<'_>, value_room: usize) -> NewRecord {
    let header_bytes: usize = record.headers.iter().map(|(name, value)| name.len() + value.len()).sum();
    let mut headers = if header_bytes <= KEPT_HEADER_BYTES { record.headers.clone() } else { Vec::new() };
    headers.retain(|(name, _)| !name.starts_with("hookline-quarantine-"));
    let message = truncate(why.message.as_bytes(), KEPT_MESSAGE_BYTES);
    headers.extend([
        (TOPIC_HEADER.to_string(), record.topic.as_bytes().to_vec()),
        (PARTITION_HEADER.to_string(), record.partition.to_string().into_bytes()),
        (OFFSET_HEADER.to_string(), record.offset.to_string().into_bytes()),
        (ROLE_HEADER.to_string(), why.role.as_bytes().to_vec()),
        (REASON_HEADER.to_string(), why.reason.as_bytes().to_vec()),
        (MESSAGE_HEADER.to_string(), message.to_vec()),
        (VALUE_BYTES_HEADER.to_string(), record.value.len().to_string().into_bytes()),
    ]);
    NewRecord {
        topic: topics::QUARANTINE.to_string(),
        key: truncate(&record.key, KEPT_KEY_BYTES).to_vec(),
        headers,
        value: truncate(&record.value, value_room.min(KEPT_VALUE_BYTES)).to_vec(),
    }
}

fn truncate(bytes: &[u8], at_most: usize) -> &[u8] {
    &bytes[..bytes.len().min(at_most)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: usize, value: usize, headers: Vec<(String, Vec<u8>)>) -> Record {
        Record {
            topic: "hookline.ingest".into(),
            partition: 2,
            offset: 41,
            timestamp_ms: 0,
            key: vec![b'k'; key],
            headers,
            value: vec![b'v'; value],
        }
    }

    fn header<'a>(copy: &'a NewRecord, name: &str) -> &'a [u8] {
        copy.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice()).unwrap()
    }

    const WHY: Why<'static> = Why { role: "ingest", reason: "too_large", message: "record too large" };

    #[test]
    fn a_copy_says_where_the_record_was_and_why_and_keeps_its_start() {
        let original = record(36, 5_000_000, vec![("event_type".into(), b"e".to_vec())]);
        let copy = quarantine_copy(&original, WHY, usize::MAX);
        assert_eq!(copy.topic, topics::QUARANTINE);
        assert_eq!(copy.key, original.key);
        assert_eq!(copy.value.len(), KEPT_VALUE_BYTES);
        assert_eq!(header(&copy, "event_type"), b"e");
        assert_eq!(header(&copy, TOPIC_HEADER), b"hookline.ingest");
        assert_eq!(header(&copy, PARTITION_HEADER), b"2");
        assert_eq!(header(&copy, OFFSET_HEADER), b"41");
        assert_eq!(header(&copy, ROLE_HEADER), b"ingest");
        assert_eq!(header(&copy, REASON_HEADER), b"too_large");
        assert_eq!(header(&copy, MESSAGE_HEADER), b"record too large");
        assert_eq!(header(&copy, VALUE_BYTES_HEADER), b"5000000");
    }

    #[test]
    fn huge_keys_and_headers_are_cut_and_small_values_kept_whole() {
        let original = record(1 << 20, 10, vec![("big".into(), vec![0; 1 << 20])]);
        let copy = quarantine_copy(&original, WHY, 100);
        assert_eq!(copy.key.len(), KEPT_KEY_BYTES);
        assert_eq!(copy.value, original.value);
        assert!(copy.headers.iter().all(|(name, _)| name.starts_with("hookline-quarantine-")));
        assert_eq!(quarantine_copy(&record(0, 1000, vec![]), WHY, 100).value.len(), 100);
    }

    #[test]
    fn a_copy_of_a_copy_carries_only_the_latest_reason() {
        let first = quarantine_copy(&record(1, 1, vec![]), WHY, 100);
        let again = Record { headers: first.headers, ..record(1, 1, vec![]) };
        let second = quarantine_copy(&again, Why { reason: "undecodable", ..WHY }, 100);
        assert_eq!(second.headers.iter().filter(|(name, _)| name == REASON_HEADER).count(), 1);
        assert_eq!(header(&second, REASON_HEADER), b"undecodable");
    }
}
