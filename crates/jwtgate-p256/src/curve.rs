//! Short Weierstrass curves y² = x³ − 3x + b over F_p of prime order n (P-256, P-384, P-521:
//! one implementation, generic over the limb count) in Jacobian coordinates, and the
//! fixed-base signed comb tables verification uses.
//!
//! **Signed comb** (9 teeth, spacing s: 29 for P-256, 43 for P-384, 58 for P-521, N = 9s bits).
//! A scalar k < n is recoded as d (`recode`) with k ≡ Σ_{i<N} (2d_i − 1)·2^i (mod n): every bit
//! stands for a digit ±1. Column i of d (bits st + i, t = 0..9) then stands for the point
//! Σ_t ±2^(st)·P, never zero, and the column with every sign flipped is its negation, so a table
//! of 2^8 = 256 affine points (those whose top tooth is +) covers the 512 columns: a column whose
//! top bit is 0 uses the negated entry of its complement. k·P is then s − 1 doublings and
//! exactly s mixed additions. Verification needs u1·G + u2·Q: both scalars share the doublings,
//! so for P-521 it costs 57 doublings and 116 additions (~1730 field multiplications; the
//! unsigned 8-teeth comb of the same table size took 65 and ~131, ~1970). G's table is built
//! once per process, Q's once per key (when the key is built): 256 affine points = 20 KiB
//! (P-256), 28 KiB (P-384), 38 KiB (P-521) each.

use crate::field::{self, hex, Limbs, Modulus};
use std::sync::OnceLock;

/// A curve's constants; the arithmetic is the provided methods (monomorphised per curve, so
/// that `fe_mul` sees p's limbs as constants).
pub(crate) trait Curve<const L: usize, const K: usize>: Sized + 'static {
    /// Bytes of a coordinate or scalar (32, 48, 66).
    const BYTES: usize;
    /// The comb spacing (TEETH = 9 teeth): N = 9·SPACING ≤ 28L and n < 2^(N − 1), which
    /// `recode` needs (checked by the test `comb_matches_double_and_add`).
    const SPACING: usize;
    /// The field prime p.
    fn p() -> &'static Modulus<L, K>;
    /// The group order n.
    fn n() -> &'static Modulus<L, K>;
    /// b and the generator, plain big-endian-decoded limbs.
    fn b() -> Limbs<L>;
    fn g() -> (Limbs<L>, Limbs<L>);
    /// Where the generator's table is kept, built on first use.
    fn generator_cell() -> &'static OnceLock<Option<CombTable<L>>>;

    /// Multiplication mod p, with p's limbs constant-folded into `Modulus::mul` (inlined here
    /// once per curve).
    #[inline(never)]
    fn fe_mul(a: &Limbs<L>, b: &Limbs<L>) -> Limbs<L> {
        Self::p().mul_inline(a, b)
    }

    /// Squaring mod p, as a product: a dedicated squaring (each cross product once) ran more
    /// instructions than the unrolled product rows (P-521: 4.8M against 4.4M per verification).
    fn fe_square(a: &Limbs<L>) -> Limbs<L> {
        Self::fe_mul(a, a)
    }

    fn quadruple(a: &Limbs<L>) -> Limbs<L> {
        let p = Self::p();
        let twice = p.add(a, a);
        p.add(&twice, &twice)
    }

    /// From big-endian coordinates (BYTES each): `None` unless both are below p and the point
    /// is on the curve (then it is not the point at infinity and, the cofactor being 1, of
    /// order n).
    fn affine_from_be(x: &[u8], y: &[u8]) -> Option<Affine<L>> {
        let p = Self::p();
        if x.len() != Self::BYTES || y.len() != Self::BYTES {
            return None;
        }
        let (x, y) = (field::from_be(x), field::from_be(y));
        if !field::lt(&x, p.modulus()) || !field::lt(&y, p.modulus()) {
            return None;
        }
        let point = Affine {
            x: p.to_mont(&x),
            y: p.to_mont(&y),
        };
        Self::on_curve(&point).then_some(point)
    }

    /// y² = x³ − 3x + b.
    fn on_curve(a: &Affine<L>) -> bool {
        let p = Self::p();
        let x3 = Self::fe_mul(&Self::fe_square(&a.x), &a.x);
        let three_x = p.add(&p.add(&a.x, &a.x), &a.x);
        let b = p.to_mont(&Self::b());
        let rhs = p.add(&p.sub(&x3, &three_x), &b);
        p.eq(&Self::fe_square(&a.y), &rhs)
    }

    fn to_jacobian(a: &Affine<L>) -> Jacobian<L> {
        Jacobian {
            x: a.x,
            y: a.y,
            z: Self::p().one(),
            infinity: false,
        }
    }

    /// −P (Y negated; −0 = 0 stays in [0, 2p)).
    fn negate(y: &Limbs<L>) -> Limbs<L> {
        Self::p().sub(&[0; L], y)
    }

    /// 2·P (dbl-2001-b, a = −3: 3M + 5S). The curves have no point of order 2 (n is odd), so
    /// Y ≠ 0 for every finite point and the result is finite.
    #[inline(never)] // a dozen field operations: inlining copies them, saves nothing
    fn double(a: &Jacobian<L>) -> Jacobian<L> {
        if a.infinity {
            return *a;
        }
        let p = Self::p();
        let delta = Self::fe_square(&a.z);
        let gamma = Self::fe_square(&a.y);
        let beta = Self::fe_mul(&a.x, &gamma);
        let t = Self::fe_mul(&p.sub(&a.x, &delta), &p.add(&a.x, &delta));
        let alpha = p.add(&p.add(&t, &t), &t);
        let beta4 = Self::quadruple(&beta);
        let x3 = p.sub(&Self::fe_square(&alpha), &p.add(&beta4, &beta4));
        let yz = p.add(&a.y, &a.z);
        let z3 = p.sub(&p.sub(&Self::fe_square(&yz), &gamma), &delta);
        let gamma2 = Self::fe_square(&gamma);
        let y3 = p.sub(
            &Self::fe_mul(&alpha, &p.sub(&beta4, &x3)),
            &p.add(&Self::quadruple(&gamma2), &Self::quadruple(&gamma2)),
        );
        Jacobian {
            x: x3,
            y: y3,
            z: z3,
            infinity: false,
        }
    }

    /// P + Q for an affine Q (madd-2007-bl: 7M + 4S), with the exceptional cases: P at
    /// infinity, P = Q (doubling) and P = −Q (infinity).
    #[inline(never)] // a dozen field operations: inlining copies them, saves nothing
    fn add_affine(a: &Jacobian<L>, q: &Affine<L>) -> Jacobian<L> {
        if a.infinity {
            return Self::to_jacobian(q);
        }
        let p = Self::p();
        let z1z1 = Self::fe_square(&a.z);
        let u2 = Self::fe_mul(&q.x, &z1z1);
        let s2 = Self::fe_mul(&Self::fe_mul(&q.y, &a.z), &z1z1);
        let h = p.sub(&u2, &a.x);
        let r_half = p.sub(&s2, &a.y);
        if p.is_zero(&h) {
            return if p.is_zero(&r_half) {
                Self::double(a)
            } else {
                Jacobian::INFINITY
            };
        }
        let hh = Self::fe_square(&h);
        let i = Self::quadruple(&hh);
        let j = Self::fe_mul(&h, &i);
        let r = p.add(&r_half, &r_half);
        let v = Self::fe_mul(&a.x, &i);
        let x3 = p.sub(&p.sub(&Self::fe_square(&r), &j), &p.add(&v, &v));
        let y1j = Self::fe_mul(&a.y, &j);
        let y3 = p.sub(&Self::fe_mul(&r, &p.sub(&v, &x3)), &p.add(&y1j, &y1j));
        let zh = p.add(&a.z, &h);
        let z3 = p.sub(&p.sub(&Self::fe_square(&zh), &z1z1), &hh);
        Jacobian {
            x: x3,
            y: y3,
            z: z3,
            infinity: false,
        }
    }

    /// P + Q for Jacobian P, Q (add-2007-bl: 11M + 5S), with the exceptional cases; used
    /// only to build tables.
    #[inline(never)] // a dozen field operations: inlining copies them, saves nothing
    fn add(a: &Jacobian<L>, q: &Jacobian<L>) -> Jacobian<L> {
        if a.infinity {
            return *q;
        }
        if q.infinity {
            return *a;
        }
        let p = Self::p();
        let z1z1 = Self::fe_square(&a.z);
        let z2z2 = Self::fe_square(&q.z);
        let u1 = Self::fe_mul(&a.x, &z2z2);
        let u2 = Self::fe_mul(&q.x, &z1z1);
        let s1 = Self::fe_mul(&Self::fe_mul(&a.y, &q.z), &z2z2);
        let s2 = Self::fe_mul(&Self::fe_mul(&q.y, &a.z), &z1z1);
        let h = p.sub(&u2, &u1);
        let r_half = p.sub(&s2, &s1);
        if p.is_zero(&h) {
            return if p.is_zero(&r_half) {
                Self::double(a)
            } else {
                Jacobian::INFINITY
            };
        }
        let h2 = p.add(&h, &h);
        let i = Self::fe_square(&h2);
        let j = Self::fe_mul(&h, &i);
        let r = p.add(&r_half, &r_half);
        let v = Self::fe_mul(&u1, &i);
        let x3 = p.sub(&p.sub(&Self::fe_square(&r), &j), &p.add(&v, &v));
        let s1j = Self::fe_mul(&s1, &j);
        let y3 = p.sub(&Self::fe_mul(&r, &p.sub(&v, &x3)), &p.add(&s1j, &s1j));
        let zz = p.add(&a.z, &q.z);
        let z3 = Self::fe_mul(&p.sub(&p.sub(&Self::fe_square(&zz), &z1z1), &z2z2), &h);
        Jacobian {
            x: x3,
            y: y3,
            z: z3,
            infinity: false,
        }
    }

    /// The signed comb table of `point` (see the module comment): entry m (0..256) is
    /// 2^(8s)·P + Σ_{t<8} ±2^(st)·P, + where bit t of m is 1. `None` only if an entry were the
    /// point at infinity, which cannot happen for a point of order n: an entry is c·P with
    /// 0 < 2^(8s) − Σ_{t<8} 2^(st) ≤ c < 2^(8s + 1) < n.
    fn comb_table(point: &Affine<L>) -> Option<CombTable<L>> {
        let p = Self::p();
        // teeth[t] = 2^(st)·P (t ≤ 8), twice[t] = 2·teeth[t]: flipping tooth t from − to +.
        let mut teeth = [Self::to_jacobian(point); TEETH];
        let mut twice = teeth;
        for t in 1..TEETH {
            let mut q = Self::double(teeth.get(t - 1)?);
            *twice.get_mut(t - 1)? = q;
            for _ in 1..Self::SPACING {
                q = Self::double(&q);
            }
            *teeth.get_mut(t)? = q;
        }
        // Entry 0: the top tooth minus all the others.
        let mut first = *teeth.get(TEETH - 1)?;
        for tooth in teeth.get(..TEETH - 1)? {
            let negated = Jacobian {
                y: Self::negate(&tooth.y),
                ..*tooth
            };
            first = Self::add(&first, &negated);
        }
        // Entry m = entry (m without its top bit) + twice the top bit's tooth.
        let mut jacobian: Vec<Jacobian<L>> = Vec::with_capacity(TABLE_LEN);
        jacobian.push(first);
        for m in 1..TABLE_LEN {
            let top = usize::BITS as usize - 1 - m.leading_zeros() as usize;
            let entry = Self::add(jacobian.get(m & !(1 << top))?, twice.get(top)?);
            jacobian.push(entry);
        }
        if jacobian.iter().any(|q| q.infinity) {
            return None;
        }
        // Affine by one inversion (Montgomery's trick): prefix products of the Z's, invert
        // the last, walk back.
        let mut prefix = Vec::with_capacity(TABLE_LEN);
        let mut acc = p.one();
        for q in &jacobian {
            acc = Self::fe_mul(&acc, &q.z);
            prefix.push(acc);
        }
        let mut inv = p.invert(&acc)?;
        let mut affine = vec![
            Affine {
                x: [0; L],
                y: [0; L]
            };
            TABLE_LEN
        ];
        for k in (0..TABLE_LEN).rev() {
            let q = jacobian.get(k)?;
            let z_inv = match k {
                0 => inv,
                _ => Self::fe_mul(&inv, prefix.get(k - 1)?),
            };
            inv = Self::fe_mul(&inv, &q.z);
            let z_inv2 = Self::fe_square(&z_inv);
            let z_inv3 = Self::fe_mul(&z_inv2, &z_inv);
            *affine.get_mut(k)? = Affine {
                x: p.canonical(&Self::fe_mul(&q.x, &z_inv2)),
                y: p.canonical(&Self::fe_mul(&q.y, &z_inv3)),
            };
        }
        Some(CombTable(affine.into_boxed_slice()))
    }

    /// The generator's table, built on first use.
    fn generator_table() -> Option<&'static CombTable<L>> {
        Self::generator_cell()
            .get_or_init(|| {
                let p = Self::p();
                let (x, y) = Self::g();
                Self::comb_table(&Affine {
                    x: p.to_mont(&x),
                    y: p.to_mont(&y),
                })
            })
            .as_ref()
    }

    /// Whether the x coordinate of u1·G + u2·Q, reduced mod n, equals r (ECDSA's final
    /// check); false when the sum is the point at infinity. u1, u2 and r are canonical, r ≠ 0.
    fn check_combination(
        g: &CombTable<L>,
        u1: &Limbs<L>,
        q: &CombTable<L>,
        u2: &Limbs<L>,
        r: &Limbs<L>,
    ) -> bool {
        let p = Self::p();
        let n = Self::n().modulus();
        let (d1, d2) = (recode(u1, n, Self::SPACING), recode(u2, n, Self::SPACING));
        let mut acc = Jacobian::INFINITY;
        for i in (0..Self::SPACING).rev() {
            acc = Self::double(&acc);
            for (table, d) in [(g, &d1), (q, &d2)] {
                // Top bit 1: entry j − 256; 0: the negation of the complement's entry.
                let j = comb_index(d, Self::SPACING, i);
                let positive = j >= TABLE_LEN;
                let at = if positive {
                    j - TABLE_LEN
                } else {
                    TABLE_LEN - 1 - j
                };
                let Some(entry) = table.0.get(at) else {
                    return false; // never: j < 2·TABLE_LEN
                };
                acc = if positive {
                    Self::add_affine(&acc, entry)
                } else {
                    let negated = Affine {
                        x: entry.x,
                        y: Self::negate(&entry.y),
                    };
                    Self::add_affine(&acc, &negated)
                };
            }
        }
        if acc.infinity {
            return false;
        }
        // x = X/Z²: x mod n = r ⇔ x = r or x = r + n (the latter only if r + n < p; p < 2n).
        // Compare X with r·Z² (and (r + n)·Z²) instead of inverting Z.
        let zz = Self::fe_square(&acc.z);
        if p.eq(&acc.x, &Self::fe_mul(&p.to_mont(r), &zz)) {
            return true;
        }
        let r_plus_n = field::add_limbs(r, Self::n().modulus());
        field::lt(&r_plus_n, p.modulus()) && p.eq(&acc.x, &Self::fe_mul(&p.to_mont(&r_plus_n), &zz))
    }
}

/// Comb parameters: TEETH bits of the recoded scalar per table lookup (SPACING apart, per
/// curve), a table of half the 2^TEETH columns (the others are their negations).
const TEETH: usize = 9;
const TABLE_LEN: usize = 1 << (TEETH - 1);

/// The comb index of step `i` for a recoded scalar d: bit t is bit st + i of d.
#[inline]
fn comb_index<const L: usize>(d: &Limbs<L>, spacing: usize, i: usize) -> usize {
    (0..TEETH).fold(0, |acc, t| acc | (field::bit(d, spacing * t + i) << t))
}

/// d with k ≡ Σ_{i<N} (2d_i − 1)·2^i = 2d + 1 − 2^N (mod n), N = TEETH·spacing, for k < n:
/// d = (k' − 1)/2 + 2^(N−1) with k' = k or k + n, whichever is odd. k' < 2n < 2^(28L), so
/// (k' − 1)/2 < n < 2^(N−1) (the curves' spacings make n < 2^(N−1)) and adding 2^(N−1) only
/// sets bit N − 1: d < 2^N.
fn recode<const L: usize>(k: &Limbs<L>, n: &Limbs<L>, spacing: usize) -> Limbs<L> {
    let odd = if k.first().is_some_and(|low| low & 1 == 1) {
        *k
    } else {
        field::add_limbs(k, n)
    };
    // (k' − 1)/2 = k' >> 1 for odd k'.
    let mut d = [0u32; L];
    for (j, limb) in d.iter_mut().enumerate() {
        let high = odd.get(j + 1).map_or(0, |next| next << (field::W - 1));
        *limb = (odd.get(j).map_or(0, |x| x >> 1) | high) & ((1 << field::W) - 1);
    }
    let top = TEETH * spacing - 1;
    if let Some(limb) = d.get_mut(top / field::W as usize) {
        *limb |= 1 << (top % field::W as usize);
    }
    d
}

/// An affine point (coordinates in Montgomery form), never the point at infinity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Affine<const L: usize> {
    x: Limbs<L>,
    y: Limbs<L>,
}

impl<const L: usize> Affine<L> {
    /// Big-endian coordinates.
    pub(crate) fn to_be<const K: usize, const B: usize>(
        self,
        p: &Modulus<L, K>,
    ) -> ([u8; B], [u8; B]) {
        (
            field::to_be(&p.out_of_mont(&self.x)),
            field::to_be(&p.out_of_mont(&self.y)),
        )
    }
}

/// A Jacobian point (X/Z², Y/Z³); `infinity` is the neutral element (Z is then meaningless).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Jacobian<const L: usize> {
    x: Limbs<L>,
    y: Limbs<L>,
    z: Limbs<L>,
    infinity: bool,
}

impl<const L: usize> Jacobian<L> {
    const INFINITY: Jacobian<L> = Jacobian {
        x: [0; L],
        y: [0; L],
        z: [0; L],
        infinity: true,
    };
}

/// The comb table of one point.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct CombTable<const L: usize>(Box<[Affine<L>]>);

/// Defines a curve: its marker type, constants (big-endian hex) and statics.
macro_rules! curve {
    ($(#[$doc:meta])* $name:ident, $l:literal, $k:literal, $bytes:literal, $spacing:literal,
     p: $p:expr, n: $n:literal, b: $b:literal, gx: $gx:literal, gy: $gy:literal) => {
        $(#[$doc])*
        pub(crate) struct $name;

        impl Curve<$l, $k> for $name {
            const BYTES: usize = $bytes;
            const SPACING: usize = $spacing;
            fn p() -> &'static Modulus<$l, $k> {
                static P: Modulus<$l, $k> = $p;
                &P
            }
            fn n() -> &'static Modulus<$l, $k> {
                static N: Modulus<$l, $k> = Modulus::new(&hex::<$bytes>($n));
                &N
            }
            fn b() -> Limbs<$l> {
                field::from_be(&hex::<$bytes>($b))
            }
            fn g() -> (Limbs<$l>, Limbs<$l>) {
                (
                    field::from_be(&hex::<$bytes>($gx)),
                    field::from_be(&hex::<$bytes>($gy)),
                )
            }
            fn generator_cell() -> &'static OnceLock<Option<CombTable<$l>>> {
                static TABLE: OnceLock<Option<CombTable<$l>>> = OnceLock::new();
                &TABLE
            }
        }
    };
}

curve!(
    /// P-256 (FIPS 186-5, SEC 2 secp256r1): p = 2^256 − 2^224 + 2^192 + 2^96 − 1.
    P256, 10, 4, 32, 29,
    p: Modulus::new(&hex::<32>("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff")),
    n: "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551",
    b: "5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b",
    gx: "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296",
    gy: "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"
);

curve!(
    /// P-384 (secp384r1): p = 2^384 − 2^128 − 2^96 + 2^32 − 1, Montgomery with 14 limbs.
    P384, 14, 6, 48, 43,
    p: Modulus::new(&hex::<48>("fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffff")),
    n: "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973",
    b: "b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aef",
    gx: "aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7",
    gy: "3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f"
);

curve!(
    /// P-521 (secp521r1): p = 2^521 − 1, a Mersenne prime (multiplication by folding).
    P521, 19, 9, 66, 58,
    p: Modulus::mersenne521(&hex::<66>("01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff")),
    n: "01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409",
    b: "0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00",
    gx: "00c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66",
    gy: "011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650"
);

#[cfg(test)]
mod tests {
    use super::*;

    /// x(k·G) mod n by plain double-and-add (Jacobian `add`, one inversion): a reference for
    /// the comb. `None` for the point at infinity.
    fn reference_x<C: Curve<L, K>, const L: usize, const K: usize>(
        k: &Limbs<L>,
    ) -> Option<Limbs<L>> {
        let p = C::p();
        let (gx, gy) = C::g();
        let g = C::to_jacobian(&Affine {
            x: p.to_mont(&gx),
            y: p.to_mont(&gy),
        });
        let mut acc = Jacobian::INFINITY;
        for bit in (0..28 * L).rev() {
            acc = C::double(&acc);
            if field::bit(k, bit) == 1 {
                acc = C::add(&acc, &g);
            }
        }
        if acc.infinity {
            return None;
        }
        let z_inv = p.invert(&acc.z)?;
        let x = p.out_of_mont(&C::fe_mul(&acc.x, &C::fe_square(&z_inv)));
        Some(C::n().canonical(&x))
    }

    fn comb_matches_double_and_add<C: Curve<L, K>, const L: usize, const K: usize>() {
        let n = *C::n().modulus();
        let big_n = TEETH * C::SPACING;
        // What `recode` needs: N ≤ 28L and n < 2^(N − 1); what `comb_table` needs: n > 2^(8s + 1).
        assert!(big_n <= 28 * L);
        assert!((big_n - 1..28 * L).all(|b| field::bit(&n, b) == 0));
        assert!((8 * C::SPACING + 2..big_n).any(|b| field::bit(&n, b) == 1));
        let g = C::generator_table().unwrap();
        let zero = [0u32; L];
        let mut one = zero;
        one[0] = 1;
        let mut n1 = n;
        n1[0] -= 1;
        let mut n2 = n;
        n2[0] -= 2;
        let mut top = zero;
        top[(big_n - 2) / 28] = 1 << ((big_n - 2) % 28);
        let bits = (0..28 * L).rfind(|&b| field::bit(&n, b) == 1).unwrap() + 1;
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut scalars = vec![one, field::add_limbs(&one, &one), n1, n2, top];
        for _ in 0..8 {
            let mut k = zero;
            for limb in &mut k {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *limb = state as u32 & ((1 << 28) - 1);
            }
            // Below 2^(bits of n) < 2n, then reduced.
            for b in bits..28 * L {
                k[b / 28] &= !(1 << (b % 28));
            }
            scalars.push(C::n().canonical(&k));
        }
        for k in &scalars {
            if *k == zero || !field::lt(k, &n) {
                continue;
            }
            let r = reference_x::<C, L, K>(k).unwrap();
            // k·G + 0·G and 0·G + k·G (a zero scalar recodes to n).
            assert!(C::check_combination(g, k, g, &zero, &r));
            assert!(C::check_combination(g, &zero, g, k, &r));
            let r_plus_1 = C::n().canonical(&field::add_limbs(&r, &one));
            assert!(!C::check_combination(g, k, g, &zero, &r_plus_1));
            // k·G + (n − k)·G is the point at infinity.
            let mut minus_k = zero;
            let mut borrow = 0;
            for ((d, &nj), &kj) in minus_k.iter_mut().zip(&n).zip(k) {
                let v = nj.wrapping_sub(kj).wrapping_sub(borrow);
                borrow = v >> 31;
                *d = v & ((1 << 28) - 1);
            }
            assert!(!C::check_combination(g, k, g, &minus_k, &r));
        }
    }

    #[test]
    fn comb_matches_double_and_add_p256() {
        comb_matches_double_and_add::<P256, 10, 4>();
    }

    #[test]
    fn comb_matches_double_and_add_p384() {
        comb_matches_double_and_add::<P384, 14, 6>();
    }

    #[test]
    fn comb_matches_double_and_add_p521() {
        comb_matches_double_and_add::<P521, 19, 9>();
    }
}
