//! The PyJWT corpus through the core natively (the in-host run is tests/host): every case's
//! status, RFC 6750 error, refusal reason (`Verdict.rejection`) and upstream headers.
//!
//! The corpus is JWTGATE_CORPUS when set (`make test`), else target/corpus/cases.json, which this
//! test makes with `make corpus`'s steps (tests/corpus/setup.sh, gen.py: python3 and PyJWT from
//! pip) when it is missing or older than gen.py. It never skips: no corpus is a failure.
// A test (or measurement) program: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use jwtgate_core::{Decision, Gateway, HeaderOp, Request};
use serde_json::Value;

#[test]
fn pyjwt_corpus_natively() {
    let path = corpus_path();
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read the corpus {}: {e}", path.display()));
    let corpus: Value = serde_json::from_str(&text).expect("corpus JSON");
    // Built without ES384/ES512 (`--no-default-features`): configurations with those keys must
    // be refused; without those providers they must load, and their routes' cases are not run.
    let missing: Vec<&str> = [
        ("es384", cfg!(feature = "es384")),
        ("es512", cfg!(feature = "es512")),
    ]
    .into_iter()
    .filter(|(_, built)| !built)
    .map(|(alg, _)| alg)
    .collect();
    let mut gateways = HashMap::new();
    for (id, config) in corpus["configs"].as_object().unwrap() {
        let mut config = config.clone();
        let providers = config["providers"].as_object().unwrap();
        if missing.iter().any(|alg| providers.contains_key(*alg)) {
            assert!(
                Gateway::from_json(config.to_string().as_bytes()).is_err(),
                "config {id}: loaded with {missing:?} keys although this build lacks them"
            );
            config["providers"]
                .as_object_mut()
                .unwrap()
                .retain(|name, _| !missing.contains(&name.as_str()));
            config["rules"].as_array_mut().unwrap().retain(|rule| {
                let provider = rule["requires"]["provider_name"].as_str().unwrap_or("");
                !missing.contains(&provider)
            });
        }
        let gw = Gateway::from_json(config.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("config {id}: {e}"));
        gateways.insert(id.clone(), gw);
    }
    let mut failures = Vec::new();
    let mut not_run = Vec::new();
    let cases = corpus["cases"].as_array().unwrap();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let case_path = case["request"]["path"].as_str().unwrap();
        if missing
            .iter()
            .any(|alg| case_path.starts_with(&format!("/{alg}")))
        {
            not_run.push(name);
            continue;
        }
        let gw = &gateways[case["config"].as_str().unwrap()];
        let now = case["now"].as_u64().or(corpus["now"].as_u64()).unwrap();
        let req = &case["request"];
        let mut headers: Vec<(String, String)> = req["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p[0].as_str().unwrap().to_string(),
                    p[1].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let mut path = req["path"].as_str().unwrap().to_string();
        let verdict = gw.decide(
            &Request {
                method: req["method"].as_str().unwrap(),
                path: &path,
                headers: &headers,
            },
            now,
        );
        let expect = &case["expect"];
        let want = expect["status"].as_u64().unwrap() as u32;
        match expect.get("reason") {
            Some(Value::String(reason)) if verdict.rejection.map(|r| r.name()) == Some(reason) => {}
            Some(Value::Null) if verdict.rejection.is_none() => {}
            Some(reason) => failures.push(format!(
                "{name}: reason {:?}, want {reason}",
                verdict.rejection.map(|r| r.name())
            )),
            None => failures.push(format!(
                "{name}: the case has no expected reason (the core says {:?})",
                verdict.rejection.map(|r| r.name())
            )),
        }
        match verdict.decision {
            Decision::WaitForKeys(_)
            | Decision::AskExtAuth { .. }
            | Decision::Introspect { .. } => failures.push(format!("{name}: paused")),
            Decision::Respond(resp) => {
                if resp.status != want {
                    failures.push(format!(
                        "{name}: {} ({:?}), want {want}",
                        resp.status, verdict.rejection
                    ));
                } else if let Some(Value::String(code)) = expect.get("error") {
                    let challenge = resp.headers.iter().find(|(n, _)| n == "www-authenticate");
                    if !challenge.is_some_and(|(_, v)| v.contains(&format!("error=\"{code}\""))) {
                        failures.push(format!("{name}: no error={code} in {challenge:?}"));
                    }
                }
            }
            Decision::Forward(ops) => {
                if want != 200 {
                    failures.push(format!("{name}: forwarded, want {want}"));
                    continue;
                }
                for op in ops {
                    match op {
                        HeaderOp::Remove(n) => headers.retain(|(h, _)| !h.eq_ignore_ascii_case(&n)),
                        HeaderOp::Set(n, v) if n == ":path" => path = v,
                        HeaderOp::Set(n, v) => {
                            headers.retain(|(h, _)| !h.eq_ignore_ascii_case(&n));
                            headers.push((n, v));
                        }
                    }
                }
                headers.push((":path".into(), path));
                let get = |n: &str| {
                    headers
                        .iter()
                        .find(|(h, _)| h.eq_ignore_ascii_case(n))
                        .map(|(_, v)| v.as_str())
                };
                if let Some(Value::Object(want)) = expect.get("upstream_headers") {
                    for (n, v) in want {
                        if get(n) != v.as_str() {
                            failures.push(format!("{name}: upstream {n} = {:?}, want {v}", get(n)));
                        }
                    }
                }
                if let Some(Value::Array(absent)) = expect.get("upstream_absent") {
                    for n in absent.iter().filter_map(Value::as_str) {
                        if get(n).is_some() {
                            failures.push(format!("{name}: upstream still has {n}"));
                        }
                    }
                }
            }
        }
    }
    println!(
        "native corpus: {} passed, {} failed, {} not run (this build lacks {missing:?}): {not_run:?}",
        cases.len() - failures.len() - not_run.len(),
        failures.len(),
        not_run.len()
    );
    assert!(
        missing.is_empty() || (!not_run.is_empty() && not_run.len() < cases.len() / 4),
        "{} cases not run",
        not_run.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// JWTGATE_CORPUS, or the default corpus, made (or remade, when gen.py or the keys changed) here.
fn corpus_path() -> PathBuf {
    if let Some(path) = std::env::var_os("JWTGATE_CORPUS") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "JWTGATE_CORPUS={} does not exist: run `make corpus` or unset it",
            path.display()
        );
        return path;
    }
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    let path = root.join("target/corpus/cases.json");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let inputs = [
        root.join("tests/corpus/gen.py"),
        root.join("tests/corpus/keys"),
    ];
    let stale = match modified(&path) {
        None => true,
        Some(made) => inputs.iter().any(|p| modified(p).is_some_and(|t| t > made)),
    };
    if stale {
        eprintln!(
            "{} is missing or older than tests/corpus/gen.py: making it (`make corpus`)",
            path.display()
        );
        let setup = Command::new("bash")
            .arg(root.join("tests/corpus/setup.sh"))
            .output()
            .unwrap_or_else(|e| {
                panic!("cannot run tests/corpus/setup.sh ({e}): run `make corpus`")
            });
        assert!(
            setup.status.success(),
            "tests/corpus/setup.sh failed (python3 -m venv, pip install PyJWT): run `make corpus`\n{}",
            String::from_utf8_lossy(&setup.stderr)
        );
        let python = String::from_utf8_lossy(&setup.stdout).trim().to_string();
        // Written aside and renamed: a concurrent reader never sees half a corpus.
        let partial = path.with_extension(format!("json.{}", std::process::id()));
        let gen = Command::new(&python)
            .arg(root.join("tests/corpus/gen.py"))
            .arg(&partial)
            .status()
            .unwrap_or_else(|e| panic!("cannot run {python} tests/corpus/gen.py: {e}"));
        assert!(gen.success(), "tests/corpus/gen.py failed: {gen}");
        std::fs::rename(&partial, &path).expect("move the new corpus into place");
    }
    path
}
