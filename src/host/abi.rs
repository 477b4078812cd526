//! Every call the filter makes into the proxy, straight to the proxy-wasm ABI 0.2.1 imports.
//!
//! Each wrapper returns `Result` with the host's status and works on bytes: hosts hand over
//! header values with obs-text (0x80–0xFF), answer with statuses the spec does not list, and
//! report sizes that may not match. Nothing here panics: on Envoy a panic (a trap) fails the
//! whole worker VM, and on NGINX + ngx_wasm_module a trap while a request is paused resumes
//! it to the upstream. (proxy-wasm 0.2.5's wrappers `unwrap` UTF-8 and panic on any status
//! they do not expect, and its dispatcher panics on unknown contexts or call tokens.)

use std::ptr::{null, null_mut};
use std::time::Duration;

use jwtgate_core::port::PairsWriter;

/// A host status other than OK (proxy-wasm ABI `WasmResult`: 1 not found, 2 bad argument,
/// 8 CAS mismatch, 10 internal failure, 12 unimplemented, ...).
pub use jwtgate_core::port::HostError as Status;

const OK: u32 = 0;
const NOT_FOUND: u32 = 1;

fn check(status: u32) -> Result<(), Status> {
    if status == OK {
        Ok(())
    } else {
        Err(Status(status))
    }
}

/// Not imported: `proxy_get_log_level`. Kong/ngx_wasm_module (3bed278) registers it with two
/// i32 parameters (the ABI has one) and as not implemented (it traps when called): a module
/// importing it with the ABI's signature fails to link on NGINX. Without the host's level every
/// line is formatted and handed over; the host filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
#[allow(dead_code)] // the ABI's full set; the filter logs at Debug and above
pub enum LogLevel {
    Trace = 0,
    Debug = 1,
    Info = 2,
    Warn = 3,
    Error = 4,
    Critical = 5,
}

#[derive(Debug, Clone, Copy)]
#[repr(u32)]
pub enum MapType {
    HttpRequestHeaders = 0,
    HttpCallResponseHeaders = 6,
}

#[derive(Debug, Clone, Copy)]
#[repr(u32)]
pub enum BufferType {
    HttpCallResponseBody = 4,
    PluginConfiguration = 7,
}

#[derive(Debug, Clone, Copy)]
#[repr(u32)]
pub enum MetricType {
    Counter = 0,
    Gauge = 1,
    Histogram = 2,
}

const STREAM_HTTP_REQUEST: u32 = 0;

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_log(level: u32, message_data: *const u8, message_size: usize) -> u32;
    fn proxy_get_current_time_nanoseconds(return_time: *mut u64) -> u32;
    fn proxy_set_tick_period_milliseconds(period: u32) -> u32;
    fn proxy_get_buffer_bytes(
        buffer_type: u32,
        start: usize,
        max_size: usize,
        return_buffer_data: *mut *mut u8,
        return_buffer_size: *mut usize,
    ) -> u32;
    fn proxy_get_header_map_pairs(
        map_type: u32,
        return_map_data: *mut *mut u8,
        return_map_size: *mut usize,
    ) -> u32;
    fn proxy_get_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
    ) -> u32;
    fn proxy_replace_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        value_data: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_remove_header_map_value(map_type: u32, key_data: *const u8, key_size: usize) -> u32;
    fn proxy_get_property(
        path_data: *const u8,
        path_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
    ) -> u32;
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
    fn proxy_continue_stream(stream_type: u32) -> u32;
    fn proxy_send_local_response(
        status_code: u32,
        status_code_details_data: *const u8,
        status_code_details_size: usize,
        body_data: *const u8,
        body_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
    fn proxy_http_call(
        upstream_data: *const u8,
        upstream_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        body_data: *const u8,
        body_size: usize,
        trailers_data: *const u8,
        trailers_size: usize,
        timeout: u32,
        return_token: *mut u32,
    ) -> u32;
    fn proxy_set_effective_context(context_id: u32) -> u32;
    fn proxy_define_metric(
        metric_type: u32,
        name_data: *const u8,
        name_size: usize,
        return_id: *mut u32,
    ) -> u32;
    fn proxy_increment_metric(metric_id: u32, offset: i64) -> u32;
    fn proxy_record_metric(metric_id: u32, value: u64) -> u32;
}

/// Takes over a buffer the host allocated through `proxy_on_memory_allocate` (this module's
/// allocator: see `exports.rs`), `None` when the host returned none.
///
/// SAFETY: on OK the host wrote a pointer from `proxy_on_memory_allocate(size)` (or null).
unsafe fn take(data: *mut u8, size: usize) -> Option<Vec<u8>> {
    if data.is_null() {
        return None;
    }
    // SAFETY: see above: a `size`-byte allocation with capacity `size`, ours from now on.
    Some(unsafe { Vec::from_raw_parts(data, size, size) })
}

/// Calls `f` with two out pointers and takes over the bytes the host returned: `Ok(None)` for
/// NOT_FOUND or no data.
fn out_bytes(f: impl FnOnce(*mut *mut u8, *mut usize) -> u32) -> Result<Option<Vec<u8>>, Status> {
    let mut data: *mut u8 = null_mut();
    let mut size: usize = 0;
    match f(&mut data, &mut size) {
        // SAFETY: on OK the host filled the out pointers as `take` requires.
        OK => Ok(unsafe { take(data, size) }),
        NOT_FOUND => Ok(None),
        status => Err(Status(status)),
    }
}

pub fn log(level: LogLevel, message: &str) {
    // SAFETY: message is readable for its length. A refused log line has nowhere to go.
    unsafe { proxy_log(level as u32, message.as_ptr(), message.len()) };
}

/// Host time in milliseconds since the epoch (never a wasm clock).
pub fn now_ms() -> Result<u64, Status> {
    let mut nanos = 0u64;
    // SAFETY: a valid out pointer.
    check(unsafe { proxy_get_current_time_nanoseconds(&mut nanos) })?;
    Ok(nanos / 1_000_000)
}

pub fn set_tick_period(period: Duration) -> Result<(), Status> {
    let millis = u32::try_from(period.as_millis()).unwrap_or(u32::MAX);
    // SAFETY: a plain value.
    check(unsafe { proxy_set_tick_period_milliseconds(millis) })
}

/// Up to `max` bytes of a buffer from its start. A host may hold fewer bytes than it
/// announced (a body cut short): the caller gets what there is, and checks the length.
pub fn buffer(kind: BufferType, max: usize) -> Result<Option<Vec<u8>>, Status> {
    // SAFETY: valid out pointers.
    out_bytes(|d, s| unsafe { proxy_get_buffer_bytes(kind as u32, 0, max, d, s) })
}

/// A header as the host holds it: bytes, any of 0x00–0xFF.
pub type RawHeader = (Vec<u8>, Vec<u8>);

/// Every pair of a header map, in order (duplicates kept).
pub fn header_pairs(map: MapType) -> Result<Vec<RawHeader>, Status> {
    let mut pairs = Vec::new();
    let written = header_pairs_into(map, &mut pairs)?;
    pairs.truncate(written);
    Ok(pairs)
}

/// [`header_pairs`] written over the first pairs of `pairs` (an earlier list: its buffers keep
/// their capacity; [`PairsWriter`]), returning how many.
pub fn header_pairs_into(map: MapType, pairs: &mut Vec<RawHeader>) -> Result<usize, Status> {
    // SAFETY: valid out pointers.
    let bytes = out_bytes(|d, s| unsafe { proxy_get_header_map_pairs(map as u32, d, s) })?;
    match bytes {
        None => Ok(0),
        Some(bytes) => decode_pairs_into(&bytes, pairs).ok_or(Status(3)),
    }
}

/// One header's value (the host picks which when there are several).
pub fn header_value(map: MapType, name: &str) -> Result<Option<Vec<u8>>, Status> {
    // SAFETY: name is readable for its length; valid out pointers.
    out_bytes(|d, s| unsafe {
        proxy_get_header_map_value(map as u32, name.as_ptr(), name.len(), d, s)
    })
}

pub fn replace_header(map: MapType, name: &str, value: &str) -> Result<(), Status> {
    // SAFETY: name and value are readable for their lengths.
    check(unsafe {
        proxy_replace_header_map_value(
            map as u32,
            name.as_ptr(),
            name.len(),
            value.as_ptr(),
            value.len(),
        )
    })
}

pub fn remove_header(map: MapType, name: &str) -> Result<(), Status> {
    // SAFETY: name is readable for its length.
    match unsafe { proxy_remove_header_map_value(map as u32, name.as_ptr(), name.len()) } {
        OK | NOT_FOUND => Ok(()),
        status => Err(Status(status)),
    }
}

/// A property by path (`["request", "path"]`), serialized as the ABI wants: each segment
/// followed by a NUL.
pub fn property(path: &[&str]) -> Result<Option<Vec<u8>>, Status> {
    let mut serialized = Vec::new();
    for segment in path {
        serialized.extend_from_slice(segment.as_bytes());
        serialized.push(0);
    }
    // SAFETY: serialized is readable for its length; valid out pointers.
    out_bytes(|d, s| unsafe { proxy_get_property(serialized.as_ptr(), serialized.len(), d, s) })
}

/// The value under `key` and its CAS token; `Ok(None)` when missing.
pub fn shared_data(key: &str) -> Result<Option<(Vec<u8>, u32)>, Status> {
    let mut cas = 0u32;
    // SAFETY: key is readable for its length; valid out pointers.
    let value = out_bytes(|d, s| unsafe {
        proxy_get_shared_data(key.as_ptr(), key.len(), d, s, &mut cas)
    })?;
    Ok(value.map(|v| (v, cas)))
}

/// Writes `value` under `key` if the key is still at `cas` (0: not read before).
pub fn set_shared_data(key: &str, value: &[u8], cas: u32) -> Result<(), Status> {
    // SAFETY: key and value are readable for their lengths.
    check(unsafe {
        proxy_set_shared_data(key.as_ptr(), key.len(), value.as_ptr(), value.len(), cas)
    })
}

/// Lets the effective context's paused request go on to the upstream.
pub fn resume_request() -> Result<(), Status> {
    // SAFETY: a plain value.
    check(unsafe { proxy_continue_stream(STREAM_HTTP_REQUEST) })
}

/// Answers the effective context's request locally.
pub fn send_response<'a>(
    status: u32,
    headers: impl Iterator<Item = (&'a str, &'a str)> + Clone,
    body: &[u8],
) -> Result<(), Status> {
    let headers = encode_pairs(headers);
    // SAFETY: every pointer is readable for its length.
    check(unsafe {
        proxy_send_local_response(
            status,
            null(),
            0,
            body.as_ptr(),
            body.len(),
            headers.as_ptr(),
            headers.len(),
            -1,
        )
    })
}

/// Dispatches an HTTP call; its answer arrives in `proxy_on_http_call_response` with the
/// returned token.
pub fn http_call(
    upstream: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Result<u32, Status> {
    let headers = encode_pairs(headers.iter().copied());
    let trailers = encode_pairs(std::iter::empty());
    let millis = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
    let mut token = 0u32;
    // SAFETY: every pointer is readable for its length; token is a valid out pointer.
    check(unsafe {
        proxy_http_call(
            upstream.as_ptr(),
            upstream.len(),
            headers.as_ptr(),
            headers.len(),
            if body.is_empty() {
                null()
            } else {
                body.as_ptr()
            },
            body.len(),
            trailers.as_ptr(),
            trailers.len(),
            millis,
            &mut token,
        )
    })?;
    Ok(token)
}

/// Makes `context_id` the one later calls act on (a paused request woken from elsewhere).
pub fn set_effective_context(context_id: u32) -> Result<(), Status> {
    // SAFETY: a plain value.
    check(unsafe { proxy_set_effective_context(context_id) })
}

pub fn define_metric(kind: MetricType, name: &str) -> Result<u32, Status> {
    let mut id = 0u32;
    // SAFETY: name is readable for its length; id is a valid out pointer.
    check(unsafe { proxy_define_metric(kind as u32, name.as_ptr(), name.len(), &mut id) })?;
    Ok(id)
}

pub fn increment_metric(id: u32, delta: i64) -> Result<(), Status> {
    // SAFETY: plain values.
    check(unsafe { proxy_increment_metric(id, delta) })
}

pub fn record_metric(id: u32, value: u64) -> Result<(), Status> {
    // SAFETY: plain values.
    check(unsafe { proxy_record_metric(id, value) })
}

/// The ABI's map encoding: count, then (name length, value length) per pair, then each name
/// and value followed by a NUL. All lengths little-endian u32. One allocation.
fn encode_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)> + Clone) -> Vec<u8> {
    let (count, size) = pairs
        .clone()
        .fold((0usize, 4usize), |(count, size), (n, v)| {
            (count + 1, size + n.len() + v.len() + 10)
        });
    let mut bytes = Vec::with_capacity(size);
    let len = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes();
    bytes.extend_from_slice(&len(count));
    for (name, value) in pairs.clone() {
        bytes.extend_from_slice(&len(name.len()));
        bytes.extend_from_slice(&len(value.len()));
    }
    for (name, value) in pairs {
        bytes.extend_from_slice(name.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(value.as_bytes());
        bytes.push(0);
    }
    bytes
}

/// Decodes the ABI's map encoding; `None` when the host's bytes do not add up.
/// The pairs of a serialized header map, written over the first pairs of `pairs`
/// ([`PairsWriter`]): how many.
fn decode_pairs_into(bytes: &[u8], pairs: &mut Vec<RawHeader>) -> Option<usize> {
    let u32_at = |at: usize| -> Option<usize> {
        let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        usize::try_from(u32::from_le_bytes(b)).ok()
    };
    if bytes.is_empty() {
        return Some(0);
    }
    let count = u32_at(0)?;
    // Each pair takes at least 8 bytes of lengths and 2 NULs: a count the buffer cannot hold
    // is refused before anything is allocated for it.
    if count > bytes.len() / 10 {
        return None;
    }
    pairs.reserve(count.saturating_sub(pairs.len()));
    let mut at = 4usize.checked_add(count.checked_mul(8)?)?;
    let mut slice = move |len: usize| -> Option<&[u8]> {
        let end = at.checked_add(len)?;
        let value = bytes.get(at..end)?;
        at = end.checked_add(1)?; // the NUL
        Some(value)
    };
    let mut out = PairsWriter::new(pairs);
    for n in 0..count {
        let lengths = 4 + n * 8;
        let name_len = u32_at(lengths)?;
        let value_len = u32_at(lengths + 4)?;
        let name = slice(name_len)?;
        let value = slice(value_len)?;
        out.push(name, value);
    }
    Some(out.finish())
}
