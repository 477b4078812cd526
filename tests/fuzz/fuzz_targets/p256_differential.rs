//! Differential: jwtgate's ES256 verifier (crates/jwtgate-p256) against the p256 crate. The
//! input picks a key (a fixed one, or one derived from the input), a message, and how to
//! corrupt a genuine signature (or a raw signature outright); both must agree on every input.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

use jwtgate_core::crypto::P256Key;
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};

/// The group order n, big-endian.
const N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

fn ours(key: &VerifyingKey) -> P256Key {
    let point = key.to_encoded_point(false);
    P256Key::from_coordinates(point.x().expect("x"), point.y().expect("y")).expect("our key")
}

fn fixed() -> &'static (SigningKey, P256Key) {
    static KEY: OnceLock<(SigningKey, P256Key)> = OnceLock::new();
    KEY.get_or_init(|| {
        let signer = SigningKey::from_slice(&[0x42; 32]).expect("scalar");
        let key = ours(signer.verifying_key());
        (signer, key)
    })
}

/// n − x for a 32-byte big-endian x (x ≤ n).
fn n_minus(x: &mut [u8]) {
    let mut borrow = 0i32;
    for (xi, &ni) in x.iter_mut().zip(&N).rev() {
        let d = i32::from(ni) - i32::from(*xi) - borrow;
        borrow = i32::from(d < 0);
        *xi = d.rem_euclid(256) as u8;
    }
}

/// Corruptions of a genuine signature r ‖ s.
fn corrupt(mut sig: Vec<u8>, mode: u8, data: &[u8]) -> Vec<u8> {
    let pos = data.first().copied().unwrap_or(0) as usize % 64;
    match mode % 9 {
        0 => {}
        1 => sig[pos] ^= 1 << (data.len() % 8),
        2 => sig[pos] = data.get(1).copied().unwrap_or(0),
        3 => sig.rotate_left(32),
        4 => n_minus(&mut sig[32..]),       // the other valid s
        5 => sig[..32].copy_from_slice(&N), // r = n
        6 => sig[32..].fill(0),
        7 => sig.truncate(pos),
        _ => {
            let mut raw = data.to_vec();
            raw.resize(64, 0xa5);
            sig = raw;
        }
    }
    sig
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (msg, corruption) = rest.split_at(rest.len() / 2);
    // Low bit set: a key derived from the input (a new comb table); otherwise the fixed key.
    let derived;
    let (signer, key) = match selector & 1 {
        1 => {
            let mut scalar = [0x17u8; 32];
            for (s, &b) in scalar.iter_mut().zip(corruption) {
                *s ^= b;
            }
            let Ok(signer) = SigningKey::from_slice(&scalar) else {
                return;
            };
            let key = ours(signer.verifying_key());
            derived = (signer, key);
            (&derived.0, &derived.1)
        }
        _ => {
            let f = fixed();
            (&f.0, &f.1)
        }
    };
    let genuine: Signature = signer.sign(msg);
    let sig = corrupt(genuine.to_bytes().to_vec(), selector >> 1, corruption);
    let reference =
        Signature::from_slice(&sig).is_ok_and(|s| signer.verifying_key().verify(msg, &s).is_ok());
    assert_eq!(
        key.verify_sha256(msg, &sig),
        reference,
        "mode={}",
        (selector >> 1) % 9
    );
});
