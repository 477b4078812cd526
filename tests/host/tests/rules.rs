//! Rules and authorization in-host: every matcher, every requirement kind and their nesting,
//! every claim operator, 401 vs 403, failure responses, CORS and a host without metrics.
//! Tokens: HS256 via the `hmac` crate, two issuers with different secrets.
// A test (or measurement) program: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use jwtgate_host_tests::{hs256_token, shared_filter, start_at, Gateway};
use serde_json::{json, Value};

const NOW: u64 = 1_700_000_000;
const SECRET_A: &str = "secret-a-0123456789abcdef0123456789";
const SECRET_B: &str = "secret-b-0123456789abcdef0123456789";

fn sign(secret: &str, claims: &Value) -> String {
    let header = r#"{"alg":"HS256","typ":"JWT","kid":"shared"}"#;
    hs256_token(secret.as_bytes(), header, &claims.to_string())
}

fn a(extra: Value) -> String {
    let mut c = json!({"iss": "https://a.test", "aud": "api", "sub": "alice", "exp": NOW + 300,
        "role": "editor", "level": 3, "scope": "read write", "groups": ["eng", "ops"], "email_verified": true});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    sign(SECRET_A, &c)
}

fn b(extra: Value) -> String {
    let mut c = json!({"iss": "https://b.test", "aud": "b-api", "sub": "bob", "exp": NOW + 300});
    for (k, v) in extra.as_object().unwrap() {
        c[k] = v.clone();
    }
    sign(SECRET_B, &c)
}

fn config() -> Value {
    let cond = |c: Value| json!({"provider_name": "a", "claims": [c]});
    json!({
        "providers": {
            "a": {"issuer": "https://a.test", "audiences": ["api"],
                  "keys": [{"kid": "shared", "alg": "HS256", "secret": SECRET_A}],
                  "claim_to_headers": [{"header_name": "x-a-sub", "claim_name": "sub"}]},
            "b": {"issuer": "https://b.test", "audiences": ["b-api"],
                  "keys": [{"kid": "shared", "alg": "HS256", "secret": SECRET_B}],
                  "from_headers": [{"name": "authorization", "value_prefix": "Bearer "}, {"name": "x-b-token"}],
                  "claim_to_headers": [{"header_name": "x-b-sub", "claim_name": "sub"}]}
        },
        "bypass_cors_preflight": true,
        "failure_response": {"content_type": "text/plain", "body": "no: {error_description} ({status})"},
        "rules": [
            {"match": {"path": "/exact"}},
            {"match": {"prefix": "/", "headers": [{"name": "x-internal", "exact_match": "yes"}]}},
            {"match": {"prefix": "/", "headers": [{"name": "x-skip", "present_match": true}], "methods": ["HEAD"]}},
            {"match": {"safe_regex": {"regex": "/items/[0-9]+"}, "methods": ["GET"]}},
            {"match": {"prefix": "/op/equals"}, "requires": cond(json!({"claim": "role", "equals": "editor"}))},
            {"match": {"prefix": "/op/one_of"}, "requires": cond(json!({"claim": "role", "one_of": ["admin", "editor"]}))},
            {"match": {"prefix": "/op/contains"}, "requires": cond(json!({"claim": "groups", "contains": "ops"}))},
            {"match": {"prefix": "/op/scope"}, "requires": cond(json!({"claim": "scope", "contains": "write"}))},
            {"match": {"prefix": "/op/all_of"}, "requires": cond(json!({"claim": "groups", "all_of": ["eng", "ops"]}))},
            {"match": {"prefix": "/op/present"}, "requires": cond(json!({"claim": "email_verified", "present": true}))},
            {"match": {"prefix": "/op/absent"}, "requires": cond(json!({"claim": "banned", "present": false}))},
            {"match": {"prefix": "/op/gt"}, "requires": cond(json!({"claim": "level", "gt": 2}))},
            {"match": {"prefix": "/op/lt"}, "requires": cond(json!({"claim": "level", "lt": 3, "status": 401}))},
            {"match": {"prefix": "/any"}, "requires": {"requires_any": {"requirements": [{"provider_name": "a"}, {"provider_name": "b"}]}}},
            {"match": {"prefix": "/all"}, "requires": {"requires_all": {"requirements": [{"provider_name": "a"},
                {"requires_any": {"requirements": [{"provider_name": "b"}, {"allow_missing": {}}]}}]}}},
            {"match": {"prefix": "/audience"}, "requires": {"provider_and_audiences": {"provider_name": "a", "audiences": ["admin"]}}},
            {"match": {"prefix": "/optional"}, "requires": {"allow_missing": {}}},
            {"match": {"prefix": "/lenient"}, "requires": {"allow_missing_or_failed": {}}},
            {"match": {"prefix": "/plain"}, "requires": {"provider_name": "a"}, "failure_response": {}},
            {"match": {"prefix": "/"}, "requires": {"provider_name": "a"}}
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
fn matchers_table() {
    let mut gw = gateway(&config());
    for (method, path, headers, want) in [
        ("GET", "/exact", vec![], 200),
        ("GET", "/exact/more", vec![], 401),
        ("GET", "/anything", vec![("x-internal", "yes")], 200),
        ("GET", "/anything", vec![("x-internal", "no")], 401),
        ("HEAD", "/anything", vec![("x-skip", "1")], 200),
        ("GET", "/anything", vec![("x-skip", "1")], 401),
        ("GET", "/items/7", vec![], 200),
        ("DELETE", "/items/7", vec![], 401),
        ("GET", "/items/7/x", vec![], 401),
        ("GET", "/exact/../exact", vec![], 200),
        ("GET", "//exact", vec![], 200),
    ] {
        let out = gw.request(method, path, &headers);
        assert_eq!(out.status(), want, "{method} {path} {headers:?}: {out:?}");
    }
}

#[test]
fn claim_operators_table() {
    let mut gw = gateway(&config());
    for (path, token, want) in [
        ("/op/equals", a(json!({})), 200),
        ("/op/equals", a(json!({"role": "viewer"})), 403),
        ("/op/one_of", a(json!({"role": "admin"})), 200),
        ("/op/one_of", a(json!({"role": "viewer"})), 403),
        ("/op/contains", a(json!({})), 200),
        ("/op/contains", a(json!({"groups": ["eng"]})), 403),
        ("/op/scope", a(json!({})), 200),
        ("/op/scope", a(json!({"scope": "read writer"})), 403),
        ("/op/all_of", a(json!({})), 200),
        ("/op/all_of", a(json!({"groups": ["ops"]})), 403),
        ("/op/present", a(json!({})), 200),
        ("/op/present", a(json!({"email_verified": null})), 403),
        ("/op/absent", a(json!({})), 200),
        ("/op/absent", a(json!({"banned": true})), 403),
        ("/op/gt", a(json!({})), 200),
        ("/op/gt", a(json!({"level": 2})), 403),
        ("/op/gt", a(json!({"level": "9"})), 403),
        ("/op/lt", a(json!({"level": 2})), 200),
        ("/op/lt", a(json!({})), 401),
    ] {
        let out = gw.request("GET", path, &[("authorization", &bearer(&token))]);
        assert_eq!(out.status(), want, "{path}: {out:?}");
        if want == 403 {
            assert!(out
                .header("www-authenticate")
                .unwrap()
                .contains("error=\"insufficient_scope\""));
        }
        if want == 401 {
            assert!(out
                .header("www-authenticate")
                .unwrap()
                .contains("error=\"invalid_token\""));
        }
    }
}

#[test]
fn requirement_kinds_and_nesting() {
    let mut gw = gateway(&config());
    let ta = a(json!({}));
    let tb = b(json!({}));
    let any_b = gw.request("GET", "/any", &[("authorization", &bearer(&tb))]);
    assert_eq!(
        (any_b.status(), any_b.header("x-b-sub")),
        (200, Some("bob"))
    );
    assert_eq!(any_b.header("x-a-sub"), None);
    let any_a = gw.request("GET", "/any", &[("authorization", &bearer(&ta))]);
    assert_eq!(
        (any_a.status(), any_a.header("x-a-sub")),
        (200, Some("alice"))
    );
    // A token signed with A's secret claiming B's issuer: the shared kid does not help it.
    let forged = sign(
        SECRET_A,
        &json!({"iss": "https://b.test", "aud": "b-api", "exp": NOW + 300}),
    );
    assert_eq!(
        gw.request("GET", "/any", &[("authorization", &bearer(&forged))])
            .status(),
        401
    );

    // requires_all: A in Authorization and, nested, B in x-b-token or nothing.
    let both = gw.request(
        "GET",
        "/all",
        &[("authorization", &bearer(&ta)), ("x-b-token", &tb)],
    );
    assert_eq!(
        (
            both.status(),
            both.header("x-a-sub"),
            both.header("x-b-sub")
        ),
        (200, Some("alice"), Some("bob"))
    );
    assert_eq!(
        gw.request("GET", "/all", &[("authorization", &bearer(&ta))])
            .status(),
        200
    );
    assert_eq!(
        gw.request("GET", "/all", &[("x-b-token", &tb)]).status(),
        401
    );
    let bad_b = format!("{tb}x");
    assert_eq!(
        gw.request(
            "GET",
            "/all",
            &[("authorization", &bearer(&ta)), ("x-b-token", &bad_b)]
        )
        .status(),
        401
    );

    // provider_and_audiences overrides the provider's audiences.
    assert_eq!(
        gw.request("GET", "/audience", &[("authorization", &bearer(&ta))])
            .status(),
        403
    );
    let admin_aud = a(json!({"aud": ["admin"]}));
    assert_eq!(
        gw.request(
            "GET",
            "/audience",
            &[("authorization", &bearer(&admin_aud))]
        )
        .status(),
        200
    );

    // allow_missing: nothing, or a token some provider accepts; a stranger's token is refused.
    assert_eq!(gw.request("GET", "/optional", &[]).status(), 200);
    assert_eq!(
        gw.request("GET", "/optional", &[("authorization", &bearer(&tb))])
            .header("x-b-sub"),
        Some("bob")
    );
    let stranger = sign(
        SECRET_A,
        &json!({"iss": "https://evil.test", "exp": NOW + 300}),
    );
    assert_eq!(
        gw.request("GET", "/optional", &[("authorization", &bearer(&stranger))])
            .status(),
        401
    );

    // allow_missing_or_failed: always through, headers only for a verified token.
    let lenient = gw.request(
        "GET",
        "/lenient",
        &[("authorization", &bearer(&stranger)), ("x-a-sub", "spoof")],
    );
    assert_eq!((lenient.status(), lenient.header("x-a-sub")), (200, None));
    assert_eq!(
        gw.request("GET", "/lenient", &[("authorization", &bearer(&ta))])
            .header("x-a-sub"),
        Some("alice")
    );
}

#[test]
fn custom_failure_bodies_global_and_per_rule() {
    let mut gw = gateway(&config());
    let out = gw.request("GET", "/somewhere", &[]);
    assert_eq!(out.status(), 401);
    assert_eq!(out.header("content-type"), Some("text/plain"));
    assert_eq!(out.body(), "no: a bearer token is required (401)");
    assert!(out.header("www-authenticate").is_some());
    // An empty per-rule failure_response restores the JSON default for that rule.
    let plain = gw.request("GET", "/plain", &[]);
    assert_eq!(plain.header("content-type"), Some("application/json"));
    assert!(serde_json::from_str::<Value>(plain.body()).is_ok());
}

#[test]
fn strip_failure_response_sends_only_the_status() {
    let mut c = config();
    c["strip_failure_response"] = json!(true);
    c.as_object_mut().unwrap().remove("failure_response");
    let mut gw = gateway(&c);
    let out = gw.request("GET", "/somewhere", &[]);
    assert_eq!(
        (out.status(), out.body(), out.header("www-authenticate")),
        (401, "", None)
    );
}

#[test]
fn cors_preflight_bypass() {
    let mut gw = gateway(&config());
    let pre = gw.request(
        "OPTIONS",
        "/api",
        &[
            ("origin", "https://app.test"),
            ("access-control-request-method", "PUT"),
        ],
    );
    assert_eq!(pre.status(), 200);
    assert_eq!(
        gw.request("OPTIONS", "/api", &[("origin", "https://app.test")])
            .status(),
        401
    );
    assert_eq!(gw.metrics().get("jwtgate.cors_bypassed"), Some(&1));
}

#[test]
fn a_host_without_metrics_still_serves() {
    let mut gw = shared_filter()
        .start_without_metrics(&config().to_string())
        .expect("start");
    gw.set_now(NOW);
    for _ in 0..3 {
        assert_eq!(gw.request("GET", "/api", &[]).status(), 401);
        assert_eq!(
            gw.request("GET", "/api", &[("authorization", &bearer(&a(json!({}))))])
                .status(),
            200
        );
    }
    let warnings: Vec<_> = gw
        .logs()
        .into_iter()
        .filter(|(_, l)| l.contains("metrics unavailable"))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
}
