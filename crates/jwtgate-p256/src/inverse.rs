//! a⁻¹ mod m for an odd prime m by the binary extended Euclidean algorithm, on 64-bit limbs.
//!
//! Why not Fermat (a^(m−2)): that is hundreds of Montgomery squarings (256 for P-256), 28 % of a verification. This needs only shifts, additions and
//! comparisons, which wasm has natively on 64 bits (only its multiplication is slow).
//! Variable time, which is fine here: the input (a signature's s) is public.
//!
//! Invariants: x1·a ≡ u and x2·a ≡ v (mod m), with u, v > 0 and gcd(u, v) = gcd(a, m) = 1.
//! Each step halves an even u or v (halving x1 or x2 mod m alongside), or subtracts the
//! smaller of u, v from the larger, until one of them is 1.

/// A number of 64K bits, little-endian 64-bit limbs.
pub(crate) type Wide<const K: usize> = [u64; K];

/// a⁻¹ mod m for 0 < a < m, m an odd prime; `None` outside that domain.
pub(crate) fn invert<const K: usize>(a: &Wide<K>, m: &Wide<K>) -> Option<Wide<K>> {
    if *a == [0; K] || !lt(a, m) {
        return None;
    }
    let mut one = [0; K];
    if let Some(low) = one.first_mut() {
        *low = 1;
    }
    let (mut u, mut v) = (*a, *m);
    let (mut x1, mut x2) = (one, [0; K]);
    // At most 2·(128K − 1) + 1 passes: u and v start below 2^(64K), together they can be
    // halved at most 128K − 1 times before one is 1, and a subtraction (which leaves both odd
    // and makes one even) is always followed by a halving. The bound only guards against a
    // broken domain.
    for _ in 0..2 * 128 * K {
        if u == one {
            return Some(x1);
        }
        if v == one {
            return Some(x2);
        }
        if u.first().is_some_and(|low| low & 1 == 0) {
            shr1(&mut u, 0);
            half_mod(&mut x1, m);
        } else if v.first().is_some_and(|low| low & 1 == 0) {
            shr1(&mut v, 0);
            half_mod(&mut x2, m);
        } else if lt(&u, &v) {
            sub(&mut v, &u);
            sub_mod(&mut x2, &x1, m);
        } else {
            sub(&mut u, &v);
            sub_mod(&mut x1, &x2, m);
        }
    }
    None
}

fn lt<const K: usize>(x: &Wide<K>, y: &Wide<K>) -> bool {
    for (a, b) in x.iter().zip(y).rev() {
        if a != b {
            return a < b;
        }
    }
    false
}

/// x >>= 1, shifting `top` (0 or 1) into the top bit.
fn shr1<const K: usize>(x: &mut Wide<K>, top: u64) {
    let mut carry = top;
    for limb in x.iter_mut().rev() {
        let low = *limb & 1;
        *limb = (*limb >> 1) | (carry << 63);
        carry = low;
    }
}

/// x −= y; returns the borrow.
fn sub<const K: usize>(x: &mut Wide<K>, y: &Wide<K>) -> bool {
    let mut borrow = false;
    for (a, &b) in x.iter_mut().zip(y) {
        let (d, b1) = a.overflowing_sub(b);
        let (d, b2) = d.overflowing_sub(u64::from(borrow));
        *a = d;
        borrow = b1 || b2;
    }
    borrow
}

/// x += y; returns the carry.
fn add<const K: usize>(x: &mut Wide<K>, y: &Wide<K>) -> bool {
    let mut carry = false;
    for (a, &b) in x.iter_mut().zip(y) {
        let (s, c1) = a.overflowing_add(b);
        let (s, c2) = s.overflowing_add(u64::from(carry));
        *a = s;
        carry = c1 || c2;
    }
    carry
}

/// x ← x/2 mod m for x < m (m odd): x/2 if x is even, (x + m)/2 otherwise (64K + 1 bits).
fn half_mod<const K: usize>(x: &mut Wide<K>, m: &Wide<K>) {
    let carry = if x.first().is_some_and(|low| low & 1 == 1) {
        add(x, m)
    } else {
        false
    };
    shr1(x, u64::from(carry));
}

/// x ← x − y mod m for x, y < m.
fn sub_mod<const K: usize>(x: &mut Wide<K>, y: &Wide<K>, m: &Wide<K>) {
    if sub(x, y) {
        add(x, m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverses_multiply_to_one_mod_a_small_prime_and_refuse_the_domain_edges() {
        // m = 2^61 − 1 (prime), checked with u128 arithmetic.
        let m: Wide<4> = [(1 << 61) - 1, 0, 0, 0];
        for a in [1u64, 2, 3, 12345, (1 << 61) - 2, 0x1234_5678_9abc] {
            let inv = invert(&[a, 0, 0, 0], &m).unwrap();
            assert_eq!(u128::from(a) * u128::from(inv[0]) % u128::from(m[0]), 1);
        }
        assert_eq!(invert(&[0; 4], &m), None);
        assert_eq!(invert(&m, &m), None);
    }
}
