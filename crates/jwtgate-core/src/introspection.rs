//! OAuth 2.0 token introspection (RFC 7662) for opaque tokens: a provider with `introspection`
//! asks the authorization server about each distinct token (`POST` of
//! `token=…&token_type_hint=access_token`, the client authenticated with HTTP Basic or a
//! configured header) and treats the members of an active answer as the token's claims. Pure:
//! the engine dispatches the call this module describes and hands back the answer's status and
//! body; answers are cached per provider, keyed by a hash of the token (never the token).

use std::rc::Rc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::http_uri::HttpUri;
use super::lru::Lru;
use super::provider::Verified;
use super::rejection::Rejection;

pub const DEFAULT_TIMEOUT_MS: u64 = 1_000;
/// How long an active answer is reused (it never outlives the token's `exp`).
pub const DEFAULT_CACHE_TTL_MS: u64 = 60_000;
/// How long an inactive answer is reused: short, so a token the server did not know yet (a
/// replica behind) is asked about again soon, while a flood of one bad token costs one call
/// per 10 s.
pub const DEFAULT_NEGATIVE_CACHE_TTL_MS: u64 = 10_000;
pub const DEFAULT_CACHE_ENTRIES: usize = 1024;
pub const DEFAULT_CACHE_BYTES: usize = 1 << 20;
/// Largest introspection answer read; a longer one is an `introspection_error`.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// A configured secret: never printed (`Debug` shows `<redacted>`), compared as text.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How jwtgate authenticates to the introspection endpoint (RFC 7662 §2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAuth {
    /// `client_id` / `client_secret`: HTTP Basic, each form-urlencoded first (RFC 6749
    /// §2.3.1). The header value is built once, at configuration time.
    Basic { client_id: String, header: Secret },
    /// A configured header (e.g. a bearer token or an API key the server expects).
    Header { name: String, value: Secret },
}

impl ClientAuth {
    /// `client_id` and `client_secret` as RFC 6749 §2.3.1 sends them.
    pub fn basic(client_id: &str, client_secret: &str) -> ClientAuth {
        let credentials = format!("{}:{}", form_encode(client_id), form_encode(client_secret));
        ClientAuth::Basic {
            client_id: client_id.to_string(),
            header: Secret(format!("Basic {}", STANDARD.encode(credentials))),
        }
    }

    fn header(&self) -> (&str, &str) {
        match self {
            ClientAuth::Basic { header, .. } => ("authorization", &header.0),
            ClientAuth::Header { name, value } => (name, &value.0),
        }
    }
}

/// A provider's `introspection`.
#[derive(Debug, Clone, PartialEq)]
pub struct Introspection {
    pub endpoint: HttpUri,
    pub client_auth: ClientAuth,
    pub cache_ttl_ms: u64,
    pub negative_cache_ttl_ms: u64,
    pub max_entries: usize,
    pub max_bytes: usize,
    /// `required_scopes` as the claim condition it is checked with (`scope` must hold all of
    /// them, else 403), built once at configuration time.
    pub scope_condition: Option<super::authorize::Condition>,
    /// When not empty, the answer's `client_id` must be one of these.
    pub client_ids: Vec<String>,
}

/// The server's answer, as far as jwtgate cares.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// `active: true`: the answer's members are the claims; `body` is the JSON as received.
    Active(Map<String, Value>, Vec<u8>),
    /// `active` is not `true`.
    Inactive,
    Failed(Failure),
}

/// Why no usable answer came (never cached).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Timeout, refused or broken connection, or answered after the timeout.
    NoResponse,
    /// The host refused to dispatch (e.g. an unknown cluster).
    DispatchRefused,
    /// A 5xx answer.
    ServerError,
    /// A status other than 200 and 5xx.
    Status,
    /// 200 without a strict JSON object (or one longer than [`MAX_ANSWER_BYTES`], or cut short).
    NotJson,
}

impl Failure {
    pub fn name(self) -> &'static str {
        match self {
            Failure::NoResponse => "no_response",
            Failure::DispatchRefused => "dispatch_refused",
            Failure::ServerError => "server_error",
            Failure::Status => "status",
            Failure::NotJson => "not_json",
        }
    }
}

/// What a provider made of an introspected token, before the time checks every use repeats:
/// the verified claims, or why the token is refused.
pub type Introspected = Result<Rc<Verified>, Rejection>;

/// The condition `required_scopes` stands for: every one in the answer's `scope` (403).
pub fn scope_condition(required_scopes: Vec<String>) -> Option<super::authorize::Condition> {
    (!required_scopes.is_empty()).then(|| super::authorize::Condition {
        claim: "scope".to_string(),
        op: super::authorize::ClaimOp::AllOf(
            required_scopes.into_iter().map(Value::String).collect(),
        ),
        rejection: Rejection::ClaimsForbidden,
    })
}

impl Introspection {
    /// The callout: headers (pseudo-headers first) and the form body.
    pub fn request(&self, token: &str) -> (Vec<(String, String)>, Vec<u8>) {
        let body = format!("token={}&token_type_hint=access_token", form_encode(token));
        let (auth_name, auth_value) = self.client_auth.header();
        let headers = vec![
            (":method".to_string(), "POST".to_string()),
            (":path".to_string(), self.endpoint.path.clone()),
            (":authority".to_string(), self.endpoint.authority.clone()),
            (":scheme".to_string(), self.endpoint.scheme.clone()),
            (
                "content-type".to_string(),
                "application/x-www-form-urlencoded".to_string(),
            ),
            ("accept".to_string(), "application/json".to_string()),
            (
                "user-agent".to_string(),
                concat!("jwtgate/", env!("CARGO_PKG_VERSION")).to_string(),
            ),
            (auth_name.to_string(), auth_value.to_string()),
        ];
        (headers, body.into_bytes())
    }

    /// Classifies an answer: `status` is `None` when no HTTP answer came; `body` is `None` when
    /// it could not be read whole.
    pub fn answer(&self, status: Option<&str>, body: Option<&[u8]>) -> Answer {
        match status.and_then(|s| s.trim().parse::<u32>().ok()) {
            None => return Answer::Failed(Failure::NoResponse),
            Some(200) => {}
            Some(500..=599) => return Answer::Failed(Failure::ServerError),
            Some(_) => return Answer::Failed(Failure::Status),
        }
        let Some(body) = body.filter(|b| b.len() <= MAX_ANSWER_BYTES) else {
            return Answer::Failed(Failure::NotJson);
        };
        let Some(claims) = super::strict_json::parse_object(body) else {
            return Answer::Failed(Failure::NotJson);
        };
        match claims.get("active") {
            Some(Value::Bool(true)) => Answer::Active(claims, body.to_vec()),
            _ => Answer::Inactive,
        }
    }

    /// The checks on an active answer that do not depend on time: the allowed clients and the
    /// required scopes (403 `insufficient_scope`, as a failed claim condition).
    pub fn check_static(&self, claims: &Map<String, Value>) -> Result<(), Rejection> {
        if !self.client_ids.is_empty() {
            match claims.get("client_id") {
                Some(Value::String(id)) if self.client_ids.contains(id) => {}
                _ => return Err(Rejection::ClientNotAllowed),
            }
        }
        if let Some(condition) = &self.scope_condition {
            super::authorize::check_all(std::slice::from_ref(condition), claims)?;
        }
        Ok(())
    }

    /// Until when (ms) an answer may be reused: an active one until `min(exp, now + ttl)`, an
    /// inactive one (or a refusal) for the negative ttl; `None`: not at all.
    pub fn expires_ms(&self, answer: &Answer, now_ms: u64) -> Option<u64> {
        let until = match answer {
            Answer::Active(claims, _) => {
                let ttl_end = now_ms.saturating_add(self.cache_ttl_ms);
                match claims.get("exp").and_then(Value::as_f64) {
                    Some(exp) if exp.is_finite() && exp >= 0.0 => {
                        let exp_ms = (exp * 1000.0).min(u64::MAX as f64) as u64;
                        ttl_end.min(exp_ms)
                    }
                    _ => ttl_end,
                }
            }
            Answer::Inactive => now_ms.saturating_add(self.negative_cache_ttl_ms),
            Answer::Failed(_) => return None,
        };
        (until > now_ms).then_some(until)
    }
}

/// The cache key of `token` for provider `provider`: a SHA-256, so no token is stored.
pub fn token_key(provider: usize, token: &str) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update((provider as u64).to_be_bytes());
    hash.update(token.as_bytes());
    hash.finalize().into()
}

/// `application/x-www-form-urlencoded` (the WHATWG URL standard's byte serializer): letters,
/// digits and `*-._` stay, a space is `+`, every other byte is `%XX`.
pub fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            _ => {
                let hex =
                    |n: u8| char::from_digit(u32::from(n), 16).map(|c| c.to_ascii_uppercase());
                out.push('%');
                out.extend(hex(b >> 4));
                out.extend(hex(b & 15));
            }
        }
    }
    out
}

/// One provider's answers: token key → (outcome, expiry in ms).
type AnswerCache = Lru<[u8; 32], (Rc<Introspected>, u64)>;

/// The per-VM introspection answers: one bounded cache per provider with `introspection`, and
/// the answers delivered to the request being decided (failures are never cached, so a
/// request that waited for a call that failed learns it here).
#[derive(Debug, Default)]
pub struct IntrospectionStore {
    caches: Vec<Option<AnswerCache>>,
    /// (provider, token key, outcome) delivered to the request being decided (set by the engine
    /// around each decision).
    pub delivered: Vec<(usize, [u8; 32], Rc<Introspected>)>,
}

impl IntrospectionStore {
    /// One cache per provider: `Some((max entries, max bytes))` for providers with
    /// `introspection`.
    pub fn new(limits: impl Iterator<Item = Option<(usize, usize)>>) -> IntrospectionStore {
        IntrospectionStore {
            caches: limits
                .map(|l| l.map(|(entries, bytes)| Lru::new(entries, bytes as u64)))
                .collect(),
            delivered: Vec::new(),
        }
    }

    /// A delivered or cached (unexpired) outcome; `true` with a cache hit.
    pub fn get(
        &mut self,
        provider: usize,
        key: &[u8; 32],
        now_ms: u64,
    ) -> Option<(Rc<Introspected>, bool)> {
        if let Some((_, _, known)) = self
            .delivered
            .iter()
            .find(|(p, k, _)| *p == provider && k == key)
        {
            return Some((Rc::clone(known), false));
        }
        let cache = self.caches.get_mut(provider)?.as_mut()?;
        let (outcome, expires_ms) = cache.get(key)?;
        if now_ms < *expires_ms {
            return Some((Rc::clone(outcome), true));
        }
        cache.remove(key);
        None
    }

    pub fn insert(
        &mut self,
        provider: usize,
        key: [u8; 32],
        outcome: Rc<Introspected>,
        expires_ms: u64,
        cost: usize,
    ) {
        if let Some(Some(cache)) = self.caches.get_mut(provider) {
            cache.insert(key, (outcome, expires_ms), cost as u64 + 64);
        }
    }

    /// Entries cached for `provider`.
    pub fn len(&self, provider: usize) -> usize {
        self.caches
            .get(provider)
            .and_then(Option::as_ref)
            .map_or(0, Lru::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intro() -> Introspection {
        Introspection {
            endpoint: HttpUri::new("https://idp.test/oauth/introspect", None, 1_000).unwrap(),
            client_auth: ClientAuth::basic("gate", "s3cret"),
            cache_ttl_ms: 60_000,
            negative_cache_ttl_ms: 10_000,
            max_entries: 4,
            max_bytes: 1 << 20,
            scope_condition: scope_condition(vec!["read".into()]),
            client_ids: vec![],
        }
    }

    #[test]
    fn form_encoding_is_the_whatwg_one() {
        assert_eq!(
            form_encode("a b+c/d=e&f%~é"),
            "a+b%2Bc%2Fd%3De%26f%25%7E%C3%A9"
        );
        assert_eq!(form_encode("AZaz09*-._"), "AZaz09*-._");
    }

    #[test]
    fn basic_auth_encodes_id_and_secret_before_base64() {
        let ClientAuth::Basic { header, .. } = ClientAuth::basic("my client:1", "p@ss:w/rd") else {
            panic!()
        };
        // "my+client%3A1:p%40ss%3Aw%2Frd"
        assert_eq!(header.0, "Basic bXkrY2xpZW50JTNBMTpwJTQwc3MlM0F3JTJGcmQ=");
        assert_eq!(format!("{header:?}"), "<redacted>");
    }

    #[test]
    fn the_request_is_a_form_post() {
        let (headers, body) = intro().request("a+b/c=");
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get(":method"), Some("POST"));
        assert_eq!(get(":path"), Some("/oauth/introspect"));
        assert_eq!(
            get("content-type"),
            Some("application/x-www-form-urlencoded")
        );
        assert_eq!(get("accept"), Some("application/json"));
        assert_eq!(get("authorization"), Some("Basic Z2F0ZTpzM2NyZXQ="));
        assert_eq!(body, b"token=a%2Bb%2Fc%3D&token_type_hint=access_token");
    }

    #[test]
    fn answers_are_classified() {
        let i = intro();
        assert!(matches!(
            i.answer(Some("200"), Some(br#"{"active":true,"sub":"a"}"#)),
            Answer::Active(..)
        ));
        for body in [&br#"{"active":false}"#[..], br#"{"active":"true"}"#, b"{}"] {
            assert_eq!(i.answer(Some("200"), Some(body)), Answer::Inactive);
        }
        assert_eq!(
            i.answer(Some("200"), Some(b"[true]")),
            Answer::Failed(Failure::NotJson)
        );
        assert_eq!(
            i.answer(Some("200"), None),
            Answer::Failed(Failure::NotJson)
        );
        assert_eq!(
            i.answer(Some("503"), Some(b"{}")),
            Answer::Failed(Failure::ServerError)
        );
        assert_eq!(i.answer(Some("401"), None), Answer::Failed(Failure::Status));
        assert_eq!(i.answer(None, None), Answer::Failed(Failure::NoResponse));
    }

    #[test]
    fn expiry_is_bounded_by_exp_and_ttl() {
        let i = intro();
        let now = 1_000_000_000;
        let active = |exp: Option<u64>| {
            let mut m = Map::new();
            m.insert("active".into(), Value::Bool(true));
            if let Some(e) = exp {
                m.insert("exp".into(), Value::from(e));
            }
            Answer::Active(m, Vec::new())
        };
        assert_eq!(i.expires_ms(&active(None), now), Some(now + 60_000));
        assert_eq!(
            i.expires_ms(&active(Some(now / 1000 + 5)), now),
            Some(now + 5_000)
        );
        assert_eq!(i.expires_ms(&active(Some(now / 1000)), now), None);
        assert_eq!(i.expires_ms(&Answer::Inactive, now), Some(now + 10_000));
        assert_eq!(
            i.expires_ms(&Answer::Failed(Failure::ServerError), now),
            None
        );
    }

    #[test]
    fn scopes_and_clients_are_checked() {
        let mut i = intro();
        let claims = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(
            i.check_static(&claims(serde_json::json!({"scope": "read write"}))),
            Ok(())
        );
        assert_eq!(
            i.check_static(&claims(serde_json::json!({"scope": "write"}))),
            Err(Rejection::ClaimsForbidden)
        );
        i.client_ids = vec!["web".into()];
        assert_eq!(
            i.check_static(&claims(
                serde_json::json!({"scope": "read", "client_id": "cli"})
            )),
            Err(Rejection::ClientNotAllowed)
        );
    }
}
