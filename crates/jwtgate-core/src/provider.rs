//! One JWT issuer: where its tokens are, its keys, what its claims must satisfy, and what is
//! forwarded upstream once a token verifies.

use std::rc::Rc;

use serde_json::{Map, Value};

use super::cache::TokenCache;
use super::claims::{header_text, lookup, ClaimPolicy};
use super::dpop::{self, DpopPolicy, ReplayCaches};
use super::extract::{self, Source};
use super::introspection::{Introspected, Introspection};
use super::keys::Key;
use super::mtls::MtlsPolicy;
use super::profile::TokenProfile;
use super::rejection::Rejection;
use super::remote_jwks::{Availability, RemoteJwks, RemoteKeys};
use super::request::{OpsWriter, Request};
use super::token::UntrustedToken;

#[derive(Debug)]
pub struct Provider {
    pub name: String,
    pub policy: ClaimPolicy,
    /// Keys from the configuration (`local_jwks`, `keys`).
    pub keys: Vec<Key>,
    /// Keys fetched from `remote_jwks`, tried after the configured ones.
    pub remote: Option<RemoteJwks>,
    pub sources: Vec<Source>,
    pub forward: bool,
    pub forward_payload_header: Option<String>,
    pub pad_forward_payload_header: bool,
    /// `on_keys_unavailable`: the status when this provider's remote keys are unavailable
    /// (`deny`: 401, `unavailable`: 503); `None`: the global `jwks_unavailable_status`.
    pub keys_unavailable_status: Option<u32>,
    /// `on_keys_unavailable: allow_unverified`: while the keys are unavailable, a request this
    /// provider would decide is forwarded unverified (marked, logged, counted).
    pub allow_unverified: bool,
    /// `typ`, `subjects`, `required_claims`: checked after the registered claims.
    pub profile: TokenProfile,
    /// (header name, claim name or dotted path)
    pub claim_to_headers: Vec<(String, String)>,
    /// Most keys one token may be tried against (`max_keys_per_token`): a token without `kid`
    /// (or keys without `kid`) that more keys could verify is refused before any is tried.
    pub max_keys_per_token: usize,
    /// `dpop`: proof-of-possession per request (RFC 9449).
    pub dpop: Option<DpopPolicy>,
    /// `mtls_binding`: certificate-bound tokens (RFC 8705).
    pub mtls: Option<MtlsPolicy>,
    /// `introspection`: opaque tokens, asked about at the authorization server (RFC 7662);
    /// such a provider has no keys.
    pub introspection: Option<Introspection>,
}

/// Encoded `claim_to_headers` values: (header name, value).
type ClaimHeaders = Vec<(String, String)>;

/// Default `max_keys_per_token`.
pub const DEFAULT_MAX_KEYS_PER_TOKEN: usize = 4;

/// What verification of one request may use: host time, the token cache and fetched key sets.
pub struct VerifyContext<'a> {
    pub now_ms: u64,
    pub max_token_bytes: usize,
    pub cache: &'a mut TokenCache,
    /// The fetched key set of the provider being verified (`None` without `remote_jwks`).
    pub remote: Option<&'a RemoteKeys>,
}

/// What a provider made of a request.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// No token in any of the provider's locations.
    Missing,
    /// A token was there and failed (audience not yet checked).
    Failed(Rejection),
    Verified(Rc<Verified>),
}

/// A token whose signature, time and issuer checks passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub claims: Map<String, Value>,
    pub payload_b64: String,
    /// The `claim_to_headers` headers, encoded once when the token verified.
    pub headers: Vec<(String, String)>,
    /// Index into `Provider::sources` of where the token was found.
    pub(super) source: usize,
}

impl Verified {
    #[cfg(test)]
    pub fn for_tests(payload_b64: &str) -> Verified {
        Verified {
            claims: Map::new(),
            payload_b64: payload_b64.into(),
            headers: Vec::new(),
            source: 0,
        }
    }
}

/// Whether a token was found under `Authorization: DPoP`.
pub fn is_dpop_scheme(source: &Source) -> bool {
    matches!(source, Source::Header { name, prefix }
        if name == "authorization" && prefix.trim_end().eq_ignore_ascii_case("dpop"))
}

impl Provider {
    /// Finds and verifies this provider's token (`index` is its place in the configuration,
    /// the cache key). The audience is checked by the requirement (`provider_and_audiences`
    /// may override it).
    pub fn verify(&self, index: usize, req: &Request<'_>, ctx: &mut VerifyContext<'_>) -> Outcome {
        let mut outcome = Outcome::Missing;
        // Several locations may hold tokens (e.g. `Authorization` shared with another
        // provider): another issuer's token is skipped for the next location.
        for found in extract::find_every(&self.sources, req) {
            outcome = self.verify_found(index, &found, ctx);
            if !matches!(outcome, Outcome::Failed(Rejection::IssuerMismatch)) {
                break;
            }
        }
        outcome
    }

    /// Verifies one token found in one of this provider's locations.
    pub fn verify_found(
        &self,
        index: usize,
        found: &extract::Found<'_>,
        ctx: &mut VerifyContext<'_>,
    ) -> Outcome {
        let now = ctx.now_ms / 1000;
        let cache = &mut *ctx.cache;
        if let Some(hit) = cache.get(index, &found.token) {
            // The signature was verified before; time moves on, so check it again.
            return match self.policy.check(&hit.claims, now) {
                Ok(()) if hit.source == found.index => Outcome::Verified(hit),
                Ok(()) => Outcome::Verified(Rc::new(Verified {
                    source: found.index,
                    ..(*hit).clone()
                })),
                Err(rejection) => {
                    cache.remove(index, &found.token);
                    Outcome::Failed(rejection)
                }
            };
        }
        match self.verify_token(&found.token, ctx.now_ms, ctx.max_token_bytes, ctx.remote) {
            Ok((claims, payload_b64, headers)) => {
                let verified = Rc::new(Verified {
                    claims,
                    payload_b64,
                    headers,
                    source: found.index,
                });
                ctx.cache.insert(index, &found.token, Rc::clone(&verified));
                Outcome::Verified(verified)
            }
            Err(rejection) => Outcome::Failed(rejection),
        }
    }

    fn verify_token(
        &self,
        token: &str,
        now_ms: u64,
        max_token_bytes: usize,
        remote: Option<&RemoteKeys>,
    ) -> Result<(Map<String, Value>, String, ClaimHeaders), Rejection> {
        let mut token = UntrustedToken::parse(token, max_token_bytes)?;
        // Pick by issuer first: a token another issuer made is refused before any key of this
        // provider is tried (several providers may read the same header, and may even share a
        // `kid`). The issuer is checked again on the verified claims.
        if let (Some(issuer), Some(claimed)) = (&self.policy.issuer, token.unverified_issuer()) {
            if issuer != claimed {
                return Err(Rejection::IssuerMismatch);
            }
        }
        self.verify_signature(&token, now_ms, remote)?;
        let payload_b64 = token.payload_b64.to_string();
        let typ = token.typ.take();
        let claims = token.into_claims()?;
        self.policy.check(&claims, now_ms / 1000)?;
        // Static per provider: a token that passed is cached and need not be judged again.
        self.profile.check(typ.as_ref(), &claims)?;
        let headers = self.claim_headers(&claims)?;
        Ok((claims, payload_b64, headers))
    }

    /// What this provider makes of an active introspection answer (`claims`, `body` the JSON
    /// as received): the checks that do not depend on time (allowed clients, required scopes,
    /// `subjects`, `required_claims`, claim headers). Cached with the answer.
    pub fn introspected(&self, claims: Map<String, Value>, body: &[u8]) -> Introspected {
        if let Some(intro) = &self.introspection {
            intro.check_static(&claims)?;
        }
        self.profile.check(None, &claims)?;
        let headers = self.claim_headers(&claims)?;
        Ok(Rc::new(Verified {
            claims,
            payload_b64: base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                body,
            ),
            headers,
            source: 0,
        }))
    }

    /// A known introspection outcome for a token found at location `source`, checked at host
    /// time `now_ms`: `exp`, `nbf`, `iat` (with the clock skew), `iss`, types, as a JWT's.
    pub fn check_introspected(&self, known: &Introspected, source: usize, now_ms: u64) -> Outcome {
        let verified = match known {
            Ok(verified) => verified,
            Err(rejection) => return Outcome::Failed(*rejection),
        };
        let now = now_ms / 1000;
        if let Err(rejection) = self.policy.check(&verified.claims, now) {
            return Outcome::Failed(rejection);
        }
        // An answer issued in the future is nonsense from the server (or a clock far off).
        let skew = self.policy.clock_skew_seconds as f64;
        let iat = verified.claims.get("iat").and_then(Value::as_f64);
        if iat.is_some_and(|iat| iat > now as f64 + skew) {
            return Outcome::Failed(Rejection::IssuedInFuture);
        }
        if verified.source == source {
            Outcome::Verified(Rc::clone(verified))
        } else {
            Outcome::Verified(Rc::new(Verified {
                source,
                ..(**verified).clone()
            }))
        }
    }

    /// The sender constraints on a token that verified, checked on every request (a proof is
    /// new each time; the token cache keeps only what the token itself proved): DPoP
    /// (`dpop`) and the client certificate (`mtls_binding`). `replay` remembers the proofs
    /// accepted in this worker.
    pub fn check_binding(
        &self,
        index: usize,
        found: &extract::Found<'_>,
        verified: &Verified,
        req: &Request<'_>,
        now: u64,
        replay: &mut ReplayCaches,
    ) -> Result<(), Rejection> {
        if let Some(mtls) = &self.mtls {
            mtls.check(&verified.claims, req)?;
        }
        let jkt = match verified.claims.get("cnf").and_then(|c| c.get("jkt")) {
            Some(Value::String(jkt)) => Some(jkt.as_str()),
            Some(_) => return Err(Rejection::DpopBindingMismatch),
            None => None,
        };
        let Some(policy) = &self.dpop else {
            return Ok(());
        };
        if !is_dpop_scheme(found.source) {
            return match (policy.required, jkt) {
                (true, _) => Err(Rejection::DpopRequired),
                (false, Some(_)) => Err(Rejection::DpopBoundTokenAsBearer),
                (false, None) => Ok(()),
            };
        }
        let proof = dpop::proof_header(req)?;
        let proof = policy.check_proof(proof, req, &found.token, now)?;
        if jkt != Some(proof.jkt.as_str()) {
            return Err(Rejection::DpopBindingMismatch);
        }
        replay.admit(index, &proof, now)
    }

    /// The `claim_to_headers` values of verified claims ([`header_text`]); a value that cannot
    /// be sent safely refuses the token (`ClaimNotForwardable`).
    fn claim_headers(&self, claims: &Map<String, Value>) -> Result<ClaimHeaders, Rejection> {
        let mut headers = Vec::with_capacity(self.claim_to_headers.len());
        for (header, claim) in &self.claim_to_headers {
            let Some(value) = lookup(claims, claim) else {
                continue;
            };
            match header_text(value) {
                Ok(Some(text)) => headers.push((header.clone(), text)),
                Ok(None) => {}
                Err(_) => return Err(Rejection::ClaimNotForwardable),
            }
        }
        Ok(headers)
    }

    /// Tries the keys that may verify this token: the same `kid` (or keys without one) that
    /// allow the token's `alg`. `kid` is only ever an exact lookup key.
    ///
    /// With `remote_jwks`: no set yet → `KeysLoading` (wait) or `KeysUnavailable`; a `kid` the
    /// set lacks → `KeysLoading` while a refetch is allowed, else `KeyNotFound`. A signature
    /// that does not verify never refetches.
    fn verify_signature(
        &self,
        token: &UntrustedToken<'_>,
        now_ms: u64,
        remote: Option<&RemoteKeys>,
    ) -> Result<(), Rejection> {
        let matches = |key: &&Key| {
            let same_kid = match (&token.kid, &key.kid) {
                (Some(want), Some(have)) => want == have,
                _ => true,
            };
            same_kid && key.allows(token.alg)
        };
        let fetched = match (&self.remote, remote) {
            (Some(cfg), Some(state)) => Some((cfg, state, state.availability(cfg, now_ms))),
            (Some(_), None) => return Err(Rejection::KeysUnavailable),
            (None, _) => None,
        };
        let fetched_keys: &[Key] = match &fetched {
            Some((_, _, Availability::Ready(keys))) => keys,
            _ => &[],
        };
        let candidates: Vec<&Key> = self
            .keys
            .iter()
            .chain(fetched_keys.iter())
            .filter(matches)
            .collect();
        if candidates.is_empty() {
            return Err(match fetched {
                Some((_, _, Availability::Loading)) => Rejection::KeysLoading,
                Some((_, _, Availability::Unavailable)) => Rejection::KeysUnavailable,
                Some((cfg, state, Availability::Ready(_)))
                    if token.kid.is_some() && state.may_refetch_for_kid(cfg, now_ms) =>
                {
                    Rejection::KeysLoading
                }
                _ => Rejection::KeyNotFound,
            });
        }
        // Each candidate is one signature verification an attacker's request buys: a token that
        // does not say which key (no `kid`, or keys published without one) may cost at most
        // `max_keys_per_token`.
        if candidates.len() > self.max_keys_per_token {
            return Err(Rejection::TooManyCandidateKeys);
        }
        let input = token.signing_input.as_bytes();
        if candidates
            .iter()
            .any(|key| key.verify(token.alg, input, &token.signature))
        {
            Ok(())
        } else {
            Err(Rejection::InvalidSignature)
        }
    }

    /// Where a verified token came from, if it must be removed before forwarding (`forward:
    /// false`).
    pub fn removable_source(&self, verified: &Verified) -> Option<&Source> {
        if self.forward {
            return None;
        }
        self.sources.get(verified.source)
    }

    /// The request changes for a verified token: the payload and claim headers (the token's
    /// removal is the gateway's, which removes every token location at once).
    pub fn forward_ops(&self, verified: &Verified, ops: &mut OpsWriter) {
        if let Some(header) = &self.forward_payload_header {
            ops.set_with(header, |payload| {
                payload.push_str(&verified.payload_b64);
                if self.pad_forward_payload_header {
                    while !payload.len().is_multiple_of(4) {
                        payload.push('=');
                    }
                }
            });
        }
        for (header, text) in &verified.headers {
            ops.set(header, text);
        }
    }
}
