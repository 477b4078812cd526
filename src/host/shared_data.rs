//! Shared data straight through the ABI: the SDK's wrappers panic (a trap) on any status but
//! OK / NOT_FOUND / CAS_MISMATCH, and hosts answer differently (Envoy: lenient CAS; ngx_wasm_module:
//! strict CAS, and only with `shm_kv`; size limits everywhere). A refusal here only means
//! "not shared"; each worker then fetches for itself.

use std::ptr::null_mut;

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_get_shared_data(
        key_data: *const u8,
        key_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
        return_cas: *mut u32,
    ) -> u32;
    fn proxy_set_shared_data(
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
        cas: u32,
    ) -> u32;
}

const OK: u32 = 0;

/// The value under `key` and its CAS token, or `None` (missing, or the host refused).
pub fn get(key: &str) -> Option<(Vec<u8>, u32)> {
    let mut data: *mut u8 = null_mut();
    let mut size: usize = 0;
    let mut cas: u32 = 0;
    // SAFETY: key is readable for key.len() bytes; the out pointers are valid. On OK the host
    // wrote `size` bytes it allocated through the SDK's exported allocator
    // (`proxy_on_memory_allocate`, i.e. this module's global allocator), which we take over.
    let status =
        unsafe { proxy_get_shared_data(key.as_ptr(), key.len(), &mut data, &mut size, &mut cas) };
    if status != OK || data.is_null() {
        return None;
    }
    // SAFETY: see above: an allocation of `size` bytes owned by us from now on.
    let value = unsafe { Vec::from_raw_parts(data, size, size) };
    Some((value, cas))
}

/// Writes `value` under `key` if the key is still at `cas` (0: not read before). Returns the
/// host status on refusal.
pub fn set(key: &str, value: &[u8], cas: u32) -> Result<(), u32> {
    // SAFETY: key and value are readable for their lengths.
    let status =
        unsafe { proxy_set_shared_data(key.as_ptr(), key.len(), value.as_ptr(), value.len(), cas) };
    if status == OK {
        Ok(())
    } else {
        Err(status)
    }
}
