//! Arithmetic modulo a 256-bit odd number (P-256's field prime p, and its group order n), shaped
//! for wasm.
//!
//! Wasm has no 64×64→128-bit multiply, so the unit is 32×32→64 (`i64.mul`). With **28-bit
//! limbs** (10 of them, 280 bits) a product is below 2^56 and a u64 can add up 256 of them, so
//! the 20 products that land on one position of a Montgomery product are summed first and the
//! carries propagated once, at the end ("lazy" accumulation).
//!
//! Montgomery multiplication computes mont(a, b) = a·b·R⁻¹ mod m with R = 2^280:
//! - row i adds a_i·b, then q_i·m with q_i = (t_i mod 2^28)·(−m⁻¹ mod 2^28) mod 2^28, which
//!   makes position i ≡ 0 mod 2^28; its high part is added to position i + 1 (position i is
//!   not read again). After 10 rows positions 10–19 hold (a·b + q·m)/R. For p, −p⁻¹ ≡ 1 (mod 2^28) because
//!   p ≡ −1 (mod 2^96).
//! - **No subtraction inside**: (a·b + q·m)/R < a·b/R + m, which is below 2m whenever
//!   a·b < m·R. Values are kept in [0, 2m) ("lazy" residues): then a·b < 4m² < m·R because
//!   R = 2^280 > 4m. Addition and subtraction bring their result back into [0, 2m) with one
//!   conditional correction by 2m; only comparisons need the canonical value in [0, m).
//! - **Bounds**: each of the 20 positions receives at most 10 products a_i·b_j and 10 products
//!   q_i·m_j (each < 2^56) plus one carry (< 2^34): below 2^61, no u64 overflow.
//!
//! Verification handles only public data (key, message, signature): no constant-time needs.

use crate::inverse;

/// Limbs and limb width.
pub(crate) const L: usize = 10;
const W: u32 = 28;
const MASK: u32 = (1 << W) - 1;

/// A number below 2^280 as little-endian 28-bit limbs, each below 2^28.
pub(crate) type Limbs = [u32; L];

/// An odd 256-bit modulus m with its Montgomery constants.
pub(crate) struct Modulus {
    m: Limbs,
    /// 2m, the correction that keeps lazy residues in [0, 2m).
    m2: Limbs,
    /// −m⁻¹ mod 2^28.
    m0_inv: u32,
    /// R² mod m: mont(x, R²) = x·R moves x into Montgomery form.
    r2: Limbs,
    /// R mod m: 1 in Montgomery form.
    one: Limbs,
    /// m in 64-bit limbs, for the inversion (`inverse.rs`).
    m64: inverse::U256,
}

impl Modulus {
    /// From the big-endian modulus (odd, 256 bits); evaluated at compile time.
    #[allow(clippy::indexing_slicing)] // compile time: an index out of range is a build error
    pub(crate) const fn new(m_be: &[u8; 32]) -> Modulus {
        let m = from_be(m_be);
        // −m⁻¹ mod 2^32 by Newton's iteration (each step doubles the correct low bits; y = m0
        // is right mod 2^3 for odd m0), then reduced mod 2^28.
        let m0 = m[0];
        let mut y = m0;
        let mut i = 0;
        while i < 5 {
            y = y.wrapping_mul(2u32.wrapping_sub(m0.wrapping_mul(y)));
            i += 1;
        }
        let m0_inv = y.wrapping_neg() & MASK;
        // R mod m and R² mod m: start from 1 and double 280 (560) times, subtracting m when the
        // doubled value reaches m (a doubled value below m is below 2m < 2^280).
        let mut x = [0u32; L];
        x[0] = 1;
        let mut one = [0u32; L];
        let mut k = 0;
        while k < 2 * 280 {
            x = add_limbs(&x, &x);
            if !lt(&x, &m) {
                sub_in_place(&mut x, &m);
            }
            k += 1;
            if k == 280 {
                one = x;
            }
        }
        Modulus {
            m,
            m2: add_limbs(&m, &m),
            m0_inv,
            r2: x,
            one,
            m64: to_u256(&m),
        }
    }

    /// a·b·R⁻¹ mod m, in [0, 2m), for a, b < 2m (see the module comment).
    #[inline(never)]
    pub(crate) fn mul(&self, a: &Limbs, b: &Limbs) -> Limbs {
        self.mul_inline(a, b)
    }

    /// `mul`, always inlined, so a caller with a constant modulus (`curve::fe_mul`) gets m's
    /// limbs folded in: P-256's p has three zero limbs, the others are 2^28 − 1, 2^12 − 1, 2^24
    /// and 15 (natively 137 → 104 µs per verification).
    #[inline(always)]
    pub(crate) fn mul_inline(&self, a: &Limbs, b: &Limbs) -> Limbs {
        let mut t = [0u64; 2 * L];
        for (i, &ai) in a.iter().enumerate() {
            let Some(row) = t.get_mut(i..) else {
                break; // never: i < L
            };
            for (ti, &bj) in row.iter_mut().zip(b) {
                *ti += u64::from(ai) * u64::from(bj);
            }
            let [first, rest @ ..] = row else {
                break; // never: the row has 2L − i > 1 positions
            };
            let q = u64::from((*first as u32).wrapping_mul(self.m0_inv) & MASK);
            let mut m = self.m.iter();
            if let Some(&m0) = m.next() {
                *first += q * u64::from(m0);
            }
            for (ti, &mj) in rest.iter_mut().zip(m) {
                *ti += q * u64::from(mj);
            }
            // Position i is now ≡ 0 mod 2^28: its high part belongs to position i + 1.
            if let Some(next) = rest.first_mut() {
                *next += *first >> W;
            }
        }
        let mut out = [0u32; L];
        let mut carry = 0u64;
        for (o, &ti) in out.iter_mut().zip(t.iter().skip(L)) {
            let v = ti + carry;
            *o = v as u32 & MASK;
            carry = v >> W;
        }
        out
    }

    /// a + b in [0, 2m), for a, b in [0, 2m).
    #[inline]
    pub(crate) fn add(&self, a: &Limbs, b: &Limbs) -> Limbs {
        let mut out = add_limbs(a, b);
        if !lt(&out, &self.m2) {
            sub_in_place(&mut out, &self.m2);
        }
        out
    }

    /// a − b in [0, 2m), for a, b in [0, 2m).
    #[inline]
    pub(crate) fn sub(&self, a: &Limbs, b: &Limbs) -> Limbs {
        let mut out = *a;
        if sub_in_place(&mut out, b) {
            // Wrapped below zero (out = a − b + 2^280): a − b + 2m is in (0, 2m), and the carry
            // out of limb 9 is the 2^280 dropped.
            out = add_limbs(&out, &self.m2);
        }
        out
    }

    /// The canonical residue in [0, m) of a lazy one in [0, 2m).
    #[inline]
    pub(crate) fn canonical(&self, a: &Limbs) -> Limbs {
        let mut out = *a;
        if !lt(&out, &self.m) {
            sub_in_place(&mut out, &self.m);
        }
        out
    }

    /// Whether two lazy residues are equal mod m.
    #[inline]
    pub(crate) fn eq(&self, a: &Limbs, b: &Limbs) -> bool {
        self.canonical(a) == self.canonical(b)
    }

    #[inline]
    pub(crate) fn is_zero(&self, a: &Limbs) -> bool {
        self.canonical(a) == [0; L]
    }

    /// x·R mod m (Montgomery form) of x < 2^256.
    pub(crate) fn to_mont(&self, x: &Limbs) -> Limbs {
        self.mul(x, &self.r2)
    }

    /// x·R⁻¹ mod m, canonical: the plain value of a Montgomery-form residue.
    pub(crate) fn out_of_mont(&self, x: &Limbs) -> Limbs {
        let mut one = [0u32; L];
        if let Some(low) = one.first_mut() {
            *low = 1;
        }
        self.canonical(&self.mul(x, &one))
    }

    /// 1 in Montgomery form.
    pub(crate) fn one(&self) -> Limbs {
        self.one
    }

    /// The modulus itself (plain limbs).
    pub(crate) fn modulus(&self) -> &Limbs {
        &self.m
    }

    /// x⁻¹ in Montgomery form (x⁻¹·R mod m) of a plain x < m; `None` for x = 0 (m is prime).
    /// Binary extended Euclid (`inverse.rs`) instead of Fermat's 256 squarings.
    pub(crate) fn invert_plain(&self, x: &Limbs) -> Option<Limbs> {
        let inv = inverse::invert(&to_u256(x), &self.m64)?;
        Some(self.to_mont(&from_u256(&inv)))
    }

    /// a⁻¹ in Montgomery form, for `a` in Montgomery form; `None` for a ≡ 0.
    pub(crate) fn invert(&self, a: &Limbs) -> Option<Limbs> {
        self.invert_plain(&self.out_of_mont(a))
    }
}

/// A value below 2^256 as four 64-bit limbs (`inverse.rs` works on those).
#[allow(clippy::indexing_slicing)] // j < L and w < 4 are checked
const fn to_u256(x: &Limbs) -> inverse::U256 {
    let mut out = [0u64; 4];
    let mut j = 0;
    while j < L {
        let (w, off) = (j * W as usize / 64, j * W as usize % 64);
        let v = x[j] as u64;
        if w < 4 {
            out[w] |= v << off;
        }
        if off + W as usize > 64 && w + 1 < 4 {
            out[w + 1] |= v >> (64 - off);
        }
        j += 1;
    }
    out
}

/// Four 64-bit limbs as 28-bit ones.
#[allow(clippy::indexing_slicing)] // j < L and w < 4 are checked
const fn from_u256(x: &inverse::U256) -> Limbs {
    let mut out = [0u32; L];
    let mut j = 0;
    while j < L {
        let (w, off) = (j * W as usize / 64, j * W as usize % 64);
        let mut v = if w < 4 { x[w] >> off } else { 0 };
        if off + W as usize > 64 && w + 1 < 4 {
            v |= x[w + 1] << (64 - off);
        }
        out[j] = v as u32 & MASK;
        j += 1;
    }
    out
}

/// Bit `k` of a little-endian limb number.
#[inline]
pub(crate) fn bit(x: &Limbs, k: usize) -> usize {
    x.get(k / W as usize)
        .map_or(0, |limb| (limb >> (k % W as usize)) as usize & 1)
}

/// x < y. (`const`: also used for the constants; indices below L cannot be out of range.)
#[allow(clippy::indexing_slicing)]
#[inline]
pub(crate) const fn lt(x: &Limbs, y: &Limbs) -> bool {
    let mut j = L;
    while j > 0 {
        j -= 1;
        if x[j] != y[j] {
            return x[j] < y[j];
        }
    }
    false
}

/// x −= y; returns whether it wrapped below zero (then x holds x − y + 2^280).
#[allow(clippy::indexing_slicing)]
#[inline]
const fn sub_in_place(x: &mut Limbs, y: &Limbs) -> bool {
    let mut borrow = 0u32;
    let mut j = 0;
    while j < L {
        let d = x[j].wrapping_sub(y[j]).wrapping_sub(borrow);
        borrow = d >> 31; // limbs are < 2^28: a wrap sets the top bit
        x[j] = d & MASK;
        j += 1;
    }
    borrow != 0
}

/// x + y without reduction (the carry out of limb 9 is dropped: callers stay below 2^280).
#[allow(clippy::indexing_slicing)]
#[inline]
pub(crate) const fn add_limbs(x: &Limbs, y: &Limbs) -> Limbs {
    let mut out = [0u32; L];
    let mut carry = 0;
    let mut j = 0;
    while j < L {
        let v = x[j] + y[j] + carry;
        carry = v >> W;
        out[j] = v & MASK;
        j += 1;
    }
    out
}

/// Limbs (a value below 2^256) as 32 big-endian bytes.
pub(crate) fn to_be(x: &Limbs) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().rev().enumerate() {
        let mut v = 0u32;
        for b in 0..8 {
            v |= (bit(x, 8 * i + b) as u32) << b;
        }
        *byte = v as u8;
    }
    out
}

/// 32 big-endian bytes as limbs (`const`: also used for the constants).
#[allow(clippy::indexing_slicing)] // i < 32 and limb ≤ 9: in range
pub(crate) const fn from_be(bytes: &[u8; 32]) -> Limbs {
    let mut out = [0u32; L];
    let mut i = 0;
    while i < 32 {
        let byte = bytes[31 - i] as u32;
        let pos = i * 8;
        let (limb, off) = (pos / W as usize, pos as u32 % W);
        out[limb] |= (byte << off) & MASK;
        if off + 8 > W {
            out[limb + 1] |= byte >> (W - off);
        }
        i += 1;
    }
    out
}

/// 64 hex digits as 32 bytes, at compile time (the curve constants).
// Evaluated at compile time (the curve constants): an index out of range is a build error.
#[allow(clippy::indexing_slicing)]
pub(crate) const fn hex32(s: &str) -> [u8; 32] {
    let s = s.as_bytes();
    let mut out = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = (hex_digit(s[2 * i]) << 4) | hex_digit(s[2 * i + 1]);
        i += 1;
    }
    out
}

// Compile time only: a bad digit is a build error.
#[allow(clippy::panic)]
const fn hex_digit(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => panic!("curve constants are lowercase hex"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 256-bit number as u128 halves, for a check independent of the limb code.
    fn halves(x: &Limbs) -> (u128, u128) {
        let b = to_be(x);
        let mut hi = 0u128;
        let mut lo = 0u128;
        for &byte in &b[..16] {
            hi = hi << 8 | u128::from(byte);
        }
        for &byte in &b[16..] {
            lo = lo << 8 | u128::from(byte);
        }
        (hi, lo)
    }

    #[test]
    fn limb_conversions_round_trip() {
        let bytes = hex32("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff");
        assert_eq!(to_be(&from_be(&bytes)), bytes);
        let x = from_be(&bytes);
        assert_eq!(
            to_u256(&x),
            [u64::MAX, 0xffff_ffff, 0, 0xffff_ffff_0000_0001]
        );
        assert_eq!(from_u256(&to_u256(&x)), x);
        let x = from_be(&hex32(
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ));
        assert_eq!(
            halves(&x),
            (
                0x0123456789abcdef0123456789abcdef,
                0x0123456789abcdef0123456789abcdef
            )
        );
    }

    #[test]
    fn montgomery_round_trip_and_inverse() {
        for m in [&crate::curve::P, &crate::curve::N] {
            let x = from_be(&hex32(
                "1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff001",
            ));
            let xm = m.to_mont(&x);
            assert_eq!(m.out_of_mont(&xm), x);
            let inv = m.invert(&xm).unwrap();
            assert_eq!(m.invert(&[0; L]), None);
            assert_eq!(m.out_of_mont(&m.mul(&xm, &inv)), m.out_of_mont(&m.one()));
            assert_eq!(m.out_of_mont(&m.one()), {
                let mut one = [0; L];
                one[0] = 1;
                one
            });
            // (m − 1)² ≡ 1.
            let mut m1 = *m.modulus();
            m1[0] -= 1;
            let m1m = m.to_mont(&m1);
            assert_eq!(m.out_of_mont(&m.mul(&m1m, &m1m)), m.out_of_mont(&m.one()));
            // add/sub stay lazy and agree with each other.
            let s = m.add(&xm, &m1m);
            assert_eq!(m.canonical(&m.sub(&s, &m1m)), m.canonical(&xm));
            assert!(m.eq(&m.sub(&xm, &xm), &[0; L]));
        }
    }
}
