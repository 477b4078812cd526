//! The `jwtgate` command line: `check` exit codes and messages, `explain` on an allowed, a 401
//! and a 403 request.

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
