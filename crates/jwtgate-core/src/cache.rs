//! Verified-token cache (Envoy's `jwt_cache_config`): per VM, bounded in entries and bytes,
//! keyed by the provider and the exact token string, holding the verified claims.
//!
//! Only tokens whose signature, issuer and time checks passed enter, so hostile input cannot
//! fill it. A hit re-checks `exp`/`nbf` with the host clock, so an entry never outlives its token.
//! A new configuration (new keys) builds a new cache.

use std::rc::Rc;

use super::lru::Lru;
use super::provider::Verified;

/// Default bounds: a VM stays near 512 KiB of linear memory (measured by `make bench`).
pub const DEFAULT_MAX_ENTRIES: usize = 1024;
pub const DEFAULT_MAX_BYTES: usize = 256 * 1024;

/// A bounded least-recently-used map from (provider, token) to verified claims.
#[derive(Debug)]
pub struct TokenCache {
    entries: Lru<(usize, Rc<str>), Rc<Verified>>,
    pub hits: u64,
    pub misses: u64,
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
            entries: Lru::new(max_entries, max_bytes as u64),
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

    /// The verified claims of `token` for `provider`, marking the entry recently used.
    pub fn get(&mut self, provider: usize, token: &str) -> Option<Rc<Verified>> {
        let found = match self.entries.is_empty() {
            true => None,
            false => self.entries.get(&(provider, Rc::from(token))).cloned(),
        };
        match found {
            Some(_) => self.hits = self.hits.saturating_add(1),
            None => self.misses = self.misses.saturating_add(1),
        }
        found
    }

    /// Stores a verified token, evicting the least recently used entries to stay in bounds.
    pub fn insert(&mut self, provider: usize, token: &str, verified: Rc<Verified>) {
        let cost = Self::cost(token, &verified);
        self.entries
            .insert((provider, Rc::from(token)), verified, cost);
    }

    /// Drops an entry (e.g. its token expired).
    pub fn remove(&mut self, provider: usize, token: &str) {
        self.entries.remove(&(provider, Rc::from(token)));
    }

    /// Drops every entry of `provider`: its key set changed (rotation), so tokens verified
    /// with a key that may be gone must be verified again.
    pub fn forget_provider(&mut self, provider: usize) {
        self.entries.retain(|(of, _), _| *of != provider);
    }

    /// Approximate memory of one entry: the token (shared by both maps), the payload and the
    /// parsed claims (about twice the decoded payload), the encoded claim headers, plus
    /// bookkeeping. In u64, saturating.
    fn cost(token: &str, verified: &Verified) -> u64 {
        let headers = verified.headers.iter().fold(0u64, |sum, (n, v)| {
            sum.saturating_add((n.len() + v.len()) as u64)
        });
        (token.len() as u64)
            .saturating_add((verified.payload_b64.len() as u64).saturating_mul(2))
            .saturating_add(headers)
            .saturating_add(256)
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
