//! Claim checks after the signature verified: time (`exp`, `nbf`, `iat`) with clock skew,
//! `iss`, `aud`, `require_expiration`, `max_lifetime`; and reading claims by dotted path for
//! `claim_to_headers`.

use serde_json::{Map, Value};

use super::rejection::Rejection;

/// What a provider demands of a token's registered claims.
#[derive(Debug, Clone, Default)]
pub struct ClaimPolicy {
    pub issuer: Option<String>,
    pub audiences: Vec<String>,
    pub clock_skew_seconds: u64,
    pub require_expiration: bool,
    pub max_lifetime_seconds: Option<u64>,
    /// How `aud` values are compared with `audiences` (`audience_match`).
    pub audience_match: AudienceMatch,
}

/// `audience_match`: how a token's `aud` is compared with the configured audiences.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AudienceMatch {
    /// Byte for byte (RFC 7519 §4.1.3: case-sensitive strings). The default.
    #[default]
    Exact,
    /// As Google's jwt_verify_lib under Envoy's `jwt_authn`: one leading `http://` or
    /// `https://` and one trailing `/` are ignored on both sides, so `https://api.test/`,
    /// `http://api.test` and `api.test` are the same audience.
    Envoy,
}

impl AudienceMatch {
    fn same(self, configured: &str, token: &str) -> bool {
        match self {
            AudienceMatch::Exact => configured == token,
            AudienceMatch::Envoy => envoy_audience(configured) == envoy_audience(token),
        }
    }
}

/// jwt_verify_lib's `sanitizeAudience`: without one `http://` or `https://` prefix (compared
/// case-sensitively, as there) and one trailing `/`.
fn envoy_audience(aud: &str) -> &str {
    let aud = aud
        .strip_prefix("http://")
        .or_else(|| aud.strip_prefix("https://"))
        .unwrap_or(aud);
    aud.strip_suffix('/').unwrap_or(aud)
}

impl ClaimPolicy {
    /// Checks `claims` at host time `now` (unix seconds): types, time, issuer. The audience is
    /// checked by the requirement ([`ClaimPolicy::check_audience`]) so that
    /// `provider_and_audiences` can override it, and so a 403 is only given for an otherwise
    /// valid token.
    pub fn check(&self, claims: &Map<String, Value>, now: u64) -> Result<(), Rejection> {
        let exp = numeric_date(claims, "exp")?;
        let nbf = numeric_date(claims, "nbf")?;
        let iat = numeric_date(claims, "iat")?;
        let now = now as f64;
        let skew = self.clock_skew_seconds as f64;

        // RFC 7519 §4.1.4: valid only *before* exp; with skew: now < exp + skew.
        if let Some(exp) = exp {
            if now >= exp + skew {
                return Err(Rejection::Expired);
            }
        } else if self.require_expiration || self.max_lifetime_seconds.is_some() {
            return Err(Rejection::MissingExpiration);
        }
        // RFC 7519 §4.1.5: valid on or after nbf; with skew: nbf <= now + skew.
        if let Some(nbf) = nbf {
            if nbf > now + skew {
                return Err(Rejection::NotYetValid);
            }
        }
        if let (Some(max), Some(exp)) = (self.max_lifetime_seconds, exp) {
            // A lifetime measured from a future `iat` proves nothing (and an `iat` past `exp`
            // made it negative, so any lifetime passed): `iat` must not be after now + skew.
            if iat.is_some_and(|iat| iat > now + skew) {
                return Err(Rejection::IssuedInFuture);
            }
            // Lifetime from issuance (iat, else nbf); a token with neither is judged from now.
            let start = iat.or(nbf).unwrap_or(now);
            let lifetime = exp - start;
            if lifetime < 0.0 {
                return Err(Rejection::NegativeLifetime);
            }
            if lifetime > max as f64 {
                return Err(Rejection::LifetimeTooLong);
            }
        }
        // RFC 7519 §4.1.2 / §4.1.7: `sub` and `jti` are strings when present.
        for name in ["sub", "jti"] {
            if claims.get(name).is_some_and(|v| !v.is_string()) {
                return Err(Rejection::MalformedClaims);
            }
        }
        if let Some(issuer) = &self.issuer {
            match claims.get("iss") {
                Some(Value::String(iss)) if iss == issuer => {}
                Some(Value::String(_)) | None => return Err(Rejection::IssuerMismatch),
                Some(_) => return Err(Rejection::MalformedClaims),
            }
        } else if claims.get("iss").is_some_and(|v| !v.is_string()) {
            return Err(Rejection::MalformedClaims);
        }
        match claims.get("aud") {
            None | Some(Value::String(_)) => Ok(()),
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => Ok(()),
            Some(_) => Err(Rejection::MalformedClaims),
        }
    }

    /// `aud` (string or array of strings) must contain one of `audiences`, compared as
    /// `mode` says; no audiences configured: any `aud` is fine.
    pub fn check_audience(
        audiences: &[String],
        aud: Option<&Value>,
        mode: AudienceMatch,
    ) -> Result<(), Rejection> {
        let accepted = |a: &str| audiences.iter().any(|want| mode.same(want, a));
        match aud {
            None if audiences.is_empty() => Ok(()),
            None => Err(Rejection::AudienceNotAllowed),
            Some(Value::String(a)) => {
                if audiences.is_empty() || accepted(a) {
                    Ok(())
                } else {
                    Err(Rejection::AudienceNotAllowed)
                }
            }
            Some(Value::Array(items)) => {
                let mut any = audiences.is_empty();
                for item in items {
                    match item {
                        Value::String(a) => any |= accepted(a),
                        _ => return Err(Rejection::MalformedClaims),
                    }
                }
                if any {
                    Ok(())
                } else {
                    Err(Rejection::AudienceNotAllowed)
                }
            }
            Some(_) => Err(Rejection::MalformedClaims),
        }
    }
}

/// The latest NumericDate accepted: 9999-12-31T23:59:59Z.
pub const MAX_NUMERIC_DATE: f64 = 253_402_300_799.0;

/// A NumericDate claim: absent, or a JSON number from 0 (1970) to [`MAX_NUMERIC_DATE`]
/// (year 9999). Strings, booleans, null are malformed; a number outside the range
/// (negative, `2.001e206`) is `DateOutOfRange`: no issuer means it, and such values defeat
/// lifetime arithmetic.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<f64>, Rejection> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            let date = n.as_f64().ok_or(Rejection::MalformedClaims)?;
            if !(0.0..=MAX_NUMERIC_DATE).contains(&date) {
                return Err(Rejection::DateOutOfRange);
            }
            Ok(Some(date))
        }
        Some(_) => Err(Rejection::MalformedClaims),
    }
}

/// Looks a claim up by name: first as a literal top-level name (claim names like
/// `https://example.com/roles` contain dots), then as a dotted path into nested objects
/// (`realm_access.roles`).
///
/// A name with a backslash is an escaped path instead ([`claim_path`]): `\.` is a dot inside a
/// key and `\\` a backslash, so `kubernetes\.io.namespace` is the key `kubernetes.io`, then
/// `namespace` (and nothing else is tried). This is the one place claim names are split.
pub fn lookup<'c>(claims: &'c Map<String, Value>, name: &str) -> Option<&'c Value> {
    if !name.contains('\\') {
        if let Some(value) = claims.get(name) {
            return Some(value);
        }
        let mut parts = name.split('.');
        let mut current = claims.get(parts.next()?)?;
        for part in parts {
            current = current.as_object()?.get(part)?;
        }
        return Some(current);
    }
    let parts = claim_path(name).ok()?;
    let mut parts = parts.iter();
    let mut current = claims.get(parts.next()?.as_str())?;
    for part in parts {
        current = current.as_object()?.get(part.as_str())?;
    }
    Some(current)
}

/// The keys of an escaped claim path (a name with a backslash): split on unescaped dots,
/// `\.` a literal dot, `\\` a literal backslash. Any other escape, or an empty key, is an error
/// (the configuration names the field).
pub fn claim_path(name: &str) -> Result<Vec<String>, &'static str> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut chars = name.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped @ ('.' | '\\')) => current.push(escaped),
                _ => {
                    return Err(
                        "`\\` must be followed by `.` or `\\` (`kubernetes\\.io.namespace`)",
                    )
                }
            },
            '.' => parts.push(std::mem::take(&mut current)),
            other => current.push(other),
        }
    }
    parts.push(current);
    if parts.iter().any(String::is_empty) {
        return Err("a claim path has an empty key");
    }
    Ok(parts)
}

/// Checks a configured claim name: non-empty, and a valid escaped path if it has a backslash.
pub fn check_claim_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("must not be empty");
    }
    if name.contains('\\') {
        claim_path(name)?;
    }
    Ok(())
}

/// The text of a claim for an HTTP header, or why it cannot be sent safely.
///
/// - `null` (and an empty array): no header.
/// - strings as they are, numbers (integers exactly) and booleans as JSON text;
/// - arrays of strings, numbers and booleans joined with `,` (no spaces);
/// - objects as compact JSON.
///
/// Refused (`Err`, the reason for the log): any control character (C0 including tab, DEL,
/// C1) — it could split headers on some hosts —, leading or trailing whitespace (upstream
/// parsers trim it: `" admin"` would become `admin`), and in arrays an element that is empty,
/// holds a comma (upstream parsers split on it: `["a,b"]` would become two values) or is not a
/// string, number or boolean. A refused value refuses the token (`claim_not_forwardable`)
/// rather than silently dropping the header, which an upstream could read as "no such claim".
pub fn header_text(value: &Value) -> Result<Option<String>, &'static str> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => safe_header_text(s).map(|()| Some(s.clone())),
        Value::Bool(_) | Value::Number(_) => Ok(Some(value.to_string())),
        Value::Array(items) if items.is_empty() => Ok(None),
        Value::Array(items) => {
            let mut parts = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::String(s) if s.is_empty() => {
                        return Err("an array element is an empty string")
                    }
                    Value::String(s) if s.contains(',') => {
                        return Err("an array element contains a comma")
                    }
                    Value::String(s) => {
                        safe_header_text(s)?;
                        parts.push(s.clone());
                    }
                    Value::Bool(_) | Value::Number(_) => parts.push(item.to_string()),
                    _ => return Err("an array element is not a string, number or boolean"),
                }
            }
            Ok(Some(parts.join(",")))
        }
        Value::Object(_) => {
            // serde_json escapes C0 controls but writes DEL and C1 controls raw.
            let text = value.to_string();
            safe_header_text(&text).map(|()| Some(text))
        }
    }
}

fn safe_header_text(s: &str) -> Result<(), &'static str> {
    if s.chars().any(char::is_control) {
        Err("contains a control character")
    } else if s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
        Err("has leading or trailing whitespace")
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_700_000_000;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    fn policy() -> ClaimPolicy {
        ClaimPolicy {
            clock_skew_seconds: 60,
            ..Default::default()
        }
    }

    #[test]
    fn exp_at_the_skew_edge() {
        let p = policy();
        let at = |exp: u64| p.check(&claims(json!({ "exp": exp })), NOW);
        assert_eq!(at(NOW - 59), Ok(()));
        assert_eq!(at(NOW - 60), Err(Rejection::Expired));
        assert_eq!(at(NOW - 61), Err(Rejection::Expired));
        assert_eq!(at(NOW + 3600), Ok(()));
    }

    #[test]
    fn exp_without_skew_is_exclusive() {
        let p = ClaimPolicy::default();
        assert_eq!(
            p.check(&claims(json!({"exp": NOW})), NOW),
            Err(Rejection::Expired)
        );
        assert_eq!(p.check(&claims(json!({"exp": NOW + 1})), NOW), Ok(()));
    }

    #[test]
    fn nbf_at_the_skew_edge() {
        let p = policy();
        let at = |nbf: u64| p.check(&claims(json!({ "nbf": nbf })), NOW);
        assert_eq!(at(NOW + 60), Ok(()));
        assert_eq!(at(NOW + 61), Err(Rejection::NotYetValid));
    }

    #[test]
    fn fractional_and_extreme_dates_do_not_overflow() {
        let p = policy();
        assert_eq!(
            p.check(&claims(json!({"exp": 1e300})), NOW),
            Err(Rejection::DateOutOfRange)
        );
        assert_eq!(
            p.check(&claims(json!({"exp": -1e300})), NOW),
            Err(Rejection::DateOutOfRange)
        );
        assert_eq!(
            p.check(&claims(json!({"exp": u64::MAX})), u64::MAX),
            Err(Rejection::DateOutOfRange)
        );
        assert_eq!(
            p.check(&claims(json!({"exp": MAX_NUMERIC_DATE})), u64::MAX),
            Err(Rejection::Expired)
        );
        assert_eq!(
            p.check(&claims(json!({"exp": (NOW - 60) as f64 + 0.5})), NOW),
            Ok(())
        );
    }

    #[test]
    fn dates_must_be_numbers() {
        let p = policy();
        for c in [
            json!({"exp": "1700000100"}),
            json!({"nbf": "1"}),
            json!({"iat": true}),
            json!({"exp": null}),
        ] {
            assert_eq!(
                p.check(&claims(c.clone()), NOW),
                Err(Rejection::MalformedClaims),
                "{c}"
            );
        }
    }

    #[test]
    fn require_expiration() {
        let p = ClaimPolicy {
            require_expiration: true,
            ..policy()
        };
        assert_eq!(
            p.check(&claims(json!({})), NOW),
            Err(Rejection::MissingExpiration)
        );
        assert_eq!(p.check(&claims(json!({"exp": NOW + 1})), NOW), Ok(()));
    }

    #[test]
    fn max_lifetime_from_iat_nbf_or_now() {
        let p = ClaimPolicy {
            max_lifetime_seconds: Some(3600),
            ..policy()
        };
        let check = |c: Value| p.check(&claims(c), NOW);
        assert_eq!(check(json!({"iat": NOW, "exp": NOW + 3600})), Ok(()));
        assert_eq!(
            check(json!({"iat": NOW, "exp": NOW + 3601})),
            Err(Rejection::LifetimeTooLong)
        );
        assert_eq!(
            check(json!({"nbf": NOW, "exp": NOW + 3601})),
            Err(Rejection::LifetimeTooLong)
        );
        assert_eq!(
            check(json!({"exp": NOW + 3601})),
            Err(Rejection::LifetimeTooLong)
        );
        assert_eq!(check(json!({"exp": NOW + 3000})), Ok(()));
        assert_eq!(
            check(json!({"iat": NOW})),
            Err(Rejection::MissingExpiration)
        );
    }

    #[test]
    fn issuer_exact_and_required_when_configured() {
        let p = ClaimPolicy {
            issuer: Some("https://issuer.test".into()),
            ..policy()
        };
        assert_eq!(
            p.check(&claims(json!({"iss": "https://issuer.test"})), NOW),
            Ok(())
        );
        assert_eq!(
            p.check(&claims(json!({"iss": "https://issuer.test/"})), NOW),
            Err(Rejection::IssuerMismatch)
        );
        assert_eq!(
            p.check(&claims(json!({})), NOW),
            Err(Rejection::IssuerMismatch)
        );
        assert_eq!(
            p.check(&claims(json!({"iss": 1})), NOW),
            Err(Rejection::MalformedClaims)
        );
    }

    #[test]
    fn audience_any_of_string_or_array() {
        let audiences = vec!["api".to_string(), "web".to_string()];
        let check = |c: Value| {
            ClaimPolicy::check_audience(&audiences, claims(c).get("aud"), AudienceMatch::Exact)
        };
        assert_eq!(check(json!({"aud": "api"})), Ok(()));
        assert_eq!(check(json!({"aud": ["x", "web"]})), Ok(()));
        assert_eq!(
            check(json!({"aud": ["x"]})),
            Err(Rejection::AudienceNotAllowed)
        );
        assert_eq!(
            check(json!({"aud": []})),
            Err(Rejection::AudienceNotAllowed)
        );
        assert_eq!(check(json!({})), Err(Rejection::AudienceNotAllowed));
        assert_eq!(
            check(json!({"aud": "API"})),
            Err(Rejection::AudienceNotAllowed)
        );
        assert_eq!(
            check(json!({"aud": ["api", 1]})),
            Err(Rejection::MalformedClaims)
        );
    }

    #[test]
    fn audience_type_is_checked_with_the_other_claims() {
        let p = policy();
        assert_eq!(
            p.check(&claims(json!({"aud": 1})), NOW),
            Err(Rejection::MalformedClaims)
        );
        assert_eq!(
            p.check(&claims(json!({"aud": ["a", 1]})), NOW),
            Err(Rejection::MalformedClaims)
        );
        assert_eq!(p.check(&claims(json!({"aud": ["a"]})), NOW), Ok(()));
        assert_eq!(
            ClaimPolicy::check_audience(&[], None, AudienceMatch::Exact),
            Ok(())
        );
        assert_eq!(
            ClaimPolicy::check_audience(&[], Some(&json!("x")), AudienceMatch::Exact),
            Ok(())
        );
    }

    #[test]
    fn lookup_literal_then_dotted() {
        let c = claims(json!({
            "sub": "alice",
            "realm_access": {"roles": ["a", "b"]},
            "https://example.com/roles": ["x"],
            "a": {"b": {"c": 7}}
        }));
        assert_eq!(lookup(&c, "sub"), Some(&json!("alice")));
        assert_eq!(lookup(&c, "realm_access.roles"), Some(&json!(["a", "b"])));
        assert_eq!(lookup(&c, "https://example.com/roles"), Some(&json!(["x"])));
        assert_eq!(lookup(&c, "a.b.c"), Some(&json!(7)));
        assert_eq!(lookup(&c, "a.x"), None);
        assert_eq!(lookup(&c, "sub.x"), None);
    }

    #[test]
    fn escaped_dots_name_keys_with_dots() {
        let c = claims(json!({
            "kubernetes.io": {"namespace": "prod", "pod": {"name": "p-1"}},
            "kubernetes": {"io": {"namespace": "spoofed"}},
            "a\\b": 1,
            "x.y": "literal"
        }));
        assert_eq!(
            lookup(&c, r"kubernetes\.io.namespace"),
            Some(&json!("prod"))
        );
        assert_eq!(lookup(&c, r"kubernetes\.io.pod.name"), Some(&json!("p-1")));
        // Without the escape the dotted path is the nested one (today's reading, unchanged).
        assert_eq!(
            lookup(&c, "kubernetes.io.namespace"),
            Some(&json!("spoofed"))
        );
        assert_eq!(lookup(&c, r"a\\b"), Some(&json!(1)));
        assert_eq!(lookup(&c, r"x\.y"), Some(&json!("literal")));
        assert_eq!(lookup(&c, "x.y"), Some(&json!("literal")));
        assert_eq!(lookup(&c, r"kubernetes\.io.missing"), None);
        assert_eq!(lookup(&c, r"kubernetes\.io\.namespace"), None);
        assert_eq!(lookup(&c, r"bad\escape"), None);
        assert_eq!(
            claim_path(r"kubernetes\.io.namespace").unwrap(),
            ["kubernetes.io", "namespace"]
        );
        for bad in [r"a\b", r"a\", r"a\..", r"\.a.", r".a\.b"] {
            assert!(check_claim_name(bad).is_err(), "{bad}");
        }
        assert!(check_claim_name("").is_err());
        assert!(
            check_claim_name("a..b").is_ok(),
            "no backslash: read as before"
        );
    }

    #[test]
    fn envoy_audience_match_ignores_scheme_and_one_trailing_slash() {
        let check = |configured: &str, aud: &str, mode| {
            ClaimPolicy::check_audience(&[configured.to_string()], Some(&json!(aud)), mode)
        };
        let envoy = AudienceMatch::Envoy;
        for (configured, aud) in [
            ("https://api.test", "https://api.test"),
            ("https://api.test", "http://api.test"),
            ("https://api.test", "api.test"),
            ("https://api.test", "https://api.test/"),
            ("api.test/", "http://api.test"),
            ("http://api.test/", "https://api.test"),
        ] {
            assert_eq!(
                check(configured, aud, envoy),
                Ok(()),
                "{configured} ~ {aud}"
            );
        }
        for (configured, aud) in [
            ("https://api.test", "https://api.test//"),
            ("https://api.test", "HTTPS://api.test"),
            ("https://api.test", "https://API.test"),
            ("https://api.test", "ftp://api.test"),
            ("https://api.test", "https://api.test/x"),
            ("https://api.test", "https://https://api.test"),
        ] {
            assert_eq!(
                check(configured, aud, envoy),
                Err(Rejection::AudienceNotAllowed),
                "{configured} !~ {aud}"
            );
        }
        assert_eq!(
            check(
                "https://api.test",
                "https://api.test/",
                AudienceMatch::Exact
            ),
            Err(Rejection::AudienceNotAllowed)
        );
        assert_eq!(
            check("https://api.test", "api.test", AudienceMatch::Exact),
            Err(Rejection::AudienceNotAllowed)
        );
    }

    #[test]
    fn header_text_forms() {
        let ok = |v: Value| header_text(&v).unwrap();
        assert_eq!(ok(json!("alice")).as_deref(), Some("alice"));
        assert_eq!(ok(json!("")).as_deref(), Some(""));
        assert_eq!(ok(json!(42)).as_deref(), Some("42"));
        assert_eq!(
            ok(json!(9007199254740993u64)).as_deref(),
            Some("9007199254740993")
        );
        assert_eq!(ok(json!(true)).as_deref(), Some("true"));
        assert_eq!(ok(json!(["a", "b"])).as_deref(), Some("a,b"));
        assert_eq!(ok(json!(["a", 1, false])).as_deref(), Some("a,1,false"));
        assert_eq!(ok(json!([])), None);
        assert_eq!(ok(json!({"k": 1})).as_deref(), Some(r#"{"k":1}"#));
        assert_eq!(ok(json!(null)), None);
        for bad in [
            json!("a\r\nx-admin: 1"),
            json!(" admin"),
            json!("admin "),
            json!("\tadmin"),
            json!("admin\u{a0}"),
            json!("ad\u{7f}min"),
            json!("ad\u{85}min"),
            json!(["a,b"]),
            json!(["a", ""]),
            json!(["a", " b"]),
            json!(["a", ["b"]]),
            json!(["a", null]),
            json!({"k": "\u{7f}"}),
        ] {
            assert!(header_text(&bad).is_err(), "{bad}");
        }
    }
}
