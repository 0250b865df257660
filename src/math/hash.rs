//! The crate's hashes, all fixed (never the standard library's randomised
//! one, so that what is saved or promised stays valid across runs, machines
//! and releases), and each with its use:
//!
//! * [`fnv1a64`]: the published FNV-1a, byte by byte, for values other
//!   systems must be able to reproduce (control-group buckets) and short keys;
//! * [`stable_hash`]: word-at-a-time with the SplitMix64 finaliser, for ids
//!   and contents of buffered events and the engine's fingerprint (faster
//!   than FNV on long inputs, and well mixed in every bit);
//! * [`WordHasher`]: one multiply-rotate per word, for in-memory maps keyed by
//!   pairs of f64 bit patterns that no untrusted input reaches.

/// 64-bit FNV-1a (offset basis 0xcbf29ce484222325, prime 0x100000001b3): a
/// published hash that other systems can reproduce, for what the crate
/// promises to compute the same everywhere (control-group buckets, the
/// product keys of trigger memories).
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xCBF2_9CE4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3))
}

/// A fixed 64-bit hash of bytes (ids and contents of buffered events;
/// never the standard library's randomised hasher, so snapshots stay valid
/// across runs and machines): the bytes are read as little-endian 64-bit
/// words (the last one zero-padded), each xored into the state and mixed
/// with the SplitMix64 finaliser; the length is mixed in first.
pub(crate) fn stable_hash(bytes: &[u8], seed: u64) -> u64 {
    let mut h = mix64(seed ^ bytes.len() as u64);
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        h = mix64(h ^ u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]));
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        h = mix64(h ^ u64::from_le_bytes(last));
    }
    h
}

/// The SplitMix64 finaliser.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub(crate) const HASH_SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// A hasher for pairs of f64 bit patterns (no untrusted keys reach it):
/// one multiply-rotate per word instead of SipHash's rounds.
#[derive(Clone, Copy, Default)]
pub(crate) struct WordHasher;

impl std::hash::BuildHasher for WordHasher {
    type Hasher = WordHash;
    fn build_hasher(&self) -> WordHash {
        WordHash(0)
    }
}

pub(crate) struct WordHash(u64);

impl std::hash::Hasher for WordHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, word: u64) {
        self.0 = (self.0 ^ word).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_hash_is_pinned() {
        // Snapshots store these hashes: they must never change.
        assert_eq!(stable_hash(b"", HASH_SEED), mix64(HASH_SEED));
        let h = stable_hash(b"evt-123456789", HASH_SEED);
        assert_eq!(h, stable_hash(b"evt-123456789", HASH_SEED));
        assert_ne!(h, stable_hash(b"evt-123456788", HASH_SEED));
        assert_eq!(format!("{h:016x}"), PINNED);
    }

    const PINNED: &str = "9f16cb5b656af3c5";

    #[test]
    fn fnv1a64_is_the_published_function() {
        // Published test vectors of FNV-1a 64.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
