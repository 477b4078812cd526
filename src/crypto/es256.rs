//! ES256 for jwt-compact: the verification itself is the `jwtgate-p256` crate
//! (crates/jwtgate-p256: 28-bit limbs and per-key comb tables, compiled for speed; ~10× faster
//! in wasm than the p256 crate, which now only parses keys).

use std::borrow::Cow;
use std::num::NonZeroUsize;
use std::sync::Arc;

use jwt_compact::{Algorithm, AlgorithmSignature};
pub use jwtgate_p256::P256Key;

/// ES256 behind jwt-compact's `Algorithm`, so keys.rs verifies P-256 like every other family.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FastEs256;

/// r ‖ s, 32 bytes each (RFC 7518 §3.4).
#[derive(Debug, Clone)]
pub struct Es256SignatureBytes([u8; 64]);

impl AlgorithmSignature for Es256SignatureBytes {
    const LENGTH: Option<NonZeroUsize> = NonZeroUsize::new(64);

    fn try_from_slice(slice: &[u8]) -> anyhow::Result<Self> {
        Ok(Es256SignatureBytes(slice.try_into()?))
    }

    fn as_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.0)
    }
}

impl Algorithm for FastEs256 {
    /// Verification only: the filter never signs.
    type SigningKey = std::convert::Infallible;
    /// Shared: a key carries its 20 KiB comb table, built once at configuration time.
    type VerifyingKey = Arc<P256Key>;
    type Signature = Es256SignatureBytes;

    fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed("ES256")
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
        verifying_key.verify_sha256(message, &signature.0)
    }
}
