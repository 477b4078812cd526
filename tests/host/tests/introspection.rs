//! Token introspection (RFC 7662) inside a real proxy-wasm host: the test plays the
//! authorization server's introspection endpoint through the host's callout service and checks
//! the `POST` it receives byte for byte.
// A test (or measurement) program: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jwtgate_host_tests::{shared_filter, Callout, Gateway, Sent};
use serde_json::{json, Value};

const NOW: u64 = 1_700_000_000;

fn start(extra: Value, provider: Value) -> Gateway {
    let mut intro = json!({
        "http_uri": {"uri": "https://idp.test/oauth2/introspect", "cluster": "idp", "timeout": "2s"},
        "client_id": "jwt gate",
        "client_secret": "s3cr&t=:é",
        "required_scopes": ["orders:read"]
    });
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            intro.as_object_mut().unwrap().remove(k);
        } else {
            intro[k] = v.clone();
        }
    }
    let mut p = json!({
        "introspection": intro,
        "issuer": "https://idp.test",
        "audiences": ["orders"],
        "forward_payload_header": "x-introspection",
        "claim_to_headers": [{"header_name": "x-sub", "claim_name": "sub"},
                             {"header_name": "x-client", "claim_name": "client_id"}]
    });
    for (k, v) in provider.as_object().unwrap() {
        p[k] = v.clone();
    }
    let config = json!({
        "providers": {"opaque": p},
        "rules": [{"match": {"prefix": "/public"}},
                  {"match": {"prefix": "/"}, "requires": {"provider_name": "opaque"}}]
    });
    let g = shared_filter()
        .start(&config.to_string())
        .unwrap_or_else(|e| panic!("{e}"));
    g.set_now(NOW);
    g
}

fn send(g: &mut Gateway, token: &str) -> Sent {
    g.send(
        "GET",
        "/orders",
        &[("authorization", &format!("Bearer {token}"))],
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn one_callout(g: &Gateway) -> Callout {
    let mut c = g.take_callouts();
    assert_eq!(c.len(), 1, "expected one callout: {c:?}");
    c.remove(0)
}

fn metric(g: &Gateway, name: &str) -> i64 {
    g.metrics().get(name).copied().unwrap_or(0)
}

fn active(sub: &str, exp_in: u64) -> Vec<u8> {
    json!({"active": true, "sub": sub, "client_id": "web", "iss": "https://idp.test",
           "aud": ["orders", "billing"], "scope": "orders:read profile",
           "exp": NOW + exp_in, "iat": NOW - 5, "token_type": "Bearer"})
    .to_string()
    .into_bytes()
}

#[test]
fn the_endpoint_gets_a_form_post_and_an_active_answer_becomes_the_claims() {
    let mut g = start(json!({}), json!({}));
    let ctx = send(&mut g, "2YotnFZFEjr1zCsicMWpAA+/=").paused();
    let c = one_callout(&g);
    assert_eq!(c.upstream, "idp");
    assert_eq!(c.timeout_ms, 2000);
    assert_eq!(c.header(":method"), Some("POST"));
    assert_eq!(c.header(":path"), Some("/oauth2/introspect"));
    assert_eq!(c.header(":authority"), Some("idp.test"));
    assert_eq!(c.header(":scheme"), Some("https"));
    assert_eq!(
        c.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(c.header("accept"), Some("application/json"));
    assert!(c.header("user-agent").unwrap().starts_with("jwtgate/"));
    // base64("jwt+gate:s3cr%26t%3D%3A%C3%A9"): RFC 6749 §2.3.1 form-encodes both first.
    assert_eq!(
        c.header("authorization"),
        Some("Basic and0K2dhdGU6czNjciUyNnQlM0QlM0ElQzMlQTk=")
    );
    assert_eq!(
        String::from_utf8(c.body.clone()).unwrap(),
        "token=2YotnFZFEjr1zCsicMWpAA%2B%2F%3D&token_type_hint=access_token"
    );
    let answer = active("alice", 600);
    g.answer_with(&c, 200, &[("content-type", "application/json")], &answer);
    let out = g.outcome(ctx).expect("resumed");
    assert_eq!(out.status(), 200);
    assert_eq!(out.header("x-sub"), Some("alice"));
    assert_eq!(out.header("x-client"), Some("web"));
    assert_eq!(
        out.header("x-introspection"),
        Some(URL_SAFE_NO_PAD.encode(&answer).as_str()),
        "the answer as the payload header"
    );
    assert_eq!(
        out.header("authorization"),
        None,
        "the token is not forwarded"
    );
    // Cached: the next nine requests with the token make no call.
    for _ in 0..9 {
        assert_eq!(
            send(&mut g, "2YotnFZFEjr1zCsicMWpAA+/=")
                .done()
                .header("x-sub"),
            Some("alice")
        );
    }
    assert!(g.take_callouts().is_empty());
    assert_eq!(metric(&g, "jwtgate.introspection.opaque.calls"), 1);
    assert_eq!(metric(&g, "jwtgate.introspection.opaque.cache_hits"), 9);
    assert_eq!(metric(&g, "jwtgate.introspection.opaque.active"), 1);
    assert!(g
        .metrics()
        .contains_key("jwtgate.introspection.opaque.latency_ms"));
    // Open routes never introspect.
    assert_eq!(
        g.send("GET", "/public/x", &[]).unwrap().done().status(),
        200
    );
    assert!(g.take_callouts().is_empty());
}

#[test]
fn a_configured_header_replaces_basic_authentication() {
    let mut g = start(
        json!({"client_id": null, "client_secret": null,
               "client_auth_header": {"name": "authorization", "value": "Bearer gate-token"}}),
        json!({}),
    );
    let _ = send(&mut g, "t").paused();
    let c = one_callout(&g);
    assert_eq!(c.header("authorization"), Some("Bearer gate-token"));
    assert_eq!(
        c.headers
            .iter()
            .filter(|(n, _)| n == "authorization")
            .count(),
        1
    );
}

#[test]
fn inactive_tokens_are_refused_with_their_own_reason() {
    let mut g = start(json!({}), json!({}));
    let ctx = send(&mut g, "revoked").paused();
    let c = one_callout(&g);
    g.answer_with(&c, 200, &[], br#"{"active": false}"#);
    let out = g.outcome(ctx).unwrap();
    assert_eq!(out.status(), 401);
    assert!(out
        .header("www-authenticate")
        .unwrap()
        .contains("error=\"invalid_token\""));
    assert_eq!(metric(&g, "jwtgate.denied.token_inactive"), 1);
    assert_eq!(metric(&g, "jwtgate.introspection.opaque.inactive"), 1);
    // The negative answer is cached for 10 s.
    assert_eq!(send(&mut g, "revoked").done().status(), 401);
    assert!(g.take_callouts().is_empty());
    g.advance_millis(10_000);
    let _ = send(&mut g, "revoked").paused();
    let _ = one_callout(&g);
}

#[test]
fn scope_client_and_audience_are_enforced() {
    let mut g = start(json!({"required_scopes": ["orders:write"]}), json!({}));
    let ctx = send(&mut g, "t").paused();
    let c = one_callout(&g);
    g.answer_with(&c, 200, &[], &active("alice", 600));
    let out = g.outcome(ctx).unwrap();
    assert_eq!(out.status(), 403);
    assert!(out
        .header("www-authenticate")
        .unwrap()
        .contains("insufficient_scope"));

    let mut g = start(json!({"client_ids": ["mobile"]}), json!({}));
    let ctx = send(&mut g, "t").paused();
    let c = one_callout(&g);
    g.answer_with(&c, 200, &[], &active("alice", 600));
    assert_eq!(g.outcome(ctx).unwrap().status(), 401);
    assert_eq!(metric(&g, "jwtgate.denied.client_not_allowed"), 1);

    let mut g = start(json!({}), json!({"audiences": ["admin"]}));
    let ctx = send(&mut g, "t").paused();
    let c = one_callout(&g);
    g.answer_with(&c, 200, &[], &active("alice", 600));
    assert_eq!(g.outcome(ctx).unwrap().status(), 403);
    assert_eq!(metric(&g, "jwtgate.denied.audience_not_allowed"), 1);
}

#[test]
fn failures_fail_closed_and_are_never_cached() {
    let mut g = start(json!({}), json!({"on_keys_unavailable": "unavailable"}));
    for (status, body) in [(500, &b"{}"[..]), (200, b"not json"), (404, b"")] {
        let ctx = send(&mut g, "t").paused();
        let c = one_callout(&g);
        g.answer_with(&c, status, &[], body);
        assert_eq!(g.outcome(ctx).unwrap().status(), 503, "{status}");
    }
    let ctx = send(&mut g, "t").paused();
    let c = one_callout(&g);
    g.fail(&c);
    assert_eq!(g.outcome(ctx).unwrap().status(), 503);
    assert_eq!(metric(&g, "jwtgate.introspection.opaque.calls"), 4);
    assert_eq!(metric(&g, "jwtgate.introspection.opaque.errors"), 4);
    assert_eq!(metric(&g, "jwtgate.denied.introspection_error"), 4);
    // Without a policy: 401, as unavailable keys.
    let mut g = start(json!({}), json!({}));
    let ctx = send(&mut g, "t").paused();
    let c = one_callout(&g);
    g.answer_with(&c, 502, &[], b"");
    assert_eq!(g.outcome(ctx).unwrap().status(), 401);
}

#[test]
fn concurrent_requests_with_one_token_share_one_call() {
    let mut g = start(json!({}), json!({}));
    let first = send(&mut g, "shared").paused();
    let second = send(&mut g, "shared").paused();
    let third = send(&mut g, "shared").paused();
    let c = one_callout(&g);
    g.answer_with(&c, 200, &[], &active("dana", 600));
    for ctx in [first, second, third] {
        assert_eq!(
            g.outcome(ctx).expect("resumed").header("x-sub"),
            Some("dana")
        );
    }
    assert_eq!(metric(&g, "jwtgate.introspection.opaque.calls"), 1);
}

#[test]
fn the_cache_never_outlives_the_tokens_exp() {
    let mut g = start(json!({}), json!({"clock_skew_seconds": 0}));
    let ctx = send(&mut g, "short").paused();
    let c = one_callout(&g);
    g.answer_with(&c, 200, &[], &active("erin", 3));
    assert_eq!(g.outcome(ctx).unwrap().status(), 200);
    g.advance_millis(2_000);
    assert_eq!(send(&mut g, "short").done().status(), 200);
    g.advance_millis(1_000);
    let _ = send(&mut g, "short").paused();
    let _ = one_callout(&g);
}
