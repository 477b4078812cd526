//! Sender-constrained tokens (issue 21): DPoP proofs (RFC 9449) and certificate-bound tokens
//! (RFC 8705), configuration → decision natively. The table is the corpus's `binding` section:
//! proofs, RFC 7638 thumbprints, `ath` and XFCC values made by PyJWT + `cryptography`
//! (tests/corpus/gen.py), each case a list of requests on one worker's state (replays). Every
//! refusal is asserted by its reason, status, error code and challenge scheme.
//!
//! The corpus is JWTGATE_CORPUS when set (`make test`), else target/corpus/cases.json
//! (`make corpus`). It never skips: no corpus is a failure.
// A test (or measurement) program: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use serde_json::{json, Value};

use jwtgate_core::request::PEER_CERTIFICATE_SHA256;
use jwtgate_core::{Decision, Gateway, Rejection, Request, Verdict};

mod common;
use common::{corpus, gateway};

/// The request as the in-host harness gives it: `:authority` from `host`, `:scheme: http`.
fn headers_of(request: &Value) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = request["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_str().unwrap().into(), p[1].as_str().unwrap().into()))
        .collect();
    let host = headers
        .iter()
        .find(|(n, _)| n == "host")
        .map_or("api.test".to_string(), |(_, v)| v.clone());
    headers.insert(0, (":authority".into(), host));
    headers.insert(0, (":scheme".into(), "http".into()));
    headers
}

fn challenge(v: &Verdict) -> Option<String> {
    match &v.decision {
        Decision::Respond(resp) => resp
            .headers
            .iter()
            .find(|(n, _)| n == "www-authenticate")
            .map(|(_, v)| v.clone()),
        _ => None,
    }
}

/// Why `v` does not meet `expect`, if it does not.
fn mismatch(expect: &Value, v: &Verdict) -> Option<String> {
    let reason = v.rejection.map(Rejection::name);
    if reason != expect["reason"].as_str() {
        return Some(format!("reason {reason:?}, want {}", expect["reason"]));
    }
    let status = match &v.decision {
        Decision::Respond(resp) => resp.status,
        Decision::Forward(_) => 200,
        other => return Some(format!("decision {other:?}")),
    };
    if u64::from(status) != expect["status"].as_u64().unwrap() {
        return Some(format!("status {status}, want {}", expect["status"]));
    }
    if status == 200 {
        return None;
    }
    let challenge = challenge(v).unwrap_or_default();
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
            return Some(format!("challenge {challenge:?} lacks algs=\"{algs}\""));
        }
    }
    None
}

#[test]
fn binding_corpus_natively() {
    let corpus = corpus();
    let binding = &corpus["binding"];
    let now = corpus["now"].as_u64().unwrap();
    let cases = binding["cases"].as_array().unwrap();
    assert!(cases.len() >= 50, "{} cases", cases.len());
    let mut failures = Vec::new();
    let mut steps = 0;
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let config = &binding["configs"][case["config"].as_str().unwrap()];
        let gw = gateway(config.clone());
        // One worker: the replay cache lives across the case's requests.
        let mut state = gw.new_vm_state(1);
        let at = case["now"].as_u64().unwrap_or(now) * 1000;
        for (i, step) in case["steps"].as_array().unwrap().iter().enumerate() {
            steps += 1;
            let request = &step["request"];
            let headers = headers_of(request);
            let req = Request {
                method: request["method"].as_str().unwrap(),
                path: request["path"].as_str().unwrap(),
                headers: &headers,
            };
            let verdict = gw.decide_with(&req, at, &mut state, &[], false);
            if let Some(why) = mismatch(&step["expect"], &verdict) {
                failures.push(format!("{name}[{i}]: {why}"));
            }
        }
    }
    println!("binding corpus: {} cases, {steps} requests", cases.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The corpus's first valid ES256 case, for the tests below that vary one thing.
fn valid_case(corpus: &Value) -> (Value, Vec<(String, String)>) {
    let binding = &corpus["binding"];
    let case = binding["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "dpop_valid_ES256")
        .unwrap();
    let config = binding["configs"][case["config"].as_str().unwrap()].clone();
    (config, headers_of(&case["steps"][0]["request"]))
}

#[test]
fn proof_window_is_relative_to_the_host_clock() {
    let corpus = corpus();
    let now = corpus["now"].as_u64().unwrap();
    let (config, headers) = valid_case(&corpus);
    let gw = gateway(config);
    let decide = |secs: u64| {
        let req = Request {
            method: "GET",
            path: "/api/orders?page=2",
            headers: &headers,
        };
        gw.decide(&req, secs).rejection
    };
    // The proof's iat is `now`: max_age 300 + leeway 5 either way of it.
    assert_eq!(decide(now + 305), None);
    assert_eq!(decide(now + 306), Some(Rejection::DpopProofInvalid));
    assert_eq!(decide(now - 5), None);
    assert_eq!(decide(now - 6), Some(Rejection::DpopProofInvalid));
}

#[test]
fn the_method_and_path_are_the_requests_own() {
    let corpus = corpus();
    let now = corpus["now"].as_u64().unwrap();
    let (config, headers) = valid_case(&corpus);
    let gw = gateway(config);
    for (method, path, want) in [
        ("GET", "/api/orders", None),
        ("GET", "/api/orders#frag", None),
        ("POST", "/api/orders", Some(Rejection::DpopProofInvalid)),
        ("GET", "/api/orders/1", Some(Rejection::DpopProofInvalid)),
        ("GET", "/api/./orders", None),
    ] {
        let req = Request {
            method,
            path,
            headers: &headers,
        };
        assert_eq!(gw.decide(&req, now).rejection, want, "{method} {path}");
    }
}

#[test]
fn the_replay_cache_is_bounded_and_fails_closed_when_full() {
    let corpus = corpus();
    let now = corpus["now"].as_u64().unwrap();
    let binding = &corpus["binding"];
    let mut config = binding["configs"]["dpop_required"].clone();
    config["providers"]["p"]["dpop"]["replay_cache"]["max_entries"] = json!(1);
    let gw = gateway(config);
    let mut state = gw.new_vm_state(1);
    let case = |name: &str, step: usize| {
        let c = binding["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap();
        headers_of(&c["steps"][step]["request"])
    };
    // jti "same", iat now - 1 (live until now + 304); jti "fresh", iat now (until now + 305).
    let first = case("dpop_same_jti_new_proof_refused", 0);
    let second = case("dpop_replay_refused", 2);
    let run = |state: &mut _, headers: &[(String, String)], at: u64| {
        let req = Request {
            method: "GET",
            path: "/api/orders",
            headers,
        };
        gw.decide_with(&req, at * 1000, state, &[], false).rejection
    };
    assert_eq!(run(&mut state, &first, now), None);
    assert_eq!(
        run(&mut state, &second, now),
        Some(Rejection::DpopReplayCacheFull)
    );
    assert_eq!(state.dpop_replay.len(0), 1);
    // Once the first proof's window is over, its entry makes room (the second is still live).
    assert_eq!(run(&mut state, &second, now + 305), None);
    assert_eq!(
        run(&mut state, &second, now + 305),
        Some(Rejection::DpopReplay)
    );
}

#[test]
fn connection_certificate_comes_from_the_hosts_pseudo_header() {
    let corpus = corpus();
    let now = corpus["now"].as_u64().unwrap();
    let binding = &corpus["binding"];
    let mut config = binding["configs"]["mtls_xfcc"].clone();
    config["providers"]["p"]["mtls_binding"]["certificate_from"] = json!("connection");
    let gw = gateway(config);
    let case = binding["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "mtls_xfcc_hash_matches")
        .unwrap();
    let mut headers = headers_of(&case["steps"][0]["request"]);
    let xfcc = headers
        .iter()
        .position(|(n, _)| n == "x-forwarded-client-cert")
        .unwrap();
    let (_, value) = headers.remove(xfcc);
    let hex = value
        .split(';')
        .find_map(|kv| kv.strip_prefix("Hash="))
        .unwrap()
        .to_string();
    let decide = |headers: &[(String, String)]| {
        let req = Request {
            method: "GET",
            path: "/api/x",
            headers,
        };
        gw.decide(&req, now).rejection
    };
    // The XFCC header is not read in `connection` mode.
    let mut with_xfcc = headers.clone();
    with_xfcc.push(("x-forwarded-client-cert".into(), value.clone()));
    assert_eq!(decide(&with_xfcc), Some(Rejection::MtlsCertificateMissing));
    let mut with_digest = headers.clone();
    with_digest.push((PEER_CERTIFICATE_SHA256.into(), hex.to_ascii_uppercase()));
    assert_eq!(decide(&with_digest), None);
    let mut other = headers.clone();
    other.push((PEER_CERTIFICATE_SHA256.into(), "cd".repeat(32)));
    assert_eq!(decide(&other), Some(Rejection::MtlsBindingMismatch));
}

#[test]
fn bad_binding_configurations_name_their_field() {
    let base = || {
        json!({"providers": {"p": {"issuer": "i", "keys": [{"alg": "HS256", "secret": "0123456789abcdef0123456789abcdef"}]}},
               "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "p"}}]})
    };
    let error = |field: &str, value: Value| {
        let mut c = base();
        c["providers"]["p"][field] = value;
        Gateway::from_json(c.to_string().as_bytes())
            .err()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        error("dpop", json!({"algs": ["ES256", "HS256"]})),
        "providers.p.dpop.algs[1]: HS256 is symmetric; DPoP proofs need an asymmetric algorithm"
    );
    assert_eq!(
        error("dpop", json!({"algs": ["ES999"]})),
        "providers.p.dpop.algs[0]: `ES999` is not a supported algorithm"
    );
    assert!(error("dpop", json!({"algs": []})).starts_with("providers.p.dpop.algs: "));
    assert!(error("dpop", json!({"max_age": "0s"})).starts_with("providers.p.dpop.max_age: "));
    assert!(error("dpop", json!({"leeway": "301s"})).starts_with("providers.p.dpop.leeway: "));
    assert!(error("dpop", json!({"scheme": "ftp"})).starts_with("providers.p.dpop.scheme: "));
    assert!(error("dpop", json!({"replay_cache": {"max_entries": 0}}))
        .starts_with("providers.p.dpop.replay_cache.max_entries: "));
    assert!(error("dpop", json!({"nonce": true})).starts_with("providers.p.dpop"));
    assert!(error("mtls_binding", json!({"certificate_from": "tls"}))
        .starts_with("providers.p.mtls_binding.certificate_from: "));
    assert!(error(
        "mtls_binding",
        json!({"certificate_from": {"header": "bad header"}})
    )
    .starts_with("providers.p.mtls_binding.certificate_from.header: "));
    // A header source is trusted: `jwtgate check` and the host's load log say so.
    let mut c = base();
    c["providers"]["p"]["mtls_binding"] =
        json!({"certificate_from": {"header": "x-forwarded-client-cert"}});
    let gw = gateway(c);
    assert!(
        gw.warnings().iter().any(|w| w.starts_with(
            "providers.p.mtls_binding.certificate_from: `x-forwarded-client-cert` is trusted"
        )),
        "{:?}",
        gw.warnings()
    );
}
