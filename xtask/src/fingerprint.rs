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
        // An index loop: iterator adapters are slow in the unoptimized build.
        let words = bytes.len() / 8 * 8;
        let mut i = 0;
        while i < words {
            let b = &bytes[i..i + 8];
            let word = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
            self.0 = (self.0 ^ word).wrapping_mul(PRIME);
            i += 8;
        }
        while i < bytes.len() {
            self.0 = (self.0 ^ u64::from(bytes[i])).wrapping_mul(PRIME);
            i += 1;
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}
