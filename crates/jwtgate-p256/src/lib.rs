//! ECDSA signature verification for JWS (RFC 7518 §3.4) over the NIST curves, written for
//! wasm: ES256 (P-256, SHA-256), ES384 (P-384, SHA-384) and ES512 (P-521, SHA-512), the
//! signature as the fixed-length concatenation r ‖ s (64, 96, 132 bytes).
//!
//! Why its own crate: RustCrypto's p256 (64-bit limbs) took ~1.7 ms per ES256 token inside
//! jwtgate's filter, p384/p521 8–11 ms, because wasm has no 64×64→128 multiply. This one uses
//! 28-bit limbs with lazy accumulation (`field.rs`; P-521's Mersenne prime is reduced by
//! folding) and per-key comb tables (`curve.rs`): the key's table is built once, with the key
//! (jwtgate-core builds a key on its first use), so a verification is s − 1 doublings and 2s additions (signed comb,
//! s = 29, 43, 58); s⁻¹ is binary extended Euclid (`inverse.rs`). One implementation,
//! generic over the limb count; each curve is a handful of constants. It is compiled at
//! opt-level 3 while the filter around it is built for size.
//!
//! Verification touches only public data (key, message, signature), so there is no secret to
//! leak through timing: the question is correctness, which the tests settle (Wycheproof's
//! vectors for each curve, every bit flip of valid signatures, a differential comparison with
//! the RustCrypto curve crates, the same tests compiled to wasm and run under wasmtime and V8).
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

use curve::{Affine, CombTable, Curve};
use sha2::Digest;
use std::marker::PhantomData;

/// A public key on curve C, ready to verify: its comb table is built here, once.
struct Key<C, const L: usize, const K: usize> {
    point: Affine<L>,
    table: CombTable<L>,
    curve: PhantomData<C>,
}

impl<C, const L: usize, const K: usize> Clone for Key<C, L, K> {
    fn clone(&self) -> Self {
        Key {
            point: self.point,
            table: self.table.clone(),
            curve: PhantomData,
        }
    }
}

impl<C, const L: usize, const K: usize> PartialEq for Key<C, L, K> {
    fn eq(&self, other: &Self) -> bool {
        self.point == other.point
    }
}

impl<C: Curve<L, K>, const L: usize, const K: usize> Key<C, L, K> {
    /// `errors`: wrong length, not on the curve, bad order (never for a point on the curve).
    fn from_coordinates(
        x: &[u8],
        y: &[u8],
        errors: [&'static str; 3],
    ) -> Result<Self, &'static str> {
        let [length, off_curve, order] = errors;
        if x.len() != C::BYTES || y.len() != C::BYTES {
            return Err(length);
        }
        let point = C::affine_from_be(x, y).ok_or(off_curve)?;
        // Building the generator's table first makes the first verification as fast as later.
        C::generator_table().ok_or("generator table")?;
        let table = C::comb_table(&point).ok_or(order)?;
        Ok(Key {
            point,
            table,
            curve: PhantomData,
        })
    }

    /// ECDSA verification (FIPS 186-5 §6.4.2) of a digest no longer than n (so no
    /// truncation: SHA-256/384/512 for P-256/384/521); `signature` is r ‖ s, BYTES each.
    fn verify_prehashed(&self, digest: &[u8], signature: &[u8]) -> bool {
        let n = C::n();
        if signature.len() != 2 * C::BYTES || digest.len() > C::BYTES {
            return false;
        }
        let (r, s) = signature.split_at(C::BYTES);
        let (r, s): (Limbs<L>, Limbs<L>) = (field::from_be(r), field::from_be(s));
        let zero = [0; L];
        // from_be keeps 28L ≥ 8·BYTES bits, so r and s are exact: compare them with n.
        if r == zero || s == zero || !field::lt(&r, n.modulus()) || !field::lt(&s, n.modulus()) {
            return false;
        }
        // w = s⁻¹ mod n, in Montgomery form (w·R): then mont(e, w·R) = e·w mod n, plain.
        let Some(w) = n.invert_plain(&s) else {
            return false;
        };
        let Some(g) = C::generator_table() else {
            return false;
        };
        // e: the digest as an integer, below 2^(8·BYTES) < 2n (P-521: 2^512 < n).
        let e = n.canonical(&field::from_be(digest));
        let u1 = n.canonical(&n.mul(&e, &w));
        let u2 = n.canonical(&n.mul(&r, &w));
        C::check_combination(g, &u1, &self.table, &u2, &r)
    }
}

use field::Limbs;

/// A public key type per curve, over `Key`: the same API for each.
macro_rules! public_key {
    ($(#[$doc:meta])* $name:ident, $curve:ty, $l:literal, $k:literal, $bytes:literal,
     $hash:ty, $digest:literal, $verify:ident, $label:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq)]
        pub struct $name(Key<$curve, $l, $k>);

        impl Eq for $name {}

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(stringify!($name))
            }
        }

        impl $name {
            #[doc = concat!("From the affine coordinates, ", stringify!($bytes), " big-endian \
                bytes each (shorter inputs are left-padded by the caller). Refuses \
                coordinates ≥ p and points not on the curve.")]
            pub fn from_coordinates(x: &[u8], y: &[u8]) -> Result<$name, &'static str> {
                Key::from_coordinates(
                    x,
                    y,
                    [
                        concat!($label, " coordinates must be ", stringify!($bytes), " bytes"),
                        concat!("not a point on ", $label),
                        "not a point of order n",
                    ],
                )
                .map($name)
            }

            /// Whether (x, y) would make a key — the lengths and the curve equation — without
            /// building the comb table: for checking keys when they load and building them on
            /// first use.
            pub fn check_coordinates(x: &[u8], y: &[u8]) -> Result<(), &'static str> {
                if x.len() != $bytes || y.len() != $bytes {
                    return Err(concat!($label, " coordinates must be ", stringify!($bytes), " bytes"));
                }
                <$curve as Curve<$l, $k>>::affine_from_be(x, y)
                    .map(|_| ())
                    .ok_or(concat!("not a point on ", $label))
            }

            /// From the SEC1 uncompressed encoding 04 ‖ x ‖ y.
            pub fn from_sec1(point: &[u8]) -> Result<$name, &'static str> {
                match point.split_first() {
                    Some((4, xy)) if xy.len() == 2 * $bytes => {
                        let (x, y) = xy.split_at($bytes);
                        Self::from_coordinates(x, y)
                    }
                    _ => Err(concat!($label, " key must be 04 ‖ x ‖ y, uncompressed")),
                }
            }

            #[doc = concat!("ECDSA with ", stringify!($hash), " over `message`; `signature` is \
                r ‖ s, ", stringify!($bytes), " bytes each.")]
            pub fn $verify(&self, message: &[u8], signature: &[u8]) -> bool {
                let digest: [u8; $digest] = <$hash>::digest(message).into();
                self.verify_prehashed(&digest, signature)
            }

            #[doc = concat!("ECDSA verification (FIPS 186-5 §6.4.2) of a ", stringify!($hash),
                " digest.")]
            pub fn verify_prehashed(&self, digest: &[u8; $digest], signature: &[u8]) -> bool {
                self.0.verify_prehashed(digest, signature)
            }

            /// The affine coordinates, big-endian.
            pub fn coordinates(&self) -> ([u8; $bytes], [u8; $bytes]) {
                self.0.point.to_be(<$curve as Curve<$l, $k>>::p())
            }
        }
    };
}

public_key!(
    /// A P-256 public key (ES256), ready to verify: its comb table is built here, once.
    P256Key, curve::P256, 10, 4, 32, sha2::Sha256, 32, verify_sha256, "P-256"
);
public_key!(
    /// A P-384 public key (ES384), ready to verify: its comb table is built here, once.
    P384Key, curve::P384, 14, 6, 48, sha2::Sha384, 48, verify_sha384, "P-384"
);
public_key!(
    /// A P-521 public key (ES512), ready to verify: its comb table is built here, once.
    P521Key, curve::P521, 19, 9, 66, sha2::Sha512, 64, verify_sha512, "P-521"
);
