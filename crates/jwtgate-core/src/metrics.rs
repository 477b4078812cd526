//! The counters a request increments, numbered once per configuration: the host defines them
//! when the configuration loads ([`HostPort::define_counters`](super::port::HostPort)) and a
//! request increments by number, with no name built or looked up. Names are
//! `<stat_prefix>.allowed`, `.denied`, `.denied.<reason>`, `.dry_run.would_deny[.<reason>]`,
//! `.cors_bypassed`, `.paused_for_keys`, `.allowed_unverified` and
//! `.ext_auth.<service>.cache_hits`, `.introspection.<provider>.cache_hits`: the names
//! [`Verdict::metrics`] lists, in the same order.

use super::gateway::{Decision, Gateway, Verdict};
use super::rejection::Rejection;

const ALLOWED: usize = 0;
const DENIED: usize = 1;
const WOULD_DENY: usize = 2;
const CORS_BYPASSED: usize = 3;
const PAUSED_FOR_KEYS: usize = 4;
const ALLOWED_UNVERIFIED: usize = 5;
/// `denied.<reason>` from here, then `dry_run.would_deny.<reason>`, then the services.
const BY_REASON: usize = 6;
const REASONS: usize = Rejection::ALL.len();

/// Every per-request counter of one configuration, by number.
#[derive(Debug, Clone)]
pub struct Counters {
    names: Vec<String>,
    /// Auth service names, in configuration order (their `cache_hits` counters).
    services: Vec<String>,
    /// Introspection provider names, in configuration order (their `cache_hits` counters,
    /// after the services').
    introspection: Vec<String>,
}

impl Counters {
    pub fn new(gateway: &Gateway) -> Counters {
        let prefix = gateway.stat_prefix();
        let mut names: Vec<String> = [
            "allowed",
            "denied",
            "dry_run.would_deny",
            "cors_bypassed",
            "paused_for_keys",
            "allowed_unverified",
        ]
        .iter()
        .map(|n| format!("{prefix}.{n}"))
        .collect();
        for what in ["denied", "dry_run.would_deny"] {
            names.extend(
                Rejection::ALL
                    .iter()
                    .map(|r| format!("{prefix}.{what}.{}", r.name())),
            );
        }
        let services: Vec<String> = gateway
            .ext_services()
            .iter()
            .map(|s| s.name.clone())
            .collect();
        names.extend(
            services
                .iter()
                .map(|s| format!("{prefix}.ext_auth.{s}.cache_hits")),
        );
        let introspection: Vec<String> = gateway
            .introspection_providers()
            .map(|(_, name, _)| name.to_string())
            .collect();
        names.extend(
            introspection
                .iter()
                .map(|p| format!("{prefix}.introspection.{p}.cache_hits")),
        );
        Counters {
            names,
            services,
            introspection,
        }
    }

    /// Full names, by number.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Calls `count(number, full name)` for each counter `verdict` increments.
    pub fn of_verdict(&self, verdict: &Verdict, mut count: impl FnMut(usize, &str)) {
        let mut by = |id: usize| {
            if let Some(name) = self.names.get(id) {
                count(id, name);
            }
        };
        if let Decision::WaitForKeys(_) = verdict.decision {
            return by(PAUSED_FOR_KEYS);
        }
        for hit in &verdict.ext_cache_hits {
            if let Some(i) = self.services.iter().position(|s| s == hit) {
                by(BY_REASON + 2 * REASONS + i);
            }
        }
        for hit in &verdict.introspection_cache_hits {
            if let Some(i) = self.introspection.iter().position(|p| p == hit) {
                by(BY_REASON + 2 * REASONS + self.services.len() + i);
            }
        }
        if let Decision::AskExtAuth { .. } | Decision::Introspect { .. } = verdict.decision {
            return;
        }
        let reason = |r: Rejection| Rejection::ALL.iter().position(|x| *x == r);
        match (verdict.rejection, verdict.dry_run) {
            (Some(_), false) if verdict.unverified => {
                by(ALLOWED);
                by(ALLOWED_UNVERIFIED);
            }
            (Some(r), false) => {
                by(DENIED);
                if let Some(i) = reason(r) {
                    by(BY_REASON + i);
                }
            }
            (Some(r), true) => {
                by(ALLOWED);
                by(WOULD_DENY);
                if let Some(i) = reason(r) {
                    by(BY_REASON + REASONS + i);
                }
            }
            (None, _) if verdict.cors_bypassed => {
                by(ALLOWED);
                by(CORS_BYPASSED);
            }
            (None, _) => by(ALLOWED),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LocalResponse;

    fn verdict(decision: Decision, rejection: Option<Rejection>, dry_run: bool) -> Verdict {
        Verdict {
            decision,
            rejection,
            rule: Some(0),
            providers: Vec::new(),
            dry_run,
            cors_bypassed: false,
            unverified: false,
            ext_cache_hits: vec!["authz".into()],
            introspection_cache_hits: vec!["opaque".into()],
            verified: Vec::new(),
        }
    }

    /// The numbered counters name exactly what `Verdict::metrics` lists, for every kind of
    /// verdict and every reason.
    #[test]
    fn numbered_counters_are_the_verdicts_metric_names() {
        let gateway = Gateway::from_json(
            br#"{"stat_prefix": "gw", "providers": {"opaque": {"introspection": {
                    "http_uri": {"uri": "http://127.0.0.1:9/introspect"},
                    "client_id": "gate", "client_secret": "s"}}},
                 "ext_auth": {"authz": {"http_uri": {"uri": "http://auth.test/check"}}},
                 "rules": [{"match": {"prefix": "/"}, "requires": {"ext_auth": "authz"}}]}"#,
        );
        let gateway = match gateway {
            Ok(g) => g,
            Err(e) => panic!("{e}"),
        };
        let counters = Counters::new(&gateway);
        let mut verdicts = vec![
            verdict(Decision::WaitForKeys(vec![0]), None, false),
            verdict(
                Decision::AskExtAuth {
                    service: 0,
                    headers: Vec::new(),
                },
                None,
                false,
            ),
            verdict(
                Decision::Introspect {
                    provider: 0,
                    token: crate::introspection::Secret("t".into()),
                },
                None,
                false,
            ),
            verdict(Decision::Forward(Vec::new()), None, false),
        ];
        let mut cors = verdict(Decision::Forward(Vec::new()), None, false);
        cors.cors_bypassed = true;
        verdicts.push(cors);
        for r in Rejection::ALL {
            let response = LocalResponse::for_rejection(r, "x");
            verdicts.push(verdict(Decision::Respond(response), Some(r), false));
            verdicts.push(verdict(Decision::Forward(Vec::new()), Some(r), true));
            let mut unverified = verdict(Decision::Forward(Vec::new()), Some(r), false);
            unverified.unverified = true;
            verdicts.push(unverified);
        }
        for v in &verdicts {
            let mut got = Vec::new();
            counters.of_verdict(v, |id, name| {
                assert_eq!(counters.names().get(id).map(String::as_str), Some(name));
                got.push(name.to_string());
            });
            let want: Vec<String> = v.metrics().iter().map(|n| format!("gw.{n}")).collect();
            assert_eq!(got, want, "{v:?}");
        }
    }
}
