//! Kafka's default partitioner: murmur2 of the key bytes, made positive, modulo the
//! partition count. Kept bit-for-bit equal to Kafka's Java `Utils.murmur2` so that a
//! key lands in the same partition number in the embedded and the Kafka adapters.

/// Kafka's `Utils.murmur2` (seed 0x9747b28c), as a signed 32-bit value like Java's.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;

    // Java truncates the length to an int; keys never come near 4 GiB.
    let mut h: u32 = SEED ^ (data.len() as u32);
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition Kafka's default partitioner picks for a (non-null) key.
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    // Kafka's `toPositive`: clear the sign bit (not `abs`, which overflows on MIN).
    let positive = (murmur2(key) & 0x7fff_ffff) as u32;
    positive % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_kafka_test_vectors() {
        // From Kafka's UtilsTest.testMurmur2.
        let vectors: &[(&[u8], i32)] = &[
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
            (b"abc", 479_470_107),
        ];
        for (input, expected) in vectors {
            assert_eq!(murmur2(input), *expected, "murmur2({:?})", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn partition_is_positive_hash_modulo_count() {
        // murmur2("21") is negative: the sign bit is cleared, not negated.
        let expected = ((-973_932_308i32 & 0x7fff_ffff) as u32) % 7;
        assert_eq!(partition_for_key(b"21", 7), expected);
        for partitions in 1..20 {
            assert!(partition_for_key(b"any key", partitions) < partitions);
        }
    }
}
