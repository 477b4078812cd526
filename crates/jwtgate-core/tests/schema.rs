//! The configuration's JSON Schema (feature `cli`: only the `jwtgate` CLI prints it) against the
//! committed Kong metadata and against the parser's own list of fields.
// A test (or measurement) program: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use jwtgate_core::Gateway;

mod common;
use common::root;

#[test]
fn kong_meta_json_is_the_schema_generated_from_the_configuration_types() {
    let committed: serde_json::Value =
        serde_json::from_str(&root("nginx-wasm/jwtgate.meta.json")).unwrap();
    let generated = serde_json::json!({"config_schema": Gateway::json_schema()});
    assert!(
        committed == generated,
        "nginx-wasm/jwtgate.meta.json is stale: run `make schema`"
    );
}

#[test]
fn the_schema_names_exactly_the_fields_the_parser_accepts() {
    // The parser's own list of fields (serde's "unknown field … expected one of …") at each
    // object level, against the schema's properties there.
    let schema = Gateway::json_schema();
    let defs = &schema["definitions"];
    let props = |s: &serde_json::Value| -> Vec<String> {
        let mut k: Vec<String> = s["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        k.sort();
        k
    };
    let expected = |probe: serde_json::Value| -> Vec<String> {
        let e = Gateway::from_json(probe.to_string().as_bytes()).unwrap_err();
        let list = e
            .message
            .split("expected one of ")
            .nth(1)
            .unwrap_or_else(|| panic!("no field list in {e}"));
        let mut k: Vec<String> = list
            .split(", ")
            .map(|f| f.trim_matches('`').to_string())
            .collect();
        k.sort();
        k
    };
    let probe = serde_json::json!({"zz_probe": 1});
    assert_eq!(props(&schema), expected(probe.clone()));
    assert_eq!(
        props(&defs["RawProvider"]),
        expected(serde_json::json!({"providers": {"p": probe}}))
    );
    assert_eq!(
        props(&defs["RawRule"]),
        expected(serde_json::json!({"rules": [probe]}))
    );
    assert_eq!(
        props(&defs["RawRequirement"]),
        expected(serde_json::json!({"rules": [{"match": {"prefix": "/"}, "requires": probe}]}))
    );
    assert_eq!(
        props(&defs["RawRemoteJwks"]),
        expected(serde_json::json!({"providers": {"p": {"remote_jwks": probe}}}))
    );
    assert_eq!(
        props(&defs["RawStringMatcher"]),
        expected(serde_json::json!({"providers": {"p": {"subjects": probe}}}))
    );
    // Two fields: serde says "expected `name` or `value`".
    let e = Gateway::from_json(
        serde_json::json!({"providers": {"p": {"remote_jwks": {
            "http_uri": {"uri": "https://idp.test/k"}, "request_headers": [probe]}}}})
        .to_string()
        .as_bytes(),
    )
    .unwrap_err();
    assert!(e.message.ends_with("expected `name` or `value`"), "{e}");
    assert_eq!(props(&defs["RawHeaderValue"]), ["name", "value"]);
    assert_eq!(
        props(&defs["RawExtAuth"]),
        expected(serde_json::json!({"ext_auth": {"a": probe}}))
    );
}
