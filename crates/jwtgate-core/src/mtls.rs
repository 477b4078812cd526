//! Certificate-bound access tokens (RFC 8705 §3): the token's `cnf["x5t#S256"]` must be the
//! base64url SHA-256 of the DER client certificate of the request. The certificate (or its
//! digest) comes from the connection, through the host, or from a header a trusted front proxy
//! sets (Envoy's `x-forwarded-client-cert`).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::rejection::Rejection;
use super::request::{decode_sha256_hex, Request};

/// Where the client certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateSource {
    /// The TLS connection, as the host reports it ([`Request::peer_certificate_sha256`]).
    Connection,
    /// An XFCC header (lower-case name) set by a trusted front proxy: the last element's
    /// `Hash=` (hex SHA-256 of the DER) or `Cert=` (URL-encoded PEM).
    Header(String),
}

/// A provider's `mtls_binding`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MtlsPolicy {
    /// Every token must be bound (`cnf.x5t#S256`); otherwise only bound tokens are checked.
    pub required: bool,
    pub source: CertificateSource,
}

impl MtlsPolicy {
    /// Checks a verified token's claims against the request's client certificate.
    pub fn check(&self, claims: &Map<String, Value>, req: &Request<'_>) -> Result<(), Rejection> {
        let bound = match claims.get("cnf").and_then(|c| c.get("x5t#S256")) {
            Some(Value::String(t)) => Some(t.as_str()),
            Some(_) => return Err(Rejection::MtlsBindingMismatch),
            None => None,
        };
        let Some(thumbprint) = bound else {
            return if self.required {
                Err(Rejection::MtlsBindingMismatch)
            } else {
                Ok(())
            };
        };
        let digest = self.certificate_sha256(req)?;
        if URL_SAFE_NO_PAD.encode(digest) == thumbprint {
            Ok(())
        } else {
            Err(Rejection::MtlsBindingMismatch)
        }
    }

    /// The client certificate's SHA-256, or `mtls_certificate_missing`.
    pub fn certificate_sha256(&self, req: &Request<'_>) -> Result<[u8; 32], Rejection> {
        let found = match &self.source {
            CertificateSource::Connection => req.peer_certificate_sha256(),
            CertificateSource::Header(name) => {
                let values: Vec<&str> = req.header_values(name).collect();
                if values.is_empty() {
                    None
                } else {
                    xfcc_sha256(&values.join(","))?
                }
            }
        };
        found.ok_or(Rejection::MtlsCertificateMissing)
    }
}

/// The certificate digest of the last element of an XFCC value (the client of the proxy
/// closest to jwtgate): `Hash=` and, if also present, `Cert=` must agree. `Ok(None)`: the
/// element carries neither; an element that cannot be read is `mtls_binding_mismatch`.
pub fn xfcc_sha256(value: &str) -> Result<Option<[u8; 32]>, Rejection> {
    let bad = Rejection::MtlsBindingMismatch;
    let elements = split_unquoted(value, ',').ok_or(bad)?;
    let Some(last) = elements.last() else {
        return Ok(None);
    };
    let mut hash = None;
    let mut cert = None;
    for pair in split_unquoted(last, ';').ok_or(bad)? {
        let pair = pair.trim();
        if pair.is_empty() {
            continue;
        }
        let (key, raw) = pair.split_once('=').ok_or(bad)?;
        let value = unquote(raw.trim()).ok_or(bad)?;
        match key.trim().to_ascii_lowercase().as_str() {
            "hash" => hash = Some(decode_sha256_hex(&value).ok_or(bad)?),
            "cert" => cert = Some(pem_certificate_sha256(&value).ok_or(bad)?),
            _ => {}
        }
    }
    match (hash, cert) {
        (Some(h), Some(c)) if h != c => Err(bad),
        (Some(h), _) => Ok(Some(h)),
        (None, c) => Ok(c),
    }
}

/// Splits on `sep` outside double quotes (`\"` escapes a quote). `None`: an unclosed quote.
fn split_unquoted(text: &str, sep: char) -> Option<Vec<&str>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                out.push(text.get(start..i)?);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    if quoted {
        return None;
    }
    out.push(text.get(start..)?);
    Some(out)
}

/// A value as written, or the inside of `"…"` with `\"` and `\\` unescaped.
fn unquote(value: &str) -> Option<String> {
    let Some(inner) = value.strip_prefix('"') else {
        return (!value.contains('"')).then(|| value.to_string());
    };
    let inner = inner.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.push(chars.next()?);
        } else {
            out.push(c);
        }
    }
    Some(out)
}

/// SHA-256 of the DER in a URL-encoded PEM `CERTIFICATE` block (XFCC `Cert=`).
fn pem_certificate_sha256(encoded: &str) -> Option<[u8; 32]> {
    let pem = super::percent::decode_where(encoded, |_| true);
    let body = pem
        .split("-----BEGIN CERTIFICATE-----")
        .nth(1)?
        .split("-----END CERTIFICATE-----")
        .next()?;
    let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let der = STANDARD.decode(b64).ok().filter(|d| !d.is_empty())?;
    Some(Sha256::digest(der).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xfcc_uses_the_last_element_and_reads_quoted_values() {
        let h1 = "11".repeat(32);
        let h2 = "22".repeat(32);
        let value = format!(
            "By=spiffe://a;Hash={h1};Subject=\"/CN=x,y;z\",By=spiffe://b;Hash={h2};URI=\"a\\\"b\""
        );
        assert_eq!(xfcc_sha256(&value), Ok(Some([0x22; 32])));
        assert_eq!(xfcc_sha256("By=x;URI=y"), Ok(None));
        assert_eq!(
            xfcc_sha256("Hash=zz"),
            Err(Rejection::MtlsBindingMismatch),
            "not hex"
        );
        assert_eq!(
            xfcc_sha256("Subject=\"open"),
            Err(Rejection::MtlsBindingMismatch)
        );
    }
}
