//! The module's pure half (src/glue.rs), tested without NGINX (the library itself links only
//! inside nginx).
// A test (or measurement) program: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../src/glue.rs"]
#[allow(dead_code)]
mod glue;

use glue::*;
use jwtgate_core::HeaderOp;

fn rm(n: &str) -> HeaderOp {
    HeaderOp::Remove(n.into())
}
fn set(n: &str, v: &str) -> HeaderOp {
    HeaderOp::Set(n.into(), v.into())
}

#[test]
fn removal_takes_every_spelling_and_entry() {
    let names: Vec<&[u8]> = vec![b"Host", b"X-User", b"x-user", b"X-USER", b"Accept"];
    let out = plan(&names, &[rm("x-user")]).unwrap();
    assert_eq!(out, vec![Entry::Kept(0), Entry::Kept(4)]);
}

#[test]
fn set_replaces_and_appends() {
    let names: Vec<&[u8]> = vec![b"X-User", b"Accept", b"x-user"];
    let out = plan(&names, &[rm("x_user"), set("x-user", "alice")]).unwrap();
    assert_eq!(
        out,
        vec![
            Entry::Kept(1),
            Entry::Added("x-user".into(), "alice".into())
        ]
    );
}

#[test]
fn nothing_to_change() {
    let names: Vec<&[u8]> = vec![b"Host"];
    assert_eq!(plan(&names, &[rm("x-user")]), None);
    assert_eq!(plan(&names, &[set(":path", "/x")]), None);
    assert_eq!(path_change(&[set(":path", "/x?b=1")]), Some("/x?b=1"));
}

#[test]
fn local_jwks_files_are_inlined() {
    let dir = std::env::temp_dir().join(format!("jwtgate-glue-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("keys.json"), r#"{"keys": []}"#).unwrap();
    let config = br#"{"providers": {"p": {"local_jwks": {"filename": "keys.json"}}}}"#;
    let out = inline_files(config, &dir).unwrap().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(
        v["providers"]["p"]["local_jwks"],
        serde_json::json!({"inline_string": r#"{"keys": []}"#})
    );
    let missing = br#"{"providers": {"p": {"local_jwks": {"filename": "nope.json"}}}}"#;
    let err = inline_files(missing, &dir).unwrap_err();
    assert!(
        err.starts_with("providers.p.local_jwks.filename: cannot read"),
        "{err}"
    );
    assert_eq!(inline_files(b"{", &dir), Ok(None));
    assert_eq!(inline_files(br#"{"providers": {}}"#, &dir), Ok(None));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn claim_variable_names() {
    assert_eq!(claim_name(b"jwtgate_claim_sub").as_deref(), Some("sub"));
    assert_eq!(
        claim_name(b"jwtgate_claim_realm_access__roles").as_deref(),
        Some("realm_access.roles")
    );
    assert_eq!(claim_name(b"JWTGATE_CLAIM_Sub").as_deref(), Some("sub"));
    assert_eq!(claim_name(b"jwtgate_claim_"), None);
    assert_eq!(claim_name(b"jwtgate_result"), None);
}

#[test]
fn claim_values_as_claim_to_headers_renders_them() {
    let token = serde_json::json!({
        "sub": "alice", "iat": 1700000000, "admin": true, "amount": 1.5,
        "realm_access": {"roles": ["user", "admin"]}, "isAdmin": "yes",
        "org": {"Name": "acme", "Id": 7}, "empty": [], "none": null,
        "bad": "a\u{1}b", "https://example.com/roles": ["x"]
    });
    let claims = token.as_object().unwrap();
    let other = serde_json::json!({"sub": "bob", "tenant": "t1"});
    let tokens = [claims, other.as_object().unwrap()];
    let text = |name: &str| claim_text(&tokens, name);
    assert_eq!(
        text("sub").as_deref(),
        Some("alice"),
        "the first token wins"
    );
    assert_eq!(text("tenant").as_deref(), Some("t1"), "then the next");
    assert_eq!(text("iat").as_deref(), Some("1700000000"));
    assert_eq!(text("admin").as_deref(), Some("true"));
    assert_eq!(text("amount").as_deref(), Some("1.5"));
    assert_eq!(text("realm_access.roles").as_deref(), Some("user,admin"));
    assert_eq!(
        text("realm_access").as_deref(),
        Some(r#"{"roles":["user","admin"]}"#)
    );
    assert_eq!(text("isadmin").as_deref(), Some("yes"), "any case");
    assert_eq!(text("org.name").as_deref(), Some("acme"));
    assert_eq!(text("org.id").as_deref(), Some("7"));
    for absent in ["nope", "empty", "none", "bad", "sub.x", "realm_access.nope"] {
        assert_eq!(text(absent), None, "{absent}");
    }
    assert_eq!(claim_text(&[], "sub"), None);
}

#[test]
fn key_files_are_inlined() {
    let dir = std::env::temp_dir().join(format!("jwtgate-glue-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pem = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    std::fs::write(dir.join("key.pem"), pem).unwrap();
    std::fs::write(dir.join("secret.txt"), "s3cret\r\n").unwrap();
    std::fs::write(dir.join("secret2.txt"), "two\n\n").unwrap();
    std::fs::write(dir.join("binary"), [0xff, 0xfe]).unwrap();
    let config = br#"{"providers": {"p": {"keys": [
        {"alg": "RS256", "pem_file": "key.pem"},
        {"alg": "HS256", "secret_file": "secret.txt"},
        {"alg": "HS256", "secret_file": "secret2.txt", "encoding": "utf8"}]}}}"#;
    let out = inline_files(config, &dir).unwrap().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let keys = &v["providers"]["p"]["keys"];
    assert_eq!(keys[0], serde_json::json!({"alg": "RS256", "pem": pem}));
    assert_eq!(
        keys[1],
        serde_json::json!({"alg": "HS256", "secret": "s3cret"})
    );
    assert_eq!(
        keys[2],
        serde_json::json!({"alg": "HS256", "secret": "two\n", "encoding": "utf8"}),
        "one trailing newline dropped"
    );
    let err = |config: &str| inline_files(config.as_bytes(), &dir).unwrap_err();
    let missing = err(r#"{"providers": {"p": {"keys": [{"pem_file": "nope.pem"}]}}}"#);
    assert!(
        missing.starts_with("providers.p.keys[0].pem_file: cannot read"),
        "{missing}"
    );
    let missing = err(r#"{"providers": {"q": {"keys": [{}, {"secret_file": "nope"}]}}}"#);
    assert!(
        missing.starts_with("providers.q.keys[1].secret_file: cannot read"),
        "{missing}"
    );
    let both = err(r#"{"providers": {"p": {"keys": [{"pem": "x", "pem_file": "key.pem"}]}}}"#);
    assert_eq!(
        both,
        "providers.p.keys[0].pem_file: set `pem` or `pem_file`, not both"
    );
    let number = err(r#"{"providers": {"p": {"keys": [{"secret_file": 1}]}}}"#);
    assert_eq!(
        number,
        "providers.p.keys[0].secret_file: must be a string (a file name)"
    );
    let binary = err(r#"{"providers": {"p": {"keys": [{"secret_file": "binary"}]}}}"#);
    assert!(binary.ends_with("is not UTF-8"), "{binary}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The wasm filter parses the configuration with the core alone: a key file is refused there,
/// naming the field.
#[test]
fn key_files_stay_errors_without_the_module() {
    for field in ["pem_file", "secret_file"] {
        let config = format!(r#"{{"providers": {{"p": {{"keys": [{{"{field}": "k"}}]}}}}}}"#);
        let err = jwtgate_core::Gateway::from_json(config.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("providers.p.keys[0]") && err.contains(field),
            "{err}"
        );
    }
    let jwks = br#"{"providers": {"p": {"local_jwks": {"filename": "k.jwks"}}}}"#;
    let err = jwtgate_core::Gateway::from_json(jwks)
        .unwrap_err()
        .to_string();
    assert!(err.contains("local_jwks.filename"), "{err}");
}

/// A cluster becomes the internal location `/_jwtgate/<cluster>/`: one path segment, as the
/// configuration wrote it, or the configuration is refused.
#[test]
fn clusters_that_name_a_location() {
    for ok in ["idp", "idp.example.com:443", "auth_v2", "a-b", "[::1]:8443"] {
        assert!(is_location_segment(ok), "{ok}");
    }
    for bad in [
        "", ".", "..", "a/b", "a?b", "a#b", "a%2f", "a b", "a\\b", "a\tb", "a\u{7f}",
    ] {
        assert!(!is_location_segment(bad), "{bad:?}");
    }
}
