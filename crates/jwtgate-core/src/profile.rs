//! Token profiles (extension): what a provider demands of a verified token beyond time, issuer
//! and audience — a `typ` allow-list (RFC 9068 §4: access tokens say `at+jwt`, so an ID token
//! is not taken where an access token is meant), a `subjects` matcher (Envoy's
//! `JwtProvider.subjects`, a `StringMatcher`) and `required_claims`. Checked after the
//! signature and the registered claims, each with its own refusal reason.

use serde_json::{Map, Value};

use super::claims::lookup;
use super::rejection::Rejection;

/// Envoy's `StringMatcher` (`exact`, `prefix`, `suffix`, `contains`, `safe_regex`;
/// `ignore_case` for all but the regex, which says `(?i)` itself).
#[derive(Debug, Clone)]
pub enum StringMatcher {
    Exact(String, bool),
    Prefix(String, bool),
    Suffix(String, bool),
    Contains(String, bool),
    /// Must match the whole string (RE2 full match, as Envoy); anchored when compiled.
    Regex(regex_lite::Regex),
}

impl StringMatcher {
    /// Per request: no copies, except `contains` with `ignore_case` (one lower-cased `sub`).
    pub fn matches(&self, s: &str) -> bool {
        // ASCII case folding, as Envoy's `ignore_case` (absl::AsciiStrToLower).
        let same = |a: &[u8], b: &str, ic: bool| {
            if ic {
                a.eq_ignore_ascii_case(b.as_bytes())
            } else {
                a == b.as_bytes()
            }
        };
        let bytes = s.as_bytes();
        match self {
            StringMatcher::Exact(want, ic) => same(bytes, want, *ic),
            StringMatcher::Prefix(want, ic) => bytes
                .get(..want.len())
                .is_some_and(|head| same(head, want, *ic)),
            StringMatcher::Suffix(want, ic) => bytes
                .len()
                .checked_sub(want.len())
                .and_then(|start| bytes.get(start..))
                .is_some_and(|tail| same(tail, want, *ic)),
            StringMatcher::Contains(want, false) => s.contains(want.as_str()),
            StringMatcher::Contains(want, true) => {
                s.to_ascii_lowercase().contains(&want.to_ascii_lowercase())
            }
            StringMatcher::Regex(re) => re.is_match(s),
        }
    }
}

/// A provider's token profile; the default demands nothing.
#[derive(Debug, Clone, Default)]
pub struct TokenProfile {
    /// Accepted `typ` values, normalized ([`normalize_typ`]); `None`: `typ` is not looked at.
    pub typ: Option<Vec<String>>,
    /// `sub` must be present and match.
    pub subjects: Option<StringMatcher>,
    /// Claim names (or paths) that must be present and not null.
    pub required_claims: Vec<String>,
}

impl TokenProfile {
    /// Checks a verified token's header `typ` and claims: `typ` first, then the required
    /// claims, then `sub`.
    pub fn check(&self, typ: Option<&Value>, claims: &Map<String, Value>) -> Result<(), Rejection> {
        if let Some(allowed) = &self.typ {
            let accepted = match typ {
                Some(Value::String(t)) => {
                    let t = normalize_typ(t);
                    allowed.contains(&t)
                }
                // No `typ`, or one that is not a string: not an accepted type.
                _ => false,
            };
            if !accepted {
                return Err(Rejection::TypNotAllowed);
            }
        }
        for name in &self.required_claims {
            if lookup(claims, name).is_none_or(Value::is_null) {
                return Err(Rejection::MissingRequiredClaim);
            }
        }
        if let Some(matcher) = &self.subjects {
            match claims.get("sub") {
                Some(Value::String(sub)) if matcher.matches(sub) => {}
                _ => return Err(Rejection::SubjectNotAllowed),
            }
        }
        Ok(())
    }
}

/// A media type as RFC 7515 §4.1.9 and RFC 9068 §4 compare `typ`: ASCII case-insensitively,
/// with an `application/` prefix optional when no other `/` follows (`application/at+jwt` is
/// `at+jwt`).
pub fn normalize_typ(typ: &str) -> String {
    let lower = typ.to_ascii_lowercase();
    match lower.strip_prefix("application/") {
        Some(rest) if !rest.contains('/') => rest.to_string(),
        _ => lower,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn typ_compares_as_media_types() {
        let p = TokenProfile {
            typ: Some(vec![normalize_typ("application/at+jwt")]),
            ..Default::default()
        };
        let c = claims(json!({}));
        for ok in [
            "at+jwt",
            "AT+JWT",
            "application/at+jwt",
            "Application/At+JWT",
        ] {
            assert_eq!(p.check(Some(&json!(ok)), &c), Ok(()), "{ok}");
        }
        for bad in [
            json!("JWT"),
            json!("jwt"),
            json!(""),
            json!("at+jwt "),
            json!("text/at+jwt"),
            json!("application/application/at+jwt"),
            json!(["at+jwt"]),
            json!(null),
        ] {
            assert_eq!(
                p.check(Some(&bad), &c),
                Err(Rejection::TypNotAllowed),
                "{bad}"
            );
        }
        assert_eq!(p.check(None, &c), Err(Rejection::TypNotAllowed));
        assert_eq!(TokenProfile::default().check(None, &c), Ok(()));
    }

    #[test]
    fn required_claims_and_subjects() {
        let p = TokenProfile {
            subjects: Some(StringMatcher::Prefix(
                "spiffe://cluster.local/".into(),
                false,
            )),
            required_claims: vec!["client_id".into(), r"kubernetes\.io.namespace".into()],
            ..Default::default()
        };
        let ok = json!({"sub": "spiffe://cluster.local/ns/a", "client_id": "c",
                        "kubernetes.io": {"namespace": "a"}});
        assert_eq!(p.check(None, &claims(ok.clone())), Ok(()));
        let mut no_ns = ok.clone();
        no_ns["kubernetes.io"] = json!({});
        assert_eq!(
            p.check(None, &claims(no_ns)),
            Err(Rejection::MissingRequiredClaim)
        );
        let mut null_client = ok.clone();
        null_client["client_id"] = Value::Null;
        assert_eq!(
            p.check(None, &claims(null_client)),
            Err(Rejection::MissingRequiredClaim)
        );
        let mut other_sub = ok.clone();
        other_sub["sub"] = json!("spiffe://evil/ns/a");
        assert_eq!(
            p.check(None, &claims(other_sub)),
            Err(Rejection::SubjectNotAllowed)
        );
        let mut no_sub = ok;
        no_sub.as_object_mut().unwrap().remove("sub");
        assert_eq!(
            p.check(None, &claims(no_sub)),
            Err(Rejection::SubjectNotAllowed)
        );
    }

    #[test]
    fn string_matcher_forms() {
        let re = regex_lite::Regex::new("^(?:user-[0-9]+)$").unwrap();
        assert!(StringMatcher::Regex(re.clone()).matches("user-42"));
        assert!(!StringMatcher::Regex(re).matches("user-42x"));
        assert!(StringMatcher::Exact("Alice".into(), true).matches("aLICE"));
        assert!(!StringMatcher::Exact("Alice".into(), false).matches("alice"));
        assert!(StringMatcher::Suffix("@corp.test".into(), false).matches("a@corp.test"));
        assert!(!StringMatcher::Suffix("@corp.test".into(), false).matches("a@corp.test.evil"));
        assert!(StringMatcher::Contains("svc".into(), true).matches("a-SVC-b"));
        assert!(!StringMatcher::Prefix("svc".into(), false).matches("SVC-1"));
    }
}
