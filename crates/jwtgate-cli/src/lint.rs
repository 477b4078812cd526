//! `jwtgate check`'s coverage warnings: a valid configuration that protects nothing, or leaves
//! paths unprotected (no catch-all rule, an open rule placed before protected ones).

use jwtgate_core::gateway::Rule;
use jwtgate_core::matcher::{PathMatch, RouteMatch};
use jwtgate_core::Gateway;

/// Paths a regex must match to count as matching every path (regexes are not compared).
const PROBES: [&str; 5] = ["/", "/x", "/a/b/c", "/.well-known/jwks.json", "/%/Z~-_.!"];

/// Warnings about what `gateway` leaves unchecked, each a sentence naming the rule(s).
pub fn coverage(gateway: &Gateway) -> Vec<String> {
    let rules = gateway.rules();
    let has_providers = gateway.provider_name(0).is_some();
    let has_services = gateway.ext_auth_name(0).is_some();
    let mut out = Vec::new();
    if rules.is_empty() {
        out.push(if has_providers || has_services {
            "no `rules`: providers and auth services are only used by rules, so every request passes unchecked".to_string()
        } else {
            "the configuration protects nothing (no `providers`, no `rules`): every request passes unchecked".to_string()
        });
        return out;
    }
    if !has_providers && !has_services {
        out.push(
            "no `providers` (and no `ext_auth`): no token is ever verified, no rule can protect anything"
                .into(),
        );
    }
    if rules.iter().all(is_open) {
        out.push("no rule has `requires`: every request passes unchecked".into());
        return out;
    }
    if !rules.iter().any(|r| matches_everything(&r.route)) {
        let listed: Vec<String> = rules.iter().map(|r| describe(&r.route)).collect();
        out.push(format!(
            "no rule matches `/`: requests outside the listed rules ({}) pass unchecked; end the list with {{\"match\": {{\"prefix\": \"/\"}}, \"requires\": …}} (or without `requires` to leave the rest open on purpose)",
            listed.join(", ")
        ));
    }
    for (j, later) in rules.iter().enumerate() {
        if is_open(later) {
            continue;
        }
        if let Some((i, earlier)) = rules
            .iter()
            .take(j)
            .enumerate()
            .find(|(_, earlier)| is_open(earlier) && covers(&earlier.route, &later.route))
        {
            out.push(format!(
                "rules[{i}] ({}, open) comes first and matches every request rules[{j}] ({}) would: rules[{j}] never applies and its requests pass unchecked; move it before rules[{i}]",
                describe(&earlier.route),
                describe(&later.route)
            ));
        }
    }
    out
}

/// No requirement, or one that passes whatever the request carries.
fn is_open(rule: &Rule) -> bool {
    rule.requires.as_ref().is_none_or(|r| r.is_lenient())
}

fn describe(route: &RouteMatch) -> String {
    let mut text = match &route.path {
        PathMatch::Prefix(p) => format!("prefix {p:?}"),
        PathMatch::Exact(p) => format!("path {p:?}"),
        PathMatch::Regex(re) => format!("safe_regex {:?}", strip_anchors(re.as_str())),
    };
    if !route.methods.is_empty() {
        text.push_str(&format!(" {}", route.methods.join("/")));
    }
    if !route.headers.is_empty() {
        text.push_str(" with header conditions");
    }
    text
}

/// The configured regex without the `^(?:…)$` the parser wraps it in.
fn strip_anchors(re: &str) -> &str {
    re.strip_prefix("^(?:")
        .and_then(|r| r.strip_suffix(")$"))
        .unwrap_or(re)
}

fn path_matches_everything(path: &PathMatch) -> bool {
    match path {
        PathMatch::Prefix(p) => p == "/",
        PathMatch::Exact(_) => false,
        PathMatch::Regex(re) => PROBES.iter().all(|p| re.is_match(p)),
    }
}

fn matches_everything(route: &RouteMatch) -> bool {
    route.methods.is_empty() && route.headers.is_empty() && path_matches_everything(&route.path)
}

/// Whether every request `later` matches is matched by `earlier` too.
fn covers(earlier: &RouteMatch, later: &RouteMatch) -> bool {
    let methods = earlier.methods.is_empty()
        || (!later.methods.is_empty() && later.methods.iter().all(|m| earlier.methods.contains(m)));
    let headers = earlier.headers.iter().all(|h| later.headers.contains(h));
    let path = path_matches_everything(&earlier.path)
        || match (&earlier.path, &later.path) {
            (PathMatch::Prefix(a), PathMatch::Prefix(b) | PathMatch::Exact(b)) => {
                b.starts_with(a.as_str())
            }
            (PathMatch::Exact(a), PathMatch::Exact(b)) => a == b,
            _ => false,
        };
    methods && headers && path
}
