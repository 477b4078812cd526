//! The one bounded least-recently-used map behind every cache of the core (verified tokens,
//! auth answers): bounded in entries and in bytes (each entry's cost comes from its owner),
//! the least recently used entry out first. Byte accounting is u64 and saturating: on wasm32 a
//! usize counter could wrap.
//!
//! The entries live in one slab (`Vec`) threaded by a doubly linked recency list, and an index
//! maps each key to its slot: a hit moves its slot to the front by rewriting four links, so a
//! lookup never allocates (a `BTreeMap` of last uses, the previous design, freed and allocated
//! tree nodes on hits). Freed slots are reused before the slab grows.

use std::borrow::Borrow;
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

/// No slot (the end of the recency list, or of the free list).
const NIL: u32 = u32::MAX;

#[derive(Debug)]
pub struct Lru<K, V, S = RandomState> {
    max_entries: usize,
    max_bytes: u64,
    bytes: u64,
    /// Key → its slot in `slots`.
    index: HashMap<K, u32, S>,
    slots: Vec<Slot<K, V>>,
    /// Most recently used slot, least recently used slot.
    head: u32,
    tail: u32,
    /// Vacant slots, linked through `next`.
    free: u32,
}

#[derive(Debug)]
struct Slot<K, V> {
    /// `None` while the slot is vacant.
    entry: Option<(K, V)>,
    cost: u64,
    /// Towards the most recently used (`prev`) and the least recently used (`next`).
    prev: u32,
    next: u32,
}

impl<K: Eq + Hash + Clone, V> Lru<K, V, RandomState> {
    /// `max_entries == 0` stores nothing.
    pub fn new(max_entries: usize, max_bytes: u64) -> Self {
        Lru::with_hasher(max_entries, max_bytes, RandomState::new())
    }
}

impl<K: Eq + Hash + Clone, V, S: BuildHasher> Lru<K, V, S> {
    /// The same with the index hashing keys by `hasher` (e.g. keys that already are hashes).
    pub fn with_hasher(max_entries: usize, max_bytes: u64, hasher: S) -> Self {
        Lru {
            max_entries,
            max_bytes,
            bytes: 0,
            index: HashMap::with_hasher(hasher),
            slots: Vec::new(),
            head: NIL,
            tail: NIL,
            free: NIL,
        }
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The summed cost of the entries.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The value of `key`, marking it recently used.
    pub fn get<Q>(&mut self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let at = *self.index.get(key)?;
        self.unlink(at);
        self.push_front(at);
        self.slot(at)?.entry.as_ref().map(|(_, v)| v)
    }

    /// Stores `value` under `key` (replacing an older one), evicting the least recently used
    /// entries to stay within both bounds. An entry costing more than `max_bytes` is not stored.
    pub fn insert(&mut self, key: K, value: V, cost: u64) {
        if self.max_entries == 0 || cost > self.max_bytes {
            return;
        }
        self.remove(&key);
        while !self.index.is_empty()
            && (self.index.len() >= self.max_entries
                || self.bytes.saturating_add(cost) > self.max_bytes)
        {
            if self.evict_oldest().is_none() {
                break;
            }
        }
        let Ok(at) = u32::try_from(self.slots.len()) else {
            return; // more than 4 billion slots: never on wasm32
        };
        let at = match self.free {
            NIL => {
                if at == NIL {
                    return;
                }
                self.slots.push(Slot {
                    entry: None,
                    cost: 0,
                    prev: NIL,
                    next: NIL,
                });
                at
            }
            free => free,
        };
        let Some(slot) = self.slot_mut(at) else {
            return;
        };
        let next_free = slot.next;
        slot.entry = Some((key.clone(), value));
        slot.cost = cost;
        if self.free == at {
            self.free = next_free;
        }
        self.push_front(at);
        self.index.insert(key, at);
        self.bytes = self.bytes.saturating_add(cost);
    }

    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let at = self.index.remove(key)?;
        self.release(at)
    }

    /// Keeps only the entries for which `keep` holds.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool) {
        let doomed: Vec<K> = self
            .slots
            .iter()
            .filter_map(|s| s.entry.as_ref())
            .filter(|(k, v)| !keep(k, v))
            .map(|(k, _)| k.clone())
            .collect();
        for key in doomed {
            self.remove(&key);
        }
    }

    fn slot(&self, at: u32) -> Option<&Slot<K, V>> {
        self.slots.get(usize::try_from(at).ok()?)
    }

    fn slot_mut(&mut self, at: u32) -> Option<&mut Slot<K, V>> {
        self.slots.get_mut(usize::try_from(at).ok()?)
    }

    /// Drops the least recently used entry.
    fn evict_oldest(&mut self) -> Option<V> {
        let at = self.tail;
        let key = self.slot(at)?.entry.as_ref()?.0.clone();
        self.index.remove(&key);
        self.release(at)
    }

    /// Empties slot `at` (already out of the index) into the free list.
    fn release(&mut self, at: u32) -> Option<V> {
        self.unlink(at);
        let free = self.free;
        let slot = self.slot_mut(at)?;
        let (_, value) = slot.entry.take()?;
        let cost = std::mem::take(&mut slot.cost);
        slot.next = free;
        self.free = at;
        self.bytes = self.bytes.saturating_sub(cost);
        Some(value)
    }

    /// Takes slot `at` out of the recency list.
    fn unlink(&mut self, at: u32) {
        let Some(slot) = self.slot_mut(at) else {
            return;
        };
        let (prev, next) = (slot.prev, slot.next);
        slot.prev = NIL;
        slot.next = NIL;
        match self.slot_mut(prev) {
            Some(p) => p.next = next,
            None => self.head = next,
        }
        match self.slot_mut(next) {
            Some(n) => n.prev = prev,
            None => self.tail = prev,
        }
    }

    /// Makes slot `at` (unlinked) the most recently used.
    fn push_front(&mut self, at: u32) {
        let head = self.head;
        if let Some(slot) = self.slot_mut(at) {
            slot.prev = NIL;
            slot.next = head;
        }
        match self.slot_mut(head) {
            Some(h) => h.prev = at,
            None => self.tail = at,
        }
        self.head = at;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The recency list from most to least recently used, checked against the index.
    fn order<K: Eq + Hash + Clone, V>(lru: &Lru<K, V>) -> Vec<K> {
        let mut out = Vec::new();
        let mut at = lru.head;
        let mut prev = NIL;
        while at != NIL {
            let slot = &lru.slots[at as usize];
            assert_eq!(slot.prev, prev, "back link");
            out.push(slot.entry.as_ref().unwrap().0.clone());
            prev = at;
            at = slot.next;
        }
        assert_eq!(lru.tail, prev);
        assert_eq!(out.len(), lru.index.len());
        out
    }

    #[test]
    fn evicts_the_least_recently_used_at_the_entry_bound() {
        let mut lru = Lru::new(2, 1_000);
        lru.insert(1, "a", 1);
        lru.insert(2, "b", 1);
        assert_eq!(lru.get(&1), Some(&"a")); // 1 is now the most recent
        lru.insert(3, "c", 1);
        assert_eq!((lru.len(), lru.get(&2)), (2, None));
        assert!(lru.get(&1).is_some() && lru.get(&3).is_some());
        assert_eq!(order(&lru), vec![3, 1]);
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
        assert!(
            lru.head == NIL && lru.tail == NIL,
            "no slot left behind in the eviction order"
        );
    }

    #[test]
    fn zero_entries_stores_nothing() {
        let mut lru = Lru::new(0, 100);
        lru.insert(1, (), 1);
        assert!(lru.is_empty());
    }

    #[test]
    fn freed_slots_are_reused_and_the_order_survives_any_sequence() {
        let mut lru = Lru::new(8, u64::MAX);
        let mut model: Vec<u32> = Vec::new(); // most recent first
        let mut x: u32 = 12345;
        for _ in 0..5_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let key = (x >> 16) % 16;
            match (x >> 8) % 3 {
                0 => {
                    lru.insert(key, key * 10, 1);
                    model.retain(|k| *k != key);
                    if model.len() >= 8 {
                        model.pop();
                    }
                    model.insert(0, key);
                }
                1 => {
                    let got = lru.get(&key).copied();
                    let had = model.contains(&key);
                    assert_eq!(got, had.then_some(key * 10));
                    if had {
                        model.retain(|k| *k != key);
                        model.insert(0, key);
                    }
                }
                _ => {
                    let got = lru.remove(&key);
                    assert_eq!(got.is_some(), model.contains(&key));
                    model.retain(|k| *k != key);
                }
            }
            assert_eq!(order(&lru), model);
            assert_eq!(lru.bytes(), model.len() as u64);
        }
        assert!(
            lru.slots.len() <= 8,
            "slots are reused: {}",
            lru.slots.len()
        );
    }
}
