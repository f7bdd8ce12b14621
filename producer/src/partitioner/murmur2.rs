//! Kafka's murmur2 hash, bit for bit as Java's `org.apache.kafka.common.utils.Utils.murmur2`.

/// Java's `Utils.murmur2(byte[])`: 32-bit MurmurHash2 with seed `0x9747b28c`, reading the input
/// as little-endian 4-byte words and the tail bytes in Java's fall-through order.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;

    // Java computes `seed ^ length` on ints; lengths above i32::MAX cannot exist there.
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
    let tail = chunks.remainder();
    // Java's switch falls through from 3 to 2 to 1; bytes are sign-extended then masked, so
    // each contributes its unsigned value.
    if tail.len() == 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Java's `Utils.toPositive`: clears the sign bit (not `abs`, which overflows on `i32::MIN`).
pub fn to_positive(n: i32) -> i32 {
    n & 0x7fff_ffff
}

/// The partition Java's default partitioner picks for a key:
/// `toPositive(murmur2(key)) % partitions`. Returns `None` when `partitions <= 0`.
pub fn partition_for_key(key: &[u8], partitions: i32) -> Option<i32> {
    (partitions > 0).then(|| to_positive(murmur2(key)) % partitions)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cases from Kafka's own `UtilsTest.testMurmur2`, which asserts Java's output.
    #[test]
    fn matches_kafka_utils_test() {
        let cases: &[(&[u8], i32)] = &[
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (key, want) in cases {
            assert_eq!(murmur2(key), *want, "{:?}", String::from_utf8_lossy(key));
        }
    }

    /// Cases librdkafka's `rdmurmur2.c` unit test asserts to be Java-compatible (they cover
    /// every tail length 0..=3 and unaligned starts).
    #[test]
    fn matches_librdkafka_java_compat_table() {
        let cases: &[(&str, u32)] = &[
            ("kafka", 0xd067_cf64),
            ("giberish123456789", 0x8f55_2b0c),
            ("1234", 0x9fc9_7b14),
            ("234", 0xe7c0_09ca),
            ("34", 0x8739_30da),
            ("4", 0x5a4b_5ca1),
            ("PreAmbleWillBeRemoved,ThePrePartThatIs", 0x7842_4f1c),
            ("reAmbleWillBeRemoved,ThePrePartThatIs", 0x4a62_b377),
            ("eAmbleWillBeRemoved,ThePrePartThatIs", 0xe0e4_e09e),
            ("AmbleWillBeRemoved,ThePrePartThatIs", 0x62b8_b43f),
            ("", 0x106e_08d9),
        ];
        for (key, want) in cases {
            assert_eq!(murmur2(key.as_bytes()) as u32, *want, "{key:?}");
        }
    }

    /// Values other Java-compatible clients assert (akka's Kafka sharding, kafkabr).
    #[test]
    fn matches_other_java_compatible_clients() {
        let cases: &[(&str, i32)] = &[
            ("1", -1_993_445_489),
            ("12", 126_087_238),
            ("123", -267_702_483),
            ("12345", -1_188_365_604),
            ("string-f-24-chars-length", 124_730_809),
            ("string-fo-25-chars-length", 1_269_511_650),
            ("string-foo-26-chars-length", 119_165_628),
            ("string-last-27-chars-length", 1_089_971_754),
        ];
        for (key, want) in cases {
            assert_eq!(murmur2(key.as_bytes()), *want, "{key:?}");
        }
    }

    #[test]
    fn high_bytes_are_unsigned() {
        // Bytes >= 0x80 in the tail must not sign-extend into the upper bits: changing only
        // the tail byte's high bit must change the hash, and the hash must differ from the
        // one computed with the sign-extended value.
        assert_ne!(murmur2(&[0x80]), murmur2(&[0x00]));
        assert_ne!(murmur2(&[1, 2, 3, 0xff]), murmur2(&[1, 2, 3, 0x7f]));
    }

    #[test]
    fn to_positive_clears_only_the_sign_bit() {
        assert_eq!(to_positive(i32::MIN), 0);
        assert_eq!(to_positive(-1), i32::MAX);
        assert_eq!(to_positive(5), 5);
        assert_eq!(to_positive(-973_932_308), -973_932_308 & 0x7fff_ffff);
    }

    #[test]
    fn partition_for_key_follows_java() {
        // toPositive(-973932308) = 1173551340; 1173551340 % 6 = 0, % 7 = 4.
        assert_eq!(partition_for_key(b"21", 6), Some(1_173_551_340 % 6));
        assert_eq!(partition_for_key(b"21", 7), Some(1_173_551_340 % 7));
        assert_eq!(partition_for_key(b"abc", 3), Some(479_470_107 % 3));
        assert_eq!(partition_for_key(b"abc", 0), None);
        assert_eq!(partition_for_key(b"abc", -1), None);
    }

    proptest::proptest! {
        #[test]
        fn partition_is_always_in_range(key: Vec<u8>, partitions in 1..10_000i32) {
            let p = partition_for_key(&key, partitions).unwrap();
            proptest::prop_assert!((0..partitions).contains(&p));
        }
    }
}
