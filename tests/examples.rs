//! Drift: every jwtgate configuration shipped in an example file is accepted by the same parser
//! the filter uses (the `jwtgate check` path).

use jwtgate::core::Gateway;

fn root(path: &str) -> String {
    let full = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

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
