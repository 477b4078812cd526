//! Signature algorithms jwt-compact does not ship, behind its `Algorithm` trait so the token
//! model stays one: ES384 (P-384) and ES512 (P-521) over the RustCrypto curves, and RSA and
//! P-256 verification written for wasm (RS*/PS*, `rsa_verify`; ES256, `es256`). Each is a cargo
//! feature (`es384`, `es512`, on by default): together they are about a fifth of the `.wasm`.

mod es256;
#[cfg(feature = "es384")]
mod es384;
#[cfg(feature = "es512")]
mod es512;
mod rsa_verify;

pub use es256::{Es256SignatureBytes, FastEs256, P256Key};
#[cfg(feature = "es384")]
pub use es384::{Es384, Es384Signature};
#[cfg(feature = "es512")]
pub use es512::{Es512, Es512Signature};
pub use rsa_verify::{FastRsa, Hash, RsaKey};
