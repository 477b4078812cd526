//! RSA signature verification for JWS (RS256/384/512: RSASSA-PKCS1-v1_5; PS256/384/512:
//! RSASSA-PSS with MGF1 and a salt as long as the hash, RFC 7518 §3.3/§3.5), written for wasm.
//!
//! Why its own crate: the bignum crates are shaped for native 64-bit limbs, and inside wasm
//! (no 64×64→128 multiply) they took 250–900 µs per RS256 verification in jwtgate's filter.
//! This one uses 28/29-bit limbs with lazy sums (column by column natively, row by row with wasm
//! SIMD128; see `montgomery.rs`), and it is compiled at opt-level 3 while the filter around it is
//! built for size.
//!
//! Verification touches only public data (key, message, signature), so there is no secret to
//! leak through timing: the question is correctness, which the tests settle (Wycheproof, every
//! bit flip of OpenSSL signatures, a differential comparison with the `rsa` crate, the same
//! tests compiled to wasm and run under wasmtime for the SIMD code).
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

mod montgomery;

use montgomery::Modulus;
use sha2::{Digest, Sha256, Sha384, Sha512};

/// Moduli we accept, in bits (NIST SP 800-131A: at least 2048; the `rsa` crate, which parses
/// jwtgate's keys, stops at 4096).
pub const MIN_BITS: usize = 2048;
pub const MAX_BITS: usize = 4096;

/// An RSA public key prepared for fast verification.
#[derive(Clone, PartialEq, Eq)]
pub struct RsaKey {
    modulus: Modulus,
    /// Bits of n.
    bits: usize,
    /// Length of n in bytes: signatures and encoded messages have exactly this length.
    k: usize,
    /// The public exponent (odd, ≥ 3).
    e: u64,
}

impl std::fmt::Debug for RsaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RsaKey({} bits, e={})", self.bits, self.e)
    }
}

impl RsaKey {
    /// From the big-endian modulus and exponent. Refuses even moduli, moduli outside
    /// 2048–4096 bits, and exponents that are even, below 3 or above 64 bits.
    pub fn new(n_be: &[u8], e_be: &[u8]) -> Result<RsaKey, &'static str> {
        let n_be = strip_leading_zeros(n_be);
        let bits = n_be
            .first()
            .map_or(0, |&top| 8 * n_be.len() - top.leading_zeros() as usize);
        if !(MIN_BITS..=MAX_BITS).contains(&bits) {
            return Err("RSA modulus must have 2048 to 4096 bits");
        }
        if n_be.last().is_none_or(|&low| low & 1 == 0) {
            return Err("RSA modulus must be odd");
        }
        let e_be = strip_leading_zeros(e_be);
        if e_be.len() > 8 {
            return Err("RSA exponent is too large");
        }
        let e = e_be.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        if e < 3 || e & 1 == 0 {
            return Err("RSA exponent must be odd and at least 3");
        }
        let modulus = Modulus::new(n_be, bits).ok_or("RSA modulus is not usable")?;
        Ok(RsaKey {
            modulus,
            bits,
            k: bits.div_ceil(8),
            e,
        })
    }

    pub fn bits(&self) -> usize {
        self.bits
    }

    /// `s^e mod n` as `k` big-endian bytes, or `None` if `s` is not a `k`-byte number below n.
    fn public_op(&self, signature: &[u8]) -> Option<Vec<u8>> {
        if signature.len() != self.k {
            return None;
        }
        self.modulus.pow(signature, self.e, self.k)
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
        let h_len = hash.output_len();
        let s_len = h_len;
        let em_bits = self.bits - 1;
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
    /// Digest length in bytes.
    pub fn output_len(self) -> usize {
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
        let mut out = Vec::with_capacity(len + self.output_len());
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

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_outside_the_rules_are_refused() {
        let mut n = vec![0xffu8; 256];
        n[255] = 0xfe; // even
        assert!(RsaKey::new(&n, &[1, 0, 1]).is_err());
        assert!(RsaKey::new(&[0xff; 128], &[1, 0, 1]).is_err(), "1024 bits");
        assert!(RsaKey::new(&[0xff; 513], &[1, 0, 1]).is_err(), "4104 bits");
        assert!(RsaKey::new(&[0xff; 256], &[1]).is_err(), "e = 1");
        assert!(RsaKey::new(&[0xff; 256], &[2]).is_err(), "even e");
        assert!(
            RsaKey::new(&[0xff; 256], &[1; 9]).is_err(),
            "e above 64 bits"
        );
        assert!(RsaKey::new(&[0xff; 256], &[1, 0, 1]).is_ok());
        assert!(RsaKey::new(&[0xff; 512], &[1, 0, 1]).is_ok(), "4096 bits");
        let mut padded = vec![0u8; 3];
        padded.extend_from_slice(&[0xff; 256]);
        assert_eq!(RsaKey::new(&padded, &[0, 1, 0, 1]).unwrap().bits(), 2048);
    }
}
