//! Signature algorithms jwt-compact does not ship, behind its `Algorithm` trait so the token
//! model stays one: ES384 (P-384) and ES512 (P-521) over the RustCrypto curves, and RSA
//! verification written for wasm (RS*/PS*, `rsa_verify`). Each is a cargo
//! feature (`es384`, `es512`, on by default): together they are about a fifth of the `.wasm`.

#[cfg(feature = "es384")]
mod es384;
#[cfg(feature = "es512")]
mod es512;
mod rsa_verify;

#[cfg(feature = "es384")]
pub use es384::{Es384, Es384Signature};
#[cfg(feature = "es512")]
pub use es512::{Es512, Es512Signature};
pub use rsa_verify::{FastRsa, Hash, RsaKey};
