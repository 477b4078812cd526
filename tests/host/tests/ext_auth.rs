//! External auth callouts (the seeds' `auth_request`) inside a real proxy-wasm host: the test
//! plays the auth service through the host's callout service.
// A test (or measurement) program: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use jwtgate_host_tests::{hs256_token, shared_filter, Callout, Gateway, Outcome, Sent};
use serde_json::{json, Value};

const NOW: u64 = 1_700_000_000;
const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn service(extra: Value) -> Value {
    let mut s = json!({
        "http_uri": {"uri": "http://auth.test/check", "cluster": "auth", "timeout": "1s"},
        "allowed_upstream_headers": ["x-user-id", "x-user-roles"],
        "cache": {"allow_ttl": "60s", "deny_ttl": "10s", "max_entries": 2}
    });
    for (k, v) in extra.as_object().unwrap() {
        s[k] = v.clone();
    }
    s
}

fn start(config: Value) -> Gateway {
    let g = shared_filter()
        .start(&config.to_string())
        .unwrap_or_else(|e| panic!("{e}"));
    g.set_now(NOW);
    g
}

fn ext_only(extra: Value) -> Gateway {
    start(json!({
        "ext_auth": {"authz": service(extra)},
        "rules": [{"match": {"prefix": "/public"}},
                  {"match": {"prefix": "/"}, "requires": {"ext_auth": "authz"}}]
    }))
}

fn send(g: &mut Gateway, credentials: &str) -> Sent {
    g.send("GET", "/orders", &[("authorization", credentials)])
        .unwrap_or_else(|e| panic!("{e}"))
}

fn one_callout(g: &Gateway) -> Callout {
    let mut c = g.take_callouts();
    assert_eq!(c.len(), 1, "expected one callout: {c:?}");
    c.remove(0)
}

fn allow(g: &mut Gateway, c: &Callout, user: &str) {
    g.answer_with(
        c,
        200,
        &[("x-user-id", user), ("x-internal", "secret")],
        b"",
    );
}

fn metric(g: &Gateway, name: &str) -> i64 {
    g.metrics().get(name).copied().unwrap_or(0)
}

/// Sends one request that the service answers at once with `status`.
fn asked(g: &mut Gateway, credentials: &str, status: u32, headers: &[(&str, &str)]) -> Outcome {
    let ctx = send(g, credentials).paused();
    let c = one_callout(g);
    g.answer_with(&c, status, headers, b"");
    g.outcome(ctx).expect("decided on the answer")
}

#[test]
fn allow_copies_the_answers_headers_and_strips_spoofed_ones() {
    let mut g = ext_only(json!({}));
    let ctx = g
        .send(
            "POST",
            "/orders?id=7",
            &[
                ("authorization", "Basic YWxpY2U6cHc="),
                ("cookie", "session=abc"),
                ("x-user-id", "spoofed"),
                ("x-trace", "t1"),
            ],
        )
        .unwrap()
        .paused();
    let c = one_callout(&g);
    assert_eq!(c.upstream, "auth");
    assert_eq!(c.header(":method"), Some("GET"));
    assert_eq!(c.header(":path"), Some("/check"));
    assert_eq!(c.header(":authority"), Some("auth.test"));
    assert_eq!(c.header("x-original-method"), Some("POST"));
    assert_eq!(c.header("x-original-uri"), Some("/orders?id=7"));
    assert_eq!(c.header("authorization"), Some("Basic YWxpY2U6cHc="));
    assert_eq!(c.header("cookie"), Some("session=abc"));
    assert_eq!(c.header("x-trace"), None, "only allowed request headers");
    assert_eq!(c.header("x-user-id"), None);
    assert_eq!(c.timeout_ms, 1000);
    g.answer_with(
        &c,
        200,
        &[
            ("x-user-id", "alice"),
            ("x-user-roles", "admin"),
            ("x-internal", "no"),
        ],
        b"",
    );
    let out = g.outcome(ctx).expect("resumed");
    assert_eq!(out.status(), 200);
    assert_eq!(out.header("x-user-id"), Some("alice"));
    assert_eq!(out.header("x-user-roles"), Some("admin"));
    assert_eq!(
        out.header("x-internal"),
        None,
        "only allowed upstream headers"
    );
    assert_eq!(out.header("x-trace"), Some("t1"));
    if let Outcome::Forwarded { headers } = &out {
        assert_eq!(headers.iter().filter(|(n, _)| n == "x-user-id").count(), 1);
    }
    // Open routes never call the service but still lose spoofed managed headers.
    let open = g
        .send("GET", "/public/x", &[("x-user-roles", "admin")])
        .unwrap()
        .done();
    assert_eq!(open.header("x-user-roles"), None);
    assert!(g.take_callouts().is_empty());
}

#[test]
fn denials_pass_the_services_status_and_challenge() {
    let mut g = ext_only(json!({}));
    let out = asked(
        &mut g,
        "Basic bad",
        401,
        &[("www-authenticate", "Basic realm=\"corp\"")],
    );
    assert_eq!(out.status(), 401);
    assert_eq!(out.header("www-authenticate"), Some("Basic realm=\"corp\""));
    let out = asked(&mut g, "Basic other", 403, &[]);
    assert_eq!(out.status(), 403);
    assert_eq!(out.header("www-authenticate"), None);
    assert_eq!(metric(&g, "jwtgate.ext_auth.authz.denied"), 2);
    assert_eq!(metric(&g, "jwtgate.denied.ext_auth_unauthorized"), 1);
    assert_eq!(metric(&g, "jwtgate.denied.ext_auth_forbidden"), 1);
}

#[test]
fn service_errors_fail_closed_and_are_never_cached() {
    let mut g = ext_only(json!({"status_on_error": 503}));
    for _ in 0..2 {
        let out = asked(&mut g, "Basic x", 500, &[]);
        assert_eq!(out.status(), 503);
    }
    let ctx = send(&mut g, "Basic x").paused();
    let c = one_callout(&g);
    g.fail(&c); // timeout / broken connection
    assert_eq!(g.outcome(ctx).unwrap().status(), 503);
    let out = asked(&mut g, "Basic x", 302, &[("location", "/login")]);
    assert_eq!(out.status(), 503, "a redirect from the service is an error");
    // 5xx answers are the service's own failures (`server_error`, the only status class
    // `failure_mode_allow` may pass); a redirect is an unexpected `status`.
    assert_eq!(metric(&g, "jwtgate.ext_auth.authz.errors.server_error"), 2);
    assert_eq!(metric(&g, "jwtgate.ext_auth.authz.errors.status"), 1);
    assert_eq!(metric(&g, "jwtgate.ext_auth.authz.errors.no_response"), 1);
    assert_eq!(metric(&g, "jwtgate.ext_auth.authz.callouts"), 4);
}

#[test]
fn fail_open_only_where_configured() {
    let mut g = ext_only(json!({"failure_mode_allow": true}));
    let ctx = send(&mut g, "Basic x").paused();
    let c = one_callout(&g);
    g.fail(&c);
    let out = g.outcome(ctx).unwrap();
    assert_eq!(out.status(), 200);
    assert_eq!(out.header("x-user-id"), None);
    // A clear denial still denies.
    assert_eq!(asked(&mut g, "Basic y", 401, &[]).status(), 401);
}

#[test]
fn identical_credentials_ask_the_service_once_until_the_answer_expires() {
    let mut g = ext_only(json!({}));
    let ctx = send(&mut g, "Bearer opaque-1").paused();
    let c = one_callout(&g);
    allow(&mut g, &c, "alice");
    assert_eq!(g.outcome(ctx).unwrap().header("x-user-id"), Some("alice"));
    for _ in 0..10 {
        let out = send(&mut g, "Bearer opaque-1").done();
        assert_eq!(
            out.header("x-user-id"),
            Some("alice"),
            "cached allow with its headers"
        );
    }
    assert!(g.take_callouts().is_empty());
    assert_eq!(metric(&g, "jwtgate.ext_auth.authz.callouts"), 1);
    assert_eq!(metric(&g, "jwtgate.ext_auth.authz.cache_hits"), 10);
    assert!(g
        .metrics()
        .contains_key("jwtgate.ext_auth.authz.latency_ms"));

    // Other credentials: another callout. A denial is cached for deny_ttl (10 s).
    assert_eq!(asked(&mut g, "Bearer opaque-2", 401, &[]).status(), 401);
    assert_eq!(send(&mut g, "Bearer opaque-2").done().status(), 401);
    g.advance_millis(10_000);
    let _ = send(&mut g, "Bearer opaque-2").paused();
    let _ = one_callout(&g);

    // The allow expires after allow_ttl (60 s).
    g.advance_millis(50_000);
    let _ = send(&mut g, "Bearer opaque-1").paused();
    let _ = one_callout(&g);
}

#[test]
fn the_cache_stays_bounded_and_keeps_working_when_full() {
    let mut g = ext_only(json!({}));
    for user in ["a", "b", "c"] {
        let ctx = send(&mut g, &format!("Bearer {user}")).paused();
        let c = one_callout(&g);
        allow(&mut g, &c, user);
        assert_eq!(g.outcome(ctx).unwrap().header("x-user-id"), Some(user));
    }
    // max_entries 2: "a" was evicted, "c" is cached.
    assert_eq!(
        send(&mut g, "Bearer c").done().header("x-user-id"),
        Some("c")
    );
    let ctx = send(&mut g, "Bearer a").paused();
    let c = one_callout(&g);
    allow(&mut g, &c, "a");
    assert_eq!(g.outcome(ctx).unwrap().header("x-user-id"), Some("a"));
}

#[test]
fn the_service_is_asked_only_when_needed_next_to_a_jwt_provider() {
    let providers = json!({"hs": {
        "issuer": "https://issuer.test",
        "keys": [{"alg": "HS256", "secret": SECRET}],
        "claim_to_headers": [{"header_name": "x-jwt-sub", "claim_name": "sub"}]
    }});
    let jwt = format!(
        "Bearer {}",
        hs256_token(
            SECRET.as_bytes(),
            r#"{"alg":"HS256"}"#,
            &json!({"iss": "https://issuer.test", "sub": "bob", "exp": NOW + 300}).to_string()
        )
    );
    // Either a JWT or whatever the auth service accepts (API keys, sessions).
    let mut any = start(json!({
        "providers": providers, "ext_auth": {"authz": service(json!({}))},
        "rules": [{"match": {"prefix": "/"}, "requires": {"requires_any": {"requirements": [
            {"provider_name": "hs"}, {"ext_auth": "authz"}]}}}]
    }));
    let out = send(&mut any, &jwt).done();
    assert_eq!(out.header("x-jwt-sub"), Some("bob"));
    assert!(
        any.take_callouts().is_empty(),
        "a valid JWT needs no callout"
    );
    let ctx = any
        .send("GET", "/orders", &[("cookie", "session=s1")])
        .unwrap()
        .paused();
    let c = one_callout(&any);
    allow(&mut any, &c, "carol");
    assert_eq!(any.outcome(ctx).unwrap().header("x-user-id"), Some("carol"));

    // A JWT for authentication, then the service for authorization.
    let mut all = start(json!({
        "providers": providers, "ext_auth": {"authz": service(json!({}))},
        "rules": [{"match": {"prefix": "/"}, "requires": {"requires_all": {"requirements": [
            {"provider_name": "hs"}, {"ext_auth": "authz"}]}}}]
    }));
    assert_eq!(send(&mut all, "Bearer not.a.jwt").done().status(), 401);
    assert!(
        all.take_callouts().is_empty(),
        "an invalid JWT is refused before any callout"
    );
    let ctx = send(&mut all, &jwt).paused();
    let c = one_callout(&all);
    assert_eq!(c.header("authorization"), Some(jwt.as_str()));
    allow(&mut all, &c, "bob-in-authz");
    let out = all.outcome(ctx).unwrap();
    assert_eq!(out.header("x-jwt-sub"), Some("bob"));
    assert_eq!(out.header("x-user-id"), Some("bob-in-authz"));
    assert_eq!(
        out.header("authorization"),
        None,
        "the JWT is not forwarded"
    );
}

#[test]
fn a_refused_dispatch_or_a_lost_answer_never_hangs_the_request() {
    let mut refused = start(json!({
        "ext_auth": {"authz": service(json!({"http_uri": {"uri": "http://auth.test/check", "cluster": "unknown-cluster"}}))},
        "rules": [{"match": {"prefix": "/"}, "requires": {"ext_auth": "authz"}}]
    }));
    assert_eq!(send(&mut refused, "Basic x").done().status(), 500);
    assert_eq!(
        metric(&refused, "jwtgate.ext_auth.authz.errors.dispatch_refused"),
        1
    );

    let mut lost = ext_only(json!({}));
    assert_eq!(lost.tick_period(), Some(std::time::Duration::from_secs(1)));
    let ctx = send(&mut lost, "Basic x").paused();
    let _never_answered = one_callout(&lost);
    lost.tick();
    assert!(lost.outcome(ctx).is_none());
    lost.advance_millis(3_000); // timeout 1 s + 2 s grace
    lost.tick();
    assert_eq!(lost.outcome(ctx).expect("answered").status(), 500);
}
