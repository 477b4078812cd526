//! Verified-token cache (Envoy's `jwt_cache_config`): per VM, bounded in entries and bytes,
//! keyed by the provider and the exact token string, holding the verified claims.
//!
//! Only tokens whose signature, issuer and time checks passed enter, so hostile input cannot
//! fill it. A hit re-checks `exp`/`nbf` with the host clock, so an entry never outlives its token.
//! A new configuration (new keys) builds a new cache.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, BuildHasherDefault};
use std::rc::Rc;

use serde_json::Value;

use super::id_map::IntHasher;
use super::lru::Lru;
use super::provider::Verified;

/// Default bounds: a VM stays within 512 KiB of linear memory with 10,000 distinct tokens
/// (measured in-host by `make bench`). The byte bound counts what an entry really holds (see
/// [`TokenCache::cost`]), so it bounds the heap the cache uses.
pub const DEFAULT_MAX_ENTRIES: usize = 1024;
pub const DEFAULT_MAX_BYTES: usize = 192 * 1024;

/// A bounded least-recently-used map from (provider, token) to verified claims.
///
/// Entries are found by a keyed 64-bit hash of (provider, token) — SipHash with this cache's
/// own random keys, so a client cannot aim tokens at one bucket — and a hit compares the stored
/// provider and token in full: a lookup hashes the token once and allocates nothing.
#[derive(Debug)]
pub struct TokenCache {
    /// Indexed by the keyed hash itself (`IntHasher`: no second SipHash).
    entries: Lru<u64, Entry, BuildHasherDefault<IntHasher>>,
    keys: RandomState,
    pub hits: u64,
    pub misses: u64,
}

#[derive(Debug)]
struct Entry {
    provider: usize,
    token: Box<str>,
    verified: Rc<Verified>,
}

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache::new(DEFAULT_MAX_ENTRIES, DEFAULT_MAX_BYTES)
    }
}

impl TokenCache {
    /// `max_entries == 0` disables the cache.
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        TokenCache {
            entries: Lru::with_hasher(max_entries, max_bytes as u64, Default::default()),
            keys: RandomState::new(),
            hits: 0,
            misses: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn bytes(&self) -> u64 {
        self.entries.bytes()
    }

    fn key(&self, provider: usize, token: &str) -> u64 {
        self.keys.hash_one((provider, token))
    }

    /// The verified claims of `token` for `provider`, marking the entry recently used.
    pub fn get(&mut self, provider: usize, token: &str) -> Option<Rc<Verified>> {
        let found = match self.entries.is_empty() {
            true => None,
            false => {
                let key = self.key(provider, token);
                self.entries
                    .get(&key)
                    .filter(|e| e.provider == provider && &*e.token == token)
                    .map(|e| Rc::clone(&e.verified))
            }
        };
        match found {
            Some(_) => self.hits = self.hits.saturating_add(1),
            None => self.misses = self.misses.saturating_add(1),
        }
        found
    }

    /// Stores a verified token, evicting the least recently used entries to stay in bounds.
    /// (Another token with the same 64-bit hash is replaced: one of them is verified again.)
    pub fn insert(&mut self, provider: usize, token: &str, verified: Rc<Verified>) {
        let cost = Self::cost(token, &verified);
        let key = self.key(provider, token);
        let entry = Entry {
            provider,
            token: token.into(),
            verified,
        };
        self.entries.insert(key, entry, cost);
    }

    /// Drops an entry (e.g. its token expired).
    pub fn remove(&mut self, provider: usize, token: &str) {
        let key = self.key(provider, token);
        let same = self
            .entries
            .get(&key)
            .is_some_and(|e| e.provider == provider && &*e.token == token);
        if same {
            self.entries.remove(&key);
        }
    }

    /// Drops every entry of `provider`: its key set changed (rotation), so tokens verified
    /// with a key that may be gone must be verified again.
    pub fn forget_provider(&mut self, provider: usize) {
        self.entries.retain(|_, e| e.provider != provider);
    }

    /// The heap one entry holds, as wasm32's allocator lays it out (4-byte pointers, 16 bytes
    /// of allocator overhead per block): the token, the payload, the parsed claims (a
    /// `serde_json` map is a B-tree whose leaves hold 11 entries whatever the count), the
    /// claim headers, the `Verified` itself and the cache's own slot and index. An estimate,
    /// deliberately not below the real size. In u64, saturating.
    fn cost(token: &str, verified: &Verified) -> u64 {
        const BLOCK: u64 = 16;
        let text = |s: &str| (s.len() as u64).saturating_add(BLOCK);
        let headers = verified.headers.iter().fold(0u64, |sum, (n, v)| {
            sum.saturating_add(24)
                .saturating_add(text(n))
                .saturating_add(text(v))
        });
        let claims = map_bytes(verified.claims.iter());
        // Rc<Verified> block (~64), the slab slot (48) and the index bucket (~16) with their
        // vectors' slack, the headers' Vec.
        let fixed: u64 = 64 + 48 + 16 + BLOCK * 2;
        text(token)
            .saturating_add(text(&verified.payload_b64))
            .saturating_add(claims)
            .saturating_add(headers)
            .saturating_add(fixed)
    }
}

/// Heap bytes of a JSON object's entries in a `serde_json` map (B-tree leaves of 11 entries of
/// a 12-byte `String` key and a 24-byte `Value` on wasm32: ~410 bytes with the node header and
/// allocator overhead), with the keys' and values' own blocks.
fn map_bytes<'a>(entries: impl ExactSizeIterator<Item = (&'a String, &'a Value)>) -> u64 {
    let nodes = (entries.len() as u64).div_ceil(11).max(1);
    entries.fold(nodes.saturating_mul(420), |sum, (k, v)| {
        sum.saturating_add(k.len() as u64 + 16)
            .saturating_add(value_bytes(v))
    })
}

fn value_bytes(v: &Value) -> u64 {
    match v {
        Value::Null | Value::Bool(_) | Value::Number(_) => 0,
        Value::String(s) => s.len() as u64 + 16,
        Value::Array(items) => items.iter().fold(items.len() as u64 * 24 + 16, |sum, v| {
            sum.saturating_add(value_bytes(v))
        }),
        Value::Object(map) => map_bytes(map.iter()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgetting_a_provider_keeps_the_others() {
        let mut cache = TokenCache::new(10, 1 << 20);
        cache.insert(0, "a", Rc::new(Verified::for_tests("x")));
        cache.insert(1, "b", Rc::new(Verified::for_tests("y")));
        cache.insert(0, "c", Rc::new(Verified::for_tests("z")));
        cache.forget_provider(0);
        assert_eq!(cache.len(), 1);
        assert!(cache.get(1, "b").is_some());
        assert!(cache.get(0, "a").is_none());
        assert_eq!(
            cache.bytes(),
            TokenCache::cost("b", &Verified::for_tests("y"))
        );
        assert!(cache.get(0, "a").is_none());
        cache.insert(0, "a", Rc::new(Verified::for_tests("x")));
        assert_eq!(cache.len(), 2);
    }

    fn verified(payload: &str) -> Rc<Verified> {
        Rc::new(Verified::for_tests(payload))
    }

    #[test]
    fn hit_after_insert_and_miss_for_other_provider_or_token() {
        let mut c = TokenCache::new(10, 1 << 20);
        c.insert(0, "a.b.c", verified("b"));
        assert!(c.get(0, "a.b.c").is_some());
        assert!(c.get(1, "a.b.c").is_none(), "keyed by provider too");
        assert!(c.get(0, "a.b.d").is_none());
        assert_eq!((c.hits, c.misses), (1, 2));
    }

    #[test]
    fn evicts_least_recently_used_at_the_entry_bound() {
        let mut c = TokenCache::new(2, 1 << 20);
        c.insert(0, "t1", verified("p"));
        c.insert(0, "t2", verified("p"));
        assert!(c.get(0, "t1").is_some()); // t2 is now the oldest
        c.insert(0, "t3", verified("p"));
        assert_eq!(c.len(), 2);
        assert!(c.get(0, "t2").is_none());
        assert!(c.get(0, "t1").is_some() && c.get(0, "t3").is_some());
    }

    #[test]
    fn byte_bound_holds_and_oversized_entries_are_skipped() {
        let mut c = TokenCache::new(1000, 2000);
        for i in 0..100 {
            c.insert(
                0,
                &format!("token-{i}-{}", "x".repeat(100)),
                verified(&"p".repeat(100)),
            );
            assert!(c.bytes() <= 2000);
        }
        assert!(c.len() < 100 && !c.is_empty());
        let before = c.len();
        c.insert(0, &"y".repeat(5000), verified("p"));
        assert_eq!(
            c.len(),
            before,
            "an entry larger than the budget is not cached"
        );
    }

    #[test]
    fn reinsert_and_remove_keep_accounting_exact() {
        let mut c = TokenCache::new(10, 1 << 20);
        c.insert(0, "t", verified("p"));
        let one = c.bytes();
        c.insert(0, "t", verified("p"));
        assert_eq!((c.len(), c.bytes()), (1, one));
        c.remove(0, "t");
        assert_eq!((c.len(), c.bytes()), (0, 0));
    }

    #[test]
    fn zero_entries_disables() {
        let mut c = TokenCache::new(0, 1 << 20);
        c.insert(0, "t", verified("p"));
        assert!(c.get(0, "t").is_none());
    }
}
