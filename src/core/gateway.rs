//! The decision for one request: which rule applies, which provider's token is required, and
//! either the local response or the header changes to forward with.

use super::claims::{header_text, lookup, ClaimPolicy};
use super::extract::{self, Source};
use super::keys::Key;
use super::matcher::{normalize_path, PathMatch};
use super::rejection::{LocalResponse, Rejection};
use super::request::{HeaderOp, Request};
use super::token::UntrustedToken;

/// A validated configuration, ready to decide requests. Built by [`Gateway::from_json`].
#[derive(Debug)]
pub struct Gateway {
    pub(super) providers: Vec<Provider>,
    pub(super) rules: Vec<Rule>,
    pub(super) realm: String,
    pub(super) max_token_bytes: usize,
    /// Every header a provider may set: removed from every request before anything else.
    pub(super) managed_headers: Vec<String>,
}

/// One JWT issuer: its keys, where its tokens are, what its claims must satisfy, and what is
/// forwarded upstream.
#[derive(Debug)]
pub struct Provider {
    pub name: String,
    pub policy: ClaimPolicy,
    pub keys: Vec<Key>,
    pub sources: Vec<Source>,
    pub forward: bool,
    pub forward_payload_header: Option<String>,
    pub pad_forward_payload_header: bool,
    /// (header name, claim name or dotted path)
    pub claim_to_headers: Vec<(String, String)>,
}

#[derive(Debug)]
pub struct Rule {
    pub path: PathMatch,
    /// Index into `providers`; `None`: the route is open.
    pub requires: Option<usize>,
}

/// What the host must do with the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Apply these changes, then let the request continue.
    Forward(Vec<HeaderOp>),
    /// Answer locally; the request goes no further.
    Respond(LocalResponse),
}

/// A decision with the facts behind it, for the log line (and, later, metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub decision: Decision,
    pub rejection: Option<Rejection>,
    pub rule: Option<usize>,
    pub provider: Option<String>,
}

impl Verdict {
    /// One log line: never the token, never the query string (it may carry the token).
    pub fn log_line(&self, method: &str, path: &str) -> String {
        let path = path.split('?').next().unwrap_or("");
        let rule = self.rule.map_or("none".to_string(), |r| r.to_string());
        let provider = self.provider.as_deref().unwrap_or("-");
        match self.rejection {
            Some(r) => format!(
                "jwtgate: deny status={} reason={} rule={rule} provider={provider} method={method} path={path}",
                r.status(),
                r.name()
            ),
            None => format!("jwtgate: allow rule={rule} provider={provider} method={method} path={path}"),
        }
    }
}

impl Gateway {
    /// The realm sent in `WWW-Authenticate`.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// Decides `req` at host time `now` (unix seconds).
    pub fn decide(&self, req: &Request<'_>, now: u64) -> Verdict {
        // Anti-spoofing comes first and applies to every request, open routes included.
        let mut ops: Vec<HeaderOp> = self
            .managed_headers
            .iter()
            .filter(|h| req.has_header(h))
            .map(|h| HeaderOp::Remove(h.clone()))
            .collect();

        let normalized = normalize_path(req.path);
        let Some((rule_index, rule)) = self
            .rules
            .iter()
            .enumerate()
            .find(|(_, r)| r.path.matches(&normalized))
        else {
            return forward(ops, None, None);
        };
        let Some(provider) = rule.requires.and_then(|i| self.providers.get(i)) else {
            return forward(ops, Some(rule_index), None);
        };

        match self.authenticate(provider, req, now, &mut ops) {
            Ok(()) => forward(ops, Some(rule_index), Some(provider.name.clone())),
            Err(rejection) => Verdict {
                decision: Decision::Respond(LocalResponse::for_rejection(rejection, &self.realm)),
                rejection: Some(rejection),
                rule: Some(rule_index),
                provider: Some(provider.name.clone()),
            },
        }
    }

    /// Finds and verifies `provider`'s token; on success appends the forwarding changes.
    fn authenticate(
        &self,
        provider: &Provider,
        req: &Request<'_>,
        now: u64,
        ops: &mut Vec<HeaderOp>,
    ) -> Result<(), Rejection> {
        let found = extract::find(&provider.sources, req).ok_or(Rejection::MissingToken)?;
        let token = UntrustedToken::parse(&found.token, self.max_token_bytes)?;
        verify_signature(provider, &token)?;
        let claims = token.claims()?;
        provider.policy.check(&claims, now)?;

        if !provider.forward {
            ops.extend(extract::removal(&found, req));
        }
        if let Some(header) = &provider.forward_payload_header {
            let mut payload = token.payload_b64.to_string();
            if provider.pad_forward_payload_header {
                while payload.len() % 4 != 0 {
                    payload.push('=');
                }
            }
            ops.push(HeaderOp::Set(header.clone(), payload));
        }
        for (header, claim) in &provider.claim_to_headers {
            if let Some(text) = lookup(&claims, claim).and_then(header_text) {
                ops.push(HeaderOp::Set(header.clone(), text));
            }
        }
        Ok(())
    }
}

fn forward(ops: Vec<HeaderOp>, rule: Option<usize>, provider: Option<String>) -> Verdict {
    Verdict {
        decision: Decision::Forward(ops),
        rejection: None,
        rule,
        provider,
    }
}

/// Tries the keys that may verify this token: the same `kid` (or keys without one) that allow
/// the token's `alg`. `kid` is only ever an exact lookup key.
fn verify_signature(provider: &Provider, token: &UntrustedToken<'_>) -> Result<(), Rejection> {
    let mut candidates = provider
        .keys
        .iter()
        .filter(|key| match (&token.kid, &key.kid) {
            (Some(want), Some(have)) => want == have,
            _ => true,
        })
        .filter(|key| key.allows(token.alg))
        .peekable();
    if candidates.peek().is_none() {
        return Err(Rejection::KeyNotFound);
    }
    let input = token.signing_input.as_bytes();
    if candidates.any(|key| key.verify(token.alg, input, &token.signature)) {
        Ok(())
    } else {
        Err(Rejection::InvalidSignature)
    }
}
