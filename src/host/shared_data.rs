//! Shared data between workers. Hosts answer differently (Envoy: lenient CAS; ngx_wasm_module:
//! strict CAS, and only with `shm_kv`; size limits everywhere). A refusal here only means
//! "not shared"; each worker then fetches for itself.

use super::abi::{self, Status};

/// The value under `key` and its CAS token, or `None` (missing, or the host refused).
pub fn get(key: &str) -> Option<(Vec<u8>, u32)> {
    abi::shared_data(key).ok().flatten()
}

/// Writes `value` under `key` if the key is still at `cas` (0: not read before).
pub fn set(key: &str, value: &[u8], cas: u32) -> Result<(), Status> {
    abi::set_shared_data(key, value, cas)
}
