//! The little DER a public key needs: a SubjectPublicKeyInfo (`BEGIN PUBLIC KEY`) and PKCS#1's
//! RSAPublicKey (`BEGIN RSA PUBLIC KEY`). Strict (definite lengths in their shortest form, no
//! trailing bytes, positive minimal INTEGERs): configuration is trusted, but a key that reads
//! two ways must not be accepted. Replaces the `rsa`/`pkcs8`/`spki`/`der` crates in the filter,
//! which only ever parsed keys here.

/// Object identifiers (DER contents, without tag and length).
pub mod oid {
    /// rsaEncryption, 1.2.840.113549.1.1.1
    pub const RSA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];
    /// id-ecPublicKey, 1.2.840.10045.2.1
    pub const EC: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01];
    /// prime256v1 (P-256), 1.2.840.10045.3.1.7
    pub const P256: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
    /// secp384r1 (P-384), 1.3.132.0.34
    pub const P384: &[u8] = &[0x2B, 0x81, 0x04, 0x00, 0x22];
    /// secp521r1 (P-521), 1.3.132.0.35
    pub const P521: &[u8] = &[0x2B, 0x81, 0x04, 0x00, 0x23];
    /// secp256k1, 1.3.132.0.10
    pub const SECP256K1: &[u8] = &[0x2B, 0x81, 0x04, 0x00, 0x0A];
    /// Ed25519, 1.3.101.112
    pub const ED25519: &[u8] = &[0x2B, 0x65, 0x70];
    /// Ed448, 1.3.101.113
    pub const ED448: &[u8] = &[0x2B, 0x65, 0x71];
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const NULL: u8 = 0x05;
const OBJECT_IDENTIFIER: u8 = 0x06;

/// A SubjectPublicKeyInfo: the algorithm, its parameters when they are an OID (a named curve),
/// and the key bytes.
pub struct Spki<'a> {
    pub algorithm: &'a [u8],
    pub curve: Option<&'a [u8]>,
    pub key: &'a [u8],
}

/// Reads one TLV of tag `tag` from the front of `input`: (contents, rest).
fn take(input: &[u8], tag: u8) -> Result<(&[u8], &[u8]), &'static str> {
    let (&found, rest) = input.split_first().ok_or("truncated")?;
    if found != tag {
        return Err("unexpected element");
    }
    let (&first, rest) = rest.split_first().ok_or("truncated")?;
    let (len, rest) = match first {
        0..=0x7F => (usize::from(first), rest),
        0x81..=0x84 => {
            let count = usize::from(first & 0x7F);
            let (bytes, rest) = rest.split_at_checked(count).ok_or("truncated")?;
            let len = bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            // Shortest form only: no leading zero byte, no long form below 128.
            if bytes.first() == Some(&0) || len < 0x80 {
                return Err("length not in DER form");
            }
            (len, rest)
        }
        _ => return Err("length not in DER form"),
    };
    rest.split_at_checked(len).ok_or("truncated")
}

/// The whole of `input` is one element of tag `tag`: its contents.
fn only(input: &[u8], tag: u8) -> Result<&[u8], &'static str> {
    match take(input, tag)? {
        (contents, []) => Ok(contents),
        _ => Err("trailing bytes"),
    }
}

/// A positive INTEGER's magnitude, big-endian without the sign byte.
fn positive_integer(input: &[u8]) -> Result<(&[u8], &[u8]), &'static str> {
    let (value, rest) = take(input, INTEGER)?;
    match value {
        [] => Err("empty INTEGER"),
        [first, ..] if first & 0x80 != 0 => Err("negative INTEGER"),
        [0, second, ..] if second & 0x80 == 0 => Err("INTEGER not in DER form"),
        [0, magnitude @ ..] if !magnitude.is_empty() => Ok((magnitude, rest)),
        _ => Ok((value, rest)),
    }
}

/// Parses a DER SubjectPublicKeyInfo.
pub fn spki(der: &[u8]) -> Result<Spki<'_>, &'static str> {
    let body = only(der, SEQUENCE)?;
    let (algorithm_id, rest) = take(body, SEQUENCE)?;
    let key_bits = only(rest, BIT_STRING)?;
    let (algorithm, params) = take(algorithm_id, OBJECT_IDENTIFIER)?;
    let curve = match params {
        [] => None,
        [NULL, 0] => None,
        params => Some(only(params, OBJECT_IDENTIFIER)?),
    };
    // A key is a whole number of bytes: no unused bits.
    let key = match key_bits.split_first() {
        Some((0, key)) => key,
        _ => return Err("public key bits are not whole bytes"),
    };
    Ok(Spki {
        algorithm,
        curve,
        key,
    })
}

/// Parses PKCS#1 RSAPublicKey: (modulus, exponent), big-endian magnitudes.
pub fn rsa_public_key(der: &[u8]) -> Result<(&[u8], &[u8]), &'static str> {
    let body = only(der, SEQUENCE)?;
    let (n, rest) = positive_integer(body)?;
    let (e, rest) = positive_integer(rest)?;
    if !rest.is_empty() {
        return Err("trailing bytes");
    }
    Ok((n, e))
}

/// An OID in dotted form, for messages ("public key algorithm 1.2.3 is not supported").
pub fn oid_text(oid: &[u8]) -> String {
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    for &byte in oid {
        value = value
            .saturating_mul(128)
            .saturating_add(u64::from(byte & 0x7F));
        if byte & 0x80 == 0 {
            if arcs.is_empty() {
                let first = (value / 40).min(2);
                arcs.push(first);
                arcs.push(value.saturating_sub(first * 40));
            } else {
                arcs.push(value);
            }
            value = 0;
        }
    }
    arcs.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_ed25519_spki_and_refuses_every_truncation() {
        // RFC 8410 §10.1's example key.
        let der = [
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00, 0x19, 0xbf,
            0x44, 0x09, 0x69, 0x84, 0xcd, 0xfe, 0x85, 0x41, 0xba, 0xc1, 0x67, 0xdc, 0x3b, 0x96,
            0xc8, 0x50, 0x86, 0xaa, 0x30, 0xb6, 0xb6, 0xcb, 0x0c, 0x5c, 0x38, 0xad, 0x70, 0x31,
            0x66, 0xe1,
        ];
        let spki = spki(&der).unwrap();
        assert_eq!(spki.algorithm, oid::ED25519);
        assert!(spki.curve.is_none());
        assert_eq!(spki.key.len(), 32);
        for cut in 0..der.len() {
            assert!(super::spki(&der[..cut]).is_err(), "{cut}");
        }
        let mut longer = der.to_vec();
        longer.push(0);
        assert!(super::spki(&longer).is_err(), "trailing byte");
    }

    #[test]
    fn integers_and_lengths_must_be_in_der_form() {
        // SEQUENCE { INTEGER 0x00 0x81, INTEGER 3 }: fine.
        assert_eq!(
            rsa_public_key(&[0x30, 0x07, 0x02, 0x02, 0x00, 0x81, 0x02, 0x01, 0x03]).unwrap(),
            (&[0x81][..], &[0x03][..])
        );
        // A redundant leading zero, a negative number, a long-form short length.
        assert!(rsa_public_key(&[0x30, 0x07, 0x02, 0x02, 0x00, 0x01, 0x02, 0x01, 0x03]).is_err());
        assert!(rsa_public_key(&[0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x03]).is_err());
        assert!(rsa_public_key(&[0x30, 0x81, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x03]).is_err());
    }

    #[test]
    fn oids_print_dotted() {
        assert_eq!(oid_text(oid::RSA), "1.2.840.113549.1.1.1");
        assert_eq!(oid_text(oid::P521), "1.3.132.0.35");
        assert_eq!(oid_text(oid::ED448), "1.3.101.113");
    }
}
