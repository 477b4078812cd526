//! External authorization (the seeds' NGINX `auth_request`): ask an auth service about the
//! request's credentials, allow with the headers it returns, deny with its status, and cache its
//! answers. Pure: the host glue dispatches the callout this module describes and hands back the
//! answer's status and headers.

use std::rc::Rc;

use sha2::{Digest, Sha256};

use super::http_uri::HttpUri;
use super::lru::Lru;
use super::request::Request;

pub const DEFAULT_TIMEOUT_MS: u64 = 1_000;
pub const DEFAULT_STATUS_ON_ERROR: u32 = 500;
pub const DEFAULT_ALLOW_TTL_MS: u64 = 60_000;
pub const DEFAULT_DENY_TTL_MS: u64 = 10_000;
pub const DEFAULT_CACHE_ENTRIES: usize = 1024;

/// One configured auth service (`ext_auth.<name>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtAuthService {
    pub name: String,
    /// Where to ask (`http_uri`).
    pub endpoint: HttpUri,
    /// Request headers sent to the service (lower-case), besides `x-original-*`.
    pub allowed_request_headers: Vec<String>,
    /// Answer headers copied onto the upstream request on allow (lower-case). The filter
    /// removes client-sent copies of them from every request.
    pub allowed_upstream_headers: Vec<String>,
    /// Answer headers copied into the local response on deny (lower-case).
    pub allowed_client_headers: Vec<String>,
    /// Transport errors (timeout, no connection, refused dispatch) and 5xx answers let the
    /// request through, as Envoy's `failure_mode_allow`; other statuses never do.
    pub failure_mode_allow: bool,
    pub status_on_error: u32,
    pub cache: Option<CachePolicy>,
}

/// How answers are cached (per VM, one cache per service).
///
/// The key is the request method, the key headers' values and (unless `key_path` is false)
/// the request `:path` with its query, i.e. what the service sees as `x-original-uri`. A
/// request that carries none of the key headers is cached only when the path is part of the
/// key, so an anonymous allow for one page never covers another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachePolicy {
    /// The request headers whose values make the cache key (default: the credentials,
    /// `allowed_request_headers`).
    pub key_headers: Vec<String>,
    /// Key on the request path and query too (default `true`). `false` is for services whose
    /// answer depends only on the credentials.
    pub key_path: bool,
    pub allow_ttl_ms: u64,
    pub deny_ttl_ms: u64,
    pub max_entries: usize,
}

/// The service's answer, as far as jwtgate cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtAnswer {
    /// 2xx: allowed; these headers go upstream.
    Allowed(Vec<(String, String)>),
    /// 401 or 403: denied with that status; these headers go to the client.
    Denied(u32, Vec<(String, String)>),
    /// Anything else: never cached.
    Failed(ExtFailure),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtFailure {
    /// A status other than 2xx, 401, 403 and 5xx (3xx, other 4xx, nonsense): never fails open.
    Status,
    /// A 5xx answer: the service is broken (fails open with `failure_mode_allow`).
    ServerError,
    /// Timeout, refused or broken connection.
    NoResponse,
    /// The host refused to dispatch (e.g. an unknown cluster).
    DispatchRefused,
    /// An allowing answer whose header for the upstream is not valid UTF-8: it is neither
    /// forwarded altered nor dropped silently, and never fails open.
    BadAnswer,
}

impl ExtFailure {
    /// Whether `failure_mode_allow` lets a request through on this failure: transport errors
    /// and 5xx only, as Envoy's `ext_authz`. A 3xx or 4xx answer is the service speaking, not
    /// the service failing.
    pub fn may_fail_open(self) -> bool {
        match self {
            ExtFailure::NoResponse | ExtFailure::DispatchRefused | ExtFailure::ServerError => true,
            ExtFailure::Status | ExtFailure::BadAnswer => false,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ExtFailure::Status => "status",
            ExtFailure::ServerError => "server_error",
            ExtFailure::NoResponse => "no_response",
            ExtFailure::DispatchRefused => "dispatch_refused",
            ExtFailure::BadAnswer => "bad_answer",
        }
    }
}

impl ExtAuthService {
    /// The callout: `GET <path>` with the original method and URI, and the allowed request
    /// headers. Never the body.
    pub fn callout_headers(&self, req: &Request<'_>) -> Vec<(String, String)> {
        let mut headers: Vec<(String, String)> = self
            .endpoint
            .get_headers()
            .iter()
            .map(|&(k, v)| (k.to_string(), v.to_string()))
            .collect();
        headers.extend([
            ("x-original-method".to_string(), req.method.to_string()),
            ("x-original-uri".to_string(), req.path.to_string()),
        ]);
        for name in &self.allowed_request_headers {
            for value in req.header_values(name) {
                headers.push((name.clone(), value.to_string()));
            }
        }
        headers
    }

    /// Classifies the answer: `status` is `None` when no HTTP answer came.
    pub fn answer(&self, status: Option<&str>, headers: &[(String, String)]) -> ExtAnswer {
        let pick = |allowed: &[String]| -> Vec<(String, String)> {
            headers
                .iter()
                .filter(|(n, _)| allowed.iter().any(|a| a.eq_ignore_ascii_case(n)))
                // A value with control characters would split headers on some hosts.
                .filter(|(_, v)| !v.bytes().any(|b| b < 0x20 && b != b'\t' || b == 0x7f))
                .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
                .collect()
        };
        match status.and_then(|s| s.trim().parse::<u32>().ok()) {
            None => ExtAnswer::Failed(ExtFailure::NoResponse),
            Some(200..=299) => ExtAnswer::Allowed(pick(&self.allowed_upstream_headers)),
            Some(s @ (401 | 403)) => ExtAnswer::Denied(s, pick(&self.allowed_client_headers)),
            Some(500..=599) => ExtAnswer::Failed(ExtFailure::ServerError),
            Some(_) => ExtAnswer::Failed(ExtFailure::Status),
        }
    }

    /// The decision-cache key of `req` for service `index`, or `None` when the answer must not
    /// be cached: no cache configured, or a request without any key header while the path is
    /// not part of the key. A hash (no credential is stored) of the method, every value of
    /// every key header (length-prefixed, in order) and, with `key_path`, the `:path`.
    pub fn cache_key(&self, index: usize, req: &Request<'_>) -> Option<[u8; 32]> {
        let policy = self.cache.as_ref()?;
        let credentials = policy.key_headers.iter().any(|name| req.has_header(name));
        if !credentials && !policy.key_path {
            return None;
        }
        let mut hash = Sha256::new();
        let mut field = |bytes: &[u8]| {
            hash.update((bytes.len() as u64).to_be_bytes());
            hash.update(bytes);
        };
        field(&(index as u64).to_be_bytes());
        field(req.method.as_bytes());
        for name in &policy.key_headers {
            field(name.as_bytes());
            for value in req.header_values(name) {
                field(b"=");
                field(value.as_bytes());
            }
        }
        if policy.key_path {
            field(b"path");
            field(req.path.as_bytes());
        }
        Some(hash.finalize().into())
    }

    /// How long an answer is cached (`None`: not at all).
    pub fn ttl_ms(&self, answer: &ExtAnswer) -> Option<u64> {
        let policy = self.cache.as_ref()?;
        match answer {
            ExtAnswer::Allowed(_) => Some(policy.allow_ttl_ms),
            ExtAnswer::Denied(..) => Some(policy.deny_ttl_ms),
            ExtAnswer::Failed(_) => None,
        }
        .filter(|&ttl| ttl > 0)
    }
}

/// The per-VM caches of auth answers, one per service: a service's `max_entries` bounds its
/// own cache only, and one service's traffic never evicts another's answers.
#[derive(Debug, Default)]
pub struct DecisionCaches {
    services: Vec<DecisionCache>,
}

impl DecisionCaches {
    /// Empty caches, one per service with its `cache.max_entries` (0: the service does not
    /// cache); answers for other indices are not cached.
    pub fn new(max_entries: impl Iterator<Item = usize>) -> DecisionCaches {
        DecisionCaches {
            services: max_entries.map(DecisionCache::new).collect(),
        }
    }

    /// The cache of service `service`.
    pub fn service(&self, service: usize) -> Option<&DecisionCache> {
        self.services.get(service)
    }

    pub fn get(&mut self, service: usize, key: &[u8; 32], now_ms: u64) -> Option<Rc<ExtAnswer>> {
        self.services.get_mut(service)?.get(key, now_ms)
    }

    pub fn insert(
        &mut self,
        service: usize,
        key: [u8; 32],
        answer: Rc<ExtAnswer>,
        expires_ms: u64,
    ) {
        if let Some(cache) = self.services.get_mut(service) {
            cache.insert(key, answer, expires_ms);
        }
    }
}

/// One service's cache of auth answers: bounded, least recently used out first, entries expire.
#[derive(Debug)]
pub struct DecisionCache {
    entries: Lru<[u8; 32], (Rc<ExtAnswer>, u64)>,
}

impl DecisionCache {
    pub fn new(max_entries: usize) -> DecisionCache {
        DecisionCache {
            entries: Lru::new(max_entries, u64::MAX),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&mut self, key: &[u8; 32], now_ms: u64) -> Option<Rc<ExtAnswer>> {
        let (answer, expires_ms) = self.entries.get(key)?;
        if now_ms < *expires_ms {
            return Some(Rc::clone(answer));
        }
        self.entries.remove(key);
        None
    }

    pub fn insert(&mut self, key: [u8; 32], answer: Rc<ExtAnswer>, expires_ms: u64) {
        self.entries.insert(key, (answer, expires_ms), 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> ExtAuthService {
        ExtAuthService {
            name: "authz".into(),
            endpoint: HttpUri::new(
                "http://auth.test/check",
                Some("auth".into()),
                DEFAULT_TIMEOUT_MS,
            )
            .unwrap(),
            allowed_request_headers: vec!["authorization".into(), "cookie".into()],
            allowed_upstream_headers: vec!["x-user".into()],
            allowed_client_headers: vec!["www-authenticate".into()],
            failure_mode_allow: false,
            status_on_error: 500,
            cache: Some(CachePolicy {
                key_headers: vec!["authorization".into(), "cookie".into()],
                key_path: false,
                allow_ttl_ms: 60_000,
                deny_ttl_ms: 10_000,
                max_entries: 2,
            }),
        }
    }

    fn req<'a>(headers: &'a [(String, String)], path: &'a str) -> Request<'a> {
        Request {
            method: "POST",
            path,
            headers,
        }
    }

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_callout_carries_method_uri_and_only_allowed_headers() {
        let headers = h(&[
            ("Authorization", "Basic YTpi"),
            ("cookie", "s=1"),
            ("x-secret", "no"),
        ]);
        let out = service().callout_headers(&req(&headers, "/orders?id=1"));
        let get = |n: &str| out.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!(get(":method"), Some("GET"));
        assert_eq!(get(":path"), Some("/check"));
        assert_eq!(get("x-original-method"), Some("POST"));
        assert_eq!(get("x-original-uri"), Some("/orders?id=1"));
        assert_eq!(get("authorization"), Some("Basic YTpi"));
        assert_eq!(get("cookie"), Some("s=1"));
        assert_eq!(get("x-secret"), None);
    }

    #[test]
    fn answers_are_classified_like_auth_request() {
        let s = service();
        let headers = h(&[
            ("X-User", "alice"),
            ("x-other", "no"),
            ("www-authenticate", "Basic realm=\"x\""),
            ("x-user", "bad\r\nvalue"),
        ]);
        assert_eq!(
            s.answer(Some("204"), &headers),
            ExtAnswer::Allowed(h(&[("x-user", "alice")]))
        );
        assert_eq!(
            s.answer(Some("401"), &headers),
            ExtAnswer::Denied(401, h(&[("www-authenticate", "Basic realm=\"x\"")]))
        );
        assert!(matches!(
            s.answer(Some("403"), &[]),
            ExtAnswer::Denied(403, _)
        ));
        for status in ["500", "302", "404", "x"] {
            assert!(
                matches!(s.answer(Some(status), &[]), ExtAnswer::Failed(_)),
                "{status}"
            );
        }
        assert_eq!(
            s.answer(None, &[]),
            ExtAnswer::Failed(ExtFailure::NoResponse)
        );
        assert_eq!(s.ttl_ms(&ExtAnswer::Allowed(vec![])), Some(60_000));
        assert_eq!(s.ttl_ms(&ExtAnswer::Denied(401, vec![])), Some(10_000));
        assert_eq!(s.ttl_ms(&ExtAnswer::Failed(ExtFailure::Status)), None);
    }

    #[test]
    fn cache_keys_follow_the_credentials_only() {
        let s = service();
        let a = h(&[("authorization", "Bearer a")]);
        let a2 = h(&[("authorization", "Bearer a"), ("x-trace", "1")]);
        let b = h(&[("authorization", "Bearer b")]);
        let key = |hs: &[(String, String)], p: &str| s.cache_key(0, &req(hs, p)).unwrap();
        assert_eq!(key(&a, "/x"), key(&a2, "/y"));
        assert_ne!(key(&a, "/x"), key(&b, "/x"));
        assert_ne!(key(&a, "/x"), s.cache_key(1, &req(&a, "/x")).unwrap());
        // Values are length-prefixed: moving bytes between headers changes the key.
        let c1 = h(&[("authorization", "ab"), ("cookie", "c")]);
        let c2 = h(&[("authorization", "a"), ("cookie", "bc")]);
        assert_ne!(key(&c1, "/"), key(&c2, "/"));
    }

    #[test]
    fn the_cache_expires_and_stays_bounded() {
        let mut cache = DecisionCache::new(2);
        let allow = Rc::new(ExtAnswer::Allowed(vec![]));
        cache.insert([1; 32], Rc::clone(&allow), 1_000);
        cache.insert([2; 32], Rc::clone(&allow), 1_000);
        assert!(cache.get(&[1; 32], 10).is_some()); // 1 is now the most recent
        cache.insert([3; 32], Rc::clone(&allow), 1_000);
        assert_eq!(cache.len(), 2);
        assert!(
            cache.get(&[2; 32], 10).is_none(),
            "least recently used evicted"
        );
        assert!(cache.get(&[1; 32], 10).is_some());
        assert!(cache.get(&[3; 32], 1_000).is_none(), "expired");
        assert_eq!(cache.len(), 1);
        let mut none = DecisionCache::new(0);
        none.insert([4; 32], allow, 5_000);
        assert!(none.get(&[4; 32], 10).is_none(), "max 0 caches nothing");
    }
}
