//! RS256/384/512 and PS256/384/512 for jwt-compact: the verification itself is the
//! `jwtgate-rsa` crate (crates/jwtgate-rsa: 28-bit limbs and SIMD128 for wasm, compiled for
//! speed; the `rsa` crate now only parses keys).

use std::borrow::Cow;
use std::num::NonZeroUsize;

use jwt_compact::{Algorithm, AlgorithmSignature};
pub use jwtgate_rsa::{Hash, RsaKey};

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
