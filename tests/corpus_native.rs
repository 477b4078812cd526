//! The PyJWT corpus through the core natively (the in-host run is tests/host). Fast feedback
//! for `cargo test`; `make test` sets JWTGATE_CORPUS so a missing corpus fails instead of
//! skipping.

use std::collections::HashMap;

use jwtgate::core::{Decision, Gateway, HeaderOp, Request};
use serde_json::Value;

#[test]
fn pyjwt_corpus_natively() {
    let Some(path) = std::env::var_os("JWTGATE_CORPUS") else {
        eprintln!("JWTGATE_CORPUS not set: run `make test` (or `make corpus`) for the corpus");
        return;
    };
    let text = std::fs::read_to_string(&path).expect("JWTGATE_CORPUS is set but unreadable");
    let corpus: Value = serde_json::from_str(&text).expect("corpus JSON");
    let mut gateways = HashMap::new();
    for (id, config) in corpus["configs"].as_object().unwrap() {
        let gw = Gateway::from_json(config.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("config {id}: {e}"));
        gateways.insert(id.clone(), gw);
    }
    let mut failures = Vec::new();
    let cases = corpus["cases"].as_array().unwrap();
    for case in cases {
        let name = case["name"].as_str().unwrap();
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
        match verdict.decision {
            Decision::WaitForKeys(_) | Decision::AskExtAuth { .. } => {
                failures.push(format!("{name}: paused"))
            }
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
        "native corpus: {} passed, {} failed",
        cases.len() - failures.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
