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
fn path_bytes_stay_visible() {
    assert_eq!(encode_path(b"/caf\xc3\xa9?a=1"), "/café?a=1");
    assert_eq!(encode_path(b"/a\xff\x80b"), "/a%FF%80b");
    assert_eq!(encode_path(b"/a\x01\x7f"), "/a%01%7F");
    assert_eq!(encode_path(b"/a%2Fb"), "/a%2Fb");
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
