//! Fast hashing for the batch's lookup tables (node ids, app names, locations).
//!
//! Profiling one app over 10,000 nodes showed SipHash (std's default) taking about 40 %
//! of the time, spent interning locations and indexing node ids. This is the
//! multiply-rotate word hash used inside rustc (FxHash) with MurmurHash3's finaliser. It
//! is not keyed, so crafted keys could collide; the cost would be slower lookups, never a
//! different answer, because no result depends on hash order (tables are only used for
//! lookups).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// FxHash's multiplier (from Firefox, via rustc): an odd constant with well-spread bits.
const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

#[derive(Debug, Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    /// The multiply leaves the low bits depending only on low input bits, and hashbrown
    /// picks buckets by the low bits, so the state goes through MurmurHash3's 64-bit
    /// finaliser (fmix64), which makes every output bit depend on every state bit.
    #[inline]
    fn finish(&self) -> u64 {
        let mut h = self.hash;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
}

/// A `HashMap` using [`FxHasher`].
pub type FxHashMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// An empty map with room for `n` entries.
pub fn map_with_capacity<K, V>(n: usize) -> FxHashMap<K, V> {
    FxHashMap::with_capacity_and_hasher(n, BuildHasherDefault::default())
}

/// Hash of a string with [`FxHasher`].
pub fn hash_str(s: &str) -> u64 {
    let mut h = FxHasher::default();
    h.write(s.as_bytes());
    h.finish()
}

/// A lookup table from strings to indices, built by sorting (hash, index) pairs: about
/// three times cheaper than filling a hash map for 10,000 node ids, because sorting
/// 16-byte pairs touches memory in order while map inserts land at random.
#[derive(Debug, Clone, Default)]
pub struct SortedIds {
    entries: Vec<(u64, u32)>,
}

impl SortedIds {
    pub fn new<'a>(keys: impl Iterator<Item = &'a str>) -> Self {
        let mut entries: Vec<(u64, u32)> = keys
            .enumerate()
            .map(|(i, k)| (hash_str(k), i as u32))
            .collect();
        entries.sort_unstable();
        Self { entries }
    }

    /// The run of entries whose hash equals `h`.
    fn run(&self, h: u64) -> &[(u64, u32)] {
        let start = self.entries.partition_point(|e| e.0 < h);
        let end = start + self.entries[start..].partition_point(|e| e.0 == h);
        &self.entries[start..end]
    }

    /// The index of `key`, given the keys the table was built from.
    pub fn get<'a>(&self, key: &str, keys: impl Fn(u32) -> &'a str) -> Option<u32> {
        self.run(hash_str(key))
            .iter()
            .map(|e| e.1)
            .find(|&i| keys(i) == key)
    }

    /// Some key that occurs more than once, if any (the one with the lowest index among
    /// the colliding entries, so the answer does not depend on sort details).
    pub fn duplicate<'a>(&self, keys: impl Fn(u32) -> &'a str) -> Option<u32> {
        let mut found: Option<u32> = None;
        // Equal hashes are adjacent after sorting; compare keys only inside such runs.
        for (a, x) in self.entries.iter().enumerate() {
            for y in self.entries[a + 1..].iter().take_while(|y| y.0 == x.0) {
                if keys(x.1) == keys(y.1) {
                    let first = x.1.min(y.1);
                    found = Some(found.map_or(first, |f| f.min(first)));
                }
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_ids_find_keys_and_duplicates() {
        let keys = ["n1", "n2", "n10", "n2", "x"];
        let t = SortedIds::new(keys.iter().copied());
        let k = |i: u32| keys[i as usize];
        assert_eq!(t.get("n10", k), Some(2));
        assert_eq!(t.get("x", k), Some(4));
        assert_eq!(t.get("y", k), None);
        assert_eq!(t.duplicate(k), Some(1));
        let unique = ["a", "b"];
        let u = SortedIds::new(unique.iter().copied());
        assert_eq!(u.duplicate(|i| unique[i as usize]), None);
    }

    #[test]
    fn similar_ids_spread_over_buckets() {
        // Ids differing in one digit must not share low hash bits (hashbrown's buckets).
        let low: std::collections::HashSet<u64> = (0..1_000)
            .map(|i| hash_str(&format!("node-{i}")) & 0xfff)
            .collect();
        assert!(low.len() > 700, "{} distinct low-bit patterns", low.len());
    }
}
