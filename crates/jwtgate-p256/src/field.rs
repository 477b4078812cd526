//! Arithmetic modulo an odd number of up to 532 bits (the field primes p and group orders n of
//! P-256, P-384 and P-521), shaped for wasm. One implementation, generic over the limb count.
//!
//! Wasm has no 64×64→128-bit multiply, so the unit is 32×32→64 (`i64.mul`). With **28-bit
//! limbs** (L of them: 10 for P-256, 14 for P-384, 19 for P-521) a product is below 2^56 and a
//! u64 can add up 256 of them, so the 2L products that land on one position of a Montgomery
//! product are summed first and the carries propagated once, at the end ("lazy" accumulation).
//!
//! Montgomery multiplication computes mont(a, b) = a·b·R⁻¹ mod m with R = 2^(28L):
//! - row i adds a_i·b, then q_i·m with q_i = (t_i mod 2^28)·(−m⁻¹ mod 2^28) mod 2^28, which
//!   makes position i ≡ 0 mod 2^28; its high part is added to position i + 1 (position i is
//!   not read again). After L rows positions L–2L−1 hold (a·b + q·m)/R.
//! - **No subtraction inside**: (a·b + q·m)/R < a·b/R + m, which is below 2m whenever
//!   a·b < m·R. Values are kept in [0, 2m) ("lazy" residues): then a·b < 4m² < m·R because
//!   R > 4m (2^280 for 256 bits, 2^392 for 384, 2^532 for 521). Addition and subtraction bring
//!   their result back into [0, 2m) with one conditional correction by 2m; only comparisons
//!   need the canonical value in [0, m).
//! - **Bounds**: each of the 2L positions receives at most L products a_i·b_j and L products
//!   q_i·m_j (each < 2^56) plus one carry (< 2^37): below 38·2^56 + 2^37 < 2^62, no overflow.
//!
//! P-521's p = 2^521 − 1 is a Mersenne prime: its field skips Montgomery altogether
//! (`Modulus::mersenne521`): a·b (19² products, half the work of a Montgomery product) is
//! folded as lo + hi, since 2^521 ≡ 1. Values are plain, not in Montgomery form, and stay in
//! the same lazy range [0, 2p).
//!
//! Verification handles only public data (key, message, signature): no constant-time needs.

use crate::inverse;

/// Limb width.
pub(crate) const W: u32 = 28;
const MASK: u32 = (1 << W) - 1;

/// Positions of a product's accumulator: 2L for L ≤ 20 (a fixed size, as `[u64; 2 * L]` is
/// not a stable const-generic type; the positions past 2L are never touched, and the compiler
/// drops them once the loops are unrolled).
const MAX_POSITIONS: usize = 40;

/// A number below 2^(28L) as little-endian 28-bit limbs, each below 2^28.
pub(crate) type Limbs<const L: usize> = [u32; L];

/// An odd modulus m of L limbs (K 64-bit limbs for the inversion) with its constants.
pub(crate) struct Modulus<const L: usize, const K: usize> {
    m: Limbs<L>,
    /// 2m, the correction that keeps lazy residues in [0, 2m).
    m2: Limbs<L>,
    /// −m⁻¹ mod 2^28.
    m0_inv: u32,
    /// R² mod m: mont(x, R²) = x·R moves x into Montgomery form.
    r2: Limbs<L>,
    /// R mod m: 1 in Montgomery form (plain 1 for the Mersenne field).
    one: Limbs<L>,
    /// m in 64-bit limbs, for the inversion (`inverse.rs`).
    m64: [u64; K],
    /// m = 2^521 − 1 (L = 19), multiplied by folding, values plain.
    mersenne: bool,
}

impl<const L: usize, const K: usize> Modulus<L, K> {
    /// Montgomery arithmetic modulo the big-endian odd `m_be` (at most 28L − 3 bits, so that
    /// R > 4m); evaluated at compile time.
    #[allow(clippy::indexing_slicing)] // compile time: an index out of range is a build error
    pub(crate) const fn new(m_be: &[u8]) -> Self {
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
        // R mod m and R² mod m: start from 1 and double 28L (56L) times, subtracting m when
        // the doubled value reaches m (a doubled value below m is below 2m < R).
        let bits = L * W as usize;
        let mut x = [0u32; L];
        x[0] = 1;
        let mut one = [0u32; L];
        let mut k = 0;
        while k < 2 * bits {
            x = add_limbs(&x, &x);
            if !lt(&x, &m) {
                sub_in_place(&mut x, &m);
            }
            k += 1;
            if k == bits {
                one = x;
            }
        }
        Modulus {
            m,
            m2: add_limbs(&m, &m),
            m0_inv,
            r2: x,
            one,
            m64: to_u64s(&m),
            mersenne: false,
        }
    }

    /// The field of P-521, p = 2^521 − 1 (L = 19): multiplication by folding, values plain.
    #[allow(clippy::indexing_slicing)] // compile time: an index out of range is a build error
    pub(crate) const fn mersenne521(m_be: &[u8]) -> Self {
        assert!(L == 19, "2^521 − 1 in 28-bit limbs");
        let m = from_be(m_be);
        let mut one = [0u32; L];
        one[0] = 1;
        Modulus {
            m,
            m2: add_limbs(&m, &m),
            m0_inv: 0,
            r2: one,
            one,
            m64: to_u64s(&m),
            mersenne: true,
        }
    }

    /// a·b·R⁻¹ mod m (a·b for the Mersenne field), in [0, 2m), for a, b < 2m (see the module
    /// comment).
    #[inline(never)]
    pub(crate) fn mul(&self, a: &Limbs<L>, b: &Limbs<L>) -> Limbs<L> {
        self.mul_inline(a, b)
    }

    /// `mul`, always inlined, so a caller with a constant modulus (`Curve::fe_mul`) gets m's
    /// limbs folded in: P-256's p has three zero limbs, the others are 2^28 − 1, 2^12 − 1, 2^24
    /// and 15 (natively 137 → 104 µs per verification).
    #[inline(always)]
    pub(crate) fn mul_inline(&self, a: &Limbs<L>, b: &Limbs<L>) -> Limbs<L> {
        if self.mersenne {
            return mul_mersenne521(a, b);
        }
        let mut t = [0u64; MAX_POSITIONS];
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
    #[inline(never)] // called a dozen times per point operation: one copy, not a dozen
    pub(crate) fn add(&self, a: &Limbs<L>, b: &Limbs<L>) -> Limbs<L> {
        let mut out = add_limbs(a, b);
        if L == 19 && self.mersenne {
            // a + b < 2^523 (the top limb holds it): fold instead of compare and subtract.
            fold521(&mut out);
            return out;
        }
        if !lt(&out, &self.m2) {
            sub_in_place(&mut out, &self.m2);
        }
        out
    }

    /// a − b in [0, 2m), for a, b in [0, 2m).
    #[inline(never)] // called a dozen times per point operation: one copy, not a dozen
    pub(crate) fn sub(&self, a: &Limbs<L>, b: &Limbs<L>) -> Limbs<L> {
        if L == 19 && self.mersenne {
            return sub_mersenne521(a, b);
        }
        let mut out = *a;
        if sub_in_place(&mut out, b) {
            // Wrapped below zero (out = a − b + 2^(28L)): a − b + 2m is in (0, 2m), and the
            // carry out of the top limb is the 2^(28L) dropped.
            out = add_limbs(&out, &self.m2);
        }
        out
    }

    /// The canonical residue in [0, m) of a lazy one in [0, 2m).
    #[inline(never)] // called a dozen times per point operation: one copy, not a dozen
    pub(crate) fn canonical(&self, a: &Limbs<L>) -> Limbs<L> {
        let mut out = *a;
        if !lt(&out, &self.m) {
            sub_in_place(&mut out, &self.m);
        }
        out
    }

    /// Whether two lazy residues are equal mod m.
    #[inline]
    pub(crate) fn eq(&self, a: &Limbs<L>, b: &Limbs<L>) -> bool {
        self.canonical(a) == self.canonical(b)
    }

    #[inline]
    pub(crate) fn is_zero(&self, a: &Limbs<L>) -> bool {
        self.canonical(a) == [0; L]
    }

    /// x·R mod m (Montgomery form; x itself for the Mersenne field) of x < m.
    pub(crate) fn to_mont(&self, x: &Limbs<L>) -> Limbs<L> {
        if self.mersenne {
            return *x;
        }
        self.mul(x, &self.r2)
    }

    /// x·R⁻¹ mod m, canonical: the plain value of a Montgomery-form residue.
    pub(crate) fn out_of_mont(&self, x: &Limbs<L>) -> Limbs<L> {
        if self.mersenne {
            return self.canonical(x);
        }
        let mut one = [0u32; L];
        if let Some(low) = one.first_mut() {
            *low = 1;
        }
        self.canonical(&self.mul(x, &one))
    }

    /// 1 in Montgomery form.
    pub(crate) fn one(&self) -> Limbs<L> {
        self.one
    }

    /// The modulus itself (plain limbs).
    pub(crate) fn modulus(&self) -> &Limbs<L> {
        &self.m
    }

    /// x⁻¹ in Montgomery form (x⁻¹·R mod m) of a plain x < m; `None` for x = 0 (m is prime).
    /// Binary extended Euclid (`inverse.rs`) instead of Fermat's hundreds of squarings.
    pub(crate) fn invert_plain(&self, x: &Limbs<L>) -> Option<Limbs<L>> {
        let inv = inverse::invert(&to_u64s(x), &self.m64)?;
        Some(self.to_mont(&from_u64s(&inv)))
    }

    /// a⁻¹ in Montgomery form, for `a` in Montgomery form; `None` for a ≡ 0.
    pub(crate) fn invert(&self, a: &Limbs<L>) -> Option<Limbs<L>> {
        self.invert_plain(&self.out_of_mont(a))
    }
}

/// a·b mod 2^521 − 1 in [0, 2^521 + 8) ⊂ [0, 2p), for 19-limb a, b < 2^522: the 38-position
/// product (each position a sum of ≤ 19 products < 2^56; rows, like the Montgomery product:
/// column loops ran 2.7x the instructions), carried into 28-bit limbs c, then lo + hi with lo = bits
/// 0..521 and hi = the rest (2^521 ≡ 1), and the ≤ 3 bits that sum carries past bit 521 folded
/// once more.
#[allow(clippy::indexing_slicing)] // L = 19 (asserted by `mersenne521`): indices below 40
#[inline(always)]
fn mul_mersenne521<const L: usize>(a: &Limbs<L>, b: &Limbs<L>) -> Limbs<L> {
    // Bit 521 is bit 17 of limb 18.
    const TOP: usize = 18;
    const OFF: u32 = 521 - 18 * W;
    let mut t = [0u64; MAX_POSITIONS];
    // Row 0, then rows in pairs (1, 2), …, (17, 18): position i + j gets a_i·b_j and
    // a_(i+1)·b_(j−1) at once, so the wasm loads and stores each position once per two
    // products instead of once per product.
    let a0 = u64::from(a[0]);
    for j in 0..L {
        t[j] = a0 * u64::from(b[j]);
    }
    for i in (1..L).step_by(2) {
        let (lo, hi) = (u64::from(a[i]), u64::from(a[i + 1]));
        t[i] += lo * u64::from(b[0]);
        for j in 1..L {
            t[i + j] += lo * u64::from(b[j]) + hi * u64::from(b[j - 1]);
        }
        t[i + L] = hi * u64::from(b[L - 1]);
    }
    // Carry into 28-bit limbs (no carry out of the top: the product is below 2^1044).
    let mut c = [0u32; MAX_POSITIONS];
    let mut carry = 0u64;
    for k in 0..2 * TOP + 2 {
        let v = t[k] + carry;
        c[k] = v as u32 & MASK;
        carry = v >> W;
    }
    // out = bits 0..521 + bits 521..: limb j of the high part is c[18 + j] >> 17 joined with
    // c[19 + j] << 11.
    let mut out = [0u32; L];
    let mut carry = 0u32;
    for j in 0..=TOP {
        let folded = (c[TOP + j] >> OFF) | ((c[TOP + j + 1] << (W - OFF)) & MASK);
        let base = if j == TOP {
            c[TOP] & ((1 << OFF) - 1)
        } else {
            c[j]
        };
        let v = base + folded + carry;
        out[j] = v & MASK;
        carry = v >> W;
    }
    // out < 2^524 (carry is 0): fold its bits past 521 once more.
    fold521(&mut out);
    out
}

/// x mod 2^521 + (x >> 521) (≡ x mod p), in [0, 2^521 + 7), for 19 28-bit limbs x < 2^524:
/// the value of the bits from 521 up (below 8; limb 18 from bit 17) added back at bit 0.
#[allow(clippy::indexing_slicing)] // L = 19: limb 18 exists
#[inline(always)]
fn fold521<const L: usize>(x: &mut Limbs<L>) {
    const TOP: usize = 18;
    const OFF: u32 = 521 - 18 * W;
    let mut carry = x[TOP] >> OFF;
    x[TOP] &= (1 << OFF) - 1;
    for limb in x.iter_mut() {
        if carry == 0 {
            break;
        }
        let v = *limb + carry;
        *limb = v & MASK;
        carry = v >> W;
    }
}

/// a − b mod 2^521 − 1 in [0, 2^521 + 3) ⊂ [0, 2p), for a, b < 2p = 2^522 − 2, in one pass
/// without branches: c = 2^522 − 1 − b is b's complement within 522 bits (limb by limb, no
/// borrows, as b < 2^522), and 2^522 − 1 = 2p + 1 ≡ 1, so a − b ≡ a + c − 1, which is in
/// [1, 2^523) (c ≥ 2); then folded.
#[allow(clippy::indexing_slicing)] // L = 19 (checked by the caller): j < 19
fn sub_mersenne521<const L: usize>(a: &Limbs<L>, b: &Limbs<L>) -> Limbs<L> {
    // Limb 18 holds bits 504..522 of c: 18 ones.
    const TOP_ONES: u32 = (1 << (522 - 18 * W)) - 1;
    let mut out = [0u32; L];
    // Signed: a limb's a_j + c_j + carry can be −1 (the − 1 borrowed from higher limbs);
    // below 2^29 + 1 in size, it fits an i32, and >> is arithmetic.
    let mut carry = -1i32;
    for j in 0..L {
        let ones = if j == L - 1 { TOP_ONES } else { MASK };
        let v = (a[j] + (ones - b[j])) as i32 + carry;
        out[j] = v as u32 & MASK;
        carry = v >> W;
    }
    // carry is 0 here: a + c − 1 ≥ 0 and below 2^523, which limb 18 (28 bits from 504) holds.
    fold521(&mut out);
    out
}

/// A value as K 64-bit limbs (`inverse.rs` works on those).
#[allow(clippy::indexing_slicing)] // j < L and w < K are checked
const fn to_u64s<const L: usize, const K: usize>(x: &Limbs<L>) -> [u64; K] {
    let mut out = [0u64; K];
    let mut j = 0;
    while j < L {
        let (w, off) = (j * W as usize / 64, j * W as usize % 64);
        let v = x[j] as u64;
        if w < K {
            out[w] |= v << off;
        }
        if off + W as usize > 64 && w + 1 < K {
            out[w + 1] |= v >> (64 - off);
        }
        j += 1;
    }
    out
}

/// K 64-bit limbs as 28-bit ones.
#[allow(clippy::indexing_slicing)] // j < L and w < K are checked
const fn from_u64s<const L: usize, const K: usize>(x: &[u64; K]) -> Limbs<L> {
    let mut out = [0u32; L];
    let mut j = 0;
    while j < L {
        let (w, off) = (j * W as usize / 64, j * W as usize % 64);
        let mut v = if w < K { x[w] >> off } else { 0 };
        if off + W as usize > 64 && w + 1 < K {
            v |= x[w + 1] << (64 - off);
        }
        out[j] = v as u32 & MASK;
        j += 1;
    }
    out
}

/// Bit `k` of a little-endian limb number.
#[inline]
pub(crate) fn bit<const L: usize>(x: &Limbs<L>, k: usize) -> usize {
    x.get(k / W as usize)
        .map_or(0, |limb| (limb >> (k % W as usize)) as usize & 1)
}

/// x < y. (`const`: also used for the constants; indices below L cannot be out of range.)
#[allow(clippy::indexing_slicing)]
#[inline]
pub(crate) const fn lt<const L: usize>(x: &Limbs<L>, y: &Limbs<L>) -> bool {
    let mut j = L;
    while j > 0 {
        j -= 1;
        if x[j] != y[j] {
            return x[j] < y[j];
        }
    }
    false
}

/// x −= y; returns whether it wrapped below zero (then x holds x − y + 2^(28L)).
#[allow(clippy::indexing_slicing)]
#[inline]
const fn sub_in_place<const L: usize>(x: &mut Limbs<L>, y: &Limbs<L>) -> bool {
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

/// x + y without reduction (the carry out of the top limb is dropped: callers stay below
/// 2^(28L)).
#[allow(clippy::indexing_slicing)]
#[inline]
pub(crate) const fn add_limbs<const L: usize>(x: &Limbs<L>, y: &Limbs<L>) -> Limbs<L> {
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

/// Limbs (a value below 2^(8B)) as B big-endian bytes.
pub(crate) fn to_be<const L: usize, const B: usize>(x: &Limbs<L>) -> [u8; B] {
    let mut out = [0u8; B];
    for (i, byte) in out.iter_mut().rev().enumerate() {
        let mut v = 0u32;
        for b in 0..8 {
            v |= (bit(x, 8 * i + b) as u32) << b;
        }
        *byte = v as u8;
    }
    out
}

/// Big-endian bytes (at most 28L bits' worth; higher bits are dropped) as limbs (`const`: also
/// used for the constants).
#[allow(clippy::indexing_slicing)] // limb < L is checked
pub(crate) const fn from_be<const L: usize>(bytes: &[u8]) -> Limbs<L> {
    let mut out = [0u32; L];
    let len = bytes.len();
    let mut i = 0;
    while i < len {
        let byte = bytes[len - 1 - i] as u32;
        let pos = i * 8;
        let (limb, off) = (pos / W as usize, pos as u32 % W);
        if limb < L {
            out[limb] |= (byte << off) & MASK;
        }
        if off + 8 > W && limb + 1 < L {
            out[limb + 1] |= byte >> (W - off);
        }
        i += 1;
    }
    out
}

/// 2B hex digits as B bytes, at compile time (the curve constants).
// Evaluated at compile time (the curve constants): an index out of range is a build error.
#[allow(clippy::indexing_slicing)]
pub(crate) const fn hex<const B: usize>(s: &str) -> [u8; B] {
    let s = s.as_bytes();
    assert!(s.len() == 2 * B, "curve constants have 2B hex digits");
    let mut out = [0u8; B];
    let mut i = 0;
    while i < B {
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
    use crate::curve::{Curve, P256, P384, P521};

    /// A 256-bit number as u128 halves, for a check independent of the limb code.
    fn halves(x: &Limbs<10>) -> (u128, u128) {
        let b: [u8; 32] = to_be(x);
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
        let bytes: [u8; 32] =
            hex("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff");
        let x: Limbs<10> = from_be(&bytes);
        assert_eq!(to_be::<10, 32>(&x), bytes);
        assert_eq!(
            to_u64s::<10, 4>(&x),
            [u64::MAX, 0xffff_ffff, 0, 0xffff_ffff_0000_0001]
        );
        assert_eq!(from_u64s::<10, 4>(&to_u64s(&x)), x);
        let x: Limbs<10> = from_be(&hex::<32>(
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ));
        assert_eq!(
            halves(&x),
            (
                0x0123456789abcdef0123456789abcdef,
                0x0123456789abcdef0123456789abcdef
            )
        );
        let mut big = [0xa5u8; 66];
        big[0] = 1;
        let x: Limbs<19> = from_be(&big);
        assert_eq!(to_be::<19, 66>(&x), big);
        assert_eq!(from_u64s::<19, 9>(&to_u64s(&x)), x);
    }

    fn check<const L: usize, const K: usize>(m: &Modulus<L, K>) {
        let mut x = [0u32; L];
        for (i, limb) in x.iter_mut().enumerate().take(L - 1) {
            *limb = (0x1b2c3d4 + 0x5f60718 * i as u32) & MASK;
        }
        let xm = m.to_mont(&x);
        assert_eq!(m.out_of_mont(&xm), x);
        let inv = m.invert(&xm).unwrap();
        assert_eq!(m.invert(&[0; L]), None);
        let mut one = [0; L];
        one[0] = 1;
        assert_eq!(m.out_of_mont(&m.mul(&xm, &inv)), one);
        assert_eq!(m.out_of_mont(&m.one()), one);
        // (m − 1)² ≡ 1, and (m − 1)·x ≡ −x, also for lazy inputs (+m).
        let mut m1 = *m.modulus();
        m1[0] -= 1;
        let m1m = m.to_mont(&m1);
        assert_eq!(m.out_of_mont(&m.mul(&m1m, &m1m)), one);
        let lazy = add_limbs(&m1m, m.modulus());
        assert_eq!(m.out_of_mont(&m.mul(&lazy, &lazy)), one);
        let neg = m.out_of_mont(&m.mul(&m1m, &xm));
        assert!(m.is_zero(&m.add(&neg, &x)));
        // add/sub stay lazy and agree with each other.
        let s = m.add(&xm, &m1m);
        assert_eq!(m.canonical(&m.sub(&s, &m1m)), m.canonical(&xm));
        assert!(m.eq(&m.sub(&xm, &xm), &[0; L]));
    }

    #[test]
    fn montgomery_and_mersenne_round_trip_and_inverse() {
        check(P256::p());
        check(P256::n());
        check(P384::p());
        check(P384::n());
        check(P521::p());
        check(P521::n());
    }

    /// The Mersenne product against the Montgomery one modulo the same p (plain values).
    #[test]
    fn mersenne_product_matches_montgomery() {
        static MONT: Modulus<19, 9> = Modulus::new(&hex::<66>(
            "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        ));
        let p = P521::p();
        let mut state = 0x1234_5678_9abc_def1u64;
        for round in 0..200 {
            let mut a = [0u32; 19];
            let mut b = [0u32; 19];
            for limb in a.iter_mut().chain(b.iter_mut()) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *limb = state as u32 & MASK;
            }
            // Lazy inputs up to 2p − 1 = 2^522 − 3, and all-ones extremes.
            a[18] &= (1 << 18) - 1;
            b[18] &= (1 << 18) - 1;
            let mut top = p.m2;
            top[0] -= 1;
            match round {
                0 => (a, b) = (top, top),
                1 => (a, b) = ([0; 19], top),
                2 => (a, b) = (top, [0; 19]),
                3 => (a, b) = (*p.modulus(), [0; 19]),
                4 => (a, b) = ([0; 19], *p.modulus()),
                _ => {}
            }
            let want = MONT.out_of_mont(&MONT.mul(
                &MONT.to_mont(&MONT.canonical(&MONT.canonical(&a))),
                &MONT.to_mont(&MONT.canonical(&MONT.canonical(&b))),
            ));
            let got = p.mul(&a, &b);
            assert!(lt(&got, &p.m2));
            assert_eq!(p.canonical(&got), want);
            // The folding add and sub against the generic ones (plain values mod p).
            for (got, want) in [
                (p.add(&a, &b), MONT.add(&a, &b)),
                (p.sub(&a, &b), MONT.sub(&a, &b)),
            ] {
                assert!(lt(&got, &p.m2));
                assert_eq!(p.canonical(&got), MONT.canonical(&want));
            }
        }
    }
}
