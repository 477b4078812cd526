//! `jwtgate mint` (sign test tokens, the seeds' Python snippet built in) and `jwtgate keygen`
//! (demo keys with their JWKS). Test tooling: the filter itself never signs.

use std::time::{SystemTime, UNIX_EPOCH};

#[cfg(feature = "es384")]
use crate::ecdsa_nist::Es384;
#[cfg(feature = "es512")]
use crate::ecdsa_nist::Es512;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jwt_compact::alg::{Ed25519, Es256, Hs256, Hs256Key, Hs384, Hs384Key, Hs512, Hs512Key, Rsa};
use jwt_compact::{Algorithm, AlgorithmSignature};
use rand_core::{OsRng, RngCore};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use serde_json::{json, Map, Value};

/// A random key on `$curve`: its PKCS#8 PEM and public JWK (uncompressed point → x, y).
macro_rules! ec_keygen {
    ($curve:ident, $crv:expr) => {{
        use $curve::elliptic_curve::sec1::ToEncodedPoint as _;
        use $curve::pkcs8::EncodePrivateKey as _;
        let key = $curve::SecretKey::random(&mut OsRng);
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| e.to_string())?
            .to_string();
        let point = key.public_key().to_encoded_point(false);
        let (x, y) = match (point.x(), point.y()) {
            (Some(x), Some(y)) => (b64(x), b64(y)),
            _ => return Err("could not encode the public key".into()),
        };
        (pem, json!({"kty": "EC", "crv": $crv, "x": x, "y": y}))
    }};
}

pub const MINT_USAGE: &str =
    "usage: jwtgate mint --alg ALG --key FILE [--kid KID] [--iss ISS] [--sub SUB]
                    [--aud AUD]... [--claim name=value]... [--exp 1h] [--nbf 0s] [--now UNIX]
                    [--dpop-key CLIENT_KEY] [--cnf-x5t CLIENT_CERT]
       jwtgate mint --dpop CLIENT_KEY --htu URL [--htm GET] [--token TOKEN] [--jti ID] [--now UNIX]

The first form signs an access token; --dpop-key binds it to a DPoP key (cnf.jkt: the RFC 7638
thumbprint of CLIENT_KEY's public key), --cnf-x5t to a client certificate (cnf.x5t#S256: the
SHA-256 of CLIENT_CERT's DER, RFC 8705). The second form prints a DPoP proof (RFC 9449) for one
request: typ dpop+jwt, the public jwk, htm, htu, iat, a random jti, and ath when --token is given.
CLIENT_KEY is a PEM private key: P-256 (ES256), RSA (RS256) or Ed25519 (EdDSA).

Signs a token. ALG: HS256/384/512 (FILE holds the secret), RS256/384/512, PS256/384/512,
ES256/384/512, EdDSA (FILE holds a PEM private key: PKCS#8, or PKCS#1 / SEC1).
--claim values are JSON when they parse as JSON (42, true, [\"a\"], {\"k\":1}), text otherwise.
--exp / --nbf are offsets from now: 90, 90s, 15m, 1h, 7d. iat is always set.";

pub const KEYGEN_USAGE: &str =
    "usage: jwtgate keygen --alg ALG [--kid KID] [--out DIR] [--bits 2048] [--force]

Writes a new key for ALG to DIR (default: .): KID.pem (private; HS*: KID.secret), mode 0600,
and KID.jwks.json (the public JWKS, for local_jwks or a JWKS endpoint), and prints the provider
`keys`/`local_jwks` snippet. KID defaults to ALG in lower case. Existing files are never
overwritten unless --force is given.";

/// Parses `--flag value` pairs (and repeated flags) into (flag, value).
/// The value of the last `name` flag (a repeated flag: the last one wins).
fn last<'a>(flags: &'a [(String, String)], name: &str) -> Option<&'a str> {
    flags
        .iter()
        .rev()
        .find(|(f, _)| f == name)
        .map(|(_, v)| v.as_str())
}

fn pairs(args: &[String], usage: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Err(String::new());
        }
        if !flag.starts_with("--") {
            return Err(format!("unexpected argument {flag}\n{usage}"));
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{usage}"))?;
        out.push((flag.clone(), value.clone()));
    }
    Ok(out)
}

/// `90`, `90s`, `15m`, `1h`, `7d` → seconds.
fn seconds(text: &str) -> Result<i64, String> {
    let (number, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c),
        _ => (text, 's'),
    };
    let n: i64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 90s, 15m, 1h, 7d"))?;
    let scale = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return Err(format!("{text:?}: unit must be s, m, h or d")),
    };
    Ok(n.saturating_mul(scale))
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

pub fn mint(args: &[String]) -> Result<String, String> {
    let flags = pairs(args, MINT_USAGE)?;
    let one = |name: &str| last(&flags, name);
    if one("--dpop").is_some() {
        return dpop_proof(&flags);
    }
    let known = [
        "--alg",
        "--key",
        "--kid",
        "--iss",
        "--sub",
        "--aud",
        "--claim",
        "--exp",
        "--nbf",
        "--now",
        "--dpop-key",
        "--cnf-x5t",
    ];
    if let Some((f, _)) = flags.iter().find(|(f, _)| !known.contains(&f.as_str())) {
        return Err(format!("unknown option {f}\n{MINT_USAGE}"));
    }
    let alg = one("--alg").ok_or(format!("--alg is required\n{MINT_USAGE}"))?;
    let key_path = one("--key").ok_or(format!("--key is required\n{MINT_USAGE}"))?;
    let key = std::fs::read(key_path).map_err(|e| format!("{key_path}: {e}"))?;
    let now = match one("--now") {
        Some(t) => t.parse().map_err(|_| "--now takes unix seconds")?,
        None => now(),
    };

    let mut header = Map::new();
    header.insert("alg".into(), json!(alg));
    header.insert("typ".into(), json!("JWT"));
    if let Some(kid) = one("--kid") {
        header.insert("kid".into(), json!(kid));
    }
    let mut claims = Map::new();
    for (name, flag) in [("iss", "--iss"), ("sub", "--sub")] {
        if let Some(v) = one(flag) {
            claims.insert(name.into(), json!(v));
        }
    }
    let auds: Vec<&str> = flags
        .iter()
        .filter(|(f, _)| f == "--aud")
        .map(|(_, v)| v.as_str())
        .collect();
    match auds.as_slice() {
        [] => {}
        [one] => {
            claims.insert("aud".into(), json!(one));
        }
        many => {
            claims.insert("aud".into(), json!(many));
        }
    }
    claims.insert("iat".into(), json!(now));
    claims.insert(
        "exp".into(),
        json!(now.saturating_add(seconds(one("--exp").unwrap_or("1h"))?)),
    );
    if let Some(nbf) = one("--nbf") {
        claims.insert("nbf".into(), json!(now.saturating_add(seconds(nbf)?)));
    }
    for (_, kv) in flags.iter().filter(|(f, _)| f == "--claim") {
        let (k, v) = kv
            .split_once('=')
            .ok_or(format!("--claim {kv:?} is not name=value"))?;
        let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()));
        claims.insert(k.to_string(), value);
    }

    let mut cnf = Map::new();
    if let Some(path) = one("--dpop-key") {
        let pem = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
        let (_, jwk) = client_jwk(&pem)?;
        let Value::Object(jwk) = jwk else {
            return Err("could not write the public JWK".into());
        };
        let jkt = jwtgate_core::dpop::thumbprint(&jwk).ok_or("no thumbprint for this key")?;
        cnf.insert("jkt".into(), json!(jkt));
    }
    if let Some(path) = one("--cnf-x5t") {
        let pem = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        cnf.insert("x5t#S256".into(), json!(certificate_thumbprint(&pem)?));
    }
    if !cnf.is_empty() {
        claims.insert("cnf".into(), Value::Object(cnf));
    }

    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(Value::Object(header).to_string()),
        URL_SAFE_NO_PAD.encode(Value::Object(claims).to_string())
    );
    let signature = sign(alg, &key, input.as_bytes())?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// `mint --dpop`: a DPoP proof for one request.
fn dpop_proof(flags: &[(String, String)]) -> Result<String, String> {
    let one = |name: &str| last(flags, name);
    let known = ["--dpop", "--htm", "--htu", "--token", "--jti", "--now"];
    if let Some((f, _)) = flags.iter().find(|(f, _)| !known.contains(&f.as_str())) {
        return Err(format!("unknown option {f} with --dpop\n{MINT_USAGE}"));
    }
    let path = one("--dpop").ok_or("--dpop needs a key file")?;
    let pem = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let (alg, jwk) = client_jwk(&pem)?;
    let htu = one("--htu").ok_or(format!("--htu is required with --dpop\n{MINT_USAGE}"))?;
    if htu.contains(['?', '#']) {
        return Err("--htu is the request URI without query and fragment (RFC 9449 §4.2)".into());
    }
    let now = match one("--now") {
        Some(t) => t.parse().map_err(|_| "--now takes unix seconds")?,
        None => now(),
    };
    let jti = match one("--jti") {
        Some(j) => j.to_string(),
        None => {
            let mut raw = [0u8; 16];
            OsRng.fill_bytes(&mut raw);
            b64(&raw)
        }
    };
    let header = json!({"typ": "dpop+jwt", "alg": alg, "jwk": jwk});
    let mut claims =
        json!({"htm": one("--htm").unwrap_or("GET"), "htu": htu, "iat": now, "jti": jti});
    if let Some(token) = one("--token") {
        if let Value::Object(map) = &mut claims {
            let ath = jwtgate_core::dpop::sha256_b64(token.trim().as_bytes());
            map.insert("ath".into(), json!(ath));
        }
    }
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = sign(alg, &pem, input.as_bytes())?;
    Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

/// The proof algorithm and public JWK of a client's PEM private key (P-256, RSA, Ed25519).
fn client_jwk(pem: &[u8]) -> Result<(&'static str, Value), String> {
    let text = text(pem)?;
    {
        use p256::elliptic_curve::sec1::ToEncodedPoint as _;
        use p256::pkcs8::DecodePrivateKey as _;
        if let Ok(key) =
            p256::SecretKey::from_pkcs8_pem(text).or_else(|_| p256::SecretKey::from_sec1_pem(text))
        {
            let point = key.public_key().to_encoded_point(false);
            return match (point.x(), point.y()) {
                (Some(x), Some(y)) => Ok((
                    "ES256",
                    json!({"kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y)}),
                )),
                _ => Err("could not encode the public key".into()),
            };
        }
    }
    if let Ok(key) = rsa_key(pem) {
        return Ok((
            "RS256",
            json!({"kty": "RSA", "n": b64(&key.n().to_bytes_be()), "e": b64(&key.e().to_bytes_be())}),
        ));
    }
    {
        use ed25519_dalek::pkcs8::DecodePrivateKey as _;
        if let Ok(key) = ed25519_dalek::SigningKey::from_pkcs8_pem(text) {
            let x = b64(key.verifying_key().as_bytes());
            return Ok(("EdDSA", json!({"kty": "OKP", "crv": "Ed25519", "x": x})));
        }
    }
    Err("the DPoP key must be a PEM private key: P-256, RSA or Ed25519".into())
}

/// base64url(SHA-256(DER)) of a PEM certificate (RFC 8705 `x5t#S256`).
fn certificate_thumbprint(pem: &str) -> Result<String, String> {
    let body = pem
        .split("-----BEGIN CERTIFICATE-----")
        .nth(1)
        .and_then(|rest| rest.split("-----END CERTIFICATE-----").next())
        .ok_or("--cnf-x5t: not a PEM certificate")?;
    let b64_text: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64_text)
        .map_err(|_| "--cnf-x5t: the certificate's base64 is broken")?;
    Ok(jwtgate_core::dpop::sha256_b64(&der))
}

fn text(key: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(key).map_err(|_| "the key file is not PEM text".to_string())
}

fn rsa_key(key: &[u8]) -> Result<rsa::RsaPrivateKey, String> {
    let pem = text(key)?;
    rsa::RsaPrivateKey::from_pkcs8_pem(pem)
        .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(pem))
        .map_err(|e| format!("not an RSA private key PEM: {e}"))
}

macro_rules! ec_key {
    ($curve:ident, $key:expr) => {{
        let pem = text($key)?;
        $curve::SecretKey::from_pkcs8_pem(pem)
            .or_else(|_| $curve::SecretKey::from_sec1_pem(pem))
            .map(|k| $curve::ecdsa::SigningKey::from(&k))
            .map_err(|e| format!("not a {} private key PEM: {e}", stringify!($curve)))?
    }};
}

fn sign(alg: &str, key: &[u8], input: &[u8]) -> Result<Vec<u8>, String> {
    // A secret file usually ends with a newline the secret does not have.
    let secret = key.strip_suffix(b"\n").unwrap_or(key);
    let secret = secret.strip_suffix(b"\r").unwrap_or(secret);
    let bytes = |s: &dyn AsRefBytes| s.bytes();
    Ok(match alg {
        "HS256" => bytes(&Hs256.sign(&Hs256Key::new(secret), input)),
        "HS384" => bytes(&Hs384.sign(&Hs384Key::new(secret), input)),
        "HS512" => bytes(&Hs512.sign(&Hs512Key::new(secret), input)),
        "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" => {
            bytes(&Rsa::with_name(alg).sign(&rsa_key(key)?, input))
        }
        "ES256" => {
            use p256::pkcs8::DecodePrivateKey as _;
            bytes(&Es256.sign(&ec_key!(p256, key), input))
        }
        #[cfg(feature = "es384")]
        "ES384" => {
            use p384::pkcs8::DecodePrivateKey as _;
            bytes(&Es384.sign(&ec_key!(p384, key), input))
        }
        #[cfg(feature = "es512")]
        "ES512" => {
            use p521::pkcs8::DecodePrivateKey as _;
            let pem = text(key)?;
            let secret = p521::SecretKey::from_pkcs8_pem(pem)
                .or_else(|_| p521::SecretKey::from_sec1_pem(pem))
                .map_err(|e| format!("not a P-521 private key PEM: {e}"))?;
            let signing = p521::ecdsa::SigningKey::from_bytes(&secret.to_bytes())
                .map_err(|e| format!("bad P-521 key: {e}"))?;
            bytes(&Es512.sign(&signing, input))
        }
        "EdDSA" => {
            use ed25519_dalek::pkcs8::DecodePrivateKey as _;
            let signing = ed25519_dalek::SigningKey::from_pkcs8_pem(text(key)?)
                .map_err(|e| format!("not an Ed25519 private key PEM: {e}"))?;
            bytes(&Ed25519.sign(&signing, input))
        }
        other => return Err(format!("unsupported --alg {other}")),
    })
}

/// Signature bytes, whatever the algorithm's signature type.
trait AsRefBytes {
    fn bytes(&self) -> Vec<u8>;
}

impl<S: AlgorithmSignature> AsRefBytes for S {
    fn bytes(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Writes a new key and its public JWKS; returns what to print.
pub fn keygen(args: &[String]) -> Result<String, String> {
    let force = args.iter().any(|a| a == "--force");
    let args: Vec<String> = args.iter().filter(|a| *a != "--force").cloned().collect();
    let flags = pairs(&args, KEYGEN_USAGE)?;
    let one = |name: &str| last(&flags, name);
    if let Some((f, _)) = flags
        .iter()
        .find(|(f, _)| !["--alg", "--kid", "--out", "--bits"].contains(&f.as_str()))
    {
        return Err(format!("unknown option {f}\n{KEYGEN_USAGE}"));
    }
    let alg = one("--alg").ok_or(format!("--alg is required\n{KEYGEN_USAGE}"))?;
    let kid = one("--kid").map_or_else(|| alg.to_ascii_lowercase(), str::to_string);
    if kid.is_empty()
        || !kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err("--kid: use letters, digits, `-`, `_`, `.`".into());
    }
    let out = std::path::PathBuf::from(one("--out").unwrap_or("."));
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let private_name = if alg.starts_with("HS") {
        format!("{kid}.secret")
    } else {
        format!("{kid}.pem")
    };
    // Refuse before anything is generated or written: never half a key pair on disk.
    if !force {
        for name in [private_name.clone(), format!("{kid}.jwks.json")] {
            let path = out.join(name);
            if path.exists() {
                return Err(format!(
                    "{} exists; not overwriting it (use --force to replace it)",
                    path.display()
                ));
            }
        }
    }
    let write = |name: String, data: &str| -> Result<String, String> {
        let path = out.join(&name);
        write_file(&path, data.as_bytes(), name == private_name, force)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path.display().to_string())
    };

    if let Some(bytes) = match alg {
        "HS256" => Some(32),
        "HS384" => Some(48),
        "HS512" => Some(64),
        _ => None,
    } {
        let mut raw = vec![0u8; bytes];
        OsRng.fill_bytes(&mut raw);
        // base64url text of `bytes` random bytes: longer than the hash, as RFC 7518 asks.
        let secret = b64(&raw);
        let file = write(format!("{kid}.secret"), &format!("{secret}\n"))?;
        let snippet = json!({"keys": [{"kid": kid, "alg": alg, "secret": secret}]});
        return Ok(format!("wrote {file}\nprovider snippet:\n{snippet}"));
    }

    let (pem, jwk) = match alg {
        "RS256" | "RS384" | "RS512" | "PS256" | "PS384" | "PS512" => {
            let bits: usize = one("--bits")
                .unwrap_or("2048")
                .parse()
                .map_err(|_| "--bits takes 2048, 3072 or 4096")?;
            if ![2048, 3072, 4096].contains(&bits) {
                return Err("--bits takes 2048, 3072 or 4096".into());
            }
            let key = rsa::RsaPrivateKey::new(&mut OsRng, bits).map_err(|e| e.to_string())?;
            let pem = key
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|e| e.to_string())?
                .to_string();
            let jwk = json!({"kty": "RSA", "n": b64(&key.n().to_bytes_be()),
                             "e": b64(&key.e().to_bytes_be())});
            (pem, jwk)
        }
        "ES256" => ec_keygen!(p256, "P-256"),
        #[cfg(feature = "es384")]
        "ES384" => ec_keygen!(p384, "P-384"),
        #[cfg(feature = "es512")]
        "ES512" => ec_keygen!(p521, "P-521"),
        "EdDSA" => {
            let mut seed = [0u8; 32];
            OsRng.fill_bytes(&mut seed);
            let key = ed25519_dalek::SigningKey::from_bytes(&seed);
            // PKCS#8 v1 (RFC 8410): a fixed DER prefix and the seed. ed25519-dalek writes v2
            // (with the public key), which some tools (Python `cryptography`) refuse.
            let mut der = vec![
                0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
                0x04, 0x20,
            ];
            der.extend_from_slice(&seed);
            let body = base64::engine::general_purpose::STANDARD.encode(der);
            let pem = format!("-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n");
            let jwk = json!({"kty": "OKP", "crv": "Ed25519",
                             "x": b64(key.verifying_key().as_bytes())});
            (pem, jwk)
        }
        other => return Err(format!("unsupported --alg {other}")),
    };
    let mut jwk = jwk;
    if let Some(members) = jwk.as_object_mut() {
        members.insert("kid".into(), json!(kid));
        members.insert("alg".into(), json!(alg));
        members.insert("use".into(), json!("sig"));
    }
    let jwks = json!({"keys": [jwk]});
    let key_file = write(format!("{kid}.pem"), &pem)?;
    let jwks_file = write(format!("{kid}.jwks.json"), &format!("{jwks:#}\n"))?;
    let snippet = json!({"local_jwks": {"inline_string": jwks.to_string()}});
    Ok(format!(
        "wrote {key_file} (private: keep it out of the proxy) and {jwks_file}\nprovider snippet:\n{snippet}"
    ))
}

/// Writes `data` to `path`: a new file unless `replace`; `private` files are readable by their
/// owner only (0600 on Unix, also when an existing file is replaced).
fn write_file(
    path: &std::path::Path,
    data: &[u8],
    private: bool,
    replace: bool,
) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if replace {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = private;
    file.write_all(data)
}
