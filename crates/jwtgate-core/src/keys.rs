//! Verification keys from the configuration: HMAC secrets, PEM public keys and JWKs. A key knows
//! its family and, when configured, its exact algorithm; the token's `alg` can only pick among
//! what the key allows.

use base64::Engine;
use ed25519_dalek::Verifier;
use hmac::{Hmac, Mac};
use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value};

use super::algorithm::{Alg, Family};
use super::der::{self, oid};
use super::token::b64url_decode;
#[cfg(feature = "es384")]
use crate::crypto::P384Key;
#[cfg(feature = "es512")]
use crate::crypto::P521Key;
use crate::crypto::{Hash, P256Key, RsaKey};

/// HMAC-`$hash` of `message` under `secret` compared with `signature` in constant time; a
/// signature of another length than the hash output fails.
macro_rules! hmac_matches {
    ($hash:ty, $secret:expr, $message:expr, $signature:expr) => {
        <Hmac<$hash> as hmac::digest::KeyInit>::new_from_slice($secret).is_ok_and(|mut mac| {
            mac.update($message);
            mac.verify_slice($signature).is_ok()
        })
    };
}

/// Most keys used from one JWKS (remote: further members are skipped and reported) and
/// configured for one provider (a configuration error beyond it).
pub const MAX_KEYS_PER_JWKS: usize = 64;

/// The members of a JWKS document: its `keys` array, or a single JWK as a one-key set (as Envoy
/// accepts).
pub fn jwks_members(jwks: &Value) -> Result<Vec<Value>, &'static str> {
    match jwks {
        Value::Object(map) => match map.get("keys") {
            Some(Value::Array(list)) => Ok(list.clone()),
            None if map.contains_key("kty") => Ok(vec![jwks.clone()]),
            _ => Err("a JWKS needs a `keys` array"),
        },
        _ => Err("a JWKS must be a JSON object"),
    }
}

/// A key of a family this build leaves out (cargo features `es384`, `es512`).
#[cfg(not(all(feature = "es384", feature = "es512")))]
const NOT_BUILT_IN: &str = "{} support is not compiled into this jwtgate build (cargo feature)";

/// One verification key.
#[derive(Clone)]
pub struct Key {
    pub kid: Option<String>,
    /// The exact algorithm, when the configuration or the JWK names one.
    pub alg: Option<Alg>,
    material: Material,
}

#[derive(Clone)]
enum Material {
    Hmac(Vec<u8>),
    Rsa(Box<RsaKey>),
    P256(Arc<LazyEc<P256Key>>),
    #[cfg(feature = "es384")]
    P384(Arc<LazyEc<P384Key>>),
    #[cfg(feature = "es512")]
    P521(Arc<LazyEc<P521Key>>),
    Ed25519(ed25519_dalek::VerifyingKey),
}

impl std::fmt::Debug for Key {
    // Never print key material (HMAC secrets) into logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("alg", &self.alg.map(Alg::name))
            .field("family", &self.family())
            .finish()
    }
}

/// How an inline HMAC secret is written in the configuration (the seeds' `auth_jwt_key` forms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(rename_all = "lowercase"))]
pub enum SecretEncoding {
    Utf8,
    Hex,
    Base64,
    Base64url,
}

impl Key {
    pub fn family(&self) -> Family {
        match self.material {
            Material::Hmac(_) => Family::Hmac,
            Material::Rsa(_) => Family::Rsa,
            Material::P256(_) => Family::P256,
            #[cfg(feature = "es384")]
            Material::P384(_) => Family::P384,
            #[cfg(feature = "es512")]
            Material::P521(_) => Family::P521,
            Material::Ed25519(_) => Family::Ed25519,
        }
    }

    /// Whether a token signed with `alg` may be checked with this key.
    pub fn allows(&self, alg: Alg) -> bool {
        if alg.family() != self.family() || self.alg.is_some_and(|own| own != alg) {
            return false;
        }
        match &self.material {
            Material::Hmac(secret) => secret.len() >= alg.min_hmac_secret_len(),
            _ => true,
        }
    }

    /// Verifies `signature` over `signing_input` (`header.payload` as sent). Callers check
    /// `allows(alg)` first; a mismatched pair simply fails.
    pub fn verify(&self, alg: Alg, signing_input: &[u8], signature: &[u8]) -> bool {
        if !self.allows(alg) {
            return false;
        }
        match (&self.material, alg) {
            (Material::Hmac(secret), Alg::Hs256) => {
                hmac_matches!(sha2::Sha256, secret, signing_input, signature)
            }
            (Material::Hmac(secret), Alg::Hs384) => {
                hmac_matches!(sha2::Sha384, secret, signing_input, signature)
            }
            (Material::Hmac(secret), Alg::Hs512) => {
                hmac_matches!(sha2::Sha512, secret, signing_input, signature)
            }
            // Our own verifiers (crates/jwtgate-rsa, crates/jwtgate-p256) are called directly:
            // they refuse signatures of the wrong length themselves.
            (Material::Rsa(key), _) => {
                let (hash, pss) = match alg {
                    Alg::Rs256 => (Hash::Sha256, false),
                    Alg::Rs384 => (Hash::Sha384, false),
                    Alg::Rs512 => (Hash::Sha512, false),
                    Alg::Ps256 => (Hash::Sha256, true),
                    Alg::Ps384 => (Hash::Sha384, true),
                    Alg::Ps512 => (Hash::Sha512, true),
                    _ => return false,
                };
                if pss {
                    key.verify_pss(hash, signing_input, signature)
                } else {
                    key.verify_pkcs1v15(hash, signing_input, signature)
                }
            }
            (Material::P256(key), Alg::Es256) => key.verify(signing_input, signature),
            #[cfg(feature = "es384")]
            (Material::P384(key), Alg::Es384) => key.verify(signing_input, signature),
            #[cfg(feature = "es512")]
            (Material::P521(key), Alg::Es512) => key.verify(signing_input, signature),
            (Material::Ed25519(key), Alg::EdDsa) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|sig| key.verify(signing_input, &sig).is_ok()),
            _ => false,
        }
    }

    /// An inline HMAC secret (extension: the seeds' `auth_jwt_key` + `auth_jwt_alg`).
    pub fn from_secret(
        kid: Option<String>,
        alg: Alg,
        secret: &str,
        encoding: SecretEncoding,
    ) -> Result<Key, String> {
        if alg.family() != Family::Hmac {
            return Err(format!(
                "alg {} needs a public key (`pem`), not a `secret`",
                alg.name()
            ));
        }
        let bytes = match encoding {
            SecretEncoding::Utf8 => secret.as_bytes().to_vec(),
            SecretEncoding::Hex => decode_hex(secret).ok_or("secret is not valid hex")?,
            SecretEncoding::Base64 => base64::engine::general_purpose::STANDARD
                .decode(secret.trim())
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(secret.trim()))
                .map_err(|_| "secret is not valid base64")?,
            SecretEncoding::Base64url => base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(secret.trim().trim_end_matches('='))
                .map_err(|_| "secret is not valid base64url")?,
        };
        hmac_key(kid, Some(alg), bytes)
    }

    /// A PEM public key: SPKI (`BEGIN PUBLIC KEY`: RSA, P-256, P-384, P-521 or Ed25519) or
    /// PKCS#1 (`BEGIN RSA PUBLIC KEY`). `alg`, when given, must fit the key.
    pub fn from_pem(kid: Option<String>, alg: Option<Alg>, pem: &str) -> Result<Key, String> {
        let pem = pem.trim();
        if pem.contains("PRIVATE KEY") {
            return Err("a private key was given; configure the public key".into());
        }
        if pem.contains("BEGIN CERTIFICATE") {
            return Err("certificates are not supported; configure the public key PEM".into());
        }
        let material = if pem.starts_with("-----BEGIN RSA PUBLIC KEY-----") {
            let der = pem_body(pem, "RSA PUBLIC KEY")?;
            let (n, e) = der::rsa_public_key(&der).map_err(|e| format!("bad PKCS#1 PEM: {e}"))?;
            rsa_material(n, e)?
        } else if pem.starts_with("-----BEGIN PUBLIC KEY-----") {
            spki_material(pem)?
        } else if pem.starts_with("-----BEGIN ") {
            return Err(format!(
                "PEM: `{}` is not a public key (expected -----BEGIN PUBLIC KEY-----)",
                pem.lines()
                    .next()
                    .unwrap_or_default()
                    .trim_matches('-')
                    .trim_start_matches("BEGIN ")
            ));
        } else {
            return Err(
                "not a PEM block: the text must start with -----BEGIN PUBLIC KEY-----".into(),
            );
        };
        finish(kid, alg, material)
    }

    /// One JWK from a JWKS. `Ok(None)`: a key jwtgate does not use (encryption keys, other
    /// curves, unknown algorithms), skipped so the rest of the set still works.
    pub fn from_jwk(jwk: &Map<String, Value>) -> Result<Option<Key>, String> {
        let text = |name: &str| -> Result<Option<&str>, String> {
            match jwk.get(name) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(_) => Err(format!("`{name}` must be a string")),
            }
        };
        let bytes = |name: &str| -> Result<Vec<u8>, String> {
            let s = text(name)?.ok_or_else(|| format!("`{name}` is missing"))?;
            // Configuration is trusted input: tolerate the padding some JWKS writers add.
            b64url_decode(s.trim_end_matches('='))
                .ok_or_else(|| format!("`{name}` is not base64url"))
        };
        let kid = text("kid")?.map(str::to_owned);
        text("use")?; // a string when present
        if jwk_not_for_signatures(jwk) {
            return Ok(None);
        }
        let alg = match text("alg")? {
            None => None,
            Some(name) => match Alg::from_name(name) {
                Some(alg) => Some(alg),
                None => return Ok(None),
            },
        };
        let kty = text("kty")?.ok_or("`kty` is missing")?;
        if jwk_has_private_members(jwk) {
            return Err("contains private key material; publish only public keys".into());
        }
        let material = match kty {
            "oct" => return hmac_key(kid, alg, bytes("k")?).map(Some),
            "RSA" => rsa_material(&bytes("n")?, &bytes("e")?)?,
            "EC" => {
                let (x, y) = (bytes("x")?, bytes("y")?);
                // RFC 7518 §6.2.1.2 wants full-length coordinates; some writers drop leading
                // zero bytes, so shorter ones are left-padded (longer ones are refused).
                let point = |len: usize, name: &str| {
                    let pad = |v: &[u8]| -> Option<Vec<u8>> {
                        let zeros = len.checked_sub(v.len()).filter(|_| !v.is_empty())?;
                        Some([vec![0; zeros], v.to_vec()].concat())
                    };
                    match (pad(&x), pad(&y)) {
                        (Some(x), Some(y)) => Ok((x, y)),
                        _ => Err(format!("x/y is not a {name} point")),
                    }
                };
                match text("crv")? {
                    Some("P-256") => {
                        let (x, y) = point(32, "P-256")?;
                        Material::P256(LazyEc::new(x, y, "P-256")?)
                    }
                    #[cfg(feature = "es384")]
                    Some("P-384") => {
                        let (x, y) = point(48, "P-384")?;
                        Material::P384(LazyEc::new(x, y, "P-384")?)
                    }
                    #[cfg(feature = "es512")]
                    Some("P-521") => {
                        let (x, y) = point(66, "P-521")?;
                        Material::P521(LazyEc::new(x, y, "P-521")?)
                    }
                    #[cfg(not(feature = "es384"))]
                    Some("P-384") => return Err(NOT_BUILT_IN.replace("{}", "ES384")),
                    #[cfg(not(feature = "es512"))]
                    Some("P-521") => return Err(NOT_BUILT_IN.replace("{}", "ES512")),
                    // RFC 7518 §6.2.1.1: `crv` is required; the curve is not guessed from `alg`.
                    None => return Err("`crv` is missing".into()),
                    _ => return Ok(None),
                }
            }
            "OKP" => match text("crv")? {
                Some("Ed25519") => Material::Ed25519(ed25519_key(&bytes("x")?)?),
                // RFC 8037 §2: `crv` is required.
                None => return Err("`crv` is missing".into()),
                _ => return Ok(None),
            },
            _ => return Ok(None),
        };
        finish(kid, alg, material).map(Some)
    }
}

/// Whether a JWK says it is not for verifying signatures: `use` other than `sig`, or `key_ops`
/// without `verify`. Such members are skipped silently: a JWKS may publish encryption keys.
pub fn jwk_not_for_signatures(jwk: &Map<String, Value>) -> bool {
    let not_sig = jwk
        .get("use")
        .and_then(Value::as_str)
        .is_some_and(|u| u != "sig");
    let no_verify = match jwk.get("key_ops") {
        Some(Value::Array(ops)) => !ops.iter().any(|op| op == "verify"),
        _ => false,
    };
    not_sig || no_verify
}

/// Whether an asymmetric JWK carries private key members (`d`, `p`, `q`, `dp`, `dq`, `qi`).
pub fn jwk_has_private_members(jwk: &Map<String, Value>) -> bool {
    jwk.get("kty").and_then(Value::as_str) != Some("oct")
        && ["d", "p", "q", "dp", "dq", "qi"]
            .iter()
            .any(|f| jwk.contains_key(*f))
}

fn hmac_key(kid: Option<String>, alg: Option<Alg>, secret: Vec<u8>) -> Result<Key, String> {
    let min = match alg {
        Some(alg) if alg.family() != Family::Hmac => {
            return Err(format!("alg {} does not fit an HMAC secret", alg.name()))
        }
        Some(alg) => alg.min_hmac_secret_len(),
        None => Alg::Hs256.min_hmac_secret_len(),
    };
    if secret.len() < min {
        return Err(format!(
            "HMAC secret is {} bytes; at least {min} are required for {}",
            secret.len(),
            alg.map_or("HS256", Alg::name)
        ));
    }
    Ok(Key {
        kid,
        alg,
        material: Material::Hmac(secret),
    })
}

fn finish(kid: Option<String>, alg: Option<Alg>, material: Material) -> Result<Key, String> {
    let key = Key {
        kid,
        alg: None,
        material,
    };
    if let Some(alg) = alg {
        if alg.family() != key.family() {
            return Err(format!(
                "alg {} does not fit this key ({})",
                alg.name(),
                family_name(key.family())
            ));
        }
    }
    Ok(Key { alg, ..key })
}

/// An RSA key from its modulus and exponent (big-endian, from DER or a JWK's n/e):
/// `crypto::RsaKey` (crates/jwtgate-rsa) checks and verifies.
fn rsa_material(n: &[u8], e: &[u8]) -> Result<Material, String> {
    // RFC 7518 §3.3 asks for at least 2048 bits; the verifier's bounds are the one rule.
    let n_start = n.iter().position(|&b| b != 0).unwrap_or(n.len());
    let n = n.get(n_start..).unwrap_or_default();
    let bits = n
        .first()
        .map_or(0, |&top| 8 * n.len() - top.leading_zeros() as usize);
    if !(jwtgate_rsa::MIN_BITS..=jwtgate_rsa::MAX_BITS).contains(&bits) {
        return Err(format!(
            "RSA modulus is {bits} bits; {} to {} are accepted",
            jwtgate_rsa::MIN_BITS,
            jwtgate_rsa::MAX_BITS
        ));
    }
    RsaKey::new(n, e)
        .map(|k| Material::Rsa(Box::new(k)))
        .map_err(|e| format!("bad RSA key: {e}"))
}

/// The curve verifiers of crates/jwtgate-p256, as [`LazyEc`] uses them.
pub trait EcKey: Sized {
    fn check(x: &[u8], y: &[u8]) -> Result<(), &'static str>;
    fn build(x: &[u8], y: &[u8]) -> Result<Self, &'static str>;
    /// ECDSA with the curve's JWA hash over `message`; `signature` is r ‖ s.
    fn verify(&self, message: &[u8], signature: &[u8]) -> bool;
}

macro_rules! ec_key {
    ($key:ty, $verify:ident) => {
        impl EcKey for $key {
            fn check(x: &[u8], y: &[u8]) -> Result<(), &'static str> {
                <$key>::check_coordinates(x, y)
            }
            fn build(x: &[u8], y: &[u8]) -> Result<Self, &'static str> {
                <$key>::from_coordinates(x, y)
            }
            fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
                self.$verify(message, signature)
            }
        }
    };
}
ec_key!(P256Key, verify_sha256);
#[cfg(feature = "es384")]
ec_key!(P384Key, verify_sha384);
#[cfg(feature = "es512")]
ec_key!(P521Key, verify_sha512);

/// An EC key whose verifier (with its comb table: ~20, 28, 38 KiB for P-256, P-384, P-521) is
/// built on first use, not when the key is loaded: a JWKS of many keys costs only the keys
/// tokens actually name. The point is checked when the key loads. Shared by clones of the key
/// (`Arc`), built at most once.
pub struct LazyEc<K> {
    x: Vec<u8>,
    y: Vec<u8>,
    key: OnceLock<Option<K>>,
}

impl<K: EcKey> LazyEc<K> {
    fn new(x: Vec<u8>, y: Vec<u8>, curve: &str) -> Result<Arc<Self>, String> {
        K::check(&x, &y).map_err(|e| format!("{curve} key: {e}"))?;
        Ok(Arc::new(LazyEc {
            x,
            y,
            key: OnceLock::new(),
        }))
    }

    /// Verifies with the key, building it on first use (`None`: refused, which the check at
    /// load makes unreachable).
    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.key
            .get_or_init(|| K::build(&self.x, &self.y).ok())
            .as_ref()
            .is_some_and(|key| key.verify(message, signature))
    }

    /// Whether the comb table has been built (for tests and metrics).
    pub fn is_built(&self) -> bool {
        self.key.get().is_some()
    }
}

impl Key {
    /// Whether this key's precomputed verifier exists yet: always for keys without one, and
    /// for EC keys once a token has been checked with them.
    pub fn verifier_built(&self) -> bool {
        match &self.material {
            Material::P256(key) => key.is_built(),
            #[cfg(feature = "es384")]
            Material::P384(key) => key.is_built(),
            #[cfg(feature = "es512")]
            Material::P521(key) => key.is_built(),
            _ => true,
        }
    }
}

/// An EC key from SEC1's uncompressed 04 ‖ x ‖ y (the form every JOSE and PEM writer uses).
fn sec1<K: EcKey>(point: &[u8], len: usize, curve: &str) -> Result<Arc<LazyEc<K>>, String> {
    match point.split_first() {
        Some((4, xy)) if xy.len() == 2 * len => {
            let (x, y) = xy.split_at(len);
            LazyEc::new(x.to_vec(), y.to_vec(), curve)
        }
        Some((2 | 3, _)) => Err(format!(
            "{curve} public key is compressed; configure the uncompressed point (04 ‖ x ‖ y)"
        )),
        _ => Err(format!("EC public key is not a valid point on {curve}")),
    }
}

/// How a key family is named in messages ("alg RS256 does not fit this key (EC P-256)").
fn family_name(family: Family) -> &'static str {
    match family {
        Family::Hmac => "HMAC secret",
        Family::Rsa => "RSA",
        Family::P256 => "EC P-256",
        Family::P384 => "EC P-384",
        Family::P521 => "EC P-521",
        Family::Ed25519 => "OKP Ed25519",
    }
}

/// The DER body of a PEM block labelled `label`, with errors that say what is wrong and where:
/// a missing END line, a line that is not base64 (numbered from the BEGIN line, 1), text after
/// the block.
fn pem_body(pem: &str, label: &str) -> Result<Vec<u8>, String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut body = String::new();
    let mut ended = false;
    for (i, line) in pem.lines().enumerate() {
        let line = line.trim();
        let number = i + 1;
        if i == 0 {
            if line != begin {
                return Err(format!("PEM: line 1 is not {begin}"));
            }
        } else if ended {
            if !line.is_empty() {
                return Err(format!("PEM: text after {end} at line {number}"));
            }
        } else if line == end {
            ended = true;
        } else if line.starts_with("-----") {
            return Err(format!("PEM: line {number} is {line:?}, expected {end}"));
        } else if line.contains(':') {
            return Err(format!(
                "PEM: line {number} is a header (encrypted or legacy PEM is not supported)"
            ));
        } else if let Some(bad) = line
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '+' || *c == '/' || *c == '='))
        {
            return Err(format!(
                "PEM: not valid base64 at line {number} (character {bad:?})"
            ));
        } else {
            body.push_str(line);
        }
    }
    if !ended {
        return Err(format!("PEM: no {end} line"));
    }
    if body.is_empty() {
        return Err("PEM: the block is empty".into());
    }
    base64::engine::general_purpose::STANDARD
        .decode(&body)
        .map_err(|_| "PEM: the base64 body is truncated or badly padded".to_string())
}

/// A `BEGIN PUBLIC KEY` block: its SubjectPublicKeyInfo decides the family; the key must be one
/// jwtgate verifies, and the message says why not.
fn spki_material(pem: &str) -> Result<Material, String> {
    let der = pem_body(pem, "PUBLIC KEY")?;
    let spki = der::spki(&der)
        .map_err(|_| "PEM: the body is not a DER SubjectPublicKeyInfo (BEGIN PUBLIC KEY)")?;
    match (spki.algorithm, spki.curve) {
        (oid::RSA, _) => {
            let (n, e) = der::rsa_public_key(spki.key)
                .map_err(|e| format!("RSA public key could not be read: {e}"))?;
            rsa_material(n, e)
        }
        (oid::EC, Some(oid::P256)) => sec1(spki.key, 32, "P-256").map(Material::P256),
        #[cfg(feature = "es384")]
        (oid::EC, Some(oid::P384)) => sec1(spki.key, 48, "P-384").map(Material::P384),
        #[cfg(feature = "es512")]
        (oid::EC, Some(oid::P521)) => sec1(spki.key, 66, "P-521").map(Material::P521),
        #[cfg(not(feature = "es384"))]
        (oid::EC, Some(oid::P384)) => Err(NOT_BUILT_IN.replace("{}", "ES384")),
        #[cfg(not(feature = "es512"))]
        (oid::EC, Some(oid::P521)) => Err(NOT_BUILT_IN.replace("{}", "ES512")),
        (oid::EC, Some(oid::SECP256K1)) => {
            Err("EC key on secp256k1 (ES256K) is not supported: use P-256, P-384 or P-521".into())
        }
        (oid::EC, Some(curve)) => Err(format!(
            "EC key on curve {} is not supported: use P-256, P-384 or P-521",
            der::oid_text(curve)
        )),
        (oid::EC, None) => Err("EC public key without a named curve".into()),
        (oid::ED25519, _) => ed25519_key(spki.key).map(Material::Ed25519),
        (oid::ED448, _) => Err("Ed448 keys are not supported: use Ed25519".into()),
        (other, _) => Err(format!(
            "public key algorithm {} is not supported: use RSA, EC P-256/P-384/P-521 or Ed25519",
            der::oid_text(other)
        )),
    }
}

fn ed25519_key(x: &[u8]) -> Result<ed25519_dalek::VerifyingKey, String> {
    let bytes: [u8; 32] = x.try_into().map_err(|_| "Ed25519 key must be 32 bytes")?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
        .map_err(|_| "not an Ed25519 point".to_string())?;
    if key.is_weak() {
        return Err("Ed25519 key is a small-order point".into());
    }
    Ok(key)
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.as_bytes()
        .chunks(2)
        .map(|pair| {
            let text = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(text, 16).ok()
        })
        .collect()
}
