//! ECDSA P-256 signature verification for JWS (ES256, RFC 7518 §3.4: SHA-256, the signature as
//! the 64-byte concatenation r ‖ s), written for wasm.
//!
//! Why its own crate: RustCrypto's p256 (64-bit limbs) took ~1.7 ms per ES256 token inside
//! jwtgate's filter, because wasm has no 64×64→128 multiply. This one uses 28-bit limbs with
//! lazy accumulation (`field.rs`) and per-key comb tables (`curve.rs`): the key's table is built
//! once, at configuration time, so a verification is 31 doublings and ≤ 64 additions; s⁻¹ is
//! binary extended Euclid (`inverse.rs`). It is
//! compiled at opt-level 3 while the filter around it is built for size.
//!
//! Verification touches only public data (key, message, signature), so there is no secret to
//! leak through timing: the question is correctness, which the tests settle (Wycheproof's
//! P-256 vectors, every bit flip of valid signatures, a differential comparison with the p256
//! crate, the same tests compiled to wasm and run under wasmtime and V8).
#![deny(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod curve;
mod field;
mod inverse;

use curve::{Affine, CombTable, N};
use sha2::{Digest, Sha256};

/// A P-256 public key, ready to verify: its comb table is built here, once.
#[derive(Clone, PartialEq, Eq)]
pub struct P256Key {
    point: Affine,
    table: CombTable,
}

impl std::fmt::Debug for P256Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("P256Key")
    }
}

impl P256Key {
    /// From the affine coordinates, 32 big-endian bytes each (shorter inputs are left-padded
    /// by the caller). Refuses coordinates ≥ p and points not on the curve.
    pub fn from_coordinates(x: &[u8], y: &[u8]) -> Result<P256Key, &'static str> {
        let (Ok(x), Ok(y)) = (<&[u8; 32]>::try_from(x), <&[u8; 32]>::try_from(y)) else {
            return Err("P-256 coordinates must be 32 bytes");
        };
        let point = Affine::from_be(x, y).ok_or("not a point on P-256")?;
        // Building the generator's table first makes the first verification as fast as later.
        CombTable::generator().ok_or("P-256 generator table")?;
        let table = CombTable::new(&point).ok_or("not a point of order n")?;
        Ok(P256Key { point, table })
    }

    /// ES256: ECDSA with SHA-256 over `message`; `signature` is r ‖ s, 32 bytes each.
    pub fn verify_sha256(&self, message: &[u8], signature: &[u8]) -> bool {
        let digest: [u8; 32] = Sha256::digest(message).into();
        self.verify_prehashed(&digest, signature)
    }

    /// ECDSA verification (FIPS 186-5 §6.4.2) of a SHA-256 digest.
    pub fn verify_prehashed(&self, digest: &[u8; 32], signature: &[u8]) -> bool {
        let Some((r, s)) = signature
            .split_first_chunk::<32>()
            .and_then(|(r, s)| Some((r, <&[u8; 32]>::try_from(s).ok()?)))
        else {
            return false;
        };
        let (r, s) = (field::from_be(r), field::from_be(s));
        let zero = [0; field::L];
        if r == zero || s == zero || !field::lt(&r, N.modulus()) || !field::lt(&s, N.modulus()) {
            return false;
        }
        // w = s⁻¹ mod n, in Montgomery form (w·R): then mont(e, w·R) = e·w mod n, plain.
        let Some(w) = N.invert_plain(&s) else {
            return false;
        };
        let Some(g) = CombTable::generator() else {
            return false;
        };
        // e: the digest as an integer (256 bits: no truncation for P-256), below 2^256 < 2n.
        let e = N.canonical(&field::from_be(digest));
        let u1 = N.canonical(&N.mul(&e, &w));
        let u2 = N.canonical(&N.mul(&r, &w));
        curve::check_combination(g, &u1, &self.table, &u2, &r)
    }

    /// The affine coordinates, big-endian.
    pub fn coordinates(&self) -> ([u8; 32], [u8; 32]) {
        self.point.to_be()
    }
}
