//! The request boundary, natively through the core: every token a request carries is accounted
//! for, rule matching sees a path no common upstream can resolve differently, and client-sent
//! spellings of managed headers are stripped or refused. Each test pins status and reason.
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

use jwtgate_core::{Decision, Gateway, HeaderOp, Rejection, Request, Verdict};

mod common;
use common::{b64, bearer, gateway};

const NOW: u64 = 1_700_000_000;
const SECRET_A: &str = "0123456789abcdef0123456789abcdef";
const SECRET_B: &str = "fedcba9876543210fedcba9876543210";

fn hs256(secret: &str, claims: Value) -> String {
    let input = format!(
        "{}.{}",
        b64(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64(claims.to_string().as_bytes())
    );
    let sig = Hs256.sign(&Hs256Key::new(secret.as_bytes()), input.as_bytes());
    format!("{input}.{}", b64(&sig.as_bytes()))
}

/// A valid token of issuer A with these extra claims.
fn token_a(extra: Value) -> String {
    let mut claims = json!({"iss": "https://a.test", "sub": "alice", "exp": NOW + 300});
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        claims[k] = v;
    }
    hs256(SECRET_A, claims)
}

/// Signed with the wrong key: a forgery.
fn forged_a() -> String {
    hs256(
        SECRET_B,
        json!({"iss": "https://a.test", "sub": "admin", "exp": NOW + 300}),
    )
}

fn token_b() -> String {
    hs256(
        SECRET_B,
        json!({"iss": "https://b.test", "sub": "bob", "exp": NOW + 300}),
    )
}

fn provider_a(extra: Value) -> Value {
    let mut p = json!({
        "issuer": "https://a.test",
        "keys": [{"alg": "HS256", "secret": SECRET_A}],
        "claim_to_headers": [{"header_name": "x-user-id", "claim_name": "sub"}],
    });
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        p[k] = v;
    }
    p
}

fn decide(gw: &Gateway, method: &str, path: &str, headers: &[(&str, &str)]) -> Verdict {
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
}

fn run(gw: &Gateway, path: &str, headers: &[(&str, &str)]) -> Verdict {
    decide(gw, "GET", path, headers)
}

/// Refused with exactly this reason and status.
fn assert_refused(v: &Verdict, want: Rejection, status: u32, case: &str) {
    assert_eq!(v.rejection, Some(want), "{case}: {v:?}");
    assert!(!v.dry_run, "{case}");
    match &v.decision {
        Decision::Respond(resp) => assert_eq!(resp.status, status, "{case}"),
        other => panic!("{case}: expected a local response, got {other:?}"),
    }
}

fn forwarded<'v>(v: &'v Verdict, case: &str) -> &'v Vec<HeaderOp> {
    match &v.decision {
        Decision::Forward(ops) => ops,
        other => panic!(
            "{case}: expected forward, got {other:?} ({:?})",
            v.rejection
        ),
    }
}

// ---- 1. every token is accounted for ----

/// (what, path, headers)
type Case = (&'static str, String, Vec<(&'static str, String)>);

/// Envoy's authenticator vector `TestMultipleJWTOneBadFromQuery`: a good header token and a bad
/// `?access_token=` is 401.
#[test]
fn envoy_multiple_jwt_one_bad_from_query() {
    let gw = gateway(json!({
        "providers": {"a": provider_a(json!({
            "from_headers": [{"name": "authorization", "value_prefix": "Bearer "}],
            "from_params": ["access_token"]}))},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "a"}}],
    }));
    let good = token_a(json!({}));
    let path = format!("/api?access_token={}", forged_a());
    let v = run(&gw, &path, &[("authorization", &bearer(&good))]);
    assert_refused(&v, Rejection::ExtraTokenInvalid, 401, "bad query token");
    let Decision::Respond(resp) = &v.decision else {
        unreachable!()
    };
    assert!(resp.headers.iter().any(|(n, v)| n == "www-authenticate"
        && v.contains("error=\"invalid_token\"")
        && v.contains("another token")));
    assert!(resp.body.contains("\"invalid_token\""));
    assert_eq!(v.metrics(), vec!["denied", "denied.extra_token_invalid"]);
}

#[test]
fn a_forged_second_token_in_any_location_is_refused() {
    let gw = gateway(json!({
        "providers": {"a": provider_a(json!({
            "from_headers": [{"name": "authorization", "value_prefix": "Bearer "}],
            "from_cookies": ["session"],
            "from_params": ["access_token", "token"]}))},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "a"}}],
    }));
    let good = bearer(&token_a(json!({})));
    let forged = forged_a();
    let foreign = token_b(); // an issuer no provider has: it was skipped, never verified
    let cookie = |t: &str| format!("session={t}");
    let cases: Vec<Case> = vec![
        (
            "header + forged cookie",
            "/".into(),
            vec![("authorization", good.clone()), ("cookie", cookie(&forged))],
        ),
        (
            "header + forged query",
            format!("/?token={forged}"),
            vec![("authorization", good.clone())],
        ),
        (
            "forged header + valid cookie: the forged one is verified first",
            "/".into(),
            vec![
                ("authorization", bearer(&forged)),
                ("cookie", cookie(&token_a(json!({})))),
            ],
        ),
        (
            "two Authorization headers",
            "/".into(),
            vec![
                ("authorization", good.clone()),
                ("authorization", bearer(&forged)),
            ],
        ),
        (
            "the same cookie twice",
            "/".into(),
            vec![
                ("authorization", good.clone()),
                (
                    "cookie",
                    format!("session={}; session={forged}", token_a(json!({}))),
                ),
            ],
        ),
        (
            "the same parameter twice",
            format!("/?token={}&token={forged}", token_a(json!({}))),
            vec![],
        ),
        (
            "another issuer's token in a second location",
            "/".into(),
            vec![
                ("authorization", bearer(&foreign)),
                ("cookie", cookie(&token_a(json!({})))),
            ],
        ),
        (
            "an expired second token",
            "/".into(),
            vec![
                ("authorization", good.clone()),
                ("cookie", cookie(&token_a(json!({"exp": NOW - 3600})))),
            ],
        ),
    ];
    for (case, path, headers) in cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let v = run(&gw, &path, &headers);
        let want = if case.starts_with("forged header") {
            Rejection::InvalidSignature
        } else {
            Rejection::ExtraTokenInvalid
        };
        assert_refused(&v, want, 401, case);
    }
    // Two valid tokens (even different ones) pass.
    let other = token_a(json!({"sub": "alice2"}));
    let v = run(
        &gw,
        &format!("/?token={other}"),
        &[("authorization", &good), ("cookie", &cookie(&other))],
    );
    assert!(v.rejection.is_none(), "{v:?}");
}

#[test]
fn forward_false_removes_every_location_a_token_came_from() {
    let gw = gateway(json!({
        "providers": {"a": provider_a(json!({
            "from_headers": [{"name": "authorization", "value_prefix": "Bearer "}],
            "from_cookies": ["session", "alt"],
            "from_params": ["access_token", "token"]}))},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "a"}}],
    }));
    let t = token_a(json!({}));
    let path = format!("/x?a=1&access_token={t}&b=2&token={t}");
    let cookie = format!("keep=1; session={t}; alt={t}");
    let v = run(
        &gw,
        &path,
        &[("authorization", &bearer(&t)), ("cookie", &cookie)],
    );
    let ops = forwarded(&v, "all valid");
    assert!(
        ops.contains(&HeaderOp::Remove("authorization".into())),
        "{ops:?}"
    );
    assert!(
        ops.contains(&HeaderOp::Set("cookie".into(), "keep=1".into())),
        "{ops:?}"
    );
    // One `:path` change that drops both parameters (two changes would undo each other).
    let paths: Vec<&HeaderOp> = ops
        .iter()
        .filter(|op| matches!(op, HeaderOp::Set(n, _) if n == ":path"))
        .collect();
    assert_eq!(
        paths,
        vec![&HeaderOp::Set(":path".into(), "/x?a=1&b=2".into())]
    );
    assert!(ops.contains(&HeaderOp::Set("x-user-id".into(), "alice".into())));

    // forward: true keeps them all.
    let keep = gateway(json!({
        "providers": {"a": provider_a(json!({"forward": true,
            "from_headers": [{"name": "authorization", "value_prefix": "Bearer "}],
            "from_cookies": ["session"]}))},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "a"}}],
    }));
    let v = run(
        &keep,
        "/",
        &[
            ("authorization", &bearer(&t)),
            ("cookie", &format!("session={t}")),
        ],
    );
    assert_eq!(
        forwarded(&v, "forward: true"),
        &vec![HeaderOp::Set("x-user-id".into(), "alice".into())]
    );
}

#[test]
fn every_provider_of_the_rule_accounts_for_its_locations() {
    let b = json!({"issuer": "https://b.test", "keys": [{"alg": "HS256", "secret": SECRET_B}],
                   "from_headers": [{"name": "x-b-token"}]});
    let gw = gateway(json!({
        "providers": {"a": provider_a(json!({})), "b": b},
        "rules": [
            {"match": {"prefix": "/any"}, "requires": {"requires_any": {"requirements": [
                {"provider_name": "a"}, {"provider_name": "b"}]}}},
            {"match": {"prefix": "/optional"}, "requires": {"allow_missing": {}}},
            {"match": {"prefix": "/lenient"}, "requires": {"allow_missing_or_failed": {}}},
            {"match": {"prefix": "/only-a"}, "requires": {"provider_name": "a"}},
        ],
    }));
    let good_a = bearer(&token_a(json!({})));
    let forged_b = hs256(SECRET_A, json!({"iss": "https://b.test", "exp": NOW + 300}));
    for route in ["/any", "/optional"] {
        let v = run(
            &gw,
            route,
            &[("authorization", &good_a), ("x-b-token", &forged_b)],
        );
        // allow_missing already refused a provider's failed first token with its own reason.
        let want = if route == "/any" {
            Rejection::ExtraTokenInvalid
        } else {
            Rejection::InvalidSignature
        };
        assert_refused(&v, want, 401, route);
        let v = run(
            &gw,
            route,
            &[
                ("authorization", &good_a),
                ("authorization", &bearer(&forged_a())),
            ],
        );
        assert_refused(&v, Rejection::ExtraTokenInvalid, 401, route);
        let v = run(
            &gw,
            route,
            &[("authorization", &good_a), ("x-b-token", &token_b())],
        );
        assert!(v.rejection.is_none(), "{route}: {v:?}");
    }
    // allow_missing_or_failed passes whatever the tokens are (documented).
    let v = run(
        &gw,
        "/lenient",
        &[("authorization", &good_a), ("x-b-token", &forged_b)],
    );
    assert!(v.rejection.is_none(), "{v:?}");
    // A location no provider of the rule reads is not the rule's business.
    let v = run(
        &gw,
        "/only-a",
        &[("authorization", &good_a), ("x-b-token", &forged_b)],
    );
    assert!(v.rejection.is_none(), "{v:?}");
}

#[test]
fn dry_run_reports_an_unaccounted_token() {
    let gw = gateway(json!({
        "providers": {"a": provider_a(json!({
            "from_headers": [{"name": "authorization", "value_prefix": "Bearer "}],
            "from_cookies": ["session"]}))},
        "dry_run": true,
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "a"}}],
    }));
    let v = run(
        &gw,
        "/",
        &[
            ("authorization", &bearer(&token_a(json!({})))),
            ("cookie", &format!("session={}", forged_a())),
        ],
    );
    assert!(v.dry_run);
    assert_eq!(v.rejection, Some(Rejection::ExtraTokenInvalid));
    assert!(matches!(v.decision, Decision::Forward(_)));
}

// ---- 3. managed headers: every spelling is stripped, on every route kind ----

/// The client's spellings of `x-user-id` (claim header), `x-jwt-payload`
/// (`forward_payload_header`) and `x-auth-user` (an auth service's upstream header).
const SPOOFED: [(&str, &str); 7] = [
    ("x_user_id", "admin"),
    ("x-user_id", "admin"),
    ("X-User-Id", "admin"),
    ("X_USER_ID", "admin"),
    ("X_Jwt-Payload", "e30"),
    ("x_auth_user", "root"),
    ("x-user-idx", "not managed"),
];

fn stripped() -> Vec<HeaderOp> {
    [
        "x_user_id",
        "x-user_id",
        "x-user-id",
        "x_jwt-payload",
        "x_auth_user",
    ]
    .iter()
    .map(|n| HeaderOp::Remove(n.to_string()))
    .collect()
}

fn managed_gateway(extra: Value) -> Gateway {
    let mut config = json!({
        "providers": {"a": provider_a(json!({"forward_payload_header": "x-jwt-payload"}))},
        "ext_auth": {"authz": {"http_uri": {"uri": "http://auth.test/check"},
                               "allowed_upstream_headers": ["x-auth-user"]}},
        "bypass_cors_preflight": true,
        "rules": [
            {"match": {"prefix": "/open"}},
            {"match": {"prefix": "/optional"}, "requires": {"allow_missing": {}}},
            {"match": {"prefix": "/dry"}, "requires": {"provider_name": "a"}, "dry_run": true},
            {"match": {"prefix": "/ext"}, "requires": {"ext_auth": "authz"}},
            {"match": {"prefix": "/"}, "requires": {"provider_name": "a"}},
        ],
    });
    for (k, v) in extra.as_object().cloned().unwrap_or_default() {
        config[k] = v;
    }
    gateway(config)
}

#[test]
fn every_spelling_of_a_managed_header_is_stripped_on_every_route_kind() {
    use jwtgate_core::ext_auth::ExtAnswer;
    use std::rc::Rc;
    let gw = managed_gateway(json!({}));
    let token = bearer(&token_a(json!({})));
    let with = |extra: &[(&'static str, &'static str)]| -> Vec<(String, String)> {
        SPOOFED
            .iter()
            .chain(extra)
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    };
    let plain = with(&[]);
    let authed = with(&[("authorization", "")]);
    let authed: Vec<(String, String)> = authed
        .into_iter()
        .map(|(n, v)| {
            if n == "authorization" {
                (n, token.clone())
            } else {
                (n, v)
            }
        })
        .collect();
    let preflight = with(&[
        ("origin", "https://app.test"),
        ("access-control-request-method", "POST"),
    ]);
    let allowed = Rc::new(ExtAnswer::Allowed(vec![(
        "x-auth-user".into(),
        "svc".into(),
    )]));
    type Headers = Vec<(String, String)>;
    let cases: Vec<(&str, &str, &str, &Headers)> = vec![
        ("open", "GET", "/open/x", &plain),
        ("protected", "GET", "/api", &authed),
        ("allow_missing", "GET", "/optional", &plain),
        ("dry-run", "GET", "/dry", &plain),
        ("CORS bypass", "OPTIONS", "/api", &preflight),
        ("ext_auth", "GET", "/ext", &plain),
    ];
    for (case, method, path, headers) in cases {
        let req = Request {
            method,
            path,
            headers,
        };
        let mut state = gw.new_vm_state(0);
        let answers = [(0usize, Rc::clone(&allowed))];
        let v = gw.decide_with(&req, NOW * 1000, &mut state, &answers, false);
        let ops = forwarded(&v, case);
        assert_eq!(
            ops.get(..5),
            Some(stripped().as_slice()),
            "{case}: every spelling first, the unmanaged one kept: {ops:?}"
        );
        assert!(
            !ops.contains(&HeaderOp::Remove("x-user-idx".into())),
            "{case}"
        );
        if case == "protected" {
            assert!(ops.contains(&HeaderOp::Set("x-user-id".into(), "alice".into())));
        }
        if case == "ext_auth" {
            assert!(ops.contains(&HeaderOp::Set("x-auth-user".into(), "svc".into())));
        }
    }
}

#[test]
fn a_token_header_may_not_be_a_spelling_of_a_managed_header() {
    let e = Gateway::from_json(
        json!({"providers": {"a": provider_a(json!({"from_headers": [{"name": "X_User_Id"}]}))}})
            .to_string()
            .as_bytes(),
    )
    .unwrap_err();
    assert_eq!(e.path, "providers.a.from_headers", "{e}");
}

// ---- 4. client_managed_headers: reject ----

#[test]
fn reject_policy_refuses_any_spelling_before_anything_else() {
    let gw = managed_gateway(json!({"client_managed_headers": "reject"}));
    let token = bearer(&token_a(json!({})));
    for (name, method, path) in [
        ("x-user-id", "GET", "/open/x"),
        ("X_User_Id", "GET", "/api"),
        ("x-jwt_payload", "GET", "/optional"),
        ("X-AUTH-USER", "GET", "/ext"),
        ("x_user_id", "OPTIONS", "/api"), // a CORS preflight too
        ("x-user-id", "GET", "/dry"),     // a dry-run rule: the check comes before any rule
    ] {
        let headers = vec![
            (name.to_string(), "spoof".to_string()),
            ("authorization".to_string(), token.clone()),
            ("origin".to_string(), "https://app.test".to_string()),
            (
                "access-control-request-method".to_string(),
                "POST".to_string(),
            ),
        ];
        let v = gw.decide(
            &Request {
                method,
                path,
                headers: &headers,
            },
            NOW,
        );
        let case = format!("{name} {method} {path}");
        assert_refused(&v, Rejection::ManagedHeaderPresent, 400, &case);
        assert_eq!(v.rule, None, "{case}");
        let Decision::Respond(resp) = &v.decision else {
            unreachable!()
        };
        assert!(
            resp.headers.iter().all(|(n, _)| n != "www-authenticate"),
            "{case}: no Bearer challenge on a 400"
        );
        assert!(resp.body.contains("\"invalid_request\""), "{case}");
        assert_eq!(v.metrics(), vec!["denied", "denied.managed_header_present"]);
    }
    // Without a managed header, requests go on as usual; the default is still to strip.
    let v = run(
        &gw,
        "/api",
        &[("authorization", &token), ("x-user-idx", "1")],
    );
    assert!(v.rejection.is_none(), "{v:?}");
    let strip = managed_gateway(json!({"client_managed_headers": "strip"}));
    let v = run(&strip, "/open", &[("X_User_Id", "spoof")]);
    assert_eq!(
        forwarded(&v, "strip"),
        &vec![HeaderOp::Remove("x_user_id".into())]
    );
}

#[test]
fn reject_policy_keeps_its_status_under_custom_failure_responses_and_reports_in_dry_run() {
    let custom = managed_gateway(json!({"client_managed_headers": "reject",
        "failure_response": {"status": 418, "redirect": {"url": "/login"}}}));
    let v = run(&custom, "/api", &[("x-user-id", "spoof")]);
    assert_refused(&v, Rejection::ManagedHeaderPresent, 400, "custom failure");
    let dry = managed_gateway(json!({"client_managed_headers": "reject", "dry_run": true}));
    let v = run(&dry, "/api", &[("x-user-id", "spoof")]);
    assert!(v.dry_run);
    assert_eq!(v.rejection, Some(Rejection::ManagedHeaderPresent));
    assert_eq!(
        forwarded(&v, "dry-run"),
        &vec![HeaderOp::Remove("x-user-id".into())]
    );
    let e = Gateway::from_json(br#"{"client_managed_headers": "drop"}"#).unwrap_err();
    assert_eq!(e.path, "client_managed_headers", "{e}");
}

// ---- 2. path policy ----

/// The README's CMS example: open `/content/`, `/admin/` for admins, everything else for any
/// valid token.
fn cms(path_policy: Value) -> Gateway {
    gateway(json!({
        "providers": {"cms": provider_a(json!({}))},
        "path_policy": path_policy,
        "rules": [
            {"match": {"prefix": "/content/"}},
            {"match": {"prefix": "/admin/"}, "requires": {"provider_name": "cms",
                "claims": [{"claim": "role", "one_of": ["admin"]}]}},
            {"match": {"path": "/reports"}, "requires": {"provider_name": "cms",
                "claims": [{"claim": "role", "one_of": ["admin"]}]}},
            {"match": {"prefix": "/caf%C3%A9/"}, "requires": {"provider_name": "cms",
                "claims": [{"claim": "role", "one_of": ["admin"]}]}},
            {"match": {"prefix": "/"}, "requires": {"provider_name": "cms"}},
        ],
    }))
}

fn user() -> String {
    bearer(&token_a(json!({"role": "user"})))
}

fn admin() -> String {
    bearer(&token_a(json!({"role": "admin"})))
}

#[test]
fn default_policy_refuses_what_upstreams_resolve_differently() {
    let gw = cms(json!({}));
    for (path, want) in [
        // Tomcat / Jetty / Spring drop `;…`: `/admin/users` there.
        ("/content/..;/admin/users", Rejection::PathParameters),
        ("/content/..;x=1/admin/users", Rejection::PathParameters),
        ("/content/..%3B/admin/users", Rejection::PathParameters),
        ("/admin;/users", Rejection::PathParameters),
        // An upstream that decodes %2F; IIS reads `\` and %5C as `/`.
        ("/content/..%2fadmin/users", Rejection::PathEscapedSlash),
        ("/content/..%2Fadmin/users", Rejection::PathEscapedSlash),
        ("/content/..\\admin/users", Rejection::PathEscapedSlash),
        ("/content/..%5Cadmin/users", Rejection::PathEscapedSlash),
        ("/content/..%5cadmin/users", Rejection::PathEscapedSlash),
        // A case-insensitive upstream serves /admin/ for these.
        ("/ADMIN/users", Rejection::PathAmbiguous),
        ("/Admin/users", Rejection::PathAmbiguous),
        ("/Content/x", Rejection::PathAmbiguous),
        // RFC 3986 says /admin/x, NGINX (slashes merged first) says /x.
        ("/admin//../content/x", Rejection::PathAmbiguous),
        // Invalid percent-encoding, control bytes raw or encoded.
        ("/content/%zz", Rejection::PathMalformed),
        ("/content/%4", Rejection::PathMalformed),
        ("/content/%+1", Rejection::PathMalformed),
        ("/content/x%00/../../admin/users", Rejection::PathMalformed),
        ("/content/x%0d%0a", Rejection::PathMalformed),
    ] {
        let v = run(&gw, path, &[("authorization", &user())]);
        assert_refused(&v, want, 400, path);
        assert_eq!(v.rule, None, "{path}");
        let Decision::Respond(resp) = &v.decision else {
            unreachable!()
        };
        assert!(resp.body.contains("\"invalid_request\""), "{path}");
        assert_eq!(
            v.metrics(),
            vec!["denied".to_string(), format!("denied.{}", want.name())]
        );
    }
}

#[test]
fn default_policy_matches_the_canonical_path() {
    let gw = cms(json!({}));
    for (path, auth, want) in [
        ("/content/x", None, None),
        // Bytes that were not UTF-8 (the host hands them over as %XX) are ordinary bytes.
        ("/content/%FF%fe", None, None),
        // NGINX hands over its decoded URI: a space or `#` there is an ordinary byte.
        ("/content/my doc#1", None, None),
        ("/admin/%FF", Some(user()), Some(Rejection::ClaimsForbidden)),
        (
            "/content/../admin/users",
            Some(user()),
            Some(Rejection::ClaimsForbidden),
        ),
        (
            "/content/%2e%2e/admin/users",
            Some(user()),
            Some(Rejection::ClaimsForbidden),
        ),
        (
            "/%61dmin/users",
            Some(user()),
            Some(Rejection::ClaimsForbidden),
        ),
        (
            "//admin/users",
            Some(user()),
            Some(Rejection::ClaimsForbidden),
        ),
        // Rules are matched with escapes decoded too: `%C3%A9`, `%c3%a9` and `é` are one path.
        (
            "/caf%c3%a9/x",
            Some(user()),
            Some(Rejection::ClaimsForbidden),
        ),
        (
            "/caf\u{e9}/x",
            Some(user()),
            Some(Rejection::ClaimsForbidden),
        ),
        ("/admin/users", Some(admin()), None),
        // Query strings are not the path.
        ("/content/x?next=/admin/;%2F\\", None, None),
    ] {
        let headers: Vec<(&str, &str)> =
            auth.iter().map(|a| ("authorization", a.as_str())).collect();
        let v = run(&gw, path, &headers);
        match want {
            Some(r) => assert_refused(&v, r, 403, path),
            None => {
                let ops = forwarded(&v, path);
                assert!(
                    !ops.iter()
                        .any(|op| matches!(op, HeaderOp::Set(n, _) if n == ":path")),
                    "{path}: the default policy never rewrites the path"
                );
            }
        }
    }
}

#[test]
fn unescape_and_strip_match_and_forward_the_normalized_path() {
    let gw = cms(json!({"escaped_slashes": "unescape", "path_parameters": "strip"}));
    for path in [
        "/content/..;/admin/users",
        "/content/..%2fadmin/users",
        "/content/..\\admin/users",
        "/content/..%5Cadmin/users",
        "/admin;/users",
        "/admin;jsessionid=1/users",
        "/content/..%3B/admin/users",
    ] {
        let v = run(&gw, path, &[("authorization", &user())]);
        assert_refused(&v, Rejection::ClaimsForbidden, 403, path);
        let v = run(&gw, &format!("{path}?x=1"), &[("authorization", &admin())]);
        let ops = forwarded(&v, path);
        assert!(
            ops.contains(&HeaderOp::Set(":path".into(), "/admin/users?x=1".into())),
            "{path}: the upstream gets the path that was matched: {ops:?}"
        );
    }
    // Open routes too: the upstream must see what the open rule was chosen for.
    let v = run(&gw, "/content;v=1/a%2Fb?q=%2F", &[]);
    assert_eq!(
        forwarded(&v, "open"),
        &vec![HeaderOp::Set(":path".into(), "/content/a/b?q=%2F".into())]
    );
    // Invalid encoding and ambiguity are still refused.
    assert_refused(
        &run(&gw, "/content/%zz", &[]),
        Rejection::PathMalformed,
        400,
        "malformed",
    );
    assert_refused(
        &run(&gw, "/ADMIN;x/users", &[("authorization", &user())]),
        Rejection::PathAmbiguous,
        400,
        "case",
    );
}

#[test]
fn normalized_path_and_token_parameter_removal_are_one_change() {
    let gw = gateway(json!({
        "providers": {"a": provider_a(json!({"from_params": ["access_token"]}))},
        "path_policy": {"path_parameters": "strip"},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "a"}}],
    }));
    let path = format!("/x;v=1/y?a=1&access_token={}", token_a(json!({})));
    let ops = forwarded(&run(&gw, &path, &[]), "param").clone();
    let paths: Vec<&HeaderOp> = ops
        .iter()
        .filter(|op| matches!(op, HeaderOp::Set(n, _) if n == ":path"))
        .collect();
    assert_eq!(
        paths,
        vec![&HeaderOp::Set(":path".into(), "/x/y?a=1".into())]
    );
}

#[test]
fn case_matching_options() {
    let insensitive = cms(json!({"case_matching": "insensitive"}));
    for path in ["/ADMIN/users", "/Admin/users", "/admin/USERS"] {
        let v = run(&insensitive, path, &[("authorization", &user())]);
        assert_refused(&v, Rejection::ClaimsForbidden, 403, path);
    }
    assert!(run(&insensitive, "/CONTENT/x", &[]).rejection.is_none());
    // Envoy's own behaviour, for upstreams known to be case-sensitive.
    let sensitive = cms(json!({"case_matching": "sensitive"}));
    let v = run(&sensitive, "/ADMIN/users", &[("authorization", &user())]);
    assert!(v.rejection.is_none(), "{v:?}");
    assert_eq!(v.rule, Some(4));
}

#[test]
fn exact_paths_with_a_trailing_slash_when_configured() {
    let strict = cms(json!({}));
    let v = run(&strict, "/reports/", &[("authorization", &user())]);
    assert!(
        v.rejection.is_none() && v.rule == Some(4),
        "Envoy: exact means exact: {v:?}"
    );
    let lenient = cms(json!({"exact_path_trailing_slash": true}));
    for path in ["/reports", "/reports/"] {
        let v = run(&lenient, path, &[("authorization", &user())]);
        assert_refused(&v, Rejection::ClaimsForbidden, 403, path);
    }
}

#[test]
fn methods_are_case_sensitive_and_get_rules_cover_head() {
    let gw = gateway(json!({
        "providers": {"a": provider_a(json!({}))},
        "rules": [
            {"match": {"prefix": "/reports", "methods": ["GET"]}, "requires": {"provider_name": "a",
                "claims": [{"claim": "role", "one_of": ["admin"]}]}},
            {"match": {"prefix": "/public", "methods": ["GET"]}},
            {"match": {"prefix": "/"}, "requires": {"provider_name": "a"}},
            ],
    }));
    // HEAD runs the GET handler upstream: the GET rule covers it.
    let v = decide(&gw, "HEAD", "/reports", &[("authorization", &user())]);
    assert_refused(&v, Rejection::ClaimsForbidden, 403, "HEAD");
    assert!(decide(&gw, "HEAD", "/public", &[]).rejection.is_none());
    // `get` is not `GET` (RFC 9110 §9.1): it does not get the open GET rule.
    let v = decide(&gw, "get", "/public", &[]);
    assert_refused(&v, Rejection::MissingToken, 401, "get");
}

#[test]
fn path_policy_configuration_errors() {
    for (config, at) in [
        (
            json!({"path_policy": {"escaped_slash": "reject"}}),
            "path_policy",
        ),
        (
            json!({"path_policy": {"escaped_slashes": "decode"}}),
            "path_policy.escaped_slashes",
        ),
        (
            json!({"path_policy": {"path_parameters": true}}),
            "path_policy.path_parameters",
        ),
        (
            json!({"path_policy": {"case_matching": "lower"}}),
            "path_policy.case_matching",
        ),
        (
            json!({"rules": [{"match": {"prefix": "/a%zz"}}]}),
            "rules[0].match.prefix",
        ),
    ] {
        let e = Gateway::from_json(config.to_string().as_bytes()).unwrap_err();
        assert!(e.path.starts_with(at), "{config}: {e}");
    }
    assert!(Gateway::from_json(
        br#"{"path_policy": {"escaped_slashes": "unescape", "path_parameters": "strip",
            "case_matching": "sensitive", "exact_path_trailing_slash": true}}"#
    )
    .is_ok());
}

#[test]
fn global_dry_run_reports_path_refusals() {
    let gw = gateway(json!({
        "providers": {"cms": provider_a(json!({}))},
        "dry_run": true,
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "cms"}}],
    }));
    let v = run(&gw, "/a;b", &[("x_user_id", "spoof")]);
    assert!(v.dry_run);
    assert_eq!(v.rejection, Some(Rejection::PathParameters));
    assert_eq!(
        forwarded(&v, "dry-run"),
        &vec![HeaderOp::Remove("x_user_id".into())]
    );
}
