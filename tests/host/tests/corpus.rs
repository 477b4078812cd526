//! The PyJWT corpus (tests/corpus/gen.py) through the built jwtgate.wasm inside
//! proxy-wasm-host: every case's status, RFC 6750 error, JSON body, upstream headers and the
//! refusal reason, which the filter reports in its log line (`reason=…`) and its counters
//! (`<stat_prefix>.denied.<reason>`, dry-run: `.dry_run.would_deny.<reason>`).
// A test (or measurement) program: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;

use jwtgate_host_tests::{corpus, wasm_path, Filter, Outcome};
use serde_json::Value;

/// Why `outcome` does not meet `expect`, if it does not.
fn mismatch(expect: &Value, outcome: &Outcome, token: Option<&str>) -> Option<String> {
    let want = expect["status"].as_u64().unwrap_or(0) as u32;
    if outcome.status() != want {
        return Some(format!(
            "status {} (want {want}) body={:?}",
            outcome.status(),
            outcome.body()
        ));
    }
    if let Outcome::Local {
        status,
        headers,
        body,
    } = outcome
    {
        if matches!(status, 401 | 403) {
            let json: Value = match serde_json::from_str(body) {
                Ok(v) => v,
                Err(_) => return Some(format!("body is not JSON: {body:?}")),
            };
            if !json["error"].is_string() || !json["error_description"].is_string() {
                return Some(format!("body lacks error/error_description: {body}"));
            }
            if outcome.header("content-type") != Some("application/json") {
                return Some("content-type is not application/json".into());
            }
            let challenge = outcome.header("www-authenticate").unwrap_or("");
            if !challenge.starts_with("Bearer realm=") {
                return Some(format!("bad WWW-Authenticate: {challenge:?}"));
            }
            match expect.get("error") {
                Some(Value::String(code)) => {
                    if !challenge.contains(&format!("error=\"{code}\"")) || json["error"] != *code {
                        return Some(format!("error {code} expected; got {challenge:?} / {body}"));
                    }
                }
                Some(Value::Null) if challenge.contains("error=") => {
                    return Some(format!("no error code expected: {challenge:?}"));
                }
                _ => {}
            }
        }
        if let Some(token) = token.filter(|t| t.len() > 8) {
            if body.contains(token) || headers.iter().any(|(_, v)| v.contains(token)) {
                return Some("the response echoes the token".into());
            }
        }
    }
    if let Some(Value::Object(want)) = expect.get("upstream_headers") {
        for (name, value) in want {
            let got = outcome.header(name);
            if got != value.as_str() {
                return Some(format!("upstream {name}: {got:?}, want {value}"));
            }
        }
    }
    if let Some(Value::Array(absent)) = expect.get("upstream_absent") {
        for name in absent.iter().filter_map(Value::as_str) {
            if let Some(v) = outcome.header(name) {
                return Some(format!("upstream still has {name}: {v:?}"));
            }
        }
    }
    None
}

/// Why the filter's log lines and counters do not report `expect["reason"]`, if they do not.
fn reason_mismatch(
    expect: &Value,
    logs: &[String],
    before: &HashMap<String, i64>,
    after: &HashMap<String, i64>,
) -> Option<String> {
    let logged: Vec<&str> = logs
        .iter()
        .filter_map(|line| line.split(' ').find_map(|w| w.strip_prefix("reason=")))
        .collect();
    let counted: Vec<&str> = after
        .iter()
        .filter(|(name, value)| **value > before.get(*name).copied().unwrap_or(0))
        .filter_map(|(name, _)| {
            name.split_once(".denied.")
                .or_else(|| name.split_once(".dry_run.would_deny."))
                .map(|(_, reason)| reason)
        })
        .collect();
    match expect.get("reason") {
        Some(Value::String(want)) if logged == [want] && counted == [want] => None,
        Some(Value::Null) if logged.is_empty() && counted.is_empty() => None,
        Some(want) => Some(format!(
            "reason {want}: logged {logged:?}, counted {counted:?}"
        )),
        None => Some("the case has no expected reason".into()),
    }
}

#[test]
fn pyjwt_corpus_in_host() {
    let corpus = corpus();
    let filter = Filter::load(&wasm_path()).expect("load jwtgate.wasm");
    let default_now = corpus["now"].as_u64().expect("now");
    let mut gateways = HashMap::new();
    for (id, config) in corpus["configs"].as_object().expect("configs") {
        let gw = filter.start(&config.to_string()).expect("start");
        assert!(gw.is_serving(), "config {id} refused");
        gateways.insert(id.clone(), gw);
    }
    let cases = corpus["cases"].as_array().expect("cases");
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap_or("?");
        let gw = gateways
            .get_mut(case["config"].as_str().unwrap_or(""))
            .expect("config id");
        gw.set_now(case["now"].as_u64().unwrap_or(default_now));
        gw.clear_logs();
        let counters = gw.metrics();
        let request = &case["request"];
        let headers: Vec<(String, String)> = request["headers"]
            .as_array()
            .map(|h| {
                h.iter()
                    .map(|p| {
                        (
                            p[0].as_str().unwrap_or("").into(),
                            p[1].as_str().unwrap_or("").into(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let token = headers
            .iter()
            .find(|(n, _)| n == "authorization")
            .map(|(_, v)| v.trim_start_matches("Bearer ").to_string());
        let refs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let outcome = match gw.try_request(
            request["method"].as_str().unwrap_or("GET"),
            request["path"].as_str().unwrap_or("/"),
            &refs,
        ) {
            Ok(o) => o,
            Err(e) => {
                failures.push(format!("{name}: host error {e}"));
                continue;
            }
        };
        if let Some(why) = mismatch(&case["expect"], &outcome, token.as_deref()) {
            failures.push(format!("{name}: {why}"));
        }
        let logs: Vec<String> = gw.logs().into_iter().map(|(_, line)| line).collect();
        if let Some(why) = reason_mismatch(&case["expect"], &logs, &counters, &gw.metrics()) {
            failures.push(format!("{name}: {why}"));
        }
        if let Some(t) = token.as_deref().filter(|t| t.len() > 8) {
            if gw.logs().iter().any(|(_, line)| line.contains(t)) {
                failures.push(format!("{name}: a log line contains the token"));
            }
        }
    }
    println!(
        "corpus: {} passed, {} failed",
        cases.len() - failures.len(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "corpus failures:\n{}",
        failures.join("\n")
    );
}
