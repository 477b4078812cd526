//! ES512 (RFC 7518 §3.4): ECDSA over P-521 with SHA-512, signatures as fixed-length raw
//! `r || s` (132 bytes), never DER. Cargo feature `es512`.

use std::borrow::Cow;
use std::num::NonZeroUsize;

use jwt_compact::{Algorithm, AlgorithmSignature};
use p521::ecdsa::signature::Verifier;

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
        assert!(Es512Signature::try_from_slice(&[0u8; 132]).is_err());
    }
}
