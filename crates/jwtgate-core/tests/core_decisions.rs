//! Configuration → decision, end to end in the core (natively), for every algorithm, security
//! rule, requirement kind, claim condition and failure response.
//! Tokens here come from jwt-compact's signers; the independent PyJWT corpus runs in-host
//! (tests/host).
//!
//! Its tables cover all 13 algorithms; built without ES384/ES512 (`--no-default-features`) it
//! runs every row but theirs, and checks that their keys are configuration errors. The tests
//! sign ES384/ES512 with the RustCrypto curves directly (dev-dependencies), never with the
//! core's own code.
// A test (or measurement) program: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jwt_compact::Algorithm;
use p256::pkcs8::EncodePublicKey;
use serde_json::{json, Value};

use jwtgate_core::cache::TokenCache;
use jwtgate_core::{Decision, Gateway, HeaderOp, Rejection, Request, Verdict};

mod common;
use common::{assert_rejected, b64, bearer, gateway};
#[path = "common/keys.rs"]
mod keys;
use keys::{hs_secret, keys_from, Keys, HS256_SECRET};

const NOW: u64 = 1_700_000_000;

fn keys() -> Keys {
    keys_from(1)
}

impl Keys {
    fn public_pem(&self, alg: &str) -> String {
        let le = p256::pkcs8::LineEnding::LF;
        match &alg[..2] {
            "RS" | "PS" => rsa::RsaPublicKey::from(&self.rsa)
                .to_public_key_pem(le)
                .unwrap(),
            "ES" if alg == "ES256" => self.p256.verifying_key().to_public_key_pem(le).unwrap(),
            "ES" if alg == "ES384" => self.p384.verifying_key().to_public_key_pem(le).unwrap(),
            "ES" => p521::PublicKey::from_secret_scalar(self.p521.as_nonzero_scalar())
                .to_public_key_pem(le)
                .unwrap(),
            "Ed" => self.ed25519.verifying_key().to_public_key_pem(le).unwrap(),
            other => panic!("{other}"),
        }
    }

    /// The key's JWK; an HMAC one names its `alg` (a local JWKS `oct` key needs it).
    fn public_jwk(&self, alg: &str) -> Value {
        if alg.starts_with("HS") {
            return self.jwk_with(alg, json!({"alg": alg}));
        }
        self.jwk(alg)
    }
}

const ALL_ALGS: [&str; 13] = [
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
    "ES384", "ES512", "EdDSA",
];

/// Whether this build verifies `alg` (ES384/ES512 are cargo features).
fn supported(alg: &str) -> bool {
    (alg != "ES384" || cfg!(feature = "es384")) && (alg != "ES512" || cfg!(feature = "es512"))
}

/// The algorithms this build verifies.
fn algs() -> impl Iterator<Item = &'static str> {
    ALL_ALGS.into_iter().filter(|alg| supported(alg))
}

#[test]
fn an_algorithm_left_out_of_the_build_is_a_configuration_error() {
    let k = keys();
    for alg in ALL_ALGS.into_iter().filter(|alg| !supported(alg)) {
        let config = json!({
            "providers": {"p": provider_with_key(&k, alg, false)},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}],
        });
        let error = Gateway::from_json(config.to_string().as_bytes())
            .err()
            .unwrap_or_else(|| panic!("{alg}: accepted without its feature"));
        assert!(
            error.path.starts_with("providers.p.keys[0]"),
            "{alg}: {error}"
        );
    }
}

fn provider_with_key(keys: &Keys, alg: &str, via_jwks: bool) -> Value {
    let mut provider = json!({
        "issuer": "https://issuer.test",
        "audiences": ["api"],
        "claim_to_headers": [{"header_name": "x-user-id", "claim_name": "sub"}],
    });
    if via_jwks {
        let mut jwk = keys.public_jwk(alg);
        jwk["kid"] = json!("k1");
        provider["local_jwks"] = json!({"inline_string": json!({"keys": [jwk]}).to_string()});
    } else if alg.starts_with("HS") {
        provider["keys"] = json!([{"kid": "k1", "alg": alg, "secret": String::from_utf8(hs_secret(alg)).unwrap()}]);
    } else {
        provider["keys"] = json!([{"kid": "k1", "alg": alg, "pem": keys.public_pem(alg)}]);
    }
    provider
}

fn single(keys: &Keys, alg: &str, via_jwks: bool) -> Gateway {
    gateway(json!({
        "providers": {"p": provider_with_key(keys, alg, via_jwks)},
        "rules": [{"match": {"prefix": "/public"}}, {"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}],
    }))
}

fn claims() -> Value {
    json!({"iss": "https://issuer.test", "aud": "api", "sub": "alice", "exp": NOW + 300})
}

fn run(gw: &Gateway, path: &str, headers: &[(&str, &str)]) -> Verdict {
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    gw.decide(
        &Request {
            method: "GET",
            path,
            headers: &headers,
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

#[test]
fn every_algorithm_verifies_from_pem_and_from_jwks() {
    let k = keys();
    for alg in algs() {
        for via_jwks in [false, true] {
            let gw = single(&k, alg, via_jwks);
            let token = k.token(alg, json!({"kid": "k1"}), claims());
            let v = run(&gw, "/api", &[("authorization", &bearer(&token))]);
            let ops = forwarded(&v);
            assert!(
                ops.contains(&HeaderOp::Set("x-user-id".into(), "alice".into())),
                "{alg} {ops:?}"
            );
            assert!(
                ops.contains(&HeaderOp::Remove("authorization".into())),
                "{alg}"
            );
        }
    }
}

#[test]
fn every_algorithm_rejects_a_flipped_signature_bit() {
    let k = keys();
    for alg in algs() {
        let gw = single(&k, alg, false);
        let token = k.token(alg, json!({}), claims());
        let (input, sig) = token.rsplit_once('.').unwrap();
        let mut raw = URL_SAFE_NO_PAD.decode(sig).unwrap();
        for bit in [0usize, 7, raw.len() * 4, raw.len() * 8 - 1] {
            raw[bit / 8] ^= 1 << (bit % 8);
            let forged = format!("{input}.{}", b64(&raw));
            let v = run(&gw, "/api", &[("authorization", &bearer(&forged))]);
            assert_rejected(&v, Rejection::InvalidSignature);
            raw[bit / 8] ^= 1 << (bit % 8);
        }
        // A flipped payload byte breaks the signature too.
        let (h, rest) = token.split_once('.').unwrap();
        let (_p, s) = rest.split_once('.').unwrap();
        let other = b64(
            json!({"iss": "https://issuer.test", "aud": "api", "sub": "admin", "exp": NOW + 300})
                .to_string()
                .as_bytes(),
        );
        let v = run(
            &gw,
            "/api",
            &[("authorization", &bearer(&format!("{h}.{other}.{s}")))],
        );
        assert_rejected(&v, Rejection::InvalidSignature);
    }
}

#[test]
fn key_decides_the_algorithm() {
    let k = keys();
    // RS384 token against an RS256-only key.
    let gw = single(&k, "RS256", false);
    let t = k.token("RS384", json!({}), claims());
    assert_rejected(
        &run(&gw, "/api", &[("authorization", &bearer(&t))]),
        Rejection::KeyNotFound,
    );
    // ES256 token against a P-384 key.
    if supported("ES384") {
        let gw = single(&k, "ES384", false);
        let t = k.token("ES256", json!({}), claims());
        assert_rejected(
            &run(&gw, "/api", &[("authorization", &bearer(&t))]),
            Rejection::KeyNotFound,
        );
    }
    // An RSA JWK without alg allows the whole RSA family, and nothing else.
    let gw = single(&k, "RS256", true);
    for alg in ["RS384", "PS512"] {
        let t = k.token(alg, json!({}), claims());
        assert!(
            run(&gw, "/api", &[("authorization", &bearer(&t))])
                .rejection
                .is_none(),
            "{alg}"
        );
    }
}

#[test]
fn hs256_signed_with_the_rsa_public_key_is_refused() {
    let k = keys();
    let gw = single(&k, "RS256", false);
    let pem = k.public_pem("RS256");
    let input = format!(
        "{}.{}",
        b64(br#"{"alg":"HS256"}"#),
        b64(claims().to_string().as_bytes())
    );
    use jwt_compact::AlgorithmSignature;
    let sig = jwt_compact::alg::Hs256
        .sign(
            &jwt_compact::alg::Hs256Key::new(pem.as_bytes()),
            input.as_bytes(),
        )
        .as_bytes()
        .to_vec();
    let t = format!("{input}.{}", b64(&sig));
    assert_rejected(
        &run(&gw, "/api", &[("authorization", &bearer(&t))]),
        Rejection::KeyNotFound,
    );
}

#[test]
fn alg_none_in_every_spelling_is_refused() {
    let k = keys();
    let gw = single(&k, "HS256", false);
    for alg in ["none", "None", "NONE", "nOnE"] {
        let input = format!(
            "{}.{}",
            b64(format!(r#"{{"alg":"{alg}"}}"#).as_bytes()),
            b64(claims().to_string().as_bytes())
        );
        for t in [format!("{input}."), format!("{input}.{}", b64(b"x"))] {
            let v = run(&gw, "/api", &[("authorization", &bearer(&t))]);
            assert!(
                matches!(
                    v.rejection,
                    Some(Rejection::MalformedToken | Rejection::UnsupportedAlgorithm)
                ),
                "{t}"
            );
            assert_eq!(v.rejection.unwrap().status(), 401);
        }
    }
}

#[test]
fn ecdsa_zero_and_der_signatures_are_refused() {
    let k = keys();
    let gw = single(&k, "ES256", false);
    let t = k.token("ES256", json!({}), claims());
    let (input, _) = t.rsplit_once('.').unwrap();
    let zero = format!("{input}.{}", b64(&[0u8; 64]));
    assert_rejected(
        &run(&gw, "/api", &[("authorization", &bearer(&zero))]),
        Rejection::InvalidSignature,
    );
    let sig = k.sign("ES256", input.as_bytes());
    let der = p256::ecdsa::Signature::from_slice(&sig).unwrap().to_der();
    let der_token = format!("{input}.{}", b64(der.as_bytes()));
    assert_rejected(
        &run(&gw, "/api", &[("authorization", &bearer(&der_token))]),
        Rejection::InvalidSignature,
    );
}

#[test]
fn kid_selects_keys_exactly() {
    let k = keys();
    let gw = single(&k, "HS256", false);
    let t = k.token("HS256", json!({"kid": "k2"}), claims());
    assert_rejected(
        &run(&gw, "/api", &[("authorization", &bearer(&t))]),
        Rejection::KeyNotFound,
    );
    let t = k.token("HS256", json!({"kid": "K1"}), claims());
    assert_rejected(
        &run(&gw, "/api", &[("authorization", &bearer(&t))]),
        Rejection::KeyNotFound,
    );
    // No kid in the token: every key that allows the alg is tried.
    let t = k.token("HS256", json!({}), claims());
    assert!(run(&gw, "/api", &[("authorization", &bearer(&t))])
        .rejection
        .is_none());
}

#[test]
fn claims_are_checked_after_the_signature() {
    let k = keys();
    let gw = single(&k, "ES256", false);
    let case = |c: Value| {
        let t = k.token("ES256", json!({}), c);
        run(&gw, "/api", &[("authorization", &bearer(&t))])
    };
    let mut c = claims();
    c["exp"] = json!(NOW - 61);
    assert_rejected(&case(c.clone()), Rejection::Expired);
    c["exp"] = json!(NOW - 59);
    assert!(case(c.clone()).rejection.is_none());
    c["nbf"] = json!(NOW + 61);
    assert_rejected(&case(c.clone()), Rejection::NotYetValid);
    let mut c = claims();
    c["iss"] = json!("https://evil.test");
    assert_rejected(&case(c), Rejection::IssuerMismatch);
    let mut c = claims();
    c["aud"] = json!(["other"]);
    let v = case(c);
    assert_rejected(&v, Rejection::AudienceNotAllowed);
    let Decision::Respond(resp) = &v.decision else {
        unreachable!()
    };
    assert_eq!(resp.status, 403);
    let mut c = claims();
    c["exp"] = json!("1700000300");
    assert_rejected(&case(c), Rejection::MalformedClaims);
}

#[test]
fn duplicate_claims_with_a_valid_signature_are_refused() {
    let k = keys();
    let gw = single(&k, "HS256", false);
    let t = k.token_raw(
        "HS256",
        r#"{"alg":"HS256"}"#,
        &format!(
            r#"{{"iss":"https://issuer.test","aud":"api","sub":"alice","sub":"admin","exp":{}}}"#,
            NOW + 300
        ),
    );
    assert_rejected(
        &run(&gw, "/api", &[("authorization", &bearer(&t))]),
        Rejection::MalformedClaims,
    );
}

#[test]
fn missing_token_gets_a_bare_challenge() {
    let k = keys();
    let gw = single(&k, "HS256", false);
    for headers in [vec![], vec![("authorization", "Basic dXNlcjpwYXNz")]] {
        let v = run(&gw, "/api", &headers);
        assert_rejected(&v, Rejection::MissingToken);
        let Decision::Respond(resp) = &v.decision else {
            unreachable!()
        };
        assert!(resp
            .headers
            .contains(&("www-authenticate".into(), "Bearer realm=\"jwtgate\"".into())));
    }
    let v = run(&gw, "/api", &[("authorization", "Bearer ")]);
    assert_rejected(&v, Rejection::MalformedToken);
}

#[test]
fn spoofed_claim_headers_are_removed_everywhere() {
    let k = keys();
    let gw = single(&k, "HS256", false);
    let v = run(&gw, "/public/x", &[("X-User-Id", "admin")]);
    assert_eq!(forwarded(&v), &vec![HeaderOp::Remove("x-user-id".into())]);
    let t = k.token("HS256", json!({}), claims());
    let v = run(
        &gw,
        "/api",
        &[("x-user-id", "admin"), ("authorization", &bearer(&t))],
    );
    let ops = forwarded(&v);
    assert_eq!(ops.first(), Some(&HeaderOp::Remove("x-user-id".into())));
    assert_eq!(
        ops.last(),
        Some(&HeaderOp::Set("x-user-id".into(), "alice".into()))
    );
    // A failed request never forwards, so nothing spoofed reaches upstream either.
    let v = run(&gw, "/api", &[("x-user-id", "admin")]);
    assert_rejected(&v, Rejection::MissingToken);
}

#[test]
fn forwarding_options() {
    let k = keys();
    let mut provider = provider_with_key(&k, "HS256", false);
    provider["forward"] = json!(true);
    provider["forward_payload_header"] = json!("x-jwt-payload");
    provider["pad_forward_payload_header"] = json!(true);
    provider["claim_to_headers"] = json!([
        {"header_name": "x-roles", "claim_name": "realm_access.roles"},
        {"header_name": "x-admin", "claim_name": "admin"},
        {"header_name": "x-absent", "claim_name": "nope"},
    ]);
    let gw = gateway(
        json!({"providers": {"p": provider}, "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}]}),
    );
    let mut c = claims();
    c["realm_access"] = json!({"roles": ["a", "b"]});
    c["admin"] = json!(false);
    c["sub"] = json!("al");
    let t = k.token("HS256", json!({}), c);
    let payload = t.split('.').nth(1).unwrap();
    let v = run(&gw, "/", &[("authorization", &bearer(&t))]);
    let ops = forwarded(&v);
    assert!(
        !ops.contains(&HeaderOp::Remove("authorization".into())),
        "forward: true keeps it"
    );
    let padded = format!("{payload}{}", "=".repeat((4 - payload.len() % 4) % 4));
    assert!(ops.contains(&HeaderOp::Set("x-jwt-payload".into(), padded)));
    // Arrays are comma-joined (limits: claim header encoding).
    assert!(ops.contains(&HeaderOp::Set("x-roles".into(), "a,b".into())));
    assert!(ops.contains(&HeaderOp::Set("x-admin".into(), "false".into())));
    assert!(!ops
        .iter()
        .any(|op| matches!(op, HeaderOp::Set(n, _) if n == "x-absent")));
}

#[test]
fn routes_first_match_wins_and_unmatched_pass() {
    let k = keys();
    let gw = gateway(json!({
        "providers": {"p": provider_with_key(&k, "HS256", false)},
        "rules": [
            {"match": {"path": "/health"}},
            {"match": {"prefix": "/api"}, "requires": {"provider_name": "p"}},
        ],
    }));
    assert!(run(&gw, "/health", &[]).rejection.is_none());
    let v = run(&gw, "/health/x", &[]);
    assert!(
        v.rejection.is_none() && v.rule.is_none(),
        "exact path does not match below it"
    );
    assert_rejected(&run(&gw, "/api/x", &[]), Rejection::MissingToken);
    assert_rejected(&run(&gw, "/x/../api/x", &[]), Rejection::MissingToken);
    assert_rejected(&run(&gw, "//api", &[]), Rejection::MissingToken);
    let v = run(&gw, "/other", &[]);
    assert!(v.rejection.is_none() && v.rule.is_none());
}

#[test]
fn token_from_cookie_and_param_removed_when_not_forwarded() {
    let k = keys();
    let mut provider = provider_with_key(&k, "HS256", false);
    provider["from_cookies"] = json!(["session"]);
    provider["from_params"] = json!(["access_token"]);
    let gw = gateway(
        json!({"providers": {"p": provider}, "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}]}),
    );
    let t = k.token("HS256", json!({}), claims());
    // With from_* configured, the default Authorization source is not used.
    assert_rejected(
        &run(&gw, "/", &[("authorization", &bearer(&t))]),
        Rejection::MissingToken,
    );
    let cookie = format!("a=1; session={t}");
    let ops = forwarded(&run(&gw, "/", &[("cookie", &cookie)])).clone();
    assert!(ops.contains(&HeaderOp::Set("cookie".into(), "a=1".into())));
    let path = format!("/x?access_token={t}&b=2");
    let ops = forwarded(&run(&gw, &path, &[])).clone();
    assert!(ops.contains(&HeaderOp::Set(":path".into(), "/x?b=2".into())));
}

#[test]
fn oversized_token_is_refused_before_parsing() {
    let k = keys();
    let gw = single(&k, "HS256", false);
    let mut c = claims();
    c["pad"] = json!("a".repeat(9000));
    let t = k.token("HS256", json!({}), c);
    assert_rejected(
        &run(&gw, "/api", &[("authorization", &bearer(&t))]),
        Rejection::TokenTooLarge,
    );
}

#[test]
fn log_line_never_contains_token_or_query() {
    let k = keys();
    let gw = single(&k, "HS256", false);
    let t = k.token("HS256", json!({"kid": "k1"}), json!({"exp": 1}));
    let path = format!("/api?access_token={t}");
    let v = run(&gw, &path, &[("authorization", &bearer(&t))]);
    let line = v.log_line("GET", &path);
    assert!(
        line.contains("reason=expired") || line.contains("reason=issuer_mismatch"),
        "{line}"
    );
    assert!(
        !line.contains(&t) && !line.contains("access_token"),
        "{line}"
    );
}

#[test]
fn configuration_errors_name_the_field() {
    let k = keys();
    let good = || json!({"providers": {"p": provider_with_key(&k, "HS256", false)}, "rules": []});
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"providers": {"p": {"bogus": 1}}}),
            "providers.p.bogus",
        ),
        (json!({"provider": {}}), "provider"),
        (
            json!({"providers": {"p": {"keys": [{"alg": "HS256", "secret": "short"}]}}}),
            "providers.p.keys[0].secret",
        ),
        (
            json!({"providers": {"p": {"keys": [{"alg": "HS512", "secret": HS256_SECRET}]}}}),
            "providers.p.keys[0].secret",
        ),
        (
            json!({"providers": {"p": {"keys": [{"alg": "none", "secret": HS256_SECRET}]}}}),
            "providers.p.keys[0].alg",
        ),
        (
            json!({"providers": {"p": {"keys": [{"alg": "RS256", "secret": HS256_SECRET}]}}}),
            "providers.p.keys[0].secret",
        ),
        (
            json!({"providers": {"p": {"keys": [{"alg": "HS256", "pem": k.public_pem("RS256")}]}}}),
            "providers.p.keys[0].pem",
        ),
        (
            json!({"providers": {"p": {"keys": [{"pem": include_str!("fixtures/rsa2048-test-only.pem")}]}}}),
            "providers.p.keys[0].pem",
        ),
        (
            json!({"providers": {"p": {"keys": [{"pem": include_str!("fixtures/rsa1024-test-only.pub.pem")}]}}}),
            "providers.p.keys[0].pem",
        ),
        (
            json!({"providers": {"p": {"keys": [{"alg": "HS256", "secret": "zz", "encoding": "hex"}]}}}),
            "providers.p.keys[0].secret",
        ),
        (json!({"providers": {"p": {"keys": []}}}), "providers.p"),
        (
            json!({"providers": {"p": {"local_jwks": {"inline_string": "{\"keys\":[]}"}}}}),
            "providers.p.local_jwks",
        ),
        (
            json!({"providers": {"p": {"local_jwks": {"filename": "/etc/jwks.json"}}}}),
            "providers.p.local_jwks.filename",
        ),
        (
            json!({"providers": {"p": {"remote_jwks": {}}}}),
            "providers.p.remote_jwks",
        ),
        (
            json!({"providers": {"p": {"remote_jwks": {"http_uri": {"uri": "idp/jwks"}}}}}),
            "providers.p.remote_jwks.http_uri.uri",
        ),
        (
            json!({"providers": {"p": {"remote_jwks": {"http_uri": {"uri": "https://idp/j", "timeout": "5"}}}}}),
            "providers.p.remote_jwks.http_uri.timeout",
        ),
        (
            json!({"providers": {"p": {"remote_jwks": {"http_uri": {"uri": "https://idp/j", "timeout": "120s"}}}}}),
            "providers.p.remote_jwks.http_uri.timeout",
        ),
        (
            // "1s" is accepted and clamped with a warning (limits_decisions); a negative one is not.
            json!({"providers": {"p": {"remote_jwks": {"http_uri": {"uri": "https://idp/j"}, "cache_duration": "-1s"}}}}),
            "providers.p.remote_jwks.cache_duration",
        ),
        (
            json!({"providers": {"p": {"remote_jwks": {"http_uri": {"uri": "https://idp/j"},
                "retry_policy": {"retry_back_off": {"base_interval": "10s", "max_interval": "1s"}}}}}}),
            "providers.p.remote_jwks.retry_policy.retry_back_off.max_interval",
        ),
        (
            json!({"providers": {"p": {"remote_jwks": {"http_uri": {"uri": "https://idp/j"}, "max_body_bytes": 10}}}}),
            "providers.p.remote_jwks.max_body_bytes",
        ),
        (
            json!({"providers": {"p": {"remote_jwks": {"http_uri": {"uri": "https://idp/j", "clutser": "x"}}}}}),
            "providers.p.remote_jwks.http_uri.clutser",
        ),
        (
            json!({"jwks_unavailable_status": 500}),
            "jwks_unavailable_status",
        ),
        (
            json!({"providers": {"p": {"local_jwks": {"inline_string": "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\",\"d\":\"AQAB\"}]}"}}}}),
            "providers.p.local_jwks.keys[0]",
        ),
        (
            json!({"rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "nope"}}]}),
            "rules[0].requires.provider_name",
        ),
        (
            json!({"rules": [{"match": {"prefix": "/", "path": "/"}}]}),
            "rules[0].match",
        ),
        (
            json!({"rules": [{"match": {"prefix": "api"}}]}),
            "rules[0].match.prefix",
        ),
        (json!({"realm": "a\"b"}), "realm"),
        (json!({"max_token_bytes": 1}), "max_token_bytes"),
    ];
    for (config, path) in cases {
        let e = Gateway::from_json(config.to_string().as_bytes()).unwrap_err();
        assert_eq!(e.path, path, "{config} -> {e}");
    }
    let mut bad = good();
    bad["providers"]["p"]["claim_to_headers"] =
        json!([{"header_name": "Host", "claim_name": "sub"}]);
    assert_eq!(
        Gateway::from_json(bad.to_string().as_bytes())
            .unwrap_err()
            .path,
        "providers.p.claim_to_headers[0].header_name"
    );
    let mut bad = good();
    bad["providers"]["p"]["max_lifetime"] = json!("ten");
    assert_eq!(
        Gateway::from_json(bad.to_string().as_bytes())
            .unwrap_err()
            .path,
        "providers.p.max_lifetime"
    );
    assert!(Gateway::from_json(b"").is_err());
    assert!(Gateway::from_json(b"{\"providers\":{},\"providers\":{}}").is_err());
    assert!(Gateway::from_json(good().to_string().as_bytes()).is_ok());
}

#[test]
fn secret_encodings() {
    for (secret, encoding) in [
        (
            "3031323334353637383961626364656630313233343536373839616263646566",
            "hex",
        ),
        ("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "base64"),
        ("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY", "base64url"),
        (HS256_SECRET, "utf8"),
    ] {
        let k = keys();
        let gw = gateway(json!({
            "providers": {"p": {"keys": [{"alg": "HS256", "secret": secret, "encoding": encoding}]}},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}],
        }));
        let t = k.token("HS256", json!({}), json!({"exp": NOW + 10}));
        assert!(
            run(&gw, "/", &[("authorization", &bearer(&t))])
                .rejection
                .is_none(),
            "{encoding}"
        );
    }
}

#[test]
fn jwks_skips_keys_it_does_not_use() {
    let k = keys();
    let mut rsa = k.public_jwk("RS256");
    rsa["kid"] = json!("sig");
    let jwks = json!({"keys": [
        {"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"},
        {"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA"},
        {"kty": "RSA", "alg": "RSA-OAEP", "n": "AQAB", "e": "AQAB"},
        rsa,
    ]});
    let gw = gateway(json!({
        "providers": {"p": {"local_jwks": {"inline_string": jwks.to_string()}}},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}],
    }));
    let t = k.token("RS256", json!({"kid": "sig"}), json!({}));
    assert!(run(&gw, "/", &[("authorization", &bearer(&t))])
        .rejection
        .is_none());
}

// ---- rules, requirement trees, authorization, failure responses ----

/// Two providers reading the same header, sharing a `kid`, with different keys and issuers.
fn two_issuers(extra_rules: Value) -> (Keys, Gateway) {
    let k = keys();
    let a = json!({
        "issuer": "https://a.test",
        "keys": [{"kid": "shared", "alg": "HS256", "secret": HS256_SECRET}],
        "claim_to_headers": [{"header_name": "x-a-sub", "claim_name": "sub"}],
    });
    let b = json!({
        "issuer": "https://b.test",
        "audiences": ["b-api"],
        "keys": [{"kid": "shared", "alg": "ES256", "pem": k.public_pem("ES256")}],
        "claim_to_headers": [{"header_name": "x-b-sub", "claim_name": "sub"}],
    });
    let mut rules = extra_rules.as_array().cloned().unwrap_or_default();
    rules.push(
        json!({"match": {"prefix": "/"}, "requires": {"requires_any": {"requirements": [
        {"provider_name": "a"}, {"provider_name": "b"}]}}}),
    );
    let gw = gateway(json!({"providers": {"a": a, "b": b}, "rules": rules}));
    (k, gw)
}

fn a_token(k: &Keys, claims: Value) -> String {
    k.token("HS256", json!({"kid": "shared"}), claims)
}

fn b_token(k: &Keys, claims: Value) -> String {
    k.token("ES256", json!({"kid": "shared"}), claims)
}

#[test]
fn requires_any_picks_the_provider_by_issuer() {
    let (k, gw) = two_issuers(json!([]));
    let t = a_token(&k, json!({"iss": "https://a.test", "sub": "from-a"}));
    let v = run(&gw, "/", &[("authorization", &bearer(&t))]);
    assert!(forwarded(&v).contains(&HeaderOp::Set("x-a-sub".into(), "from-a".into())));
    assert_eq!(v.providers, vec!["a".to_string()]);
    let t = b_token(
        &k,
        json!({"iss": "https://b.test", "aud": "b-api", "sub": "from-b"}),
    );
    let v = run(&gw, "/", &[("authorization", &bearer(&t))]);
    assert!(forwarded(&v).contains(&HeaderOp::Set("x-b-sub".into(), "from-b".into())));
    // B's audience still applies when B is chosen: a 403 beats "missing".
    let t = b_token(&k, json!({"iss": "https://b.test", "aud": "other"}));
    assert_rejected(
        &run(&gw, "/", &[("authorization", &bearer(&t))]),
        Rejection::AudienceNotAllowed,
    );
}

#[test]
fn a_shared_kid_never_lets_one_providers_key_accept_the_others_token() {
    let (k, gw) = two_issuers(json!([]));
    // Signed with A's key but claiming B's issuer: B's keys are tried, and fail.
    let t = a_token(&k, json!({"iss": "https://b.test", "aud": "b-api"}));
    let v = run(&gw, "/", &[("authorization", &bearer(&t))]);
    assert_eq!(v.rejection.map(|r| r.status()), Some(401), "{v:?}");
    assert!(matches!(
        v.rejection,
        Some(Rejection::KeyNotFound | Rejection::InvalidSignature)
    ));
    // Unknown issuer: refused, never treated as missing.
    let t = a_token(&k, json!({"iss": "https://evil.test"}));
    assert_rejected(
        &run(&gw, "/", &[("authorization", &bearer(&t))]),
        Rejection::IssuerMismatch,
    );
}

#[test]
fn allow_missing_never_accepts_a_wrong_issuer() {
    let (k, gw) = two_issuers(json!([
        {"match": {"prefix": "/optional"}, "requires": {"allow_missing": {}}},
        {"match": {"prefix": "/lenient"}, "requires": {"allow_missing_or_failed": {}}},
        {"match": {"prefix": "/either"}, "requires": {"requires_any": {"requirements": [{"provider_name": "a"}, {"allow_missing": {}}]}}},
    ]));
    for route in ["/optional", "/either"] {
        // No token: passes without headers.
        let v = run(&gw, route, &[]);
        assert_eq!(forwarded(&v), &Vec::<HeaderOp>::new(), "{route}");
        // Valid token: passes with its headers.
        let t = a_token(&k, json!({"iss": "https://a.test", "sub": "s"}));
        let v = run(&gw, route, &[("authorization", &bearer(&t))]);
        assert!(
            forwarded(&v).contains(&HeaderOp::Set("x-a-sub".into(), "s".into())),
            "{route}"
        );
        // A token nobody issued (the old Envoy bug): refused.
        let t = a_token(&k, json!({"iss": "https://evil.test"}));
        assert_rejected(
            &run(&gw, route, &[("authorization", &bearer(&t))]),
            Rejection::IssuerMismatch,
        );
        // A forged token: refused.
        let t = format!("{}x", a_token(&k, json!({"iss": "https://a.test"})));
        assert_eq!(
            run(&gw, route, &[("authorization", &bearer(&t))])
                .rejection
                .map(|r| r.status()),
            Some(401)
        );
    }
    // allow_missing_or_failed: a forged token passes, but sets nothing.
    let t = a_token(&k, json!({"iss": "https://evil.test", "sub": "x"}));
    let v = run(
        &gw,
        "/lenient",
        &[("authorization", &bearer(&t)), ("x-a-sub", "spoof")],
    );
    assert_eq!(forwarded(&v), &vec![HeaderOp::Remove("x-a-sub".into())]);
    let t = a_token(&k, json!({"iss": "https://a.test", "sub": "ok"}));
    let v = run(&gw, "/lenient", &[("authorization", &bearer(&t))]);
    assert!(forwarded(&v).contains(&HeaderOp::Set("x-a-sub".into(), "ok".into())));
}

#[test]
fn requires_all_needs_every_token() {
    let k = keys();
    let mut a = provider_with_key(&k, "HS256", false);
    a["from_headers"] = json!([{"name": "x-token-a"}]);
    a["claim_to_headers"] = json!([{"header_name": "x-a", "claim_name": "sub"}]);
    let mut b = provider_with_key(&k, "ES256", false);
    b["from_headers"] = json!([{"name": "x-token-b"}]);
    b["claim_to_headers"] = json!([{"header_name": "x-b", "claim_name": "sub"}]);
    let gw = gateway(
        json!({"providers": {"a": a, "b": b}, "rules": [{"match": {"prefix": "/"}, "requires": {"requires_all": {"requirements": [
            {"provider_name": "a"},
            {"requires_any": {"requirements": [{"provider_name": "b"}, {"provider_name": "a"}]}}
        ]}}}]}),
    );
    let ta = k.token("HS256", json!({}), claims());
    let tb = k.token("ES256", json!({}), claims());
    let v = run(&gw, "/", &[("x-token-a", &ta), ("x-token-b", &tb)]);
    let ops = forwarded(&v);
    assert!(ops.contains(&HeaderOp::Set("x-a".into(), "alice".into())));
    assert!(ops.contains(&HeaderOp::Set("x-b".into(), "alice".into())));
    assert_eq!(v.providers, vec!["a".to_string(), "b".to_string()]);
    assert_rejected(
        &run(&gw, "/", &[("x-token-b", &tb)]),
        Rejection::MissingToken,
    );
    let v = run(&gw, "/", &[("x-token-a", &ta)]);
    assert!(v.rejection.is_none(), "the nested any is satisfied by a");
}

#[test]
fn provider_and_audiences_overrides_the_providers_audiences() {
    let k = keys();
    let gw = gateway(
        json!({"providers": {"p": provider_with_key(&k, "HS256", false)}, "rules": [
            {"match": {"prefix": "/admin"}, "requires": {"provider_and_audiences": {"provider_name": "p", "audiences": ["admin-api"]}}},
            {"match": {"prefix": "/"}, "requires": {"provider_name": "p"}},
        ]}),
    );
    let t = k.token("HS256", json!({}), claims()); // aud "api"
    assert!(run(&gw, "/x", &[("authorization", &bearer(&t))])
        .rejection
        .is_none());
    assert_rejected(
        &run(&gw, "/admin", &[("authorization", &bearer(&t))]),
        Rejection::AudienceNotAllowed,
    );
    let mut c = claims();
    c["aud"] = json!(["admin-api"]);
    let t = k.token("HS256", json!({}), c);
    assert!(run(&gw, "/admin", &[("authorization", &bearer(&t))])
        .rejection
        .is_none());
}

#[test]
fn claim_conditions_answer_403_or_401() {
    let k = keys();
    let gw = gateway(
        json!({"providers": {"kc": provider_with_key(&k, "HS256", false)}, "rules": [
            {"match": {"prefix": "/admin"}, "requires": {"provider_name": "kc", "claims": [
                {"claim": "realm_access.roles", "contains": "admin"}]}},
            {"match": {"prefix": "/write"}, "requires": {"provider_name": "kc", "claims": [
                {"claim": "scope", "all_of": ["read", "write"]},
                {"claim": "level", "gte": 2, "status": 401}]}},
            {"match": {"prefix": "/"}, "requires": {"provider_name": "kc"}},
        ]}),
    );
    let with = |extra: Value| {
        let mut c = claims();
        for (key, value) in extra.as_object().unwrap() {
            c[key] = value.clone();
        }
        bearer(&k.token("HS256", json!({}), c))
    };
    let admin = with(json!({"realm_access": {"roles": ["user", "admin"]}}));
    let user = with(json!({"realm_access": {"roles": ["user"]}}));
    assert!(run(&gw, "/admin", &[("authorization", &admin)])
        .rejection
        .is_none());
    let v = run(&gw, "/admin", &[("authorization", &user)]);
    assert_rejected(&v, Rejection::ClaimsForbidden);
    let Decision::Respond(resp) = &v.decision else {
        unreachable!()
    };
    assert!(resp.headers[0].1.contains("error=\"insufficient_scope\""));
    assert_rejected(
        &run(&gw, "/admin", &[("authorization", &with(json!({})))]),
        Rejection::ClaimsForbidden,
    );
    assert!(run(
        &gw,
        "/write",
        &[(
            "authorization",
            &with(json!({"scope": "read write", "level": 2}))
        )]
    )
    .rejection
    .is_none());
    assert_rejected(
        &run(
            &gw,
            "/write",
            &[("authorization", &with(json!({"scope": "read", "level": 2})))],
        ),
        Rejection::ClaimsForbidden,
    );
    assert_rejected(
        &run(
            &gw,
            "/write",
            &[(
                "authorization",
                &with(json!({"scope": "read write", "level": 1})),
            )],
        ),
        Rejection::ClaimsRejected,
    );
    // An invalid token is 401 before any claim is looked at.
    assert_rejected(&run(&gw, "/admin", &[]), Rejection::MissingToken);
}

#[test]
fn route_matchers_regex_methods_headers() {
    let k = keys();
    let gw = gateway(
        json!({"providers": {"p": provider_with_key(&k, "HS256", false)}, "rules": [
            {"match": {"safe_regex": {"google_re2": {}, "regex": "/users/[0-9]+"}, "methods": ["GET"]}},
            {"match": {"prefix": "/", "headers": [{"name": "x-public", "exact_match": "yes"}]}},
            {"match": {"prefix": "/"}, "requires": {"provider_name": "p"}},
        ]}),
    );
    let req = |method: &str, path: &str, headers: &[(&str, &str)]| {
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        gw.decide(
            &Request {
                method,
                path,
                headers: &headers,
            },
            NOW,
        )
    };
    assert!(req("GET", "/users/42", &[]).rejection.is_none());
    assert_rejected(&req("POST", "/users/42", &[]), Rejection::MissingToken);
    assert_rejected(&req("GET", "/users/42/x", &[]), Rejection::MissingToken);
    assert!(req("GET", "/x", &[("X-Public", "yes")]).rejection.is_none());
    assert_rejected(
        &req("GET", "/x", &[("x-public", "no")]),
        Rejection::MissingToken,
    );
}

#[test]
fn failure_responses_per_rule_and_global() {
    let k = keys();
    let gw = gateway(json!({
    "providers": {"p": provider_with_key(&k, "HS256", false)},
    "failure_response": {"content_type": "text/plain"},
    "rules": [
        {"match": {"prefix": "/app"}, "requires": {"provider_name": "p"},
         "failure_response": {"redirect": {"url": "https://login.test/login", "param": "redirect"}}},
        {"match": {"prefix": "/"}, "requires": {"provider_name": "p"}},
    ]}));
    let v = run(&gw, "/app/page?x=1", &[]);
    let Decision::Respond(resp) = &v.decision else {
        panic!("{v:?}")
    };
    assert_eq!(resp.status, 302);
    assert!(resp.headers.contains(&(
        "location".into(),
        "https://login.test/login?redirect=%2Fapp%2Fpage%3Fx%3D1".into()
    )));
    let v = run(&gw, "/api", &[]);
    let Decision::Respond(resp) = &v.decision else {
        panic!("{v:?}")
    };
    assert_eq!(
        (resp.status, resp.body.as_str()),
        (401, "a bearer token is required\n")
    );
    let stripped = gateway(
        json!({"providers": {"p": provider_with_key(&k, "HS256", false)}, "strip_failure_response": true,
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}]}),
    );
    let Decision::Respond(resp) = run(&stripped, "/", &[]).decision else {
        panic!()
    };
    assert!(resp.body.is_empty() && !resp.headers.iter().any(|(n, _)| n == "www-authenticate"));
}

#[test]
fn dry_run_reports_but_never_denies() {
    let k = keys();
    let gw = gateway(
        json!({"providers": {"p": provider_with_key(&k, "HS256", false)}, "rules": [
            {"match": {"prefix": "/new"}, "requires": {"provider_name": "p"}, "dry_run": true},
            {"match": {"prefix": "/"}, "requires": {"provider_name": "p"}},
        ]}),
    );
    let v = run(&gw, "/new", &[("x-user-id", "spoof")]);
    assert!(v.dry_run);
    assert_eq!(v.rejection, Some(Rejection::MissingToken));
    assert_eq!(
        forwarded(&v),
        &vec![HeaderOp::Remove("x-user-id".into())],
        "still strips spoofed headers"
    );
    assert!(v
        .log_line("GET", "/new")
        .contains("dry-run would-deny status=401 reason=missing_token"));
    assert_eq!(
        v.metrics(),
        vec![
            "allowed",
            "dry_run.would_deny",
            "dry_run.would_deny.missing_token"
        ]
    );
    assert_rejected(&run(&gw, "/other", &[]), Rejection::MissingToken);
    let global = gateway(
        json!({"providers": {"p": provider_with_key(&k, "HS256", false)}, "dry_run": true,
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}]}),
    );
    assert!(matches!(
        run(&global, "/", &[]).decision,
        Decision::Forward(_)
    ));
}

#[test]
fn cors_preflight_bypass_is_opt_in() {
    let k = keys();
    let config = |bypass: bool| {
        gateway(
            json!({"providers": {"p": provider_with_key(&k, "HS256", false)},
        "bypass_cors_preflight": bypass, "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}]}),
        )
    };
    let preflight: Vec<(String, String)> = vec![
        ("origin".into(), "https://app.test".into()),
        ("access-control-request-method".into(), "POST".into()),
    ];
    let req = Request {
        method: "OPTIONS",
        path: "/api",
        headers: &preflight,
    };
    let v = config(true).decide(&req, NOW);
    assert!(v.cors_bypassed && v.rejection.is_none());
    assert_eq!(v.metrics(), vec!["allowed", "cors_bypassed"]);
    assert_rejected(&config(false).decide(&req, NOW), Rejection::MissingToken);
    // OPTIONS without the preflight headers is an ordinary request.
    let bare = Request {
        method: "OPTIONS",
        path: "/api",
        headers: &[],
    };
    assert_rejected(&config(true).decide(&bare, NOW), Rejection::MissingToken);
}

#[test]
fn metrics_name_every_denial_reason() {
    let k = keys();
    let gw = single(&k, "HS256", false);
    assert_eq!(
        run(&gw, "/api", &[]).metrics(),
        vec!["denied", "denied.missing_token"]
    );
    let t = k.token("HS256", json!({}), claims());
    assert_eq!(
        run(&gw, "/api", &[("authorization", &bearer(&t))]).metrics(),
        vec!["allowed"]
    );
}

#[test]
fn rule_configuration_errors_name_the_field() {
    let k = keys();
    let p = || json!({"p": provider_with_key(&k, "HS256", false)});
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"match": {"safe_regex": {"regex": "("}}}),
            "rules[0].match.safe_regex.regex",
        ),
        (
            json!({"match": {"prefix": "/", "methods": ["get"]}}),
            "rules[0].match.methods[0]",
        ),
        (
            json!({"match": {"prefix": "/", "headers": [{"name": "x", "present_match": true, "exact_match": "y"}]}}),
            "rules[0].match.headers[0]",
        ),
        (
            json!({"match": {"prefix": "/"}, "requires": {}}),
            "rules[0].requires",
        ),
        (
            json!({"match": {"prefix": "/"}, "requires": {"provider_name": "p", "allow_missing": {}}}),
            "rules[0].requires",
        ),
        (
            json!({"match": {"prefix": "/"}, "requires": {"requires_any": {"requirements": []}}}),
            "rules[0].requires.requires_any.requirements",
        ),
        (
            json!({"match": {"prefix": "/"}, "requires": {"requires_any": {"requirements": [{"provider_name": "x"}]}}}),
            "rules[0].requires.requires_any.requirements[0].provider_name",
        ),
        (
            json!({"match": {"prefix": "/"}, "requires": {"allow_missing": {}, "claims": [{"claim": "a", "present": true}]}}),
            "rules[0].requires.claims",
        ),
        (
            json!({"match": {"prefix": "/"}, "requires": {"provider_name": "p", "claims": [{"claim": "a"}]}}),
            "rules[0].requires.claims[0]",
        ),
        (
            json!({"match": {"prefix": "/"}, "requires": {"provider_name": "p", "claims": [{"claim": "a", "equals": 1, "contains": 1}]}}),
            "rules[0].requires.claims[0]",
        ),
        (
            json!({"match": {"prefix": "/"}, "requires": {"provider_name": "p", "claims": [{"claim": "a", "equals": 1, "status": 402}]}}),
            "rules[0].requires.claims[0].status",
        ),
        (
            json!({"match": {"prefix": "/"}, "failure_response": {"status": 200}}),
            "rules[0].failure_response.status",
        ),
        (
            json!({"match": {"prefix": "/"}, "failure_response": {"redirect": {"url": "/login", "param": "a=b"}}}),
            "rules[0].failure_response.redirect.param",
        ),
    ];
    for (rule, path) in cases {
        let config = json!({"providers": p(), "rules": [rule]});
        let e = Gateway::from_json(config.to_string().as_bytes()).unwrap_err();
        assert_eq!(e.path, path, "{rule} -> {e}");
    }
    let mut deep = json!({"provider_name": "p"});
    for _ in 0..10 {
        deep = json!({"requires_any": {"requirements": [deep]}});
    }
    let config = json!({"providers": p(), "rules": [{"match": {"prefix": "/"}, "requires": deep}]});
    assert!(Gateway::from_json(config.to_string().as_bytes())
        .unwrap_err()
        .message
        .contains("nested deeper"));
}

// ---- verified-token cache ----

#[test]
fn cache_hits_still_check_time_and_audience() {
    let k = keys();
    let gw = gateway(
        json!({"providers": {"p": provider_with_key(&k, "RS256", false)}, "rules": [
        {"match": {"prefix": "/admin"}, "requires": {"provider_and_audiences": {"provider_name": "p", "audiences": ["admin"]}}},
        {"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}]}),
    );
    let mut cache = gw.new_token_cache();
    let t = k.token("RS256", json!({}), claims()); // exp NOW + 300, aud api
    let headers = vec![("authorization".to_string(), bearer(&t))];
    let at = |path: &str, now: u64, cache: &mut TokenCache| {
        gw.decide_cached(
            &Request {
                method: "GET",
                path,
                headers: &headers,
            },
            now,
            cache,
        )
    };
    assert!(at("/", NOW, &mut cache).rejection.is_none());
    assert_eq!((cache.hits, cache.misses, cache.len()), (0, 1, 1));
    let v = at("/", NOW + 10, &mut cache);
    assert!(
        forwarded(&v).contains(&HeaderOp::Set("x-user-id".into(), "alice".into())),
        "hit forwards claims"
    );
    assert_eq!(cache.hits, 1);
    assert_rejected(
        &at("/admin", NOW, &mut cache),
        Rejection::AudienceNotAllowed,
    );
    assert_eq!(
        cache.hits, 2,
        "audience is checked per requirement on the cached claims"
    );
    assert_rejected(&at("/", NOW + 300 + 60, &mut cache), Rejection::Expired);
    assert!(cache.is_empty(), "an expired entry is dropped");
}

#[test]
fn only_verified_tokens_enter_the_cache() {
    let k = keys();
    let gw = single(&k, "HS256", false);
    let mut cache = gw.new_token_cache();
    let good = k.token("HS256", json!({}), claims());
    let forged = format!("{}A", &good[..good.len() - 1]);
    for token in [forged.as_str(), "a.b.c", "garbage"] {
        let headers = vec![("authorization".to_string(), bearer(token))];
        let v = gw.decide_cached(
            &Request {
                method: "GET",
                path: "/api",
                headers: &headers,
            },
            NOW,
            &mut cache,
        );
        assert!(v.rejection.is_some());
    }
    assert!(cache.is_empty());
    let mut c = claims();
    c["exp"] = json!(NOW - 100);
    let expired = k.token("HS256", json!({}), c);
    let headers = vec![("authorization".to_string(), bearer(&expired))];
    gw.decide_cached(
        &Request {
            method: "GET",
            path: "/api",
            headers: &headers,
        },
        NOW,
        &mut cache,
    );
    assert!(
        cache.is_empty(),
        "a token that fails its claims is not cached"
    );
}

// ---- configuration leniency for trusted key material ----

#[test]
fn jwk_with_padding_and_short_ec_coordinates_still_loads() {
    // Find a P-256 key whose x starts with a zero byte, as some JWK writers then drop it.
    let (sk, x, y) = (1u8..=255)
        .flat_map(|a| (1u8..=255).map(move |b| (a, b)))
        .find_map(|(a, b)| {
            let mut raw = [7u8; 32];
            raw[0] = a;
            raw[1] = b;
            let sk = p256::ecdsa::SigningKey::from_slice(&raw).ok()?;
            let p = sk.verifying_key().to_encoded_point(false);
            (p.x()?[0] == 0).then(|| (sk.clone(), p.x().unwrap().to_vec(), p.y().unwrap().to_vec()))
        })
        .expect("a key with a leading zero in x");
    let jwk =
        json!({"kty": "EC", "crv": "P-256", "x": format!("{}==", b64(&x[1..])), "y": b64(&y)});
    let gw = gateway(json!({
        "providers": {"p": {"local_jwks": {"inline_string": json!({"keys": [jwk]}).to_string()}}},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}],
    }));
    let input = format!("{}.{}", b64(br#"{"alg":"ES256"}"#), b64(br#"{"sub":"z"}"#));
    let sig = jwt_compact::alg::Es256.sign(&sk, input.as_bytes());
    use jwt_compact::AlgorithmSignature;
    let t = format!("{input}.{}", b64(&sig.as_bytes()));
    assert!(run(&gw, "/", &[("authorization", &bearer(&t))])
        .rejection
        .is_none());
}

#[test]
fn pem_with_crlf_line_endings_loads() {
    let k = keys();
    for alg in ["RS256", "ES384", "EdDSA"]
        .into_iter()
        .filter(|a| supported(a))
    {
        let pem = k.public_pem(alg).replace('\n', "\r\n");
        let gw = gateway(json!({
            "providers": {"p": {"keys": [{"alg": alg, "pem": pem}]}},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}],
        }));
        let t = k.token(alg, json!({}), json!({"sub": "x"}));
        assert!(
            run(&gw, "/", &[("authorization", &bearer(&t))])
                .rejection
                .is_none(),
            "{alg}"
        );
    }
}
