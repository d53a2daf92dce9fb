//! A cheap 64-bit fingerprint of bytes, for telling inputs apart (not a defence against
//! forgery): what `check` remembers passing inputs by, and what names a local Space's venv.

use std::hash::Hasher;

/// The fingerprint of `bytes`.
pub(crate) fn of(bytes: &[u8]) -> u64 {
    let mut hash = Fnv64::default();
    hash.write(bytes);
    hash.finish()
}

/// FNV-1a over 8-byte words: cheap in the unoptimized build the hook runs, and a 64-bit
/// fingerprint is plenty to tell edits apart (it is not a defence against forgery).
pub(crate) struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Fnv64 {
        Fnv64(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv64 {
    fn write(&mut self, bytes: &[u8]) {
        const PRIME: u64 = 0x0000_0100_0000_01b3;
        // Whole words through `as_chunks` (no per-byte bounds checks: this runs over every
        // input of `check` in the unoptimized build the hook runs), then the tail bytes.
        let (words, tail) = bytes.as_chunks::<8>();
        let mut hash = self.0;
        for word in words {
            hash = (hash ^ u64::from_le_bytes(*word)).wrapping_mul(PRIME);
        }
        for byte in tail {
            hash = (hash ^ u64::from(*byte)).wrapping_mul(PRIME);
        }
        self.0 = hash;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    /// Pinned values: the local Space's venv names depend on them not changing.
    #[test]
    fn the_fingerprint_of_words_and_tail_bytes_is_stable() {
        assert_eq!(super::of(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(super::of(b"0123456789"), 0xc647_91d4_de5a_c544);
    }
}
