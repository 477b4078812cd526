//! The one bounded least-recently-used map behind every cache of the core (verified tokens,
//! auth answers): bounded in entries and in bytes (each entry's cost comes from its owner),
//! the least recently used entry out first. Byte accounting is u64 and saturating: on wasm32 a
//! usize counter could wrap.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

#[derive(Debug)]
pub struct Lru<K, V> {
    max_entries: usize,
    max_bytes: u64,
    bytes: u64,
    /// Counts uses; an entry's last use orders eviction.
    clock: u64,
    entries: HashMap<K, Slot<V>>,
    /// Last use → key, oldest first.
    recency: BTreeMap<u64, K>,
}

#[derive(Debug)]
struct Slot<V> {
    value: V,
    cost: u64,
    last_use: u64,
}

impl<K: Eq + Hash + Clone, V> Lru<K, V> {
    /// `max_entries == 0` stores nothing.
    pub fn new(max_entries: usize, max_bytes: u64) -> Self {
        Lru {
            max_entries,
            max_bytes,
            bytes: 0,
            clock: 0,
            entries: HashMap::new(),
            recency: BTreeMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The summed cost of the entries.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The value of `key`, marking it recently used.
    pub fn get(&mut self, key: &K) -> Option<&V> {
        let slot = self.entries.get_mut(key)?;
        self.clock = self.clock.saturating_add(1);
        if let Some(key) = self.recency.remove(&slot.last_use) {
            self.recency.insert(self.clock, key);
        }
        slot.last_use = self.clock;
        Some(&slot.value)
    }

    /// Stores `value` under `key` (replacing an older one), evicting the least recently used
    /// entries to stay within both bounds. An entry costing more than `max_bytes` is not stored.
    pub fn insert(&mut self, key: K, value: V, cost: u64) {
        if self.max_entries == 0 || cost > self.max_bytes {
            return;
        }
        self.remove(&key);
        while self.entries.len() >= self.max_entries
            || self.bytes.saturating_add(cost) > self.max_bytes
        {
            let Some((_, oldest)) = self.recency.pop_first() else {
                break;
            };
            if let Some(evicted) = self.entries.remove(&oldest) {
                self.bytes = self.bytes.saturating_sub(evicted.cost);
            }
        }
        self.clock = self.clock.saturating_add(1);
        self.recency.insert(self.clock, key.clone());
        self.entries.insert(
            key,
            Slot {
                value,
                cost,
                last_use: self.clock,
            },
        );
        self.bytes = self.bytes.saturating_add(cost);
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        let slot = self.entries.remove(key)?;
        self.recency.remove(&slot.last_use);
        self.bytes = self.bytes.saturating_sub(slot.cost);
        Some(slot.value)
    }

    /// Keeps only the entries for which `keep` holds.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool) {
        let recency = &mut self.recency;
        let mut freed: u64 = 0;
        self.entries.retain(|key, slot| {
            let kept = keep(key, &slot.value);
            if !kept {
                recency.remove(&slot.last_use);
                freed = freed.saturating_add(slot.cost);
            }
            kept
        });
        self.bytes = self.bytes.saturating_sub(freed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_the_least_recently_used_at_the_entry_bound() {
        let mut lru = Lru::new(2, 1_000);
        lru.insert(1, "a", 1);
        lru.insert(2, "b", 1);
        assert_eq!(lru.get(&1), Some(&"a")); // 1 is now the most recent
        lru.insert(3, "c", 1);
        assert_eq!((lru.len(), lru.get(&2)), (2, None));
        assert!(lru.get(&1).is_some() && lru.get(&3).is_some());
    }

    #[test]
    fn the_byte_bound_holds_and_accounting_stays_exact() {
        let mut lru = Lru::new(10, 100);
        lru.insert(1, (), 60);
        lru.insert(2, (), 30);
        lru.insert(3, (), 50); // evicts 1 (oldest) to fit
        assert_eq!((lru.len(), lru.bytes()), (2, 80));
        lru.insert(4, (), 101); // larger than the bound: not stored
        assert_eq!((lru.len(), lru.bytes()), (2, 80));
        lru.insert(2, (), 10); // replaces
        assert_eq!((lru.len(), lru.bytes()), (2, 60));
        lru.retain(|k, _| *k != 3);
        assert_eq!((lru.len(), lru.bytes()), (1, 10));
        assert_eq!(lru.remove(&2), Some(()));
        assert_eq!((lru.len(), lru.bytes()), (0, 0));
        assert!(lru.recency.is_empty(), "no key left behind in the eviction order");
    }

    #[test]
    fn zero_entries_stores_nothing() {
        let mut lru = Lru::new(0, 100);
        lru.insert(1, (), 1);
        assert!(lru.is_empty());
    }
}
