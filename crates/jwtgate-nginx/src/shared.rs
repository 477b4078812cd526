//! The shared memory zone `jwtgate`: proxy-wasm's shared data (key → value with a CAS
//! number) for the native module, so the workers of one NGINX share a fetched JWKS instead of
//! each fetching it. A small table of slots in the zone's slab pool; values are slab-allocated.
//! NGINX maps the zone at the same address in every worker, so the pointers inside are valid in
//! all of them; every access holds the pool's mutex.

use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::AtomicU64;

use jwtgate_core::port::HostError;
use ngx::ffi::*;

/// The zone's name (`ngx_shared_memory_add`): one zone for every configuration of the module.
pub const ZONE_NAME: &str = "jwtgate";
/// Fixed, so every `jwtgate_config_file` asks for the same zone (NGINX refuses two sizes for
/// one name). Holds a few key sets of the default `max_body_bytes` (256 KiB); a value that does
/// not fit is simply not shared (each worker then fetches for itself).
pub const ZONE_SIZE: usize = 4 << 20;
const SLOTS: usize = 32;

#[repr(C)]
struct Slot {
    used: bool,
    cas: u32,
    key: *mut u8,
    key_len: usize,
    value: *mut u8,
    value_len: usize,
}

#[repr(C)]
struct Table {
    slots: [Slot; SLOTS],
    counters: [Counter; COUNTERS],
}

/// Metric slots (`count`, `gauge`): the sum over every worker. Names longer than the slot
/// are not kept.
const COUNTERS: usize = 512;
const COUNTER_NAME: usize = 118;

#[repr(C)]
pub struct Counter {
    pub value: AtomicU64,
    name_len: u16,
    name: [u8; COUNTER_NAME],
}

/// `init` of the zone: a new table, or the one of the previous cycle on reload (`data`).
pub unsafe extern "C" fn init_zone(zone: *mut ngx_shm_zone_t, data: *mut c_void) -> ngx_int_t {
    let this = zone;
    let zone = &mut *zone;
    let pool = zone.shm.addr as *mut ngx_slab_pool_t;
    if !data.is_null() {
        zone.data = data;
    } else if pool.is_null() {
        return NGX_ERROR as ngx_int_t;
    } else if zone.shm.exists != 0 {
        zone.data = (*pool).data;
    } else {
        let table = ngx_slab_calloc(pool, std::mem::size_of::<Table>()) as *mut Table;
        if table.is_null() {
            return NGX_ERROR as ngx_int_t;
        }
        (*pool).data = table as *mut c_void;
        zone.data = table as *mut c_void;
    }
    // The fetch claims exist before any worker runs, so claiming is always a CAS (two
    // workers never both create one).
    for key in crate::lease_keys() {
        if get(this, key.as_bytes()).is_none() {
            let _ = set(this, key.as_bytes(), b"0 0", 0);
        }
    }
    NGX_OK as ngx_int_t
}

/// Holds the pool's mutex while it lives (also when the code under it returns early).
struct Locked {
    pool: *mut ngx_slab_pool_t,
    table: *mut Table,
}

impl Drop for Locked {
    fn drop(&mut self) {
        unsafe { ngx_shmtx_unlock(&mut (*self.pool).mutex) };
    }
}

unsafe fn lock(zone: *mut ngx_shm_zone_t) -> Option<Locked> {
    let zone = zone.as_ref()?;
    let pool = zone.shm.addr as *mut ngx_slab_pool_t;
    let table = zone.data as *mut Table;
    if pool.is_null() || table.is_null() {
        return None;
    }
    ngx_shmtx_lock(&mut (*pool).mutex);
    Some(Locked { pool, table })
}

unsafe fn slice<'a>(data: *const u8, len: usize) -> &'a [u8] {
    if data.is_null() || len == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(data, len)
    }
}

unsafe fn copy_in(pool: *mut ngx_slab_pool_t, bytes: &[u8]) -> Option<*mut u8> {
    let p = ngx_slab_alloc_locked(pool, bytes.len().max(1)) as *mut u8;
    if p.is_null() {
        return None;
    }
    ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len());
    Some(p)
}

/// The value of `key` and its CAS number.
pub unsafe fn get(zone: *mut ngx_shm_zone_t, key: &[u8]) -> Option<(Vec<u8>, u32)> {
    let locked = lock(zone)?;
    (*locked.table)
        .slots
        .iter()
        .find(|s| s.used && slice(s.key, s.key_len) == key)
        .map(|s| (slice(s.value, s.value_len).to_vec(), s.cas))
}

/// Stores `value` under `key`. `cas` 0 stores unconditionally; otherwise it must be the
/// number [`get`] returned (proxy-wasm's rule), else `CAS mismatch` (8).
pub unsafe fn set(
    zone: *mut ngx_shm_zone_t,
    key: &[u8],
    value: &[u8],
    cas: u32,
) -> Result<(), HostError> {
    let Some(locked) = lock(zone) else {
        return Err(HostError(10));
    };
    let slots = &mut (*locked.table).slots;
    let found = slots
        .iter()
        .position(|s| s.used && slice(s.key, s.key_len) == key);
    let index = match found {
        Some(i) => i,
        None => slots.iter().position(|s| !s.used).ok_or(HostError(10))?,
    };
    let Some(slot) = slots.get_mut(index) else {
        return Err(HostError(10));
    };
    if found.is_some() && cas != 0 && slot.cas != cas {
        return Err(HostError(8));
    }
    let new_value = copy_in(locked.pool, value).ok_or(HostError(10))?;
    if found.is_none() {
        let Some(new_key) = copy_in(locked.pool, key) else {
            ngx_slab_free_locked(locked.pool, new_value as *mut c_void);
            return Err(HostError(10));
        };
        slot.used = true;
        slot.key = new_key;
        slot.key_len = key.len();
        slot.cas = 0;
    } else if !slot.value.is_null() {
        ngx_slab_free_locked(locked.pool, slot.value as *mut c_void);
    }
    slot.value = new_value;
    slot.value_len = value.len();
    // Never 0: 0 means "no check" to a caller.
    slot.cas = slot.cas.wrapping_add(1).max(1);
    Ok(())
}

/// The metric slot of `name` (created on first use; its value is updated without the lock,
/// atomically), or `None` when the name is too long or the slots are used up.
pub unsafe fn counter(zone: *mut ngx_shm_zone_t, name: &str) -> Option<*const AtomicU64> {
    if name.is_empty() || name.len() > COUNTER_NAME {
        return None;
    }
    let locked = lock(zone)?;
    let counters = &mut (*locked.table).counters;
    fn name_of(c: &Counter) -> &[u8] {
        c.name.get(..c.name_len as usize).unwrap_or_default()
    }
    if let Some(c) = counters
        .iter()
        .find(|c| c.name_len > 0 && name_of(c) == name.as_bytes())
    {
        return Some(&c.value as *const AtomicU64);
    }
    let free = counters.iter_mut().find(|c| c.name_len == 0)?;
    free.name
        .get_mut(..name.len())?
        .copy_from_slice(name.as_bytes());
    free.name_len = name.len() as u16;
    Some(&free.value as *const AtomicU64)
}

/// Every metric and its value, by name.
pub unsafe fn counters(zone: *mut ngx_shm_zone_t) -> Vec<(String, u64)> {
    let Some(locked) = lock(zone) else {
        return Vec::new();
    };
    let mut all: Vec<(String, u64)> = (*locked.table)
        .counters
        .iter()
        .filter(|c| c.name_len > 0)
        .map(|c| {
            let name = c.name.get(..c.name_len as usize).unwrap_or_default();
            (
                String::from_utf8_lossy(name).into_owned(),
                c.value.load(std::sync::atomic::Ordering::Relaxed),
            )
        })
        .collect();
    all.sort();
    all
}
