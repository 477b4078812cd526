//! Sender-constrained tokens in-host: the corpus's `binding` section (DPoP proofs and XFCC
//! values from PyJWT + `cryptography`, tests/corpus/gen.py) through the built jwtgate.wasm in
//! proxy-wasm-host. Each case runs on a fresh gateway (one worker), its requests in order, so
//! a replayed proof meets the worker's replay cache. Asserted per request: status, challenge
//! scheme, error code and `algs`, and the reason the filter logs (`reason=…`) and counts
//! (`<prefix>.denied.<reason>`).
// A test (or measurement) program: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use jwtgate_host_tests::{corpus, shared_filter, Outcome};
use serde_json::Value;

/// Why the answer does not meet `expect`, if it does not.
fn mismatch(expect: &Value, outcome: &Outcome) -> Option<String> {
    let want = expect["status"].as_u64().unwrap() as u32;
    if outcome.status() != want {
        return Some(format!(
            "status {} (want {want}) body={:?}",
            outcome.status(),
            outcome.body()
        ));
    }
    if want == 200 {
        return None;
    }
    let challenge = outcome.header("www-authenticate").unwrap_or("");
    let scheme = expect["challenge"].as_str().unwrap();
    if !challenge.starts_with(&format!("{scheme} realm=\"jwtgate\"")) {
        return Some(format!("challenge {challenge:?}, want scheme {scheme}"));
    }
    match expect["error"].as_str() {
        Some(code) if !challenge.contains(&format!("error=\"{code}\"")) => {
            return Some(format!("challenge {challenge:?} lacks error={code}"))
        }
        None if challenge.contains("error=") => {
            return Some(format!("challenge {challenge:?} has an error code"))
        }
        _ => {}
    }
    if let Some(algs) = expect["algs"].as_str() {
        if !challenge.ends_with(&format!(", algs=\"{algs}\"")) {
            return Some(format!("challenge {challenge:?} lacks algs"));
        }
    }
    None
}

#[test]
fn binding_corpus_in_host() {
    let corpus = corpus();
    let binding = &corpus["binding"];
    let now = corpus["now"].as_u64().unwrap();
    let filter = shared_filter();
    let cases = binding["cases"].as_array().unwrap();
    assert!(cases.len() >= 50);
    let mut failures = Vec::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let config = &binding["configs"][case["config"].as_str().unwrap()];
        let mut gw = filter.start(&config.to_string()).expect("start");
        assert!(gw.is_serving(), "{name}: config refused");
        gw.set_now(case["now"].as_u64().unwrap_or(now));
        for (i, step) in case["steps"].as_array().unwrap().iter().enumerate() {
            gw.clear_logs();
            let before = gw.metrics();
            let request = &step["request"];
            let headers: Vec<(String, String)> = request["headers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (p[0].as_str().unwrap().into(), p[1].as_str().unwrap().into()))
                .collect();
            let refs: Vec<(&str, &str)> = headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            let outcome = match gw.try_request(
                request["method"].as_str().unwrap(),
                request["path"].as_str().unwrap(),
                &refs,
            ) {
                Ok(o) => o,
                Err(e) => {
                    failures.push(format!("{name}[{i}]: host error {e}"));
                    continue;
                }
            };
            if let Some(why) = mismatch(&step["expect"], &outcome) {
                failures.push(format!("{name}[{i}]: {why}"));
            }
            let logged: Vec<String> = gw
                .logs()
                .into_iter()
                .filter_map(|(_, line)| {
                    line.split(' ')
                        .find_map(|w| w.strip_prefix("reason="))
                        .map(str::to_string)
                })
                .collect();
            let after = gw.metrics();
            let counted: Vec<&str> = after
                .iter()
                .filter(|(n, v)| **v > before.get(*n).copied().unwrap_or(0))
                .filter_map(|(n, _)| n.split_once(".denied.").map(|(_, r)| r))
                .collect();
            let want: Vec<&str> = step["expect"]["reason"].as_str().into_iter().collect();
            if logged != want || counted != want {
                failures.push(format!(
                    "{name}[{i}]: reason {want:?}: logged {logged:?}, counted {counted:?}"
                ));
            }
        }
    }
    println!("binding corpus in-host: {} cases", cases.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
