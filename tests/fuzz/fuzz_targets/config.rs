//! Arbitrary configuration bytes: an error or a gateway, never a panic.
#![no_main]
// A fuzz target: a panic is the finding.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = jwtgate_core::Gateway::from_json(data);
});
