//! What the core's integration tests share: files of the repository, and the helpers every
//! decision table uses. Each test binary uses a part of it.
#![allow(dead_code)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jwtgate_core::{Decision, Gateway, Rejection, Verdict};
use serde_json::Value;

pub fn root(path: &str) -> String {
    let full = format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// The PyJWT corpus (tests/corpus/gen.py): `$JWTGATE_CORPUS`, else target/corpus/cases.json.
/// No corpus is a failure, never a skip.
pub fn corpus() -> Value {
    let path = std::env::var("JWTGATE_CORPUS").unwrap_or_else(|_| {
        format!(
            "{}/../../target/corpus/cases.json",
            env!("CARGO_MANIFEST_DIR")
        )
    });
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read the corpus at {path} ({e}); run `make corpus`"));
    serde_json::from_str(&text).expect("corpus JSON")
}

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A gateway from a configuration that must be valid.
pub fn gateway(config: Value) -> Gateway {
    Gateway::from_json(config.to_string().as_bytes()).unwrap_or_else(|e| panic!("{e}"))
}

pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Refused for `want`, answered locally with its status.
pub fn assert_rejected(v: &Verdict, want: Rejection) {
    assert_eq!(v.rejection, Some(want), "{v:?}");
    match &v.decision {
        Decision::Respond(resp) => assert_eq!(resp.status, want.status(), "{v:?}"),
        other => panic!("expected a local response, got {other:?}"),
    }
}
