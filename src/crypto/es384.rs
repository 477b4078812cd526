//! ES384 (RFC 7518 §3.4): ECDSA over P-384 with SHA-384, signatures as fixed-length raw
//! `r || s` (96 bytes), never DER. Cargo feature `es384`.

use std::borrow::Cow;
use std::num::NonZeroUsize;

use jwt_compact::{Algorithm, AlgorithmSignature};
use p384::ecdsa::signature::DigestVerifier;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn es384_round_trip_and_tamper() {
        let sk = p384::ecdsa::SigningKey::from_slice(&[7u8; 48]).unwrap();
        let vk = *sk.verifying_key();
        let sig = Es384.sign(&sk, b"msg");
        assert!(Es384.verify_signature(&sig, &vk, b"msg"));
        assert!(!Es384.verify_signature(&sig, &vk, b"msh"));
        assert_eq!(sig.as_bytes().len(), 96);
        assert!(Es384Signature::try_from_slice(&[0u8; 96]).is_err());
    }
}
