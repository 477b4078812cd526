//! Envoy compatibility, measured with the test vectors of Google's jwt_verify_lib
//! (github.com/google/jwt_verify_lib, the library under Envoy's `jwt_authn`), issue 20.
//!
//! Each row restates one expectation of a jwt_verify_lib test (file and test named in the row)
//! as an input for jwtgate's public API (`Gateway::from_json` + `decide`): what the library
//! decides, what jwtgate decides, and, where they differ, why jwtgate differs on purpose. The
//! inputs are written here (own keys, own tokens); only short facts are taken over (audience
//! strings, claim values, which JWK member is missing). Every row asserts jwtgate's outcome;
//! each category then asserts its tally (cases, equal, different by design), which README.md's
//! "Audience matching" section reports.
// A test (or measurement) program: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use base64::Engine;
use serde_json::{json, Value};

use jwtgate_core::{Gateway, Rejection, Request, Verdict};

mod common;
#[path = "common/keys.rs"]
mod keys;
use common::{b64, bearer, gateway};
use keys::{keys_from, Keys, HS256_SECRET};

fn keys() -> Keys {
    keys_from(11)
}

/// A decision: the token (or key set) is accepted, or refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Accept,
    Refuse,
}
use Outcome::{Accept, Refuse};

/// One category's count of jwt_verify_lib expectations.
#[derive(Debug, Default)]
struct Tally {
    cases: usize,
    equal: usize,
    different: usize,
}

impl Tally {
    /// Records a row whose jwtgate outcome was asserted: equal when both decide alike; a
    /// difference must say why it is deliberate.
    fn record(&mut self, case: &str, envoy: Outcome, jwtgate: Outcome, why: &str) {
        self.cases += 1;
        if envoy == jwtgate {
            assert!(
                why.is_empty(),
                "{case}: equal, yet a difference is explained"
            );
            self.equal += 1;
        } else {
            assert!(!why.is_empty(), "{case}: differs without a reason");
            self.different += 1;
        }
    }

    fn assert(&self, cases: usize, equal: usize, different: usize) {
        assert_eq!(
            (self.cases, self.equal, self.different),
            (cases, equal, different),
            "(cases, equal, different by design); README.md's audience_match section reports them"
        );
    }
}

fn run(gw: &Gateway, token: &str, now: u64) -> Verdict {
    let headers = vec![("authorization".to_string(), bearer(token))];
    gw.decide(
        &Request {
            method: "GET",
            path: "/",
            headers: &headers,
        },
        now,
    )
}

fn outcome(v: &Verdict) -> Outcome {
    if v.rejection.is_none() {
        Accept
    } else {
        Refuse
    }
}

/// One provider `p` with these fields, required on every path.
fn config(provider: Value) -> Value {
    json!({
        "providers": {"p": provider},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}],
    })
}

// ---- keys and tokens (own test keys, deterministic) ----

/// Whether this build verifies `alg` (ES384/ES512 are cargo features).
fn built(alg: &str) -> bool {
    (alg != "ES384" || cfg!(feature = "es384")) && (alg != "ES512" || cfg!(feature = "es512"))
}

/// An HS256 token with these claims (the audience and claim-type rows need no other key).
fn hs256(claims: Value) -> String {
    keys().token("HS256", json!({}), claims)
}

const NOW: u64 = 1_700_000_000;

// ---- audiences: check_audience_test.cc, verify_audiences_test.cc ----

/// The six spellings of one audience in check_audience_test.cc's `TestConfig*` tests: each is
/// configured once and compared with the five others, all expected to be allowed.
const SPELLINGS: [(&str, &str); 6] = [
    ("TestConfigNotPrefixNotTailing", "example_service"),
    ("TestConfigHttpPrefixNotTailing", "http://example_service"),
    ("TestConfigHttpsPrefixNotTailing", "https://example_service"),
    ("TestConfigNotPrefixWithTailing", "example_service/"),
    ("TestConfigHttpPrefixWithTailing", "http://example_service/"),
    (
        "TestConfigHttpsPrefixWithTailing",
        "https://example_service/",
    ),
];

/// (test, configured audiences, token `aud`, jwt_verify_lib allows it)
fn audience_rows() -> Vec<(String, Vec<&'static str>, Vec<&'static str>, bool)> {
    let mut rows = Vec::new();
    for (test, configured) in SPELLINGS {
        for (_, aud) in SPELLINGS.iter().filter(|(_, a)| *a != configured) {
            rows.push((
                format!("check_audience_test.cc {test} {aud:?}"),
                vec![configured],
                vec![*aud],
                true,
            ));
        }
    }
    let more: [(&str, Vec<&'static str>, Vec<&'static str>, bool); 8] = [
        (
            "check_audience_test.cc TestAudiencesAllowedWhenNoAudiencesConfigured",
            vec![],
            vec!["foo", "bar"],
            true,
        ),
        (
            "check_audience_test.cc TestAnyAudienceMatch [quux]",
            vec!["bar", "quux", "foo"],
            vec!["quux"],
            true,
        ),
        (
            "check_audience_test.cc TestAnyAudienceMatch [baz, quux]",
            vec!["bar", "quux", "foo"],
            vec!["baz", "quux"],
            true,
        ),
        (
            "check_audience_test.cc TestEmptyAudienceMatch [bar]",
            vec!["bar", ""],
            vec!["bar"],
            true,
        ),
        (
            "check_audience_test.cc TestEmptyAudienceMatch [\"\"]",
            vec!["bar", ""],
            vec![""],
            true,
        ),
        (
            "verify_audiences_test.cc MissingAudience",
            vec!["aud2", "aud3"],
            vec!["aud1"],
            false,
        ),
        (
            "verify_audiences_test.cc Success",
            vec!["aud1", "aud3"],
            vec!["aud1"],
            true,
        ),
        (
            "verify_audiences_test.cc Success (empty allowed list)",
            vec![],
            vec!["aud1"],
            true,
        ),
    ];
    rows.extend(
        more.into_iter()
            .map(|(test, conf, aud, allowed)| (test.to_string(), conf, aud, allowed)),
    );
    rows
}

fn audience_tally(mode: &str) -> Tally {
    let mut tally = Tally::default();
    for (test, configured, aud, allowed) in audience_rows() {
        let gw = gateway(config(json!({
            "keys": [{"alg": "HS256", "secret": HS256_SECRET}],
            "audiences": configured,
            "audience_match": mode,
        })));
        let v = run(&gw, &hs256(json!({"aud": aud, "exp": NOW + 300})), NOW);
        let envoy = if allowed { Accept } else { Refuse };
        // Exact: allowed when a value is byte-for-byte a configured one (or none is configured).
        let exact = configured.is_empty() || aud.iter().any(|a| configured.contains(a));
        let jwtgate = match (mode, exact) {
            ("exact", false) => Refuse,
            _ => envoy,
        };
        assert_eq!(outcome(&v), jwtgate, "{mode}: {test}: {v:?}");
        if jwtgate == Refuse {
            assert_eq!(v.rejection, Some(Rejection::AudienceNotAllowed), "{test}");
        }
        let why = if envoy == jwtgate {
            ""
        } else {
            // audience_match "exact" (the default): RFC 7519 §4.1.3 compares StringOrURI
            // values as case-sensitive strings; a token for the `http` origin or another
            // spelling is not a token for the configured audience. `"envoy"` opts in.
            "exact audience match by default (RFC 7519 §4.1.3)"
        };
        tally.record(&test, envoy, jwtgate, why);
    }
    tally
}

#[test]
fn audiences_with_audience_match_envoy_decide_as_jwt_verify_lib() {
    audience_tally("envoy").assert(38, 38, 0);
}

#[test]
fn audiences_with_audience_match_exact_differ_only_by_spelling() {
    // 30 of check_audience_test.cc's 35 expectations are other spellings of the same audience.
    audience_tally("exact").assert(38, 8, 30);
}

#[test]
fn envoy_audience_match_strips_once_and_case_sensitively() {
    // The rule under the vectors (check_audience.cc, sanitizeAudience): one scheme prefix, one
    // trailing slash, compared case-sensitively. Not vectors of the library: jwtgate's pins.
    let gw = gateway(config(json!({
        "keys": [{"alg": "HS256", "secret": HS256_SECRET}],
        "audiences": ["https://api.test"],
        "audience_match": "envoy",
    })));
    for (aud, want) in [
        ("api.test/", Accept),
        ("http://api.test", Accept),
        ("https://api.test//", Refuse),
        ("HTTPS://api.test", Refuse),
        ("https://api.test/v1", Refuse),
        ("ftp://api.test", Refuse),
    ] {
        let v = run(&gw, &hs256(json!({"aud": aud, "exp": NOW + 300})), NOW);
        assert_eq!(outcome(&v), want, "{aud}");
    }
}

// ---- time: jwt_time_test.cc (and the rule in jwt.cc) ----

/// The exp and nbf of jwt_time_test.cc's token.
const EXP: u64 = 1_605_052_800;
const NBF: u64 = 1_605_050_800;
/// Envoy's default `clock_skew_seconds` (jwt_verify_lib's kClockSkewInSecond), also jwtgate's.
const SKEW: u64 = 60;

#[test]
fn time_checks_decide_as_jwt_verify_lib() {
    struct Row {
        test: &'static str,
        claims: Value,
        /// `clock_skew_seconds` configured (None: the default).
        skew: Option<u64>,
        now: u64,
        envoy: Outcome,
        jwtgate: Option<Rejection>,
        why: &'static str,
    }
    let both = json!({"exp": EXP, "nbf": NBF});
    let only_exp = json!({"exp": EXP});
    let only_nbf = json!({"nbf": NBF});
    let row = |test, claims: &Value, skew, now, envoy, jwtgate| Row {
        test,
        claims: claims.clone(),
        skew,
        now,
        envoy,
        jwtgate,
        why: "",
    };
    #[rustfmt::skip]
    let rows = vec![
        row("BothNbfExp: 10s before exp+skew", &both, None, EXP + SKEW - 10, Accept, None),
        row("BothNbfExp: 10s after exp+skew", &both, None, EXP + SKEW + 10, Refuse, Some(Rejection::Expired)),
        row("BothNbfExp: 10s after nbf-skew", &both, None, NBF - SKEW + 10, Accept, None),
        row("BothNbfExp: 10s before nbf-skew", &both, None, NBF - SKEW - 10, Refuse, Some(Rejection::NotYetValid)),
        row("BothNbfExpWithCustomClockSkew: 1s before exp+10", &both, Some(10), EXP + 10 - 1, Accept, None),
        row("BothNbfExpWithCustomClockSkew: 1s after exp+10", &both, Some(10), EXP + 10 + 1, Refuse, Some(Rejection::Expired)),
        row("BothNbfExpWithCustomClockSkew: 1s after nbf-10", &both, Some(10), NBF - 10 + 1, Accept, None),
        row("BothNbfExpWithCustomClockSkew: 1s before nbf-10", &both, Some(10), NBF - 10 - 1, Refuse, Some(Rejection::NotYetValid)),
        row("OnlyExp: 10s before exp+skew", &only_exp, None, EXP + SKEW - 10, Accept, None),
        row("OnlyExp: 10s after exp+skew", &only_exp, None, EXP + SKEW + 10, Refuse, Some(Rejection::Expired)),
        row("OnlyExp: now 0", &only_exp, None, 0, Accept, None),
        // 2^63 + 2 seconds: jwtgate's clock saturates (decide's milliseconds), still after nbf.
        row("OnlyNbf: now very large", &only_nbf, None, 9_223_372_036_854_775_810, Accept, None),
        row("OnlyNbf: 10s after nbf-skew", &only_nbf, None, NBF - SKEW + 10, Accept, None),
        row("OnlyNbf: 10s before nbf-skew", &only_nbf, None, NBF - SKEW - 10, Refuse, Some(Rejection::NotYetValid)),
        row("NotTimeConstraint: now very large", &json!({}), None, 9_223_372_036_854_775_810, Accept, None),
        row("NotTimeConstraint: now 0", &json!({}), None, 0, Accept, None),
        // jwt.cc verifyTimeConstraint: `now + skew < nbf` refuses, so now == nbf - skew passes.
        row("jwt.cc: now == nbf - skew", &both, None, NBF - SKEW, Accept, None),
        Row {
            // jwt.cc: `now > exp + skew` refuses, so now == exp + skew passes there.
            why: "RFC 7519 §4.1.4: a token must not be accepted on or after exp (+ skew)",
            ..row("jwt.cc: now == exp + skew", &both, None, EXP + SKEW, Accept, Some(Rejection::Expired))
        },
        Row {
            // jwt_verify_lib stores absent claims as 0 (jwt_time_test resets exp_ to 0 to
            // mean "no exp"), so a token that says `"exp": 0` never expires there.
            why: "`exp: 0` is 1970-01-01, an expired token, not an absent claim",
            ..row("jwt.cc: exp 0 means no exp", &json!({"exp": 0}), None, NOW, Accept, Some(Rejection::Expired))
        },
    ];
    let mut tally = Tally::default();
    for r in rows {
        let mut provider = json!({
            "keys": [{"alg": "HS256", "secret": HS256_SECRET}],
        });
        if let Some(skew) = r.skew {
            provider["clock_skew_seconds"] = json!(skew);
        }
        let gw = gateway(config(provider));
        let v = run(&gw, &hs256(r.claims.clone()), r.now);
        assert_eq!(v.rejection, r.jwtgate, "jwt_time_test.cc {}: {v:?}", r.test);
        let jwtgate = if r.jwtgate.is_some() { Refuse } else { Accept };
        tally.record(r.test, r.envoy, jwtgate, r.why);
    }
    tally.assert(19, 17, 2);
}

// ---- claim types: jwt_test.cc (TestParsePayload*) ----

#[test]
fn registered_claim_types_decide_as_jwt_verify_lib() {
    use Rejection::{DateOutOfRange, MalformedClaims};
    let exp = NOW + 300;
    // (test, claims, jwtgate's reason; None: accepted). jwt_verify_lib refuses all but
    // IatDecimalsDrop, where it keeps the integer part.
    #[rustfmt::skip]
    let rows: Vec<(&str, Value, Option<Rejection>)> = vec![
        ("TestParsePayloadIssNotString", json!({"iss": true, "exp": exp}), Some(MalformedClaims)),
        ("TestParsePayloadSubNotString", json!({"sub": 123456, "exp": exp}), Some(MalformedClaims)),
        ("TestParsePayloadIatNotInteger", json!({"iat": "123456789", "exp": exp}), Some(MalformedClaims)),
        ("TestParsePayloadIatNotPositive", json!({"iat": -12345, "exp": exp}), Some(DateOutOfRange)),
        ("TestParsePayloadIatTooBig", json!({"iat": 2.001e206, "exp": exp}), Some(DateOutOfRange)),
        ("TestParsePayloadIatDecimalsDrop", json!({"iat": 1234.5678, "exp": exp}), None),
        ("TestParsePayloadNbfNotInteger", json!({"nbf": "123456789", "exp": exp}), Some(MalformedClaims)),
        ("TestParsePayloadNbfNotPositive", json!({"nbf": -12345, "exp": exp}), Some(DateOutOfRange)),
        ("TestParsePayloadNbfTooBig", json!({"nbf": 2.001e206, "exp": exp}), Some(DateOutOfRange)),
        ("TestParsePayloadExpNotInteger", json!({"exp": "123456789"}), Some(MalformedClaims)),
        ("TestParsePayloadExpNotPositive", json!({"exp": -12345}), Some(DateOutOfRange)),
        ("TestParsePayloadExpTooBig", json!({"exp": 2.001e206}), Some(DateOutOfRange)),
        ("TestParsePayloadJtiNotString", json!({"jti": 1234567, "exp": exp}), Some(MalformedClaims)),
        ("TestParsePayloadAudInteger", json!({"aud": 1234567, "exp": exp}), Some(MalformedClaims)),
        ("TestParsePayloadAudIntegerList", json!({"aud": [1, 2], "exp": exp}), Some(MalformedClaims)),
    ];
    let gw = gateway(config(json!({
        "keys": [{"alg": "HS256", "secret": HS256_SECRET}],
    })));
    let mut tally = Tally::default();
    for (test, claims, want) in rows {
        let envoy = if test == "TestParsePayloadIatDecimalsDrop" {
            Accept
        } else {
            Refuse
        };
        let v = run(&gw, &hs256(claims), NOW);
        assert_eq!(v.rejection, want, "jwt_test.cc {test}: {v:?}");
        tally.record(test, envoy, outcome(&v), "");
    }
    tally.assert(15, 15, 0);
}

// ---- token format: jwt_test.cc (parse errors, long claims) ----

#[test]
fn token_format_decides_as_jwt_verify_lib() {
    let k = keys();
    let gw = gateway(config(json!({
        "keys": [{"alg": "HS256", "secret": HS256_SECRET}],
    })));
    let claims = b64(json!({"sub": "test", "exp": NOW + 300})
        .to_string()
        .as_bytes());
    let header = |h: &str| b64(h.as_bytes());
    let sig = b64(b"TestSignature");
    let good = k.token("HS256", json!({}), json!({"exp": NOW + 300}));
    let long_sub = k.token(
        "HS256",
        json!({}),
        json!({"sub": "xyz".repeat(2667), "exp": NOW + 300}),
    );
    // (test, token, jwt_verify_lib's outcome, why jwtgate differs)
    let rows: Vec<(&str, String, Outcome, &str)> = vec![
        ("TestEmptyJwt", String::new(), Refuse, ""),
        (
            "TestTooManySections",
            "aaa.bbb.ccc.ddd.eee".into(),
            Refuse,
            "",
        ),
        ("TestTooLargeJwt", "c".repeat(10240), Refuse, ""),
        (
            "TestParseHeaderBadBase64",
            format!("{}+.{claims}.{sig}", header(r#"{"alg":"HS256"}"#)),
            Refuse,
            "",
        ),
        (
            "TestParseHeaderBadJson",
            format!(
                "{}.{claims}.{sig}",
                header(r#"{"alg":"HS256", this is not json}"#)
            ),
            Refuse,
            "",
        ),
        (
            "TestParseHeaderAbsentAlg",
            format!("{}.{claims}.{sig}", header(r#"{"typ":"JWT"}"#)),
            Refuse,
            "",
        ),
        (
            "TestParseHeaderAlgIsNotString",
            format!("{}.{claims}.{sig}", header(r#"{"alg":256}"#)),
            Refuse,
            "",
        ),
        (
            "TestParseHeaderInvalidAlg",
            format!("{}.{claims}.{sig}", header(r#"{"alg":"InvalidAlg"}"#)),
            Refuse,
            "",
        ),
        (
            "TestParseHeaderBadFormatKid",
            k.token("HS256", json!({"kid": 1}), json!({"exp": NOW + 300})),
            Refuse,
            "",
        ),
        (
            "TestParsePayloadBadBase64",
            format!(
                "{}.{}+.{sig}",
                header(r#"{"alg":"HS256"}"#),
                b64(b"not json")
            ),
            Refuse,
            "",
        ),
        (
            "TestParsePayloadBadJson",
            format!(
                "{}.{}.{sig}",
                header(r#"{"alg":"HS256"}"#),
                b64(b"not json")
            ),
            Refuse,
            "",
        ),
        (
            "InvalidSignature",
            format!("{}.invalid-signature", good.rsplit_once('.').unwrap().0),
            Refuse,
            "",
        ),
        ("GoodJwt", good.clone(), Accept, ""),
        (
            // jwtgate bounds the bytes it parses per token (`max_token_bytes`, 8192 by
            // default, configurable up to 64 KiB): an 8000-character claim needs it raised.
            "GoodJwtLongClaim",
            long_sub.clone(),
            Accept,
            "max_token_bytes bounds hostile input (8192 by default)",
        ),
    ];
    let mut tally = Tally::default();
    for (test, token, envoy, why) in rows {
        let v = run(&gw, &token, NOW);
        let jwtgate = if why.is_empty() { envoy } else { Refuse };
        assert_eq!(outcome(&v), jwtgate, "jwt_test.cc {test}: {v:?}");
        tally.record(test, envoy, jwtgate, why);
    }
    tally.assert(14, 13, 1);

    // The long claim passes once max_token_bytes allows it.
    let mut raised = config(json!({
        "keys": [{"alg": "HS256", "secret": HS256_SECRET}],
    }));
    raised["max_token_bytes"] = json!(16384);
    assert_eq!(outcome(&run(&gateway(raised), &long_sub, NOW)), Accept);
}

// ---- JWK members: jwks_test.cc ----

/// A local JWKS of these members, or the configuration error (its path and message).
fn local_jwks(members: &[Value]) -> Result<Gateway, String> {
    let cfg = config(json!({
        "local_jwks": {"inline_string": json!({"keys": members}).to_string()},
    }));
    Gateway::from_json(cfg.to_string().as_bytes()).map_err(|e| e.to_string())
}

#[test]
fn jwk_members_decide_as_jwt_verify_lib() {
    let k = keys();
    // A P-256-length coordinate pair that is not a point of the curve.
    let off_curve = json!({"x": b64(&[1u8; 32]), "y": b64(&[2u8; 32])});
    // An RSA modulus in standard base64 (`+`, `/`), not base64url.
    let n_std = base64::engine::general_purpose::STANDARD_NO_PAD
        .encode(b64_decode(k.jwk("RS256")["n"].as_str().unwrap()));
    assert!(
        n_std.contains(['+', '/']),
        "the modulus needs a non-url character"
    );
    let with = |alg: &str, extra: Value| k.jwk_with(alg, extra);
    let without = |alg: &str, extra: Value, drop: &[&str]| {
        let mut jwk = k.jwk_with(alg, extra);
        for d in drop {
            jwk.as_object_mut().unwrap().remove(*d);
        }
        jwk
    };
    let crv_by_design = "RFC 7518 §6.2.1.1: `crv` is required; jwtgate does not guess the curve";

    struct Row {
        test: &'static str,
        members: Vec<Value>,
        /// Algorithms whose token must verify when the set is accepted.
        verifies: Vec<&'static str>,
        envoy: Outcome,
        why: &'static str,
    }
    let row = |test, members, verifies: &[&'static str], envoy| Row {
        test,
        members,
        verifies: verifies.to_vec(),
        envoy,
        why: "",
    };
    #[rustfmt::skip]
    let rows = vec![
        row(
            "GoodJwks",
            vec![
                with("RS256", json!({"alg": "RS256", "use": "sig", "kid": "a"})),
                with("RS256", json!({"alg": "RS256", "use": "sig", "kid": "b"})),
            ],
            &["RS256"],
            Accept,
        ),
        row(
            "GoodEC",
            vec![
                with("ES256", json!({"alg": "ES256", "kid": "abc"})),
                with("ES256-other", json!({"alg": "ES256", "kid": "xyz"})),
                with("ES384", json!({"alg": "ES384", "kid": "es384"})),
                with("ES512", json!({"alg": "ES512", "kid": "es512"})),
            ],
            &["ES256", "ES384", "ES512"],
            Accept,
        ),
        row("GoodOKP", vec![with("EdDSA", json!({"alg": "EdDSA", "kid": "abc"}))], &["EdDSA"], Accept),
        row("JwksInvalidKty", vec![with("ES256", json!({"kty": "XYZ", "alg": "ES256"}))], &[], Refuse),
        // The JWK of the test has no key material; here the members are complete, so only the
        // alg/kty mismatch is wrong.
        row("JwksMismatchKty1", vec![with("RS256", json!({"alg": "ES256"}))], &[], Refuse),
        row("JwksMismatchKty2", vec![with("ES256", json!({"alg": "RS256"}))], &[], Refuse),
        row(
            "JwksIgnoreUnsupportedKey",
            vec![
                with("EdDSA", json!({"alg": "EdDSA", "kid": "one"})),
                json!({"kty": "OKP", "crv": "X25519", "x": b64(&[9u8; 32]), "alg": "EdDSA", "kid": "two"}),
            ],
            &["EdDSA"],
            Accept,
        ),
        row(
            "JwksIgnoreUnsupportedKeyInMiddle",
            vec![
                with("EdDSA", json!({"alg": "EdDSA", "kid": "one"})),
                json!({"kty": "OKP", "crv": "X25519", "x": b64(&[9u8; 32]), "alg": "EdDSA", "kid": "two"}),
                with("ES256", json!({"alg": "ES256", "kid": "three"})),
            ],
            &["EdDSA", "ES256"],
            Accept,
        ),
        row(
            "JwksIgnoreUnsupportedKeySolo",
            vec![json!({"kty": "OKP", "crv": "X25519", "x": b64(&[9u8; 32]), "alg": "EdDSA"})],
            &[],
            Refuse,
        ),
        row("JwksECNoXY", vec![json!({"kty": "EC", "alg": "ES256"})], &[], Refuse),
        row("JwksRSANoNE", vec![json!({"kty": "RSA", "alg": "RS256"})], &[], Refuse),
        row("JwksRSAKeyBadN", vec![json!({"kty": "RSA", "alg": "RS256", "n": 1234})], &[], Refuse),
        row("JwksRSAKeyMissingE", vec![without("RS256", json!({"alg": "RS256"}), &["e"])], &[], Refuse),
        row("JwksRSAKeyBadE", vec![with("RS256", json!({"alg": "RS256", "e": 1234}))], &[], Refuse),
        row("JwksECXYBadBase64", vec![with("ES256", json!({"alg": "ES256", "x": "~}}"}))], &[], Refuse),
        row(
            "JwksECWrongXY",
            vec![with("ES256", json!({"alg": "ES256", "x": off_curve["x"], "y": off_curve["y"]}))],
            &[],
            Refuse,
        ),
        // Too short a modulus (a few bytes), as in the test.
        row(
            "JwksRSAWrongNE",
            vec![json!({"kty": "RSA", "alg": "RS256", "n": b64(&[0xc5; 17]), "e": b64(&[0xf7; 19])})],
            &[],
            Refuse,
        ),
        row("JwksRSAInvalidN", vec![with("RS256", json!({"alg": "RS256", "n": n_std}))], &[], Refuse),
        row("JwksOKPXBadBase64", vec![with("EdDSA", json!({"x": "~}}"}))], &[], Refuse),
        row("JwksOKPXWrongLength", vec![with("EdDSA", json!({"x": b64(b"test\n")}))], &[], Refuse),
        row("JwksECMatchAlgES256WrongCrvType", vec![with("ES256", json!({"alg": "ES256", "crv": 1234}))], &[], Refuse),
        row("JwksECMatchAlgES256WrongXType", vec![with("ES256", json!({"alg": "ES256", "x": 1234}))], &[], Refuse),
        row("JwksECMatchAlgES256WrongMissingY", vec![without("ES256", json!({"alg": "ES256"}), &["y"])], &[], Refuse),
        row("JwksECMatchAlgES256WrongBadY", vec![with("ES256", json!({"alg": "ES256", "y": 1234}))], &[], Refuse),
        row("JwksJwkMissingKty", vec![without("ES256", json!({"alg": "ES256"}), &["kty"])], &[], Refuse),
        row("JwksJwkBadKty", vec![with("ES256", json!({"alg": "ES256", "kty": 1234}))], &[], Refuse),
        row("JwksJwkOctBadAlg", vec![with("HS256", json!({"alg": "HS333"}))], &[], Refuse),
        row("JwksJwkOctBadMissingK", vec![without("HS256", json!({"alg": "HS256", "use": "sig"}), &["k"])], &[], Refuse),
        row("JwksJwkOctBadK", vec![with("HS256", json!({"alg": "HS256", "use": "sig", "k": 12345}))], &[], Refuse),
        row("JwksJwkOctBadBase64", vec![with("HS256", json!({"alg": "HS256", "use": "sig", "k": "12345"}))], &[], Refuse),
        row("JwksECMatchAlgES256CrvP256", vec![with("ES256", json!({"alg": "ES256"}))], &["ES256"], Accept),
        row("JwksECMatchAlgES384CrvP384", vec![with("ES384", json!({"alg": "ES384"}))], &["ES384"], Accept),
        row("JwksECMatchAlgES512CrvP521", vec![with("ES512", json!({"alg": "ES512"}))], &["ES512"], Accept),
        Row {
            why: crv_by_design,
            ..row("JwksECMissingBothAlgCrvES256", vec![without("ES256", json!({}), &["crv"])], &[], Accept)
        },
        row("JwksECMissingBothAlgES384", vec![without("ES384", json!({}), &["crv"])], &[], Refuse),
        row("JwksECMismatchAlgCrv1", vec![with("ES384", json!({"alg": "ES256"}))], &[], Refuse),
        row("JwkECMissingAlg", vec![with("ES512", json!({"kid": "k", "use": "sig"}))], &["ES512"], Accept),
        Row {
            why: crv_by_design,
            ..row("JwkECMissingCrv", vec![without("ES512", json!({"alg": "ES512", "use": "sig"}), &["crv"])], &[], Accept)
        },
        row("JwksECMismatchAlgCrv2", vec![with("ES512", json!({"alg": "ES384"}))], &[], Refuse),
        row("JwksECMismatchAlgCrv3", vec![with("ES256", json!({"alg": "ES512"}))], &[], Refuse),
        row("JwksECNotSupportedAlg", vec![json!({"kty": "EC", "alg": "ES1024"})], &[], Refuse),
        row("JwksECNotSupportedCrv", vec![json!({"kty": "EC", "crv": "P-1024"})], &[], Refuse),
        Row {
            why: crv_by_design,
            ..row(
                "JwksECUnspecifiedCrv",
                vec![
                    without("ES256", json!({"alg": "ES256"}), &["crv"]),
                    without("ES384", json!({"alg": "ES384"}), &["crv"]),
                    without("ES512", json!({"alg": "ES512"}), &["crv"]),
                ],
                &[],
                Accept,
            )
        },
        row("JwksOKPKeyBadAlg", vec![with("EdDSA", json!({"alg": "ES256"}))], &[], Refuse),
        row("JwksOKPKeyMissingCrv", vec![without("EdDSA", json!({"alg": "EdDSA"}), &["crv"])], &[], Refuse),
        row("JwksOKPKeyBadCrv", vec![with("EdDSA", json!({"alg": "EdDSA", "crv": 0}))], &[], Refuse),
        row("JwksOKPKeyCrvUnsupported", vec![with("EdDSA", json!({"alg": "EdDSA", "crv": "Ed448"}))], &[], Refuse),
        row("JwksOKPKeyMissingX", vec![without("EdDSA", json!({"alg": "EdDSA"}), &["x"])], &[], Refuse),
        row("JwksOKPKeyBadX", vec![with("EdDSA", json!({"alg": "EdDSA", "x": 0}))], &[], Refuse),
    ];

    let mut tally = Tally::default();
    for r in rows {
        let unbuilt = r.verifies.iter().any(|alg| !built(alg));
        let result = local_jwks(&r.members);
        let jwtgate = if result.is_ok() { Accept } else { Refuse };
        let want = if r.why.is_empty() { r.envoy } else { Refuse };
        match &result {
            Ok(gw) => {
                for alg in r.verifies.iter().filter(|alg| built(alg)) {
                    let t = k.token(alg, json!({}), json!({"exp": NOW + 300}));
                    assert_eq!(
                        outcome(&run(gw, &t, NOW)),
                        Accept,
                        "jwks_test.cc {}: {alg}",
                        r.test
                    );
                }
            }
            // A refused set names the local JWKS, and each member it could not use.
            Err(e) => assert!(
                e.starts_with("providers.p.local_jwks") && e.contains("keys[0]"),
                "jwks_test.cc {}: {e}",
                r.test
            ),
        }
        if unbuilt && r.verifies.iter().all(|alg| !built(alg)) {
            // Without the es384/es512 features the set has no key this build verifies.
            assert_eq!(jwtgate, Refuse, "jwks_test.cc {}", r.test);
            continue;
        }
        assert_eq!(jwtgate, want, "jwks_test.cc {}: {:?}", r.test, result.err());
        tally.record(r.test, r.envoy, jwtgate, r.why);
    }
    if built("ES384") && built("ES512") {
        tally.assert(49, 46, 3);
    }
}

fn b64_decode(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

// ---- signatures and kid: verify_jwk_{rsa,rsa_pss,ec,hmac,okp}_test.cc ----

#[test]
fn signatures_and_kids_decide_as_jwt_verify_lib() {
    let k = keys();
    let exp = json!({"exp": NOW + 300});
    let mut tally = Tally::default();
    let mut check = |test: String, members: Vec<Value>, token: String, envoy: Outcome| {
        let gw = local_jwks(&members).unwrap_or_else(|e| panic!("{test}: {e}"));
        let v = run(&gw, &token, NOW);
        assert_eq!(outcome(&v), envoy, "{test}: {v:?}");
        tally.record(&test, envoy, outcome(&v), "");
    };
    // Each family's set: the key (kid k1, with alg) and a key of another family (kid k2).
    let set = |alg: &str, kid: Option<&str>, with_alg: bool| {
        let mut jwk = k.jwk(alg);
        if let Some(kid) = kid {
            jwk["kid"] = json!(kid);
        }
        if with_alg {
            jwk["alg"] = json!(alg);
        }
        let other = if alg == "EdDSA" { "ES256" } else { "EdDSA" };
        vec![jwk, k.jwk_with(other, json!({"kid": "k2"}))]
    };
    // Right kid, for every algorithm (CorrectKidOK, CorrectKidHS384OK, KidES384OK, the PSS file…).
    for alg in [
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "HS256",
        "HS384", "HS512", "EdDSA",
    ]
    .into_iter()
    .filter(|alg| built(alg))
    {
        let t = k.token(alg, json!({"kid": "k1"}), exp.clone());
        check(
            format!("{alg} CorrectKidOK"),
            set(alg, Some("k1"), true),
            t,
            Accept,
        );
    }
    for alg in ["RS256", "ES256", "HS256", "EdDSA"] {
        let t = k.token(alg, json!({}), exp.clone());
        check(
            format!("{alg} NoKidOK"),
            set(alg, Some("k1"), true),
            t.clone(),
            Accept,
        );
        let t_kid = k.token(alg, json!({"kid": "k1"}), exp.clone());
        check(
            format!("{alg} PubkeyNoAlgOK"),
            set(alg, Some("k1"), false),
            t_kid.clone(),
            Accept,
        );
        check(
            format!("{alg} PubkeyNoKidOK"),
            set(alg, None, true),
            t_kid.clone(),
            Accept,
        );
        let t_none = k.token(alg, json!({"kid": "blahblahblah"}), exp.clone());
        check(
            format!("{alg} NonExistKidFail"),
            set(alg, Some("k1"), true),
            t_none,
            Refuse,
        );
        // fuzzJwtSignature: any changed signature bit fails.
        let (input, sig) = t_kid.rsplit_once('.').unwrap();
        let mut sig = b64_decode(sig);
        sig[0] ^= 1;
        let flipped = format!("{input}.{}", b64(&sig));
        check(
            format!("{alg} fuzzJwtSignature"),
            set(alg, Some("k1"), true),
            flipped,
            Refuse,
        );
    }
    // verify_jwk_okp_test.cc WrongSignatureFail (signed by another key) and the wrong-length
    // signature of KidOK.
    let other = k.token_as("EdDSA", "EdDSA-other", json!({"kid": "k1"}), exp.clone());
    check(
        "EdDSA WrongSignatureFail".into(),
        set("EdDSA", Some("k1"), true),
        other,
        Refuse,
    );
    let t = k.token("EdDSA", json!({"kid": "k1"}), exp.clone());
    let short = format!("{}.{}", t.rsplit_once('.').unwrap().0, b64(&[7u8; 63]));
    check(
        "EdDSA Ed25519SignatureWrongLength".into(),
        set("EdDSA", Some("k1"), true),
        short,
        Refuse,
    );
    if built("ES384") && built("ES512") {
        tally.assert(35, 35, 0);
    }
}

// ---- a partial local JWKS (issue 20): the usable members are kept ----

/// 32 bytes that are not the encoding of an Ed25519 point.
fn not_an_ed25519_point() -> Vec<u8> {
    (0u8..=255)
        .map(|b| {
            let mut x = [b; 32];
            x[31] &= 0x7f;
            x
        })
        .find(|x| ed25519_dalek::VerifyingKey::from_bytes(x).is_err())
        .expect("some y has no x")
        .to_vec()
}

#[test]
fn one_unusable_local_jwks_member_is_a_warning_and_the_others_verify() {
    let k = keys();
    let bad_members = [
        // issue 20's two examples: an Ed25519 `x` not on the curve; an EC key without `crv`.
        (
            json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&not_an_ed25519_point())}),
            "not an Ed25519 point",
        ),
        (without_crv(&k), "`crv` is missing"),
        (
            json!({"kty": "RSA", "n": 1234, "e": "AQAB"}),
            "`n` must be a string",
        ),
        (json!("not a JWK"), "a JWK must be an object"),
        (
            json!({"kty": "OKP", "crv": "X448", "x": "AA"}),
            "not a signature key",
        ),
    ];
    for (bad, why) in bad_members {
        let members = vec![
            k.jwk_with("RS256", json!({"kid": "r"})),
            bad.clone(),
            k.jwk_with("EdDSA", json!({"kid": "e"})),
        ];
        let gw = local_jwks(&members).unwrap_or_else(|e| panic!("{bad}: {e}"));
        assert_eq!(gw.warnings().len(), 1, "{:?}", gw.warnings());
        let warning = &gw.warnings()[0];
        assert!(
            warning.starts_with("providers.p.local_jwks.keys[1]: ") && warning.contains(why),
            "{warning}"
        );
        for (alg, kid) in [("RS256", "r"), ("EdDSA", "e")] {
            let t = k.token(alg, json!({"kid": kid}), json!({"exp": NOW + 300}));
            assert_eq!(outcome(&run(&gw, &t, NOW)), Accept, "{bad}: {alg}");
        }
    }
}

fn without_crv(k: &Keys) -> Value {
    let mut jwk = k.jwk("ES256");
    jwk.as_object_mut().unwrap().remove("crv");
    jwk
}

#[test]
fn a_local_jwks_without_a_usable_member_is_an_error_naming_each() {
    let k = keys();
    let members = vec![
        json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&not_an_ed25519_point())}),
        without_crv(&k),
    ];
    let e = local_jwks(&members).expect_err("no usable key");
    assert!(e.starts_with("providers.p.local_jwks: "), "{e}");
    assert!(e.contains("no usable signature key"), "{e}");
    assert!(
        e.contains("local_jwks.keys[0]: not an Ed25519 point"),
        "{e}"
    );
    assert!(e.contains("local_jwks.keys[1]: `crv` is missing"), "{e}");
}

#[test]
fn local_jwks_members_for_other_uses_are_skipped_without_a_warning() {
    let k = keys();
    let members = vec![
        json!({"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"}),
        json!({"kty": "RSA", "key_ops": ["encrypt"], "n": "AQAB", "e": "AQAB"}),
        k.jwk_with("ES256", json!({"kid": "s"})),
    ];
    let gw = local_jwks(&members).unwrap();
    assert!(gw.warnings().is_empty(), "{:?}", gw.warnings());
}

#[test]
fn private_key_material_and_bad_symmetric_members_stay_errors() {
    let k = keys();
    // A leaked private key is removed, not skipped; an `oct` member is an HMAC secret, held to
    // the same rule as inline `keys` (at least the hash length), as before issue 20.
    for bad in [
        k.jwk_with("RS256", json!({"d": "AQAB"})),
        json!({"kty": "oct", "k": b64(b"short")}),
        json!({"kty": "oct"}),
    ] {
        let members = vec![bad.clone(), k.jwk_with("EdDSA", json!({"kid": "e"}))];
        let e = local_jwks(&members)
            .err()
            .unwrap_or_else(|| panic!("accepted {bad}"));
        assert!(e.starts_with("providers.p.local_jwks.keys[0]: "), "{e}");
    }
    // A usable `oct` member is a key, as before.
    let gw = local_jwks(&[k.jwk_with("HS256", json!({"kid": "h"}))]).unwrap();
    let t = k.token("HS256", json!({"kid": "h"}), json!({"exp": NOW + 300}));
    assert_eq!(outcome(&run(&gw, &t, NOW)), Accept);
}

// ---- PEM keys: jwks_test.cc (goodPEM*, Pem*), as jwtgate's `keys[].pem` ----

#[test]
fn pem_keys_decide_as_jwt_verify_lib() {
    use p256::pkcs8::{EncodePublicKey, LineEnding};
    let k = keys();
    let rsa_pem = rsa::RsaPublicKey::from(&k.rsa)
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let ec_pem = k
        .p256
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let ed_pem = k
        .ed25519
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    // A SubjectPublicKeyInfo of a DSA key (OID 1.2.840.10040.4.1) with a stand-in key.
    let dsa_spki = [
        0x30, 0x11, 0x30, 0x09, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x38, 0x04, 0x01, 0x03, 0x04,
        0x00, 0x02, 0x01, 0x05,
    ];
    let dsa_pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(dsa_spki)
    );
    // (test, PEM, algorithm whose token it verifies when accepted, jwt_verify_lib's outcome)
    #[rustfmt::skip]
    let rows: Vec<(&str, String, Option<&str>, Outcome)> = vec![
        ("goodPEMRSA", rsa_pem.clone(), Some("RS256"), Accept),
        ("goodPEMEC", ec_pem, Some("ES256"), Accept),
        ("goodPEMEd25519", ed_pem, Some("EdDSA"), Accept),
        ("PemWrongHeader", rsa_pem.replace("PUBLIC KEY", "CERTIFICATE KEY"), None, Refuse),
        ("PemInvalidKey", "-----BEGIN PUBLIC KEY-----\nbad-pub-key\n-----END PUBLIC KEY-----\n".into(), None, Refuse),
        ("PemDsaUnimplimented", dsa_pem, None, Refuse),
    ];
    let mut tally = Tally::default();
    for (test, pem, alg, envoy) in rows {
        let cfg = config(json!({"keys": [{"pem": pem}]}));
        let result = Gateway::from_json(cfg.to_string().as_bytes());
        match (&result, alg) {
            (Ok(gw), Some(alg)) => {
                let t = k.token(alg, json!({}), json!({"exp": NOW + 300}));
                assert_eq!(outcome(&run(gw, &t, NOW)), Accept, "jwks_test.cc {test}");
            }
            (Err(e), None) => assert_eq!(e.path, "providers.p.keys[0].pem", "{test}: {e}"),
            _ => panic!("jwks_test.cc {test}: {:?}", result.err()),
        }
        let jwtgate = if result.is_ok() { Accept } else { Refuse };
        tally.record(test, envoy, jwtgate, "");
    }
    tally.assert(6, 6, 0);
}
