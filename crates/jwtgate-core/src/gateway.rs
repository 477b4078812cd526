//! The decision for one request: strip managed headers, pick the rule, satisfy its requirement,
//! and either answer locally or forward with the verified providers' headers.

use super::cache::TokenCache;
use super::dpop::ReplayCaches;
use super::ext_auth::{DecisionCaches, ExtAnswer, ExtAuthService};
use super::extract::removals_into;
use super::failure::FailurePolicy;
use super::matcher::{Compare, RouteMatch};
use super::path_policy::{CaseMatching, PathPolicy};
use super::provider::{Provider, Verified};
use super::rejection::{LocalResponse, Rejection};
use super::remote_jwks::{JwksStore, RemoteKeys};
use super::request::{HeaderOp, OpsWriter, Request};
use super::requirement::Used;
use super::requirement::{Evaluation, Requirement};
use super::vm_state::VmState;
use std::rc::Rc;

/// A validated configuration, ready to decide requests. Built by [`Gateway::from_json`].
#[derive(Debug)]
pub struct Gateway {
    pub(super) providers: Vec<Provider>,
    pub(super) rules: Vec<Rule>,
    pub(super) realm: String,
    pub(super) max_token_bytes: usize,
    /// Every header a provider may set: removed from every request before anything else.
    pub(super) managed_headers: Vec<String>,
    pub(super) bypass_cors_preflight: bool,
    pub(super) stat_prefix: String,
    /// (max entries, max bytes) of the verified-token cache.
    pub(super) token_cache: (usize, usize),
    /// Status when `remote_jwks` keys are unavailable: 401 (Envoy's) or 503.
    pub(super) jwks_unavailable_status: u32,
    /// Share fetched JWKS between workers through proxy-wasm shared data (`share_jwks`).
    pub(super) share_jwks: bool,
    /// `on_keys_loading: retry_after`: answer 503 + `Retry-After` instead of pausing.
    pub(super) retry_while_keys_load: bool,
    /// `wake_other_requests`: the host can act on a paused request from elsewhere.
    pub(super) wake_other_requests: bool,
    /// Auth services (`ext_auth`), asked by `ExtAuth` requirements.
    pub(super) ext_services: Vec<ExtAuthService>,
    /// What the configuration asked for and jwtgate adjusted (e.g. a clamped
    /// `cache_duration`): the host logs them at warn, `jwtgate check` prints them.
    pub(super) warnings: Vec<String>,
    /// `client_managed_headers: reject`: a request carrying any spelling of a managed header is
    /// refused (400) instead of having it stripped.
    pub(super) reject_managed_headers: bool,
    /// The global failure response and dry-run flag, for refusals made before any rule is
    /// chosen (the request boundary).
    pub(super) failure: FailurePolicy,
    pub(super) dry_run: bool,
    /// How paths are checked and normalized before rule matching (`path_policy`).
    pub(super) path_policy: PathPolicy,
}

#[derive(Debug)]
pub struct Rule {
    pub route: RouteMatch,
    /// `None`: the route is open.
    pub requires: Option<Requirement>,
    /// The providers `requires` may consult ([`Requirement::providers`]), listed once.
    pub consulted: Vec<usize>,
    /// The rule's own, else the global one.
    pub failure: FailurePolicy,
    /// Report-only: decide, log and count, never deny.
    pub dry_run: bool,
}

/// What the host must do with the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Apply these changes, then let the request continue.
    Forward(Vec<HeaderOp>),
    /// Answer locally; the request goes no further.
    Respond(LocalResponse),
    /// Pause: these providers' keys are being fetched (`remote_jwks` cold start, or a token
    /// with a new `kid`). Decide again when the fetch ends.
    WaitForKeys(Vec<usize>),
    /// Pause and ask auth service `service` with these callout headers; decide again with its
    /// answer.
    AskExtAuth {
        service: usize,
        headers: Vec<(String, String)>,
    },
    /// Pause and ask provider `provider`'s introspection endpoint about `token` (RFC 7662);
    /// decide again with its answer. (`Secret`: never printed.)
    Introspect {
        provider: usize,
        token: super::introspection::Secret,
    },
}

/// A decision with the facts behind it, for the log line and the metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub decision: Decision,
    /// Why the request was (or, in dry-run, would have been) refused.
    pub rejection: Option<Rejection>,
    pub rule: Option<usize>,
    /// Names of the providers whose tokens verified or, on a refusal, those the rule consulted.
    pub providers: Vec<String>,
    pub dry_run: bool,
    pub cors_bypassed: bool,
    /// Auth services answered from the decision cache (metric names).
    pub ext_cache_hits: Vec<String>,
    /// Introspection providers answered from their cache (metric names).
    pub introspection_cache_hits: Vec<String>,
    /// The verified tokens of an allowed request, in the order the requirement used them (a
    /// host's claim variables, e.g. NGINX's `$jwtgate_claim_<name>`); empty otherwise.
    pub verified: Vec<Rc<Verified>>,
    /// Forwarded unverified (`on_keys_unavailable: allow_unverified`): `rejection` says why.
    pub unverified: bool,
}

/// Set on a request forwarded unverified (`on_keys_unavailable: allow_unverified`) to the
/// providers whose keys were unavailable; a managed header (client copies always removed).
pub const UNVERIFIED_HEADER: &str = "x-jwtgate-unverified";

/// What a VM's verdicts leave for the next ones to be written over (their capacity reused):
/// header changes, a local response, provider names, the verified list (emptied). The engine
/// keeps one and gives each verdict back ([`Recycled::keep`]) once it is applied.
#[derive(Debug, Default)]
pub struct Recycled {
    ops: Vec<HeaderOp>,
    /// The changes beyond the last verdict's (a verdict with fewer than the one before).
    tail: Vec<HeaderOp>,
    response: LocalResponse,
    providers: Vec<String>,
    verified: Vec<Rc<Verified>>,
}

impl Recycled {
    /// Keeps what `verdict` holds for the verdicts to come (of two lists, the larger).
    pub fn keep(&mut self, verdict: Verdict) {
        fn larger<T>(kept: &mut Vec<T>, other: Vec<T>) {
            if other.capacity() >= kept.capacity() {
                *kept = other;
            }
        }
        match verdict.decision {
            Decision::Forward(ops) => larger(&mut self.ops, ops),
            Decision::Respond(response) => self.response = response,
            _ => {}
        }
        larger(&mut self.providers, verdict.providers);
        let mut verified = verdict.verified;
        verified.clear();
        larger(&mut self.verified, verified);
    }
}

impl Verdict {
    fn forward(ops: Vec<HeaderOp>, rule: Option<usize>) -> Verdict {
        Verdict {
            decision: Decision::Forward(ops),
            rejection: None,
            rule,
            providers: Vec::new(),
            dry_run: false,
            cors_bypassed: false,
            ext_cache_hits: Vec::new(),
            introspection_cache_hits: Vec::new(),
            verified: Vec::new(),
            unverified: false,
        }
    }

    /// One log line: never the token, never the query string (it may carry the token).
    pub fn log_line(&self, method: &str, path: &str) -> String {
        let mut line = String::new();
        self.write_log_line(&mut line, method, path);
        line
    }

    /// [`Verdict::log_line`] appended to `out` (no allocation beyond `out`'s growth).
    pub fn write_log_line(&self, out: &mut String, method: &str, path: &str) {
        use std::fmt::Write;
        let path = path.split('?').next().unwrap_or("");
        out.push_str("jwtgate: ");
        // Writing to a String cannot fail.
        let _ = match (self.rejection, self.dry_run) {
            (Some(r), false) if self.unverified => {
                write!(out, "allow-unverified reason={}", r.name())
            }
            // The status the client got: a configured one (`jwks_unavailable_status`,
            // `on_keys_unavailable`, `failure_response`, an auth service's) differs from the
            // reason's usual one.
            (Some(r), false) => {
                let status = match &self.decision {
                    Decision::Respond(resp) => resp.status,
                    _ => r.status(),
                };
                write!(out, "deny status={status} reason={}", r.name())
            }
            (Some(r), true) => write!(
                out,
                "dry-run would-deny status={} reason={}",
                r.status(),
                r.name()
            ),
            (None, _) if self.cors_bypassed => out.write_str("allow cors-preflight"),
            (None, _) => out.write_str("allow"),
        };
        let _ = match self.rule {
            Some(r) => write!(out, " rule={r}"),
            None => out.write_str(" rule=none"),
        };
        out.push_str(" provider=");
        if self.providers.is_empty() {
            out.push('-');
        }
        for (i, p) in self.providers.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(p);
        }
        let _ = write!(out, " method={method} path={path}");
    }

    /// Metric names (without the prefix) this verdict increments.
    pub fn metrics(&self) -> Vec<String> {
        let hits = self
            .ext_cache_hits
            .iter()
            .map(|name| format!("ext_auth.{name}.cache_hits"))
            .chain(
                self.introspection_cache_hits
                    .iter()
                    .map(|name| format!("introspection.{name}.cache_hits")),
            );
        match self.decision {
            Decision::WaitForKeys(_) => return vec!["paused_for_keys".into()],
            Decision::AskExtAuth { .. } | Decision::Introspect { .. } => return hits.collect(),
            _ => {}
        }
        let mut names: Vec<String> = hits.collect();
        names.extend(self.decision_metrics());
        names
    }

    fn decision_metrics(&self) -> Vec<String> {
        match (self.rejection, self.dry_run) {
            (Some(_), false) if self.unverified => {
                vec!["allowed".into(), "allowed_unverified".into()]
            }
            (Some(r), false) => vec!["denied".into(), format!("denied.{}", r.name())],
            (Some(r), true) => vec![
                "allowed".into(),
                "dry_run.would_deny".into(),
                format!("dry_run.would_deny.{}", r.name()),
            ],
            (None, _) if self.cors_bypassed => vec!["allowed".into(), "cors_bypassed".into()],
            (None, _) => vec!["allowed".into()],
        }
    }
}

impl Gateway {
    /// The realm sent in `WWW-Authenticate`.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// A one-line description of rule `index` (for `jwtgate explain`).
    #[cfg(feature = "cli")]
    pub fn describe_rule(&self, index: usize) -> Option<String> {
        let rule = self.rules.get(index)?;
        let path = match &rule.route.path {
            super::matcher::PathMatch::Prefix(p) => format!("prefix {p:?}"),
            super::matcher::PathMatch::Exact(p) => format!("path {p:?}"),
            super::matcher::PathMatch::Regex(re) => format!("safe_regex {:?}", re.as_str()),
        };
        let requires = match &rule.requires {
            None => "no requirement (open route)".to_string(),
            Some(r) => {
                let names: Vec<&str> = r
                    .providers(self.providers.len())
                    .into_iter()
                    .filter_map(|i| self.providers.get(i).map(|p| p.name.as_str()))
                    .collect();
                format!("requires {}", names.join(" / "))
            }
        };
        Some(format!(
            "rules[{index}]: {path} → {requires}{}",
            if rule.dry_run { " (dry-run)" } else { "" }
        ))
    }

    /// Warnings about a valid configuration: values jwtgate accepted but adjusted, each naming
    /// its field (`providers.p.remote_jwks.cache_duration: 5s is shorter than …`). The host
    /// should log each once at warn when the configuration is loaded.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Number of providers and rules (for `jwtgate check`).
    pub fn summary(&self) -> (usize, usize) {
        (self.providers.len(), self.rules.len())
    }

    /// Where each provider would find a token in `req`: (provider, source description, token).
    #[cfg(feature = "cli")]
    pub fn find_tokens(&self, req: &Request<'_>) -> Vec<(String, String, String)> {
        self.providers
            .iter()
            .flat_map(|p| {
                super::extract::find_every(&p.sources, req)
                    .map(|found| {
                        (
                            p.name.clone(),
                            found.source.describe(),
                            found.token.into_owned(),
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Whether a provider reads the client certificate from the connection
    /// (`mtls_binding.certificate_from: connection`): the host then lists its digest under
    /// [`super::request::PEER_CERTIFICATE_SHA256`].
    pub fn reads_peer_certificate(&self) -> bool {
        self.providers.iter().any(|p| {
            p.mtls
                .as_ref()
                .is_some_and(|m| m.source == super::mtls::CertificateSource::Connection)
        })
    }

    /// Prefix for metric names (`stat_prefix`, default `jwtgate`).
    pub fn stat_prefix(&self) -> &str {
        &self.stat_prefix
    }

    /// A token cache sized by this configuration (`token_cache`); build a new one whenever the
    /// configuration (and so the keys) changes.
    pub fn new_token_cache(&self) -> TokenCache {
        TokenCache::new(self.token_cache.0, self.token_cache.1)
    }

    /// Empty key sets for the providers with `remote_jwks`; `seed` (host randomness) jitters
    /// their retries.
    pub fn new_jwks_store(&self, seed: u64) -> JwksStore {
        JwksStore::new(
            self.providers
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    p.remote
                        .as_ref()
                        .map(|_| RemoteKeys::new(seed ^ (i as u64).wrapping_mul(0x9e37_79b9)))
                })
                .collect(),
        )
    }

    /// The providers with `remote_jwks`: (index, name, endpoint).
    pub fn remote_providers(
        &self,
    ) -> impl Iterator<Item = (usize, &str, &super::remote_jwks::RemoteJwks)> {
        self.providers
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.remote.as_ref().map(|r| (i, p.name.as_str(), r)))
    }

    /// Whether a request whose keys are loading is answered 503 + `Retry-After` instead of
    /// paused (`on_keys_loading: retry_after`).
    pub fn retry_while_keys_load(&self) -> bool {
        self.retry_while_keys_load
    }

    /// Whether the engine may act on a paused request from another request's callback or the
    /// timer (`wake_other_requests`, default true; false on NGINX + ngx_wasm_module).
    pub fn wake_other_requests(&self) -> bool {
        self.wake_other_requests
    }

    /// Whether fetched JWKS are shared between workers (`share_jwks`).
    pub fn share_jwks(&self) -> bool {
        self.share_jwks
    }

    /// Turns JWKS sharing on for a host that always has the shared store (the native NGINX
    /// module's shared memory zone), whatever the configuration says.
    pub fn share_jwks_always(&mut self) {
        self.share_jwks = true;
    }

    /// Decides `req` at host time `now` (unix seconds), without a token cache.
    pub fn decide(&self, req: &Request<'_>, now: u64) -> Verdict {
        self.decide_cached(req, now, &mut TokenCache::new(0, 0))
    }

    /// Decides `req` at host time `now` (unix seconds), reusing and filling `cache`; remote
    /// key sets count as unavailable and auth services as failed (nothing can be fetched).
    pub fn decide_cached(&self, req: &Request<'_>, now: u64, cache: &mut TokenCache) -> Verdict {
        let mut state = VmState {
            tokens: std::mem::replace(cache, TokenCache::new(0, 0)),
            jwks: self.new_jwks_store(0),
            decisions: self.new_decision_caches(),
            dpop_replay: ReplayCaches::new(
                self.providers
                    .iter()
                    .map(|p| p.dpop.as_ref().map(|d| d.replay_entries)),
            ),
            introspection: self.new_introspection_store(),
            scratch: Default::default(),
        };
        let verdict = self.decide_with(req, now.saturating_mul(1000), &mut state, &[], false);
        *cache = state.tokens;
        verdict
    }

    /// A VM's state for this configuration: token cache, empty key sets (`seed`, host
    /// randomness, jitters their retries), empty auth decision cache.
    pub fn new_vm_state(&self, seed: u64) -> VmState {
        VmState {
            tokens: self.new_token_cache(),
            jwks: self.new_jwks_store(seed),
            decisions: self.new_decision_caches(),
            dpop_replay: ReplayCaches::new(
                self.providers
                    .iter()
                    .map(|p| p.dpop.as_ref().map(|d| d.replay_entries)),
            ),
            introspection: self.new_introspection_store(),
            scratch: Default::default(),
        }
    }

    /// One introspection cache per provider with `introspection`, bounded by its
    /// `cache.max_entries` and `cache.max_bytes`.
    fn new_introspection_store(&self) -> super::introspection::IntrospectionStore {
        super::introspection::IntrospectionStore::new(self.providers.iter().map(|p| {
            p.introspection
                .as_ref()
                .map(|i| (i.max_entries, i.max_bytes))
        }))
    }

    /// The providers with `introspection`: (index, name, configuration).
    pub fn introspection_providers(
        &self,
    ) -> impl Iterator<Item = (usize, &str, &super::introspection::Introspection)> {
        self.providers
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.introspection.as_ref().map(|r| (i, p.name.as_str(), r)))
    }

    /// Turns provider `provider`'s introspection answer into its outcome, and caches it (keyed
    /// by `key`, the token's hash) when the answer may be cached: active until
    /// `min(exp, now + cache_ttl)`, inactive for `negative_cache_ttl`, failures never.
    pub fn remember_introspection(
        &self,
        state: &mut VmState,
        provider: usize,
        key: [u8; 32],
        answer: super::introspection::Answer,
        now_ms: u64,
    ) -> Rc<super::introspection::Introspected> {
        use super::introspection::Answer;
        let Some((p, intro)) = self
            .providers
            .get(provider)
            .and_then(|p| Some((p, p.introspection.as_ref()?)))
        else {
            return Rc::new(Err(Rejection::IntrospectionError));
        };
        let expires = intro.expires_ms(&answer, now_ms);
        let (outcome, cost) = match answer {
            Answer::Active(claims, body) => {
                let cost = body.len();
                (p.introspected(claims, &body), cost)
            }
            Answer::Inactive => (Err(Rejection::TokenInactive), 0),
            Answer::Failed(_) => (Err(Rejection::IntrospectionError), 0),
        };
        let outcome = Rc::new(outcome);
        if let Some(expires) = expires {
            state
                .introspection
                .insert(provider, key, Rc::clone(&outcome), expires, cost);
        }
        outcome
    }

    /// Caches auth service `service`'s `answer` for `req` (the paused request: its method,
    /// `:path` and headers as they were when it was asked) in that service's own cache, when
    /// the service caches and the answer may be cached. Returns whether it was cached.
    pub fn remember_ext_answer(
        &self,
        state: &mut VmState,
        service: usize,
        req: &Request<'_>,
        answer: &ExtAnswer,
        now_ms: u64,
    ) -> bool {
        let Some(s) = self.ext_services.get(service) else {
            return false;
        };
        let (Some(ttl), Some(key)) = (s.ttl_ms(answer), s.cache_key(service, req)) else {
            return false;
        };
        state.decisions.insert(
            service,
            key,
            Rc::new(answer.clone()),
            now_ms.saturating_add(ttl),
        );
        true
    }

    /// One auth-answer cache per service, bounded by its `cache.max_entries`.
    fn new_decision_caches(&self) -> DecisionCaches {
        DecisionCaches::new(
            self.ext_services
                .iter()
                .map(|s| s.cache.as_ref().map_or(0, |c| c.max_entries)),
        )
    }

    /// The auth services (`ext_auth`).
    pub fn ext_services(&self) -> &[ExtAuthService] {
        &self.ext_services
    }

    /// Decides `req` at host time `now_ms` (unix milliseconds) with the VM's state and the
    /// auth answers this request already received. `may_wait`: a token whose keys are being
    /// fetched, or an auth service not asked yet, pauses the request (`WaitForKeys`,
    /// `AskExtAuth`) instead of refusing it.
    pub fn decide_with(
        &self,
        req: &Request<'_>,
        now_ms: u64,
        state: &mut VmState,
        answers: &[(usize, Rc<ExtAnswer>)],
        may_wait: bool,
    ) -> Verdict {
        self.decide_recycling(
            req,
            now_ms,
            state,
            answers,
            may_wait,
            &mut Recycled::default(),
        )
    }

    /// [`Gateway::decide_with`], writing the verdict over what earlier verdicts left in
    /// `recycled` (their lists and strings reused), so deciding a request like an earlier one
    /// (a cached token's, a refusal) allocates nothing for the verdict.
    pub fn decide_recycling(
        &self,
        req: &Request<'_>,
        now_ms: u64,
        state: &mut VmState,
        answers: &[(usize, Rc<ExtAnswer>)],
        may_wait: bool,
        recycled: &mut Recycled,
    ) -> Verdict {
        // Anti-spoofing comes first and applies to every request, open routes included: every
        // spelling of a managed header the client sent (case, `_` for `-`) is removed.
        let spellings = self.managed_spellings(req);
        let refuse_spoofing = self.reject_managed_headers && !spellings.is_empty();
        let mut ops = OpsWriter::reuse(std::mem::take(&mut recycled.ops), &mut recycled.tail);
        for name in &spellings {
            ops.remove(name);
        }
        if refuse_spoofing {
            return self.refuse_at_boundary(
                Rejection::ManagedHeaderPresent,
                req,
                ops.finish(&mut recycled.tail),
            );
        }

        if self.bypass_cors_preflight && is_cors_preflight(req) {
            let mut verdict = Verdict::forward(ops.finish(&mut recycled.tail), None);
            verdict.cors_bypassed = true;
            return verdict;
        }

        // The path rules are matched on; what upstreams could resolve differently is refused.
        let (matched_path, forward_path) = match self.path_policy.matching(req.path) {
            Ok(matched) => matched,
            Err(rejection) => {
                return self.refuse_at_boundary(rejection, req, ops.finish(&mut recycled.tail))
            }
        };
        let select = |ignore_case: bool| {
            let compare = Compare {
                ignore_case,
                trailing_slash: self.path_policy.exact_path_trailing_slash,
            };
            self.rules
                .iter()
                .enumerate()
                .find(|(_, r)| r.route.matches(req, &matched_path, compare))
        };
        let chosen = match self.path_policy.case_matching {
            CaseMatching::Sensitive => select(false),
            CaseMatching::Insensitive => select(true),
            CaseMatching::RejectAmbiguous => {
                let sensitive = select(false);
                if sensitive.map(|(i, _)| i) != select(true).map(|(i, _)| i) {
                    return self.refuse_at_boundary(
                        Rejection::PathAmbiguous,
                        req,
                        ops.finish(&mut recycled.tail),
                    );
                }
                sensitive
            }
        };
        // `unescape` / `strip` changed the path: the upstream gets the one that was matched.
        let forward_path = forward_path.as_deref();
        let Some((rule_index, rule)) = chosen else {
            removals_into([], req, forward_path, &mut ops);
            return Verdict::forward(ops.finish(&mut recycled.tail), None);
        };
        let Some(requirement) = &rule.requires else {
            removals_into([], req, forward_path, &mut ops);
            return Verdict::forward(ops.finish(&mut recycled.tail), Some(rule_index));
        };

        let mut evaluation = Evaluation::new(
            &self.providers,
            &self.ext_services,
            req,
            now_ms,
            self.max_token_bytes,
            state,
            answers,
        );
        let rule_providers = rule.consulted.as_slice();
        let lenient = requirement.is_lenient();
        // Every token in the rule's providers' locations must verify (Envoy's rule), unless
        // the requirement passes whatever the tokens are.
        let result = evaluation.satisfy_rule(requirement).and_then(|()| {
            if lenient {
                return Ok(());
            }
            evaluation.account_for_rule(rule_providers)
        });
        let ext_cache_hits: Vec<String> = evaluation
            .ext_cache_hits
            .iter()
            .filter_map(|&i| self.ext_services.get(i).map(|s| s.name.clone()))
            .collect();
        let intro_cache_hits: Vec<String> = evaluation
            .intro_cache_hits
            .iter()
            .filter_map(|&i| self.providers.get(i).map(|p| p.name.clone()))
            .collect();
        if result.is_err() && may_wait {
            let waiting = evaluation.waiting_for_keys();
            let mut verdict = Verdict::forward(Vec::new(), Some(rule_index));
            verdict.ext_cache_hits = ext_cache_hits.clone();
            if !waiting.is_empty() {
                verdict.decision = Decision::WaitForKeys(waiting);
                return verdict;
            }
            if let Some((provider, token)) = evaluation.intro_pending.first() {
                verdict.decision = Decision::Introspect {
                    provider: *provider,
                    token: super::introspection::Secret(token.clone()),
                };
                verdict.introspection_cache_hits = intro_cache_hits;
                return verdict;
            }
            if let Some(&service) = evaluation.ext_pending.first() {
                if let Some(s) = self.ext_services.get(service) {
                    verdict.decision = Decision::AskExtAuth {
                        service,
                        headers: s.callout_headers(req),
                    };
                    return verdict;
                }
            }
        }
        // Cannot wait (any more): a token still waiting for keys, or an auth service still
        // unasked, is refused.
        let result = result.map_err(|r| match r {
            Rejection::KeysLoading => Rejection::KeysUnavailable,
            Rejection::ExtAuthPending => Rejection::ExtAuthError,
            Rejection::IntrospectionPending => Rejection::IntrospectionError,
            other => other,
        });
        // The names of what was used or consulted, written over the previous verdict's.
        let mut spare_names = Some(std::mem::take(&mut recycled.providers));
        let mut names = |used: &mut dyn Iterator<Item = Used>| -> Vec<String> {
            let mut out = spare_names.take().unwrap_or_default();
            let mut len = 0;
            for u in used {
                let name = match u {
                    Used::Provider(i) => self.providers.get(i).map(|p| p.name.as_str()),
                    Used::ExtAuth(i) => self.ext_services.get(i).map(|s| s.name.as_str()),
                };
                let Some(name) = name else { continue };
                match out.get_mut(len) {
                    Some(old) => {
                        old.clear();
                        old.push_str(name);
                    }
                    None => out.push(name.to_string()),
                }
                len += 1;
            }
            out.truncate(len);
            out
        };
        // Refusals only: an allowed request builds no list of the providers consulted.
        let consulted = || rule_providers.iter().copied().map(Used::Provider);
        match result {
            Ok(()) => {
                let (used, located) = (evaluation.used(), evaluation.located());
                // `forward: false`: every location a verified token came from is removed (all
                // of them when every token was accounted for; else those of the providers
                // used), in one change per header, one for cookies, one for `:path`.
                let from_located = located.iter().filter_map(|&(index, at)| {
                    let provider = self.providers.get(index).filter(|p| !p.forward)?;
                    provider.sources.get(at)
                });
                let from_used = used.iter().filter_map(|u| match *u {
                    Used::Provider(index) => {
                        let provider = self.providers.get(index)?;
                        provider.removable_source(evaluation.verified(index)?)
                    }
                    Used::ExtAuth(_) => None,
                });
                removals_into(from_located.chain(from_used), req, forward_path, &mut ops);
                for u in used {
                    match *u {
                        Used::Provider(index) => {
                            if let (Some(provider), Some(verified)) =
                                (self.providers.get(index), evaluation.verified(index))
                            {
                                provider.forward_ops(verified, &mut ops);
                            }
                        }
                        Used::ExtAuth(index) => {
                            for (name, value) in evaluation.ext_allowed(index).unwrap_or(&[]) {
                                ops.set(name, value);
                            }
                        }
                    }
                }
                let mut verdict =
                    Verdict::forward(ops.finish(&mut recycled.tail), Some(rule_index));
                verdict.providers = names(&mut used.iter().copied());
                verdict.ext_cache_hits = ext_cache_hits;
                verdict.introspection_cache_hits = intro_cache_hits;
                let mut verified = std::mem::take(&mut recycled.verified);
                verified.extend(used.iter().filter_map(|u| match *u {
                    Used::Provider(index) => evaluation.verified(index).map(Rc::clone),
                    Used::ExtAuth(_) => None,
                }));
                verdict.verified = verified;
                verdict
            }
            Err(rejection) if rule.dry_run => {
                removals_into([], req, forward_path, &mut ops);
                let mut verdict =
                    Verdict::forward(ops.finish(&mut recycled.tail), Some(rule_index));
                verdict.providers = names(&mut consulted());
                verdict.rejection = Some(rejection);
                verdict.dry_run = true;
                verdict.ext_cache_hits = ext_cache_hits;
                verdict.introspection_cache_hits = intro_cache_hits;
                verdict
            }
            Err(Rejection::KeysUnavailable)
                if self.allows_unverified(&evaluation.without_keys()) =>
            {
                // Every provider that met a token without keys says `allow_unverified`:
                // forwarded with the managed headers removed, no claim from any token, and the
                // mark naming those providers.
                let without: Vec<Used> = evaluation
                    .without_keys()
                    .into_iter()
                    .map(Used::Provider)
                    .collect();
                removals_into([], req, forward_path, &mut ops);
                let marked = names(&mut without.iter().copied());
                ops.set(UNVERIFIED_HEADER, &marked.join(","));
                let mut verdict =
                    Verdict::forward(ops.finish(&mut recycled.tail), Some(rule_index));
                verdict.providers = marked;
                verdict.rejection = Some(Rejection::KeysUnavailable);
                verdict.unverified = true;
                verdict.ext_cache_hits = ext_cache_hits;
                verdict.introspection_cache_hits = intro_cache_hits;
                verdict
            }
            Err(rejection) => {
                // A refusal forwards no header change: the list waits for the next verdict.
                recycled.ops = ops.into_list();
                let mut response = std::mem::take(&mut recycled.response);
                rule.failure
                    .respond_into(&mut response, rejection, &self.realm, req.path);
                self.dpop_challenge(rule_providers, rejection, req, &mut response);
                if rejection == Rejection::KeysUnavailable && response.status == 401 {
                    response.status = self.keys_unavailable_status(&evaluation.without_keys());
                }
                if rejection == Rejection::IntrospectionError && response.status == 401 {
                    // As unavailable keys: the provider's `on_keys_unavailable`, else the
                    // global `jwks_unavailable_status`.
                    response.status =
                        self.keys_unavailable_status(&evaluation.introspection_failed());
                }
                if let Some((service, answer)) = evaluation.ext_refusal() {
                    self.ext_response(service, answer, &mut response);
                } else if let Some(&service) = evaluation.ext_pending.first() {
                    // Never answered in time: the service's error status.
                    let failed = ExtAnswer::Failed(super::ext_auth::ExtFailure::NoResponse);
                    self.ext_response(service, &failed, &mut response);
                }
                let mut providers = names(&mut consulted());
                if let Some((service, _)) = evaluation.ext_refusal() {
                    providers.extend(self.ext_services.get(service).map(|s| s.name.clone()));
                }
                Verdict {
                    decision: Decision::Respond(response),
                    rejection: Some(rejection),
                    rule: Some(rule_index),
                    providers,
                    dry_run: false,
                    cors_bypassed: false,
                    ext_cache_hits,
                    introspection_cache_hits: intro_cache_hits,
                    verified: Vec::new(),
                    unverified: false,
                }
            }
        }
    }
}

impl Gateway {
    /// The names (lower-case, as sent otherwise) of the request's headers that are a spelling
    /// of a managed header: the same name up to ASCII case and `_` for `-`. WSGI, Rack and
    /// PHP-FastCGI map `x_user_id`, `x-user_id` and `X-User-Id` onto one variable
    /// (`HTTP_X_USER_ID`), so each must go, not only the exact name.
    pub fn managed_spellings(&self, req: &Request<'_>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (name, _) in req.headers {
            if self
                .managed_headers
                .iter()
                .any(|managed| same_variable(managed, name))
            {
                let lower = name.to_ascii_lowercase();
                if !out.contains(&lower) {
                    out.push(lower);
                }
            }
        }
        out
    }

    /// A refusal before any rule is chosen (the request boundary): the global failure
    /// response, or with the global `dry_run` a report and the request continues (with `ops`).
    fn refuse_at_boundary(
        &self,
        rejection: Rejection,
        req: &Request<'_>,
        ops: Vec<HeaderOp>,
    ) -> Verdict {
        let mut verdict = Verdict::forward(ops, None);
        verdict.rejection = Some(rejection);
        if self.dry_run {
            verdict.dry_run = true;
        } else {
            verdict.decision =
                Decision::Respond(self.failure.respond(rejection, &self.realm, req.path));
        }
        verdict
    }

    /// An auth service's refusal: its status (or `status_on_error`) and its client headers
    /// replace jwtgate's challenge.
    fn ext_response(&self, service: usize, answer: &ExtAnswer, response: &mut LocalResponse) {
        let Some(s) = self.ext_services.get(service) else {
            return;
        };
        if response.status == 302 {
            return; // a configured login redirect stays
        }
        response.headers.retain(|(n, _)| n != "www-authenticate");
        match answer {
            ExtAnswer::Denied(_, client_headers) => {
                response.headers.extend(client_headers.iter().cloned());
            }
            ExtAnswer::Failed(_) => response.status = s.status_on_error,
            ExtAnswer::Allowed(_) => {}
        }
    }

    /// RFC 9449 §7.1: a refusal by a provider with `dpop` is challenged with the `DPoP`
    /// scheme and its `algs` when the refusal is about DPoP, the token came as `DPoP`, or the
    /// token is missing where DPoP is required (else the `Bearer` challenge stays).
    fn dpop_challenge(
        &self,
        consulted: &[usize],
        rejection: Rejection,
        req: &Request<'_>,
        response: &mut LocalResponse,
    ) {
        let policies: Vec<&super::dpop::DpopPolicy> = consulted
            .iter()
            .filter_map(|&i| self.providers.get(i)?.dpop.as_ref())
            .collect();
        if policies.is_empty() {
            return;
        }
        let sent_dpop = req.header_values("authorization").any(|v| {
            v.trim_start()
                .get(..5)
                .is_some_and(|s| s.eq_ignore_ascii_case("dpop "))
        });
        let missing_where_required =
            rejection == Rejection::MissingToken && policies.iter().any(|p| p.required);
        if !(rejection.is_dpop() || sent_dpop || missing_where_required) {
            return;
        }
        let mut algs: Vec<super::algorithm::Alg> = Vec::new();
        for alg in policies.iter().flat_map(|p| p.algs.iter()) {
            if !algs.contains(alg) {
                algs.push(*alg);
            }
        }
        for (name, value) in &mut response.headers {
            if name != "www-authenticate" {
                continue;
            }
            if let Some(rest) = value.strip_prefix("Bearer ") {
                *value = format!("DPoP {rest}, algs=\"{}\"", super::dpop::algs_text(&algs));
            }
        }
    }

    /// Whether a `keys_unavailable` refusal becomes an unverified pass: every provider that met
    /// a token without keys says `allow_unverified`.
    fn allows_unverified(&self, without_keys: &[usize]) -> bool {
        !without_keys.is_empty()
            && without_keys
                .iter()
                .all(|&i| self.providers.get(i).is_some_and(|p| p.allow_unverified))
    }

    /// The status of a `keys_unavailable` refusal: 503 when a provider that had no keys says
    /// `on_keys_unavailable: unavailable`; 401 when every such provider says `deny`; else the
    /// global `jwks_unavailable_status`.
    fn keys_unavailable_status(&self, without_keys: &[usize]) -> u32 {
        let own: Vec<Option<u32>> = without_keys
            .iter()
            .filter_map(|&i| self.providers.get(i))
            .map(|p| p.keys_unavailable_status)
            .collect();
        if own.contains(&Some(503)) {
            503
        } else if !own.is_empty() && own.iter().all(|s| *s == Some(401)) {
            401
        } else {
            self.jwks_unavailable_status
        }
    }
}

/// Whether two header names reach a CGI-style upstream as the same variable: equal up to ASCII
/// case, with `_` and `-` interchangeable.
pub(super) fn same_variable(a: &str, b: &str) -> bool {
    let fold = |c: u8| match c {
        b'_' => b'-',
        c => c.to_ascii_lowercase(),
    };
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| fold(x) == fold(y))
}

/// A CORS preflight (Envoy's `bypass_cors_preflight`): OPTIONS with `Origin` and
/// `Access-Control-Request-Method`. Browsers send it without credentials.
fn is_cors_preflight(req: &Request<'_>) -> bool {
    req.method == "OPTIONS"
        && req.has_header("origin")
        && req.has_header("access-control-request-method")
}
