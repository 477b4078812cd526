//! Arbitrary configuration bytes: an error or a gateway, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = jwtgate_core::Gateway::from_json(data);
});
