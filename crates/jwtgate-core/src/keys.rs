//! Verification keys from the configuration: HMAC secrets, PEM public keys and JWKs. A key knows
//! its family and, when configured, its exact algorithm; the token's `alg` can only pick among
//! what the key allows.

use base64::Engine;
use jwt_compact::alg::{Ed25519, Hs256, Hs256Key, Hs384, Hs384Key, Hs512, Hs512Key, RsaPublicKey};
use jwt_compact::{Algorithm, AlgorithmSignature};
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::traits::PublicKeyParts;
use serde_json::{Map, Value};

use super::algorithm::{Alg, Family};
use super::token::b64url_decode;
#[cfg(feature = "es384")]
use crate::crypto::Es384;
#[cfg(feature = "es512")]
use crate::crypto::Es512;
use crate::crypto::{Hash, P256Key, RsaKey};

/// An EC verifying key from JWK coordinates; the point must be on the curve.
/// RFC 7518 §6.2.1.2 wants full-length coordinates; some writers drop leading zero bytes, so
/// shorter ones are left-padded (longer ones are refused).
macro_rules! ec_key {
    ($curve:ident, $x:expr, $y:expr, $len:expr) => {{
        let pad = |v: &[u8]| -> Option<$curve::FieldBytes> {
            let zeros = usize::checked_sub($len, v.len()).filter(|_| !v.is_empty())?;
            let mut out = $curve::FieldBytes::default();
            for (dst, src) in out.iter_mut().skip(zeros).zip(v) {
                *dst = *src;
            }
            Some(out)
        };
        match (pad($x), pad($y)) {
            (Some(fx), Some(fy)) => {
                let point = $curve::EncodedPoint::from_affine_coordinates(&fx, &fy, false);
                $curve::ecdsa::VerifyingKey::from_encoded_point(&point).ok()
            }
            _ => None,
        }
    }};
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
    P256(std::sync::Arc<LazyP256>),
    #[cfg(feature = "es384")]
    P384(p384::ecdsa::VerifyingKey),
    #[cfg(feature = "es512")]
    P521(Box<p521::ecdsa::VerifyingKey>),
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
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
                check(&Hs256, &Hs256Key::new(secret), signature, signing_input)
            }
            (Material::Hmac(secret), Alg::Hs384) => {
                check(&Hs384, &Hs384Key::new(secret), signature, signing_input)
            }
            (Material::Hmac(secret), Alg::Hs512) => {
                check(&Hs512, &Hs512Key::new(secret), signature, signing_input)
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
            (Material::P256(key), Alg::Es256) => key
                .get()
                .is_some_and(|key| key.verify_sha256(signing_input, signature)),
            #[cfg(feature = "es384")]
            (Material::P384(key), Alg::Es384) => check(&Es384, key, signature, signing_input),
            #[cfg(feature = "es512")]
            (Material::P521(key), Alg::Es512) => {
                check(&Es512, key.as_ref(), signature, signing_input)
            }
            (Material::Ed25519(key), Alg::EdDsa) => check(&Ed25519, key, signature, signing_input),
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
            pem_body(pem, "RSA PUBLIC KEY")?;
            rsa_material(
                &RsaPublicKey::from_pkcs1_pem(pem).map_err(|e| format!("bad PKCS#1 PEM: {e}"))?,
            )?
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
        if text("use")?.is_some_and(|u| u != "sig") {
            return Ok(None);
        }
        if let Some(Value::Array(ops)) = jwk.get("key_ops") {
            if !ops.iter().any(|op| op == "verify") {
                return Ok(None);
            }
        }
        let alg = match text("alg")? {
            None => None,
            Some(name) => match Alg::from_name(name) {
                Some(alg) => Some(alg),
                None => return Ok(None),
            },
        };
        let kty = text("kty")?.ok_or("`kty` is missing")?;
        if kty != "oct"
            && ["d", "p", "q", "dp", "dq", "qi"]
                .iter()
                .any(|f| jwk.contains_key(*f))
        {
            return Err("contains private key material; publish only public keys".into());
        }
        let material = match kty {
            "oct" => return hmac_key(kid, alg, bytes("k")?).map(Some),
            "RSA" => {
                let n = rsa::BigUint::from_bytes_be(&bytes("n")?);
                let e = rsa::BigUint::from_bytes_be(&bytes("e")?);
                rsa_material(&RsaPublicKey::new(n, e).map_err(|e| format!("bad RSA key: {e}"))?)?
            }
            "EC" => {
                let (x, y) = (bytes("x")?, bytes("y")?);
                match text("crv")? {
                    Some("P-256") => p256_material(
                        &ec_key!(p256, &x, &y, 32).ok_or("x/y is not a P-256 point")?,
                    )?,
                    #[cfg(feature = "es384")]
                    Some("P-384") => {
                        Material::P384(ec_key!(p384, &x, &y, 48).ok_or("x/y is not a P-384 point")?)
                    }
                    #[cfg(feature = "es512")]
                    Some("P-521") => Material::P521(Box::new(
                        ec_key!(p521, &x, &y, 66).ok_or("x/y is not a P-521 point")?,
                    )),
                    #[cfg(not(feature = "es384"))]
                    Some("P-384") => return Err(NOT_BUILT_IN.replace("{}", "ES384")),
                    #[cfg(not(feature = "es512"))]
                    Some("P-521") => return Err(NOT_BUILT_IN.replace("{}", "ES512")),
                    _ => return Ok(None),
                }
            }
            "OKP" => match text("crv")? {
                Some("Ed25519") => Material::Ed25519(ed25519_key(&bytes("x")?)?),
                _ => return Ok(None),
            },
            _ => return Ok(None),
        };
        finish(kid, alg, material).map(Some)
    }
}

fn check<A: Algorithm>(alg: &A, key: &A::VerifyingKey, signature: &[u8], message: &[u8]) -> bool {
    if let Some(len) = A::Signature::LENGTH {
        if signature.len() != len.get() {
            return false;
        }
    }
    match A::Signature::try_from_slice(signature) {
        Ok(sig) => alg.verify_signature(&sig, key, message),
        Err(_) => false,
    }
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

/// An RSA key as jwtgate verifies with it: the `rsa` crate parses (PEM, PKCS#1, JWK n/e) and
/// checks the key; `crypto::RsaKey` (crates/jwtgate-rsa) verifies: the bignum crates are slow in wasm.
fn rsa_material(key: &RsaPublicKey) -> Result<Material, String> {
    // RFC 7518 §3.3 asks for at least 2048 bits; the verifier's bounds are the one rule.
    let bits = key.n().bits();
    if !(jwtgate_rsa::MIN_BITS..=jwtgate_rsa::MAX_BITS).contains(&bits) {
        return Err(format!(
            "RSA modulus is {bits} bits; {} to {} are accepted",
            jwtgate_rsa::MIN_BITS,
            jwtgate_rsa::MAX_BITS
        ));
    }
    RsaKey::new(&key.n().to_bytes_be(), &key.e().to_bytes_be())
        .map(|k| Material::Rsa(Box::new(k)))
        .map_err(str::to_string)
}

/// A P-256 key whose verifier (with its ~20 KiB comb table) is built on first use, not when
/// the key is loaded: a JWKS of many keys costs only the keys tokens actually name. Shared by
/// clones of the key (`Arc`), built at most once.
pub struct LazyP256 {
    x: [u8; 32],
    y: [u8; 32],
    key: std::sync::OnceLock<Option<P256Key>>,
}

impl LazyP256 {
    /// The verifier, built now if this is the first use (`None`: the point was refused, which
    /// the p256 crate's check at load makes unreachable).
    fn get(&self) -> Option<&P256Key> {
        self.key
            .get_or_init(|| P256Key::from_coordinates(&self.x, &self.y).ok())
            .as_ref()
    }

    /// Whether the comb table has been built (for tests and metrics).
    pub fn is_built(&self) -> bool {
        self.key.get().is_some()
    }
}

impl Key {
    /// Whether this key's precomputed verifier exists yet: always for keys without one, and
    /// for P-256 keys once a token has been checked with them.
    pub fn verifier_built(&self) -> bool {
        match &self.material {
            Material::P256(key) => key.is_built(),
            _ => true,
        }
    }
}

/// A P-256 key as jwtgate verifies with it: the p256 crate parses (PEM, JWK x/y) and checks
/// that the point is on the curve; `crypto::P256Key` verifies, with its comb table built on
/// first use ([`LazyP256`]).
fn p256_material(key: &p256::ecdsa::VerifyingKey) -> Result<Material, String> {
    let point = key.to_encoded_point(false);
    match (point.x(), point.y()) {
        (Some(x), Some(y)) => {
            let (Ok(x), Ok(y)) = (<[u8; 32]>::try_from(&x[..]), <[u8; 32]>::try_from(&y[..]))
            else {
                return Err("P-256 coordinates must be 32 bytes".into());
            };
            Ok(Material::P256(std::sync::Arc::new(LazyP256 {
                x,
                y,
                key: std::sync::OnceLock::new(),
            })))
        }
        _ => Err("P-256 key is the point at infinity".into()),
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

/// Why an SPKI that none of the supported parsers took was refused: its algorithm and curve.
fn spki_refusal(der: &[u8]) -> String {
    use rsa::pkcs8::spki::SubjectPublicKeyInfoRef;
    let Ok(spki) = SubjectPublicKeyInfoRef::try_from(der) else {
        return "PEM: the body is not a DER SubjectPublicKeyInfo (BEGIN PUBLIC KEY)".into();
    };
    let curve = spki
        .algorithm
        .parameters_oid()
        .ok()
        .map(|oid| oid.to_string());
    match (spki.algorithm.oid.to_string().as_str(), curve.as_deref()) {
        ("1.2.840.113549.1.1.1", _) => "RSA public key could not be read".into(),
        ("1.2.840.10045.2.1", Some(curve)) => {
            let built = |feature_on: bool, alg: &str, name: &str| {
                if feature_on {
                    format!("EC public key is not a valid point on {name}")
                } else {
                    format!("{alg} support is not compiled into this jwtgate build (cargo feature)")
                }
            };
            match curve {
                "1.2.840.10045.3.1.7" => built(true, "ES256", "P-256"),
                "1.3.132.0.34" => built(cfg!(feature = "es384"), "ES384", "P-384"),
                "1.3.132.0.35" => built(cfg!(feature = "es512"), "ES512", "P-521"),
                "1.3.132.0.10" => {
                    "EC key on secp256k1 (ES256K) is not supported: use P-256, P-384 or P-521"
                        .into()
                }
                other => {
                    format!("EC key on curve {other} is not supported: use P-256, P-384 or P-521")
                }
            }
        }
        ("1.2.840.10045.2.1", None) => "EC public key without a named curve".into(),
        ("1.3.101.112", _) => "Ed25519 public key could not be read".into(),
        ("1.3.101.113", _) => "Ed448 keys are not supported: use Ed25519".into(),
        (other, _) => format!(
            "public key algorithm {other} is not supported: use RSA, EC P-256/P-384/P-521 or Ed25519"
        ),
    }
}

fn spki_material(pem: &str) -> Result<Material, String> {
    let der = pem_body(pem, "PUBLIC KEY")?;
    if let Ok(key) = RsaPublicKey::from_public_key_pem(pem) {
        return rsa_material(&key);
    }
    if let Ok(key) = p256::PublicKey::from_public_key_pem(pem) {
        return p256_material(&key.into());
    }
    #[cfg(feature = "es384")]
    if let Ok(key) = p384::PublicKey::from_public_key_pem(pem) {
        return Ok(Material::P384(key.into()));
    }
    #[cfg(feature = "es512")]
    if let Ok(key) = p521::PublicKey::from_public_key_pem(pem) {
        let key = p521::ecdsa::VerifyingKey::from_affine(*key.as_affine())
            .map_err(|_| "bad P-521 public key")?;
        return Ok(Material::P521(Box::new(key)));
    }
    if let Ok(key) = ed25519_dalek::VerifyingKey::from_public_key_pem(pem) {
        return ed25519_key(key.as_bytes()).map(Material::Ed25519);
    }
    Err(spki_refusal(&der))
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
