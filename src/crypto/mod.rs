//! Signature algorithms jwt-compact does not ship, behind its `Algorithm` trait so the token
//! model stays one: ES384 (P-384) and ES512 (P-521) over the RustCrypto curves.

mod ecdsa_nist;

pub use ecdsa_nist::{Es384, Es384Signature, Es512, Es512Signature};
