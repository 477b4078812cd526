//! The host calls one request costs, counted by the harness (`Gateway::host_calls`): counters
//! are defined when the configuration loads, never on a request; each client spelling of a
//! managed header is removed once, and nothing absent is asked for. Bounds are the counts
//! measured for issue 19 (`make bench` prints the table).
// A test (or measurement) program: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use jwtgate_host_tests::{hs256_token, start_at, Gateway};
use serde_json::json;

const NOW: u64 = 1_700_000_000;
const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn gateway() -> Gateway {
    let config = json!({
        "providers": {"hs": {
            "issuer": "https://issuer.test", "audiences": ["api"],
            "keys": [{"kid": "k1", "alg": "HS256", "secret": SECRET}],
            "claim_to_headers": [{"header_name": "x-jwt-sub", "claim_name": "sub"}]}},
        "rules": [{"match": {"prefix": "/public"}},
                  {"match": {"prefix": "/"}, "requires": {"provider_name": "hs"}}]
    });
    start_at(&config.to_string(), NOW)
}

fn bearer() -> String {
    let claims =
        json!({"iss": "https://issuer.test", "aud": "api", "sub": "alice", "exp": NOW + 300});
    let token = hs256_token(
        SECRET.as_bytes(),
        r#"{"alg":"HS256","typ":"JWT","kid":"k1"}"#,
        &claims.to_string(),
    );
    format!("Bearer {token}")
}

/// The host calls of one request (after one like it), by ABI function.
fn calls(gw: &mut Gateway, path: &str, headers: &[(&str, &str)], want: u32) -> Vec<(String, u64)> {
    assert_eq!(gw.request("GET", path, headers).status(), want);
    gw.reset_host_calls();
    assert_eq!(gw.request("GET", path, headers).status(), want);
    gw.host_calls()
        .into_iter()
        .map(|(name, n)| (name.to_string(), n))
        .collect()
}

fn count(calls: &[(String, u64)], name: &str) -> u64 {
    calls.iter().find(|(n, _)| n == name).map_or(0, |(_, n)| *n)
}

/// `name` was called exactly `times` times (the whole list in the message).
fn expect_calls(calls: &[(String, u64)], name: &str, times: u64) {
    assert_eq!(count(calls, name), times, "{name}: {calls:?}");
}

#[test]
fn per_request_counters_are_defined_when_the_configuration_loads() {
    let mut gw = gateway();
    let metrics = gw.metrics();
    for name in [
        "jwtgate.allowed",
        "jwtgate.denied",
        "jwtgate.denied.expired",
    ] {
        assert_eq!(metrics.get(name), Some(&0), "{name} defined at configure");
    }
    let denied = calls(&mut gw, "/api", &[], 401);
    expect_calls(&denied, "proxy_define_metric", 0);
    expect_calls(&denied, "proxy_increment_metric", 2);
    assert!(
        denied.iter().map(|(_, n)| n).sum::<u64>() <= 6,
        "{denied:?}"
    );
    assert_eq!(gw.metrics().get("jwtgate.denied.missing_token"), Some(&2));
}

#[test]
fn a_cached_token_reads_the_headers_once_and_changes_only_what_is_there() {
    let mut gw = gateway();
    let auth = bearer();
    let cached = calls(&mut gw, "/api", &[("authorization", &auth)], 200);
    expect_calls(&cached, "proxy_get_header_map_pairs", 1);
    expect_calls(&cached, "proxy_get_header_map_value", 0);
    // The token's header goes (forward: false), the claim header is set.
    expect_calls(&cached, "proxy_remove_header_map_value", 1);
    expect_calls(&cached, "proxy_replace_header_map_value", 1);
    expect_calls(&cached, "proxy_define_metric", 0);
    assert!(
        cached.iter().map(|(_, n)| n).sum::<u64>() <= 6,
        "{cached:?}"
    );
}

#[test]
fn each_spelling_of_a_spoofed_managed_header_is_removed_once() {
    let mut gw = gateway();
    let auth = bearer();
    let headers = [
        ("Authorization", auth.as_str()),
        ("X-Jwt-Sub", "mallory"),
        ("x_jwt_sub", "mallory"),
    ];
    let spoofed = calls(&mut gw, "/api", &headers, 200);
    // X-Jwt-Sub, x_jwt_sub, Authorization: each by its own name, once; nothing for the absent
    // lower-case `x-jwt-sub` or `authorization`.
    expect_calls(&spoofed, "proxy_remove_header_map_value", 3);
    expect_calls(&spoofed, "proxy_replace_header_map_value", 1);
    let reply = gw.request("GET", "/api", &headers);
    assert_eq!(reply.header("x-jwt-sub"), Some("alice"));
    assert_eq!(reply.header("x_jwt_sub"), None);
    assert_eq!(reply.header("authorization"), None);
}
