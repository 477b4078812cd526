//! Differential: jwtgate's RSA verifier (crates/jwtgate-rsa) against the `rsa` crate.
//! The input picks the padding and hash, a message, and how to corrupt a genuine signature (or
//! a raw signature outright); both verifiers must agree on every input.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

use jwtgate_core::crypto::{Hash, RsaKey};
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer, Verifier};
use rsa::traits::PublicKeyParts;
use sha2::{Sha256, Sha384, Sha512};

struct Keys {
    private: rsa::RsaPrivateKey,
    ours: RsaKey,
}

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let pem = include_str!("../../../crates/jwtgate-core/tests/fixtures/rsa2048-test-only.pem");
        let private = rsa::RsaPrivateKey::from_pkcs8_pem(pem).expect("test key");
        let public = private.to_public_key();
        let ours = RsaKey::new(&public.n().to_bytes_be(), &public.e().to_bytes_be()).expect("key");
        Keys { private, ours }
    })
}

/// PSS salts and RSA blinding from the fuzz input (splitmix64): reproducible runs. (An LCG's
/// low byte has period 256, which made the signer's rejection sampling loop forever.)
struct InputRng(u64);
impl rand_core::RngCore for InputRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl rand_core::CryptoRng for InputRng {}

macro_rules! both {
    ($d:ty, $len:expr, $pss:expr, $keys:expr, $msg:expr, $mode:expr, $data:expr) => {{
        let public = $keys.private.to_public_key();
        let mut rng = InputRng(
            $data
                .iter()
                .fold(7u64, |a, &b| a.rotate_left(5) ^ u64::from(b)),
        );
        let genuine = if $pss {
            rsa::pss::BlindedSigningKey::<$d>::new($keys.private.clone())
                .sign_with_rng(&mut rng, $msg)
                .to_vec()
        } else {
            rsa::pkcs1v15::SigningKey::<$d>::new($keys.private.clone())
                .sign($msg)
                .to_vec()
        };
        let sig = corrupt(genuine, $mode, $data);
        let reference = if $pss {
            rsa::pss::Signature::try_from(sig.as_slice()).is_ok_and(|s| {
                rsa::pss::VerifyingKey::<$d>::new_with_salt_len(public, $len)
                    .verify($msg, &s)
                    .is_ok()
            })
        } else {
            rsa::pkcs1v15::Signature::try_from(sig.as_slice()).is_ok_and(|s| {
                rsa::pkcs1v15::VerifyingKey::<$d>::new(public)
                    .verify($msg, &s)
                    .is_ok()
            })
        };
        (sig, reference)
    }};
}

/// Corruptions of a genuine signature: none, one bit, one byte, truncation, extension, or raw
/// input bytes as the signature.
fn corrupt(mut sig: Vec<u8>, mode: u8, data: &[u8]) -> Vec<u8> {
    let pos = data.first().copied().unwrap_or(0) as usize * 7 % sig.len().max(1);
    match mode % 6 {
        0 => {}
        1 => sig[pos] ^= 1 << (data.len() % 8),
        2 => sig[pos] = data.get(1).copied().unwrap_or(0),
        3 => sig.truncate(pos),
        4 => sig.insert(0, 0),
        _ => {
            let mut raw = data.to_vec();
            raw.resize(256, 0xa5);
            sig = raw;
        }
    }
    sig
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let keys = keys();
    let (msg, corruption) = rest.split_at(rest.len() / 2);
    let pss = selector & 1 == 1;
    let mode = selector >> 4;
    let (hash, (sig, reference)) = match (selector >> 1) % 3 {
        0 => (
            Hash::Sha256,
            both!(Sha256, 32, pss, keys, msg, mode, corruption),
        ),
        1 => (
            Hash::Sha384,
            both!(Sha384, 48, pss, keys, msg, mode, corruption),
        ),
        _ => (
            Hash::Sha512,
            both!(Sha512, 64, pss, keys, msg, mode, corruption),
        ),
    };
    let ours = if pss {
        keys.ours.verify_pss(hash, msg, &sig)
    } else {
        keys.ours.verify_pkcs1v15(hash, msg, &sig)
    };
    assert_eq!(ours, reference, "pss={pss} {hash:?} mode={mode}");
});
