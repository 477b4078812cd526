//! Remote JWKS: where one provider's keys are fetched from, and the life of the fetched key set
//! (cold, fresh, refreshing, failing, stale) as a pure state machine driven by host time in
//! milliseconds. The host glue dispatches the fetches this module asks for and feeds the answers
//! back; nothing here knows about proxy-wasm.
//!
//! Rules the state machine keeps:
//! - a failed or bad fetch never drops the last good set (stale-while-error, up to `max_stale`
//!   past `cache_duration`);
//! - an unknown `kid` asks for at most one refetch per `kid_refetch_interval` (a hostile client
//!   cannot make us hammer the identity provider); a bad signature never refetches;
//! - retries back off exponentially with jitter, so workers do not fetch in lock-step.

use std::rc::Rc;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::http_uri::HttpUri;
use super::keys::{jwks_members, Key, MAX_KEYS_PER_JWKS};
use super::strict_json;

/// Envoy's defaults where Envoy has one; the rest are jwtgate's.
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;
/// `user-agent` of every JWKS fetch: `jwtgate/<version of this crate>`.
pub const USER_AGENT: &str = concat!("jwtgate/", env!("CARGO_PKG_VERSION"));
pub const DEFAULT_CACHE_DURATION_MS: u64 = 600_000;
pub const DEFAULT_MAX_STALE_MS: u64 = 24 * 3_600_000;
pub const DEFAULT_KID_REFETCH_INTERVAL_MS: u64 = 30_000;
pub const DEFAULT_BACKOFF_BASE_MS: u64 = 1_000;
pub const DEFAULT_BACKOFF_MAX_MS: u64 = 30_000;
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;
/// `cache_duration` is clamped into this range (with a configuration warning): Envoy accepts
/// any non-negative duration, and a configuration written for Envoy must not fail closed. Below
/// 10 s every worker would refetch several times a minute; beyond 30 days a rotated-out key
/// would live on for a month.
pub const MIN_CACHE_DURATION_MS: u64 = 10_000;
pub const MAX_CACHE_DURATION_MS: u64 = 30 * 86_400_000;

/// A fetch whose answer never came (a host that lost the callout) is forgotten after its
/// timeout plus this grace, so the next tick can try again.
const LOST_FETCH_GRACE_MS: u64 = 5_000;

/// Where and how to fetch one provider's JWKS (`remote_jwks`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteJwks {
    /// Where to fetch (`http_uri`); its `uri` is also the shared-data key.
    pub endpoint: HttpUri,
    pub cache_duration_ms: u64,
    pub max_stale_ms: u64,
    pub kid_refetch_interval_ms: u64,
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    pub max_body_bytes: usize,
    /// `request_headers`: extra (lower-case name, value) pairs on every fetch, checked by the
    /// configuration (no pseudo-headers, no `host`, no framing headers, printable values).
    pub extra_headers: Vec<(String, String)>,
    /// What the configuration asked for and jwtgate changed (e.g. a clamped `cache_duration`),
    /// for [`Gateway::warnings`](super::gateway::Gateway::warnings).
    pub warnings: Vec<String>,
    /// `openid_configuration`: `endpoint` is the OpenID configuration document, and the JWKS
    /// is where the document's `jwks_uri` says.
    pub discovery: Option<Discovery>,
}

/// How the JWKS is found through the issuer's OpenID configuration (OIDC Discovery 1.0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// The document's `issuer` must equal this exactly (§4.3): else another issuer's keys.
    pub issuer: String,
    /// Where JWKS fetches go (`jwks_cluster`, default the document's cluster): the document
    /// names the path and authority, never the upstream, so it cannot point fetches elsewhere.
    pub jwks_cluster: String,
}

/// A learned JWKS endpoint is used this long; then the document is fetched again first.
pub const DISCOVERY_TTL_MS: u64 = 24 * 3_600_000;

impl RemoteJwks {
    /// Fetching from `endpoint`, every other setting at its default.
    pub fn new(endpoint: HttpUri) -> RemoteJwks {
        RemoteJwks {
            endpoint,
            cache_duration_ms: DEFAULT_CACHE_DURATION_MS,
            max_stale_ms: DEFAULT_MAX_STALE_MS,
            kid_refetch_interval_ms: DEFAULT_KID_REFETCH_INTERVAL_MS,
            backoff_base_ms: DEFAULT_BACKOFF_BASE_MS,
            backoff_max_ms: DEFAULT_BACKOFF_MAX_MS,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            extra_headers: Vec::new(),
            warnings: Vec::new(),
            discovery: None,
        }
    }

    /// The headers of a fetch from `endpoint` (the JWKS, or with discovery the document or the
    /// learned JWKS endpoint).
    pub fn request_headers_to<'a>(&'a self, endpoint: &'a HttpUri) -> Vec<(&'a str, &'a str)> {
        let mut headers = endpoint.get_headers().to_vec();
        for (name, value) in [
            ("accept", "application/json, application/jwk-set+json"),
            ("user-agent", USER_AGENT),
        ] {
            if !self.extra_headers.iter().any(|(n, _)| n == name) {
                headers.push((name, value));
            }
        }
        headers.extend(
            self.extra_headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str())),
        );
        headers
    }

    /// Reads an OpenID configuration document: the JWKS endpoint it names, when its `issuer`
    /// is the provider's exactly and its `jwks_uri` is an absolute URI no weaker than the
    /// document's (an `https` document never sends fetches to `http`).
    pub fn discovered(&self, body: &[u8]) -> Result<HttpUri, FetchFailure> {
        let Some(discovery) = &self.discovery else {
            return Err(FetchFailure::BadDocument);
        };
        // Strict like every other JSON jwtgate reads: a document with two `issuer`s or two
        // `jwks_uri`s means different things to different parsers.
        let doc = strict_json::parse(body).map_err(|_| FetchFailure::NotJson)?;
        if doc.get("issuer").and_then(Value::as_str) != Some(discovery.issuer.as_str()) {
            return Err(FetchFailure::IssuerMismatch);
        }
        let uri = doc
            .get("jwks_uri")
            .and_then(Value::as_str)
            .ok_or(FetchFailure::BadDocument)?;
        let learned = HttpUri::new(
            uri,
            Some(discovery.jwks_cluster.clone()),
            self.endpoint.timeout_ms,
        )
        .map_err(|_| FetchFailure::BadDocument)?;
        if self.endpoint.scheme == "https" && learned.scheme != "https" {
            return Err(FetchFailure::BadDocument);
        }
        Ok(learned)
    }

    /// The headers of the fetch (`:scheme: https` turns TLS on in ngx_wasm_module): the
    /// pseudo-headers, `accept`, `user-agent: jwtgate/<version>` (WAFs in front of IdPs block
    /// requests without one: envoy#27127), then `request_headers`; a configured `accept` or
    /// `user-agent` replaces jwtgate's.
    pub fn request_headers(&self) -> Vec<(&str, &str)> {
        self.request_headers_to(&self.endpoint)
    }

    /// The proxy-wasm shared-data key under which workers share this JWKS.
    pub fn shared_key(&self) -> String {
        format!("jwtgate/jwks/{}", self.endpoint.uri)
    }

    /// The shared-data key of the claim one worker holds while it fetches this JWKS for all
    /// (value `<until_ms> <worker id>`), so N workers do not fetch N times.
    pub fn lease_key(&self) -> String {
        format!("jwtgate/jwks-fetching/{}", self.endpoint.uri)
    }

    /// Checks an answer before its body is read: status and size.
    pub fn check_answer(
        &self,
        status: Option<&str>,
        body_bytes: usize,
    ) -> Result<(), FetchFailure> {
        match status.and_then(|s| s.trim().parse::<u32>().ok()) {
            None => Err(FetchFailure::NoResponse),
            Some(200..=299) if body_bytes > self.max_body_bytes => Err(FetchFailure::TooLarge),
            Some(200..=299) => Ok(()),
            Some(_) => Err(FetchFailure::HttpStatus),
        }
    }
}

/// Why a fetch produced no key set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchFailure {
    /// Timeout, refused or broken connection, unknown upstream: no HTTP status.
    NoResponse,
    /// A status other than 2xx.
    HttpStatus,
    /// The body is larger than `max_body_bytes`.
    TooLarge,
    /// Not a JSON JWKS document.
    NotJson,
    /// A JWKS without any key jwtgate can verify with.
    NoUsableKeys,
    /// The host refused to dispatch the call (e.g. an unknown Envoy cluster).
    DispatchRefused,
    /// The body is shorter than announced (connection cut mid-body), or unreadable.
    Truncated,
    /// No answer within the call's timeout, as the filter counts it (a host may time out
    /// per read only: an answer that drips bytes would otherwise never end).
    Overdue,
    /// Discovery: the document's `issuer` is not the provider's.
    IssuerMismatch,
    /// Discovery: no usable `jwks_uri` (missing, not absolute, or `http` from an `https`
    /// document).
    BadDocument,
}

impl FetchFailure {
    /// Metric and log name.
    pub fn name(self) -> &'static str {
        match self {
            FetchFailure::NoResponse => "no_response",
            FetchFailure::HttpStatus => "http_status",
            FetchFailure::TooLarge => "too_large",
            FetchFailure::NotJson => "not_json",
            FetchFailure::NoUsableKeys => "no_usable_keys",
            FetchFailure::DispatchRefused => "dispatch_refused",
            FetchFailure::Truncated => "truncated",
            FetchFailure::Overdue => "overdue",
            FetchFailure::IssuerMismatch => "issuer_mismatch",
            FetchFailure::BadDocument => "bad_document",
        }
    }
}

/// A JWKS body turned into keys: the usable ones and, for the log, why others were skipped.
#[derive(Debug)]
pub struct ParsedJwks {
    pub keys: Vec<Key>,
    /// (index in `keys` of the document, reason): at most [`MAX_SKIPPED_REPORTED`] single
    /// members, then one line counting the rest; and one line when the set was cut at
    /// [`MAX_KEYS_PER_JWKS`] keys.
    pub skipped: Vec<(usize, String)>,
}

/// Skipped members reported one by one; further ones are counted in one entry.
pub const MAX_SKIPPED_REPORTED: usize = 16;

/// Parses a fetched JWKS leniently: a bad or unsupported member is skipped (and reported),
/// the others are used, up to [`MAX_KEYS_PER_JWKS`] keys (the members after that are not read).
/// Symmetric (`oct`) keys are never taken from the network.
pub fn parse_jwks(body: &[u8]) -> Result<ParsedJwks, FetchFailure> {
    // Duplicate members refused, as in an inline JWKS (`local_jwks`): the same set must not be
    // read two ways depending on where it came from.
    let doc = strict_json::parse(body).map_err(|_| FetchFailure::NotJson)?;
    let members = jwks_members(&doc).map_err(|_| FetchFailure::NotJson)?;
    let mut parsed = ParsedJwks {
        keys: Vec::new(),
        skipped: Vec::new(),
    };
    let mut unreported = 0usize;
    let mut skip = |parsed: &mut ParsedJwks, i: usize, why: String| {
        if parsed.skipped.len() < MAX_SKIPPED_REPORTED {
            parsed.skipped.push((i, why));
        } else {
            unreported = unreported.saturating_add(1);
        }
    };
    for (i, member) in members.iter().enumerate() {
        if parsed.keys.len() >= MAX_KEYS_PER_JWKS {
            let rest = members.len().saturating_sub(i);
            parsed.skipped.push((
                i,
                format!(
                    "this and {} later members not read: at most {MAX_KEYS_PER_JWKS} keys are used from one JWKS",
                    rest.saturating_sub(1)
                ),
            ));
            break;
        }
        let Value::Object(jwk) = member else {
            skip(&mut parsed, i, "not a JSON object".into());
            continue;
        };
        if jwk.get("kty").and_then(Value::as_str) == Some("oct") {
            skip(
                &mut parsed,
                i,
                "symmetric keys are not accepted from a remote JWKS".into(),
            );
            continue;
        }
        match Key::from_jwk(jwk) {
            Ok(Some(key)) => parsed.keys.push(key),
            Ok(None) => skip(
                &mut parsed,
                i,
                "not a signature key of a supported algorithm".into(),
            ),
            Err(e) => skip(&mut parsed, i, e),
        }
    }
    if unreported > 0 {
        parsed.skipped.push((
            members.len(),
            format!("{unreported} more members skipped (not listed one by one)"),
        ));
    }
    if parsed.keys.is_empty() {
        return Err(FetchFailure::NoUsableKeys);
    }
    Ok(parsed)
}

/// Why a fetch is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchReason {
    /// No key set yet (start, or every fetch so far failed).
    Cold,
    /// The set is near the end of `cache_duration`.
    Refresh,
    /// A token named a `kid` the set does not have.
    UnknownKid,
}

/// What a request may use right now.
#[derive(Debug, Clone)]
pub enum Availability {
    Ready(Rc<[Key]>),
    /// No usable set, and a fetch is running or may start now: wait for it.
    Loading,
    /// No usable set and the last fetch failed recently: refuse.
    Unavailable,
}

/// What a successful fetch (or an adopted shared copy) changed.
#[derive(Debug, PartialEq, Eq)]
pub struct Installed {
    pub keys: usize,
    /// The set differs from the previous one: tokens verified with the old set must be
    /// verified again.
    pub changed: bool,
}

/// The fetched key set of one provider in one VM, and its fetch schedule.
#[derive(Debug)]
pub struct RemoteKeys {
    keys: Option<Rc<[Key]>>,
    digest: [u8; 32],
    fetched_at_ms: u64,
    in_flight_since: Option<u64>,
    failures: u32,
    /// The earliest time a retry after failures may start.
    retry_at_ms: u64,
    last_kid_refetch_ms: Option<u64>,
    pub last_failure: Option<FetchFailure>,
    /// Spreads refreshes of workers that share one fetched copy over 10% of `cache_duration`.
    refresh_jitter_permille: u64,
    /// xorshift state for jitter, seeded by the host's randomness.
    rng: u64,
    /// Discovery: the JWKS endpoint the document named, and when it was read.
    learned: Option<(HttpUri, u64)>,
}

impl RemoteKeys {
    pub fn new(seed: u64) -> RemoteKeys {
        RemoteKeys {
            keys: None,
            digest: [0; 32],
            fetched_at_ms: 0,
            in_flight_since: None,
            failures: 0,
            retry_at_ms: 0,
            last_kid_refetch_ms: None,
            last_failure: None,
            refresh_jitter_permille: 0,
            rng: seed | 1,
            learned: None,
        }
    }

    /// Discovery: the JWKS endpoint to fetch from, while the document read is younger than
    /// [`DISCOVERY_TTL_MS`]; `None`: read the document (again) first.
    pub fn jwks_endpoint(&self, now_ms: u64) -> Option<&HttpUri> {
        self.learned
            .as_ref()
            .filter(|(_, at)| now_ms < at.saturating_add(DISCOVERY_TTL_MS))
            .map(|(endpoint, _)| endpoint)
    }

    /// Discovery: the document named this JWKS endpoint.
    pub fn learn(&mut self, endpoint: HttpUri, now_ms: u64) {
        self.learned = Some((endpoint, now_ms));
    }

    /// The set, while it is within `cache_duration + max_stale` of its fetch.
    fn usable(&self, cfg: &RemoteJwks, now_ms: u64) -> Option<&Rc<[Key]>> {
        let limit = self
            .fetched_at_ms
            .saturating_add(cfg.cache_duration_ms)
            .saturating_add(cfg.max_stale_ms);
        self.keys.as_ref().filter(|_| now_ms < limit)
    }

    pub fn availability(&self, cfg: &RemoteJwks, now_ms: u64) -> Availability {
        match self.usable(cfg, now_ms) {
            Some(keys) => Availability::Ready(Rc::clone(keys)),
            None if self.in_flight(cfg, now_ms) || now_ms >= self.retry_at_ms => {
                Availability::Loading
            }
            None => Availability::Unavailable,
        }
    }

    /// Whether a token with a `kid` the set lacks may wait for a refetch: one is running, or
    /// no refetch *for an unknown kid* ran during the last `kid_refetch_interval`. Regular
    /// fetches (cold start, refresh, adopted shared copies) do not count: the first token of a
    /// key published right after a refresh must not be refused for the whole interval.
    pub fn may_refetch_for_kid(&self, cfg: &RemoteJwks, now_ms: u64) -> bool {
        if self.in_flight(cfg, now_ms) {
            return true;
        }
        let interval_over = self
            .last_kid_refetch_ms
            .is_none_or(|last| now_ms >= last.saturating_add(cfg.kid_refetch_interval_ms));
        interval_over && now_ms >= self.retry_at_ms
    }

    pub fn in_flight(&self, cfg: &RemoteJwks, now_ms: u64) -> bool {
        self.in_flight_since
            .is_some_and(|t| now_ms < t + cfg.endpoint.timeout_ms + LOST_FETCH_GRACE_MS)
    }

    /// The fetch the background timer should start now, if any.
    pub fn due(&self, cfg: &RemoteJwks, now_ms: u64) -> Option<FetchReason> {
        if self.in_flight(cfg, now_ms) || now_ms < self.retry_at_ms {
            return None;
        }
        match &self.keys {
            None => Some(FetchReason::Cold),
            Some(_) if now_ms >= self.refresh_at(cfg) => Some(FetchReason::Refresh),
            Some(_) => None,
        }
    }

    /// Refresh between 85% and 95% of `cache_duration` (jittered per VM), so a good set is
    /// replaced before it expires and workers sharing a copy do not all fetch at once.
    fn refresh_at(&self, cfg: &RemoteJwks) -> u64 {
        let permille = 850 + self.refresh_jitter_permille;
        self.fetched_at_ms + cfg.cache_duration_ms / 1000 * permille
    }

    /// Records that a fetch started (the host dispatched it).
    pub fn start(&mut self, reason: FetchReason, now_ms: u64) {
        self.in_flight_since = Some(now_ms);
        if reason == FetchReason::UnknownKid {
            self.last_kid_refetch_ms = Some(now_ms);
        }
    }

    /// Records a failed fetch: the last good set stays; the next try backs off.
    pub fn failed(&mut self, cfg: &RemoteJwks, failure: FetchFailure, now_ms: u64) {
        self.in_flight_since = None;
        self.last_failure = Some(failure);
        self.failures = self.failures.saturating_add(1);
        let exponent = self.failures.saturating_sub(1).min(20);
        let backoff = cfg
            .backoff_base_ms
            .saturating_mul(1 << exponent)
            .min(cfg.backoff_max_ms);
        // ±25% jitter so workers that failed together do not retry together.
        let jitter = self.next_random() % (backoff / 2 + 1);
        self.retry_at_ms = now_ms + backoff - backoff / 4 + jitter;
    }

    /// Installs a fetched body (or records why it is unusable).
    pub fn fetched(
        &mut self,
        cfg: &RemoteJwks,
        body: &[u8],
        now_ms: u64,
    ) -> Result<(Installed, ParsedJwks), FetchFailure> {
        self.in_flight_since = None;
        match parse_jwks(body) {
            Ok(parsed) => Ok((self.install(&parsed, body, now_ms), parsed)),
            Err(failure) => {
                self.failed(cfg, failure, now_ms);
                Err(failure)
            }
        }
    }

    /// Adopts a copy another worker fetched at `fetched_at_ms`, when it is newer than ours.
    pub fn adopt(&mut self, body: &[u8], fetched_at_ms: u64, now_ms: u64) -> Option<Installed> {
        if self.keys.is_some() && fetched_at_ms <= self.fetched_at_ms {
            return None;
        }
        let parsed = parse_jwks(body).ok()?;
        Some(self.install(&parsed, body, fetched_at_ms.min(now_ms)))
    }

    fn install(&mut self, parsed: &ParsedJwks, body: &[u8], fetched_at_ms: u64) -> Installed {
        let digest: [u8; 32] = Sha256::digest(body).into();
        let changed = self.keys.is_none() || digest != self.digest;
        self.keys = Some(parsed.keys.clone().into());
        self.digest = digest;
        self.fetched_at_ms = fetched_at_ms;
        self.failures = 0;
        self.retry_at_ms = 0;
        self.last_failure = None;
        self.refresh_jitter_permille = self.next_random() % 101;
        Installed {
            keys: parsed.keys.len(),
            changed,
        }
    }

    /// Number of keys in the current set and its age, for metrics.
    pub fn status(&self, now_ms: u64) -> (usize, u64) {
        match &self.keys {
            Some(keys) => (keys.len(), now_ms.saturating_sub(self.fetched_at_ms) / 1000),
            None => (0, 0),
        }
    }

    /// Forgets a fetch whose context went away before its answer.
    pub fn abandon(&mut self) {
        self.in_flight_since = None;
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64: jitter only, never security.
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }
}

/// The fetched key sets of one VM, by provider index (`None` for providers without
/// `remote_jwks`). Built by `Gateway::new_jwks_store`; a new configuration builds a new one.
#[derive(Debug, Default)]
pub struct JwksStore {
    sets: Vec<Option<RemoteKeys>>,
}

impl JwksStore {
    pub fn new(sets: Vec<Option<RemoteKeys>>) -> JwksStore {
        JwksStore { sets }
    }

    pub fn get(&self, provider: usize) -> Option<&RemoteKeys> {
        self.sets.get(provider).and_then(Option::as_ref)
    }

    pub fn get_mut(&mut self, provider: usize) -> Option<&mut RemoteKeys> {
        self.sets.get_mut(provider).and_then(Option::as_mut)
    }
}

/// A JWKS as workers share it through proxy-wasm shared data: `jwks1 <fetched_at_ms>\n<body>`.
pub fn encode_shared(fetched_at_ms: u64, body: &[u8]) -> Vec<u8> {
    let mut out = format!("jwks1 {fetched_at_ms}\n").into_bytes();
    out.extend_from_slice(body);
    out
}

pub fn decode_shared(value: &[u8]) -> Option<(u64, &[u8])> {
    let rest = value.strip_prefix(b"jwks1 ")?;
    let newline = rest.iter().position(|&b| b == b'\n')?;
    let at = std::str::from_utf8(rest.get(..newline)?)
        .ok()?
        .parse()
        .ok()?;
    Some((at, rest.get(newline + 1..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWKS: &str = r#"{"keys":[
        {"kty":"EC","crv":"P-256","kid":"ec1","alg":"ES256",
         "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
         "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;

    fn cfg() -> RemoteJwks {
        RemoteJwks::new(
            HttpUri::new("https://idp.test/jwks.json", None, DEFAULT_TIMEOUT_MS).unwrap(),
        )
    }

    #[test]
    fn fetches_name_jwtgate_and_carry_the_configured_headers() {
        let mut c = cfg();
        let headers = c.request_headers();
        assert!(headers.contains(&("user-agent", USER_AGENT)));
        assert_eq!(USER_AGENT, concat!("jwtgate/", env!("CARGO_PKG_VERSION")));
        assert!(USER_AGENT.len() > "jwtgate/".len());
        c.extra_headers = vec![
            ("x-api-key".into(), "k1".into()),
            ("user-agent".into(), "corp-gw/2".into()),
        ];
        let headers = c.request_headers();
        assert!(headers.contains(&("x-api-key", "k1")));
        assert!(headers.contains(&("user-agent", "corp-gw/2")));
        assert_eq!(
            headers.iter().filter(|(n, _)| *n == "user-agent").count(),
            1
        );
        assert_eq!(headers.iter().filter(|(n, _)| *n == "accept").count(), 1);
        assert_eq!(headers.first(), Some(&(":method", "GET")));
    }

    #[test]
    fn answers_are_checked_before_the_body_is_read() {
        let c = cfg();
        assert_eq!(c.check_answer(Some("200"), 10), Ok(()));
        assert_eq!(c.check_answer(Some("204"), 0), Ok(()));
        assert_eq!(
            c.check_answer(Some("503"), 10),
            Err(FetchFailure::HttpStatus)
        );
        assert_eq!(
            c.check_answer(Some("301"), 10),
            Err(FetchFailure::HttpStatus)
        );
        assert_eq!(c.check_answer(None, 0), Err(FetchFailure::NoResponse));
        assert_eq!(c.check_answer(Some("x"), 0), Err(FetchFailure::NoResponse));
        assert_eq!(
            c.check_answer(Some("200"), DEFAULT_MAX_BODY_BYTES + 1),
            Err(FetchFailure::TooLarge)
        );
    }

    #[test]
    fn bad_members_are_skipped_and_good_ones_kept() {
        let body = r#"{"keys":[
            {"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"},
            {"kty":"RSA","use":"enc","n":"AQAB","e":"AQAB"},
            {"kty":"OKP","crv":"X25519","x":"AAAA"},
            {"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"},
            "nope",
            {"kty":"EC","crv":"P-256","kid":"ec1",
             "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;
        let parsed = parse_jwks(body.as_bytes()).unwrap();
        assert_eq!(parsed.keys.len(), 1);
        assert_eq!(parsed.keys[0].kid.as_deref(), Some("ec1"));
        assert_eq!(parsed.skipped.len(), 5);
        assert!(parsed.skipped[0].1.contains("symmetric"));
    }

    #[test]
    fn unusable_documents_are_failures() {
        assert_eq!(parse_jwks(b"<html>").unwrap_err(), FetchFailure::NotJson);
        assert_eq!(parse_jwks(b"[1]").unwrap_err(), FetchFailure::NotJson);
        // A member twice, at any depth: refused, not the last one kept.
        let twice = br#"{"keys":[{"kty":"EC","crv":"P-256","kid":"ec1","kid":"ec2",
             "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;
        assert_eq!(parse_jwks(twice).unwrap_err(), FetchFailure::NotJson);
        let once = String::from_utf8_lossy(twice).replace(r#""kid":"ec2","#, "");
        assert_eq!(parse_jwks(once.as_bytes()).unwrap().keys.len(), 1);
        assert_eq!(
            parse_jwks(br#"{"keys":[]}"#).unwrap_err(),
            FetchFailure::NoUsableKeys
        );
        assert_eq!(
            parse_jwks(br#"{"keys":[{"kty":"oct","k":"AAAA"}]}"#).unwrap_err(),
            FetchFailure::NoUsableKeys
        );
    }

    #[test]
    fn cold_start_loads_then_serves() {
        let c = cfg();
        let mut k = RemoteKeys::new(7);
        assert!(matches!(k.availability(&c, 0), Availability::Loading));
        assert_eq!(k.due(&c, 0), Some(FetchReason::Cold));
        k.start(FetchReason::Cold, 0);
        assert_eq!(k.due(&c, 10), None, "one fetch at a time");
        assert!(matches!(k.availability(&c, 10), Availability::Loading));
        let (installed, _) = k.fetched(&c, JWKS.as_bytes(), 100).unwrap();
        assert_eq!(
            installed,
            Installed {
                keys: 1,
                changed: true
            }
        );
        assert!(matches!(k.availability(&c, 200), Availability::Ready(_)));
        assert_eq!(k.status(5_100), (1, 5));
    }

    #[test]
    fn refresh_is_due_before_cache_duration_ends_and_same_body_is_no_change() {
        let c = cfg();
        let mut k = RemoteKeys::new(7);
        k.start(FetchReason::Cold, 0);
        k.fetched(&c, JWKS.as_bytes(), 0).unwrap();
        assert_eq!(k.due(&c, 509_999), None, "not before 85%");
        assert_eq!(k.due(&c, 570_000), Some(FetchReason::Refresh), "by 95%");
        k.start(FetchReason::Refresh, 540_000);
        let (installed, _) = k.fetched(&c, JWKS.as_bytes(), 540_100).unwrap();
        assert!(!installed.changed);
        assert_eq!(k.due(&c, 600_000), None);
    }

    #[test]
    fn failures_keep_the_last_good_set_until_max_stale_and_back_off() {
        let c = cfg();
        let mut k = RemoteKeys::new(7);
        k.start(FetchReason::Cold, 0);
        k.fetched(&c, JWKS.as_bytes(), 0).unwrap();
        let mut now = 570_000;
        let mut last_gap = 0;
        for _ in 0..8 {
            assert_eq!(k.due(&c, now), Some(FetchReason::Refresh));
            k.start(FetchReason::Refresh, now);
            assert_eq!(
                k.fetched(&c, b"{}", now).unwrap_err(),
                FetchFailure::NotJson
            );
            assert!(matches!(k.availability(&c, now), Availability::Ready(_)));
            assert_eq!(k.due(&c, now), None, "backing off");
            let gap = k.retry_at_ms - now;
            assert!(gap >= 750 && gap <= c.backoff_max_ms * 5 / 4, "{gap}");
            assert!(
                gap + c.backoff_max_ms / 2 >= last_gap,
                "grows up to the cap"
            );
            last_gap = gap;
            now = k.retry_at_ms;
        }
        // Past cache_duration + max_stale the set is dropped: fail closed.
        let end = c.cache_duration_ms + c.max_stale_ms;
        assert!(matches!(
            k.availability(&c, end - 1),
            Availability::Ready(_)
        ));
        k.failed(&c, FetchFailure::NoResponse, end);
        assert!(matches!(k.availability(&c, end), Availability::Unavailable));
    }

    #[test]
    fn a_cold_failure_refuses_until_the_retry_is_due() {
        let c = cfg();
        let mut k = RemoteKeys::new(99);
        k.start(FetchReason::Cold, 0);
        k.failed(&c, FetchFailure::HttpStatus, 10);
        assert!(matches!(k.availability(&c, 11), Availability::Unavailable));
        assert_eq!(k.due(&c, 11), None);
        let retry = k.retry_at_ms;
        assert!(matches!(k.availability(&c, retry), Availability::Loading));
        assert_eq!(k.due(&c, retry), Some(FetchReason::Cold));
    }

    #[test]
    fn unknown_kid_refetch_is_rate_limited() {
        let c = cfg();
        let mut k = RemoteKeys::new(7);
        k.start(FetchReason::Cold, 0);
        k.fetched(&c, JWKS.as_bytes(), 0).unwrap();
        assert!(
            k.may_refetch_for_kid(&c, 1),
            "a regular fetch does not count against unknown-kid refetches"
        );
        assert!(k.may_refetch_for_kid(&c, 30_000));
        k.start(FetchReason::UnknownKid, 30_000);
        assert!(
            k.may_refetch_for_kid(&c, 30_001),
            "wait for the running fetch"
        );
        k.fetched(&c, JWKS.as_bytes(), 30_050).unwrap();
        assert!(!k.may_refetch_for_kid(&c, 59_999));
        assert!(k.may_refetch_for_kid(&c, 60_050));
    }

    #[test]
    fn a_lost_fetch_is_forgotten_after_timeout_and_grace() {
        let c = cfg();
        let mut k = RemoteKeys::new(7);
        k.start(FetchReason::Cold, 0);
        assert_eq!(k.due(&c, c.endpoint.timeout_ms), None);
        assert_eq!(
            k.due(&c, c.endpoint.timeout_ms + LOST_FETCH_GRACE_MS),
            Some(FetchReason::Cold)
        );
    }

    #[test]
    fn adopting_a_shared_copy_only_moves_forward() {
        let c = cfg();
        let mut k = RemoteKeys::new(7);
        assert_eq!(
            k.adopt(JWKS.as_bytes(), 1_000, 2_000),
            Some(Installed {
                keys: 1,
                changed: true
            })
        );
        assert_eq!(k.adopt(JWKS.as_bytes(), 1_000, 2_000), None, "not newer");
        assert_eq!(k.adopt(b"garbage", 5_000, 6_000), None);
        assert!(matches!(k.availability(&c, 6_000), Availability::Ready(_)));
        let shared = encode_shared(123, b"{\"keys\":[]}");
        assert_eq!(decode_shared(&shared), Some((123, &b"{\"keys\":[]}"[..])));
        assert_eq!(decode_shared(b"jwks1 x\n{}"), None);
        assert_eq!(decode_shared(b"other"), None);
    }
}
