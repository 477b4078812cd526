//! P-256 points (y² = x³ − 3x + b over F_p, prime order n) in Jacobian coordinates, and the
//! fixed-base comb tables verification uses.
//!
//! A comb table for a point P (8 teeth, spacing 32) holds, for every j in 1..=255, the affine
//! point Σ_{bit t of j} 2^(32t)·P. Then k·P for a 256-bit k is 31 doublings and 32 table
//! additions: step i (from 31 down to 0) doubles and adds T[j] where bit t of j is bit 32t + i
//! of k. Verification needs u1·G + u2·Q: both scalars share the doublings, so it costs
//! 31 doublings and at most 64 mixed additions (~950 field multiplications) instead of ~256
//! doublings with any windowed method. G's table is built once per process, Q's once per key
//! (at configuration time), 255 affine points = 20 KiB each.

use crate::field::{self, hex32, Limbs, Modulus, L};

/// The field prime p = 2^256 − 2^224 + 2^192 + 2^96 − 1.
pub(crate) static P: Modulus = Modulus::new(&hex32(
    "ffffffff00000001000000000000000000000000ffffffffffffffffffffffff",
));
/// The group order n.
pub(crate) static N: Modulus = Modulus::new(&hex32(
    "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551",
));
const B: [u8; 32] = hex32("5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b");
const GX: [u8; 32] = hex32("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296");
const GY: [u8; 32] = hex32("4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5");

/// Multiplication mod p, with p's limbs constant-folded into `Modulus::mul` (inlined here once).
#[inline(never)]
fn fe_mul(a: &Limbs, b: &Limbs) -> Limbs {
    P.mul_inline(a, b)
}

fn fe_square(a: &Limbs) -> Limbs {
    fe_mul(a, a)
}

/// Comb parameters: TEETH bits of the scalar per table lookup, SPACING apart.
const TEETH: usize = 8;
const SPACING: usize = 32;
const TABLE_LEN: usize = (1 << TEETH) - 1;

/// An affine point (coordinates in Montgomery form), never the point at infinity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Affine {
    x: Limbs,
    y: Limbs,
}

/// A Jacobian point (X/Z², Y/Z³); `infinity` is the neutral element (Z is then meaningless).
#[derive(Clone, Copy, Debug)]
struct Jacobian {
    x: Limbs,
    y: Limbs,
    z: Limbs,
    infinity: bool,
}

/// The comb table of one point.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct CombTable(Box<[Affine]>);

impl Affine {
    /// From big-endian coordinates: `None` unless both are below p and the point is on the
    /// curve (then it is not the point at infinity and, the cofactor being 1, of order n).
    pub(crate) fn from_be(x: &[u8; 32], y: &[u8; 32]) -> Option<Affine> {
        let (x, y) = (field::from_be(x), field::from_be(y));
        if !field::lt(&x, P.modulus()) || !field::lt(&y, P.modulus()) {
            return None;
        }
        let point = Affine {
            x: P.to_mont(&x),
            y: P.to_mont(&y),
        };
        point.on_curve().then_some(point)
    }

    /// Big-endian coordinates.
    pub(crate) fn to_be(self) -> ([u8; 32], [u8; 32]) {
        (
            field::to_be(&P.out_of_mont(&self.x)),
            field::to_be(&P.out_of_mont(&self.y)),
        )
    }

    fn generator() -> Affine {
        Affine {
            x: P.to_mont(&field::from_be(&GX)),
            y: P.to_mont(&field::from_be(&GY)),
        }
    }

    /// y² = x³ − 3x + b.
    fn on_curve(&self) -> bool {
        let x3 = fe_mul(&fe_square(&self.x), &self.x);
        let three_x = P.add(&P.add(&self.x, &self.x), &self.x);
        let b = P.to_mont(&field::from_be(&B));
        let rhs = P.add(&P.sub(&x3, &three_x), &b);
        P.eq(&fe_square(&self.y), &rhs)
    }

    fn to_jacobian(self) -> Jacobian {
        Jacobian {
            x: self.x,
            y: self.y,
            z: P.one(),
            infinity: false,
        }
    }
}

impl Jacobian {
    const INFINITY: Jacobian = Jacobian {
        x: [0; L],
        y: [0; L],
        z: [0; L],
        infinity: true,
    };

    /// 2·P (dbl-2001-b, a = −3: 3M + 5S). P-256 has no point of order 2 (n is odd), so
    /// Y ≠ 0 for every finite point and the result is finite.
    fn double(&self) -> Jacobian {
        if self.infinity {
            return *self;
        }
        let delta = fe_square(&self.z);
        let gamma = fe_square(&self.y);
        let beta = fe_mul(&self.x, &gamma);
        let t = fe_mul(&P.sub(&self.x, &delta), &P.add(&self.x, &delta));
        let alpha = P.add(&P.add(&t, &t), &t);
        let beta4 = quadruple(&beta);
        let x3 = P.sub(&fe_square(&alpha), &P.add(&beta4, &beta4));
        let yz = P.add(&self.y, &self.z);
        let z3 = P.sub(&P.sub(&fe_square(&yz), &gamma), &delta);
        let gamma2 = fe_square(&gamma);
        let y3 = P.sub(
            &fe_mul(&alpha, &P.sub(&beta4, &x3)),
            &P.add(&quadruple(&gamma2), &quadruple(&gamma2)),
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
    fn add_affine(&self, q: &Affine) -> Jacobian {
        if self.infinity {
            return q.to_jacobian();
        }
        let z1z1 = fe_square(&self.z);
        let u2 = fe_mul(&q.x, &z1z1);
        let s2 = fe_mul(&fe_mul(&q.y, &self.z), &z1z1);
        let h = P.sub(&u2, &self.x);
        let r_half = P.sub(&s2, &self.y);
        if P.is_zero(&h) {
            return if P.is_zero(&r_half) {
                self.double()
            } else {
                Jacobian::INFINITY
            };
        }
        let hh = fe_square(&h);
        let i = quadruple(&hh);
        let j = fe_mul(&h, &i);
        let r = P.add(&r_half, &r_half);
        let v = fe_mul(&self.x, &i);
        let x3 = P.sub(&P.sub(&fe_square(&r), &j), &P.add(&v, &v));
        let y1j = fe_mul(&self.y, &j);
        let y3 = P.sub(&fe_mul(&r, &P.sub(&v, &x3)), &P.add(&y1j, &y1j));
        let zh = P.add(&self.z, &h);
        let z3 = P.sub(&P.sub(&fe_square(&zh), &z1z1), &hh);
        Jacobian {
            x: x3,
            y: y3,
            z: z3,
            infinity: false,
        }
    }

    /// P + Q for Jacobian P, Q (add-2007-bl: 11M + 5S), with the exceptional cases; used
    /// only to build tables.
    fn add(&self, q: &Jacobian) -> Jacobian {
        if self.infinity {
            return *q;
        }
        if q.infinity {
            return *self;
        }
        let z1z1 = fe_square(&self.z);
        let z2z2 = fe_square(&q.z);
        let u1 = fe_mul(&self.x, &z2z2);
        let u2 = fe_mul(&q.x, &z1z1);
        let s1 = fe_mul(&fe_mul(&self.y, &q.z), &z2z2);
        let s2 = fe_mul(&fe_mul(&q.y, &self.z), &z1z1);
        let h = P.sub(&u2, &u1);
        let r_half = P.sub(&s2, &s1);
        if P.is_zero(&h) {
            return if P.is_zero(&r_half) {
                self.double()
            } else {
                Jacobian::INFINITY
            };
        }
        let h2 = P.add(&h, &h);
        let i = fe_square(&h2);
        let j = fe_mul(&h, &i);
        let r = P.add(&r_half, &r_half);
        let v = fe_mul(&u1, &i);
        let x3 = P.sub(&P.sub(&fe_square(&r), &j), &P.add(&v, &v));
        let s1j = fe_mul(&s1, &j);
        let y3 = P.sub(&fe_mul(&r, &P.sub(&v, &x3)), &P.add(&s1j, &s1j));
        let zz = P.add(&self.z, &q.z);
        let z3 = fe_mul(&P.sub(&P.sub(&fe_square(&zz), &z1z1), &z2z2), &h);
        Jacobian {
            x: x3,
            y: y3,
            z: z3,
            infinity: false,
        }
    }
}

fn quadruple(a: &Limbs) -> Limbs {
    let twice = P.add(a, a);
    P.add(&twice, &twice)
}

impl CombTable {
    /// The table of `point` (see the module comment); `None` only if a table entry were the
    /// point at infinity, which cannot happen for a point of order n (all entries are k·P with
    /// 0 < k < 2^225 < n).
    pub(crate) fn new(point: &Affine) -> Option<CombTable> {
        let mut teeth = [point.to_jacobian(); TEETH];
        for t in 1..TEETH {
            let mut p = *teeth.get(t - 1)?;
            for _ in 0..SPACING {
                p = p.double();
            }
            *teeth.get_mut(t)? = p;
        }
        // entry j (index j − 1) = entry (j without its top bit) + the top bit's tooth.
        let mut jacobian: Vec<Jacobian> = Vec::with_capacity(TABLE_LEN);
        for j in 1..=TABLE_LEN {
            let top = usize::BITS as usize - 1 - j.leading_zeros() as usize;
            let rest = j & !(1 << top);
            let tooth = teeth.get(top)?;
            let entry = match rest {
                0 => *tooth,
                _ => jacobian.get(rest - 1)?.add(tooth),
            };
            if entry.infinity {
                return None;
            }
            jacobian.push(entry);
        }
        // Affine by one inversion (Montgomery's trick): prefix products of the Z's, invert
        // the last, walk back.
        let mut prefix = Vec::with_capacity(TABLE_LEN);
        let mut acc = P.one();
        for p in &jacobian {
            acc = fe_mul(&acc, &p.z);
            prefix.push(acc);
        }
        let mut inv = P.invert(&acc)?;
        let mut affine = vec![
            Affine {
                x: [0; L],
                y: [0; L]
            };
            TABLE_LEN
        ];
        for k in (0..TABLE_LEN).rev() {
            let p = jacobian.get(k)?;
            let z_inv = match k {
                0 => inv,
                _ => fe_mul(&inv, prefix.get(k - 1)?),
            };
            inv = fe_mul(&inv, &p.z);
            let z_inv2 = fe_square(&z_inv);
            let z_inv3 = fe_mul(&z_inv2, &z_inv);
            *affine.get_mut(k)? = Affine {
                x: P.canonical(&fe_mul(&p.x, &z_inv2)),
                y: P.canonical(&fe_mul(&p.y, &z_inv3)),
            };
        }
        Some(CombTable(affine.into_boxed_slice()))
    }

    pub(crate) fn generator() -> Option<&'static CombTable> {
        static TABLE: std::sync::OnceLock<Option<CombTable>> = std::sync::OnceLock::new();
        TABLE
            .get_or_init(|| CombTable::new(&Affine::generator()))
            .as_ref()
    }

    /// The comb index of step `i` for scalar `k` (canonical limbs).
    #[inline]
    fn index(k: &Limbs, i: usize) -> usize {
        (0..TEETH).fold(0, |acc, t| acc | (field::bit(k, SPACING * t + i) << t))
    }
}

/// Whether the x coordinate of u1·G + u2·Q, reduced mod n, equals r (ECDSA's final check);
/// false when the sum is the point at infinity. u1, u2 and r are canonical, r ≠ 0.
pub(crate) fn check_combination(
    g: &CombTable,
    u1: &Limbs,
    q: &CombTable,
    u2: &Limbs,
    r: &Limbs,
) -> bool {
    let mut acc = Jacobian::INFINITY;
    for i in (0..SPACING).rev() {
        acc = acc.double();
        for (table, k) in [(g, u1), (q, u2)] {
            let j = CombTable::index(k, i);
            if let Some(entry) = j.checked_sub(1).and_then(|at| table.0.get(at)) {
                acc = acc.add_affine(entry);
            }
        }
    }
    if acc.infinity {
        return false;
    }
    // x = X/Z²: x mod n = r ⇔ x = r or x = r + n (the latter only if r + n < p). Compare
    // X with r·Z² (and (r + n)·Z²) instead of inverting Z.
    let zz = fe_square(&acc.z);
    if P.eq(&acc.x, &fe_mul(&P.to_mont(r), &zz)) {
        return true;
    }
    let r_plus_n = field::add_limbs(r, N.modulus());
    field::lt(&r_plus_n, P.modulus()) && P.eq(&acc.x, &fe_mul(&P.to_mont(&r_plus_n), &zz))
}
