//! Deterministic signing keys for every family and tokens signed with them, made with
//! jwt-compact and the RustCrypto crates (never jwtgate's own code): the decision tables that
//! need every algorithm (`core_decisions.rs`, `envoy_compat.rs`) include this file.
#![allow(dead_code)]

use jwt_compact::Algorithm;
use rsa::pkcs8::DecodePrivateKey;
use serde_json::{json, Value};

use crate::common::b64;

/// The HS256 secret (32 bytes, the least jwtgate accepts).
pub const HS256_SECRET: &str = "0123456789abcdef0123456789abcdef";

/// Signing keys for every family (and a second P-256 and Ed25519 key).
pub struct Keys {
    pub rsa: rsa::RsaPrivateKey,
    pub p256: p256::ecdsa::SigningKey,
    pub p256_other: p256::ecdsa::SigningKey,
    pub p384: p384::ecdsa::SigningKey,
    pub p521: p521::ecdsa::SigningKey,
    pub ed25519: ed25519_dalek::SigningKey,
    pub ed25519_other: ed25519_dalek::SigningKey,
}

/// Deterministic keys made from `seed` (one table, one seed); the RSA key is the fixture's.
pub fn keys_from(seed: u8) -> Keys {
    let mut p521_raw = [0u8; 66];
    p521_raw[65] = seed.wrapping_add(3);
    Keys {
        rsa: rsa::RsaPrivateKey::from_pkcs8_pem(include_str!("../fixtures/rsa2048-test-only.pem"))
            .unwrap(),
        p256: p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap(),
        p256_other: p256::ecdsa::SigningKey::from_slice(&[seed.wrapping_add(1); 32]).unwrap(),
        p384: p384::ecdsa::SigningKey::from_slice(&[seed.wrapping_add(2); 48]).unwrap(),
        p521: p521::ecdsa::SigningKey::from_slice(&p521_raw).unwrap(),
        ed25519: ed25519_dalek::SigningKey::from_bytes(&[seed.wrapping_add(4); 32]),
        ed25519_other: ed25519_dalek::SigningKey::from_bytes(&[seed.wrapping_add(5); 32]),
    }
}

/// The HMAC secret of `alg` (at least its hash length, as jwtgate requires).
pub fn hs_secret(alg: &str) -> Vec<u8> {
    match alg {
        "HS384" => vec![b'x'; 48],
        "HS512" => vec![b'y'; 64],
        _ => HS256_SECRET.as_bytes().to_vec(),
    }
}

impl Keys {
    /// The public JWK (members `kty`, `crv`, key material only) of the key that signs `alg`.
    pub fn jwk(&self, alg: &str) -> Value {
        use rsa::traits::PublicKeyParts;
        let ec = |crv: &str, x: &[u8], y: &[u8]| json!({"kty": "EC", "crv": crv, "x": b64(x), "y": b64(y)});
        match alg {
            "ES256" => {
                let p = self.p256.verifying_key().to_encoded_point(false);
                ec("P-256", p.x().unwrap(), p.y().unwrap())
            }
            "ES256-other" => {
                let p = self.p256_other.verifying_key().to_encoded_point(false);
                ec("P-256", p.x().unwrap(), p.y().unwrap())
            }
            "ES384" => {
                let p = self.p384.verifying_key().to_encoded_point(false);
                ec("P-384", p.x().unwrap(), p.y().unwrap())
            }
            "ES512" => {
                let p = p521::ecdsa::VerifyingKey::from(&self.p521).to_encoded_point(false);
                ec("P-521", p.x().unwrap(), p.y().unwrap())
            }
            "EdDSA" => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(self.ed25519.verifying_key().as_bytes())})
            }
            _ if alg.starts_with("HS") => json!({"kty": "oct", "k": b64(&hs_secret(alg))}),
            _ => json!({
                "kty": "RSA",
                "n": b64(&self.rsa.n().to_bytes_be()),
                "e": b64(&self.rsa.e().to_bytes_be()),
            }),
        }
    }

    /// The JWK of `alg`'s key with these extra members.
    pub fn jwk_with(&self, alg: &str, extra: Value) -> Value {
        let mut jwk = self.jwk(alg);
        for (k, v) in extra.as_object().unwrap() {
            jwk[k] = v.clone();
        }
        jwk
    }

    pub fn sign(&self, alg: &str, message: &[u8]) -> Vec<u8> {
        use jwt_compact::alg::*;
        use jwt_compact::AlgorithmSignature;
        match alg {
            "HS256" => Hs256
                .sign(&Hs256Key::new(hs_secret(alg)), message)
                .as_bytes()
                .to_vec(),
            "HS384" => Hs384
                .sign(&Hs384Key::new(hs_secret(alg)), message)
                .as_bytes()
                .to_vec(),
            "HS512" => Hs512
                .sign(&Hs512Key::new(hs_secret(alg)), message)
                .as_bytes()
                .to_vec(),
            "ES256" => Es256.sign(&self.p256, message).as_bytes().to_vec(),
            "ES384" => {
                let sig: p384::ecdsa::Signature = signature::Signer::sign(&self.p384, message);
                sig.to_bytes().to_vec()
            }
            "ES512" => {
                let sig: p521::ecdsa::Signature = signature::Signer::sign(&self.p521, message);
                sig.to_bytes().to_vec()
            }
            "EdDSA" => Ed25519.sign(&self.ed25519, message).as_bytes().to_vec(),
            "EdDSA-other" => Ed25519
                .sign(&self.ed25519_other, message)
                .as_bytes()
                .to_vec(),
            rsa_alg => Rsa::with_name(rsa_alg)
                .sign(&self.rsa, message)
                .as_bytes()
                .to_vec(),
        }
    }

    /// A token signed for `alg` (the key `sign_as` names: `EdDSA-other` signs with another
    /// Ed25519 key) with this header (`alg` added) and these claims.
    pub fn token_as(&self, alg: &str, sign_as: &str, header: Value, claims: Value) -> String {
        let mut header = header;
        header["alg"] = json!(alg);
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig = self.sign(sign_as, input.as_bytes());
        format!("{input}.{}", b64(&sig))
    }

    pub fn token(&self, alg: &str, header: Value, claims: Value) -> String {
        self.token_as(alg, alg, header, claims)
    }

    /// A token over this exact header and claims text, signed by `sign_alg`'s key.
    pub fn token_raw(&self, sign_alg: &str, header: &str, claims: &str) -> String {
        let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
        let sig = self.sign(sign_alg, input.as_bytes());
        format!("{input}.{}", b64(&sig))
    }
}
