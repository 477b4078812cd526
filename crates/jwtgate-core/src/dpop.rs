//! DPoP (RFC 9449): a token bound to a key the client proves it holds, request by request.
//!
//! The proof is a JWT in the `DPoP` request header, signed with the key in its own `jwk`
//! header. This is the one place jwtgate uses a key from a JWT header, and only to check that
//! proof: the access token is verified with the provider's configured keys as always, and then
//! its `cnf.jkt` must be the RFC 7638 thumbprint of the proof's key.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::algorithm::{Alg, Family};
use super::keys::Key;
use super::rejection::Rejection;
use super::request::Request;
use super::strict_json;
use super::token::b64url_decode;

/// Longest proof accepted (an RSA-4096 `jwk` and its signature fit easily).
pub const MAX_PROOF_BYTES: usize = 8192;
/// Longest `jti` accepted.
const MAX_JTI_BYTES: usize = 256;
/// Default `dpop.max_age` (seconds) and `dpop.leeway`.
pub const DEFAULT_MAX_AGE_S: u64 = 300;
pub const DEFAULT_LEEWAY_S: u64 = 5;
/// Default `dpop.replay_cache.max_entries`.
pub const DEFAULT_REPLAY_ENTRIES: usize = 10_000;
/// The proof algorithms allowed when `dpop.algs` is not set.
pub const DEFAULT_ALGS: [Alg; 4] = [Alg::Es256, Alg::Rs256, Alg::Ps256, Alg::EdDsa];
/// JWK members that only a private (or symmetric) key has.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A provider's `dpop` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpopPolicy {
    /// Only `Authorization: DPoP` is accepted (a bearer token is refused: `dpop_required`).
    pub required: bool,
    /// A proof's `iat` may be this old (plus `leeway_s`).
    pub max_age_s: u64,
    /// Clock difference allowed either way.
    pub leeway_s: u64,
    /// The asymmetric algorithms a proof may use (also sent as `algs` in the challenge).
    pub algs: Vec<Alg>,
    /// Most proofs remembered per worker for replay detection.
    pub replay_entries: usize,
    /// The scheme clients use (`https`), when the proxy's own `:scheme` differs (TLS ended in
    /// front of it) or the host gives none.
    pub scheme: Option<String>,
}

/// The `algs` list of a `WWW-Authenticate: DPoP` challenge.
pub fn algs_text(algs: &[Alg]) -> String {
    algs.iter().map(|a| a.name()).collect::<Vec<_>>().join(" ")
}

/// A checked proof: what binds it to the token, and what the replay cache remembers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// RFC 7638 SHA-256 thumbprint of the proof key, base64url.
    pub jkt: String,
    /// SHA-256 of (thumbprint, `jti`): the replay cache's key.
    pub replay_key: [u8; 32],
    /// Unix seconds until which the proof is acceptable (and must be remembered).
    pub live_until: u64,
}

/// base64url(SHA-256(bytes)).
pub fn sha256_b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(bytes))
}

/// The one `DPoP` header value of `req`: none → `dpop_proof_missing`; two headers, or one
/// holding a list, → `dpop_proof_invalid`.
pub fn proof_header<'r>(req: &Request<'r>) -> Result<&'r str, Rejection> {
    let mut values = req.header_values("dpop");
    let first = values.next().ok_or(Rejection::DpopProofMissing)?;
    if values.next().is_some() || first.contains(',') {
        return Err(Rejection::DpopProofInvalid);
    }
    let proof = first.trim_matches([' ', '\t']);
    if proof.is_empty() {
        return Err(Rejection::DpopProofMissing);
    }
    Ok(proof)
}

impl DpopPolicy {
    /// Checks `proof` (the `DPoP` header) for `req` carrying `access_token` at `now` (unix
    /// seconds). Replay is not checked here ([`ReplayCache::admit`]).
    pub fn check_proof(
        &self,
        proof: &str,
        req: &Request<'_>,
        access_token: &str,
        now: u64,
    ) -> Result<Proof, Rejection> {
        let invalid = Rejection::DpopProofInvalid;
        if proof.len() > MAX_PROOF_BYTES {
            return Err(invalid);
        }
        let mut parts = proof.split('.');
        let (Some(h64), Some(p64), Some(s64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid);
        };
        let header = b64url_decode(h64)
            .and_then(|b| strict_json::parse_object(&b))
            .ok_or(invalid)?;
        let payload = b64url_decode(p64)
            .and_then(|b| strict_json::parse_object(&b))
            .ok_or(invalid)?;
        let signature = b64url_decode(s64)
            .filter(|s| !s.is_empty())
            .ok_or(invalid)?;
        match header.get("typ") {
            Some(Value::String(typ)) if typ.eq_ignore_ascii_case("dpop+jwt") => {}
            _ => return Err(invalid),
        }
        if header.contains_key("crit") || header.contains_key("b64") {
            return Err(invalid);
        }
        let alg = match header.get("alg") {
            Some(Value::String(name)) => Alg::from_name(name).ok_or(invalid)?,
            _ => return Err(invalid),
        };
        if alg.family() == Family::Hmac || !self.algs.contains(&alg) {
            return Err(invalid);
        }
        let Some(Value::Object(jwk)) = header.get("jwk") else {
            return Err(invalid);
        };
        let jkt = thumbprint(jwk).ok_or(invalid)?;
        let key = public_key(jwk).ok_or(invalid)?;
        let signing_input = proof.get(..h64.len() + 1 + p64.len()).ok_or(invalid)?;
        if !key.allows(alg) || !key.verify(alg, signing_input.as_bytes(), &signature) {
            return Err(invalid);
        }
        // The claims, only now that the proof's own signature holds.
        let text = |name: &str| match payload.get(name) {
            Some(Value::String(s)) => Some(s.as_str()),
            _ => None,
        };
        if text("htm") != Some(req.method) {
            return Err(invalid);
        }
        let htu = text("htu").ok_or(invalid)?;
        let target = self.request_uri(req).ok_or(invalid)?;
        if normalize_uri(htu).is_none_or(|claimed| claimed != target) {
            return Err(invalid);
        }
        let iat = match payload.get("iat") {
            Some(Value::Number(n)) => n
                .as_u64()
                .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f.floor() as u64))
                .ok_or(invalid)?,
            _ => return Err(invalid),
        };
        let oldest = now.saturating_sub(self.max_age_s.saturating_add(self.leeway_s));
        if iat < oldest || iat > now.saturating_add(self.leeway_s) {
            return Err(invalid);
        }
        let jti = text("jti")
            .filter(|j| !j.is_empty() && j.len() <= MAX_JTI_BYTES)
            .ok_or(invalid)?;
        if text("ath") != Some(sha256_b64(access_token.as_bytes()).as_str()) {
            return Err(invalid);
        }
        let mut replay = Sha256::new();
        replay.update(jkt.as_bytes());
        replay.update([0]);
        replay.update(jti.as_bytes());
        Ok(Proof {
            jkt,
            replay_key: replay.finalize().into(),
            live_until: iat.saturating_add(self.max_age_s.saturating_add(self.leeway_s)),
        })
    }

    /// The request's URI as `htu` is compared with it: scheme (`scheme` if configured, else
    /// `:scheme`), authority (`:authority`, else the one `Host`), path without the query,
    /// normalized as [`normalize_uri`]. `None` when the host gave no scheme or authority.
    pub fn request_uri(&self, req: &Request<'_>) -> Option<String> {
        let one = |name: &'static str| {
            let mut values = req.header_values(name);
            let first = values.next()?;
            values.next().is_none().then_some(first)
        };
        let scheme = match &self.scheme {
            Some(s) => s.as_str(),
            None => one(":scheme")?,
        };
        let authority = one(":authority").or_else(|| one("host"))?;
        let path = req.path.split(['?', '#']).next().unwrap_or_default();
        normalize_uri(&format!("{scheme}://{authority}{path}"))
    }
}

/// A public asymmetric key from a proof's `jwk`: `kty` RSA, EC or OKP with no private member;
/// `oct` (symmetric) keys and keys jwtgate does not verify with are refused.
fn public_key(jwk: &Map<String, Value>) -> Option<Key> {
    if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
        return None;
    }
    match jwk.get("kty") {
        Some(Value::String(kty)) if ["RSA", "EC", "OKP"].contains(&kty.as_str()) => {}
        _ => return None,
    }
    Key::from_jwk(jwk).ok().flatten()
}

/// RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace,
/// base64url. `None` for a key type without a thumbprint here (or a member not a string).
pub fn thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let kty = match jwk.get("kty") {
        Some(Value::String(kty)) => kty.as_str(),
        _ => return None,
    };
    let members: &[&str] = match kty {
        "RSA" => &["e", "kty", "n"],
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        _ => return None,
    };
    let mut canonical = String::from("{");
    for (i, name) in members.iter().enumerate() {
        let Some(Value::String(value)) = jwk.get(*name) else {
            return None;
        };
        if i > 0 {
            canonical.push(',');
        }
        canonical.push_str(&Value::String((*name).to_string()).to_string());
        canonical.push(':');
        canonical.push_str(&Value::String(value.clone()).to_string());
    }
    canonical.push('}');
    Some(sha256_b64(canonical.as_bytes()))
}

/// An absolute `http(s)` URI without query, fragment or userinfo, normalized as RFC 3986
/// §6.2.2–6.2.3 and RFC 9449 §4.3 ask: scheme and host in lower case, the scheme's default
/// port removed, an empty path as `/`, percent-escapes of unreserved characters decoded and
/// the others in upper case, dot segments removed. `None` for anything else.
pub fn normalize_uri(uri: &str) -> Option<String> {
    if uri.contains(['?', '#']) || uri.bytes().any(|b| b <= 0x20 || b == 0x7f) {
        return None;
    }
    let (scheme, rest) = uri.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => "443",
        "http" => "80",
        _ => return None,
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    // `host:port`, or `[v6]:port`.
    let (host, port) = match authority.rfind(':') {
        Some(i) if !authority.get(i..).unwrap_or_default().contains(']') => {
            let (h, p) = authority.split_at(i);
            (h, p.get(1..).unwrap_or_default())
        }
        _ => (authority, ""),
    };
    if host.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let port = port.trim_start_matches('0');
    let mut out = format!("{scheme}://{}", host.to_ascii_lowercase());
    // An empty port (`host:`) is the default one (RFC 3986 §6.2.3).
    if !port.is_empty() && port != default_port {
        out.push(':');
        out.push_str(port);
    }
    let path = if path.is_empty() { "/" } else { path };
    out.push_str(&remove_dot_segments(&normalize_escapes(path)));
    Some(out)
}

/// Percent-escapes of unreserved characters decoded, the rest in upper-case hex.
fn normalize_escapes(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|h| b == b'%' && h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(v) if super::percent::is_unreserved(v) => out.push(char::from(v)),
            Some(v) => out.push_str(&format!("%{v:02X}")),
            None => {
                // Copy one UTF-8 character as it is.
                let ch = path.get(i..).and_then(|s| s.chars().next());
                if let Some(c) = ch {
                    out.push(c);
                    i += c.len_utf8();
                    continue;
                }
                i += 1;
                continue;
            }
        }
        i += 3;
    }
    out
}

/// RFC 3986 §5.2.4 on an absolute path.
fn remove_dot_segments(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    let parts: Vec<&str> = path.split('/').skip(1).collect();
    let last = parts.len().saturating_sub(1);
    let mut trailing = false;
    for (i, seg) in parts.iter().enumerate() {
        match *seg {
            "." => trailing = i == last,
            ".." => {
                segments.pop();
                trailing = i == last;
            }
            s => {
                segments.push(s);
                trailing = false;
            }
        }
    }
    let mut out = String::with_capacity(path.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if trailing || out.is_empty() {
        out.push('/');
    }
    out
}

/// Proofs seen within their window, per provider, in one worker (VM). Bounded: when full,
/// entries past their window are dropped; if none are, a new proof is refused
/// (`dpop_replay_cache_full`) rather than accepted unremembered.
#[derive(Debug, Default)]
pub struct ReplayCaches {
    caches: Vec<Option<ReplayCache>>,
}

#[derive(Debug, Default)]
pub struct ReplayCache {
    max_entries: usize,
    /// replay key → unix second until which the proof stays acceptable.
    seen: HashMap<[u8; 32], u64>,
}

impl ReplayCaches {
    /// One cache per provider with DPoP (`Some(max_entries)`).
    pub fn new(sizes: impl Iterator<Item = Option<usize>>) -> ReplayCaches {
        ReplayCaches {
            caches: sizes
                .map(|s| {
                    s.map(|max_entries| ReplayCache {
                        max_entries,
                        seen: HashMap::new(),
                    })
                })
                .collect(),
        }
    }

    /// Remembers `proof` for `provider` at `now`: `dpop_replay` if it was seen within its
    /// window, `dpop_replay_cache_full` if it cannot be remembered.
    pub fn admit(&mut self, provider: usize, proof: &Proof, now: u64) -> Result<(), Rejection> {
        let Some(Some(cache)) = self.caches.get_mut(provider) else {
            return Err(Rejection::DpopReplayCacheFull);
        };
        cache.admit(proof, now)
    }

    /// Proofs remembered for `provider` (for tests and metrics).
    pub fn len(&self, provider: usize) -> usize {
        match self.caches.get(provider) {
            Some(Some(cache)) => cache.seen.len(),
            _ => 0,
        }
    }
}

impl ReplayCache {
    fn admit(&mut self, proof: &Proof, now: u64) -> Result<(), Rejection> {
        if let Some(&until) = self.seen.get(&proof.replay_key) {
            if now <= until {
                return Err(Rejection::DpopReplay);
            }
        }
        if self.seen.len() >= self.max_entries && !self.seen.contains_key(&proof.replay_key) {
            self.seen.retain(|_, until| now <= *until);
            if self.seen.len() >= self.max_entries {
                return Err(Rejection::DpopReplayCacheFull);
            }
        }
        self.seen.insert(proof.replay_key, proof.live_until);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_normalize_as_rfc_3986_section_6() {
        let n = |s| normalize_uri(s);
        assert_eq!(
            n("HTTPS://API.Example.com:443/a/%7euser/./b/../c"),
            Some("https://api.example.com/a/~user/c".into())
        );
        assert_eq!(
            n("http://h:80"),
            Some("http://h/".into()),
            "default port, empty path"
        );
        assert_eq!(n("http://h:8080/x"), Some("http://h:8080/x".into()));
        assert_eq!(n("https://h:80/x"), Some("https://h:80/x".into()));
        assert_eq!(n("https://h/a%2fb"), Some("https://h/a%2Fb".into()));
        assert_eq!(n("https://[::1]:443/x"), Some("https://[::1]/x".into()));
        assert_eq!(n("https://[::1]/x"), Some("https://[::1]/x".into()));
        for bad in [
            "https://h/x?q=1",
            "https://h/x#f",
            "ftp://h/x",
            "https://u@h/x",
            "https:///x",
            "/x",
            "https://h:12a/x",
            "https://h/a b",
        ] {
            assert_eq!(n(bad), None, "{bad}");
        }
    }

    #[test]
    fn rfc_7638_example_thumbprint() {
        // RFC 7638 §3.1.
        let jwk: Map<String, Value> = serde_json::from_str(
            r#"{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}"#,
        )
        .unwrap();
        assert_eq!(
            thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn replay_cache_remembers_within_the_window_and_stays_bounded() {
        let proof = |k: u8, until| Proof {
            jkt: String::new(),
            replay_key: [k; 32],
            live_until: until,
        };
        let mut caches = ReplayCaches::new([Some(2)].into_iter());
        assert_eq!(caches.admit(0, &proof(1, 100), 50), Ok(()));
        assert_eq!(
            caches.admit(0, &proof(1, 100), 100),
            Err(Rejection::DpopReplay)
        );
        assert_eq!(caches.admit(0, &proof(2, 200), 60), Ok(()));
        assert_eq!(
            caches.admit(0, &proof(3, 200), 60),
            Err(Rejection::DpopReplayCacheFull)
        );
        // Past the first proof's window its entry makes room.
        assert_eq!(caches.admit(0, &proof(3, 200), 101), Ok(()));
        assert_eq!(caches.len(0), 2);
        assert_eq!(
            caches.admit(1, &proof(1, 100), 50),
            Err(Rejection::DpopReplayCacheFull)
        );
    }
}
