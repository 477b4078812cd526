//! Arbitrary paths, header names and values (cookies, prefixes, query strings) through
//! extraction, route matching and anti-spoofing.
#![no_main]
use jwtgate_core::{Decision, HeaderOp, Request};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    static GATEWAY: OnceLock<jwtgate_core::Gateway> = OnceLock::new();
    let gateway = GATEWAY.get_or_init(common::gateway);
    let text = String::from_utf8_lossy(data);
    // Lines: path, then "name: value" headers.
    let mut lines = text.split('\n');
    let path = lines.next().unwrap_or("/");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    let verdict = gateway.decide(
        &Request {
            method: "GET",
            path,
            headers: &headers,
        },
        1_700_000_000,
    );
    if let Decision::Forward(ops) = &verdict.decision {
        // Every spoofable header the client sent is removed.
        for (name, _) in &headers {
            for managed in ["x-user-id", "x-roles", "x-jwt-payload"] {
                if name.eq_ignore_ascii_case(managed) {
                    assert!(ops.contains(&HeaderOp::Remove(managed.to_string())));
                }
            }
        }
        // A protected route only forwards with a verified token, which fuzzing cannot forge.
        assert!(
            verdict.providers.is_empty(),
            "forwarded on a protected route: {text:?}"
        );
    }
});
