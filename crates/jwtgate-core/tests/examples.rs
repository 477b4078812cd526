//! Drift: every jwtgate configuration shipped in an example file is accepted by the same parser
//! the filter uses (the `jwtgate check` path).
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

fn accepts(what: &str, json: &str) {
    if let Err(e) = Gateway::from_json(json.as_bytes()) {
        panic!("{what}: {e}\n{json}");
    }
}

#[test]
fn envoy_yaml_configuration_is_valid() {
    let yaml = root("envoy/envoy.yaml");
    // The StringValue's `value: |` block: the lines indented deeper than `value:`.
    let start = yaml.find("value: |").expect("a value: | block");
    let indent = yaml[..start].rsplit('\n').next().unwrap().len();
    let block: Vec<&str> = yaml[start..]
        .lines()
        .skip(1)
        .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
        .collect();
    accepts("envoy/envoy.yaml", &block.join("\n"));
}

#[test]
fn nginx_conf_configurations_are_valid() {
    let conf = root("nginx-wasm/nginx.conf");
    let mut found = 0;
    for line in conf
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("proxy_wasm jwtgate '"))
    {
        let json = line
            .trim_start_matches("proxy_wasm jwtgate '")
            .trim_end_matches("';");
        assert!(json.len() < 4000, "nginx.conf parameters hold about 4 KB");
        accepts("nginx-wasm/nginx.conf", json);
        found += 1;
    }
    assert!(found > 0);
}

#[test]
fn demo_configuration_is_valid() {
    accepts(
        "tests/host/demo/demo-config.json",
        &root("tests/host/demo/demo-config.json"),
    );
}

#[test]
fn complete_readme_configurations_are_valid() {
    let readme = root("README.md");
    let mut checked = 0;
    for block in readme.split("```json").skip(1) {
        let json = block.split("```").next().unwrap_or("");
        // Whole configurations only; blocks with elided values ("…") are fragments.
        if json.trim_start().starts_with("{\"providers\"")
            || json.trim_start().starts_with("{\"ext_auth\"")
            || json.trim_start().starts_with("{\n  \"providers\"")
        {
            if json.contains('…') {
                continue;
            }
            accepts("README.md", json);
            checked += 1;
        }
    }
    assert!(
        checked >= 7,
        "only {checked} complete README configurations"
    );
}

/// The JSON written in flow style after `key:` in a YAML file (one line).
fn yaml_flow_json(path: &str, key: &str) -> String {
    let text = root(path);
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(key))
        .unwrap_or_else(|| panic!("{path}: no `{key}` line"));
    line.trim_start_matches(key).trim().to_string()
}

#[test]
fn istio_wasmplugin_configuration_is_valid() {
    accepts(
        "envoy/wasmplugin.yaml",
        &yaml_flow_json("envoy/wasmplugin.yaml", "pluginConfig:"),
    );
}

#[test]
fn istio_trafficextension_configuration_is_valid() {
    let yaml = root("envoy/trafficextension.yaml");
    assert!(yaml.contains("kind: TrafficExtension") && yaml.contains("\n  wasm:\n"));
    accepts(
        "envoy/trafficextension.yaml",
        &yaml_flow_json("envoy/trafficextension.yaml", "pluginConfig:"),
    );
}

#[test]
fn nginx_demo_jwks_is_a_public_key_set_the_filter_accepts() {
    let jwks = root("nginx-wasm/jwks.json");
    assert!(
        !jwks.contains("\"d\""),
        "nginx-wasm/jwks.json must hold public keys only"
    );
    let config =
        serde_json::json!({"providers": {"demo": {"local_jwks": {"inline_string": jwks}}}});
    accepts("nginx-wasm/jwks.json", &config.to_string());
}

#[test]
fn kong_filter_chain_configuration_is_valid() {
    accepts(
        "nginx-wasm/kong.yaml",
        &yaml_flow_json("nginx-wasm/kong.yaml", "config:"),
    );
}
