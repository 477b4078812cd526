//! ES384 and ES512 for `mint` (RFC 7518 §3.4): ECDSA over P-384 with SHA-384 and over P-521 with
//! SHA-512 through the RustCrypto curves (the core verifies with crates/jwtgate-p256),
//! signatures as fixed-length raw `r || s` (96 and 132 bytes), never DER. One definition for
//! both; each curve is a cargo feature (`es384`, `es512`). The curve crates' `Signer` /
//! `Verifier` hash with the curve's JWA hash (their `ecdsa` feature turns on sha384 / sha512).

/// An `Algorithm` and its signature type over one RustCrypto curve crate.
macro_rules! ecdsa_algorithm {
    ($alg:ident, $sig:ident, $curve:ident, $len:expr, $name:literal) => {
        /// A raw `r || s` signature; parsing rejects r or s outside 1..n-1.
        #[derive(Debug, Clone)]
        pub struct $sig($curve::ecdsa::Signature);

        impl jwt_compact::AlgorithmSignature for $sig {
            const LENGTH: Option<std::num::NonZeroUsize> = std::num::NonZeroUsize::new($len);

            fn try_from_slice(slice: &[u8]) -> anyhow::Result<Self> {
                $curve::ecdsa::Signature::from_slice(slice)
                    .map($sig)
                    .map_err(|err| anyhow::anyhow!(err))
            }

            fn as_bytes(&self) -> std::borrow::Cow<'_, [u8]> {
                std::borrow::Cow::Owned(self.0.to_bytes().to_vec())
            }
        }

        #[doc = concat!("`", $name, "`. The filter only verifies; the CLI and tests sign.")]
        #[derive(Debug, Default, Clone, Copy)]
        pub struct $alg;

        impl jwt_compact::Algorithm for $alg {
            type SigningKey = $curve::ecdsa::SigningKey;
            type VerifyingKey = $curve::ecdsa::VerifyingKey;
            type Signature = $sig;

            fn name(&self) -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed($name)
            }

            fn sign(&self, signing_key: &Self::SigningKey, message: &[u8]) -> Self::Signature {
                use $curve::ecdsa::signature::Signer;
                $sig(signing_key.sign(message))
            }

            fn verify_signature(
                &self,
                signature: &Self::Signature,
                verifying_key: &Self::VerifyingKey,
                message: &[u8],
            ) -> bool {
                use $curve::ecdsa::signature::Verifier;
                verifying_key.verify(message, &signature.0).is_ok()
            }
        }
    };
}

#[cfg(feature = "es384")]
ecdsa_algorithm!(Es384, Es384Signature, p384, 96, "ES384");
#[cfg(feature = "es512")]
ecdsa_algorithm!(Es512, Es512Signature, p521, 132, "ES512");

#[cfg(test)]
mod tests {
    use jwt_compact::{Algorithm, AlgorithmSignature};

    #[cfg(feature = "es384")]
    #[test]
    fn es384_round_trip_and_tamper() {
        use super::{Es384, Es384Signature};
        let sk = p384::ecdsa::SigningKey::from_slice(&[7u8; 48]).unwrap();
        let vk = *sk.verifying_key();
        let sig = Es384.sign(&sk, b"msg");
        assert!(Es384.verify_signature(&sig, &vk, b"msg"));
        assert!(!Es384.verify_signature(&sig, &vk, b"msh"));
        assert_eq!(sig.as_bytes().len(), 96);
        assert!(Es384Signature::try_from_slice(&[0u8; 96]).is_err());
    }

    #[cfg(feature = "es512")]
    #[test]
    fn es512_round_trip_and_tamper() {
        use super::{Es512, Es512Signature};
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
