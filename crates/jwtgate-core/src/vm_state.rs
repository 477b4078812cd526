//! What a VM (one worker's engine) keeps between requests.

use super::cache::TokenCache;
use super::dpop::ReplayCaches;
use super::ext_auth::DecisionCaches;
use super::introspection::IntrospectionStore;
use super::remote_jwks::JwksStore;
use super::requirement::Scratch;

/// Verified tokens, fetched key sets, auth answers, DPoP proofs seen.
#[derive(Debug, Default)]
pub struct VmState {
    pub tokens: TokenCache,
    pub jwks: JwksStore,
    /// Auth answers, one cache per service (`Gateway::new_vm_state` sizes it).
    pub decisions: DecisionCaches,
    /// DPoP proofs accepted within their window, per provider (`Gateway::new_vm_state`
    /// sizes them by `dpop.replay_cache.max_entries`).
    pub dpop_replay: ReplayCaches,
    /// Introspection answers (RFC 7662), one cache per provider with `introspection`.
    pub introspection: IntrospectionStore,
    /// The lists deciding a request fills, kept for their capacity (empty between requests).
    pub scratch: Scratch,
}
