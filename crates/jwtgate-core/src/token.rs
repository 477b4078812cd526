//! Strict parsing of a compact JWS (`header.payload.signature`) before any key is touched.
//!
//! Everything here is hostile input: the length is capped before parsing, each segment must be
//! canonical base64url (no padding, no whitespace, no stray trailing bits), the header must be a
//! JSON object without duplicate names, and only `alg`, `kid`, `typ`, `crit` and `b64` are read
//! from it (`typ` only by a provider's `typ` allow-list, after the signature verified).
//! `jku`, `x5u`, `jwk` and `x5c` are never looked at: keys come only from the configuration.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

use super::algorithm::Alg;
use super::rejection::Rejection;
use super::strict_json;

/// Default cap on a token's length in bytes (`max_token_bytes`).
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8192;

/// A token whose structure is valid and whose signature is not yet checked.
#[derive(Debug)]
pub struct UntrustedToken<'t> {
    /// `header.payload` exactly as received: what the signature covers.
    pub signing_input: &'t str,
    /// The payload segment, base64url as received (for `forward_payload_header`).
    pub payload_b64: &'t str,
    pub alg: Alg,
    pub kid: Option<String>,
    /// The header's `typ` as it was (any JSON value): judged only by a provider's `typ`
    /// allow-list, after the signature verified.
    pub typ: Option<Value>,
    pub signature: Vec<u8>,
    /// The payload, decoded and parsed once; read before the signature check only to pick the
    /// provider by `iss`.
    claims: Result<Map<String, Value>, Rejection>,
}

impl<'t> UntrustedToken<'t> {
    /// Parses `token`; `max_len` is checked before anything else.
    pub fn parse(token: &'t str, max_len: usize) -> Result<UntrustedToken<'t>, Rejection> {
        if token.len() > max_len {
            return Err(Rejection::TokenTooLarge);
        }
        let mut segments = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) else {
            return Err(Rejection::MalformedToken);
        };
        if [header_b64, payload_b64, signature_b64]
            .iter()
            .any(|s| s.is_empty() || !s.bytes().all(is_base64url_byte))
        {
            return Err(Rejection::MalformedToken);
        }
        // header_b64.len() + '.' + payload_b64.len() is within `token` by construction.
        let signing_input = token
            .get(..header_b64.len() + 1 + payload_b64.len())
            .ok_or(Rejection::MalformedToken)?;
        let header_bytes = b64url_decode(header_b64).ok_or(Rejection::MalformedToken)?;
        let payload_bytes = b64url_decode(payload_b64).ok_or(Rejection::MalformedToken)?;
        let signature = b64url_decode(signature_b64).ok_or(Rejection::MalformedToken)?;
        let header = strict_json::parse_object(&header_bytes).ok_or(Rejection::MalformedHeader)?;
        let (alg, kid) = read_header(&header)?;
        let typ = header.get("typ").cloned();
        // A payload that is not a JSON object is reported after the signature check, so the
        // answer does not depend on the order of checks an attacker can probe.
        let claims = strict_json::parse_object(&payload_bytes).ok_or(Rejection::MalformedClaims);
        Ok(UntrustedToken {
            signing_input,
            payload_b64,
            alg,
            kid,
            typ,
            signature,
            claims,
        })
    }

    /// `iss` read from the unverified payload, only to choose which provider verifies the
    /// token. Nothing else is ever read before the signature is checked.
    pub fn unverified_issuer(&self) -> Option<&str> {
        match self.claims.as_ref().ok()?.get("iss") {
            Some(Value::String(iss)) => Some(iss),
            _ => None,
        }
    }

    /// The claims. Call only after the signature verified.
    pub fn into_claims(self) -> Result<Map<String, Value>, Rejection> {
        self.claims
    }
}

/// Header and payload of a token as text, decoded **without any verification**: for showing a
/// token to a human (`jwtgate explain`), never for deciding.
#[cfg(feature = "cli")]
pub fn peek(token: &str) -> Option<(String, String)> {
    let mut parts = token.split('.');
    let header = b64url_decode(parts.next()?)?;
    let payload = b64url_decode(parts.next()?)?;
    Some((
        String::from_utf8_lossy(&header).into_owned(),
        String::from_utf8_lossy(&payload).into_owned(),
    ))
}

fn read_header(header: &Map<String, Value>) -> Result<(Alg, Option<String>), Rejection> {
    let alg = match header.get("alg") {
        Some(Value::String(name)) => Alg::from_name(name).ok_or(Rejection::UnsupportedAlgorithm)?,
        Some(_) => return Err(Rejection::MalformedHeader),
        None => return Err(Rejection::UnsupportedAlgorithm),
    };
    // RFC 7515 §4.1.11: a recipient must reject `crit` it does not understand; jwtgate
    // understands no extension, so any `crit` is refused. RFC 7797 `b64: false` changes what
    // is signed: refused too.
    if header.contains_key("crit") {
        return Err(Rejection::UnsupportedCritical);
    }
    match header.get("b64") {
        None | Some(Value::Bool(true)) => {}
        Some(_) => return Err(Rejection::UnsupportedCritical),
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.clone()),
        Some(_) => return Err(Rejection::MalformedHeader),
    };
    Ok((alg, kid))
}

fn is_base64url_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Strict base64url decoding (RFC 7515 §2): no padding, no whitespace, no non-zero trailing bits.
pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    if !s.bytes().all(is_base64url_byte) {
        return None;
    }
    // URL_SAFE_NO_PAD rejects padding and, by default, non-canonical trailing bits.
    URL_SAFE_NO_PAD.decode(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    fn token(header: &str, payload: &str) -> String {
        format!("{}.{}.{}", b64(header), b64(payload), b64("sig"))
    }

    #[test]
    fn parses_a_well_formed_token() {
        let t = token(
            r#"{"alg":"RS256","kid":"k1","typ":"JWT"}"#,
            r#"{"sub":"a"}"#,
        );
        let parsed = UntrustedToken::parse(&t, 8192).unwrap();
        assert_eq!(parsed.alg, Alg::Rs256);
        assert_eq!(parsed.kid.as_deref(), Some("k1"));
        assert_eq!(parsed.signature, b"sig");
        assert_eq!(parsed.unverified_issuer(), None);
        assert!(t.starts_with(parsed.signing_input));
        assert_eq!(parsed.into_claims().unwrap()["sub"], "a");
    }

    #[test]
    fn length_is_checked_before_parsing() {
        let t = "x".repeat(9000);
        assert_eq!(
            UntrustedToken::parse(&t, 8192).unwrap_err(),
            Rejection::TokenTooLarge
        );
        let ok = token(r#"{"alg":"HS256"}"#, "{}");
        assert!(UntrustedToken::parse(&ok, ok.len()).is_ok());
        assert_eq!(
            UntrustedToken::parse(&ok, ok.len() - 1).unwrap_err(),
            Rejection::TokenTooLarge
        );
    }

    #[test]
    fn segment_count_and_alphabet_are_enforced() {
        let h = b64(r#"{"alg":"HS256"}"#);
        let p = b64("{}");
        for bad in [
            format!("{h}.{p}"),
            format!("{h}.{p}.c2ln.c2ln"),
            format!("{h}.{p}."),
            format!(".{p}.c2ln"),
            format!("{h}..c2ln"),
            format!("{h}.{p}.c2ln="),
            format!("{h}=.{p}.c2ln"),
            format!("{h}.{p}.c2+n"),
            format!("{h}.{p}.c2/n"),
            format!("{h}.{p}.c2 n"),
            format!("{h}.{p}.c2ln\n"),
            format!("{h}.{p}.c2~n"),
            String::new(),
        ] {
            assert_eq!(
                UntrustedToken::parse(&bad, 8192).unwrap_err(),
                Rejection::MalformedToken,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn non_canonical_trailing_bits_are_rejected() {
        // "c2lo" is "sih"; "c2ln" is "sig". "QQ" = "A"; "QR" decodes to "A" with stray bits.
        assert_eq!(b64url_decode("QQ").unwrap(), b"A");
        assert!(b64url_decode("QR").is_none());
        assert!(b64url_decode("Q").is_none());
        let h = b64(r#"{"alg":"HS256"}"#);
        let t = format!("{h}.e30.QR");
        assert_eq!(
            UntrustedToken::parse(&t, 8192).unwrap_err(),
            Rejection::MalformedToken
        );
    }

    #[test]
    fn none_and_unknown_algorithms_are_refused() {
        for alg in ["none", "None", "NONE", "nOnE", "HS257", "", "ES256K"] {
            let t = token(&format!(r#"{{"alg":"{alg}"}}"#), "{}");
            assert_eq!(
                UntrustedToken::parse(&t, 8192).unwrap_err(),
                Rejection::UnsupportedAlgorithm,
                "{alg}"
            );
        }
        let t = token(r#"{"typ":"JWT"}"#, "{}");
        assert_eq!(
            UntrustedToken::parse(&t, 8192).unwrap_err(),
            Rejection::UnsupportedAlgorithm
        );
        let t = token(r#"{"alg":256}"#, "{}");
        assert_eq!(
            UntrustedToken::parse(&t, 8192).unwrap_err(),
            Rejection::MalformedHeader
        );
    }

    #[test]
    fn crit_and_b64_false_are_refused() {
        for header in [
            r#"{"alg":"HS256","crit":["exp"],"exp":1}"#,
            r#"{"alg":"HS256","crit":["b64"],"b64":false}"#,
            r#"{"alg":"HS256","crit":[]}"#,
            r#"{"alg":"HS256","b64":false}"#,
        ] {
            let t = token(header, "{}");
            assert_eq!(
                UntrustedToken::parse(&t, 8192).unwrap_err(),
                Rejection::UnsupportedCritical,
                "{header}"
            );
        }
    }

    #[test]
    fn header_must_be_a_strict_object() {
        for header in [
            r#"["alg","HS256"]"#,
            r#""HS256""#,
            r#"{"alg":"HS256","alg":"RS256"}"#,
            "{",
        ] {
            let t = token(header, "{}");
            assert_eq!(
                UntrustedToken::parse(&t, 8192).unwrap_err(),
                Rejection::MalformedHeader,
                "{header}"
            );
        }
        let t = token(r#"{"alg":"HS256","kid":7}"#, "{}");
        assert_eq!(
            UntrustedToken::parse(&t, 8192).unwrap_err(),
            Rejection::MalformedHeader
        );
    }

    #[test]
    fn key_url_headers_are_ignored_not_used() {
        let t = token(
            r#"{"alg":"RS256","jku":"https://evil/jwks","x5u":"https://evil/c","jwk":{"kty":"oct","k":"AA"},"x5c":["MII"]}"#,
            "{}",
        );
        let parsed = UntrustedToken::parse(&t, 8192).unwrap();
        assert_eq!(parsed.alg, Alg::Rs256);
        assert_eq!(parsed.kid, None);
    }

    #[test]
    fn claims_must_be_a_strict_object() {
        for payload in [
            "[1]",
            "\"x\"",
            "1",
            r#"{"sub":"a","sub":"b"}"#,
            "Example of Ed25519 signing",
        ] {
            let t = token(r#"{"alg":"HS256"}"#, payload);
            let parsed = UntrustedToken::parse(&t, 8192).unwrap();
            assert_eq!(
                parsed.into_claims().unwrap_err(),
                Rejection::MalformedClaims,
                "{payload}"
            );
        }
    }
}
