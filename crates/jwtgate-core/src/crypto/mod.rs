//! Signature algorithms beyond jwt-compact's: ES384 (P-384) and ES512 (P-521) over the
//! RustCrypto curves, behind jwt-compact's `Algorithm` trait (the CLI signs with them too), each
//! a cargo feature (`es384`, `es512`, on by default; together about a fifth of the `.wasm`);
//! and the verifiers written for wasm, which keys.rs calls directly: RS*/PS* (`RsaKey`,
//! crates/jwtgate-rsa) and ES256 (`P256Key`, crates/jwtgate-p256). The bignum and curve crates
//! are shaped for native 64-bit CPUs and were ~10× slower inside wasm (README, "Size and speed").

#[cfg(any(feature = "es384", feature = "es512"))]
mod ecdsa_nist;

#[cfg(feature = "es384")]
pub use ecdsa_nist::{Es384, Es384Signature};
#[cfg(feature = "es512")]
pub use ecdsa_nist::{Es512, Es512Signature};
pub use jwtgate_p256::P256Key;
pub use jwtgate_rsa::{Hash, RsaKey};
