//! The uids a partition holds, for dedup at ingest: 128-bit hashes (so that
//! two different events colliding is out of reach even at billions of
//! events), kept as a sorted array plus a small set of recent additions,
//! 16 bytes per event (a hash set of the same 128-bit values takes 18 to 36;
//! the 64-bit set this replaced took less, at the price of collisions).

use std::collections::HashSet;
use std::hash::{Hash, Hasher};

/// Additions kept unsorted before they are merged into the sorted array.
const DELTA: usize = 1 << 16;

/// A 128-bit hash of an event uid: two 64-bit SipHashes under different prefixes.
pub(crate) fn uid_hash(uid: &str) -> u128 {
    let half = |salt: u8| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        salt.hash(&mut h);
        uid.hash(&mut h);
        h.finish()
    };
    (u128::from(half(1)) << 64) | u128::from(half(2))
}

/// A set of uid hashes.
#[derive(Debug, Default)]
pub(crate) struct UidSet {
    sorted: Vec<u128>,
    recent: HashSet<u128>,
}

impl UidSet {
    /// Whether the set holds `h`.
    pub(crate) fn contains(&self, h: u128) -> bool {
        self.recent.contains(&h) || self.sorted.binary_search(&h).is_ok()
    }

    /// Adds `h`; false if it was there.
    pub(crate) fn insert(&mut self, h: u128) -> bool {
        if self.sorted.binary_search(&h).is_ok() || !self.recent.insert(h) {
            return false;
        }
        if self.recent.len() >= DELTA {
            // A merge into an array of the exact size: no doubling of the largest allocation.
            let mut recent: Vec<u128> = self.recent.drain().collect();
            recent.sort_unstable();
            let mut merged = Vec::with_capacity(self.sorted.len() + recent.len());
            let (mut a, mut b) = (self.sorted.iter().peekable(), recent.iter().peekable());
            while let (Some(&&x), Some(&&y)) = (a.peek(), b.peek()) {
                if x < y {
                    merged.push(x);
                    a.next();
                } else {
                    merged.push(y);
                    b.next();
                }
            }
            merged.extend(a);
            merged.extend(b);
            self.sorted = merged;
            self.recent.shrink_to(DELTA);
        }
        true
    }

    /// Adds every hash of `it`.
    pub(crate) fn extend(&mut self, it: impl IntoIterator<Item = u128>) {
        for h in it {
            self.insert(h);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_what_was_added_across_merges() {
        let mut s = UidSet::default();
        let n = DELTA as u32 * 2 + 17;
        for i in 0..n {
            assert!(s.insert(uid_hash(&i.to_string())));
        }
        for i in 0..n {
            assert!(s.contains(uid_hash(&i.to_string())));
            assert!(!s.insert(uid_hash(&i.to_string())));
        }
        assert!(!s.contains(uid_hash("absent")));
        assert_ne!(uid_hash("a"), uid_hash("b"));
    }
}
