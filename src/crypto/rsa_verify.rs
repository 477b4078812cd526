//! RSA signature verification (RS256/384/512: RSASSA-PKCS1-v1_5; PS256/384/512: RSASSA-PSS with
//! MGF1 and a salt as long as the hash, RFC 7518 §3.3/§3.5), written for wasm.
//!
//! Why our own: inside wasm there is no 64×64→128-bit multiply, and the bignum crates' code is
//! shaped for native 64-bit limbs; the `rsa` crate (num-bigint-dig) took ~900 µs per RS256
//! verification in the filter. Verification touches only public data (key, message,
//! signature), so there is no secret to leak through timing: the question is correctness, which
//! the tests settle (Wycheproof, bit flips of OpenSSL signatures, a differential fuzz target
//! against the `rsa` crate).
//!
//! The arithmetic: numbers are little-endian vectors of 32-bit limbs; products are accumulated
//! in u64 (32×32→64 is one wasm `i64.mul`). `s^e mod n` uses Montgomery multiplication
//! (CIOS: Koç, Acar, Kaliski 1996) with R = 2^(32·L), L = limbs of n:
//!   mont(a, b) = a·b·R⁻¹ mod n, for a, b < n.
//! Each outer step adds a·b_i and then m·n with m = t₀·(−n⁻¹ mod 2³²) mod 2³², which makes the
//! lowest limb zero so the division by 2³² is a shift. The result is < 2n and one conditional
//! subtraction brings it below n.

use std::borrow::Cow;
use std::num::NonZeroUsize;

use jwt_compact::{Algorithm, AlgorithmSignature};
use sha2::{Digest, Sha256, Sha384, Sha512};

/// An RSA public key prepared for fast verification.
#[derive(Clone, PartialEq, Eq)]
pub struct RsaKey {
    /// The modulus, little-endian 32-bit limbs (no leading zero limb).
    n: Vec<u32>,
    /// Length of n in bytes: signatures and encoded messages have exactly this length.
    k: usize,
    /// The public exponent (odd, ≥ 3).
    e: u64,
    /// −n⁻¹ mod 2³² (the Montgomery constant).
    n0_inv: u32,
    /// R² mod n, to move a number into Montgomery form with one multiplication.
    r2: Vec<u32>,
}

impl std::fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RsaKey({} bits, e={})", self.bits(), self.e)
    }
}

impl RsaKey {
    /// From the big-endian modulus and exponent. Refuses even moduli, moduli below 2048 or
    /// above 8192 bits, and exponents that are even, below 3 or above 64 bits.
    pub fn new(n_be: &[u8], e_be: &[u8]) -> Result<RsaKey, &'static str> {
        let n = limbs_from_be(n_be);
        let bits = bit_len(&n);
        if !(2048..=8192).contains(&bits) {
            return Err("RSA modulus must have 2048 to 8192 bits");
        }
        let n0 = match n.first() {
            Some(&low) if low & 1 == 1 => low,
            _ => return Err("RSA modulus must be odd"),
        };
        let e_limbs = limbs_from_be(e_be);
        if bit_len(&e_limbs) > 64 {
            return Err("RSA exponent is too large");
        }
        let e = e_limbs
            .iter()
            .rev()
            .fold(0u64, |acc, &l| (acc << 32) | u64::from(l));
        if e < 3 || e & 1 == 0 {
            return Err("RSA exponent must be odd and at least 3");
        }
        let n0_inv = neg_inverse_u32(n0);
        let r2 = r_squared(&n);
        Ok(RsaKey {
            k: bits.div_ceil(8),
            n,
            e,
            n0_inv,
            r2,
        })
    }

    pub fn bits(&self) -> usize {
        bit_len(&self.n)
    }

    /// `s^e mod n` as `k` big-endian bytes, or `None` if `s` is not a `k`-byte number below n.
    fn public_op(&self, signature: &[u8]) -> Option<Vec<u8>> {
        if signature.len() != self.k {
            return None;
        }
        let s = limbs_from_be(signature);
        if s.len() > self.n.len() || !less_than(&s, &self.n) {
            return None;
        }
        let len = self.n.len();
        let mut s = s;
        s.resize(len, 0);
        // Scratch space, allocated once per verification.
        let mut t = Scratch {
            t: vec![0u32; len + 1],
            u: vec![0u32; len + 1],
        };
        let mut base = vec![0u32; len];
        self.mont_mul(&s, &self.r2, &mut t, &mut base); // s·R mod n
        let mut acc = base.clone();
        let mut next = vec![0u32; len];
        // Left-to-right square-and-multiply over the bits of e after the top one
        // (65537: 16 squarings and one multiplication).
        let top = 63 - self.e.leading_zeros();
        for bit in (0..top).rev() {
            self.mont_mul(&acc, &acc, &mut t, &mut next);
            std::mem::swap(&mut acc, &mut next);
            if (self.e >> bit) & 1 == 1 {
                self.mont_mul(&acc, &base, &mut t, &mut next);
                std::mem::swap(&mut acc, &mut next);
            }
        }
        let mut one = vec![0u32; len];
        if let Some(low) = one.first_mut() {
            *low = 1;
        }
        self.mont_mul(&acc, &one, &mut t, &mut next); // out of Montgomery form
        Some(be_from_limbs(&next, self.k))
    }

    /// out = a·b·R⁻¹ mod n for a, b < n (all `L` limbs).
    ///
    /// One pass per limb of b does both products (a·b_i and m·n) with two carry chains, so
    /// the loop body has two independent multiply-adds. The shifted sum is written to a second
    /// buffer (no indexing, no bounds checks); t stays below 2n, so L + 1 limbs hold it and
    /// its top limb is at most 1.
    fn mont_mul(&self, a: &[u32], b: &[u32], scratch: &mut Scratch, out: &mut [u32]) {
        let (Some((&a0, a_rest)), Some((&n0, n_rest))) = (a.split_first(), self.n.split_first())
        else {
            return;
        };
        let Scratch { t, u } = scratch;
        t.fill(0);
        for &bi in b {
            let bi = u64::from(bi);
            // Column 0 decides m, the multiple of n that clears the lowest limb.
            let s0 = u64::from(t.first().copied().unwrap_or(0)) + u64::from(a0) * bi;
            let m = u64::from((s0 as u32).wrapping_mul(self.n0_inv));
            let r0 = (s0 & 0xffff_ffff) + m * u64::from(n0);
            let mut c1 = s0 >> 32;
            let mut c2 = r0 >> 32;
            // Columns 1..L-1, each stored one limb down (the division by 2^32).
            for (((uj, &tj), &aj), &nj) in
                u.iter_mut().zip(t.iter().skip(1)).zip(a_rest).zip(n_rest)
            {
                let s = u64::from(tj) + u64::from(aj) * bi + c1;
                c1 = s >> 32;
                let r = (s & 0xffff_ffff) + m * u64::from(nj) + c2;
                c2 = r >> 32;
                *uj = r as u32;
            }
            let top = u64::from(t.last().copied().unwrap_or(0)) + c1 + c2;
            if let [.., below, high] = u.as_mut_slice() {
                *below = top as u32;
                *high = (top >> 32) as u32;
            }
            std::mem::swap(t, u);
        }
        // t < 2n: subtract n once if t ≥ n.
        for (o, &v) in out.iter_mut().zip(t.iter()) {
            *o = v;
        }
        if t.last().is_some_and(|&high| high != 0) || !less_than(out, &self.n) {
            sub_in_place(out, &self.n);
        }
    }

    /// RSASSA-PKCS1-v1_5 verification (RFC 8017 §8.2.2): the whole encoded message is rebuilt
    /// and compared, so no parsing of attacker-controlled padding happens.
    pub fn verify_pkcs1v15(&self, hash: Hash, message: &[u8], signature: &[u8]) -> bool {
        let Some(em) = self.public_op(signature) else {
            return false;
        };
        let digest = hash.digest(message);
        let prefix = hash.digest_info_prefix();
        let t_len = prefix.len() + digest.len();
        if self.k < t_len + 11 {
            return false;
        }
        // 0x00 0x01 FF…FF 0x00 DigestInfo(hash)
        let mut expected = Vec::with_capacity(self.k);
        expected.extend_from_slice(&[0x00, 0x01]);
        expected.resize(self.k - t_len - 1, 0xff);
        expected.push(0x00);
        expected.extend_from_slice(prefix);
        expected.extend_from_slice(&digest);
        em == expected
    }

    /// RSASSA-PSS verification (RFC 8017 §8.1.2, EMSA-PSS-VERIFY §9.1.2) with MGF1 over the
    /// same hash and a salt as long as the hash (RFC 7518 §3.5).
    pub fn verify_pss(&self, hash: Hash, message: &[u8], signature: &[u8]) -> bool {
        let Some(em_full) = self.public_op(signature) else {
            return false;
        };
        let h_len = hash.len();
        let s_len = h_len;
        let em_bits = self.bits() - 1;
        let em_len = em_bits.div_ceil(8);
        // When emBits is a multiple of 8, the encoded message is one byte shorter than k and
        // the leading byte of the public-operation output must be zero.
        let Some((lead, em)) = em_full.split_at_checked(self.k - em_len) else {
            return false;
        };
        if lead.iter().any(|&b| b != 0) {
            return false;
        }
        if em_len < h_len + s_len + 2 || em.last() != Some(&0xbc) {
            return false;
        }
        let db_len = em_len - h_len - 1;
        let Some((masked_db, rest)) = em.split_at_checked(db_len) else {
            return false;
        };
        let Some(h) = rest.get(..h_len) else {
            return false;
        };
        let unused_bits = 8 * em_len - em_bits;
        let first = masked_db.first().copied().unwrap_or(0);
        if unused_bits > 0 && first >> (8 - unused_bits) != 0 {
            return false;
        }
        let mask = hash.mgf1(h, db_len);
        let mut db: Vec<u8> = masked_db.iter().zip(&mask).map(|(a, b)| a ^ b).collect();
        if let Some(top) = db.first_mut() {
            *top &= 0xff >> unused_bits;
        }
        // DB = PS (zeros) || 0x01 || salt
        let ps_len = db_len - s_len - 1;
        let (Some(ps), Some(&separator), Some(salt)) =
            (db.get(..ps_len), db.get(ps_len), db.get(ps_len + 1..))
        else {
            return false;
        };
        if ps.iter().any(|&b| b != 0) || separator != 0x01 {
            return false;
        }
        let m_hash = hash.digest(message);
        let mut m_prime = vec![0u8; 8];
        m_prime.extend_from_slice(&m_hash);
        m_prime.extend_from_slice(salt);
        hash.digest(&m_prime) == h
    }
}

/// The hash of a JWS RSA algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn len(self) -> usize {
        match self {
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
            Hash::Sha512 => 64,
        }
    }

    fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Hash::Sha256 => Sha256::digest(data).to_vec(),
            Hash::Sha384 => Sha384::digest(data).to_vec(),
            Hash::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    /// DER of DigestInfo up to the digest (RFC 8017 §9.2, note 1).
    fn digest_info_prefix(self) -> &'static [u8] {
        match self {
            Hash::Sha256 => &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ],
            Hash::Sha384 => &[
                0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x02, 0x05, 0x00, 0x04, 0x30,
            ],
            Hash::Sha512 => &[
                0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x03, 0x05, 0x00, 0x04, 0x40,
            ],
        }
    }

    /// MGF1 (RFC 8017 B.2.1): Hash(seed || counter) blocks, truncated to `len`.
    fn mgf1(self, seed: &[u8], len: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(len + self.len());
        let mut counter = 0u32;
        while out.len() < len {
            let mut block = seed.to_vec();
            block.extend_from_slice(&counter.to_be_bytes());
            out.extend_from_slice(&self.digest(&block));
            counter += 1;
        }
        out.truncate(len);
        out
    }
}

fn limbs_from_be(bytes: &[u8]) -> Vec<u32> {
    let mut limbs: Vec<u32> = bytes
        .rchunks(4)
        .map(|chunk| chunk.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)))
        .collect();
    while limbs.last() == Some(&0) {
        limbs.pop();
    }
    limbs
}

fn be_from_limbs(limbs: &[u32], len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    for (i, byte) in out.iter_mut().rev().enumerate() {
        if let Some(limb) = limbs.get(i / 4) {
            *byte = (limb >> (8 * (i % 4))) as u8;
        }
    }
    out
}

fn bit_len(limbs: &[u32]) -> usize {
    match limbs.iter().rposition(|&l| l != 0) {
        Some(i) => 32 * i + (32 - limbs.get(i).map_or(32, |l| l.leading_zeros()) as usize),
        None => 0,
    }
}

/// a < b, for numbers of any limb counts.
fn less_than(a: &[u32], b: &[u32]) -> bool {
    let len = a.len().max(b.len());
    for i in (0..len).rev() {
        let (x, y) = (
            a.get(i).copied().unwrap_or(0),
            b.get(i).copied().unwrap_or(0),
        );
        if x != y {
            return x < y;
        }
    }
    false
}

/// a −= b (a ≥ b, same or longer length; the borrow out of the top is dropped on purpose when
/// a had an extra top bit outside its limbs).
fn sub_in_place(a: &mut [u32], b: &[u32]) {
    let mut borrow = 0i64;
    for (i, ai) in a.iter_mut().enumerate() {
        let diff = i64::from(*ai) - i64::from(b.get(i).copied().unwrap_or(0)) - borrow;
        *ai = diff as u32;
        borrow = i64::from(diff < 0);
    }
}

/// −x⁻¹ mod 2³² for odd x, by Newton's iteration (each step doubles the correct low bits:
/// y = x is right mod 2³ for odd x; five steps reach 96 > 32 bits).
fn neg_inverse_u32(x: u32) -> u32 {
    let mut y = x;
    for _ in 0..5 {
        y = y.wrapping_mul(2u32.wrapping_sub(x.wrapping_mul(y)));
    }
    y.wrapping_neg()
}

/// R² mod n with R = 2^(32·L): start from 1 and double 64·L times, reducing each time
/// (doubling a number below n gives one below 2n, so one subtraction suffices). Run once per
/// key, at configuration time.
fn r_squared(n: &[u32]) -> Vec<u32> {
    let len = n.len();
    let mut x = vec![0u32; len];
    if let Some(low) = x.first_mut() {
        *low = 1;
    }
    for _ in 0..64 * len {
        let mut carry = 0u32;
        for limb in x.iter_mut() {
            let next = *limb >> 31;
            *limb = (*limb << 1) | carry;
            carry = next;
        }
        if carry != 0 || !less_than(&x, n) {
            sub_in_place(&mut x, n);
        }
    }
    x
}

/// Two buffers of L + 1 limbs for `mont_mul`'s running sum (it alternates between them).
struct Scratch {
    t: Vec<u32>,
    u: Vec<u32>,
}

/// RS256/384/512 and PS256/384/512 behind jwt-compact's `Algorithm`, so keys.rs verifies RSA
/// like every other family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FastRsa {
    pub hash: Hash,
    pub pss: bool,
}

/// The raw signature bytes (their length is checked against the key at verification).
#[derive(Debug, Clone)]
pub struct RsaSignatureBytes(Vec<u8>);

impl AlgorithmSignature for RsaSignatureBytes {
    const LENGTH: Option<NonZeroUsize> = None;

    fn try_from_slice(slice: &[u8]) -> anyhow::Result<Self> {
        Ok(RsaSignatureBytes(slice.to_vec()))
    }

    fn as_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.0)
    }
}

impl Algorithm for FastRsa {
    /// Verification only: the filter never signs.
    type SigningKey = std::convert::Infallible;
    type VerifyingKey = RsaKey;
    type Signature = RsaSignatureBytes;

    fn name(&self) -> Cow<'static, str> {
        let name = match (self.pss, self.hash) {
            (false, Hash::Sha256) => "RS256",
            (false, Hash::Sha384) => "RS384",
            (false, Hash::Sha512) => "RS512",
            (true, Hash::Sha256) => "PS256",
            (true, Hash::Sha384) => "PS384",
            (true, Hash::Sha512) => "PS512",
        };
        Cow::Borrowed(name)
    }

    fn sign(&self, signing_key: &Self::SigningKey, _message: &[u8]) -> Self::Signature {
        match *signing_key {}
    }

    fn verify_signature(
        &self,
        signature: &Self::Signature,
        verifying_key: &Self::VerifyingKey,
        message: &[u8],
    ) -> bool {
        if self.pss {
            verifying_key.verify_pss(self.hash, message, &signature.0)
        } else {
            verifying_key.verify_pkcs1v15(self.hash, message, &signature.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limb_conversions_round_trip() {
        let bytes: Vec<u8> = (1..=37).collect();
        let limbs = limbs_from_be(&bytes);
        assert_eq!(limbs.len(), 10);
        assert_eq!(be_from_limbs(&limbs, 37), bytes);
        assert_eq!(be_from_limbs(&limbs, 40)[..3], [0, 0, 0]);
        assert_eq!(bit_len(&limbs_from_be(&[0x01, 0, 0, 0, 0])), 33);
        assert!(limbs_from_be(&[0, 0]).is_empty());
    }

    #[test]
    fn montgomery_constant_inverts_the_low_limb() {
        for x in [1u32, 3, 0xffff_ffff, 0x8000_0001, 0x1234_5677] {
            assert_eq!(x.wrapping_mul(neg_inverse_u32(x)), u32::MAX, "{x:#x}");
        }
    }

    #[test]
    fn keys_outside_the_rules_are_refused() {
        let mut n = vec![0xffu8; 256];
        n[255] = 0xfe; // even
        assert!(RsaKey::new(&n, &[1, 0, 1]).is_err());
        assert!(RsaKey::new(&[0xff; 128], &[1, 0, 1]).is_err(), "1024 bits");
        assert!(RsaKey::new(&[0xff; 256], &[1]).is_err(), "e = 1");
        assert!(RsaKey::new(&[0xff; 256], &[2]).is_err(), "even e");
        assert!(
            RsaKey::new(&[0xff; 256], &[1; 9]).is_err(),
            "e above 64 bits"
        );
        assert!(RsaKey::new(&[0xff; 256], &[1, 0, 1]).is_ok());
    }
}
