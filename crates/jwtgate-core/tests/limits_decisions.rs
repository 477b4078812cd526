//! Limits on hostile bytes and configuration, end to end in the core (natively): the ext_auth
//! decision cache (A), claim values in headers and exact numbers (B), caps on keys, caches and
//! TTLs (C), remote JWKS compatibility and rotation (D), time and lifetime edges (E).
//! Every refusal is pinned by its reason, not only its status.
// A test (or measurement) program: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::rc::Rc;

use jwt_compact::alg::{Hs256, Hs256Key};
use jwt_compact::{Algorithm, AlgorithmSignature};
use serde_json::{json, Value};

use jwtgate_core::ext_auth::{ExtAnswer, ExtFailure};
use jwtgate_core::vm_state::VmState;
use jwtgate_core::{Decision, Gateway, HeaderOp, Rejection, Request, Verdict};

mod common;
use common::{assert_rejected, b64, gateway};

const NOW: u64 = 1_700_000_000;
const NOW_MS: u64 = NOW * 1000;
const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn config_error(config: Value) -> String {
    match Gateway::from_json(config.to_string().as_bytes()) {
        Ok(_) => panic!("accepted: {config}"),
        Err(e) => e.to_string(),
    }
}

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn hs256(header: Value, claims: Value) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig = Hs256.sign(&Hs256Key::new(SECRET), input.as_bytes());
    format!("{input}.{}", b64(&sig.as_bytes()))
}

fn run(gw: &Gateway, path: &str, pairs: &[(&str, &str)]) -> Verdict {
    let h = headers(pairs);
    gw.decide(
        &Request {
            method: "GET",
            path,
            headers: &h,
        },
        NOW,
    )
}

fn forwarded(v: &Verdict) -> &Vec<HeaderOp> {
    match &v.decision {
        Decision::Forward(ops) => ops,
        other => panic!("expected forward, got {other:?} ({:?})", v.rejection),
    }
}

// ---------------------------------------------------------------------------------------------
// A. ext_auth decision cache
// ---------------------------------------------------------------------------------------------

fn ext_gateway(service: Value) -> Gateway {
    gateway(json!({
        "ext_auth": {"authz": service},
        "rules": [{"match": {"prefix": "/"}, "requires": {"ext_auth": "authz"}}],
    }))
}

fn cached_service() -> Value {
    json!({"http_uri": {"uri": "http://auth.test/check"}, "cache": {"allow_ttl": "60s"}})
}

/// One request through a VM: a cached answer, or the callout answered with `status`
/// (`None`: never reached), remembered as the host does.
struct Vm<'g> {
    gw: &'g Gateway,
    state: VmState,
}

impl<'g> Vm<'g> {
    fn new(gw: &'g Gateway) -> Self {
        Vm {
            gw,
            state: gw.new_vm_state(1),
        }
    }

    /// Whether the request was answered from the cache (no callout needed).
    fn cached(&mut self, method: &str, path: &str, pairs: &[(&str, &str)]) -> bool {
        let h = headers(pairs);
        let req = Request {
            method,
            path,
            headers: &h,
        };
        let v = self
            .gw
            .decide_with(&req, NOW_MS, &mut self.state, &[], true);
        !matches!(v.decision, Decision::AskExtAuth { .. })
    }

    /// Asks service 0 (answering `status`), remembers the answer and decides again.
    fn ask(
        &mut self,
        method: &str,
        path: &str,
        pairs: &[(&str, &str)],
        status: Option<&str>,
    ) -> Verdict {
        let h = headers(pairs);
        let req = Request {
            method,
            path,
            headers: &h,
        };
        let v = self
            .gw
            .decide_with(&req, NOW_MS, &mut self.state, &[], true);
        let Decision::AskExtAuth { service, .. } = v.decision else {
            return v;
        };
        let s = &self.gw.ext_services()[service];
        let answer = s.answer(status, &[]);
        self.gw
            .remember_ext_answer(&mut self.state, service, &req, &answer, NOW_MS);
        let answers = [(service, Rc::new(answer))];
        self.gw
            .decide_with(&req, NOW_MS, &mut self.state, &answers, true)
    }
}

#[test]
fn ext_auth_cache_key_includes_the_method() {
    let gw = ext_gateway(cached_service());
    let mut vm = Vm::new(&gw);
    let auth = [("authorization", "Basic YTpi")];
    forwarded(&vm.ask("GET", "/orders/1", &auth, Some("200")));
    assert!(
        vm.cached("GET", "/orders/1", &auth),
        "the same request is a hit"
    );
    assert!(
        !vm.cached("DELETE", "/orders/1", &auth),
        "an allowed GET must not answer a DELETE"
    );
}

#[test]
fn ext_auth_cache_key_includes_the_path_unless_configured_otherwise() {
    let gw = ext_gateway(cached_service());
    let mut vm = Vm::new(&gw);
    let auth = [("authorization", "Basic YTpi")];
    forwarded(&vm.ask("GET", "/orders/1", &auth, Some("200")));
    assert!(!vm.cached("GET", "/admin", &auth));
    assert!(
        !vm.cached("GET", "/orders/1?all=1", &auth),
        "query is part of the uri"
    );

    let gw = ext_gateway(json!({"http_uri": {"uri": "http://auth.test/check"},
                                "cache": {"allow_ttl": "60s", "key_path": false}}));
    let mut vm = Vm::new(&gw);
    forwarded(&vm.ask("GET", "/orders/1", &auth, Some("200")));
    assert!(
        vm.cached("GET", "/admin", &auth),
        "key_path: false keys on credentials"
    );
    assert!(
        !vm.cached("POST", "/admin", &auth),
        "but always on the method"
    );
}

#[test]
fn ext_auth_anonymous_allow_never_covers_another_path() {
    let gw = ext_gateway(cached_service());
    let mut vm = Vm::new(&gw);
    forwarded(&vm.ask("GET", "/public/page", &[], Some("200")));
    assert!(
        vm.cached("GET", "/public/page", &[]),
        "keyed per method and path"
    );
    assert!(!vm.cached("GET", "/api/admin/delete-all", &[]));
    assert!(!vm.cached("POST", "/public/page", &[]));

    // Without the path in the key, credential-less requests are never cached.
    let gw = ext_gateway(json!({"http_uri": {"uri": "http://auth.test/check"},
                                "cache": {"allow_ttl": "60s", "key_path": false}}));
    let mut vm = Vm::new(&gw);
    forwarded(&vm.ask("GET", "/public/page", &[], Some("200")));
    assert!(!vm.cached("GET", "/public/page", &[]));
    assert!(!vm.cached("GET", "/api/admin/delete-all", &[]));
    // A credentialed request still is.
    forwarded(&vm.ask("GET", "/x", &[("cookie", "s=1")], Some("200")));
    assert!(vm.cached("GET", "/y", &[("cookie", "s=1")]));
}

#[test]
fn ext_auth_one_cache_per_service() {
    let gw = gateway(json!({
        "ext_auth": {
            "big": {"http_uri": {"uri": "http://big.test/check"}, "cache": {"max_entries": 100}},
            "tiny": {"http_uri": {"uri": "http://tiny.test/check"}, "cache": {"max_entries": 1}}},
        "rules": [{"match": {"prefix": "/big"}, "requires": {"ext_auth": "big"}},
                  {"match": {"prefix": "/tiny"}, "requires": {"ext_auth": "tiny"}}],
    }));
    let mut vm = Vm::new(&gw);
    for user in ["a", "b", "c"] {
        let auth = [("authorization", user)];
        forwarded(&vm.ask("GET", "/big", &auth, Some("200")));
    }
    // Two answers of the tiny service: its bound of 1 evicts only its own entries.
    forwarded(&vm.ask("GET", "/tiny", &[("authorization", "x")], Some("200")));
    forwarded(&vm.ask("GET", "/tiny", &[("authorization", "y")], Some("200")));
    for user in ["a", "b", "c"] {
        assert!(
            vm.cached("GET", "/big", &[("authorization", user)]),
            "{user}"
        );
    }
    assert!(!vm.cached("GET", "/tiny", &[("authorization", "x")]));
    assert!(vm.cached("GET", "/tiny", &[("authorization", "y")]));
    assert_eq!(vm.state.decisions.service(0).map(|c| c.len()), Some(3));
    assert_eq!(vm.state.decisions.service(1).map(|c| c.len()), Some(1));
}

#[test]
fn failure_mode_allow_only_for_transport_errors_and_5xx() {
    let gw = ext_gateway(json!({"http_uri": {"uri": "http://auth.test/check"},
                                "failure_mode_allow": true}));
    let auth = [("authorization", "Basic YTpi")];
    for (status, passes) in [
        (None, true),
        (Some("500"), true),
        (Some("502"), true),
        (Some("503"), true),
        (Some("599"), true),
        (Some("200"), true),
        (Some("301"), false),
        (Some("302"), false),
        (Some("400"), false),
        (Some("404"), false),
        (Some("429"), false),
        (Some("401"), false),
        (Some("403"), false),
        (Some("nonsense"), true), // no parsable status: no HTTP answer at all
    ] {
        let mut vm = Vm::new(&gw);
        let v = vm.ask("GET", "/x", &auth, status);
        if passes {
            forwarded(&v);
        } else {
            let want = match status {
                Some("401") => Rejection::ExtAuthUnauthorized,
                Some("403") => Rejection::ExtAuthForbidden,
                _ => Rejection::ExtAuthError,
            };
            assert_eq!(v.rejection, Some(want), "{status:?}");
        }
    }
    let s = &gw.ext_services()[0];
    assert_eq!(
        s.answer(Some("503"), &[]),
        ExtAnswer::Failed(ExtFailure::ServerError)
    );
    assert_eq!(
        s.answer(Some("404"), &[]),
        ExtAnswer::Failed(ExtFailure::Status)
    );
    assert!(ExtFailure::DispatchRefused.may_fail_open());
    assert!(!ExtFailure::Status.may_fail_open());
}

// ---------------------------------------------------------------------------------------------
// B. Claim values into headers; exact numbers in claim conditions
// ---------------------------------------------------------------------------------------------

fn hs_provider(extra: Value) -> Value {
    let mut p = json!({
        "issuer": "https://issuer.test",
        "keys": [{"alg": "HS256", "secret": SECRET}],
    });
    if let (Value::Object(p), Value::Object(extra)) = (&mut p, extra) {
        p.extend(extra);
    }
    p
}

fn base_claims(extra: Value) -> Value {
    let mut c = json!({"iss": "https://issuer.test", "sub": "alice", "exp": NOW + 300});
    if let (Value::Object(c), Value::Object(extra)) = (&mut c, extra) {
        c.extend(extra);
    }
    c
}

fn protected(provider: Value) -> Gateway {
    gateway(json!({
        "providers": {"p": provider},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}],
    }))
}

fn with_token(gw: &Gateway, claims: Value) -> Verdict {
    let token = hs256(json!({"alg": "HS256"}), claims);
    run(gw, "/api", &[("authorization", &format!("Bearer {token}"))])
}

#[test]
fn claim_header_encoding_table() {
    let gw = protected(hs_provider(json!({
        "claim_to_headers": [{"header_name": "x-role", "claim_name": "role"}]})));
    // (claim value, the header sent, or None: the token is refused)
    let cases: &[(Value, Option<Option<&str>>)] = &[
        (json!("admin"), Some(Some("admin"))),
        (json!("José Ünïcode"), Some(Some("José Ünïcode"))),
        (json!(""), Some(Some(""))),
        (json!(7), Some(Some("7"))),
        (json!(9007199254740993u64), Some(Some("9007199254740993"))),
        (json!(true), Some(Some("true"))),
        (json!(["a", "b"]), Some(Some("a,b"))),
        (json!(["a", 2, true]), Some(Some("a,2,true"))),
        (json!([]), Some(None)),
        (json!(null), Some(None)),
        (json!({"k": "v"}), Some(Some(r#"{"k":"v"}"#))),
        (json!(" admin "), None),
        (json!(" admin"), None),
        (json!("admin "), None),
        (json!("\tadmin"), None),
        (json!("admin\u{a0}"), None),
        (json!("ad\nmin"), None),
        (json!("ad\u{7f}min"), None),
        (json!("ad\u{85}min"), None),
        (json!(["a,b"]), None),
        (json!(["a", "b,c"]), None),
        (json!(["a", ""]), None),
        (json!(["a", " b"]), None),
        (json!(["a", ["b"]]), None),
        (json!(["a", {"b": 1}]), None),
        (json!(["a", null]), None),
        (json!({"k": "\u{7f}"}), None),
    ];
    for (value, want) in cases {
        let v = with_token(&gw, base_claims(json!({"role": value})));
        match want {
            Some(header) => {
                let ops = forwarded(&v);
                let sent = ops.iter().find_map(|op| match op {
                    HeaderOp::Set(n, v) if n == "x-role" => Some(v.as_str()),
                    _ => None,
                });
                assert_eq!(sent, *header, "{value}");
            }
            None => {
                assert_rejected(&v, Rejection::ClaimNotForwardable);
                assert_eq!(
                    Rejection::ClaimNotForwardable.name(),
                    "claim_not_forwardable"
                );
            }
        }
    }
}

#[test]
fn an_unforwardable_claim_refuses_only_where_the_token_is_needed() {
    // Under allow_missing_or_failed the refused token is treated as failed: the request passes
    // without the provider's headers, as for any other failed token.
    let gw = gateway(json!({
        "providers": {"p": hs_provider(json!({
            "claim_to_headers": [{"header_name": "x-role", "claim_name": "role"}]}))},
        "rules": [{"match": {"prefix": "/"}, "requires": {"allow_missing_or_failed": {}}}],
    }));
    let v = with_token(&gw, base_claims(json!({"role": " admin"})));
    let ops = forwarded(&v);
    assert!(ops
        .iter()
        .all(|op| !matches!(op, HeaderOp::Set(n, _) if n == "x-role")));
    // A claim that is not mapped to a header is never judged.
    let gw = protected(hs_provider(json!({
        "claim_to_headers": [{"header_name": "x-user", "claim_name": "sub"}]})));
    forwarded(&with_token(&gw, base_claims(json!({"name": " spaced "}))));
}

#[test]
fn integer_claim_conditions_are_exact() {
    let rule = |cond: Value| {
        gateway(json!({
            "providers": {"p": hs_provider(json!({}))},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p", "claims": [cond]}}],
        }))
    };
    // (condition, claim value, holds)
    let cases = [
        (
            json!({"claim": "n", "equals": 9007199254740992u64}),
            json!(9007199254740993u64),
            false,
        ),
        (
            json!({"claim": "n", "equals": 9007199254740993u64}),
            json!(9007199254740993u64),
            true,
        ),
        (
            json!({"claim": "n", "one_of": [9007199254740992u64]}),
            json!(9007199254740993u64),
            false,
        ),
        (
            json!({"claim": "n", "contains": 9007199254740992u64}),
            json!([9007199254740993u64]),
            false,
        ),
        (
            json!({"claim": "n", "gt": 9007199254740992u64}),
            json!(9007199254740993u64),
            true,
        ),
        (
            json!({"claim": "n", "lte": 9007199254740992u64}),
            json!(9007199254740993u64),
            false,
        ),
        (
            json!({"claim": "n", "lt": 9007199254740993u64}),
            json!(9007199254740992u64),
            true,
        ),
        (
            json!({"claim": "n", "gte": -9007199254740992i64}),
            json!(-9007199254740993i64),
            false,
        ),
        (json!({"claim": "n", "equals": 1}), json!(1.0), true),
        (json!({"claim": "n", "gt": 1}), json!(1.5), true),
        (json!({"claim": "n", "lt": 2.5}), json!(2), true),
        (
            json!({"claim": "n", "equals": u64::MAX}),
            json!(1.8446744073709552e19),
            false,
        ),
    ];
    for (cond, value, holds) in cases {
        let gw = rule(cond.clone());
        let v = with_token(&gw, base_claims(json!({"n": value})));
        if holds {
            forwarded(&v);
        } else {
            assert_rejected(&v, Rejection::ClaimsForbidden);
        }
        let _ = &cond;
    }
}

// ---------------------------------------------------------------------------------------------
// C. Caps on work and memory
// ---------------------------------------------------------------------------------------------

fn p256_key(seed: u8) -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap()
}

fn p256_jwk(key: &p256::ecdsa::SigningKey, kid: Option<&str>) -> Value {
    let p = key.verifying_key().to_encoded_point(false);
    let mut jwk = json!({"kty": "EC", "crv": "P-256", "alg": "ES256",
                         "x": b64(p.x().unwrap()), "y": b64(p.y().unwrap())});
    if let Some(kid) = kid {
        jwk["kid"] = json!(kid);
    }
    jwk
}

fn es256(key: &p256::ecdsa::SigningKey, header: Value, claims: Value) -> String {
    use p256::ecdsa::signature::Signer;
    let mut header = header;
    header["alg"] = json!("ES256");
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig: p256::ecdsa::Signature = key.sign(input.as_bytes());
    format!("{input}.{}", b64(&sig.to_bytes()))
}

#[test]
fn a_remote_jwks_is_cut_at_64_keys_with_a_reason() {
    use jwtgate_core::remote_jwks::parse_jwks;
    let key = p256_key(1);
    let members: Vec<Value> = (0..100)
        .map(|i| p256_jwk(&key, Some(&format!("k{i}"))))
        .collect();
    let body = json!({"keys": members}).to_string();
    let parsed = parse_jwks(body.as_bytes()).unwrap();
    assert_eq!(parsed.keys.len(), 64);
    let (index, why) = parsed.skipped.last().unwrap();
    assert_eq!(*index, 64);
    assert!(
        why.contains("35 later members not read") && why.contains("at most 64 keys"),
        "{why}"
    );

    // Unusable members are reported one by one up to a bound, then counted.
    let mut members: Vec<Value> = (0..40)
        .map(|_| json!({"kty": "RSA", "use": "enc"}))
        .collect();
    members.push(p256_jwk(&key, None));
    let parsed = parse_jwks(json!({"keys": members}).to_string().as_bytes()).unwrap();
    assert_eq!(parsed.keys.len(), 1);
    assert_eq!(parsed.skipped.len(), 17);
    assert!(
        parsed.skipped[16].1.contains("24 more members skipped"),
        "{:?}",
        parsed.skipped[16]
    );
}

#[test]
fn p256_comb_tables_are_built_on_first_use_not_at_load() {
    use jwtgate_core::remote_jwks::parse_jwks;
    let keys: Vec<_> = (1..=64).map(p256_key).collect();
    let members: Vec<Value> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| p256_jwk(k, Some(&format!("k{i}"))))
        .collect();
    let parsed = parse_jwks(json!({"keys": members}).to_string().as_bytes()).unwrap();
    assert!(
        parsed.keys.iter().all(|k| !k.verifier_built()),
        "no table at load"
    );

    // Through a configured provider: only the key a token names gets its table.
    let jwks = json!({"keys": members[..3]}).to_string();
    let gw = protected(json!({"local_jwks": {"inline_string": jwks}}));
    let token = es256(&keys[1], json!({"kid": "k1"}), json!({"exp": NOW + 60}));
    forwarded(&run(
        &gw,
        "/",
        &[("authorization", &format!("Bearer {token}"))],
    ));
    let key = jwtgate_core::keys::Key::from_jwk(members[0].as_object().unwrap())
        .unwrap()
        .unwrap();
    assert!(!key.verifier_built());
    assert!(!key.verify(jwtgate_core::algorithm::Alg::Es256, b"x", &[1u8; 64]));
    assert!(key.verifier_built(), "built by the first verification");
}

fn hs_keys(n: usize) -> Value {
    let mut keys: Vec<Value> = (1..n)
        .map(|i| json!({"alg": "HS256", "secret": format!("{SECRET}-{i}")}))
        .collect();
    keys.push(json!({"alg": "HS256", "secret": SECRET}));
    Value::Array(keys)
}

#[test]
fn keys_tried_per_token_are_capped() {
    let claims = base_claims(json!({}));
    let no_kid = hs256(json!({"alg": "HS256"}), claims.clone());
    let bearer = format!("Bearer {no_kid}");
    // (keys without kid, max_keys_per_token, expected refusal)
    for (n, cap, want) in [
        (4, None, None),
        (5, None, Some(Rejection::TooManyCandidateKeys)),
        (5, Some(5), None),
        (64, Some(64), None),
        (2, Some(1), Some(Rejection::TooManyCandidateKeys)),
    ] {
        let mut provider = hs_provider(json!({"keys": hs_keys(n)}));
        if let Some(cap) = cap {
            provider["max_keys_per_token"] = json!(cap);
        }
        let v = run(&protected(provider), "/", &[("authorization", &bearer)]);
        match want {
            None => {
                forwarded(&v);
            }
            Some(r) => assert_rejected(&v, r),
        }
    }
    // A token naming its key is tried against that key only.
    let mut keys = hs_keys(10);
    for (i, k) in keys.as_array_mut().unwrap().iter_mut().enumerate() {
        k["kid"] = json!(format!("k{i}"));
    }
    let gw = protected(hs_provider(json!({"keys": keys})));
    let named = hs256(json!({"alg": "HS256", "kid": "k9"}), claims);
    forwarded(&run(
        &gw,
        "/",
        &[("authorization", &format!("Bearer {named}"))],
    ));
    assert_rejected(
        &run(&gw, "/", &[("authorization", &bearer)]),
        Rejection::TooManyCandidateKeys,
    );
    assert_eq!(
        Rejection::TooManyCandidateKeys.name(),
        "too_many_candidate_keys"
    );
}

#[test]
fn cache_sizes_ttls_and_key_counts_have_upper_bounds() {
    let ext = |cache: Value| json!({"ext_auth": {"a": {"http_uri": {"uri": "http://a.test/"}, "cache": cache}}});
    let provider = |extra: Value| json!({"providers": {"p": hs_provider(extra)}});
    // (configuration, the field the error names, a word of the message)
    for (config, field, message) in [
        (
            json!({"token_cache": {"max_entries": 65537}}),
            "token_cache.max_entries",
            "at most 65536",
        ),
        (
            json!({"token_cache": {"max_bytes": 67108865}}),
            "token_cache.max_bytes",
            "at most 67108864",
        ),
        (
            ext(json!({"max_entries": 65537})),
            "ext_auth.a.cache.max_entries",
            "at most 65536",
        ),
        (
            ext(json!({"allow_ttl": "86401s"})),
            "ext_auth.a.cache.allow_ttl",
            "at most 86400s",
        ),
        (
            ext(json!({"deny_ttl": 86401})),
            "ext_auth.a.cache.deny_ttl",
            "at most 86400s",
        ),
        (
            provider(json!({"max_keys_per_token": 0})),
            "providers.p.max_keys_per_token",
            "between 1 and 64",
        ),
        (
            provider(json!({"max_keys_per_token": 65})),
            "providers.p.max_keys_per_token",
            "between 1 and 64",
        ),
        (
            provider(json!({"keys": hs_keys(65)})),
            "providers.p",
            "65 keys configured; at most 64",
        ),
    ] {
        let e = config_error(config.clone());
        assert!(
            e.starts_with(&format!("{field}: ")) && e.contains(message),
            "{config}: {e}"
        );
    }
    for config in [
        json!({"token_cache": {"max_entries": 65536, "max_bytes": 67108864}}),
        ext(json!({"max_entries": 65536, "allow_ttl": "86400s", "deny_ttl": "86400s"})),
        provider(json!({"keys": hs_keys(64), "max_keys_per_token": 64})),
    ] {
        gateway(config);
    }
}

#[test]
fn cache_byte_accounting_is_u64_and_saturates() {
    use jwtgate_core::cache::TokenCache;
    let mut cache = TokenCache::new(usize::MAX, usize::MAX);
    let gw = protected(hs_provider(json!({})));
    let token = hs256(json!({"alg": "HS256"}), base_claims(json!({})));
    let h = headers(&[("authorization", &format!("Bearer {token}"))]);
    let req = Request {
        method: "GET",
        path: "/",
        headers: &h,
    };
    forwarded(&gw.decide_cached(&req, NOW, &mut cache));
    let bytes: u64 = cache.bytes();
    assert!(bytes > 0 && cache.len() == 1);
}

// ---------------------------------------------------------------------------------------------
// D. Remote JWKS: Envoy's cache_duration values, rotation right after a refresh
// ---------------------------------------------------------------------------------------------

fn remote_config(cache_duration: Option<Value>) -> Value {
    let mut remote = json!({"http_uri": {"uri": "https://idp.test/jwks"}});
    if let Some(d) = cache_duration {
        remote["cache_duration"] = d;
    }
    json!({
        "providers": {"idp": {"remote_jwks": remote}},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "idp"}}],
    })
}

#[test]
fn every_envoy_cache_duration_is_accepted_and_clamped_with_a_warning() {
    // (cache_duration, the duration used in ms, a warning names it)
    for (asked, used, warns) in [
        (json!("5s"), 10_000, true),
        (json!("0s"), 10_000, true),
        (json!("0.5s"), 10_000, true),
        (json!(1), 10_000, true),
        (json!("10s"), 10_000, false),
        (json!("600s"), 600_000, false),
        (json!("2592000s"), 2_592_000_000, false),
        (json!("31536000s"), 2_592_000_000, true),
    ] {
        let gw = gateway(remote_config(Some(asked.clone())));
        let (_, _, cfg) = gw.remote_providers().next().unwrap();
        assert_eq!(cfg.cache_duration_ms, used, "{asked}");
        assert_eq!(
            gw.warnings().len(),
            usize::from(warns),
            "{asked}: {:?}",
            gw.warnings()
        );
        if warns {
            let w = &gw.warnings()[0];
            assert!(
                w.starts_with("providers.idp.remote_jwks.cache_duration: "),
                "{w}"
            );
            assert!(w.contains(&format!("using {}s", used / 1000)), "{w}");
        }
    }
    assert!(gateway(remote_config(None)).warnings().is_empty());
}

#[test]
fn the_first_token_of_a_new_key_is_accepted_right_after_a_refresh() {
    use jwtgate_core::remote_jwks::FetchReason;
    let old = p256_key(1);
    let new = p256_key(2);
    let gw = gateway(remote_config(None));
    let mut state = gw.new_vm_state(7);
    let jwks_old = json!({"keys": [p256_jwk(&old, Some("old"))]}).to_string();
    let jwks_both =
        json!({"keys": [p256_jwk(&old, Some("old")), p256_jwk(&new, Some("new"))]}).to_string();
    let (_, _, cfg) = gw.remote_providers().next().unwrap();
    let cfg = cfg.clone();

    // A regular refresh at t0 installs a set without the new key.
    let t0 = NOW_MS;
    let keys = state.jwks.get_mut(0).unwrap();
    keys.start(FetchReason::Refresh, t0);
    keys.fetched(&cfg, jwks_old.as_bytes(), t0).unwrap();

    let decide = |state: &mut VmState, token: &str, at: u64| {
        let h = headers(&[("authorization", &format!("Bearer {token}"))]);
        let req = Request {
            method: "GET",
            path: "/",
            headers: &h,
        };
        gw.decide_with(&req, at, state, &[], true)
    };
    // One second later the IdP publishes `new` and a token signed with it arrives: it waits
    // for a refetch instead of being refused for kid_refetch_interval.
    let token = es256(&new, json!({"kid": "new"}), json!({"exp": NOW + 600}));
    let v = decide(&mut state, &token, t0 + 1_000);
    assert_eq!(v.decision, Decision::WaitForKeys(vec![0]), "{v:?}");
    let keys = state.jwks.get_mut(0).unwrap();
    keys.start(FetchReason::UnknownKid, t0 + 1_000);
    keys.fetched(&cfg, jwks_both.as_bytes(), t0 + 1_100)
        .unwrap();
    forwarded(&decide(&mut state, &token, t0 + 1_100));

    // Unknown-kid refetches stay limited to one per interval.
    let stranger = es256(&new, json!({"kid": "other"}), json!({"exp": NOW + 600}));
    assert_rejected(
        &decide(&mut state, &stranger, t0 + 2_000),
        Rejection::KeyNotFound,
    );
    let after = t0 + 1_000 + cfg.kid_refetch_interval_ms;
    assert_eq!(
        decide(&mut state, &stranger, after).decision,
        Decision::WaitForKeys(vec![0])
    );
}

// ---------------------------------------------------------------------------------------------
// E. Time and lifetime edges (Google jwt_verify_lib vectors)
// ---------------------------------------------------------------------------------------------

#[test]
fn time_and_lifetime_edges() {
    let lifetime = protected(hs_provider(json!({"max_lifetime": "3600s"})));
    let require_exp = protected(hs_provider(json!({"require_expiration": true})));
    let plain = protected(hs_provider(json!({})));
    let day = 86_400u64;
    // (gateway, claims, expected refusal)
    let cases: Vec<(&Gateway, Value, Option<Rejection>)> = vec![
        // jwt_verify_lib: exp 10 days away, iat 2.001e206: the lifetime was computed negative.
        (
            &lifetime,
            json!({"exp": NOW + 10 * day, "iat": 2.001e206}),
            Some(Rejection::DateOutOfRange),
        ),
        (
            &require_exp,
            json!({"exp": 2.001e206}),
            Some(Rejection::DateOutOfRange),
        ),
        (
            &plain,
            json!({"exp": 2.001e206}),
            Some(Rejection::DateOutOfRange),
        ),
        (&plain, json!({"exp": -1}), Some(Rejection::DateOutOfRange)),
        (&plain, json!({"nbf": -5}), Some(Rejection::DateOutOfRange)),
        (
            &plain,
            json!({"iat": -0.5}),
            Some(Rejection::DateOutOfRange),
        ),
        (
            &plain,
            json!({"iat": 253402300800u64}),
            Some(Rejection::DateOutOfRange),
        ),
        (&plain, json!({"exp": 253402300799u64}), None),
        (&plain, json!({"exp": NOW + 60, "iat": 0, "nbf": 0}), None),
        // A future iat under a lifetime rule.
        (
            &lifetime,
            json!({"iat": NOW + 3600, "exp": NOW + 5400}),
            Some(Rejection::IssuedInFuture),
        ),
        (
            &lifetime,
            json!({"iat": NOW + 10 * day + 1, "exp": NOW + 10 * day}),
            Some(Rejection::IssuedInFuture),
        ),
        (
            &lifetime,
            json!({"iat": NOW + 61, "exp": NOW + 100}),
            Some(Rejection::IssuedInFuture),
        ),
        (&lifetime, json!({"iat": NOW + 60, "exp": NOW + 3660}), None),
        // Without a lifetime rule iat is informational (RFC 7519 §4.1.6).
        (&plain, json!({"iat": NOW + 3600, "exp": NOW + 5400}), None),
        // exp before the start: a negative lifetime.
        (
            &lifetime,
            json!({"iat": NOW + 30, "exp": NOW + 10}),
            Some(Rejection::NegativeLifetime),
        ),
        (
            &lifetime,
            json!({"nbf": NOW + 30, "exp": NOW + 10}),
            Some(Rejection::NegativeLifetime),
        ),
        (
            &lifetime,
            json!({"iat": NOW, "exp": NOW + 3601}),
            Some(Rejection::LifetimeTooLong),
        ),
        // sub and jti are strings (RFC 7519 §4.1.2, §4.1.7).
        (&plain, json!({"sub": 42}), Some(Rejection::MalformedClaims)),
        (
            &plain,
            json!({"sub": ["a"]}),
            Some(Rejection::MalformedClaims),
        ),
        (&plain, json!({"jti": 7}), Some(Rejection::MalformedClaims)),
        (
            &plain,
            json!({"jti": {"a": 1}}),
            Some(Rejection::MalformedClaims),
        ),
        (
            &plain,
            json!({"sub": null}),
            Some(Rejection::MalformedClaims),
        ),
        (&plain, json!({"sub": "alice", "jti": "id-1"}), None),
    ];
    for (gw, claims, want) in cases {
        let mut c = json!({"iss": "https://issuer.test"});
        if let (Value::Object(c), Value::Object(extra)) = (&mut c, claims.clone()) {
            c.extend(extra);
        }
        let token = hs256(json!({"alg": "HS256"}), c);
        let v = run(gw, "/", &[("authorization", &format!("Bearer {token}"))]);
        match want {
            None => {
                assert_eq!(v.rejection, None, "{claims}: {v:?}");
            }
            Some(r) => assert_rejected(&v, r),
        }
    }
    for (r, name) in [
        (Rejection::DateOutOfRange, "date_out_of_range"),
        (Rejection::IssuedInFuture, "issued_in_future"),
        (Rejection::NegativeLifetime, "negative_lifetime"),
    ] {
        assert_eq!((r.name(), r.status()), (name, 401));
    }
}
