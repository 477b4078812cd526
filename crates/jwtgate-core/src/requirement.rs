//! Requirement trees, Envoy's `JwtRequirement`: `provider_name`, `provider_and_audiences`,
//! `requires_any`, `requires_all`, `allow_missing`, `allow_missing_or_failed`, plus jwtgate's
//! claim conditions on a provider requirement.

use super::authorize::{check_all, Condition};
use std::borrow::Cow;
use std::rc::Rc;

use super::claims::ClaimPolicy;
use super::ext_auth::{ExtAnswer, ExtAuthService};
use super::extract::{self, Found};
use super::provider::{Outcome, Provider, VerifyContext};
use super::rejection::Rejection;
use super::request::Request;
use super::vm_state::VmState;

#[derive(Debug)]
pub enum Requirement {
    /// A valid token from this provider; `audiences` overrides the provider's
    /// (`provider_and_audiences`); `claims` must all hold.
    Provider {
        provider: usize,
        audiences: Option<Vec<String>>,
        claims: Vec<Condition>,
    },
    Any(Vec<Requirement>),
    All(Vec<Requirement>),
    /// No token anywhere: pass. A token that any provider finds must verify.
    AllowMissing,
    /// Always pass; a token that verifies still sets its headers.
    AllowMissingOrFailed,
    /// Extension: the auth service `ext_auth[i]` allows the request.
    ExtAuth(usize),
}

/// What satisfied a requirement (its headers are forwarded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Used {
    Provider(usize),
    ExtAuth(usize),
}

impl Requirement {
    /// The providers this requirement may consult (for logs: who refused).
    pub fn providers(&self, all: usize) -> Vec<usize> {
        let mut out = Vec::new();
        self.collect(all, &mut out);
        out
    }

    /// Whether the requirement passes whatever tokens the request carries
    /// (`allow_missing_or_failed`, alone or as every part): then a token that fails is not
    /// refused, and only verified tokens are accounted for.
    pub fn is_lenient(&self) -> bool {
        match self {
            Requirement::AllowMissingOrFailed => true,
            Requirement::Any(list) => list.iter().any(Requirement::is_lenient),
            Requirement::All(list) => list.iter().all(Requirement::is_lenient),
            _ => false,
        }
    }

    fn collect(&self, all: usize, out: &mut Vec<usize>) {
        let mut add = |p: usize| {
            if !out.contains(&p) {
                out.push(p);
            }
        };
        match self {
            Requirement::Provider { provider, .. } => add(*provider),
            Requirement::ExtAuth(_) => {}
            Requirement::AllowMissing | Requirement::AllowMissingOrFailed => (0..all).for_each(add),
            Requirement::Any(list) | Requirement::All(list) => {
                list.iter().for_each(|r| r.collect(all, out))
            }
        }
    }
}

/// Evaluates requirements for one request, verifying each provider's token at most once.
pub struct Evaluation<'a> {
    providers: &'a [Provider],
    services: &'a [ExtAuthService],
    req: &'a Request<'a>,
    now_ms: u64,
    max_token_bytes: usize,
    state: &'a mut VmState,
    /// Auth service answers this request already received.
    answers: &'a [(usize, Rc<ExtAnswer>)],
    outcomes: Vec<Option<Outcome>>,
    /// Every (provider, token, location index) verified for this request, and its outcome:
    /// no token is verified twice by the same provider.
    checked: Vec<Checked<'a>>,
    /// What satisfied the requirement ([`Evaluation::satisfy_rule`]).
    used: Vec<Used>,
    /// Where the verified tokens were ([`Evaluation::account_for_rule`]).
    located: Vec<(usize, usize)>,
    /// Auth answers consulted (from `answers` or the decision cache), by service.
    ext: Vec<Option<Rc<ExtAnswer>>>,
    /// Services whose answer is needed and not known: ask them.
    pub ext_pending: Vec<usize>,
    /// Services answered from the decision cache.
    pub ext_cache_hits: Vec<usize>,
    /// (provider, token) to ask the introspection endpoint about: not known yet.
    pub intro_pending: Vec<(usize, String)>,
    /// Providers whose introspection answers came from the cache.
    pub intro_cache_hits: Vec<usize>,
}

/// A token a provider checked for this request: (provider, token, location index, outcome).
type Checked<'a> = (usize, Cow<'a, str>, usize, Outcome);

/// The lists an evaluation fills, kept in the VM between requests so that their capacity is
/// reused: a cached token's request allocates none of them.
#[derive(Debug, Default)]
pub struct Scratch {
    outcomes: Vec<Option<Outcome>>,
    /// Always empty between requests (its tokens borrow a request).
    checked: Vec<Checked<'static>>,
    used: Vec<Used>,
    located: Vec<(usize, usize)>,
}

/// `list`, emptied, as a list of the same items borrowing for another (longer) lifetime, to
/// be kept in the VM: the standard library collects `into_iter().filter_map(..)` into the
/// same allocation (the item layout is the same), so the capacity carries over without
/// `unsafe`. (The other way, a kept list lends itself to a request by covariance.)
// `filter` would keep the item type, and with it the request's lifetime.
#[allow(clippy::unnecessary_filter_map)]
fn recycle<'x>(mut list: Vec<Checked<'x>>) -> Vec<Checked<'static>> {
    list.clear();
    list.into_iter().filter_map(|_| None).collect()
}

impl Drop for Evaluation<'_> {
    fn drop(&mut self) {
        let scratch = &mut self.state.scratch;
        self.outcomes.clear();
        self.used.clear();
        self.located.clear();
        scratch.outcomes = std::mem::take(&mut self.outcomes);
        scratch.checked = recycle(std::mem::take(&mut self.checked));
        scratch.used = std::mem::take(&mut self.used);
        scratch.located = std::mem::take(&mut self.located);
    }
}

impl<'a> Evaluation<'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        providers: &'a [Provider],
        services: &'a [ExtAuthService],
        req: &'a Request<'a>,
        now_ms: u64,
        max_token_bytes: usize,
        state: &'a mut VmState,
        answers: &'a [(usize, Rc<ExtAnswer>)],
    ) -> Self {
        // The lists an evaluation fills are the VM's, kept between requests (their capacity
        // stays): given back, empty, when the evaluation ends.
        let mut outcomes = std::mem::take(&mut state.scratch.outcomes);
        outcomes.clear();
        outcomes.resize(providers.len(), None);
        let checked: Vec<Checked<'a>> = std::mem::take(&mut state.scratch.checked);
        let used = std::mem::take(&mut state.scratch.used);
        let located = std::mem::take(&mut state.scratch.located);
        Evaluation {
            providers,
            services,
            req,
            now_ms,
            max_token_bytes,
            state,
            answers,
            outcomes,
            checked,
            used,
            located,
            ext: vec![None; services.len()],
            ext_pending: Vec::new(),
            ext_cache_hits: Vec::new(),
            intro_pending: Vec::new(),
            intro_cache_hits: Vec::new(),
        }
    }

    /// The answer of service `index` for this request: already received, cached, or unknown.
    fn ext_answer(&mut self, index: usize) -> Option<Rc<ExtAnswer>> {
        if let Some(Some(known)) = self.ext.get(index) {
            return Some(Rc::clone(known));
        }
        let service = self.services.get(index)?;
        let answer = match self.answers.iter().find(|(i, _)| *i == index) {
            Some((_, answer)) => Some(Rc::clone(answer)),
            None => {
                let hit = service
                    .cache_key(index, self.req)
                    .and_then(|key| self.state.decisions.get(index, &key, self.now_ms));
                if hit.is_some() {
                    self.ext_cache_hits.push(index);
                }
                hit
            }
        };
        if let (Some(answer), Some(slot)) = (&answer, self.ext.get_mut(index)) {
            *slot = Some(Rc::clone(answer));
        }
        answer
    }

    /// The answer that refused the request, if an auth service did (its headers go to the
    /// client).
    pub fn ext_refusal(&self) -> Option<(usize, &ExtAnswer)> {
        self.ext
            .iter()
            .enumerate()
            .find_map(|(i, a)| match a.as_deref() {
                Some(answer @ (ExtAnswer::Denied(..) | ExtAnswer::Failed(_))) => Some((i, answer)),
                _ => None,
            })
    }

    /// The allowed answer of service `index`, once `satisfy` used it.
    pub fn ext_allowed(&self, index: usize) -> Option<&[(String, String)]> {
        match self.ext.get(index).and_then(|a| a.as_deref()) {
            Some(ExtAnswer::Allowed(headers)) => Some(headers),
            _ => None,
        }
    }

    /// [`Evaluation::satisfy`], kept in the evaluation ([`Evaluation::used`]): the list
    /// reuses the VM's capacity.
    pub fn satisfy_rule(&mut self, requirement: &Requirement) -> Result<(), Rejection> {
        let mut used = std::mem::take(&mut self.used);
        used.clear();
        let result = self.satisfy_into(requirement, &mut used);
        self.used = used;
        result
    }

    /// What satisfied the requirement, once [`Evaluation::satisfy_rule`] succeeded.
    pub fn used(&self) -> &[Used] {
        &self.used
    }

    /// The providers whose verified tokens satisfied `requirement` (their headers are
    /// forwarded), or why it failed.
    pub fn satisfy(&mut self, requirement: &Requirement) -> Result<Vec<Used>, Rejection> {
        let mut used = Vec::new();
        self.satisfy_into(requirement, &mut used)?;
        Ok(used)
    }

    /// [`Evaluation::satisfy`], appending to `out` (each entry once); on a failure `out` is
    /// as it was.
    fn satisfy_into(
        &mut self,
        requirement: &Requirement,
        out: &mut Vec<Used>,
    ) -> Result<(), Rejection> {
        let start = out.len();
        let result = self.satisfy_at(requirement, out, start);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    /// Adds `used` to `out[start..]` unless it is there.
    fn add_used(out: &mut Vec<Used>, start: usize, used: Used) {
        if !out.get(start..).unwrap_or(&[]).contains(&used) {
            out.push(used);
        }
    }

    fn satisfy_at(
        &mut self,
        requirement: &Requirement,
        out: &mut Vec<Used>,
        start: usize,
    ) -> Result<(), Rejection> {
        match requirement {
            Requirement::ExtAuth(index) => {
                let Some(answer) = self.ext_answer(*index) else {
                    if !self.ext_pending.contains(index) {
                        self.ext_pending.push(*index);
                    }
                    return Err(Rejection::ExtAuthPending);
                };
                let fail_open = self
                    .services
                    .get(*index)
                    .is_some_and(|s| s.failure_mode_allow);
                let used = Used::ExtAuth(*index);
                match answer.as_ref() {
                    ExtAnswer::Allowed(_) => {
                        Self::add_used(out, start, used);
                        Ok(())
                    }
                    ExtAnswer::Denied(403, _) => Err(Rejection::ExtAuthForbidden),
                    ExtAnswer::Denied(..) => Err(Rejection::ExtAuthUnauthorized),
                    // Envoy's failure_mode_allow: transport errors and 5xx only.
                    ExtAnswer::Failed(kind) if fail_open && kind.may_fail_open() => {
                        Self::add_used(out, start, used);
                        Ok(())
                    }
                    ExtAnswer::Failed(_) => Err(Rejection::ExtAuthError),
                }
            }
            Requirement::Provider {
                provider,
                audiences,
                claims,
            } => {
                self.accept(*provider, audiences.as_deref())?;
                if let Some(Outcome::Verified(v)) = self.outcome(*provider) {
                    check_all(claims, &v.claims)?;
                }
                Self::add_used(out, start, Used::Provider(*provider));
                Ok(())
            }
            Requirement::Any(alternatives) => {
                let mut failure = Rejection::MissingToken;
                for alternative in alternatives {
                    match self.satisfy_into(alternative, out) {
                        Ok(()) => return Ok(()),
                        Err(other) => failure = most_telling(failure, other),
                    }
                }
                Err(failure)
            }
            Requirement::All(parts) => {
                // Each part's own entries, appended where this list starts: one entry each.
                for part in parts {
                    let at = out.len();
                    self.satisfy_into(part, out)?;
                    let mut i = at;
                    while let Some(&used) = out.get(i) {
                        if out.get(start..i).unwrap_or(&[]).contains(&used) {
                            out.remove(i);
                        } else {
                            i += 1;
                        }
                    }
                }
                Ok(())
            }
            Requirement::AllowMissing | Requirement::AllowMissingOrFailed => {
                let lenient = matches!(requirement, Requirement::AllowMissingOrFailed);
                let mut accepted = false;
                let mut foreign = false;
                let mut failure = None;
                for provider in 0..self.providers.len() {
                    match self.accept(provider, None) {
                        Ok(()) => {
                            accepted = true;
                            Self::add_used(out, start, Used::Provider(provider));
                        }
                        Err(Rejection::MissingToken) => {}
                        // Another issuer's token: fine if some provider accepts it.
                        Err(Rejection::IssuerMismatch) => foreign = true,
                        Err(other) => {
                            failure.get_or_insert(other);
                        }
                    }
                }
                // No token: pass. Every token that is there must verify with its issuer's
                // provider, and a token no provider knows is refused (never "missing").
                match (failure, accepted, foreign) {
                    _ if lenient => Ok(()),
                    (Some(failure), _, _) => Err(failure),
                    (None, false, true) => Err(Rejection::IssuerMismatch),
                    (None, _, _) => Ok(()),
                }
            }
        }
    }
}

/// Of two alternatives' failures, the one that tells the client most: a token that was found and
/// failed beats "another issuer's token", which beats "no token". Ties keep the first.
fn most_telling(kept: Rejection, new: Rejection) -> Rejection {
    let rank = |r: Rejection| match r {
        Rejection::MissingToken => 0,
        Rejection::IssuerMismatch => 1,
        // A token that may verify once keys arrive, or an auth service not asked yet: wait
        // (or ask) rather than refuse.
        Rejection::KeysLoading | Rejection::ExtAuthPending | Rejection::IntrospectionPending => 3,
        _ => 2,
    };
    if rank(new) > rank(kept) {
        new
    } else {
        kept
    }
}

impl<'a> Evaluation<'a> {
    /// Whether `provider` verified a token with an accepted audience.
    fn accept(&mut self, provider: usize, audiences: Option<&[String]>) -> Result<(), Rejection> {
        // The configuration outlives the evaluation: borrowed from it, not copied per request.
        let providers: &'a [Provider] = self.providers;
        let policy_audiences = providers
            .get(provider)
            .map(|p| p.policy.audiences.as_slice())
            .unwrap_or_default();
        let mode = providers
            .get(provider)
            .map(|p| p.policy.audience_match)
            .unwrap_or_default();
        let audiences = audiences.unwrap_or(policy_audiences);
        match self.outcome(provider) {
            None | Some(Outcome::Missing) => Err(Rejection::MissingToken),
            Some(Outcome::Failed(rejection)) => Err(*rejection),
            Some(Outcome::Verified(v)) => {
                ClaimPolicy::check_audience(audiences, v.claims.get("aud"), mode)
            }
        }
    }

    /// What `provider` makes of the request: its first token that is not another issuer's
    /// (several locations may hold tokens, e.g. `Authorization` shared with another provider).
    fn outcome(&mut self, provider: usize) -> Option<&Outcome> {
        let providers = self.providers;
        let p = providers.get(provider)?;
        if self.outcomes.get(provider)?.is_none() {
            let mut outcome = Outcome::Missing;
            for found in extract::find_every(&p.sources, self.req) {
                outcome = self.check(provider, &found);
                if !matches!(outcome, Outcome::Failed(Rejection::IssuerMismatch)) {
                    break;
                }
            }
            if let Some(slot) = self.outcomes.get_mut(provider) {
                *slot = Some(outcome);
            }
        }
        self.outcomes.get(provider)?.as_ref()
    }

    /// `provider`'s verdict on one token it found (memoized for this request).
    fn check(&mut self, provider: usize, found: &Found<'a>) -> Outcome {
        if let Some((_, _, _, known)) = self
            .checked
            .iter()
            .find(|(p, t, i, _)| *p == provider && *i == found.index && *t == found.token)
        {
            return known.clone();
        }
        let providers: &'a [Provider] = self.providers;
        let Some(p) = providers.get(provider) else {
            return Outcome::Missing;
        };
        let mut outcome = if p.introspection.is_some() {
            self.introspected(provider, p, found)
        } else {
            let mut ctx = VerifyContext {
                now_ms: self.now_ms,
                max_token_bytes: self.max_token_bytes,
                cache: &mut self.state.tokens,
                remote: self.state.jwks.get(provider),
            };
            p.verify_found(provider, found, &mut ctx)
        };
        if let Outcome::Verified(verified) = &outcome {
            let now = self.now_ms / 1000;
            let replay = &mut self.state.dpop_replay;
            if let Err(rejection) =
                p.check_binding(provider, found, verified, self.req, now, replay)
            {
                outcome = Outcome::Failed(rejection);
            }
        }
        self.checked
            .push((provider, found.token.clone(), found.index, outcome.clone()));
        outcome
    }

    /// An introspection provider's verdict on a token: from the answer delivered to this
    /// request or the cache, else pending (the request asks, once per token).
    fn introspected(&mut self, provider: usize, p: &Provider, found: &Found<'_>) -> Outcome {
        if found.token.len() > self.max_token_bytes {
            return Outcome::Failed(Rejection::TokenTooLarge);
        }
        let key = super::introspection::token_key(provider, &found.token);
        match self.state.introspection.get(provider, &key, self.now_ms) {
            Some((known, hit)) => {
                if hit && !self.intro_cache_hits.contains(&provider) {
                    self.intro_cache_hits.push(provider);
                }
                p.check_introspected(&known, found.index, self.now_ms)
            }
            None => {
                if !self
                    .intro_pending
                    .iter()
                    .any(|(q, t)| *q == provider && *t == found.token)
                {
                    self.intro_pending.push((provider, found.token.to_string()));
                }
                Outcome::Failed(Rejection::IntrospectionPending)
            }
        }
    }

    /// Providers whose introspection failed or is still out (their `on_keys_unavailable`
    /// decides the status).
    pub fn introspection_failed(&self) -> Vec<usize> {
        let mut out: Vec<usize> = self
            .checked
            .iter()
            .filter(|(_, _, _, o)| {
                matches!(
                    o,
                    Outcome::Failed(
                        Rejection::IntrospectionPending | Rejection::IntrospectionError
                    )
                )
            })
            .map(|(p, _, _, _)| *p)
            .collect();
        crate::sorted::sort_dedup(&mut out);
        out
    }

    /// Envoy's rule: every token in every location that `providers` read must verify with one
    /// of them that finds it there (a forged cookie or `?access_token=` beside a valid
    /// `Authorization` must not ride along). Returns where the verified tokens were, as
    /// (provider, location index), or why not: `KeysLoading` when a token waits for keys,
    /// else `ExtraTokenInvalid`.
    pub fn account_for_tokens(
        &mut self,
        providers: &[usize],
    ) -> Result<Vec<(usize, usize)>, Rejection> {
        self.account_for_rule(providers)?;
        Ok(self.located.clone())
    }

    /// [`Evaluation::account_for_tokens`], kept in the evaluation ([`Evaluation::located`]):
    /// the list reuses the VM's capacity.
    pub fn account_for_rule(&mut self, providers: &[usize]) -> Result<(), Rejection> {
        let all = self.providers;
        let req = self.req;
        self.located.clear();
        for &p in providers {
            let Some(provider) = all.get(p) else { continue };
            for found in extract::find_every(&provider.sources, req) {
                let mut waiting = None;
                let mut accounted = None;
                // The provider that found it first, then any other that finds the same token.
                let candidates =
                    std::iter::once(p).chain(providers.iter().copied().filter(|&q| q != p));
                for q in candidates {
                    let Some(other) = all.get(q) else { continue };
                    if q == p {
                        self.account(q, &found, &mut accounted, &mut waiting);
                    } else {
                        let same = extract::find_every(&other.sources, req)
                            .filter(|f| f.token == found.token);
                        for f in same {
                            self.account(q, &f, &mut accounted, &mut waiting);
                            if accounted.is_some() {
                                break;
                            }
                        }
                    }
                    if accounted.is_some() {
                        break;
                    }
                }
                match accounted {
                    Some(at) if !self.located.contains(&at) => self.located.push(at),
                    Some(_) => {}
                    None => return Err(waiting.unwrap_or(Rejection::ExtraTokenInvalid)),
                }
            }
        }
        Ok(())
    }

    /// Where the verified tokens were, as (provider, location index), once
    /// [`Evaluation::account_for_rule`] succeeded.
    pub fn located(&self) -> &[(usize, usize)] {
        &self.located
    }

    /// Provider `q`'s verdict on `found` for [`Evaluation::account_for_rule`]: where it
    /// verified, or that it waits.
    fn account(
        &mut self,
        q: usize,
        found: &Found<'a>,
        accounted: &mut Option<(usize, usize)>,
        waiting: &mut Option<Rejection>,
    ) {
        match self.check(q, found) {
            Outcome::Verified(_) => *accounted = Some((q, found.index)),
            Outcome::Failed(r @ (Rejection::KeysLoading | Rejection::IntrospectionPending)) => {
                *waiting = Some(r)
            }
            _ => {}
        }
    }

    /// Providers whose tokens wait for a key fetch (cold start or a new `kid`).
    pub fn waiting_for_keys(&self) -> Vec<usize> {
        let mut waiting: Vec<usize> = self
            .checked
            .iter()
            .filter(|(_, _, _, o)| matches!(o, Outcome::Failed(Rejection::KeysLoading)))
            .map(|(p, _, _, _)| *p)
            .collect();
        crate::sorted::sort_dedup(&mut waiting);
        waiting
    }

    /// Providers that met a token and had no keys to verify it with (`remote_jwks` loading or
    /// unavailable): whose `on_keys_unavailable` decides the status of a refusal.
    pub fn without_keys(&self) -> Vec<usize> {
        let mut out: Vec<usize> = self
            .checked
            .iter()
            .filter(|(_, _, _, o)| {
                matches!(
                    o,
                    Outcome::Failed(Rejection::KeysLoading | Rejection::KeysUnavailable)
                )
            })
            .map(|(p, _, _, _)| *p)
            .collect();
        crate::sorted::sort_dedup(&mut out);
        out
    }

    /// The verified outcome of `provider`, once `satisfy` used it.
    pub fn verified(&self, provider: usize) -> Option<&Rc<super::provider::Verified>> {
        match self.outcomes.get(provider) {
            Some(Some(Outcome::Verified(v))) => Some(v),
            _ => None,
        }
    }
}
