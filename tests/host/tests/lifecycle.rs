//! Hand-written in-host tests of the whole lifecycle: configuration, request headers, local
//! responses, forwarded headers, logs and metrics. Tokens are HS256, computed here with the
//! `hmac` crate (independent of the filter's code).
// A test (or measurement) program: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jwtgate_host_tests::{hs256_token, start_at, Gateway, Outcome};
use serde_json::{json, Value};

const NOW: u64 = 1_700_000_000;
const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn hs256(header: &Value, claims: &Value) -> String {
    hs256_token(SECRET.as_bytes(), &header.to_string(), &claims.to_string())
}

fn claims(extra: Value) -> Value {
    let mut c =
        json!({"iss": "https://issuer.test", "aud": "api", "sub": "alice", "exp": NOW + 300});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

fn token(extra: Value) -> String {
    hs256(
        &json!({"alg": "HS256", "typ": "JWT", "kid": "k1"}),
        &claims(extra),
    )
}

fn config() -> Value {
    json!({
        "providers": {"hs": {
            "issuer": "https://issuer.test", "audiences": ["api"],
            "keys": [{"kid": "k1", "alg": "HS256", "secret": SECRET, "encoding": "utf8"}],
            "claim_to_headers": [{"header_name": "x-user-id", "claim_name": "sub"}],
            "forward_payload_header": "x-jwt-payload"
        }},
        "stat_prefix": "jwtgate",
        "rules": [
            {"match": {"prefix": "/public"}},
            {"match": {"prefix": "/admin"}, "requires": {"provider_name": "hs", "claims": [{"claim": "role", "equals": "admin"}]}},
            {"match": {"prefix": "/shadow"}, "requires": {"provider_name": "hs"}, "dry_run": true},
            {"match": {"prefix": "/"}, "requires": {"provider_name": "hs"}}
        ]
    })
}

fn gateway(config: &Value) -> Gateway {
    start_at(&config.to_string(), NOW)
}

fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

#[test]
fn open_route_strips_spoofed_headers_and_forwards_the_rest() {
    let mut gw = gateway(&config());
    let out = gw.request(
        "GET",
        "/public/x",
        &[
            ("x-user-id", "admin"),
            ("x-jwt-payload", "e30"),
            ("accept", "*/*"),
        ],
    );
    let Outcome::Forwarded { headers } = &out else {
        panic!("{out:?}")
    };
    assert!(
        !headers
            .iter()
            .any(|(n, _)| n == "x-user-id" || n == "x-jwt-payload"),
        "{headers:?}"
    );
    assert_eq!(out.header("accept"), Some("*/*"));
    assert_eq!(out.header(":path"), Some("/public/x"));
}

#[test]
fn missing_token_is_a_bare_401_challenge_with_json_body() {
    let mut gw = gateway(&config());
    let out = gw.request("GET", "/api", &[]);
    assert_eq!(out.status(), 401);
    assert_eq!(
        out.header("www-authenticate"),
        Some("Bearer realm=\"jwtgate\"")
    );
    assert_eq!(out.header("content-type"), Some("application/json"));
    let body: Value = serde_json::from_str(out.body()).unwrap();
    assert_eq!(body["error"], "unauthorized");
    assert!(body["error_description"].is_string());
}

#[test]
fn valid_token_forwards_claims_payload_and_drops_authorization() {
    let mut gw = gateway(&config());
    let t = token(json!({}));
    let out = gw.request(
        "GET",
        "/api/orders?x=1",
        &[("authorization", &bearer(&t)), ("x-user-id", "mallory")],
    );
    let Outcome::Forwarded { headers } = &out else {
        panic!("{out:?}")
    };
    let user_ids: Vec<_> = headers.iter().filter(|(n, _)| n == "x-user-id").collect();
    assert_eq!(user_ids.len(), 1, "{headers:?}");
    assert_eq!(out.header("x-user-id"), Some("alice"));
    assert_eq!(out.header("x-jwt-payload"), t.split('.').nth(1));
    assert_eq!(
        out.header("authorization"),
        None,
        "forward: false (Envoy's default) removes the token"
    );
    assert_eq!(out.header(":path"), Some("/api/orders?x=1"));
}

#[test]
fn lower_case_scheme_is_accepted_and_basic_is_no_token() {
    let mut gw = gateway(&config());
    let t = token(json!({}));
    assert_eq!(
        gw.request("GET", "/api", &[("authorization", &format!("bearer {t}"))])
            .status(),
        200
    );
    let out = gw.request("GET", "/api", &[("authorization", "Basic dXNlcjpwYXNz")]);
    assert_eq!(out.status(), 401);
    assert_eq!(
        out.header("www-authenticate"),
        Some("Bearer realm=\"jwtgate\"")
    );
}

#[test]
fn expired_none_and_wrong_audience_answers() {
    let mut gw = gateway(&config());
    let expired = gw.request(
        "GET",
        "/api",
        &[("authorization", &bearer(&token(json!({"exp": NOW - 61}))))],
    );
    assert_eq!(expired.status(), 401);
    assert!(expired
        .header("www-authenticate")
        .unwrap()
        .contains("error=\"invalid_token\""));
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
        URL_SAFE_NO_PAD.encode(claims(json!({})).to_string())
    );
    assert_eq!(
        gw.request("GET", "/api", &[("authorization", &bearer(&none))])
            .status(),
        401
    );
    let aud = gw.request(
        "GET",
        "/api",
        &[("authorization", &bearer(&token(json!({"aud": "other"}))))],
    );
    assert_eq!(aud.status(), 403);
    assert!(aud
        .header("www-authenticate")
        .unwrap()
        .contains("error=\"insufficient_scope\""));
}

#[test]
fn host_clock_decides_expiry() {
    let mut gw = gateway(&config());
    let auth = bearer(&token(json!({"exp": NOW + 100})));
    assert_eq!(
        gw.request("GET", "/api", &[("authorization", &auth)])
            .status(),
        200
    );
    gw.set_now(NOW + 100 + 60);
    assert_eq!(
        gw.request("GET", "/api", &[("authorization", &auth)])
            .status(),
        401,
        "cached or not, exp is rechecked"
    );
    gw.set_now(NOW);
    assert_eq!(
        gw.request("GET", "/api", &[("authorization", &auth)])
            .status(),
        200
    );
}

#[test]
fn claim_condition_forbids_with_403() {
    let mut gw = gateway(&config());
    let user = bearer(&token(json!({"role": "user"})));
    let admin = bearer(&token(json!({"role": "admin"})));
    assert_eq!(
        gw.request("GET", "/admin", &[("authorization", &user)])
            .status(),
        403
    );
    assert_eq!(
        gw.request("GET", "/admin", &[("authorization", &admin)])
            .status(),
        200
    );
}

#[test]
fn denials_are_logged_once_without_the_token() {
    let mut gw = gateway(&config());
    gw.clear_logs();
    let t = token(json!({"exp": NOW - 1000}));
    gw.request(
        "GET",
        &format!("/api/x?access_token={t}"),
        &[("authorization", &bearer(&t))],
    );
    let logs = gw.logs();
    let denials: Vec<_> = logs
        .iter()
        .filter(|(_, l)| l.contains("jwtgate: deny"))
        .collect();
    assert_eq!(denials.len(), 1, "{logs:?}");
    let line = &denials[0].1;
    assert!(
        line.contains("reason=expired")
            && line.contains("path=/api/x")
            && line.contains("provider=hs"),
        "{line}"
    );
    assert!(
        logs.iter()
            .all(|(_, l)| !l.contains(&t) && !l.contains("access_token")),
        "{logs:?}"
    );
}

#[test]
fn metrics_count_allowed_denied_by_reason_and_dry_run() {
    let mut gw = gateway(&config());
    let good = bearer(&token(json!({})));
    gw.request("GET", "/api", &[("authorization", &good)]);
    gw.request("GET", "/api", &[("authorization", &good)]);
    gw.request("GET", "/api", &[]);
    gw.request(
        "GET",
        "/api",
        &[("authorization", &bearer(&token(json!({"exp": 1}))))],
    );
    gw.request("GET", "/shadow", &[]);
    gw.request("GET", "/public", &[]);
    let m = gw.metrics();
    let get = |name: &str| m.get(name).copied().unwrap_or(0);
    assert_eq!(get("jwtgate.allowed"), 4, "{m:?}"); // 2 valid + dry-run + public
    assert_eq!(get("jwtgate.denied"), 2, "{m:?}");
    assert_eq!(get("jwtgate.denied.missing_token"), 1);
    assert_eq!(get("jwtgate.denied.expired"), 1);
    assert_eq!(get("jwtgate.dry_run.would_deny.missing_token"), 1);
}

#[test]
fn dry_run_forwards_what_it_would_deny() {
    let mut gw = gateway(&config());
    let out = gw.request("GET", "/shadow", &[("x-user-id", "spoof")]);
    assert_eq!(out.status(), 200);
    assert_eq!(out.header("x-user-id"), None);
    assert!(gw
        .logs()
        .iter()
        .any(|(_, l)| l.contains("dry-run would-deny") && l.contains("reason=missing_token")));
}

#[test]
fn bad_configuration_answers_500_and_names_the_field() {
    for (config, field) in [
        (
            json!({"providers": {"x": {"bogus": 1}}}),
            "providers.x.bogus",
        ),
        (
            json!({"providers": {"x": {"keys": [{"alg": "HS256", "secret": "short"}]}}}),
            "providers.x.keys[0].secret",
        ),
    ] {
        let mut gw = gateway(&config);
        assert!(
            gw.is_serving(),
            "on_configure answers true on purpose (NGINX workers die otherwise)"
        );
        for path in ["/", "/public", "/api"] {
            let out = gw.request("GET", path, &[]);
            assert_eq!(out.status(), 500, "{path}: {out:?}");
            let body: Value = serde_json::from_str(out.body()).unwrap();
            assert_eq!(body["error"], "server_error");
        }
        let errors: Vec<_> = gw
            .logs()
            .into_iter()
            .filter(|(_, l)| l.contains("invalid configuration"))
            .collect();
        assert_eq!(errors.len(), 1, "one line at configure time");
        assert!(errors[0].1.contains(field), "{errors:?}");
    }
    let mut empty = gateway(&json!(null));
    assert_eq!(empty.request("GET", "/", &[]).status(), 500);
}

#[test]
fn redirect_to_login_carries_the_original_uri() {
    let mut c = config();
    c["rules"] = json!([{"match": {"prefix": "/"}, "requires": {"provider_name": "hs"},
        "failure_response": {"redirect": {"url": "https://login.test/login", "param": "next"}}}]);
    let mut gw = gateway(&c);
    let out = gw.request("GET", "/app/page?tab=2", &[]);
    assert_eq!(out.status(), 302);
    assert_eq!(
        out.header("location"),
        Some("https://login.test/login?next=%2Fapp%2Fpage%3Ftab%3D2")
    );
}
