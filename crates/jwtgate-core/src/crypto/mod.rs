//! The verifiers written for wasm, which keys.rs calls directly: RS*/PS* (`RsaKey`,
//! crates/jwtgate-rsa) and ES256/ES384/ES512 (`P256Key`, `P384Key`, `P521Key`,
//! crates/jwtgate-p256). The bignum and curve crates are shaped for native 64-bit CPUs and were
//! ~10–40× slower inside wasm (README, "Size and speed"). ES384 and ES512 are cargo features
//! (`es384`, `es512`, on by default).

pub use jwtgate_p256::{P256Key, P384Key, P521Key};
pub use jwtgate_rsa::{Hash, RsaKey};
