//! The decision for one request: strip managed headers, pick the rule, satisfy its requirement,
//! and either answer locally or forward with the verified providers' headers.

use super::cache::TokenCache;
use super::failure::FailurePolicy;
use super::matcher::{normalize_path, RouteMatch};
use super::provider::Provider;
use super::rejection::{LocalResponse, Rejection};
use super::remote_jwks::{JwksStore, RemoteKeys};
use super::request::{HeaderOp, Request};
use super::requirement::{Evaluation, Requirement};

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
}

#[derive(Debug)]
pub struct Rule {
    pub route: RouteMatch,
    /// `None`: the route is open.
    pub requires: Option<Requirement>,
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
        }
    }

    /// One log line: never the token, never the query string (it may carry the token).
    pub fn log_line(&self, method: &str, path: &str) -> String {
        let path = path.split('?').next().unwrap_or("");
        let rule = self.rule.map_or("none".to_string(), |r| r.to_string());
        let providers = if self.providers.is_empty() {
            "-".to_string()
        } else {
            self.providers.join(",")
        };
        let what = match (self.rejection, self.dry_run) {
            (Some(r), false) => format!("deny status={} reason={}", r.status(), r.name()),
            (Some(r), true) => format!(
                "dry-run would-deny status={} reason={}",
                r.status(),
                r.name()
            ),
            (None, _) if self.cors_bypassed => "allow cors-preflight".to_string(),
            (None, _) => "allow".to_string(),
        };
        format!("jwtgate: {what} rule={rule} provider={providers} method={method} path={path}")
    }

    /// Metric names (without the prefix) this verdict increments.
    pub fn metrics(&self) -> Vec<String> {
        if matches!(self.decision, Decision::WaitForKeys(_)) {
            return vec!["paused_for_keys".into()];
        }
        match (self.rejection, self.dry_run) {
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

    /// Number of providers and rules (for `jwtgate check`).
    pub fn summary(&self) -> (usize, usize) {
        (self.providers.len(), self.rules.len())
    }

    /// Where each provider would find a token in `req`: (provider, source description, token).
    pub fn find_tokens(&self, req: &Request<'_>) -> Vec<(String, String, String)> {
        self.providers
            .iter()
            .flat_map(|p| {
                super::extract::find_all(&p.sources, req)
                    .map(|found| (p.name.clone(), found.source.describe(), found.token))
                    .collect::<Vec<_>>()
            })
            .collect()
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

    /// Whether fetched JWKS are shared between workers (`share_jwks`).
    pub fn share_jwks(&self) -> bool {
        self.share_jwks
    }

    /// Decides `req` at host time `now` (unix seconds), without a token cache.
    pub fn decide(&self, req: &Request<'_>, now: u64) -> Verdict {
        self.decide_cached(req, now, &mut TokenCache::new(0, 0))
    }

    /// Decides `req` at host time `now` (unix seconds), reusing and filling `cache`; remote
    /// key sets count as unavailable.
    pub fn decide_cached(&self, req: &Request<'_>, now: u64, cache: &mut TokenCache) -> Verdict {
        let jwks = self.new_jwks_store(0);
        self.decide_with(req, now.saturating_mul(1000), cache, &jwks, false)
    }

    /// Decides `req` at host time `now_ms` (unix milliseconds) with the VM's token cache and
    /// fetched key sets. `may_wait`: a token whose keys are being fetched gives
    /// `Decision::WaitForKeys` instead of a refusal.
    pub fn decide_with(
        &self,
        req: &Request<'_>,
        now_ms: u64,
        cache: &mut TokenCache,
        jwks: &JwksStore,
        may_wait: bool,
    ) -> Verdict {
        // Anti-spoofing comes first and applies to every request, open routes included.
        let mut ops: Vec<HeaderOp> = self
            .managed_headers
            .iter()
            .filter(|h| req.has_header(h))
            .map(|h| HeaderOp::Remove(h.clone()))
            .collect();

        if self.bypass_cors_preflight && is_cors_preflight(req) {
            let mut verdict = Verdict::forward(ops, None);
            verdict.cors_bypassed = true;
            return verdict;
        }

        let normalized = normalize_path(req.path);
        let Some((rule_index, rule)) = self
            .rules
            .iter()
            .enumerate()
            .find(|(_, r)| r.route.matches(req, &normalized))
        else {
            return Verdict::forward(ops, None);
        };
        let Some(requirement) = &rule.requires else {
            return Verdict::forward(ops, Some(rule_index));
        };

        let mut evaluation = Evaluation::new(
            &self.providers,
            req,
            now_ms,
            self.max_token_bytes,
            cache,
            jwks,
        );
        let result = evaluation.satisfy(requirement);
        if result.is_err() {
            let waiting = evaluation.waiting_for_keys();
            if may_wait && !waiting.is_empty() {
                let mut verdict = Verdict::forward(Vec::new(), Some(rule_index));
                verdict.decision = Decision::WaitForKeys(waiting);
                return verdict;
            }
        }
        // Cannot wait (any more): a token still waiting for keys is refused.
        let result = result.map_err(|r| match r {
            Rejection::KeysLoading => Rejection::KeysUnavailable,
            other => other,
        });
        let names = |indices: &[usize]| -> Vec<String> {
            indices
                .iter()
                .filter_map(|&i| self.providers.get(i).map(|p| p.name.clone()))
                .collect()
        };
        match result {
            Ok(used) => {
                for &index in &used {
                    if let (Some(provider), Some(verified)) =
                        (self.providers.get(index), evaluation.verified(index))
                    {
                        provider.forward_ops(verified, req, &mut ops);
                    }
                }
                let mut verdict = Verdict::forward(ops, Some(rule_index));
                verdict.providers = names(&used);
                verdict
            }
            Err(rejection) if rule.dry_run => {
                let mut verdict = Verdict::forward(ops, Some(rule_index));
                verdict.providers = names(&requirement.providers(self.providers.len()));
                verdict.rejection = Some(rejection);
                verdict.dry_run = true;
                verdict
            }
            Err(rejection) => Verdict {
                decision: Decision::Respond(self.respond(rule, rejection, req)),
                rejection: Some(rejection),
                rule: Some(rule_index),
                providers: names(&requirement.providers(self.providers.len())),
                dry_run: false,
                cors_bypassed: false,
            },
        }
    }
}

impl Gateway {
    fn respond(&self, rule: &Rule, rejection: Rejection, req: &Request<'_>) -> LocalResponse {
        let mut response = rule.failure.respond(rejection, &self.realm, req.path);
        if rejection == Rejection::KeysUnavailable && response.status == 401 {
            response.status = self.jwks_unavailable_status;
        }
        response
    }
}

/// A CORS preflight (Envoy's `bypass_cors_preflight`): OPTIONS with `Origin` and
/// `Access-Control-Request-Method`. Browsers send it without credentials.
fn is_cors_preflight(req: &Request<'_>) -> bool {
    req.method == "OPTIONS"
        && req.has_header("origin")
        && req.has_header("access-control-request-method")
}
