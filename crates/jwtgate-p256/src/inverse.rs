//! a⁻¹ mod m for an odd prime m by the binary extended Euclidean algorithm, on 64-bit limbs.
//!
//! Why not Fermat (a^(m−2)): that is 256 Montgomery squarings, 28 % of a verification. This needs only shifts, additions and
//! comparisons, which wasm has natively on 64 bits (only its multiplication is slow).
//! Variable time, which is fine here: the input (a signature's s) is public.
//!
//! Invariants: x1·a ≡ u and x2·a ≡ v (mod m), with u, v > 0 and gcd(u, v) = gcd(a, m) = 1.
//! Each step halves an even u or v (halving x1 or x2 mod m alongside), or subtracts the
//! smaller of u, v from the larger, until one of them is 1.

/// A 256-bit number, little-endian 64-bit limbs.
pub(crate) type U256 = [u64; 4];

const ONE: U256 = [1, 0, 0, 0];

/// a⁻¹ mod m for 0 < a < m, m an odd prime; `None` outside that domain.
pub(crate) fn invert(a: &U256, m: &U256) -> Option<U256> {
    if *a == [0; 4] || !lt(a, m) {
        return None;
    }
    let (mut u, mut v) = (*a, *m);
    let (mut x1, mut x2) = (ONE, [0; 4]);
    // At most 2·511 + 1 passes: u and v start below 2^256, together they can be halved at most
    // 511 times before one is 1, and a subtraction (which leaves both odd and makes one even)
    // is always followed by a halving. The bound only guards against a broken domain.
    for _ in 0..2 * 512 {
        if u == ONE {
            return Some(x1);
        }
        if v == ONE {
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

fn lt(x: &U256, y: &U256) -> bool {
    for (a, b) in x.iter().zip(y).rev() {
        if a != b {
            return a < b;
        }
    }
    false
}

/// x >>= 1, shifting `top` (0 or 1) into bit 255.
fn shr1(x: &mut U256, top: u64) {
    let mut carry = top;
    for limb in x.iter_mut().rev() {
        let low = *limb & 1;
        *limb = (*limb >> 1) | (carry << 63);
        carry = low;
    }
}

/// x −= y; returns the borrow.
fn sub(x: &mut U256, y: &U256) -> bool {
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
fn add(x: &mut U256, y: &U256) -> bool {
    let mut carry = false;
    for (a, &b) in x.iter_mut().zip(y) {
        let (s, c1) = a.overflowing_add(b);
        let (s, c2) = s.overflowing_add(u64::from(carry));
        *a = s;
        carry = c1 || c2;
    }
    carry
}

/// x ← x/2 mod m for x < m (m odd): x/2 if x is even, (x + m)/2 otherwise (257 bits).
fn half_mod(x: &mut U256, m: &U256) {
    let carry = if x.first().is_some_and(|low| low & 1 == 1) {
        add(x, m)
    } else {
        false
    };
    shr1(x, u64::from(carry));
}

/// x ← x − y mod m for x, y < m.
fn sub_mod(x: &mut U256, y: &U256, m: &U256) {
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
        let m: U256 = [(1 << 61) - 1, 0, 0, 0];
        for a in [1u64, 2, 3, 12345, (1 << 61) - 2, 0x1234_5678_9abc] {
            let inv = invert(&[a, 0, 0, 0], &m).unwrap();
            assert_eq!(u128::from(a) * u128::from(inv[0]) % u128::from(m[0]), 1);
        }
        assert_eq!(invert(&[0; 4], &m), None);
        assert_eq!(invert(&m, &m), None);
    }
}
