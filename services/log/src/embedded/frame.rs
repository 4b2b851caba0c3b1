//! On-disk framing of one record, all integers little-endian:
//!
//! ```text
//! body_len u32 | crc32(body) u32 | body:
//!   offset u64 | timestamp_ms i64 | key_len u32 key | header_count u32 (name_len u32 name value_len u32 value)* | value_len u32 value
//! ```
//!
//! Frames are encoded by the appending task (offset and timestamp zero, no CRC) and
//! sealed by the writer thread once it knows the offset.

use crate::{NewRecord, Record};

/// Bytes before the CRC-covered body: its length and its CRC32.
pub(crate) const PREFIX_LEN: usize = 8;
/// Offset and timestamp, at the start of the body.
const BODY_HEAD_LEN: usize = 16;
/// A body holds at least its head and three u32 lengths (key, header count, value).
const MIN_BODY_LEN: usize = BODY_HEAD_LEN + 12;
/// Bytes to read to learn a frame's length, offset and timestamp.
pub(crate) const HEAD_LEN: usize = PREFIX_LEN + BODY_HEAD_LEN;

/// Length of the frame `encode` makes for `record`.
pub(crate) fn frame_len(record: &NewRecord) -> usize {
    let headers: usize = record.headers.iter().map(|(name, value)| 8 + name.len() + value.len()).sum();
    PREFIX_LEN + MIN_BODY_LEN + record.key.len() + headers + record.value.len()
}

/// Encodes a record with offset and timestamp zero and no CRC. The caller has checked
/// that the frame is within the record size limit (at most 1 GiB), so lengths fit u32.
pub(crate) fn encode(record: &NewRecord) -> Vec<u8> {
    let len = frame_len(record);
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&((len - 4) as u32).to_le_bytes());
    out.extend_from_slice(&[0; 4 + BODY_HEAD_LEN]);
    put_bytes(&mut out, &record.key);
    out.extend_from_slice(&(record.headers.len() as u32).to_le_bytes());
    for (name, value) in &record.headers {
        put_bytes(&mut out, name.as_bytes());
        put_bytes(&mut out, value);
    }
    put_bytes(&mut out, &record.value);
    out
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Writes the offset and timestamp into an encoded frame and computes its CRC.
pub(crate) fn seal(frame: &mut [u8], offset: u64, timestamp_ms: i64) {
    frame[8..16].copy_from_slice(&offset.to_le_bytes());
    frame[16..24].copy_from_slice(&timestamp_ms.to_le_bytes());
    let crc = crc32fast::hash(&frame[PREFIX_LEN..]);
    frame[4..8].copy_from_slice(&crc.to_le_bytes());
}

/// What the first [`HEAD_LEN`] bytes of a frame say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FrameHead {
    /// Length of the whole frame, prefix included.
    pub len: usize,
    pub offset: u64,
    pub timestamp_ms: i64,
}

/// Parses a frame head from the first [`HEAD_LEN`] bytes of `buf`.
pub(crate) fn read_head(buf: &[u8]) -> Result<FrameHead, String> {
    if buf.len() < HEAD_LEN {
        return Err(format!("frame head cut short ({} of {HEAD_LEN} bytes)", buf.len()));
    }
    let body_len = u32::from_le_bytes(buf[0..4].try_into().expect("4 bytes")) as usize;
    if body_len < MIN_BODY_LEN + 4 {
        return Err(format!("frame length {body_len} is too small"));
    }
    Ok(FrameHead {
        len: body_len + 4,
        offset: u64::from_le_bytes(buf[8..16].try_into().expect("8 bytes")),
        timestamp_ms: i64::from_le_bytes(buf[16..24].try_into().expect("8 bytes")),
    })
}

/// Whether the CRC of a whole frame matches its body.
pub(crate) fn crc_matches(frame: &[u8]) -> bool {
    let stored = u32::from_le_bytes(frame[4..8].try_into().expect("4 bytes"));
    crc32fast::hash(&frame[PREFIX_LEN..]) == stored
}

/// Decodes a whole frame (exactly `head.len` bytes), checking its CRC.
pub(crate) fn decode(frame: &[u8], topic: &str, partition: u32) -> Result<Record, String> {
    let head = read_head(frame)?;
    if frame.len() != head.len {
        return Err(format!("frame is {} bytes, its length field says {}", frame.len(), head.len));
    }
    if !crc_matches(frame) {
        return Err(format!("crc mismatch in the record at offset {}", head.offset));
    }
    let mut body = Reader { buf: &frame[HEAD_LEN..] };
    let key = body.bytes()?.to_vec();
    let header_count = body.u32()? as usize;
    let mut headers = Vec::with_capacity(header_count.min(1024));
    for _ in 0..header_count {
        let name = String::from_utf8(body.bytes()?.to_vec()).map_err(|_| "header name is not utf-8".to_string())?;
        headers.push((name, body.bytes()?.to_vec()));
    }
    let value = body.bytes()?.to_vec();
    if !body.buf.is_empty() {
        return Err(format!("{} unexpected bytes after the value", body.buf.len()));
    }
    Ok(Record {
        topic: topic.to_string(),
        partition,
        offset: head.offset,
        timestamp_ms: head.timestamp_ms,
        key,
        headers,
        value,
    })
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn u32(&mut self) -> Result<u32, String> {
        let (head, rest) = self.buf.split_at_checked(4).ok_or("record body cut short")?;
        self.buf = rest;
        Ok(u32::from_le_bytes(head.try_into().expect("4 bytes")))
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let len = self.u32()? as usize;
        let (head, rest) = self.buf.split_at_checked(len).ok_or("record body cut short")?;
        self.buf = rest;
        Ok(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> NewRecord {
        NewRecord {
            topic: "t".into(),
            key: b"key".to_vec(),
            headers: vec![("h1".into(), vec![0, 1, 2]), ("empty".into(), vec![])],
            value: vec![0xff, 0, 0x80],
        }
    }

    #[test]
    fn sealed_frame_decodes_to_the_same_record() {
        let record = sample();
        let mut frame = encode(&record);
        assert_eq!(frame.len(), frame_len(&record));
        seal(&mut frame, 42, 1_700_000_000_123);
        let head = read_head(&frame).unwrap();
        assert_eq!((head.len, head.offset, head.timestamp_ms), (frame.len(), 42, 1_700_000_000_123));
        let decoded = decode(&frame, "t", 3).unwrap();
        assert_eq!(decoded.key, record.key);
        assert_eq!(decoded.headers, record.headers);
        assert_eq!(decoded.value, record.value);
        assert_eq!((decoded.partition, decoded.offset), (3, 42));
    }

    #[test]
    fn flipped_bit_is_detected() {
        let mut frame = encode(&sample());
        seal(&mut frame, 1, 1);
        let last = frame.len() - 1;
        frame[last] ^= 1;
        assert!(decode(&frame, "t", 0).unwrap_err().contains("crc"));
    }

    #[test]
    fn cut_frame_is_rejected() {
        let mut frame = encode(&sample());
        seal(&mut frame, 1, 1);
        assert!(decode(&frame[..frame.len() - 2], "t", 0).is_err());
        assert!(read_head(&frame[..10]).is_err());
    }
}
