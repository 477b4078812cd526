//! Hostile tokens through parsing, key selection, verification and claim checks.
#![no_main]
use jwtgate_core::{Decision, Request};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    static GATEWAY: OnceLock<jwtgate_core::Gateway> = OnceLock::new();
    let gateway = GATEWAY.get_or_init(common::gateway);
    let token = String::from_utf8_lossy(data);
    for path in ["/api", "/ec"] {
        let headers = vec![("authorization".to_string(), format!("Bearer {token}"))];
        let verdict = gateway.decide(
            &Request {
                method: "GET",
                path,
                headers: &headers,
            },
            1_700_000_000,
        );
        // Fuzzed bytes cannot carry a valid signature: the request must never pass.
        assert!(
            matches!(verdict.decision, Decision::Respond(_)),
            "fuzzed token passed: {token:?}"
        );
    }
});
