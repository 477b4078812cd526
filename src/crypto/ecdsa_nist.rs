//! ES384 and ES512 (RFC 7518 §3.4): ECDSA over P-384 with SHA-384 and over P-521 with SHA-512,
//! signatures as fixed-length raw `r || s` (96 and 132 bytes), never DER.

use std::borrow::Cow;
use std::num::NonZeroUsize;

use jwt_compact::{Algorithm, AlgorithmSignature};
use p384::ecdsa::signature::{DigestVerifier, Verifier};
use sha2::{Digest, Sha384};

/// An ES384 signature; parsing rejects r or s outside 1..n-1.
#[derive(Debug, Clone)]
pub struct Es384Signature(p384::ecdsa::Signature);

impl AlgorithmSignature for Es384Signature {
    const LENGTH: Option<NonZeroUsize> = NonZeroUsize::new(96);

    fn try_from_slice(slice: &[u8]) -> anyhow::Result<Self> {
        p384::ecdsa::Signature::from_slice(slice)
            .map(Es384Signature)
            .map_err(|err| anyhow::anyhow!(err))
    }

    fn as_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.0.to_bytes().to_vec())
    }
}

/// `ES384`: ECDSA on P-384 with SHA-384. Verification only: jwtgate never signs.
#[derive(Debug, Default, Clone, Copy)]
pub struct Es384;

impl Algorithm for Es384 {
    type SigningKey = p384::ecdsa::SigningKey;
    type VerifyingKey = p384::ecdsa::VerifyingKey;
    type Signature = Es384Signature;

    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed("ES384")
    }

    fn sign(&self, signing_key: &Self::SigningKey, message: &[u8]) -> Self::Signature {
        use p384::ecdsa::signature::DigestSigner;
        Es384Signature(signing_key.sign_digest(Sha384::new_with_prefix(message)))
    }

    fn verify_signature(
        &self,
        signature: &Self::Signature,
        verifying_key: &Self::VerifyingKey,
        message: &[u8],
    ) -> bool {
        verifying_key
            .verify_digest(Sha384::new_with_prefix(message), &signature.0)
            .is_ok()
    }
}

/// An ES512 signature; parsing rejects r or s outside 1..n-1.
#[derive(Debug, Clone)]
pub struct Es512Signature(p521::ecdsa::Signature);

impl AlgorithmSignature for Es512Signature {
    const LENGTH: Option<NonZeroUsize> = NonZeroUsize::new(132);

    fn try_from_slice(slice: &[u8]) -> anyhow::Result<Self> {
        p521::ecdsa::Signature::from_slice(slice)
            .map(Es512Signature)
            .map_err(|err| anyhow::anyhow!(err))
    }

    fn as_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Owned(self.0.to_bytes().to_vec())
    }
}

/// `ES512`: ECDSA on P-521 with SHA-512 (the curve is 521 bits; the name says 512 for the hash).
#[derive(Debug, Default, Clone, Copy)]
pub struct Es512;

impl Algorithm for Es512 {
    type SigningKey = p521::ecdsa::SigningKey;
    type VerifyingKey = p521::ecdsa::VerifyingKey;
    type Signature = Es512Signature;

    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed("ES512")
    }

    fn sign(&self, signing_key: &Self::SigningKey, message: &[u8]) -> Self::Signature {
        use p521::ecdsa::signature::Signer;
        Es512Signature(signing_key.sign(message))
    }

    fn verify_signature(
        &self,
        signature: &Self::Signature,
        verifying_key: &Self::VerifyingKey,
        message: &[u8],
    ) -> bool {
        // p521's Verifier hashes with SHA-512, as RFC 7518 requires for ES512.
        verifying_key.verify(message, &signature.0).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jwt_compact::AlgorithmSignature;

    #[test]
    fn es384_round_trip_and_tamper() {
        let sk = p384::ecdsa::SigningKey::from_slice(&[7u8; 48]).unwrap();
        let vk = *sk.verifying_key();
        let sig = Es384.sign(&sk, b"msg");
        assert!(Es384.verify_signature(&sig, &vk, b"msg"));
        assert!(!Es384.verify_signature(&sig, &vk, b"msh"));
        assert_eq!(sig.as_bytes().len(), 96);
    }

    #[test]
    fn es512_round_trip_and_tamper() {
        let mut raw = [0u8; 66];
        raw[65] = 9;
        let sk = p521::ecdsa::SigningKey::from_slice(&raw).unwrap();
        let vk = p521::ecdsa::VerifyingKey::from(&sk);
        let sig = Es512.sign(&sk, b"msg");
        assert!(Es512.verify_signature(&sig, &vk, b"msg"));
        assert!(!Es512.verify_signature(&sig, &vk, b"msh"));
        assert_eq!(sig.as_bytes().len(), 132);
    }

    #[test]
    fn zero_r_s_is_not_a_signature() {
        assert!(Es384Signature::try_from_slice(&[0u8; 96]).is_err());
        assert!(Es512Signature::try_from_slice(&[0u8; 132]).is_err());
    }
}
