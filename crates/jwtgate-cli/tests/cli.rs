//! The `jwtgate` command line: `check` exit codes and messages, `explain` on an allowed, a 401
//! and a 403 request.
// A test (or measurement) program: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::Command;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jwt_compact::alg::{Hs256, Hs256Key};
use jwt_compact::{Algorithm, AlgorithmSignature};

const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn jwtgate(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_jwtgate"))
        .args(args)
        .output()
        .expect("run jwtgate");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write_config(name: &str, json: &str) -> String {
    // One file per call: tests run in parallel and must not read each other's half-written file.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("jwtgate-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{n}-{name}"));
    std::fs::write(&path, json).unwrap();
    path.to_string_lossy().into_owned()
}

fn config() -> String {
    write_config(
        "good.json",
        &serde_json::json!({
            "providers": {"p": {"keys": [{"alg": "HS256", "secret": SECRET}],
                "claim_to_headers": [{"header_name": "x-user-id", "claim_name": "sub"}]}},
            "rules": [
                {"match": {"prefix": "/admin"}, "requires": {"provider_name": "p", "claims": [{"claim": "role", "equals": "admin"}]}},
                {"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}
            ]
        })
        .to_string(),
    )
}

fn token(claims: &str) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256"}"#),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let sig = Hs256.sign(&Hs256Key::new(SECRET), input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_bytes()))
}

#[test]
fn check_accepts_a_good_config_and_names_the_bad_field() {
    let (code, out, _) = jwtgate(&["check", &config()]);
    assert_eq!(code, 0);
    assert!(out.contains("OK (1 providers, 2 rules)"), "{out}");
    let bad = write_config(
        "bad.json",
        r#"{"providers":{"p":{"keys":[{"alg":"HS256","secret":"short"}]}}}"#,
    );
    let (code, _, err) = jwtgate(&["check", &bad]);
    assert_eq!(code, 1);
    assert!(
        err.contains("providers.p.keys[0].secret: HMAC secret is 5 bytes"),
        "{err}"
    );
    let (code, _, err) = jwtgate(&["check", "/nonexistent/config.json"]);
    assert_eq!(code, 1);
    assert!(err.contains("/nonexistent/config.json"), "{err}");
    assert_eq!(jwtgate(&["bogus"]).0, 2);
}

#[test]
fn explain_an_allowed_request() {
    let auth = format!(
        "Authorization: Bearer {}",
        token(r#"{"sub":"alice","exp":2000000000}"#)
    );
    let (code, out, _) = jwtgate(&[
        "explain",
        &config(),
        "--path",
        "/api",
        "-H",
        &auth,
        "--now",
        "1700000000",
    ]);
    assert_eq!(code, 0);
    assert!(out.contains("rules[1]: prefix \"/\" → requires p"), "{out}");
    assert!(
        out.contains("claims (unverified): {\"sub\":\"alice\""),
        "{out}"
    );
    assert!(
        out.contains("answer:   forwarded upstream") && out.contains("+ x-user-id: alice"),
        "{out}"
    );
    assert!(out.contains("- authorization"), "{out}");
}

#[test]
fn explain_a_401_and_a_403() {
    let expired = format!("Authorization: Bearer {}", token(r#"{"sub":"a","exp":1}"#));
    let (_, out, _) = jwtgate(&[
        "explain",
        &config(),
        "--path",
        "/api",
        "-H",
        &expired,
        "--now",
        "1700000000",
    ]);
    assert!(
        out.contains("time ✗") && out.contains("reason:   expired"),
        "{out}"
    );
    assert!(
        out.contains("answer:   401") && out.contains("error=\"invalid_token\""),
        "{out}"
    );

    let user = format!(
        "Authorization: Bearer {}",
        token(r#"{"sub":"a","role":"user","exp":2000000000}"#)
    );
    let (_, out, _) = jwtgate(&[
        "explain",
        &config(),
        "--path",
        "/admin",
        "-H",
        &user,
        "--now",
        "1700000000",
        "--json",
    ]);
    let json: serde_json::Value = serde_json::from_str(&out).expect("--json prints JSON");
    assert_eq!(json["reason"], "claims_forbidden");
    assert_eq!(json["decision"]["status"], 403);

    let (_, out, _) = jwtgate(&["explain", &config(), "--path", "/api"]);
    assert!(
        out.contains("token found ✗") && out.contains("answer:   401"),
        "{out}"
    );
}

#[test]
fn check_lists_every_error_by_field_path() {
    let bad = write_config(
        "many.json",
        r#"{"providers": {"a": {"keys": [{"alg": "HS256", "secret": "x"}]},
                          "b": {"remote_jwks": {"http_uri": {"uri": "no-scheme"}}}},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "zz"}},
                      {"match": {"prefix": "nope"}}],
            "max_token_bytes": 1}"#,
    );
    let (code, _, err) = jwtgate(&["check", &bad]);
    assert_eq!(code, 1);
    for path in [
        "max_token_bytes: ",
        "providers.a.keys[0].secret: ",
        "providers.b.remote_jwks.http_uri.uri: ",
        "rules[0].requires.provider_name: no provider named `zz`",
        "rules[1].match.prefix: ",
        "5 error(s)",
    ] {
        assert!(err.contains(path), "{path} missing in:\n{err}");
    }
    let (code, out, _) = jwtgate(&["check", &bad, "--json"]);
    assert_eq!(code, 1);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["valid"], false);
    assert_eq!(report["errors"].as_array().unwrap().len(), 5);
    let (code, out, _) = jwtgate(&["check", &config(), "--json"]);
    assert_eq!((code, out.trim()), (0, r#"{"errors":[],"valid":true}"#));
}

#[test]
fn every_command_has_help_and_usage_errors_exit_2() {
    for cmd in ["check", "explain", "mint", "keygen"] {
        let (code, out, _) = jwtgate(&[cmd, "--help"]);
        assert_eq!(code, 0, "{cmd}");
        assert!(out.starts_with(&format!("usage: jwtgate {cmd}")), "{out}");
    }
    assert_eq!(jwtgate(&["--help"]).0, 0);
    assert_eq!(jwtgate(&["check"]).0, 2);
    assert_eq!(jwtgate(&["explain"]).0, 2);
    let (code, _, err) = jwtgate(&["mint", "--alg", "HS256"]);
    assert_eq!(code, 1);
    assert!(err.contains("--key is required"), "{err}");
    let (code, _, err) = jwtgate(&["mint", "--alg", "none", "--key", &config()]);
    assert_eq!(code, 1);
    assert!(err.contains("unsupported --alg none"), "{err}");
}

#[test]
fn keygen_and_mint_round_trip_through_the_filters_decision_for_every_family() {
    let dir = std::env::temp_dir().join(format!("jwtgate-keys-{}", std::process::id()));
    let out = dir.to_string_lossy().into_owned();
    for (alg, kid) in [
        ("HS384", "h"),
        ("RS256", "r"),
        ("PS512", "p"),
        ("ES256", "e2"),
        ("ES384", "e3"),
        ("ES512", "e5"),
        ("EdDSA", "ed"),
    ] {
        let (code, printed, err) = jwtgate(&["keygen", "--alg", alg, "--kid", kid, "--out", &out]);
        // Built without the optional curve: the CLI refuses the family instead of faking it.
        let built = (alg != "ES384" || cfg!(feature = "es384"))
            && (alg != "ES512" || cfg!(feature = "es512"));
        if !built {
            assert_ne!(code, 0, "{alg}: keygen succeeded without the feature");
            continue;
        }
        assert_eq!(code, 0, "{alg}: {err}");
        let snippet: serde_json::Value =
            serde_json::from_str(printed.lines().last().unwrap()).unwrap();
        let key_file = if alg.starts_with("HS") {
            dir.join(format!("{kid}.secret"))
        } else {
            dir.join(format!("{kid}.pem"))
        };
        let mut provider = snippet.clone();
        provider["issuer"] = serde_json::json!("https://minted.test");
        provider["claim_to_headers"] =
            serde_json::json!([{"header_name": "x-role", "claim_name": "role"}]);
        let config = write_config(
            &format!("{kid}.json"),
            &serde_json::json!({"providers": {"p": provider},
                "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}]})
            .to_string(),
        );
        let (code, token, err) = jwtgate(&[
            "mint",
            "--alg",
            alg,
            "--key",
            &key_file.to_string_lossy(),
            "--kid",
            kid,
            "--iss",
            "https://minted.test",
            "--claim",
            "role=admin",
            "--exp",
            "5m",
        ]);
        assert_eq!(code, 0, "{alg}: {err}");
        let auth = format!("Authorization: Bearer {}", token.trim());
        let (code, out, _) = jwtgate(&["explain", &config, "--path", "/x", "-H", &auth]);
        assert_eq!(code, 0);
        assert!(
            out.contains("answer:   forwarded upstream") && out.contains("+ x-role: admin"),
            "{alg}: {out}"
        );
    }
}

/// Runs jwtgate with `input` on its stdin.
fn jwtgate_stdin(args: &[&str], input: &str) -> (i32, String, String) {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_jwtgate"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run jwtgate");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const KEYS: &str = r#"{"keys": [{"alg": "HS256", "secret": "0123456789abcdef0123456789abcdef"}]}"#;

#[test]
fn check_reads_stdin_and_warns_about_configurations_that_protect_nothing() {
    let (code, out, err) = jwtgate_stdin(&["check", "-"], "{}");
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("<stdin>: OK (0 providers, 0 rules, 1 warning(s))"),
        "{out}"
    );
    assert!(
        err.contains("<stdin>: warning: the configuration protects nothing"),
        "{err}"
    );
    // --strict: any warning fails.
    let (code, _, _) = jwtgate_stdin(&["check", "-", "--strict"], "{}");
    assert_eq!(code, 1);
    let (code, out, _) = jwtgate_stdin(&["check", "--strict", "-", "--json"], "{}");
    assert_eq!(code, 1);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["valid"], true);
    assert_eq!(report["warnings"].as_array().unwrap().len(), 1);
    // A clean configuration passes --strict; an unknown flag is a usage error.
    assert_eq!(jwtgate(&["check", &config(), "--strict"]).0, 0);
    assert_eq!(jwtgate(&["check", &config(), "--bogus"]).0, 2);

    let no_rules = format!(r#"{{"providers": {{"p": {KEYS}}}}}"#);
    let (_, _, err) = jwtgate_stdin(&["check", "-"], &no_rules);
    assert!(err.contains("warning: no `rules`: "), "{err}");
    let no_providers = r#"{"rules": [{"match": {"prefix": "/"}}]}"#;
    let (_, _, err) = jwtgate_stdin(&["check", "-"], no_providers);
    assert!(err.contains("warning: no `providers`"), "{err}");
    assert!(err.contains("warning: no rule has `requires`"), "{err}");
}

#[test]
fn check_warns_about_paths_left_unprotected() {
    let no_catch_all = format!(
        r#"{{"providers": {{"p": {KEYS}}},
            "rules": [{{"match": {{"prefix": "/api/"}}, "requires": {{"provider_name": "p"}}}},
                      {{"match": {{"prefix": "/", "methods": ["GET"]}}, "requires": {{"provider_name": "p"}}}}]}}"#
    );
    let (code, _, err) = jwtgate_stdin(&["check", "-"], &no_catch_all);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("warning: no rule matches `/`: requests outside the listed rules (prefix \"/api/\", prefix \"/\" GET) pass unchecked"),
        "{err}"
    );
    let shadowed = format!(
        r#"{{"providers": {{"p": {KEYS}}},
            "rules": [{{"match": {{"prefix": "/"}}}},
                      {{"match": {{"path": "/admin"}}, "requires": {{"provider_name": "p"}}}},
                      {{"match": {{"safe_regex": {{"regex": "/.*"}}}}, "requires": {{"provider_name": "p"}}}}]}}"#
    );
    let (code, out, err) = jwtgate_stdin(&["check", "-", "--strict"], &shadowed);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("warning: rules[0] (prefix \"/\", open) comes first and matches every request rules[1] (path \"/admin\") would"),
        "{err}"
    );
    assert!(err.contains("rules[2] (safe_regex \"/.*\")"), "{err}");
    assert!(!err.contains("no rule matches `/`"), "{err}");

    // The core's own warnings (a clamped cache_duration) are printed too.
    let clamped = r#"{"providers": {"r": {"remote_jwks": {"http_uri": {"uri": "https://idp.test/jwks", "cluster": "idp"}, "cache_duration": "1s"}}},
                      "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "r"}}]}"#;
    let (code, _, err) = jwtgate_stdin(&["check", "-"], clamped);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("warning: providers.r.remote_jwks.cache_duration"),
        "{err}"
    );
}

#[test]
fn check_names_a_skipped_local_jwks_member_and_strict_fails_on_it() {
    // One EC member without `crv` next to a usable one: a warning naming the member, exit 0;
    // --strict fails. Without the usable member the set is an error naming it.
    let good = serde_json::json!({"kty": "EC", "crv": "P-256", "kid": "k1",
        "x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4", "y": "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"});
    let mut no_crv = good.clone();
    no_crv.as_object_mut().unwrap().remove("crv");
    let config = |keys: serde_json::Value| {
        serde_json::json!({
            "providers": {"p": {"local_jwks": {"inline_string": serde_json::json!({"keys": keys}).to_string()}}},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}],
        })
        .to_string()
    };
    let partial = config(serde_json::json!([good, no_crv]));
    let (code, _, err) = jwtgate_stdin(&["check", "-"], &partial);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("warning: providers.p.local_jwks.keys[1]: `crv` is missing"),
        "{err}"
    );
    assert_eq!(jwtgate_stdin(&["check", "-", "--strict"], &partial).0, 1);
    let (code, _, err) = jwtgate_stdin(&["check", "-"], &config(serde_json::json!([no_crv])));
    assert_eq!(code, 1);
    assert!(
        err.contains("providers.p.local_jwks: the JWKS has no usable signature key (providers.p.local_jwks.keys[0]: `crv` is missing)"),
        "{err}"
    );
}

#[test]
fn check_warns_about_where_keys_are_fetched_from() {
    // Cloud metadata over plain http: two warnings, exit 0; --strict fails.
    let metadata = r#"{"providers": {"r": {"remote_jwks": {"http_uri": {"uri": "http://169.254.169.254/latest/meta-data/jwks", "cluster": "idp"}}}},
                       "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "r"}}]}"#;
    let (code, _, err) = jwtgate_stdin(&["check", "-"], metadata);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("warning: providers.r.remote_jwks.http_uri.uri: `http://169.254.169.254/latest/meta-data/jwks` points at a link-local address"),
        "{err}"
    );
    assert!(
        err.contains("uses plain http to a host that is not local"),
        "{err}"
    );
    assert_eq!(jwtgate_stdin(&["check", "-", "--strict"], metadata).0, 1);
    let (_, out, _) = jwtgate_stdin(&["check", "-", "--json"], metadata);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["warnings"].as_array().unwrap().len(), 2, "{report}");
    // A public https URI with extra fetch headers: clean.
    let clean = r#"{"providers": {"r": {"remote_jwks": {"http_uri": {"uri": "https://idp.example.com/jwks", "cluster": "idp"},
                       "request_headers": [{"name": "x-api-key", "value": "k1"}]}}},
                    "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "r"}}]}"#;
    let (code, _, err) = jwtgate_stdin(&["check", "-", "--strict"], clean);
    assert_eq!(code, 0, "{err}");
    // The new fields' errors name their paths.
    let bad = r#"{"providers": {"r": {"remote_jwks": {"http_uri": {"uri": "https://idp.example.com/jwks"},
                       "request_headers": [{"name": "host", "value": "evil.test"}]},
                     "typ": [], "subjects": {"exact": "a", "suffix": "b"}, "audience_match": "loose"}}}"#;
    let (code, _, err) = jwtgate_stdin(&["check", "-"], bad);
    assert_eq!(code, 1);
    assert!(err.contains("providers.r.audience_match: "), "{err}");
    let bad = r#"{"providers": {"r": {"remote_jwks": {"http_uri": {"uri": "https://idp.example.com/jwks"},
                       "request_headers": [{"name": "host", "value": "evil.test"}]}}}}"#;
    let (_, _, err) = jwtgate_stdin(&["check", "-"], bad);
    assert!(
        err.contains("providers.r.remote_jwks.request_headers[0].name: `host` cannot be set here"),
        "{err}"
    );
    let bad = format!(
        r#"{{"providers": {{"p": {{"keys": {KEYS_ONLY}, "typ": [], "required_claims": ["a\\b"]}}}}}}"#
    );
    let (_, _, err) = jwtgate_stdin(&["check", "-"], &bad);
    assert!(
        err.contains("providers.p.typ: must list at least one type"),
        "{err}"
    );
}

const KEYS_ONLY: &str = r#"[{"alg": "HS256", "secret": "0123456789abcdef0123456789abcdef"}]"#;

#[test]
fn check_lists_every_error_of_every_provider() {
    let bad = r#"{"providers": {
        "p": {"keys": [{"alg": "RS256", "pem": "-----BEGIN PUBLIC KEY-----\nMIIB!IjAN\n-----END PUBLIC KEY-----"},
                       {"alg": "HS256", "secret": "x"},
                       {"alg": "ES256", "pem": "nope"}],
              "from_headers": [{"name": "Bad Name"}], "issuer": "", "clock_skew_seconds": "x"},
        "q": {"keys": "not-a-list", "from_cookies": [""]}},
        "max_token_bytes": 1, "realm": ""}"#;
    let (code, _, err) = jwtgate_stdin(&["check", "-"], bad);
    assert_eq!(code, 1);
    for line in [
        "max_token_bytes: ",
        "realm: ",
        "providers.p.clock_skew_seconds: invalid type",
        "providers.p.from_headers[0].name: ",
        "providers.p.issuer: must not be empty",
        "providers.p.keys[0].pem: PEM: not valid base64 at line 2 (character '!')",
        "providers.p.keys[1].secret: HMAC secret is 1 bytes",
        "providers.p.keys[2].pem: not a PEM block",
        "providers.q.from_cookies[0]: not a cookie name",
        "providers.q.keys: invalid type",
        "10 error(s)",
    ] {
        assert!(err.contains(line), "{line} missing in:\n{err}");
    }
}

#[test]
fn check_names_what_is_wrong_with_a_key() {
    use rsa::pkcs8::{DecodePrivateKey as _, EncodePublicKey as _};
    let private = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../jwtgate-core/tests/fixtures/rsa2048-test-only.pem"
    ))
    .unwrap();
    let pem = rsa::RsaPrivateKey::from_pkcs8_pem(&private)
        .unwrap()
        .to_public_key()
        .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
        .unwrap();
    let provider = |key: serde_json::Value| {
        serde_json::json!({"providers": {"p": {"keys": [key]}},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}]})
        .to_string()
    };
    let cases = [
        (
            serde_json::json!({"alg": "ES256", "pem": pem}),
            "alg ES256 does not fit this key (RSA)",
        ),
        (
            serde_json::json!({"pem": pem.replace("-----END PUBLIC KEY-----", "")}),
            "PEM: no -----END PUBLIC KEY----- line",
        ),
        (
            serde_json::json!({"pem": "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----"}),
            "PEM: `EC PARAMETERS` is not a public key",
        ),
        (
            // secp256k1 (ES256K): a valid SPKI of a curve jwtgate does not verify.
            serde_json::json!({"pem": "-----BEGIN PUBLIC KEY-----\nMFYwEAYHKoZIzj0CAQYFK4EEAAoDQgAEeb5mfvncu6xVoGKVzocLBwKb/NstzijZ\nWfKBWxb4F5hIOtp3JqPEZV2k+/wOEQio/Re0SKaFVBmcR9CP+xDUuA==\n-----END PUBLIC KEY-----"}),
            "EC key on secp256k1 (ES256K) is not supported",
        ),
    ];
    for (key, message) in cases {
        let (code, _, err) = jwtgate_stdin(&["check", "-"], &provider(key));
        assert_eq!(code, 1);
        assert!(err.contains(message), "{message} missing in:\n{err}");
    }
    // A JWK whose alg does not fit its key type names the key type.
    let jwks = serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "alg": "RS256",
        "x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4", "y": "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}]});
    let config = serde_json::json!({"providers": {"p": {"local_jwks": {"inline_string": jwks.to_string()}}}});
    let (_, _, err) = jwtgate_stdin(&["check", "-"], &config.to_string());
    assert!(
        err.contains("providers.p.local_jwks.keys[0]: alg RS256 does not fit this key (EC P-256)"),
        "{err}"
    );
}

#[test]
fn every_command_prints_the_version() {
    let want = format!("jwtgate {}", env!("CARGO_PKG_VERSION"));
    for args in [
        &["--version"][..],
        &["check", "--version"],
        &["explain", "--version"],
        &["mint", "--version"],
        &["keygen", "--version"],
        &["schema", "--version"],
    ] {
        let (code, out, err) = jwtgate(args);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(out.starts_with(&want), "{args:?}: {out}");
    }
}

#[test]
fn keygen_refuses_to_overwrite_and_keeps_private_keys_private() {
    let dir = std::env::temp_dir().join(format!("jwtgate-keygen-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = dir.to_string_lossy().into_owned();
    for (alg, private) in [("ES256", "es256.pem"), ("HS256", "hs256.secret")] {
        let (code, _, err) = jwtgate(&["keygen", "--alg", alg, "--out", &out]);
        assert_eq!(code, 0, "{err}");
        let first = std::fs::read(dir.join(private)).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.join(private))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{private}: {mode:o}");
        }
        let (code, _, err) = jwtgate(&["keygen", "--alg", alg, "--out", &out]);
        assert_eq!(code, 1);
        assert!(
            err.contains("exists; not overwriting it (use --force"),
            "{err}"
        );
        assert_eq!(std::fs::read(dir.join(private)).unwrap(), first);
        let (code, _, err) = jwtgate(&["keygen", "--alg", alg, "--out", &out, "--force"]);
        assert_eq!(code, 0, "{err}");
        assert_ne!(std::fs::read(dir.join(private)).unwrap(), first);
    }
}

#[test]
fn explain_names_the_failed_claim_and_the_auth_service_it_would_call() {
    let user = format!(
        "Authorization: Bearer {}",
        token(r#"{"sub":"a","role":"user","exp":2000000000}"#)
    );
    let args = ["--path", "/admin", "-H", &user, "--now", "1700000000"];
    let (_, out, _) = jwtgate(&[&["explain", &config()][..], &args].concat());
    assert!(
        out.contains("failed:   rules[0].requires.claims[0]: `role` must equal \"admin\"; the token has role = \"user\" (403 claims_forbidden)"),
        "{out}"
    );
    let (_, out, _) = jwtgate(&[&["explain", &config()][..], &args, &["--json"]].concat());
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(
        json["failed_claim"]
            .as_str()
            .unwrap()
            .starts_with("rules[0].requires.claims[0]: `role`"),
        "{out}"
    );

    let ext = write_config(
        "ext.json",
        r#"{"ext_auth": {"authz": {"http_uri": {"uri": "http://auth.internal:9000/check", "cluster": "auth"}}},
            "rules": [{"match": {"prefix": "/"}, "requires": {"ext_auth": "authz"}}]}"#,
    );
    let (code, out, _) = jwtgate(&["explain", &ext, "--path", "/orders"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("answer:   would call authz (ext_auth): the answer decides"),
        "{out}"
    );
    assert!(out.contains("→ requires ext_auth authz"), "{out}");
    assert!(!out.contains("500"), "{out}");
    let (_, out, _) = jwtgate(&["explain", &ext, "--path", "/orders", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["decision"]["action"], "ask_ext_auth");
    assert_eq!(json["decision"]["service"], "authz");
}

/// `mint --dpop-key` binds a token to a client key, `mint --dpop` makes that key's proof, and
/// the filter's decision (`explain`) accepts the pair, refuses the proof for another URI, and
/// refuses the token without its proof; `--cnf-x5t` binds a token to a certificate.
#[test]
fn mint_dpop_proof_and_bound_token_pass_the_filters_decision() {
    let dir = std::env::temp_dir().join(format!("jwtgate-dpop-{}", std::process::id()));
    let out = dir.to_string_lossy().into_owned();
    for (alg, kid) in [
        ("RS256", "issuer"),
        ("ES256", "client"),
        ("EdDSA", "client-ed"),
    ] {
        let (code, _, err) = jwtgate(&["keygen", "--alg", alg, "--kid", kid, "--out", &out]);
        assert_eq!(code, 0, "{err}");
    }
    let jwks = std::fs::read_to_string(dir.join("issuer.jwks.json")).unwrap();
    let config = write_config(
        "dpop.json",
        &serde_json::json!({"providers": {"p": {"issuer": "https://minted.test",
            "local_jwks": {"inline_string": jwks},
            "dpop": {"required": true, "scheme": "https"}}},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}]})
        .to_string(),
    );
    let file = |name: &str| dir.join(name).to_string_lossy().into_owned();
    for client in ["client.pem", "client-ed.pem"] {
        let (code, token, err) = jwtgate(&[
            "mint",
            "--alg",
            "RS256",
            "--key",
            &file("issuer.pem"),
            "--kid",
            "issuer",
            "--iss",
            "https://minted.test",
            "--dpop-key",
            &file(client),
        ]);
        assert_eq!(code, 0, "{err}");
        let token = token.trim().to_string();
        let proof = |htu: &str| {
            let (code, proof, err) = jwtgate(&[
                "mint",
                "--dpop",
                &file(client),
                "--htm",
                "GET",
                "--htu",
                htu,
                "--token",
                &token,
            ]);
            assert_eq!(code, 0, "{err}");
            proof.trim().to_string()
        };
        let explain = |proof: Option<String>| {
            let auth = format!("Authorization: DPoP {token}");
            let mut args = vec![
                "explain".to_string(),
                config.clone(),
                "--path".into(),
                "/orders?x=1".into(),
                "-H".into(),
                "Host: api.test".into(),
                "-H".into(),
                auth,
            ];
            if let Some(p) = proof {
                args.push("-H".into());
                args.push(format!("DPoP: {p}"));
            }
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            jwtgate(&refs).1
        };
        let ok = explain(Some(proof("https://api.test/orders")));
        assert!(
            ok.contains("answer:   forwarded upstream"),
            "{client}: {ok}"
        );
        let other = explain(Some(proof("https://api.test/admin")));
        assert!(other.contains("dpop_proof_invalid"), "{client}: {other}");
        let none = explain(None);
        assert!(none.contains("dpop_proof_missing"), "{client}: {none}");
    }
    let (code, _, err) = jwtgate(&[
        "mint",
        "--dpop",
        &file("client.pem"),
        "--htu",
        "https://a/x?q",
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("without query"), "{err}");
}

#[test]
fn introspection_providers_are_checked_and_explained_without_their_secret() {
    let config = |extra: &str| {
        format!(
            r#"{{"providers": {{"opaque": {{"introspection": {{
                "http_uri": {{"uri": "http://idp.example.com/introspect", "cluster": "idp"}},
                "client_id": "gate", "client_secret": "HUNTER2-secret"}}{extra}}}}},
              "rules": [{{"match": {{"prefix": "/"}}, "requires": {{"provider_name": "opaque"}}}}]}}"#
        )
    };
    let (code, out, err) = jwtgate_stdin(&["check", "-"], &config(""));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        err.contains("providers.opaque.introspection.http_uri.uri") && err.contains("plain http"),
        "{err}"
    );
    // Every error of the provider, each by field, none a false "no keys" one.
    let bad = config(
        r#", "typ": ["at+jwt"], "claim_to_headers": [{"header_name": "cookie", "claim_name": "sub"}]"#,
    );
    let (code, out, err) = jwtgate_stdin(&["check", "-"], &bad);
    assert_eq!(code, 1);
    assert!(err.contains("providers.opaque.typ"), "{err}");
    assert!(
        err.contains("providers.opaque.claim_to_headers[0].header_name"),
        "{err}"
    );
    assert!(!err.contains("no keys"), "{err}");
    let bad_secret = config("").replace("HUNTER2-secret", "HUNTER2\\nsecret");
    let (code, _, err) = jwtgate_stdin(&["check", "-"], &bad_secret);
    assert_eq!(code, 1);
    assert!(err.contains("introspection.client_secret"), "{err}");
    for text in [&out, &err] {
        assert!(!text.contains("HUNTER2"), "{text}");
    }
    let file = write_config("introspection.json", &config(""));
    let (code, out, err) = jwtgate(&[
        "explain",
        &file,
        "--path",
        "/x",
        "-H",
        "authorization: Bearer opaque-token",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("would POST the token to http://idp.example.com/introspect"),
        "{out}"
    );
    let (_, json_out, _) = jwtgate(&[
        "explain",
        &file,
        "--path",
        "/x",
        "--json",
        "-H",
        "authorization: Bearer opaque-token",
    ]);
    assert!(json_out.contains("\"introspect\""), "{json_out}");
    for text in [&out, &err, &json_out] {
        assert!(!text.contains("HUNTER2"), "{text}");
    }
}
