//! Token profiles (issue 20): a provider's `typ` allow-list, `subjects`, `required_claims`,
//! escaped claim paths, arrays into claim headers, `audience_match`, and the JWKS fetch
//! settings (`request_headers`, load warnings for where keys are fetched from). Configuration →
//! decision natively; every refusal is asserted by its reason, status and challenge.
// A test (or measurement) program: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use jwt_compact::alg::{Hs256, Hs256Key};
use jwt_compact::{Algorithm, AlgorithmSignature};
use serde_json::{json, Value};

use jwtgate_core::cache::TokenCache;
use jwtgate_core::{Decision, Gateway, HeaderOp, Rejection, Request, Verdict};

mod common;
use common::{b64, gateway};

const NOW: u64 = 1_700_000_000;
const SECRET: &str = "0123456789abcdef0123456789abcdef";
const ISS: &str = "https://issuer.test";

/// An HS256 token with this header (without `alg`, added here) and these claims.
fn token(header: Value, claims: Value) -> String {
    let mut header = header;
    header["alg"] = json!("HS256");
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig = Hs256.sign(&Hs256Key::new(SECRET.as_bytes()), input.as_bytes());
    format!("{input}.{}", b64(&sig.as_bytes()))
}

fn claims() -> Value {
    json!({"iss": ISS, "aud": "api", "sub": "alice", "exp": NOW + 300})
}

fn with(extra: Value) -> Value {
    let mut c = claims();
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

/// One provider `p` (HS256, issuer, audience `api`) with `extra` fields, protecting `/`.
fn config(extra: Value) -> Value {
    let mut p = json!({
        "issuer": ISS,
        "audiences": ["api"],
        "keys": [{"alg": "HS256", "secret": SECRET}],
    });
    for (k, v) in extra.as_object().unwrap() {
        p[k] = v.clone();
    }
    json!({"providers": {"p": p}, "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}]})
}

fn run(gw: &Gateway, tok: &str) -> Verdict {
    let headers = vec![("authorization".to_string(), format!("Bearer {tok}"))];
    gw.decide(
        &Request {
            method: "GET",
            path: "/x",
            headers: &headers,
        },
        NOW,
    )
}

fn assert_passes(v: &Verdict) -> &Vec<HeaderOp> {
    match &v.decision {
        Decision::Forward(ops) if v.rejection.is_none() => ops,
        other => panic!("expected forward, got {other:?} ({:?})", v.rejection),
    }
}

/// Refused for `want`: its status, and for 401/403 its RFC 6750 error in the challenge.
fn assert_rejected(v: &Verdict, want: Rejection) {
    assert_eq!(v.rejection, Some(want), "{v:?}");
    let Decision::Respond(resp) = &v.decision else {
        panic!("expected a local response, got {:?}", v.decision)
    };
    assert_eq!(resp.status, want.status());
    let challenge = resp
        .headers
        .iter()
        .find(|(n, _)| n == "www-authenticate")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    if let Some(code) = want.bearer_error() {
        assert!(
            challenge.contains(&format!("error=\"{code}\"")),
            "{challenge}"
        );
    }
}

fn header<'a>(ops: &'a [HeaderOp], name: &str) -> Option<&'a str> {
    ops.iter().find_map(|op| match op {
        HeaderOp::Set(n, v) if n == name => Some(v.as_str()),
        _ => None,
    })
}

fn config_error(config: Value) -> String {
    match Gateway::from_json(config.to_string().as_bytes()) {
        Ok(_) => panic!("accepted: {config}"),
        Err(e) => e.path,
    }
}

#[test]
fn typ_allow_list_compares_media_types() {
    let gw = gateway(config(json!({"typ": ["at+jwt", "application/at+jwt"]})));
    for typ in [
        "at+jwt",
        "AT+JWT",
        "application/at+jwt",
        "Application/At+Jwt",
    ] {
        assert_passes(&run(&gw, &token(json!({ "typ": typ }), claims())));
    }
    for header in [
        json!({"typ": "JWT"}),
        json!({}),
        json!({"typ": "application/jwt"}),
        json!({"typ": "text/at+jwt"}),
        json!({"typ": "at+jwt; charset=utf-8"}),
        json!({"typ": ["at+jwt"]}),
        json!({"typ": null}),
    ] {
        assert_rejected(
            &run(&gw, &token(header, claims())),
            Rejection::TypNotAllowed,
        );
    }
    let v = run(&gw, &token(json!({"typ": "JWT"}), claims()));
    assert_eq!(Rejection::TypNotAllowed.name(), "typ_not_allowed");
    assert_eq!(Rejection::TypNotAllowed.status(), 401);
    assert_rejected(&v, Rejection::TypNotAllowed);
    // Without a list, `typ` is not looked at (today's behaviour).
    let open = gateway(config(json!({})));
    assert_passes(&run(&open, &token(json!({"typ": "JWT"}), claims())));
    assert_passes(&run(&open, &token(json!({}), claims())));
}

#[test]
fn profile_checks_come_after_the_signature_and_the_registered_claims() {
    let gw = gateway(config(json!({
        "typ": ["at+jwt"], "required_claims": ["client_id"], "subjects": {"exact": "alice"}})));
    // A forged token with every profile property right is a bad signature, not a pass.
    let good = token(json!({"typ": "at+jwt"}), with(json!({"client_id": "c"})));
    assert_passes(&run(&gw, &good));
    // The same header and claims under another key's signature.
    let (input, _) = good.rsplit_once('.').unwrap();
    let other = Hs256.sign(
        &Hs256Key::new(b"another-secret-0123456789abcdefgh"),
        input.as_bytes(),
    );
    let forged = format!("{input}.{}", b64(&other.as_bytes()));
    assert_rejected(&run(&gw, &forged), Rejection::InvalidSignature);
    // An expired token of the wrong type is expired first.
    let expired = token(json!({"typ": "JWT"}), with(json!({"exp": NOW - 3600})));
    assert_rejected(&run(&gw, &expired), Rejection::Expired);
    // Order among the profile checks: typ, required claims, subject.
    let all_wrong = token(json!({"typ": "JWT"}), with(json!({"sub": "bob"})));
    assert_rejected(&run(&gw, &all_wrong), Rejection::TypNotAllowed);
    let no_claim = token(json!({"typ": "at+jwt"}), with(json!({"sub": "bob"})));
    assert_rejected(&run(&gw, &no_claim), Rejection::MissingRequiredClaim);
    let other_sub = token(
        json!({"typ": "at+jwt"}),
        with(json!({"sub": "bob", "client_id": "c"})),
    );
    assert_rejected(&run(&gw, &other_sub), Rejection::SubjectNotAllowed);
}

#[test]
fn a_refused_profile_is_never_cached_as_verified() {
    let gw = gateway(config(json!({"typ": ["at+jwt"]})));
    let id_token = token(json!({"typ": "JWT"}), claims());
    let headers = vec![("authorization".to_string(), format!("Bearer {id_token}"))];
    let req = Request {
        method: "GET",
        path: "/",
        headers: &headers,
    };
    let mut cache = TokenCache::new(16, 1 << 20);
    for _ in 0..3 {
        let v = gw.decide_cached(&req, NOW, &mut cache);
        assert_rejected(&v, Rejection::TypNotAllowed);
    }
}

#[test]
fn subjects_take_every_string_matcher_form() {
    let cases = [
        (json!({"exact": "alice"}), "alice", true),
        (json!({"exact": "alice"}), "Alice", false),
        (
            json!({"exact": "alice", "ignore_case": true}),
            "ALICE",
            true,
        ),
        (
            json!({"prefix": "spiffe://cluster.local/ns/"}),
            "spiffe://cluster.local/ns/a/sa/b",
            true,
        ),
        (
            json!({"prefix": "spiffe://cluster.local/ns/"}),
            "spiffe://evil/ns/a",
            false,
        ),
        (json!({"suffix": "@corp.test"}), "bob@corp.test", true),
        (json!({"suffix": "@corp.test"}), "bob@corp.test.evil", false),
        (
            json!({"suffix": "@CORP.test", "ignore_case": true}),
            "bob@corp.TEST",
            true,
        ),
        (json!({"contains": "-svc-"}), "a-svc-b", true),
        (json!({"contains": "-svc-"}), "asvcb", false),
        (
            json!({"safe_regex": {"regex": "user-[0-9]+"}}),
            "user-42",
            true,
        ),
        // Whole-string match, as Envoy's RE2 full match.
        (
            json!({"safe_regex": {"regex": "user-[0-9]+"}}),
            "user-42-admin",
            false,
        ),
        (
            json!({"safe_regex": {"regex": "(?i)USER-[0-9]+", "google_re2": {}}}),
            "user-7",
            true,
        ),
    ];
    for (matcher, sub, passes) in cases {
        let gw = gateway(config(json!({ "subjects": matcher })));
        let v = run(&gw, &token(json!({}), with(json!({ "sub": sub }))));
        if passes {
            assert_passes(&v);
        } else {
            assert_rejected(&v, Rejection::SubjectNotAllowed);
        }
    }
    let gw = gateway(config(json!({"subjects": {"prefix": ""}})));
    // A token without `sub` has no subject to match (Envoy matches the empty string).
    assert_rejected(
        &run(&gw, &token(json!({}), with(json!({"sub": null})))),
        Rejection::SubjectNotAllowed,
    );
    // A non-string `sub` is malformed before any matcher sees it.
    assert_rejected(
        &run(&gw, &token(json!({}), with(json!({"sub": 7})))),
        Rejection::MalformedClaims,
    );
}

#[test]
fn required_claims_must_be_present_and_not_null() {
    let gw = gateway(config(json!({
        "required_claims": ["client_id", "realm_access.roles", "kubernetes\\.io.namespace"]})));
    let ok = with(json!({"client_id": "c", "realm_access": {"roles": []},
                         "kubernetes.io": {"namespace": "prod"}}));
    assert_passes(&run(&gw, &token(json!({}), ok.clone())));
    for (claim, value) in [
        ("client_id", Value::Null),
        ("realm_access", json!({})),
        ("realm_access", json!({"roles": null})),
        ("kubernetes.io", json!({"ns": "prod"})),
        ("kubernetes.io", json!("prod")),
    ] {
        let mut c = ok.clone();
        c[claim] = value.clone();
        if claim == "client_id" {
            c.as_object_mut().unwrap().remove("client_id");
        }
        assert_rejected(
            &run(&gw, &token(json!({}), c.clone())),
            Rejection::MissingRequiredClaim,
        );
        // A null value counts as absent too.
        if claim == "client_id" {
            c["client_id"] = Value::Null;
            assert_rejected(
                &run(&gw, &token(json!({}), c)),
                Rejection::MissingRequiredClaim,
            );
        }
    }
    // The nested object `kubernetes` → `io` is not the key `kubernetes.io`.
    let mut spoof = ok;
    spoof.as_object_mut().unwrap().remove("kubernetes.io");
    spoof["kubernetes"] = json!({"io": {"namespace": "prod"}});
    assert_rejected(
        &run(&gw, &token(json!({}), spoof)),
        Rejection::MissingRequiredClaim,
    );
}

#[test]
fn escaped_dots_in_claim_headers_and_conditions() {
    let mut cfg = config(json!({"claim_to_headers": [
        {"header_name": "x-namespace", "claim_name": "kubernetes\\.io.namespace"},
        {"header_name": "x-nested", "claim_name": "kubernetes.io.namespace"},
        {"header_name": "x-url-claim", "claim_name": "https://example\\.com/tenant"},
    ]}));
    cfg["rules"] = json!([
        {"match": {"prefix": "/prod"}, "requires": {"provider_name": "p", "claims": [
            {"claim": "kubernetes\\.io.namespace", "equals": "prod"}]}},
        {"match": {"prefix": "/"}, "requires": {"provider_name": "p"}},
    ]);
    let gw = gateway(cfg);
    let c = with(json!({
        "kubernetes.io": {"namespace": "prod"},
        "kubernetes": {"io": {"namespace": "other"}},
        "https://example.com/tenant": "t1",
    }));
    let tok = token(json!({}), c.clone());
    let v = run(&gw, &tok);
    let ops = assert_passes(&v);
    assert_eq!(header(ops, "x-namespace"), Some("prod"));
    assert_eq!(
        header(ops, "x-nested"),
        Some("other"),
        "unescaped: nested objects, as before"
    );
    assert_eq!(header(ops, "x-url-claim"), Some("t1"));

    let headers = vec![("authorization".to_string(), format!("Bearer {tok}"))];
    let req = |path| Request {
        method: "GET",
        path,
        headers: &headers,
    };
    assert_passes(&gw.decide(&req("/prod/x"), NOW));
    let mut staging = c;
    staging["kubernetes.io"] = json!({"namespace": "staging"});
    let staging = token(json!({}), staging);
    let headers = vec![("authorization".to_string(), format!("Bearer {staging}"))];
    let v = gw.decide(
        &Request {
            method: "GET",
            path: "/prod/x",
            headers: &headers,
        },
        NOW,
    );
    assert_rejected(&v, Rejection::ClaimsForbidden);
}

#[test]
fn arrays_of_strings_go_into_headers_comma_joined_or_refuse_the_token() {
    let gw = gateway(config(json!({"claim_to_headers": [
        {"header_name": "x-groups", "claim_name": "groups"}]})));
    let v = run(
        &gw,
        &token(
            json!({}),
            with(json!({"groups": ["eng", "ops", "on-call"]})),
        ),
    );
    assert_eq!(
        header(assert_passes(&v), "x-groups"),
        Some("eng,ops,on-call")
    );
    let v = run(&gw, &token(json!({}), with(json!({"groups": []}))));
    assert_eq!(header(assert_passes(&v), "x-groups"), None);
    for bad in [
        json!(["eng,admin"]),
        json!(["eng", ""]),
        json!(["eng", " admin"]),
        json!(["eng\r\nx-admin: 1"]),
        json!(["eng", ["admin"]]),
    ] {
        assert_rejected(
            &run(&gw, &token(json!({}), with(json!({ "groups": bad })))),
            Rejection::ClaimNotForwardable,
        );
    }
}

#[test]
fn audience_match_exact_by_default_envoy_when_asked() {
    let exact = gateway(config(json!({"audiences": ["https://api.test"]})));
    let envoy = gateway(config(
        json!({"audiences": ["https://api.test"], "audience_match": "envoy"}),
    ));
    let explicit_exact = gateway(config(
        json!({"audiences": ["https://api.test"], "audience_match": "exact"}),
    ));
    for aud in [
        json!("https://api.test/"),
        json!("http://api.test"),
        json!("api.test"),
        json!(["other", "api.test/"]),
    ] {
        let tok = token(json!({}), with(json!({ "aud": aud })));
        assert_passes(&run(&envoy, &tok));
        assert_rejected(&run(&exact, &tok), Rejection::AudienceNotAllowed);
        assert_rejected(&run(&explicit_exact, &tok), Rejection::AudienceNotAllowed);
    }
    for aud in [
        json!("https://api.test//"),
        json!("https://API.test"),
        json!("HTTPS://api.test"),
        json!("https://api.test/v1"),
        json!("wss://api.test"),
    ] {
        let tok = token(json!({}), with(json!({ "aud": aud })));
        assert_rejected(&run(&envoy, &tok), Rejection::AudienceNotAllowed);
    }
    let same = token(json!({}), with(json!({"aud": "https://api.test"})));
    assert_passes(&run(&exact, &same));
    assert_passes(&run(&envoy, &same));
    // `provider_and_audiences` audiences are compared the provider's way.
    let mut cfg = config(json!({"audience_match": "envoy"}));
    cfg["rules"] = json!([{"match": {"prefix": "/"}, "requires": {"provider_and_audiences": {
        "provider_name": "p", "audiences": ["https://orders.test/"]}}}]);
    let gw = gateway(cfg);
    assert_passes(&run(
        &gw,
        &token(json!({}), with(json!({"aud": "orders.test"}))),
    ));
    assert_rejected(
        &run(&gw, &token(json!({}), with(json!({"aud": "api"})))),
        Rejection::AudienceNotAllowed,
    );
}

fn remote(extra: Value) -> Value {
    let mut r = json!({"http_uri": {"uri": "https://idp.example.com/jwks.json", "cluster": "idp"}});
    for (k, v) in extra.as_object().unwrap() {
        r[k] = v.clone();
    }
    json!({"providers": {"p": {"issuer": ISS, "remote_jwks": r}},
           "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}]})
}

#[test]
fn configuration_errors_name_the_field() {
    let cases = [
        (config(json!({"typ": []})), "providers.p.typ"),
        (
            config(json!({"typ": ["at+jwt", "at jwt"]})),
            "providers.p.typ[1]",
        ),
        (config(json!({"typ": [""]})), "providers.p.typ[0]"),
        (config(json!({"typ": "at+jwt"})), "providers.p.typ"),
        (config(json!({"subjects": {}})), "providers.p.subjects"),
        (
            config(json!({"subjects": {"exact": "a", "prefix": "b"}})),
            "providers.p.subjects",
        ),
        (
            config(json!({"subjects": {"safe_regex": {"regex": "("}}})),
            "providers.p.subjects.safe_regex.regex",
        ),
        (
            config(json!({"subjects": {"safe_regex": {"regex": "a"}, "ignore_case": true}})),
            "providers.p.subjects.ignore_case",
        ),
        (
            config(json!({"subjects": {"regex": "a"}})),
            "providers.p.subjects.regex",
        ),
        (
            config(json!({"required_claims": ["a", ""]})),
            "providers.p.required_claims[1]",
        ),
        (
            config(json!({"required_claims": ["kubernetes\\io"]})),
            "providers.p.required_claims[0]",
        ),
        (
            config(json!({"claim_to_headers": [{"header_name": "x-a", "claim_name": "a\\.b."}]})),
            "providers.p.claim_to_headers[0].claim_name",
        ),
        (
            config(json!({"audience_match": "loose"})),
            "providers.p.audience_match",
        ),
        (
            remote(json!({"request_headers": [{"name": ":authority", "value": "x"}]})),
            "providers.p.remote_jwks.request_headers[0].name",
        ),
        (
            remote(json!({"request_headers": [{"name": "Host", "value": "evil.test"}]})),
            "providers.p.remote_jwks.request_headers[0].name",
        ),
        (
            remote(json!({"request_headers": [{"name": "transfer-encoding", "value": "chunked"}]})),
            "providers.p.remote_jwks.request_headers[0].name",
        ),
        (
            remote(json!({"request_headers": [{"name": "x a", "value": "1"}]})),
            "providers.p.remote_jwks.request_headers[0].name",
        ),
        (
            remote(json!({"request_headers": [
                {"name": "x-key", "value": "1"}, {"name": "X-Key", "value": "2"}]})),
            "providers.p.remote_jwks.request_headers[1].name",
        ),
        (
            remote(json!({"request_headers": [{"name": "x-key", "value": "a\r\nx-admin: 1"}]})),
            "providers.p.remote_jwks.request_headers[0].value",
        ),
        (
            remote(json!({"request_headers": [{"name": "x-key", "value": ""}]})),
            "providers.p.remote_jwks.request_headers[0].value",
        ),
        (
            remote(json!({"request_headers": [{"name": "x-key", "value": " padded"}]})),
            "providers.p.remote_jwks.request_headers[0].value",
        ),
        (
            remote(json!({"request_headers": [{"name": "x-key", "value": "caf\u{e9}"}]})),
            "providers.p.remote_jwks.request_headers[0].value",
        ),
        (
            remote(json!({"request_headers": [{"name": "x-key"}]})),
            "providers.p.remote_jwks.request_headers[0]",
        ),
        (
            remote(json!({"request_headers": (0..17)
                .map(|i| json!({"name": format!("x-h{i}"), "value": "1"}))
                .collect::<Vec<_>>()})),
            "providers.p.remote_jwks.request_headers",
        ),
    ];
    for (config, path) in cases {
        assert_eq!(config_error(config.clone()), path, "{config}");
    }
    let mut cond = config(json!({}));
    cond["rules"][0]["requires"]["claims"] = json!([{"claim": "a\\x", "present": true}]);
    assert_eq!(config_error(cond), "rules[0].requires.claims[0].claim");
    // The accepted forms load.
    gateway(remote(json!({"request_headers": [
        {"name": "X-Api-Key", "value": "k 1"}, {"name": "user-agent", "value": "corp/1"}]})));
}

#[test]
fn fetch_uris_that_reach_inside_are_load_warnings() {
    let warnings = |uri: &str| {
        let mut cfg = remote(json!({}));
        cfg["providers"]["p"]["remote_jwks"]["http_uri"]["uri"] = json!(uri);
        gateway(cfg).warnings().to_vec()
    };
    assert_eq!(
        warnings("https://idp.example.com/jwks.json"),
        Vec::<String>::new()
    );
    for (uri, words) in [
        ("https://127.0.0.1:8443/jwks", vec!["loopback"]),
        ("http://localhost:8080/jwks", vec!["loopback"]),
        (
            "http://169.254.169.254/latest/meta-data/",
            vec!["link-local", "plain http"],
        ),
        ("https://[fe80::1]/jwks", vec!["link-local"]),
        ("https://10.0.0.5/jwks", vec!["private"]),
        ("https://172.20.1.1/jwks", vec!["private"]),
        ("https://192.168.0.10/jwks", vec!["private"]),
        ("https://[fd00::10]:8443/jwks", vec!["private"]),
        ("http://idp.example.com/jwks", vec!["plain http"]),
        ("https://2130706433/jwks", vec!["numeric host"]),
    ] {
        let found = warnings(uri);
        assert_eq!(found.len(), words.len(), "{uri}: {found:?}");
        for (w, word) in found.iter().zip(words) {
            assert!(
                w.starts_with("providers.p.remote_jwks.http_uri.uri: ") && w.contains(word),
                "{uri}: {w}"
            );
        }
    }
}

/// Providers with `remote_jwks` (never fetched natively: their keys are unavailable) and
/// these `on_keys_unavailable` policies, the rule requiring any of them.
fn outage(policies: &[Option<&str>], global: Option<u32>) -> Gateway {
    let mut providers = serde_json::Map::new();
    let mut names = Vec::new();
    for (i, policy) in policies.iter().enumerate() {
        let mut p = remote(json!({}))["providers"]["p"].clone();
        if let Some(policy) = policy {
            p["on_keys_unavailable"] = json!(policy);
        }
        providers.insert(format!("p{i}"), p);
        names.push(json!({"provider_name": format!("p{i}")}));
    }
    let mut cfg = json!({"providers": providers,
        "rules": [{"match": {"prefix": "/"}, "requires": {"requires_any": {"requirements": names}}}]});
    if let Some(status) = global {
        cfg["jwks_unavailable_status"] = json!(status);
    }
    gateway(cfg)
}

#[test]
fn on_keys_unavailable_chooses_the_status_per_provider() {
    let tok = token(json!({}), claims());
    for (policies, global, status) in [
        (vec![None], None, 401),
        (vec![None], Some(503), 503),
        (vec![Some("deny")], None, 401),
        (vec![Some("deny")], Some(503), 401),
        (vec![Some("unavailable")], None, 503),
        (vec![Some("unavailable")], Some(401), 503),
        (vec![Some("deny"), Some("unavailable")], None, 503),
        (vec![Some("deny"), None], Some(503), 503),
        (vec![Some("deny"), Some("deny")], Some(503), 401),
    ] {
        let v = run(&outage(&policies, global), &tok);
        assert_eq!(
            v.rejection,
            Some(Rejection::KeysUnavailable),
            "{policies:?}"
        );
        let Decision::Respond(resp) = &v.decision else {
            panic!("{policies:?}: {:?}", v.decision)
        };
        assert_eq!(resp.status, status, "{policies:?} global {global:?}");
        // The log line says what the client got.
        assert!(
            v.log_line("GET", "/x")
                .contains(&format!("deny status={status} reason=keys_unavailable")),
            "{}",
            v.log_line("GET", "/x")
        );
        // Told apart from a bad token: its own reason and description.
        assert!(
            resp.body.contains("the signing keys are not available"),
            "{}",
            resp.body
        );
    }
    // No token is still a missing token, whatever the key policy.
    let gw = outage(&[Some("unavailable")], None);
    let v = gw.decide(
        &Request {
            method: "GET",
            path: "/",
            headers: &[],
        },
        NOW,
    );
    assert_eq!(v.rejection, Some(Rejection::MissingToken));
    // Only with remote_jwks; only the three policies.
    assert_eq!(
        config_error(config(json!({"on_keys_unavailable": "unavailable"}))),
        "providers.p.on_keys_unavailable"
    );
    let mut cfg = remote(json!({}));
    cfg["providers"]["p"]["on_keys_unavailable"] = json!("allow");
    assert_eq!(config_error(cfg), "providers.p.on_keys_unavailable");
}

/// `on_keys_unavailable: allow_unverified`: during an outage a token the provider would judge
/// is let through unverified — no claim from it goes upstream, the request is marked, the
/// log and metrics say so — and only when every provider without keys allows it.
#[test]
fn allow_unverified_forwards_marked_and_only_when_every_keyless_provider_allows() {
    let tok = token(json!({}), claims());
    let mut cfg = remote(json!({}));
    cfg["providers"]["p"]["on_keys_unavailable"] = json!("allow_unverified");
    cfg["providers"]["p"]["claim_to_headers"] =
        json!([{"header_name": "x-user", "claim_name": "sub"}]);
    let gw = gateway(cfg);
    assert!(
        gw.warnings()
            .iter()
            .any(|w| w.starts_with("providers.p.on_keys_unavailable: allow_unverified forwards")),
        "{:?}",
        gw.warnings()
    );
    let bearer = format!("Bearer {tok}");
    let headers = [
        ("authorization".to_string(), bearer),
        ("x-user".to_string(), "mallory".to_string()),
        ("X-Jwtgate-Unverified".to_string(), "".to_string()),
    ];
    let v = gw.decide(
        &Request {
            method: "GET",
            path: "/a",
            headers: &headers,
        },
        NOW,
    );
    let Decision::Forward(ops) = &v.decision else {
        panic!("{:?}", v.decision)
    };
    assert!(v.unverified && !v.dry_run);
    assert_eq!(v.rejection, Some(Rejection::KeysUnavailable));
    assert!(
        v.verified.is_empty(),
        "an unverified token is nobody's identity"
    );
    assert_eq!(header(ops, "x-jwtgate-unverified"), Some("p"));
    // The client's copies of managed headers go; no claim header is set from the token.
    assert!(ops.contains(&HeaderOp::Remove("x-user".into())), "{ops:?}");
    assert!(
        ops.contains(&HeaderOp::Remove("x-jwtgate-unverified".into())),
        "{ops:?}"
    );
    assert!(!ops
        .iter()
        .any(|op| matches!(op, HeaderOp::Set(n, _) if n == "x-user")));
    assert_eq!(v.metrics(), vec!["allowed", "allowed_unverified"]);
    assert!(v
        .log_line("GET", "/a")
        .contains("allow-unverified reason=keys_unavailable rule=0 provider=p"));

    // No token, or a token of another issuer, is refused as before.
    let none = gw.decide(
        &Request {
            method: "GET",
            path: "/a",
            headers: &[],
        },
        NOW,
    );
    assert_eq!(none.rejection, Some(Rejection::MissingToken));
    assert!(!none.unverified);
    let foreign = token(
        json!({}),
        json!({"iss": "https://other.test", "exp": NOW + 60}),
    );
    let v = run(&gw, &foreign);
    assert!(!v.unverified);
    assert!(
        matches!(v.decision, Decision::Respond(_)),
        "{:?}",
        v.decision
    );
    // Mixed policies: one keyless provider that denies keeps the refusal.
    for (policies, passes) in [
        (
            vec![Some("allow_unverified"), Some("allow_unverified")],
            true,
        ),
        (vec![Some("allow_unverified"), Some("deny")], false),
        (vec![Some("allow_unverified"), None], false),
    ] {
        let v = run(&outage(&policies, None), &tok);
        assert_eq!(v.unverified, passes, "{policies:?}");
        assert_eq!(
            matches!(v.decision, Decision::Forward(_)),
            passes,
            "{policies:?}"
        );
        assert_eq!(v.rejection, Some(Rejection::KeysUnavailable));
    }
}
