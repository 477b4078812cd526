//! `make bench`: one run, one table. Per algorithm: OpenSSL (through Python `cryptography`, from
//! tests/bench/tokens.py), jwtgate's core natively, and jwtgate.wasm end to end in
//! proxy-wasm-host (wasmtime), with distinct tokens so nothing is cached; then whole requests
//! (no token, open route, rule miss, cached tokens); the release size; and the smallest linear
//! memory that serves 10,000 distinct tokens. Medians of 7 rounds, with min–max.
// A test (or measurement) program: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Instant;

use jwtgate_core::{Gateway as CoreGateway, Request};
use jwtgate_host_tests::{shared_filter, wasm_path, Gateway};
use serde_json::{json, Value};

const ROUNDS: usize = 7;

struct Stat {
    median: f64,
    min: f64,
    max: f64,
}

fn stat(mut samples: Vec<f64>) -> Stat {
    samples.sort_by(f64::total_cmp);
    Stat {
        median: samples.get(samples.len() / 2).copied().unwrap_or(0.0),
        min: samples.first().copied().unwrap_or(0.0),
        max: samples.last().copied().unwrap_or(0.0),
    }
}

fn fmt(s: &Stat) -> String {
    format!("{:.1} ({:.1}–{:.1})", s.median, s.min, s.max)
}

/// µs per call of `f` over `items`, per round.
fn time_rounds<T>(items: &[T], mut f: impl FnMut(&T)) -> Stat {
    let mut samples = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for item in items {
            f(item);
        }
        samples.push(start.elapsed().as_secs_f64() * 1e6 / items.len().max(1) as f64);
    }
    stat(samples)
}

fn config(providers: &Value, cache_entries: usize) -> Value {
    let mut rules = vec![json!({"match": {"prefix": "/public"}})];
    for name in providers
        .as_object()
        .map(|m| m.keys().cloned().collect::<Vec<_>>())
        .unwrap_or_default()
    {
        rules.push(
            json!({"match": {"prefix": format!("/{name}")}, "requires": {"provider_name": name}}),
        );
    }
    json!({"providers": providers, "rules": rules, "token_cache": {"max_entries": cache_entries}})
}

fn request(gw: &mut Gateway, path: &str, token: Option<&str>, want: u32) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
    let got = gw.request("GET", path, &headers).status();
    assert_eq!(got, want, "{path}");
}

fn main() {
    let path = std::env::var("JWTGATE_BENCH_TOKENS").unwrap_or_else(|_| {
        format!(
            "{}/../../target/bench/tokens.json",
            env!("CARGO_MANIFEST_DIR")
        )
    });
    let input: Value = match std::fs::read_to_string(&path).map(|t| serde_json::from_str(&t)) {
        Ok(Ok(v)) => v,
        _ => panic!("cannot read {path}: run `make bench`"),
    };
    let now = input["now"].as_u64().unwrap_or(1_700_000_000);
    let mut algs = input["algs"].as_object().cloned().unwrap_or_default();
    // JWTGATE_BENCH_ALGS=RS256,HS256: a quick run over some algorithms (HS256 is always kept:
    // the memory measurement uses it).
    if let Ok(only) = std::env::var("JWTGATE_BENCH_ALGS") {
        algs.retain(|alg, _| alg == "HS256" || only.split(',').any(|a| a == alg));
    }
    let mut providers = serde_json::Map::new();
    for (alg, v) in &algs {
        providers.insert(alg.to_lowercase(), v["provider"].clone());
    }
    let providers = Value::Object(providers);
    let cold_config = config(&providers, 0).to_string();
    let warm_config = config(&providers, 4096).to_string();
    let native = CoreGateway::from_json(cold_config.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let filter = shared_filter();
    let mut cold = filter.start(&cold_config).unwrap_or_else(|e| panic!("{e}"));
    let mut warm = filter.start(&warm_config).unwrap_or_else(|e| panic!("{e}"));
    cold.set_now(now);
    warm.set_now(now);

    // Requests that verify nothing: the host's and the filter's fixed cost.
    let none: Vec<()> = vec![(); 300];
    let open = time_rounds(&none, |_| request(&mut cold, "/public/x", None, 200));
    let miss = time_rounds(&none, |_| request(&mut cold, "/unrouted", None, 200));
    let missing = time_rounds(&none, |_| request(&mut cold, "/hs256/x", None, 401));

    println!("## Signature verification, µs per token (distinct tokens, no cache)\n");
    println!("| alg | OpenSSL (Python) | jwtgate native | jwtgate.wasm request | wasm − no-token request | wasm ÷ native |");
    println!("|---|---|---|---|---|---|");
    let mut rows = Vec::new();
    let mut wasm_verify: Vec<(String, f64)> = Vec::new();
    for (alg, v) in &algs {
        let route = format!("/{}/x", alg.to_lowercase());
        let tokens: Vec<String> = v["tokens"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let headers: Vec<Vec<(String, String)>> = tokens
            .iter()
            .map(|t| vec![("authorization".to_string(), format!("Bearer {t}"))])
            .collect();
        let nat = time_rounds(&headers, |h| {
            let v = native.decide(
                &Request {
                    method: "GET",
                    path: &route,
                    headers: h,
                },
                now,
            );
            assert!(v.rejection.is_none(), "{alg} natively: {:?}", v.rejection);
        });
        let wasm = time_rounds(&tokens, |t| request(&mut cold, &route, Some(t), 200));
        let openssl = v["openssl_us"].as_f64().unwrap_or(0.0);
        println!(
            "| {alg} | {openssl:.1} | {} | {} | {:.1} | {:.1} |",
            fmt(&nat),
            fmt(&wasm),
            wasm.median - missing.median,
            wasm.median / nat.median
        );
        rows.push((alg.clone(), tokens));
        wasm_verify.push((alg.clone(), wasm.median - missing.median));
    }

    println!("\n## Whole requests through proxy-wasm-host, µs\n");
    println!("| request | µs per request |");
    println!("|---|---|");
    println!("| open route (no rule requires a token) | {} |", fmt(&open));
    println!("| rule miss (no rule matches) | {} |", fmt(&miss));
    println!("| protected route, no token (401) | {} |", fmt(&missing));
    for (alg, tokens) in &rows {
        if ["HS256", "RS256", "ES256", "EdDSA"].contains(&alg.as_str()) {
            let route = format!("/{}/x", alg.to_lowercase());
            let first = tokens.first().cloned().unwrap_or_default();
            request(&mut warm, &route, Some(&first), 200);
            let same: Vec<()> = vec![(); 300];
            let cached = time_rounds(&same, |_| request(&mut warm, &route, Some(&first), 200));
            println!("| {alg}, cached token | {} |", fmt(&cached));
        }
    }

    println!();
    host_calls_section(&mut warm, &rows);
    // JWTGATE_BENCH_COMPARE=<other .wasm>: the same requests through both filters, rounds
    // interleaved so that load from elsewhere on the machine hits both alike.
    if let Ok(other) = std::env::var("JWTGATE_BENCH_COMPARE") {
        compare_section(&warm_config, &cold_config, now, &rows, &other);
    }
    // JWTGATE_BENCH_QUICK=1: the filter's own rows only (no verifier-alone sections).
    if std::env::var_os("JWTGATE_BENCH_QUICK").is_none() {
        rsa_section(&algs, &wasm_verify);
        es256_section(&algs, &wasm_verify);
        nist_section();
    }

    let size = std::fs::metadata(wasm_path()).map(|m| m.len()).unwrap_or(0);
    println!("## Size and memory\n");
    println!("- release jwtgate.wasm: {size} bytes");
    // The smallest memory limit (64 KiB steps) under which 10,000 distinct tokens all pass with
    // the default token cache.
    let hs = rows
        .iter()
        .find(|(a, _)| a == "HS256")
        .map(|(_, t)| t.clone())
        .unwrap_or_default();
    let hs_provider = providers["hs256"].clone();
    let cfg = json!({"providers": {"hs256": hs_provider}, "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "hs256"}}]}).to_string();
    let secret = algs["HS256"]["provider"]["keys"][0]["secret"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let distinct: Vec<String> = (0..10_000)
        .map(|i| {
            let claims = json!({"iss": "https://issuer.test", "aud": "api", "sub": format!("user-{i}"), "exp": now + 300});
            jwtgate_host_tests::hs256_token(secret.as_bytes(), r#"{"alg":"HS256","typ":"JWT"}"#, &claims.to_string())
        })
        .collect();
    let _ = hs;
    let fits = |bytes: usize| -> bool {
        let Ok(mut gw) = filter.start_with_memory_limit(&cfg, bytes) else {
            return false;
        };
        gw.set_now(now);
        distinct.iter().all(|t| {
            let auth = format!("Bearer {t}");
            gw.try_request("GET", "/", &[("authorization", &auth)])
                .map(|o| o.status())
                == Ok(200)
        })
    };
    let (mut lo, mut hi) = (1usize, 512usize); // in 64 KiB pages
    if fits(hi * 65536) {
        while lo < hi {
            let mid = (lo + hi) / 2;
            if fits(mid * 65536) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        println!("- linear memory that serves 10,000 distinct HS256 tokens (default token cache): {} pages = {} KiB", hi, hi * 64);
    } else {
        println!("- 10,000 distinct tokens need more than {} KiB", hi * 64);
    }
}

/// Whole requests through this filter and through `other` (another build), µs: rounds of
/// each request kind alternate between the two (which goes first alternates too), medians of
/// 31 rounds of 200 requests (20 for the rows that verify a signature on every request).
fn compare_section(
    config: &str,
    cold_config: &str,
    now: u64,
    rows: &[(String, Vec<String>)],
    other: &str,
) {
    let other_filter = match jwtgate_host_tests::Filter::load(std::path::Path::new(other)) {
        Ok(f) => f,
        Err(e) => panic!("{other}: {e}"),
    };
    let start = |filter: &jwtgate_host_tests::Filter, config: &str| {
        let gw = filter.start(config).unwrap_or_else(|e| panic!("{e}"));
        gw.set_now(now);
        gw
    };
    // Warm: the token cache on (cached rows); cold: no cache, so every request verifies.
    let mut this = [
        start(shared_filter(), config),
        start(shared_filter(), cold_config),
    ];
    let mut that = [
        start(&other_filter, config),
        start(&other_filter, cold_config),
    ];
    let first = |alg: &str| {
        rows.iter()
            .find(|(a, _)| a == alg)
            .and_then(|(_, t)| t.first().cloned())
    };
    // (label, path, token, status, cold gateway, requests per round)
    let mut kinds: Vec<(String, String, Option<String>, u32, bool, u32)> = vec![
        (
            "open route".into(),
            "/public/x".into(),
            None,
            200,
            false,
            200,
        ),
        (
            "protected route, no token (401)".into(),
            "/hs256/x".into(),
            None,
            401,
            false,
            200,
        ),
    ];
    for alg in ["HS256", "RS256"] {
        if let Some(token) = first(alg) {
            let route = format!("/{}/x", alg.to_lowercase());
            kinds.push((
                format!("{alg}, cached token"),
                route,
                Some(token),
                200,
                false,
                200,
            ));
        }
    }
    for (alg, _) in rows {
        if let Some(token) = first(alg) {
            let route = format!("/{}/x", alg.to_lowercase());
            let label = format!("{alg}, verified (no cache)");
            kinds.push((label, route, Some(token), 200, true, 20));
        }
    }
    println!("## This filter against {other}, µs per request (interleaved rounds)\n");
    println!("| request | this filter | the other | this ÷ other |");
    println!("|---|---|---|---|");
    for (label, path, token, want, cold, n) in kinds {
        let mut samples = (Vec::new(), Vec::new());
        for round in 0..31 {
            for side in [round % 2, 1 - round % 2] {
                let pair = if side == 0 { &mut this } else { &mut that };
                let gw = &mut pair[usize::from(cold)];
                request(gw, &path, token.as_deref(), want); // primes the cache
                let start = Instant::now();
                for _ in 0..n {
                    request(gw, &path, token.as_deref(), want);
                }
                let us = start.elapsed().as_secs_f64() * 1e6 / f64::from(n);
                if side == 0 {
                    samples.0.push(us);
                } else {
                    samples.1.push(us);
                }
            }
        }
        let (a, b) = (stat(samples.0), stat(samples.1));
        println!(
            "| {label} | {} | {} | {:.2} |",
            fmt(&a),
            fmt(&b),
            a.median / b.median
        );
    }
    println!();
}

/// (label, path, headers, expected status).
type RequestKind = (String, String, Vec<(String, String)>, u32);

/// Host calls the filter makes for one request of each kind (the harness counts every call it
/// serves: `Gateway::host_calls`), with the calls by ABI function.
fn host_calls_section(gw: &mut Gateway, rows: &[(String, Vec<String>)]) {
    let token = |alg: &str, i: usize| {
        rows.iter()
            .find(|(a, _)| a == alg)
            .and_then(|(_, t)| t.get(i).cloned())
    };
    let bearer = |t: &str| format!("Bearer {t}");
    let mut kinds: Vec<RequestKind> = vec![
        ("open route".into(), "/public/x".into(), vec![], 200),
        ("rule miss".into(), "/unrouted".into(), vec![], 200),
        (
            "protected route, no token (401)".into(),
            "/hs256/x".into(),
            vec![],
            401,
        ),
    ];
    for alg in ["HS256", "RS256"] {
        let route = format!("/{}/x", alg.to_lowercase());
        if let (Some(cached), Some(new)) = (token(alg, 0), token(alg, 1)) {
            // The first request caches the token; the row is the second.
            request(gw, &route, Some(&cached), 200);
            kinds.push((
                format!("{alg}, cached token"),
                route.clone(),
                vec![("authorization".into(), bearer(&cached))],
                200,
            ));
            kinds.push((
                format!("{alg}, new token"),
                route.clone(),
                vec![("authorization".into(), bearer(&new))],
                200,
            ));
            if alg == "HS256" {
                kinds.push((
                    "HS256, cached token + 2 spoofed managed headers (`X-Jwt-Sub`, `x_jwt_roles`)"
                        .into(),
                    route,
                    vec![
                        ("authorization".into(), bearer(&cached)),
                        ("X-Jwt-Sub".into(), "spoofed".into()),
                        ("x_jwt_roles".into(), "admin".into()),
                    ],
                    200,
                ));
            }
        }
    }
    println!("## Host calls per request (in-host harness)\n");
    println!("| request | host calls | by function |");
    println!("|---|---|---|");
    for (label, path, headers, want) in kinds {
        let pairs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        gw.reset_host_calls();
        let got = gw.request("GET", &path, &pairs).status();
        assert_eq!(got, want, "{label}");
        let calls = gw.host_calls();
        let by: Vec<String> = calls
            .iter()
            .map(|(name, n)| format!("{} {n}", name.trim_start_matches("proxy_")))
            .collect();
        println!(
            "| {label} | {} | {} |",
            calls.values().sum::<u64>(),
            by.join(", ")
        );
    }
    println!();
}

/// µs per verification from `openssl speed -seconds 3 -mr ALG`, whose line starting with `tag`
/// reads "<tag><n>:<bits>:<signs per s>:<verifies per s>".
fn openssl_verify_us(alg: &str, tag: &str) -> Option<f64> {
    let out = std::process::Command::new("openssl")
        .args(["speed", "-seconds", "3", "-mr", alg])
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.starts_with(tag))
        .and_then(|l| l.rsplit(':').next()?.trim().parse::<f64>().ok())
        .filter(|rate| *rate > 0.0)
        .map(|rate| 1e6 / rate)
}

/// The (signing input, signature) pairs of the benchmark's tokens for `alg`.
fn token_parts(algs: &serde_json::Map<String, Value>, alg: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    algs.get(alg)
        .and_then(|v| v["tokens"].as_array())
        .map(|a| {
            a.iter()
                .filter_map(|t| t.as_str())
                .filter_map(|t| {
                    let (input, sig) = t.rsplit_once('.')?;
                    Some((input.as_bytes().to_vec(), URL_SAFE_NO_PAD.decode(sig).ok()?))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// ES256 verification alone: jwtgate's verifier and the p256 crate it replaced, natively, next
/// to `openssl speed`, the verifier alone in wasm (wasmtime, V8) and the filter's ES256 work.
fn es256_section(algs: &serde_json::Map<String, Value>, wasm_verify: &[(String, f64)]) {
    use p256::ecdsa::signature::Verifier;
    use p256::pkcs8::DecodePublicKey;

    let Some(pem) = algs
        .get("ES256")
        .and_then(|v| v["provider"]["keys"][0]["pem"].as_str())
    else {
        return;
    };
    let Ok(crate_key) = p256::ecdsa::VerifyingKey::from_public_key_pem(pem) else {
        return;
    };
    let point = crate_key.to_encoded_point(false);
    let (Some(x), Some(y)) = (point.x(), point.y()) else {
        return;
    };
    let ours =
        jwtgate_core::crypto::P256Key::from_coordinates(x, y).unwrap_or_else(|e| panic!("{e}"));
    let parts = token_parts(algs, "ES256");
    let ours_us = time_rounds(&parts, |(m, s)| assert!(ours.verify_sha256(m, s)));
    let crate_us = time_rounds(&parts, |(m, s)| {
        let sig = p256::ecdsa::Signature::from_slice(s).unwrap_or_else(|e| panic!("{e}"));
        assert!(crate_key.verify(m, &sig).is_ok());
    });
    let openssl_us = openssl_verify_us("ecdsap256", "+F4:");
    println!("## P-256 (ES256) verification alone, µs\n");
    println!("| verifier | µs per verification |");
    println!("|---|---|");
    println!(
        "| jwtgate's verifier (crates/jwtgate-p256), native | {}{} |",
        fmt(&ours_us),
        ratio(ours_us.median, openssl_us)
    );
    println!(
        "| the `p256` crate it replaced, native | {}{} |",
        fmt(&crate_us),
        ratio(crate_us.median, openssl_us)
    );
    match openssl_us {
        Some(us) => {
            println!("| OpenSSL native (`openssl speed -seconds 3 ecdsap256`) | {us:.1} |")
        }
        None => println!("| OpenSSL native | (openssl not found) |"),
    }
    for engine in ["wasmtime", "V8"] {
        let label =
            format!("crates/jwtgate-p256 alone in wasm, {engine} (examples/ecdsa_speed.rs)");
        match standalone_speed("JWTGATE_ECDSA_SPEED_WASM", engine, &[]) {
            Some(us) => println!("| {label} | {us:.1}{} |", ratio(us, openssl_us)),
            None => {
                println!("| {label} | (not run: JWTGATE_ECDSA_SPEED_WASM or the engine missing) |")
            }
        }
    }
    let wasm_of = |alg: &str| {
        wasm_verify
            .iter()
            .find(|(a, _)| a == alg)
            .map(|(_, us)| *us)
    };
    if let (Some(es), Some(hs)) = (wasm_of("ES256"), wasm_of("HS256")) {
        println!(
            "| jwtgate.wasm: ES256 request − HS256 request (the P-256 work) | {:.1}{} |",
            es - hs,
            ratio(es - hs, openssl_us)
        );
    }
    println!();
}

/// ES384/ES512 verification alone: crates/jwtgate-p256's P-384 and P-521 and the RustCrypto
/// crates (p384, p521) on the same Wycheproof vector, in wasm under wasmtime and V8
/// (examples/ecdsa_speed.rs), next to `openssl speed`.
fn nist_section() {
    println!("## P-384 (ES384) and P-521 (ES512) verification alone, µs\n");
    println!("| verifier | P-384 | P-521 |");
    println!("|---|---|---|");
    let openssl = [
        openssl_verify_us("ecdsap384", "+F4:"),
        openssl_verify_us("ecdsap521", "+F4:"),
    ];
    let show = |us: Option<f64>, ssl: Option<f64>| {
        us.map_or("(not run)".into(), |us| {
            format!("{us:.1}{}", ratio(us, ssl))
        })
    };
    println!(
        "| OpenSSL native (`openssl speed -seconds 3 ecdsap384 / ecdsap521`) | {} | {} |",
        show(openssl[0], None),
        show(openssl[1], None)
    );
    for (who, suffix) in [
        ("crates/jwtgate-p256", ""),
        ("the RustCrypto crate", "-crate"),
    ] {
        for engine in ["wasmtime", "V8"] {
            let [p384, p521] = [("es384", openssl[0]), ("es512", openssl[1])].map(|(arg, ssl)| {
                let arg = format!("{arg}{suffix}");
                show(
                    standalone_speed("JWTGATE_ECDSA_SPEED_WASM", engine, &[&arg]),
                    ssl,
                )
            });
            println!(
                "| {who} alone in wasm, {engine} (examples/ecdsa_speed.rs) | {p384} | {p521} |"
            );
        }
    }
    println!();
}

/// " (÷ OpenSSL native: r)" when OpenSSL was measured.
fn ratio(us: f64, openssl_us: Option<f64>) -> String {
    openssl_us.map_or(String::new(), |ssl| {
        format!(" (÷ OpenSSL native: {:.1})", us / ssl)
    })
}

/// Runs a standalone speed example (it prints "median_us min_us") under wasmtime
/// (JWTGATE_WASI_RUNNER) or V8 (node with JWTGATE_NODE_WASI, tests/bench/wasi-run.mjs).
fn standalone_speed(wasm_var: &str, engine: &str, args: &[&str]) -> Option<f64> {
    let wasm = std::env::var(wasm_var).ok()?;
    let out = if engine == "V8" {
        let script = std::env::var("JWTGATE_NODE_WASI").ok()?;
        std::process::Command::new("node")
            .args(["--no-warnings", &script, &wasm])
            .args(args)
            .output()
            .ok()?
    } else {
        let runner = std::env::var("JWTGATE_WASI_RUNNER").ok()?;
        std::process::Command::new(runner)
            .arg(&wasm)
            .args(args)
            .output()
            .ok()?
    };
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()?
        .parse::<f64>()
        .ok()
}

/// RSA-2048 verification alone: jwtgate's verifier and the `rsa` crate it replaced, natively,
/// next to OpenSSL's own `openssl speed` and the wasm request from the table above.
fn rsa_section(algs: &serde_json::Map<String, Value>, wasm_verify: &[(String, f64)]) {
    use rsa::pkcs8::DecodePublicKey;
    use rsa::signature::Verifier;
    use rsa::traits::PublicKeyParts;

    let Some(v) = algs.get("RS256") else { return };
    let Some(pem) = v["provider"]["keys"][0]["pem"].as_str() else {
        return;
    };
    let Ok(public) = rsa::RsaPublicKey::from_public_key_pem(pem) else {
        return;
    };
    let ours = match jwtgate_core::crypto::RsaKey::new(
        &public.n().to_bytes_be(),
        &public.e().to_bytes_be(),
    ) {
        Ok(k) => k,
        Err(e) => panic!("{e}"),
    };
    let crate_key = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(public);
    let parts = token_parts(algs, "RS256");
    let ours_us = time_rounds(&parts, |(m, s)| {
        assert!(ours.verify_pkcs1v15(jwtgate_core::crypto::Hash::Sha256, m, s));
    });
    let crate_us = time_rounds(&parts, |(m, s)| {
        let sig =
            rsa::pkcs1v15::Signature::try_from(s.as_slice()).unwrap_or_else(|e| panic!("{e}"));
        assert!(crate_key.verify(m, &sig).is_ok());
    });
    let openssl_us = openssl_verify_us("rsa2048", "+F2:");
    let wasm_of = |alg: &str| {
        wasm_verify
            .iter()
            .find(|(a, _)| a == alg)
            .map(|(_, us)| *us)
    };
    let wasm_us = wasm_of("RS256");
    // A request with a fresh HS256 token does everything an RS256 one does (split, base64,
    // JSON, claims, cache) except the RSA work: the difference is the verification itself.
    let hs_us = wasm_of("HS256");
    println!("## RSA-2048 (RS256) verification alone, µs\n");
    println!("| verifier | µs per verification |");
    println!("|---|---|");
    println!(
        "| jwtgate's verifier (crates/jwtgate-rsa, scalar kernel), native | {} |",
        fmt(&ours_us)
    );
    println!(
        "| the `rsa` crate it replaced, native | {} |",
        fmt(&crate_us)
    );
    match openssl_us {
        Some(us) => println!("| OpenSSL native (`openssl speed -seconds 3 rsa2048`) | {us:.1} |"),
        None => println!("| OpenSSL native | (openssl not found) |"),
    }
    if let (Some(wasm), Some(ssl)) = (wasm_us, openssl_us) {
        println!(
            "| jwtgate.wasm: RS256 request − no-token request | {wasm:.1} (÷ OpenSSL native: {:.1}) |",
            wasm / ssl
        );
    }
    // The verifier alone, compiled to wasm (crates/jwtgate-rsa/examples/rsa_speed.rs) with
    // the SIMD128 kernel and with `portable`, run by wasmtime (wasi-test-runner, no epoch checks)
    // and by V8 (Node's WASI): `make bench` sets the variables.
    for (kernel, wasm_var) in [
        ("SIMD128", "JWTGATE_RSA_SPEED_WASM"),
        ("portable", "JWTGATE_RSA_SPEED_WASM_PORTABLE"),
    ] {
        for engine in ["wasmtime", "V8"] {
            let label = format!(
                "crates/jwtgate-rsa alone in wasm, {kernel} kernel, {engine} (examples/rsa_speed.rs)"
            );
            match standalone_speed(wasm_var, engine, &[]) {
                Some(us) => println!("| {label} | {us:.1}{} |", ratio(us, openssl_us)),
                None => println!("| {label} | (not run: {wasm_var} or the engine missing) |"),
            }
        }
    }
    if let (Some(hs), Some(ssl)) = (hs_us, openssl_us) {
        for alg in ["RS256", "PS256"] {
            if let Some(w) = wasm_of(alg) {
                println!(
                    "| jwtgate.wasm: {alg} request − HS256 request (the RSA work; SIMD128 kernel) | {:.1} (÷ OpenSSL native: {:.1}) |",
                    w - hs,
                    (w - hs) / ssl
                );
            }
        }
    }
    println!();
}
