//! `s^e mod n` for RSA public keys, shaped for wasm.
//!
//! Wasm has no 64×64→128-bit multiply, so the natural unit is 32×32→64 (`i64.mul`, or two at a
//! time with SIMD128's `i64x2.extmul_*_i32x4_u`). With 32-bit limbs every product needs its
//! carry propagated at once; with **W-bit limbs** (W = 29 with SIMD128, 28 without) a product is
//! below 2^(2W) and a u64 can add up 64 (W = 29) or 256 (W = 28) of them before it could
//! overflow, so the products of one position of the schoolbook product are summed first and
//! carried once ("lazy" sums).
//!
//! Montgomery multiplication (FIPS order: the product and the reduction interleaved) computes
//! mont(a, b) = a·b·R⁻¹ mod n with R = 2^(W·L). Position k of a·b + m·n sums a_i·b_(k−i) and
//! m_i·n_(k−i); for k < L, once position k is complete, m_k = (its value mod 2^W)·(−n⁻¹ mod 2^W)
//! makes it ≡ 0 mod 2^W and its carry moves up; positions ≥ L are the result limbs.
//! - **No subtraction inside the loop**: L is chosen so that R > 4n. Then for a, b < 2n,
//!   (a·b + m·n)/R < (4n² + R·n)/R < 2n: every intermediate value stays below 2n, and a single
//!   comparison at the very end brings the result below n.
//! - **Without SIMD128** (natively, feature `portable`; W = 28): product scanning, column by
//!   column. Column k holds at most L products a·b and L products m·n, each below 2^56; the two
//!   sums are kept apart, so each stays below 2^64 for L ≤ 256, and are then folded as low 28
//!   bits + high part. The column slices are read in groups of 4 limbs; every buffer carries
//!   zero limbs (PAD) after its L limbs so a group that runs past a column's last term multiplies
//!   by zero. b and m are stored reversed (b_(k−i) for ascending i is then an ascending slice).
//! - **With SIMD128** (W = 29): operand scanning, row by row, two rows per pass. 2L u64 *slots*
//!   hold the positions' lazy sums. Rows i and i + 1 first complete slots i and i + 1 in scalar
//!   code (their m_i, m_(i+1) and carries), then one pass adds a_i·b_j + m_i·n_j +
//!   a_(i+1)·b_(j−1) + m_(i+1)·n_(j−1) to slot i + j for all j ≥ 2 at once, four slots per v128
//!   pair: the products of `extmul` line up with the slots, so nothing is reversed, and every
//!   pass has the same length (⌈(L−1)/G⌉ chunks of G limbs; the padding multiplies by zero), so
//!   there are no per-column sums, splits or leftover groups. Squaring: row i adds 2a_i·a_j only
//!   for j > i (a copy of a, cleared as rows go), a_i² into slot 2i; chunks whose a limbs are
//!   all cleared get m·n only.
//!   **Bound**: a row adds at most three products' worth below 2^58 to a slot (m_i·n_j, and a_i·b_j
//!   or 2a_i·a_j or a_i²). Every NORM_ROWS = 20 rows the live slots are *normalized* (in SIMD):
//!   each keeps its low 29 bits plus the high part of the slot below, < 2^29 + 2^35 after; 20
//!   rows then add at most 60·2^58, so no slot reaches 2^64 = 64·2^58. A completed slot plus its carry (< 2^35) stays below 2^64 too.
//! - Either way L ≤ 256 (keys up to 7166 bits; we accept ≤ 4096: L = 147 or 142). 29-bit limbs:
//!   L = 71 instead of 74 for RSA-2048 (8 % fewer products). The largest modulus (L = 256, all
//!   ones, the largest operands) is a test in both engines.
//!
//! Verification handles only public data (key, message, signature): no constant-time needs.

/// Limb width (bits) and mask: 29 with the SIMD128 kernel, which normalizes its slots every
/// NORM_ROWS rows, 28 without it, where a whole column sum has to fit a u64.
#[cfg(all(target_arch = "wasm32", not(feature = "portable")))]
const W: u32 = 29;
#[cfg(any(not(target_arch = "wasm32"), feature = "portable"))]
const W: u32 = 28;
const MASK: u64 = (1 << W) - 1;
/// Zero limbs after the L limbs of every buffer, so column groups of 4 and row chunks of G
/// never need a tail loop.
const PAD: usize = 16;
/// Limbs per row chunk of the SIMD128 kernel (one loop iteration; at most PAD).
#[cfg(all(target_arch = "wasm32", not(feature = "portable")))]
const G: usize = 8;
/// Rows between two normalizations of the SIMD128 kernel's slots (even: rows go in pairs): a row
/// adds at most three products' worth below 2^(2W) to a slot (m_i·n_j, and a·b or 2a_i·a_j or
/// a_i²), so NORM_ROWS rows add at most 3·NORM_ROWS·2^(2W) ≤ 2^64 − 4·2^(2W) (W = 29: 20 rows,
/// 60·2^58), and a normalized slot is below 2^W + 2^(64−W): no slot reaches 2^64.
#[cfg(all(target_arch = "wasm32", not(feature = "portable")))]
const NORM_ROWS: usize = ((1 << (64 - 2 * W)) - 4) / 6 * 2;

/// An odd modulus prepared for Montgomery arithmetic.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Modulus {
    /// n in W-bit limbs, little-endian, L + PAD long (zero tail).
    n: Vec<u32>,
    /// L: limbs of R = 2^(W·L), the smallest with R > 4n.
    len: usize,
    /// The low limb of n and −n⁻¹ mod 2^W.
    n0: u32,
    n0_inv: u32,
    /// R² mod n: mont(x, R²) = x·R mod n moves x into Montgomery form.
    r2: Vec<u32>,
}

/// Working buffers for one exponentiation (allocated once per verification).
struct Scratch {
    /// The second operand, reversed (plus zero padding).
    #[cfg(any(not(target_arch = "wasm32"), feature = "portable"))]
    b_rev: Vec<u32>,
    /// The reduction quotients m_k, reversed (plus zero padding).
    #[cfg(any(not(target_arch = "wasm32"), feature = "portable"))]
    m_rev: Vec<u32>,
    /// The SIMD128 kernel's squaring: its copy of a, cleared limb by limb (plus zero padding).
    #[cfg(all(target_arch = "wasm32", not(feature = "portable")))]
    a_rest: Vec<u32>,
    /// The SIMD128 kernel's 2L column slots (u64, lazily carried), plus padding.
    #[cfg(all(target_arch = "wasm32", not(feature = "portable")))]
    t: Vec<u64>,
}

impl Scratch {
    fn new(len: usize) -> Scratch {
        Scratch {
            #[cfg(any(not(target_arch = "wasm32"), feature = "portable"))]
            b_rev: vec![0; len + PAD],
            #[cfg(any(not(target_arch = "wasm32"), feature = "portable"))]
            m_rev: vec![0; len + PAD],
            #[cfg(all(target_arch = "wasm32", not(feature = "portable")))]
            a_rest: vec![0; len + PAD],
            #[cfg(all(target_arch = "wasm32", not(feature = "portable")))]
            t: vec![0; 2 * len + 2 * PAD],
        }
    }
}

impl Modulus {
    /// `n_be`: the modulus, big-endian, odd, of `bits` bits (checked by the caller).
    pub(crate) fn new(n_be: &[u8], bits: usize) -> Option<Modulus> {
        let len = (bits + 2).div_ceil(W as usize); // 2^(W·L) ≥ 2^(bits+2) > 4n
        if len > 256 {
            return None; // beyond the column-sum bound above
        }
        let n = from_be(n_be, len)?;
        let n0 = n.first().copied().filter(|low| low & 1 == 1)?;
        // −n⁻¹ mod 2^32 by Newton's iteration (each step doubles the correct low bits; y = x
        // is right mod 2^3 for odd x), then reduced mod 2^W.
        let mut y = n0;
        for _ in 0..5 {
            y = y.wrapping_mul(2u32.wrapping_sub(n0.wrapping_mul(y)));
        }
        let n0_inv = y.wrapping_neg() & MASK as u32;
        let mut modulus = Modulus {
            n,
            len,
            n0,
            n0_inv,
            r2: Vec::new(),
        };
        modulus.r2 = modulus.r_squared();
        Some(modulus)
    }

    /// R² mod n: start from 1 and double 2·W·L times, subtracting n whenever the value reaches
    /// n (a doubled value below n is below 2n). Once per key, at configuration time.
    fn r_squared(&self) -> Vec<u32> {
        let mut x = vec![0u32; self.len + PAD];
        if let Some(low) = x.first_mut() {
            *low = 1;
        }
        for _ in 0..2 * W as usize * self.len {
            let mut carry = 0;
            for limb in x.iter_mut().take(self.len) {
                let v = (*limb << 1) | carry;
                carry = v >> W;
                *limb = v & MASK as u32;
            }
            if carry != 0 || !self.below_n(&x) {
                self.subtract_n(&mut x);
            }
        }
        x
    }

    /// `s^e mod n` as `k` big-endian bytes; `None` unless `s` (big-endian) is below n.
    /// `e` is odd and ≥ 3 (checked by the caller).
    pub(crate) fn pow(&self, s_be: &[u8], e: u64, k: usize) -> Option<Vec<u8>> {
        let s = from_be(s_be, self.len)?;
        if !self.below_n(&s) {
            return None;
        }
        let mut scratch = Scratch::new(self.len);
        let mut base = vec![0; self.len + PAD];
        self.mont_mul(&s, &self.r2, &mut scratch, &mut base)?; // s·R: Montgomery form
        let mut acc = base.clone();
        let mut next = vec![0; self.len + PAD];
        // Left to right over the bits of e below the top one, except the lowest: square, and
        // multiply by s·R where the bit is set (65537: 15 squarings).
        let top = 63 - e.leading_zeros();
        for bit in (1..top).rev() {
            self.mont_sqr(&acc, &mut scratch, &mut next)?;
            std::mem::swap(&mut acc, &mut next);
            if (e >> bit) & 1 == 1 {
                self.mont_mul(&acc, &base, &mut scratch, &mut next)?;
                std::mem::swap(&mut acc, &mut next);
            }
        }
        // The lowest bit (e is odd): square, then multiply by s itself rather than s·R, which
        // also leaves Montgomery form: s^(e−1)·R · s · R⁻¹ = s^e (saves a conversion).
        self.mont_sqr(&acc, &mut scratch, &mut next)?;
        self.mont_mul(&next, &s, &mut scratch, &mut acc)?;
        if !self.below_n(&acc) {
            self.subtract_n(&mut acc); // < 2n before, < n after
        }
        to_be(&acc, k)
    }

    /// out = a·b·R⁻¹ mod n, for a, b < 2n (L limbs + zero padding); out < 2n, its padding
    /// untouched. `None` only if a buffer is shorter than the invariants say (never).
    fn mont_mul(&self, a: &[u32], b: &[u32], scratch: &mut Scratch, out: &mut [u32]) -> Option<()> {
        self.mont::<false>(a, b, scratch, out)
    }

    /// out = a·a·R⁻¹ mod n: `mont_mul(a, a)` with each product a_i·a_j (i ≠ j) computed once
    /// and doubled, which halves the a·b half of the work (16 of the 18 products of e = 65537).
    fn mont_sqr(&self, a: &[u32], scratch: &mut Scratch, out: &mut [u32]) -> Option<()> {
        self.mont::<true>(a, a, scratch, out)
    }

    /// The Montgomery product column by column; `SQUARE` means b is a (see `mont_sqr`).
    #[cfg(any(not(target_arch = "wasm32"), feature = "portable"))]
    fn mont<const SQUARE: bool>(
        &self,
        a: &[u32],
        b: &[u32],
        scratch: &mut Scratch,
        out: &mut [u32],
    ) -> Option<()> {
        let len = self.len;
        let Scratch { b_rev, m_rev } = scratch;
        reverse_into(b_rev.get_mut(..len)?, b.get(..len)?);
        m_rev.fill(0);
        let mut carry = 0u64;
        let mut out_limbs = out.iter_mut();
        for k in 0..2 * len - 1 {
            // Terms i + j = k with i, j < L: i from `low`, `count` of them; b_j = b_rev[L−1−j].
            let (low, rev_at, count) = if k < len {
                (0, len - 1 - k, k + 1)
            } else {
                (k + 1 - len, 0, 2 * len - 1 - k)
            };
            let end = count.div_ceil(4) * 4; // whole groups: the padding adds zero products
            let n = self.n.get(low..low + end)?;
            let m = m_rev.get(rev_at..rev_at + end)?;
            let (mut low_part, high_part) = if SQUARE {
                // The pairs i < k − i (the first `half` terms), doubled (`column`), and
                // a_(k/2)² when k is even.
                let half = k.div_ceil(2) - low; // i < k/2, ≥ low (k + 1 ≤ 2L − 1)
                let whole = half / 4 * 4; // the groups past `half` are not zero: a tail instead
                let (a_part, b_part) = (a.get(low..low + half)?, b_rev.get(rev_at..rev_at + half)?);
                let (a_groups, a_tail) = a_part.split_at_checked(whole)?;
                let (b_groups, b_tail) = b_part.split_at_checked(whole)?;
                let tail: u64 = a_tail
                    .iter()
                    .zip(b_tail)
                    .map(|(&p, &q)| u64::from(p) * u64::from(q))
                    .sum();
                let diagonal = if k % 2 == 0 {
                    let d = u64::from(*a.get(k / 2)?);
                    d * d
                } else {
                    0
                };
                // `extra`: at most three tail products, doubled, and the diagonal, each below
                // 2^58: < 2^61; with 28-bit limbs the whole doubled a·a sum with it is at
                // most `count` products below 2^56.
                column::<true>(a_groups, b_groups, n, m, 2 * tail + diagonal)
            } else {
                column::<false>(
                    a.get(low..low + end)?,
                    b_rev.get(rev_at..rev_at + end)?,
                    n,
                    m,
                    0,
                )
            };
            // The column is low_part + high_part·2^W; add the carry the same way.
            low_part += carry & MASK;
            let high_part = high_part + (carry >> W);
            if k < len {
                // m_k clears the low W bits; its slot in m_rev was 0 while summing (m_k·n_0
                // belongs to this column and is added here).
                let m = (low_part as u32).wrapping_mul(self.n0_inv) & MASK as u32;
                low_part += u64::from(m) * u64::from(self.n0);
                *m_rev.get_mut(len - 1 - k)? = m;
            } else {
                *out_limbs.next()? = (low_part & MASK) as u32;
            }
            carry = high_part + (low_part >> W);
        }
        // The top limb: the result is below 2n < R, so the final carry fits W bits.
        *out_limbs.next()? = carry as u32;
        Some(())
    }

    /// The Montgomery product row by row (operand scanning), two rows per pass, with SIMD128
    /// (module notes); `SQUARE` means b is a. Row i adds a_i·b_j and m_i·n_j into slot i + j
    /// (u64, no carry); slot i is then complete: m_i is picked from it, its carry moves up and the
    /// slot is cleared. SIMD128 is enabled here (not on the kernels) so they inline into the loop.
    #[cfg(all(target_arch = "wasm32", not(feature = "portable")))]
    #[target_feature(enable = "simd128")]
    fn mont<const SQUARE: bool>(
        &self,
        a: &[u32],
        b: &[u32],
        scratch: &mut Scratch,
        out: &mut [u32],
    ) -> Option<()> {
        let len = self.len;
        // A pass covers j = 2 .. 2 + G·chunks (1 .. for the last row when L is odd), past L − 1
        // for row i and L for row i + 1: the padding multiplies by zero.
        let chunks = (len - 1).div_ceil(G);
        let Scratch { a_rest: az, t } = scratch;
        t.fill(0);
        if SQUARE {
            // a, cleared limb by limb: at row i it holds a_j for j > i only
            az.copy_from_slice(a.get(..len + PAD)?);
        }
        let n = self.n.get(..2 + chunks * G)?;
        let (n0, n1) = (u64::from(self.n0), u64::from(*n.get(1)?));
        let (b0, b1) = (u64::from(*b.first()?), u64::from(*b.get(1)?));
        let mut carry = 0u64;
        // m for a slot whose value is v (≡ 0 mod 2^W after adding m·n_0), and the carry out
        let reduce = |v: u64| {
            let m = (v as u32).wrapping_mul(self.n0_inv) & MASK as u32;
            (m, (v + u64::from(m) * n0) >> W)
        };
        let mut i = 0;
        // Two rows per pass: slots i and i + 1 are completed in scalar code (the terms of rows i
        // and i + 1 that land there), then one pass adds both rows' other terms to slots i + j
        // (j ≥ 2): row i's x_j and row i + 1's x_(j−1).
        while i + 1 < len {
            let (a0, a1) = (*a.get(i)?, *a.get(i + 1)?);
            let (a0w, a1w) = (u64::from(a0), u64::from(a1));
            if SQUARE {
                // a_i² into slot 2i, 2a_i·a_(i+1) into 2i + 1, a_(i+1)² into 2i + 2 (all ≥ i + 1:
                // before those slots are consumed); the pass has the a·a terms past these.
                *t.get_mut(2 * i)? += a0w * a0w;
                *t.get_mut(2 * i + 1)? += 2 * a0w * a1w;
                *t.get_mut(2 * i + 2)? += a1w * a1w;
            }
            let (s0, s1) = (*t.get(i)?, *t.get(i + 1)?);
            let (m0, c0) = reduce(s0 + carry + if SQUARE { 0 } else { a0w * b0 });
            let v1 = s1 + c0 + u64::from(m0) * n1 + if SQUARE { 0 } else { a0w * b1 + a1w * b0 };
            let (m1, c1) = reduce(v1);
            carry = c1;
            *t.get_mut(i)? = 0;
            *t.get_mut(i + 1)? = 0;
            let row = t.get_mut(i + 2..i + 2 + chunks * G)?;
            let (n_j, n_j1) = (n.get(2..2 + chunks * G)?, n.get(1..1 + chunks * G)?);
            if SQUARE {
                // Chunks whose j − 1 are all ≤ i: m·n only; from there on the a terms too
                // (az_j = 0 for j ≤ i + 1).
                *az.get_mut(i)? = 0;
                *az.get_mut(i + 1)? = 0;
                let split = i / G * G;
                let (row_n, row_all) = row.split_at_mut_checked(split)?;
                let (nj_only, nj_all) = n_j.split_at_checked(split)?;
                let (nj1_only, nj1_all) = n_j1.split_at_checked(split)?;
                row2(row_n, m0, nj_only, m1, nj1_only);
                rows_all(
                    row_all,
                    [2 * a0, m0, 2 * a1, m1],
                    [az.get(2 + split..2 + chunks * G)?, nj_all],
                    [az.get(1 + split..1 + chunks * G)?, nj1_all],
                );
            } else {
                rows_all(
                    row,
                    [a0, m0, a1, m1],
                    [b.get(2..2 + chunks * G)?, n_j],
                    [b.get(1..1 + chunks * G)?, n_j1],
                );
            }
            i += 2;
            if i % NORM_ROWS == 0 && i < len {
                // slots i − 1 (cleared) ..= i + L − 1 (the slot above the highest one reached),
                // one more if that makes their number even
                normalize(t.get_mut(i - 1..i - 1 + ((len + 1) | 1))?);
            }
        }
        if i < len {
            // The last row when L is odd (no a·a terms past the diagonal when squaring).
            let ai = *a.get(i)?;
            let aw = u64::from(ai);
            if SQUARE {
                *t.get_mut(2 * i)? += aw * aw;
            }
            let slot = t.get_mut(i)?;
            let (m, c) = reduce(*slot + carry + if SQUARE { 0 } else { aw * b0 });
            *slot = 0;
            carry = c;
            let row = t.get_mut(i + 1..i + 1 + chunks * G)?;
            let n_j = n.get(1..1 + chunks * G)?;
            if SQUARE {
                row1(row, m, n_j);
            } else {
                row2(row, ai, b.get(1..1 + chunks * G)?, m, n_j);
            }
        }
        // Slots L .. 2L − 1 are the result (< 2n < R: the last carry is 0).
        for (limb, &slot) in out.iter_mut().zip(t.get(len..2 * len)?) {
            let v = slot + carry;
            *limb = (v & MASK) as u32;
            carry = v >> W;
        }
        Some(())
    }

    /// x < n (L limbs each; the padding is zero in both).
    fn below_n(&self, x: &[u32]) -> bool {
        for (&xi, &ni) in x.iter().zip(&self.n).rev() {
            if xi != ni {
                return xi < ni;
            }
        }
        false
    }

    /// x −= n, for n ≤ x < 2·2^(W·L) (a carry out of the top limb is dropped on purpose: the
    /// caller's doubled value had it).
    fn subtract_n(&self, x: &mut [u32]) {
        let mut borrow = 0u32;
        for (xi, &ni) in x.iter_mut().zip(&self.n) {
            let d = xi.wrapping_sub(ni).wrapping_sub(borrow);
            borrow = d >> 31; // limbs are < 2^29: a wrap sets the top bit
            *xi = d & MASK as u32;
        }
    }
}

/// Two rows at once: slots t_j += x0·p_j + y0·q_j + x1·p′_j + y1·q′_j with `mults` = [x0, y0,
/// x1, y1], `now` = [p, q] and `prev` = [p′, q′] (the same limbs one lower), j over whole chunks
/// of G; SIMD128.
#[cfg(all(target_arch = "wasm32", not(feature = "portable")))]
#[inline(always)]
fn rows_all(t: &mut [u64], mults: [u32; 4], now: [&[u32]; 2], prev: [&[u32]; 2]) {
    use core::arch::wasm32::{
        i64x2_add, u32x4_splat, u64x2_extmul_high_u32x4, u64x2_extmul_low_u32x4,
    };
    let splats = mults.map(|x| u32x4_splat(x));
    let (t, _) = t.as_chunks_mut::<G>();
    let [p, q] = now.map(|x| x.as_chunks::<G>().0);
    let [pp, qp] = prev.map(|x| x.as_chunks::<G>().0);
    for ((((t, p), q), pp), qp) in t.iter_mut().zip(p).zip(q).zip(pp).zip(qp) {
        // Reloaded each chunk, opaque to LLVM: see row2.
        let [x0, y0, x1, y1] = *core::hint::black_box(&splats);
        let (t4, _) = t.as_chunks_mut::<4>();
        let groups = t4
            .iter_mut()
            .zip(p.as_chunks::<4>().0)
            .zip(q.as_chunks::<4>().0)
            .zip(pp.as_chunks::<4>().0)
            .zip(qp.as_chunks::<4>().0);
        for ((((t4, p4), q4), pp4), qp4) in groups {
            let (p4, q4, pp4, qp4) = (load(p4), load(q4), load(pp4), load(qp4));
            let (lo, hi) = load_slots(t4);
            let lo = i64x2_add(
                lo,
                i64x2_add(
                    i64x2_add(
                        u64x2_extmul_low_u32x4(x0, p4),
                        u64x2_extmul_low_u32x4(y0, q4),
                    ),
                    i64x2_add(
                        u64x2_extmul_low_u32x4(x1, pp4),
                        u64x2_extmul_low_u32x4(y1, qp4),
                    ),
                ),
            );
            let hi = i64x2_add(
                hi,
                i64x2_add(
                    i64x2_add(
                        u64x2_extmul_high_u32x4(x0, p4),
                        u64x2_extmul_high_u32x4(y0, q4),
                    ),
                    i64x2_add(
                        u64x2_extmul_high_u32x4(x1, pp4),
                        u64x2_extmul_high_u32x4(y1, qp4),
                    ),
                ),
            );
            store_slots(t4, lo, hi);
        }
    }
}

/// Slots t_j += x·p_j + y·q_j (j over whole chunks of G), SIMD128: four limbs of p and of q per
/// v128, their products in u64 lanes that line up with the slots (no reversal).
#[cfg(all(target_arch = "wasm32", not(feature = "portable")))]
#[inline(always)]
fn row2(t: &mut [u64], x: u32, p: &[u32], y: u32, q: &[u32]) {
    use core::arch::wasm32::{
        i64x2_add, u32x4_splat, u64x2_extmul_high_u32x4, u64x2_extmul_low_u32x4,
    };
    let splats = [u32x4_splat(x), u32x4_splat(y)];
    let (t, _) = t.as_chunks_mut::<G>();
    let (p, _) = p.as_chunks::<G>();
    let (q, _) = q.as_chunks::<G>();
    for ((t, p), q) in t.iter_mut().zip(p).zip(q) {
        // Reloaded each chunk, opaque to LLVM: a loop-invariant multiplier has its extension
        // hoisted, and extmul becomes extend + i64x2.mul, which both engines lower to three
        // multiplies (no 64×64 SIMD multiply without AVX-512).
        let [xs, ys] = *core::hint::black_box(&splats);
        let (t4, _) = t.as_chunks_mut::<4>();
        for ((t4, p4), q4) in t4
            .iter_mut()
            .zip(p.as_chunks::<4>().0)
            .zip(q.as_chunks::<4>().0)
        {
            let (p4, q4) = (load(p4), load(q4));
            let (lo, hi) = load_slots(t4);
            let lo = i64x2_add(
                lo,
                i64x2_add(
                    u64x2_extmul_low_u32x4(xs, p4),
                    u64x2_extmul_low_u32x4(ys, q4),
                ),
            );
            let hi = i64x2_add(
                hi,
                i64x2_add(
                    u64x2_extmul_high_u32x4(xs, p4),
                    u64x2_extmul_high_u32x4(ys, q4),
                ),
            );
            store_slots(t4, lo, hi);
        }
    }
}

/// Slots t_j += y·q_j (j over whole chunks of G), SIMD128.
#[cfg(all(target_arch = "wasm32", not(feature = "portable")))]
#[inline(always)]
fn row1(t: &mut [u64], y: u32, q: &[u32]) {
    use core::arch::wasm32::{
        i64x2_add, u32x4_splat, u64x2_extmul_high_u32x4, u64x2_extmul_low_u32x4,
    };
    let splat = u32x4_splat(y);
    let (t, _) = t.as_chunks_mut::<G>();
    let (q, _) = q.as_chunks::<G>();
    for (t, q) in t.iter_mut().zip(q) {
        let ys = *core::hint::black_box(&splat); // see row2
        let (t4, _) = t.as_chunks_mut::<4>();
        for (t4, q4) in t4.iter_mut().zip(q.as_chunks::<4>().0) {
            let q4 = load(q4);
            let (lo, hi) = load_slots(t4);
            let lo = i64x2_add(lo, u64x2_extmul_low_u32x4(ys, q4));
            let hi = i64x2_add(hi, u64x2_extmul_high_u32x4(ys, q4));
            store_slots(t4, lo, hi);
        }
    }
}

/// Slots [t_0, t_1, …] (an odd number of them): each t_k (k ≥ 1) becomes its low W bits plus the
/// high part of t_(k−1); t_0 is 0 (a consumed slot) and the last slot 0 before (it receives the
/// high part of the one below). The sum Σ t_k·2^(W·k) is unchanged and every slot is below
/// 2^W + 2^(64−W) after. Two slots per step, top down (a step reads only slots no step has
/// rewritten yet); SIMD128.
#[cfg(all(target_arch = "wasm32", not(feature = "portable")))]
#[inline(always)]
#[allow(unsafe_code)]
fn normalize(t: &mut [u64]) {
    use core::arch::wasm32::{i64x2_add, u64x2_shr, u64x2_splat, v128_and, v128_load, v128_store};
    let mask = u64x2_splat(MASK);
    for k in (1..t.len().saturating_sub(1)).rev().step_by(2) {
        if let Some(w) = t.get_mut(k - 1..k + 2) {
            let p = w.as_mut_ptr();
            // SAFETY: w is slots k − 1 ..= k + 1 (24 bytes): both loads read 16 of them, the store
            // writes slots k and k + 1; v128.load/store have no alignment requirement.
            unsafe {
                let (below, here) = (v128_load(p.cast()), v128_load(p.add(1).cast()));
                let v = i64x2_add(v128_and(here, mask), u64x2_shr(below, W));
                v128_store(p.add(1).cast(), v);
            }
        }
    }
}

/// Four u64 slots as two v128.
#[cfg(all(target_arch = "wasm32", not(feature = "portable")))]
#[inline(always)]
#[allow(unsafe_code)]
fn load_slots(slots: &[u64; 4]) -> (core::arch::wasm32::v128, core::arch::wasm32::v128) {
    use core::arch::wasm32::v128_load;
    // SAFETY: `slots` is 32 readable bytes; v128.load has no alignment requirement.
    unsafe {
        (
            v128_load(slots.as_ptr().cast()),
            v128_load(slots.as_ptr().add(2).cast()),
        )
    }
}

/// Two v128 into four u64 slots.
#[cfg(all(target_arch = "wasm32", not(feature = "portable")))]
#[inline(always)]
#[allow(unsafe_code)]
fn store_slots(slots: &mut [u64; 4], lo: core::arch::wasm32::v128, hi: core::arch::wasm32::v128) {
    use core::arch::wasm32::v128_store;
    // SAFETY: `slots` is 32 writable bytes; v128.store has no alignment requirement.
    unsafe {
        v128_store(slots.as_mut_ptr().cast(), lo);
        v128_store(slots.as_mut_ptr().add(2).cast(), hi);
    }
}

/// Four limbs as one v128 (a single `v128.load`; building it lane by lane measured 1.5× slower).
#[cfg(all(target_arch = "wasm32", not(feature = "portable")))]
#[inline(always)]
#[allow(unsafe_code)]
fn load(limbs: &[u32; 4]) -> core::arch::wasm32::v128 {
    // SAFETY: `limbs` is 16 readable bytes and v128.load has no alignment requirement.
    unsafe { core::arch::wasm32::v128_load(limbs.as_ptr().cast()) }
}

/// Σ a_i·b_i (doubled if `DOUBLE`) + `extra` + Σ n_i·m_i (a and b as long as each other, n and m
/// too) as (low, high) with the sum = low + high·2^W, without SIMD128 (natively, and with the
/// `portable` feature), where limbs have 28 bits: each of the two sums, at most L ≤ 256 products
/// below 2^56 (the doubled a·b pairs count as two), fits a u64 (which LLVM vectorizes natively),
/// and is split once.
#[cfg(any(not(target_arch = "wasm32"), feature = "portable"))]
#[inline(always)]
fn column<const DOUBLE: bool>(
    a: &[u32],
    b: &[u32],
    n: &[u32],
    m: &[u32],
    extra: u64,
) -> (u64, u64) {
    let dot = |x: &[u32], y: &[u32]| {
        x.iter()
            .zip(y)
            .map(|(&p, &q)| u64::from(p) * u64::from(q))
            .sum::<u64>()
    };
    let (x, y) = ((dot(a, b) << u32::from(DOUBLE)) + extra, dot(n, m));
    ((x & MASK) + (y & MASK), (x >> W) + (y >> W))
}

#[cfg(any(not(target_arch = "wasm32"), feature = "portable"))]
/// `rev` = `limbs` reversed (equal lengths). Four limbs per step: a limb at a time this was
/// 8 % of a squaring under V8 (each loop iteration also checks for interrupts).
#[inline(always)]
fn reverse_into(rev: &mut [u32], limbs: &[u32]) {
    let (rev4, rev_rest) = rev.as_chunks_mut::<4>();
    let (limbs_rest, limbs4) = limbs.as_rchunks::<4>();
    for (r, &[l0, l1, l2, l3]) in rev4.iter_mut().zip(limbs4.iter().rev()) {
        *r = [l3, l2, l1, l0];
    }
    for (r, &l) in rev_rest.iter_mut().zip(limbs_rest.iter().rev()) {
        *r = l;
    }
}

/// Big-endian bytes → `len` W-bit limbs + zero padding; `None` if the value needs more.
fn from_be(bytes: &[u8], len: usize) -> Option<Vec<u32>> {
    let mut limbs = Vec::with_capacity(len + PAD);
    let (mut acc, mut acc_bits) = (0u64, 0u32);
    for &byte in bytes.iter().rev() {
        acc |= u64::from(byte) << acc_bits;
        acc_bits += 8;
        if acc_bits >= W {
            limbs.push((acc & MASK) as u32);
            acc >>= W;
            acc_bits -= W;
        }
    }
    limbs.push(acc as u32);
    while limbs.len() > len {
        if limbs.pop() != Some(0) {
            return None;
        }
    }
    limbs.resize(len + PAD, 0);
    Some(limbs)
}

/// Limbs → `k` big-endian bytes; `None` if the value does not fit.
fn to_be(limbs: &[u32], k: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(k + 4);
    let (mut acc, mut acc_bits) = (0u64, 0u32);
    for &limb in limbs {
        acc |= u64::from(limb) << acc_bits;
        acc_bits += W;
        while acc_bits >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            acc_bits -= 8;
        }
    }
    out.push(acc as u8);
    while out.len() > k {
        if out.pop() != Some(0) {
            return None;
        }
    }
    out.resize(k, 0);
    out.reverse();
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limb_conversions_round_trip() {
        // 37 bytes, the top one full: 296 bits, 11 limbs (10 hold 290 bits).
        let mut bytes: Vec<u8> = (1..=37).collect();
        bytes[0] = 0xa5;
        let limbs = from_be(&bytes, 11).unwrap();
        assert_eq!(limbs.len(), 11 + PAD);
        assert!(limbs.iter().all(|&l| u64::from(l) <= MASK));
        assert_eq!(to_be(&limbs, 37).unwrap(), bytes);
        assert_eq!(to_be(&limbs, 40).unwrap()[..3], [0, 0, 0]);
        assert!(to_be(&limbs, 36).is_none(), "does not fit");
        assert!(from_be(&bytes, 10).is_none(), "37 bytes need 11 limbs");
    }

    /// Small cases against u128 arithmetic: a·b·R⁻¹ ≡ mont(a, b) (mod n) and mont < 2n.
    #[test]
    fn montgomery_product_matches_u128_arithmetic() {
        let n: u128 = 0xfb4f_3a4c_27c1_d5e9_0f3f_6c13_4b1f; // odd, 112 bits
        let bits = 128 - n.leading_zeros() as usize;
        let m = Modulus::new(&n.to_be_bytes(), bits).unwrap();
        assert_eq!(m.len, 114usize.div_ceil(W as usize)); // R = 2^(W·L) ≥ 2^114 > 4n
        let r_inv_mod = |x: u128| {
            // x·R⁻¹ mod n via W·L halvings mod n (n odd)
            let mut x = x % n;
            for _ in 0..W as usize * m.len {
                x = if x.is_multiple_of(2) {
                    x / 2
                } else {
                    (x / 2) + (n / 2) + 1
                };
            }
            x
        };
        let mut scratch = Scratch::new(m.len);
        for (a, b) in [
            (1u128, 1u128),
            (n - 1, n - 1),
            (2 * n - 1, 2 * n - 1),
            (12345, n + 7),
        ] {
            let (la, lb) = (
                from_be(&a.to_be_bytes(), m.len).unwrap(),
                from_be(&b.to_be_bytes(), m.len).unwrap(),
            );
            let mut out = vec![0; m.len + PAD];
            m.mont_mul(&la, &lb, &mut scratch, &mut out).unwrap();
            let got = u128::from_be_bytes(to_be(&out, 16).unwrap().try_into().unwrap());
            assert!(got < 2 * n, "{a} {b}");
            // a·b mod n without overflow: (a mod n)·(b mod n) by doubling
            let (mut x, mut y, mut p) = (a % n, b % n, 0u128);
            while y > 0 {
                if y & 1 == 1 {
                    p = (p + x) % n;
                }
                x = (x * 2) % n;
                y >>= 1;
            }
            assert_eq!(got % n, r_inv_mod(p), "{a} {b}");
        }
    }

    /// xorshift64*: reproducible "random" operands.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        /// A number below `bound` (> 0): random bytes as long as `bound`, reduced.
        fn below(&mut self, bound: &BigUint) -> BigUint {
            let bytes: Vec<u8> = (0..bound.to_bytes_be().len() + 1)
                .map(|_| self.next() as u8)
                .collect();
            BigUint::from_bytes_be(&bytes) % bound
        }
    }

    use rsa::BigUint;

    fn limbs(x: &BigUint, len: usize) -> Vec<u32> {
        from_be(&x.to_bytes_be(), len).unwrap()
    }

    fn big(limbs: &[u32]) -> BigUint {
        BigUint::from_bytes_be(&to_be(limbs, limbs.len() * 4).unwrap())
    }

    /// Moduli of `bits` bits: all ones, 2^(bits−1) + 1 (the smallest), and a random odd one.
    /// The sizes give L ≡ 0, 1, 2, 3 (mod 4) (the column groups and the squaring's scalar
    /// tails) with both limb widths (2048–2134 bits: L = 74–77 with W = 28, 71–74 with
    /// W = 29) up to 4096 bits (L = 147 or 142), and small L where few columns exist.
    fn moduli(rng: &mut Rng) -> Vec<BigUint> {
        let one = BigUint::from(1u32);
        let mut out = Vec::new();
        for bits in [30, 56, 112, 200, 2048, 2078, 2106, 2134, 3072, 4096] {
            let top = &one << (bits - 1);
            out.push((&top << 1) - &one);
            out.push(&top + &one);
            out.push(rng.below(&top) | &top | &one);
        }
        out
    }

    /// Operands < 2n: the edges (0, 1, n − 1, n, n + 1, 2n − 1, all-ones limbs below n's top
    /// bit, a single top bit) and random ones.
    fn operands(n: &BigUint, rng: &mut Rng) -> Vec<BigUint> {
        let one = BigUint::from(1u32);
        let bits = n.bits();
        let mut out = vec![
            BigUint::from(0u32),
            one.clone(),
            BigUint::from(2u32),
            n - &one,
            n.clone(),
            n + &one,
            (n << 1) - &one,
            (&one << bits) - &one,
            (&one << (bits / W as usize * W as usize)) - &one,
            &one << (bits - 1),
        ];
        out.extend((0..6).map(|_| rng.below(&(n << 1))));
        out
    }

    /// The dedicated squaring gives exactly the limbs of the general product of a with itself
    /// (the column sums are the same integers), below 2n and ≡ a²·R⁻¹ (mod n), with the
    /// padding left zero: edge and random operands, for moduli of every shape above. In the
    /// wasm test build this runs the SIMD128 kernel.
    #[test]
    fn squaring_is_the_product_with_itself() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut checked = 0;
        for n in moduli(&mut rng) {
            let m = Modulus::new(&n.to_bytes_be(), n.bits()).unwrap();
            let r = BigUint::from(1u32) << (W as usize * m.len);
            let mut scratch = Scratch::new(m.len);
            for a in operands(&n, &mut rng) {
                let la = limbs(&a, m.len);
                let (mut sq, mut prod) = (vec![0; m.len + PAD], vec![0; m.len + PAD]);
                m.mont_sqr(&la, &mut scratch, &mut sq).unwrap();
                m.mont_mul(&la, &la, &mut scratch, &mut prod).unwrap();
                assert_eq!(sq, prod, "n = {n:x}, a = {a:x}");
                assert!(sq[m.len..].iter().all(|&l| l == 0), "padding");
                let got = big(&sq);
                assert!(got < (&n << 1), "n = {n:x}, a = {a:x}");
                assert_eq!((got * &r) % &n, (&a * &a) % &n, "n = {n:x}, a = {a:x}");
                checked += 1;
            }
        }
        assert_eq!(checked, 30 * 16);
    }

    /// The sum bounds at their limit: the largest modulus accepted (L = 256, all ones) with the
    /// largest operands (2n − 1, all-ones limbs), where a slot of the SIMD128 kernel gets three
    /// products' worth of 29-bit limbs per row for NORM_ROWS rows between normalizations (and a
    /// column sum of the scalar kernel 256 products of 28-bit limbs); one bit more is refused.
    #[test]
    fn largest_modulus_keeps_the_sums_exact() {
        let one = BigUint::from(1u32);
        let bits = W as usize * 256 - 2;
        let n = (&one << bits) - &one;
        let m = Modulus::new(&n.to_bytes_be(), bits).unwrap();
        assert_eq!(m.len, 256);
        let r = &one << (W as usize * m.len);
        let mut scratch = Scratch::new(m.len);
        for a in [
            (&n << 1) - &one,
            n.clone(),
            (&one << (W as usize * 255)) - &one,
        ] {
            let la = limbs(&a, m.len);
            let (mut sq, mut prod) = (vec![0; m.len + PAD], vec![0; m.len + PAD]);
            m.mont_sqr(&la, &mut scratch, &mut sq).unwrap();
            m.mont_mul(&la, &la, &mut scratch, &mut prod).unwrap();
            assert_eq!(sq, prod);
            let got = big(&sq);
            assert!(got < (&n << 1));
            assert_eq!((got * &r) % &n, (&a * &a) % &n);
        }
        let n = (&one << (bits + 1)) - &one;
        assert!(Modulus::new(&n.to_bytes_be(), bits + 1).is_none());
    }

    /// The SIMD128 kernel's slot bound in numbers: a normalized slot (< 2^W + 2^(64−W)), plus
    /// NORM_ROWS rows of at most three products of W-bit limbs each (m·n, and a·b or a doubled a·a
    /// or a²), plus a carry (< 2^(64−W)) stays below 2^64, and two rows more would not. The
    /// largest-modulus test above does not reach this worst case (its quotients m are not all
    /// ones: it also passes with 24 rows), so the interval rests on this inequality.
    #[cfg(all(target_arch = "wasm32", not(feature = "portable")))]
    #[test]
    fn slots_stay_below_2_64_between_normalizations() {
        let product = u128::from(MASK) * u128::from(MASK);
        let worst = |rows: usize| {
            (1u128 << W) + (1 << (64 - W)) + 3 * rows as u128 * product + (1 << (64 - W))
        };
        assert!(worst(NORM_ROWS) < 1 << 64);
        assert!(worst(NORM_ROWS + 2) >= 1 << 64);
        assert_eq!(NORM_ROWS % 2, 0, "rows go in pairs");
    }

    /// `pow` against BigUint's modpow: e = 65537 (squarings, then the final product by s),
    /// e = 3, and a 64-bit e with many set bits (products by s·R between squarings).
    #[test]
    fn pow_matches_modpow() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let one = BigUint::from(1u32);
        for n in moduli(&mut rng).into_iter().filter(|n| n.bits() >= 112) {
            let m = Modulus::new(&n.to_bytes_be(), n.bits()).unwrap();
            let k = n.bits().div_ceil(8);
            let mut bases = vec![BigUint::from(0u32), one.clone(), &n - &one];
            bases.extend((0..3).map(|_| rng.below(&n)));
            for s in bases {
                for e in [65537u64, 3, 0xf00f_ffff_0000_fff1] {
                    let got = m.pow(&s.to_bytes_be(), e, k).unwrap();
                    let want = s.modpow(&BigUint::from(e), &n);
                    assert_eq!(
                        BigUint::from_bytes_be(&got),
                        want,
                        "n = {n:x}, s = {s:x}, e = {e}"
                    );
                }
            }
            assert!(
                m.pow(&n.to_bytes_be(), 65537, k).is_none(),
                "s = n is refused"
            );
        }
    }
}
