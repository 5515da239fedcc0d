//! Where a keyed record goes when the request names no partition.
//!
//! The Java producer hashes the serialized key with its own variant of
//! MurmurHash2 (`org.apache.kafka.common.utils.Utils.murmur2`) and takes the
//! result modulo the partition count
//! (`org.apache.kafka.clients.producer.internals.BuiltInPartitioner.partitionForKey`).
//! We reproduce both bit for bit so that a record keyed `k` lands on the same
//! partition whether it was written through this service or by a Java
//! producer; consumers relying on per-key ordering depend on that.
//!
//! Java works on signed 32-bit `int`s with wrapping arithmetic and unsigned
//! shifts (`>>>`); here the state is a `u32` (so `>>` is the unsigned shift and
//! `wrapping_mul` is Java's overflowing `*`) and the final bits are
//! reinterpreted as `i32`.

/// Kafka's fixed seed; the hash must match Java's, so it is not configurable.
const SEED: u32 = 0x9747_b28c;
/// MurmurHash2 multiplier.
const M: u32 = 0x5bd1_e995;
/// MurmurHash2 shift.
const R: u32 = 24;

/// Kafka's murmur2 (the Java client's `Utils.murmur2`), seed `0x9747b28c`.
///
/// Returns the same (signed) value Java returns for the same bytes.
pub fn murmur2(data: &[u8]) -> i32 {
    // Java mixes in `data.length`, an int; a Kafka key is always shorter than
    // 2^31 bytes, so keeping the low 32 bits of the length is exact.
    let mut h = SEED ^ (data.len() as u32);

    let mut words = data.chunks_exact(4);
    for word in &mut words {
        // Little-endian, each byte taken unsigned (Java's `b & 0xff`).
        let mut k = word
            .iter()
            .rev()
            .fold(0u32, |k, &byte| (k << 8) | u32::from(byte));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }

    // The 1 to 3 trailing bytes; Java's switch falls through from case 3 to 1,
    // and only case 1 multiplies.
    let tail = words.remainder();
    if let [first, rest @ ..] = tail {
        if let [second, rest @ ..] = rest {
            if let [third] = rest {
                h ^= u32::from(*third) << 16;
            }
            h ^= u32::from(*second) << 8;
        }
        h ^= u32::from(*first);
        h = h.wrapping_mul(M);
    }

    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;

    // Same 32 bits as Java's `int`.
    h as i32
}

/// The Java client's default partition for a key:
/// `toPositive(murmur2(key)) % num_partitions`, where
/// `toPositive(x) = x & 0x7fffffff`.
///
/// `num_partitions` is a topic's partition count, so at least 1. Java throws
/// `ArithmeticException` for 0; rather than panic on a request path we return
/// partition 0, which the broker then rejects as unknown.
pub fn partition_for_key(key: &[u8], num_partitions: i32) -> i32 {
    // Clearing the sign bit (not `abs`) is what Java does, and it matters:
    // `abs` would map a hash and its negation to the same partition, and
    // overflow on i32::MIN.
    let positive = murmur2(key) & 0x7fff_ffff;
    positive.checked_rem(num_partitions).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every vector of Apache Kafka's own `UtilsTest.testMurmur2`
    /// (clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java).
    const KAFKA_UTILS_TEST_VECTORS: [(&[u8], i32); 6] = [
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

    #[test]
    fn murmur2_matches_every_kafka_utils_test_vector() {
        for (key, expected) in KAFKA_UTILS_TEST_VECTORS {
            assert_eq!(
                murmur2(key),
                expected,
                "murmur2({:?})",
                String::from_utf8_lossy(key)
            );
        }
    }

    /// librdkafka's `unittest_murmur2` (src/rdmurmur2.c) lists these as the
    /// Java client's results. Together with Kafka's own vectors they cover
    /// every tail length (0 to 3 trailing bytes) and the empty key.
    #[test]
    fn murmur2_matches_java_results_published_by_librdkafka() {
        let cases: [(&[u8], u32); 11] = [
            (b"kafka", 0xd067_cf64),
            (b"giberish123456789", 0x8f55_2b0c),
            (b"1234", 0x9fc9_7b14),
            (b"234", 0xe7c0_09ca),
            (b"34", 0x8739_30da),
            (b"4", 0x5a4b_5ca1),
            (b"PreAmbleWillBeRemoved,ThePrePartThatIs", 0x7842_4f1c),
            (b"reAmbleWillBeRemoved,ThePrePartThatIs", 0x4a62_b377),
            (b"eAmbleWillBeRemoved,ThePrePartThatIs", 0xe0e4_e09e),
            (b"AmbleWillBeRemoved,ThePrePartThatIs", 0x62b8_b43f),
            (b"", 0x106e_08d9),
        ];
        for (key, expected) in cases {
            assert_eq!(
                murmur2(key),
                expected as i32,
                "murmur2({:?})",
                String::from_utf8_lossy(key)
            );
        }
    }

    /// Bytes >= 0x80 are negative in Java; a port that sign-extends them
    /// instead of masking with 0xff gets these wrong. Expected values were
    /// computed by running Kafka's `Utils.murmur2` on a JVM.
    #[test]
    fn murmur2_treats_high_bytes_as_unsigned_like_java() {
        let cases: [(&[u8], i32); 6] = [
            (&[0x80], 857_690_492),
            (&[0xff, 0xfe], 1_717_632_651),
            (&[0xc3, 0xa9, 0xff], 2_085_123_101),
            (&[0xde, 0xad, 0xbe, 0xef], 833_564_499),
            (&[0xde, 0xad, 0xbe, 0xef, 0x80], -256_566_253),
            ("héllo wörld".as_bytes(), 439_213_890),
        ];
        for (key, expected) in cases {
            assert_eq!(murmur2(key), expected, "murmur2({key:02x?})");
        }
    }

    #[test]
    fn negative_hash_is_made_positive_by_clearing_the_sign_bit() {
        // murmur2("21") = -973932308; & 0x7fffffff = 1173551340
        // (not |hash| = 973932308, which would give 973932308 % 100 = 8).
        assert_eq!(murmur2(b"21") & 0x7fff_ffff, 1_173_551_340);
        assert_eq!(partition_for_key(b"21", 100), 40);
        assert_eq!(partition_for_key(b"21", 3), 0);
        // murmur2("kafka") = -798503068 -> 1348980580.
        assert_eq!(partition_for_key(b"kafka", 100), 80);
        assert_eq!(partition_for_key(b"kafka", 6), 4);
        // murmur2([de ad be ef 80]) = -256566253 -> 1890917395.
        assert_eq!(partition_for_key(&[0xde, 0xad, 0xbe, 0xef, 0x80], 7), 3);
    }

    #[test]
    fn positive_hash_is_taken_modulo_partition_count() {
        // murmur2("abc") = 479470107.
        assert_eq!(partition_for_key(b"abc", 100), 7);
        assert_eq!(partition_for_key(b"abc", 6), 3);
        // murmur2("") = 275646681.
        assert_eq!(partition_for_key(b"", 7), 2);
    }

    #[test]
    fn single_partition_topic_always_gets_partition_zero() {
        for (key, _) in KAFKA_UTILS_TEST_VECTORS {
            assert_eq!(partition_for_key(key, 1), 0);
        }
    }

    #[test]
    fn partition_is_always_within_range() {
        let data: Vec<u8> = (0..=255).collect();
        for len in 0..data.len() {
            let key = &data[..len];
            for partitions in [1, 2, 3, 7, 12, 100, i32::MAX] {
                let p = partition_for_key(key, partitions);
                assert!((0..partitions).contains(&p), "{p} of {partitions}");
            }
        }
    }

    #[test]
    fn zero_partitions_gives_partition_zero_instead_of_panicking() {
        assert_eq!(partition_for_key(b"foobar", 0), 0);
    }
}
