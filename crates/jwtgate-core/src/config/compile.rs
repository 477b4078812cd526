//! Raw configuration → validated [`Gateway`]: every value checked, every cross-reference
//! resolved, every error naming its field path.

use serde_json::Value;

use super::read::member;
use crate::algorithm::Alg;
use crate::authorize::{ClaimOp, Condition};
use crate::claims::{AudienceMatch, ClaimPolicy};
use crate::dpop::DpopPolicy;
use crate::ext_auth::{CachePolicy, ExtAuthService};
use crate::extract::Source;
use crate::failure::{FailurePolicy, Redirect};
use crate::gateway::{Gateway, Rule};
use crate::http_uri::HttpUri;
use crate::keys::{Key, SecretEncoding};
use crate::matcher::{HeaderMatch, HeaderMatchKind, PathMatch, RouteMatch};
use crate::mtls::{CertificateSource, MtlsPolicy};
use crate::profile::{StringMatcher, TokenProfile};
use crate::provider::Provider;
use crate::rejection::Rejection;
use crate::remote_jwks::{Discovery, RemoteJwks};
use crate::requirement::Requirement;
use crate::strict_json;
use crate::token::DEFAULT_MAX_TOKEN_BYTES;

use super::raw::*;
use super::{err, ConfigError};

/// Envoy's default `clock_skew_seconds`.
const DEFAULT_CLOCK_SKEW_SECONDS: u64 = 60;
/// Largest accepted `max_token_bytes`: keeps hostile headers cheap.
const MAX_TOKEN_BYTES_LIMIT: usize = 64 * 1024;
/// Largest `token_cache.max_entries` and ext_auth `cache.max_entries`.
const MAX_CACHE_ENTRIES: usize = 65_536;
/// Largest `token_cache.max_bytes` (64 MiB).
const MAX_CACHE_BYTES: usize = 64 * 1024 * 1024;
/// Longest ext_auth `cache.allow_ttl` / `cache.deny_ttl` (one day).
const MAX_CACHE_TTL_MS: u64 = 86_400_000;
/// Most `remote_jwks.request_headers`.
const MAX_FETCH_HEADERS: usize = 16;
/// Deepest requirement tree accepted (`requires_any` / `requires_all` nesting).
const MAX_REQUIREMENT_DEPTH: usize = 8;

pub(super) fn compile(raw: RawConfig) -> Result<Gateway, ConfigError> {
    let realm = raw.realm.unwrap_or_else(|| "jwtgate".into());
    if realm.is_empty()
        || realm
            .bytes()
            .any(|b| b == b'"' || b == b'\\' || b < 0x20 || b == 0x7f)
    {
        return Err(err(
            "realm",
            "must be non-empty printable text without quotes or backslashes",
        ));
    }
    let max_token_bytes = raw.max_token_bytes.unwrap_or(DEFAULT_MAX_TOKEN_BYTES);
    if !(64..=MAX_TOKEN_BYTES_LIMIT).contains(&max_token_bytes) {
        return Err(err(
            "max_token_bytes",
            format!("must be between 64 and {MAX_TOKEN_BYTES_LIMIT}"),
        ));
    }

    let mut providers = Vec::with_capacity(raw.providers.len());
    let mut local_jwks_warnings = Vec::new();
    for (name, p) in raw.providers {
        let at = format!("providers.{name}");
        providers.push(compile_provider(&at, name, p, &mut local_jwks_warnings)?);
    }

    let mut managed_headers: Vec<String> = providers
        .iter()
        .flat_map(|p| {
            p.claim_to_headers
                .iter()
                .map(|(header, _)| header.clone())
                .chain(p.forward_payload_header.clone())
        })
        .collect();
    if providers.iter().any(|p| p.allow_unverified) {
        managed_headers.push(crate::gateway::UNVERIFIED_HEADER.to_string());
    }
    crate::sorted::sort_dedup(&mut managed_headers);
    for p in &providers {
        for source in &p.sources {
            if let Source::Header { name, .. } = source {
                if managed_headers
                    .iter()
                    .any(|m| crate::gateway::same_variable(m, name))
                {
                    return Err(err(
                        format!("providers.{}.from_headers", p.name),
                        format!("header `{name}` is also set by claim_to_headers or forward_payload_header"),
                    ));
                }
            }
        }
    }

    let mut ext_services = Vec::with_capacity(raw.ext_auth.len());
    for (name, e) in raw.ext_auth {
        ext_services.push(ext_auth_service(&format!("ext_auth.{name}"), name, e)?);
    }
    for service in &ext_services {
        managed_headers.extend(service.allowed_upstream_headers.iter().cloned());
    }
    crate::sorted::sort_dedup(&mut managed_headers);

    let stat_prefix = raw.stat_prefix.unwrap_or_else(|| "jwtgate".into());
    if stat_prefix.is_empty()
        || !stat_prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Err(err("stat_prefix", "use letters, digits, `.`, `_` and `-`"));
    }
    let global_failure = match raw.failure_response {
        Some(f) => failure_policy("failure_response", f, raw.strip_failure_response)?,
        None => FailurePolicy {
            strip: raw.strip_failure_response,
            ..FailurePolicy::default()
        },
    };

    let mut rules = Vec::with_capacity(raw.rules.len());
    for (i, r) in raw.rules.into_iter().enumerate() {
        let at = format!("rules[{i}]");
        let route = route_match(&member(&at, "match"), r.route)?;
        let requires = r
            .requires
            .map(|req| requirement(&member(&at, "requires"), req, &providers, &ext_services, 0))
            .transpose()?;
        let failure = match r.failure_response {
            Some(f) => failure_policy(
                &member(&at, "failure_response"),
                f,
                raw.strip_failure_response,
            )?,
            None => global_failure.clone(),
        };
        rules.push(Rule {
            route,
            consulted: requires
                .as_ref()
                .map_or_else(Vec::new, |r| r.providers(providers.len())),
            requires,
            failure,
            dry_run: r.dry_run.unwrap_or(raw.dry_run),
        });
    }

    let token_cache = (
        raw.token_cache
            .as_ref()
            .and_then(|c| c.max_entries)
            .unwrap_or(crate::cache::DEFAULT_MAX_ENTRIES),
        raw.token_cache
            .as_ref()
            .and_then(|c| c.max_bytes)
            .unwrap_or(crate::cache::DEFAULT_MAX_BYTES),
    );
    if token_cache.0 > MAX_CACHE_ENTRIES {
        return Err(err(
            "token_cache.max_entries",
            format!("must be at most {MAX_CACHE_ENTRIES} (0 turns the cache off)"),
        ));
    }
    if token_cache.1 > MAX_CACHE_BYTES {
        return Err(err(
            "token_cache.max_bytes",
            format!("must be at most {MAX_CACHE_BYTES} (64 MiB)"),
        ));
    }

    let jwks_unavailable_status = match raw.jwks_unavailable_status {
        None => 401,
        Some(status @ (401 | 503)) => status,
        Some(_) => return Err(err("jwks_unavailable_status", "must be 401 or 503")),
    };

    let wake_other_requests = raw.wake_other_requests.unwrap_or(true);
    let retry_while_keys_load =
        match (raw.on_keys_loading.as_deref(), wake_other_requests) {
            (None, wake) => !wake,
            (Some("retry_after"), _) => true,
            (Some("pause"), true) => false,
            (Some("pause"), false) => return Err(err(
                "on_keys_loading",
                "\"pause\" needs a host that can wake other requests (wake_other_requests: false)",
            )),
            (Some(_), _) => {
                return Err(err(
                    "on_keys_loading",
                    "must be \"pause\" or \"retry_after\"",
                ))
            }
        };
    let mut warnings: Vec<String> = local_jwks_warnings
        .into_iter()
        .chain(
            providers
                .iter()
                .filter_map(|p| p.remote.as_ref())
                .flat_map(|r| r.warnings.iter().cloned()),
        )
        .collect();
    for p in &providers {
        let at = format!("providers.{}.mtls_binding.certificate_from", p.name);
        match p.mtls.as_ref().map(|m| &m.source) {
            Some(CertificateSource::Header(name)) => warnings.push(format!(
                "{at}: `{name}` is trusted as the proxy in front sets it; that proxy must replace any copy a client sends (Envoy: forward_client_cert_details: SANITIZE_SET), or a client can claim any certificate"
            )),
            Some(CertificateSource::Connection) => warnings.push(format!(
                "{at}: `connection` needs a host that reports the client certificate (Envoy: connection.sha256_peer_certificate_digest); NGINX does not, and bound tokens are refused there (mtls_certificate_missing)"
            )),
            None => {}
        }
    }

    Ok(Gateway {
        warnings,
        reject_managed_headers: raw.client_managed_headers == Some(RawClientManagedHeaders::Reject),
        failure: global_failure,
        dry_run: raw.dry_run,
        path_policy: raw.path_policy,
        ext_services,
        jwks_unavailable_status,
        share_jwks: raw.share_jwks,
        retry_while_keys_load,
        wake_other_requests,
        providers,
        rules,
        realm,
        max_token_bytes,
        managed_headers,
        bypass_cors_preflight: raw.bypass_cors_preflight,
        stat_prefix,
        token_cache,
    })
}

fn route_match(at: &str, m: RawMatch) -> Result<RouteMatch, ConfigError> {
    let path = match (m.prefix, m.path, m.safe_regex) {
        (Some(prefix), None, None) => {
            PathMatch::Prefix(check_route_path(&member(at, "prefix"), prefix)?)
        }
        (None, Some(path), None) => PathMatch::Exact(check_route_path(&member(at, "path"), path)?),
        (None, None, Some(re)) => PathMatch::Regex(
            // Envoy's safe_regex must match the whole path.
            regex_lite::Regex::new(&format!("^(?:{})$", re.regex)).map_err(|e| {
                err(
                    member(at, "safe_regex.regex"),
                    format!("invalid regex: {e}"),
                )
            })?,
        ),
        _ => {
            return Err(err(
                at,
                "set exactly one of `prefix`, `path` or `safe_regex`",
            ))
        }
    };
    let mut methods = Vec::with_capacity(m.methods.len());
    for (i, method) in m.methods.into_iter().enumerate() {
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(err(
                format!("{at}.methods[{i}]"),
                "methods are upper-case, like GET",
            ));
        }
        methods.push(method);
    }
    let mut headers = Vec::with_capacity(m.headers.len());
    for (i, h) in m.headers.into_iter().enumerate() {
        let hat = format!("{at}.headers[{i}]");
        let kind = match (h.present_match, h.exact_match) {
            (Some(p), None) => HeaderMatchKind::Present(p),
            (None, Some(v)) => HeaderMatchKind::Exact(v),
            (None, None) => HeaderMatchKind::Present(true),
            _ => return Err(err(hat, "set one of `present_match` or `exact_match`")),
        };
        headers.push(HeaderMatch {
            name: header_name(&format!("{hat}.name"), &h.name)?,
            kind,
            invert: h.invert_match,
        });
    }
    Ok(RouteMatch {
        path,
        methods,
        headers,
    })
}

fn requirement(
    at: &str,
    r: RawRequirement,
    providers: &[Provider],
    services: &[ExtAuthService],
    depth: usize,
) -> Result<Requirement, ConfigError> {
    if depth > MAX_REQUIREMENT_DEPTH {
        return Err(err(
            at,
            format!("nested deeper than {MAX_REQUIREMENT_DEPTH} levels"),
        ));
    }
    let provider_index = |field: &str, name: &str| {
        providers
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| {
                err(
                    format!("{at}.{field}"),
                    format!("no provider named `{name}`"),
                )
            })
    };
    let list = |field: &str, list: RawRequirementList| -> Result<Vec<Requirement>, ConfigError> {
        if list.requirements.is_empty() {
            return Err(err(
                format!("{at}.{field}.requirements"),
                "must not be empty",
            ));
        }
        list.requirements
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                requirement(
                    &format!("{at}.{field}.requirements[{i}]"),
                    r,
                    providers,
                    services,
                    depth + 1,
                )
            })
            .collect()
    };
    let set = [
        r.provider_name.is_some(),
        r.provider_and_audiences.is_some(),
        r.requires_any.is_some(),
        r.requires_all.is_some(),
        r.allow_missing.is_some(),
        r.allow_missing_or_failed.is_some(),
        r.ext_auth.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if set != 1 {
        return Err(err(
            at,
            "set exactly one of `provider_name`, `provider_and_audiences`, `requires_any`, `requires_all`, `allow_missing`, `allow_missing_or_failed`, `ext_auth`",
        ));
    }
    let takes_claims = r.provider_name.is_some() || r.provider_and_audiences.is_some();
    if !takes_claims && !r.claims.is_empty() {
        return Err(err(
            member(at, "claims"),
            "only applies with `provider_name` or `provider_and_audiences`",
        ));
    }
    let mut claims = Vec::with_capacity(r.claims.len());
    for (i, c) in r.claims.into_iter().enumerate() {
        claims.push(condition(&format!("{at}.claims[{i}]"), c)?);
    }
    Ok(if let Some(name) = r.provider_name {
        Requirement::Provider {
            provider: provider_index("provider_name", &name)?,
            audiences: None,
            claims,
        }
    } else if let Some(pa) = r.provider_and_audiences {
        Requirement::Provider {
            provider: provider_index("provider_and_audiences.provider_name", &pa.provider_name)?,
            audiences: Some(pa.audiences),
            claims,
        }
    } else if let Some(any) = r.requires_any {
        Requirement::Any(list("requires_any", any)?)
    } else if let Some(all) = r.requires_all {
        Requirement::All(list("requires_all", all)?)
    } else if r.allow_missing.is_some() {
        Requirement::AllowMissing
    } else if let Some(name) = r.ext_auth {
        Requirement::ExtAuth(
            services
                .iter()
                .position(|s| s.name == name)
                .ok_or_else(|| {
                    err(
                        member(at, "ext_auth"),
                        format!("no ext_auth service named `{name}`"),
                    )
                })?,
        )
    } else {
        Requirement::AllowMissingOrFailed
    })
}

fn condition(at: &str, c: RawCondition) -> Result<Condition, ConfigError> {
    crate::claims::check_claim_name(&c.claim).map_err(|e| err(member(at, "claim"), e))?;
    let mut ops = Vec::new();
    ops.extend(c.equals.map(ClaimOp::Equals));
    ops.extend(c.one_of.map(ClaimOp::OneOf));
    ops.extend(c.contains.map(ClaimOp::Contains));
    ops.extend(c.all_of.map(ClaimOp::AllOf));
    ops.extend(c.present.map(ClaimOp::Present));
    ops.extend(c.gt.map(ClaimOp::Gt));
    ops.extend(c.gte.map(ClaimOp::Gte));
    ops.extend(c.lt.map(ClaimOp::Lt));
    ops.extend(c.lte.map(ClaimOp::Lte));
    let (Some(op), 1) = (ops.pop(), ops.len() + 1) else {
        return Err(err(
            at,
            "set exactly one of `equals`, `one_of`, `contains`, `all_of`, `present`, `gt`, `gte`, `lt`, `lte`",
        ));
    };
    let rejection = match c.status {
        None | Some(403) => Rejection::ClaimsForbidden,
        Some(401) => Rejection::ClaimsRejected,
        Some(_) => return Err(err(member(at, "status"), "must be 401 or 403")),
    };
    Ok(Condition {
        claim: c.claim,
        op,
        rejection,
    })
}

fn failure_policy(
    at: &str,
    f: RawFailureResponse,
    strip: bool,
) -> Result<FailurePolicy, ConfigError> {
    if let Some(status) = f.status {
        if !(400..=599).contains(&status) {
            return Err(err(member(at, "status"), "must be a 4xx or 5xx status"));
        }
    }
    if let Some(ct) = &f.content_type {
        if ct.is_empty() || ct.bytes().any(|b| b < 0x20 || b == 0x7f) {
            return Err(err(member(at, "content_type"), "not a valid content type"));
        }
    }
    let redirect = match f.redirect {
        None => None,
        Some(r) => {
            let printable = |s: &str| !s.is_empty() && s.bytes().all(|b| b > 0x20 && b != 0x7f);
            if !printable(&r.url) {
                return Err(err(
                    member(at, "redirect.url"),
                    "must be a URL without spaces",
                ));
            }
            let param = r.param.unwrap_or_else(|| "redirect".into());
            if !printable(&param) || param.contains(['&', '=', '#', '?']) {
                return Err(err(
                    member(at, "redirect.param"),
                    "not a query parameter name",
                ));
            }
            Some(Redirect { url: r.url, param })
        }
    };
    Ok(FailurePolicy {
        status: f.status,
        content_type: f.content_type,
        body: f.body,
        redirect,
        strip,
    })
}

fn check_route_path(at: &str, path: String) -> Result<String, ConfigError> {
    if !path.starts_with('/') {
        return Err(err(at, "must start with `/`"));
    }
    // Requests are matched with their escapes decoded; so are rules (`%C3%A9` is `é`).
    crate::path_policy::canonical_rule_path(&path)
        .ok_or_else(|| err(at, "invalid percent-encoding"))
}

/// `warnings` collects the `local_jwks` members skipped (see [`jwks_keys`]).
fn compile_provider(
    at: &str,
    name: String,
    p: RawProvider,
    warnings: &mut Vec<String>,
) -> Result<Provider, ConfigError> {
    if let Some(issuer) = &p.issuer {
        if issuer.is_empty() {
            return Err(err(
                member(at, "issuer"),
                "must not be empty (omit it to skip the check)",
            ));
        }
    }
    let mut keys = Vec::new();
    if let Some(jwks) = p.local_jwks {
        keys.extend(jwks_keys(&member(at, "local_jwks"), jwks, warnings)?);
    }
    for (i, k) in p.keys.into_iter().enumerate() {
        keys.push(inline_key(&format!("{at}.keys[{i}]"), k)?);
    }
    let mut remote = p
        .remote_jwks
        .map(|r| remote_jwks(&member(at, "remote_jwks"), r, p.issuer.as_deref()))
        .transpose()?;
    if keys.len() > crate::keys::MAX_KEYS_PER_JWKS {
        return Err(err(
            at,
            format!(
                "{} keys configured; at most {} per provider",
                keys.len(),
                crate::keys::MAX_KEYS_PER_JWKS
            ),
        ));
    }
    let max_keys_per_token = p
        .max_keys_per_token
        .unwrap_or(crate::provider::DEFAULT_MAX_KEYS_PER_TOKEN);
    if !(1..=crate::keys::MAX_KEYS_PER_JWKS).contains(&max_keys_per_token) {
        return Err(err(
            member(at, "max_keys_per_token"),
            format!("must be between 1 and {}", crate::keys::MAX_KEYS_PER_JWKS),
        ));
    }
    let introspection = p
        .introspection
        .map(|i| introspection(&member(at, "introspection"), i, warnings))
        .transpose()?;
    if introspection.is_some() {
        if !keys.is_empty() || remote.is_some() {
            return Err(err(
                member(at, "introspection"),
                "an introspection provider has no keys: remove `remote_jwks`, `local_jwks` and `keys`",
            ));
        }
        if p.typ.is_some() {
            return Err(err(
                member(at, "typ"),
                "does not apply to introspected (opaque) tokens: they have no header",
            ));
        }
        if p.on_keys_unavailable == Some(RawOnKeysUnavailable::AllowUnverified) {
            return Err(err(
                member(at, "on_keys_unavailable"),
                "allow_unverified does not apply to introspection: failures always fail closed (`deny`: 401, `unavailable`: 503)",
            ));
        }
    } else if keys.is_empty() && remote.is_none() {
        return Err(err(
            at,
            "no usable key: set `remote_jwks`, `local_jwks`, `keys` or `introspection`",
        ));
    }

    let mut sources = Vec::new();
    for (i, h) in p.from_headers.into_iter().enumerate() {
        let name = header_name(&format!("{at}.from_headers[{i}].name"), &h.name)?;
        sources.push(Source::Header {
            name,
            prefix: h.value_prefix.unwrap_or_default(),
        });
    }
    for (i, c) in p.from_cookies.into_iter().enumerate() {
        if c.is_empty() || c.contains([';', '=', ' ']) {
            return Err(err(format!("{at}.from_cookies[{i}]"), "not a cookie name"));
        }
        sources.push(Source::Cookie(c));
    }
    for (i, q) in p.from_params.into_iter().enumerate() {
        if q.is_empty() || q.contains(['&', '=', '#']) {
            return Err(err(
                format!("{at}.from_params[{i}]"),
                "not a query parameter name",
            ));
        }
        sources.push(Source::Param(q));
    }
    if sources.is_empty() {
        sources = Source::default_sources();
    }
    let dpop = p
        .dpop
        .map(|d| dpop_policy(&member(at, "dpop"), d))
        .transpose()?;
    if dpop.is_some() && !sources.iter().any(crate::provider::is_dpop_scheme) {
        sources.push(Source::Header {
            name: "authorization".into(),
            prefix: "DPoP ".into(),
        });
    }
    let mtls = p
        .mtls_binding
        .map(|m| mtls_policy(&member(at, "mtls_binding"), m))
        .transpose()?;

    let forward_payload_header = p
        .forward_payload_header
        .map(|h| settable_header(&member(at, "forward_payload_header"), &h))
        .transpose()?;
    let mut claim_to_headers = Vec::new();
    for (i, c) in p.claim_to_headers.into_iter().enumerate() {
        let header = settable_header(
            &format!("{at}.claim_to_headers[{i}].header_name"),
            &c.header_name,
        )?;
        crate::claims::check_claim_name(&c.claim_name)
            .map_err(|e| err(format!("{at}.claim_to_headers[{i}].claim_name"), e))?;
        claim_to_headers.push((header, c.claim_name));
    }

    let max_lifetime_seconds = p
        .max_lifetime
        .map(|d| duration_seconds(&member(at, "max_lifetime"), d))
        .transpose()?;
    let profile = token_profile(at, p.typ, p.subjects, p.required_claims)?;
    let keys_unavailable_status = match (p.on_keys_unavailable, &remote) {
        (None, _) => None,
        (Some(RawOnKeysUnavailable::Deny), None) if introspection.is_some() => Some(401),
        (Some(RawOnKeysUnavailable::Unavailable), None) if introspection.is_some() => Some(503),
        (Some(_), None) => {
            return Err(err(
                member(at, "on_keys_unavailable"),
                "only applies with `remote_jwks` or `introspection`",
            ))
        }
        (Some(RawOnKeysUnavailable::Deny), Some(_)) => Some(401),
        (Some(RawOnKeysUnavailable::Unavailable), Some(_)) => Some(503),
        (Some(RawOnKeysUnavailable::AllowUnverified), Some(_)) => None,
    };
    let allow_unverified = p.on_keys_unavailable == Some(RawOnKeysUnavailable::AllowUnverified);
    if let (true, Some(remote)) = (allow_unverified, remote.as_mut()) {
        remote.warnings.push(format!(
            "{at}.on_keys_unavailable: allow_unverified forwards requests whose tokens nobody \
             verified while this provider's keys are unavailable (marked `x-jwtgate-unverified`)"
        ));
    }

    Ok(Provider {
        name,
        policy: ClaimPolicy {
            issuer: p.issuer,
            audiences: p.audiences,
            clock_skew_seconds: p.clock_skew_seconds.unwrap_or(DEFAULT_CLOCK_SKEW_SECONDS),
            require_expiration: p.require_expiration,
            max_lifetime_seconds,
            audience_match: match p.audience_match {
                None | Some(RawAudienceMatch::Exact) => AudienceMatch::Exact,
                Some(RawAudienceMatch::Envoy) => AudienceMatch::Envoy,
            },
        },
        profile,
        keys_unavailable_status,
        allow_unverified,
        keys,
        remote,
        sources,
        forward: p.forward,
        forward_payload_header,
        pad_forward_payload_header: p.pad_forward_payload_header,
        claim_to_headers,
        max_keys_per_token,
        dpop,
        mtls,
        introspection,
    })
}

/// A provider's `introspection`: endpoint, client authentication, checks and cache. Errors and
/// warnings name fields, never the secret.
fn introspection(
    at: &str,
    i: RawIntrospection,
    warnings: &mut Vec<String>,
) -> Result<crate::introspection::Introspection, ConfigError> {
    use crate::introspection::{ClientAuth, Introspection, Secret};
    let endpoint = http_uri(at, i.http_uri, crate::introspection::DEFAULT_TIMEOUT_MS)?;
    // A value that is sent in a header: printable, no line breaks (never echoed).
    let header_safe = |v: &str| !v.is_empty() && v.bytes().all(|b| (0x20..0x7f).contains(&b));
    let client_auth = match (i.client_id, i.client_secret, i.client_auth_header) {
        (Some(id), Some(secret), None) => {
            if id.is_empty() || id.bytes().any(|b| b < 0x20 || b == 0x7f) {
                return Err(err(
                    member(at, "client_id"),
                    "must be non-empty text without control characters",
                ));
            }
            if secret.is_empty() || secret.bytes().any(|b| b < 0x20 || b == 0x7f) {
                return Err(err(
                    member(at, "client_secret"),
                    "must be non-empty text without control characters (value not shown)",
                ));
            }
            ClientAuth::basic(&id, &secret)
        }
        (None, None, Some(h)) => {
            let name = header_name(&member(at, "client_auth_header.name"), &h.name)?;
            if name.starts_with(':') || ["content-type", "content-length", "host"].contains(&name.as_str()) {
                return Err(err(
                    member(at, "client_auth_header.name"),
                    format!("`{name}` cannot carry client authentication"),
                ));
            }
            if !header_safe(&h.value) {
                return Err(err(
                    member(at, "client_auth_header.value"),
                    "must be non-empty printable ASCII (value not shown)",
                ));
            }
            ClientAuth::Header {
                name,
                value: Secret(h.value),
            }
        }
        (Some(_), None, None) => {
            return Err(err(member(at, "client_secret"), "is required with `client_id`"))
        }
        (None, Some(_), None) => {
            return Err(err(member(at, "client_id"), "is required with `client_secret`"))
        }
        (None, None, None) => {
            return Err(err(
                at,
                "needs client authentication: `client_id` + `client_secret` (HTTP Basic) or `client_auth_header`",
            ))
        }
        _ => {
            return Err(err(
                at,
                "give `client_id` + `client_secret` or `client_auth_header`, not both",
            ))
        }
    };
    for (n, scope) in i.required_scopes.iter().enumerate() {
        if scope.is_empty()
            || scope
                .bytes()
                .any(|b| b <= 0x20 || b == 0x7f || b == b'"' || b == b'\\')
        {
            return Err(err(
                format!("{at}.required_scopes[{n}]"),
                "a scope is a non-empty token without spaces, quotes or backslashes (RFC 6749 §3.3)",
            ));
        }
    }
    for (n, id) in i.client_ids.iter().enumerate() {
        if id.is_empty() {
            return Err(err(format!("{at}.client_ids[{n}]"), "must not be empty"));
        }
    }
    let cache = i.cache;
    let ttl = |field: &str, d: Option<RawDuration>, default: u64| {
        cache_ttl_ms(&format!("{at}.cache.{field}"), d, default)
    };
    let (ttl_raw, negative_raw, entries, bytes) = match cache {
        Some(c) => (c.ttl, c.negative_ttl, c.max_entries, c.max_bytes),
        None => (None, None, None, None),
    };
    let cache_ttl_ms = ttl("ttl", ttl_raw, crate::introspection::DEFAULT_CACHE_TTL_MS)?;
    let negative_cache_ttl_ms = ttl(
        "negative_ttl",
        negative_raw,
        crate::introspection::DEFAULT_NEGATIVE_CACHE_TTL_MS,
    )?;
    let max_entries = entries.unwrap_or(crate::introspection::DEFAULT_CACHE_ENTRIES);
    if max_entries > MAX_CACHE_ENTRIES {
        return Err(err(
            member(at, "cache.max_entries"),
            format!("must be at most {MAX_CACHE_ENTRIES} (0 turns the cache off)"),
        ));
    }
    let max_bytes = bytes.unwrap_or(crate::introspection::DEFAULT_CACHE_BYTES);
    if max_bytes > MAX_CACHE_BYTES {
        return Err(err(
            member(at, "cache.max_bytes"),
            format!("must be at most {MAX_CACHE_BYTES} (64 MiB)"),
        ));
    }
    for concern in endpoint.fetch_concerns() {
        let concern = if concern.starts_with("uses plain http") {
            "uses plain http to a host that is not local: tokens, the client credentials and the answers can be read or replaced in transit"
        } else {
            concern
        };
        warnings.push(format!("{at}.http_uri.uri: `{}` {concern}", endpoint.uri));
    }
    Ok(Introspection {
        endpoint,
        client_auth,
        cache_ttl_ms,
        negative_cache_ttl_ms,
        max_entries,
        max_bytes,
        scope_condition: crate::introspection::scope_condition(i.required_scopes),
        client_ids: i.client_ids,
    })
}

/// A provider's `dpop`.
fn dpop_policy(at: &str, d: RawDpop) -> Result<DpopPolicy, ConfigError> {
    let max_age_s = match d.max_age {
        None => crate::dpop::DEFAULT_MAX_AGE_S,
        Some(t) => duration_seconds(&member(at, "max_age"), t)?,
    };
    if !(1..=86_400).contains(&max_age_s) {
        return Err(err(member(at, "max_age"), "must be between 1s and 86400s"));
    }
    let leeway_s = match d.leeway {
        None => crate::dpop::DEFAULT_LEEWAY_S,
        Some(t) => duration_seconds(&member(at, "leeway"), t)?,
    };
    if leeway_s > 300 {
        return Err(err(member(at, "leeway"), "must be at most 300s"));
    }
    let algs = match d.algs {
        None => crate::dpop::DEFAULT_ALGS.to_vec(),
        Some(list) if list.is_empty() => {
            return Err(err(
                member(at, "algs"),
                "must list at least one algorithm (omit it for the default)",
            ))
        }
        Some(list) => {
            let mut algs = Vec::with_capacity(list.len());
            for (i, name) in list.iter().enumerate() {
                let path = format!("{at}.algs[{i}]");
                let alg = Alg::from_name(name)
                    .ok_or_else(|| err(&path, format!("`{name}` is not a supported algorithm")))?;
                if alg.family() == crate::algorithm::Family::Hmac {
                    return Err(err(
                        path,
                        format!("{name} is symmetric; DPoP proofs need an asymmetric algorithm"),
                    ));
                }
                let built = (alg != Alg::Es384 || cfg!(feature = "es384"))
                    && (alg != Alg::Es512 || cfg!(feature = "es512"));
                if !built {
                    return Err(err(
                        path,
                        format!("{name} support is not compiled into this jwtgate build"),
                    ));
                }
                if !algs.contains(&alg) {
                    algs.push(alg);
                }
            }
            algs
        }
    };
    let replay_entries = d
        .replay_cache
        .and_then(|c| c.max_entries)
        .unwrap_or(crate::dpop::DEFAULT_REPLAY_ENTRIES);
    if !(1..=MAX_CACHE_ENTRIES).contains(&replay_entries) {
        return Err(err(
            member(at, "replay_cache.max_entries"),
            format!("must be between 1 and {MAX_CACHE_ENTRIES}"),
        ));
    }
    let scheme = match d.scheme.as_deref() {
        None => None,
        Some(s @ ("http" | "https")) => Some(s.to_string()),
        Some(_) => return Err(err(member(at, "scheme"), "must be \"https\" or \"http\"")),
    };
    Ok(DpopPolicy {
        required: d.required,
        max_age_s,
        leeway_s,
        algs,
        replay_entries,
        scheme,
    })
}

/// A provider's `mtls_binding`.
fn mtls_policy(at: &str, m: RawMtlsBinding) -> Result<MtlsPolicy, ConfigError> {
    let source = match m.certificate_from {
        RawCertificateFrom::Named(name) if name == "connection" => CertificateSource::Connection,
        RawCertificateFrom::Named(_) => {
            return Err(err(
                member(at, "certificate_from"),
                "must be \"connection\" or {\"header\": \"x-forwarded-client-cert\"}",
            ))
        }
        RawCertificateFrom::Header(h) => CertificateSource::Header(header_name(
            &member(at, "certificate_from.header"),
            &h.header,
        )?),
    };
    Ok(MtlsPolicy {
        required: m.required,
        source,
    })
}

/// `typ`, `subjects`, `required_claims` of a provider.
fn token_profile(
    at: &str,
    typ: Option<Vec<String>>,
    subjects: Option<RawStringMatcher>,
    required_claims: Vec<String>,
) -> Result<TokenProfile, ConfigError> {
    let typ = match typ {
        None => None,
        Some(list) if list.is_empty() => {
            return Err(err(
                member(at, "typ"),
                "must list at least one type (omit it to accept any)",
            ))
        }
        Some(list) => {
            let mut normalized = Vec::with_capacity(list.len());
            for (i, t) in list.iter().enumerate() {
                // A media type: an HTTP token, optionally `type/subtype` (RFC 9110 §8.3.1).
                let token = |s: &str| {
                    !s.is_empty()
                        && s.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
                };
                let valid = match t.split_once('/') {
                    Some((ty, sub)) => token(ty) && token(sub),
                    None => token(t),
                };
                if !valid {
                    return Err(err(
                        format!("{at}.typ[{i}]"),
                        format!("`{t}` is not a media type such as `at+jwt`"),
                    ));
                }
                normalized.push(crate::profile::normalize_typ(t));
            }
            Some(normalized)
        }
    };
    let subjects = subjects
        .map(|m| string_matcher(&member(at, "subjects"), m))
        .transpose()?;
    for (i, name) in required_claims.iter().enumerate() {
        crate::claims::check_claim_name(name)
            .map_err(|e| err(format!("{at}.required_claims[{i}]"), e))?;
    }
    Ok(TokenProfile {
        typ,
        subjects,
        required_claims,
    })
}

/// Envoy's `StringMatcher`: exactly one form; `ignore_case` not with `safe_regex`.
fn string_matcher(at: &str, m: RawStringMatcher) -> Result<StringMatcher, ConfigError> {
    let ic = m.ignore_case;
    let mut forms = Vec::new();
    forms.extend(m.exact.map(|s| StringMatcher::Exact(s, ic)));
    forms.extend(m.prefix.map(|s| StringMatcher::Prefix(s, ic)));
    forms.extend(m.suffix.map(|s| StringMatcher::Suffix(s, ic)));
    forms.extend(m.contains.map(|s| StringMatcher::Contains(s, ic)));
    if let Some(re) = m.safe_regex {
        if ic {
            return Err(err(
                member(at, "ignore_case"),
                "does not apply to `safe_regex`: write `(?i)` in the regex",
            ));
        }
        forms.push(StringMatcher::Regex(
            regex_lite::Regex::new(&format!("^(?:{})$", re.regex)).map_err(|e| {
                err(
                    member(at, "safe_regex.regex"),
                    format!("invalid regex: {e}"),
                )
            })?,
        ));
    }
    match (forms.pop(), forms.is_empty()) {
        (Some(m), true) => Ok(m),
        _ => Err(err(
            at,
            "set exactly one of `exact`, `prefix`, `suffix`, `contains` or `safe_regex`",
        )),
    }
}

/// The keys of a `local_jwks`. Read like a remote JWKS (and as jwt_verify_lib reads one): a
/// member that cannot be used is skipped and named in a warning (`<at>.keys[i]: why`), so one
/// broken or unsupported member does not take the others down. Members marked for another use
/// (`use: enc`, `key_ops` without `verify`) are skipped silently. Still errors: a set with no
/// usable key (its error lists why each member was skipped), a member with private key material
/// (a leaked private key is to be removed, not skipped), and an `oct` member that is not a
/// usable HMAC secret (as for inline `keys`: a weak shared secret is a configuration mistake).
fn jwks_keys(
    at: &str,
    source: RawDataSource,
    warnings: &mut Vec<String>,
) -> Result<Vec<Key>, ConfigError> {
    let text = match (source.inline_string, source.inline_bytes, source.filename) {
        (Some(s), None, None) => s,
        (None, Some(b64), None) => {
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|_| err(member(at, "inline_bytes"), "not valid base64"))?;
            String::from_utf8(bytes).map_err(|_| err(member(at, "inline_bytes"), "not UTF-8"))?
        }
        (None, None, Some(_)) => {
            return Err(err(
                member(at, "filename"),
                "a wasm filter cannot read files; use inline_string",
            ))
        }
        _ => {
            return Err(err(
                at,
                "set exactly one of `inline_string` or `inline_bytes`",
            ))
        }
    };
    let jwks = strict_json::parse(text.as_bytes()).map_err(|e| {
        err(
            member(at, "inline_string"),
            format!("invalid JWKS JSON: {e}"),
        )
    })?;
    let list = crate::keys::jwks_members(&jwks).map_err(|e| err(member(at, "inline_string"), e))?;
    let mut keys = Vec::new();
    let mut skipped = Vec::new();
    for (i, jwk) in list.iter().enumerate() {
        let member = format!("{at}.keys[{i}]");
        let Value::Object(jwk) = jwk else {
            skipped.push(format!("{member}: a JWK must be an object"));
            continue;
        };
        if crate::keys::jwk_has_private_members(jwk) {
            return Err(err(
                member,
                "contains private key material; publish only public keys",
            ));
        }
        let symmetric = jwk.get("kty").and_then(Value::as_str) == Some("oct");
        match Key::from_jwk(jwk) {
            Ok(Some(key)) => keys.push(key),
            // Another use than signatures (`use: enc`…): skipped, as Envoy does.
            Ok(None) if crate::keys::jwk_not_for_signatures(jwk) => {}
            Ok(None) => skipped.push(format!(
                "{member}: not a signature key of a supported algorithm, curve or key type"
            )),
            Err(e) if symmetric => return Err(err(member, e)),
            Err(e) => skipped.push(format!("{member}: {e}")),
        }
    }
    if keys.is_empty() {
        let why = if skipped.is_empty() {
            String::new()
        } else {
            format!(" ({})", skipped.join("; "))
        };
        return Err(err(
            at,
            format!("the JWKS has no usable signature key{why}"),
        ));
    }
    warnings.extend(
        skipped
            .into_iter()
            .map(|s| format!("{s} (member skipped; the other keys are used)")),
    );
    Ok(keys)
}

fn inline_key(at: &str, k: RawKey) -> Result<Key, ConfigError> {
    let alg = match &k.alg {
        None => None,
        Some(name) => Some(Alg::from_name(name).ok_or_else(|| {
            err(
                member(at, "alg"),
                format!("`{name}` is not a supported algorithm"),
            )
        })?),
    };
    match (k.secret, k.pem) {
        (Some(secret), None) => {
            let alg = alg.ok_or_else(|| err(member(at, "alg"), "required with `secret`"))?;
            Key::from_secret(
                k.kid,
                alg,
                &secret,
                k.encoding.unwrap_or(SecretEncoding::Utf8),
            )
            .map_err(|e| err(member(at, "secret"), e))
        }
        (None, Some(pem)) => {
            if k.encoding.is_some() {
                return Err(err(member(at, "encoding"), "only applies to `secret`"));
            }
            Key::from_pem(k.kid, alg, &pem).map_err(|e| err(member(at, "pem"), e))
        }
        _ => Err(err(at, "set exactly one of `secret` or `pem`")),
    }
}

/// Header names are lower-case HTTP tokens.
fn header_name(at: &str, name: &str) -> Result<String, ConfigError> {
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !valid {
        return Err(err(at, format!("`{name}` is not a valid header name")));
    }
    Ok(name.to_ascii_lowercase())
}

/// A header the filter may set: not a pseudo-header nor one that frames or routes the request.
fn settable_header(at: &str, name: &str) -> Result<String, ConfigError> {
    let name = header_name(at, name)?;
    const RESERVED: [&str; 9] = [
        "host",
        "authorization",
        "cookie",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "te",
        "upgrade",
    ];
    if RESERVED.contains(&name.as_str()) {
        return Err(err(at, format!("`{name}` cannot be set by the filter")));
    }
    Ok(name)
}

/// `http_uri` of a remote JWKS or an auth service: the URI rules, the default upstream and
/// the timeout (10 ms … 60 s).
fn http_uri(at: &str, h: RawHttpUri, default_timeout_ms: u64) -> Result<HttpUri, ConfigError> {
    let timeout_ms = match h.timeout {
        None => default_timeout_ms,
        Some(d) => {
            let ms = duration_ms(&member(at, "http_uri.timeout"), d)?;
            if !(10..=60_000).contains(&ms) {
                return Err(err(
                    member(at, "http_uri.timeout"),
                    "must be between 0.01s and 60s",
                ));
            }
            ms
        }
    };
    HttpUri::new(&h.uri, h.cluster, timeout_ms).map_err(|e| err(member(at, "http_uri.uri"), e))
}

/// `openid_configuration`: the document's endpoint and what its answer must say.
fn discovery(
    at: &str,
    o: RawOpenidConfiguration,
    issuer: Option<&str>,
) -> Result<(HttpUri, Discovery), ConfigError> {
    let at = member(at, "openid_configuration");
    let issuer = issuer.ok_or_else(|| {
        err(
            &at,
            "needs the provider's `issuer`: the document's issuer must equal it",
        )
    })?;
    let endpoint = match o.http_uri {
        Some(h) => {
            if o.cluster.is_some() || o.timeout.is_some() {
                return Err(err(
                    &at,
                    "with http_uri, give cluster and timeout inside http_uri",
                ));
            }
            http_uri(&at, h, crate::remote_jwks::DEFAULT_TIMEOUT_MS)?
        }
        None => {
            // OIDC Discovery 1.0 §4: the issuer (no trailing slash) + /.well-known/openid-configuration.
            let uri = format!(
                "{}/.well-known/openid-configuration",
                issuer.trim_end_matches('/')
            );
            let raw = RawHttpUri {
                uri,
                cluster: o.cluster,
                timeout: o.timeout,
            };
            http_uri(&at, raw, crate::remote_jwks::DEFAULT_TIMEOUT_MS).map_err(|e| {
                err(
                    &at,
                    format!("the issuer does not make a document URI ({})", e.message),
                )
            })?
        }
    };
    let jwks_cluster = match o.jwks_cluster {
        Some(c) if c.is_empty() || c.bytes().any(|b| b <= 0x20 || b == 0x7f) => {
            return Err(err(member(&at, "jwks_cluster"), "must be a non-empty name"))
        }
        Some(c) => c,
        None => endpoint.upstream.clone(),
    };
    let discovery = Discovery {
        issuer: issuer.to_string(),
        jwks_cluster,
    };
    Ok((endpoint, discovery))
}

fn remote_jwks(
    at: &str,
    r: RawRemoteJwks,
    issuer: Option<&str>,
) -> Result<RemoteJwks, ConfigError> {
    let mut remote = match (r.http_uri, r.openid_configuration) {
        (Some(h), None) => RemoteJwks::new(http_uri(
            at,
            h,
            crate::remote_jwks::DEFAULT_TIMEOUT_MS,
        )?),
        (None, Some(o)) => {
            let (endpoint, discovery) = discovery(at, o, issuer)?;
            let mut remote = RemoteJwks::new(endpoint);
            remote.discovery = Some(discovery);
            remote
        }
        (Some(_), Some(_)) => {
            return Err(err(
                at,
                "give `http_uri` (the JWKS) or `openid_configuration` (find it), not both",
            ))
        }
        (None, None) => {
            return Err(err(
                at,
                "needs `http_uri` (the JWKS) or `openid_configuration` (find it through the issuer's document)",
            ))
        }
    };
    let ms = |field: &str, d: Option<RawDuration>, min: u64, max: u64| {
        let path = format!("{at}.{field}");
        d.map(|d| {
            let ms = duration_ms(&path, d)?;
            if !(min..=max).contains(&ms) {
                return Err(err(
                    path,
                    format!("must be between {}s and {}s", seconds_text(min), max / 1000),
                ));
            }
            Ok(ms)
        })
        .transpose()
    };
    const DAY: u64 = 86_400_000;
    if let Some(d) = r.cache_duration {
        // Every duration Envoy accepts is accepted; outside jwtgate's range it is clamped,
        // with a warning (Gateway::warnings) instead of a configuration that fails closed.
        use crate::remote_jwks::{MAX_CACHE_DURATION_MS, MIN_CACHE_DURATION_MS};
        let path = member(at, "cache_duration");
        let asked = duration_ms(&path, d)?;
        let used = asked.clamp(MIN_CACHE_DURATION_MS, MAX_CACHE_DURATION_MS);
        if used != asked {
            remote.warnings.push(format!(
                "{path}: {}s is {} than jwtgate allows; using {}s",
                seconds_text(asked),
                if asked < used { "shorter" } else { "longer" },
                used / 1000
            ));
        }
        remote.cache_duration_ms = used;
    }
    if let Some(t) = ms("max_stale", r.max_stale, 0, 30 * DAY)? {
        remote.max_stale_ms = t;
    }
    if let Some(t) = ms("kid_refetch_interval", r.kid_refetch_interval, 1_000, DAY)? {
        remote.kid_refetch_interval_ms = t;
    }
    let failed_refetch = r.async_fetch.and_then(|a| a.failed_refetch_duration);
    if let Some(t) = ms(
        "async_fetch.failed_refetch_duration",
        failed_refetch,
        100,
        DAY,
    )? {
        remote.backoff_base_ms = t;
    }
    if let Some(back_off) = r.retry_policy.and_then(|p| p.retry_back_off) {
        let base = "retry_policy.retry_back_off.base_interval";
        if let Some(t) = ms(base, back_off.base_interval, 100, DAY)? {
            remote.backoff_base_ms = t;
        }
        let max = "retry_policy.retry_back_off.max_interval";
        if let Some(t) = ms(max, back_off.max_interval, 100, DAY)? {
            remote.backoff_max_ms = t;
        }
    }
    if remote.backoff_max_ms < remote.backoff_base_ms {
        return Err(err(
            member(at, "retry_policy.retry_back_off.max_interval"),
            "must not be shorter than the base interval",
        ));
    }
    let mut extra_headers: Vec<(String, String)> = Vec::with_capacity(r.request_headers.len());
    if r.request_headers.len() > MAX_FETCH_HEADERS {
        return Err(err(
            member(at, "request_headers"),
            format!("at most {MAX_FETCH_HEADERS} headers"),
        ));
    }
    for (i, h) in r.request_headers.into_iter().enumerate() {
        let hat = format!("{at}.request_headers[{i}]");
        if h.name.starts_with(':') {
            return Err(err(
                format!("{hat}.name"),
                "pseudo-headers come from http_uri.uri",
            ));
        }
        let name = header_name(&format!("{hat}.name"), &h.name)?;
        const FIXED: [&str; 8] = [
            "host",
            "content-length",
            "transfer-encoding",
            "connection",
            "te",
            "upgrade",
            "keep-alive",
            "proxy-connection",
        ];
        if FIXED.contains(&name.as_str()) {
            let why = if name == "host" {
                "cannot be set here: the authority is the host of http_uri.uri (route elsewhere with http_uri.cluster)"
            } else {
                "cannot be set here: it frames the request"
            };
            return Err(err(format!("{hat}.name"), format!("`{name}` {why}")));
        }
        if extra_headers.iter().any(|(n, _)| *n == name) {
            return Err(err(
                format!("{hat}.name"),
                format!("`{name}` is listed twice"),
            ));
        }
        // Visible ASCII and inner spaces (RFC 9110 §5.5), at most 4 KiB: nothing a host could
        // split into another header.
        let value = &h.value;
        let printable = value
            .bytes()
            .all(|b| b == b' ' || (0x21..0x7f).contains(&b));
        if value.is_empty()
            || value.len() > 4096
            || !printable
            || value.starts_with(' ')
            || value.ends_with(' ')
        {
            return Err(err(
                format!("{hat}.value"),
                "must be 1 to 4096 bytes of visible ASCII (inner spaces allowed)",
            ));
        }
        extra_headers.push((name, h.value));
    }
    remote.extra_headers = extra_headers;
    let uri_at = if remote.discovery.is_some() {
        "openid_configuration"
    } else {
        "http_uri"
    };
    for concern in remote.endpoint.fetch_concerns() {
        remote.warnings.push(format!(
            "{at}.{uri_at}.uri: `{}` {concern}",
            remote.endpoint.uri
        ));
    }
    if let Some(bytes) = r.max_body_bytes {
        if !(1024..=4 * 1024 * 1024).contains(&bytes) {
            return Err(err(
                member(at, "max_body_bytes"),
                "must be between 1024 and 4194304",
            ));
        }
        remote.max_body_bytes = bytes;
    }
    Ok(remote)
}

fn ext_auth_service(at: &str, name: String, e: RawExtAuth) -> Result<ExtAuthService, ConfigError> {
    let endpoint = http_uri(at, e.http_uri, crate::ext_auth::DEFAULT_TIMEOUT_MS)?;
    let names = |field: &str, list: Vec<String>, settable: bool| {
        list.into_iter()
            .enumerate()
            .map(|(i, h)| {
                let at = format!("{at}.{field}[{i}]");
                if settable {
                    settable_header(&at, &h)
                } else {
                    header_name(&at, &h)
                }
            })
            .collect::<Result<Vec<String>, ConfigError>>()
    };
    let allowed_request_headers = names(
        "allowed_request_headers",
        e.allowed_request_headers
            .unwrap_or_else(|| vec!["authorization".into(), "cookie".into()]),
        false,
    )?;
    let allowed_upstream_headers =
        names("allowed_upstream_headers", e.allowed_upstream_headers, true)?;
    let allowed_client_headers = names(
        "allowed_client_headers",
        e.allowed_client_headers
            .unwrap_or_else(|| vec!["www-authenticate".into()]),
        false,
    )?;
    let status_on_error = e
        .status_on_error
        .unwrap_or(crate::ext_auth::DEFAULT_STATUS_ON_ERROR);
    if !(400..=599).contains(&status_on_error) {
        return Err(err(
            member(at, "status_on_error"),
            "must be a 4xx or 5xx status",
        ));
    }
    let cache = match e.cache {
        None => None,
        Some(c) => {
            let ttl = |field: &str, d: Option<RawDuration>, default: u64| {
                cache_ttl_ms(&format!("{at}.cache.{field}"), d, default)
            };
            let max_entries = c
                .max_entries
                .unwrap_or(crate::ext_auth::DEFAULT_CACHE_ENTRIES);
            if max_entries > MAX_CACHE_ENTRIES {
                return Err(err(
                    member(at, "cache.max_entries"),
                    format!("must be at most {MAX_CACHE_ENTRIES}"),
                ));
            }
            let key_headers = match c.key_headers {
                Some(list) => names("cache.key_headers", list, false)?,
                None => allowed_request_headers.clone(),
            };
            Some(CachePolicy {
                key_headers,
                key_path: c.key_path.unwrap_or(true),
                allow_ttl_ms: ttl(
                    "allow_ttl",
                    c.allow_ttl,
                    crate::ext_auth::DEFAULT_ALLOW_TTL_MS,
                )?,
                deny_ttl_ms: ttl("deny_ttl", c.deny_ttl, crate::ext_auth::DEFAULT_DENY_TTL_MS)?,
                max_entries,
            })
        }
    };
    Ok(ExtAuthService {
        name,
        endpoint,
        allowed_request_headers,
        allowed_upstream_headers,
        allowed_client_headers,
        failure_mode_allow: e.failure_mode_allow,
        status_on_error,
        cache,
    })
}

/// A cache lifetime (`ext_auth.<s>.cache.*_ttl`, `introspection.cache.*ttl`) in ms: `default`
/// when left out, at most a day.
fn cache_ttl_ms(path: &str, d: Option<RawDuration>, default: u64) -> Result<u64, ConfigError> {
    match d.map(|d| duration_ms(path, d)).transpose()? {
        None => Ok(default),
        Some(ms) if ms > MAX_CACHE_TTL_MS => Err(err(
            path,
            format!("must be at most {}s", MAX_CACHE_TTL_MS / 1000),
        )),
        Some(ms) => Ok(ms),
    }
}

fn duration_ms(at: &str, d: RawDuration) -> Result<u64, ConfigError> {
    match d {
        RawDuration::Seconds(s) => Ok(s.saturating_mul(1000)),
        RawDuration::Text(text) => {
            let (seconds, nanos) = duration_text(at, &text)?;
            if seconds > 1_000_000_000_000 {
                return Err(err(at, "must be a non-negative duration"));
            }
            // Rounded to the nearest millisecond, halves up.
            Ok(seconds * 1000 + (u64::from(nanos) + 500_000) / 1_000_000)
        }
    }
}

fn duration_seconds(at: &str, d: RawDuration) -> Result<u64, ConfigError> {
    match d {
        RawDuration::Seconds(s) => Ok(s),
        RawDuration::Text(text) => Ok(duration_text(at, &text)?.0),
    }
}

/// A duration as protobuf's JSON writes one: seconds with up to nine decimals and an `s`
/// (`"300s"`, `"1.5s"`), as (whole seconds, nanoseconds). Read by hand: `str::parse::<f64>`
/// linked core's float parser (~17 KB of the filter, most of it a table) for this alone.
fn duration_text(at: &str, text: &str) -> Result<(u64, u32), ConfigError> {
    let written_like = || err(at, "a duration is written like \"300s\"");
    let number = text.strip_suffix('s').ok_or_else(written_like)?;
    if number.starts_with('-') {
        return Err(err(at, "must be a non-negative duration"));
    }
    let (whole, fraction) = match number.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (number, "0"),
    };
    let digits =
        |s: &str, max: usize| (1..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole, usize::MAX) || !digits(fraction, 9) {
        return Err(written_like());
    }
    let seconds = whole.parse::<u64>().map_err(|_| written_like())?;
    let nanos = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(9)
        .fold(0u32, |n, b| n * 10 + u32::from(b - b'0'));
    Ok((seconds, nanos))
}

/// Milliseconds as seconds for messages (`1.5`, `0.25`, `30`), without float formatting (which
/// would link core's float printing into the filter for two messages).
fn seconds_text(ms: u64) -> String {
    let (whole, frac) = (ms / 1000, ms % 1000);
    if frac == 0 {
        return whole.to_string();
    }
    let digits = format!("{frac:03}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::{duration_ms, duration_seconds, err, RawDuration};

    #[test]
    fn durations_are_read_as_protobuf_writes_them() {
        let text = |t: &str| RawDuration::Text(t.into());
        for (t, ms, s) in [
            ("300s", 300_000, 300),
            ("1.5s", 1_500, 1),
            ("0.25s", 250, 0),
            ("0.0005s", 1, 0),
            ("0.0004999s", 0, 0),
            ("2.999999999s", 3_000, 2),
            ("0s", 0, 0),
            ("1000000000000s", 1_000_000_000_000_000, 1_000_000_000_000),
        ] {
            assert_eq!(duration_ms("d", text(t)), Ok(ms), "{t}");
            assert_eq!(duration_seconds("d", text(t)), Ok(s), "{t}");
        }
        let written_like = err("d", "a duration is written like \"300s\"");
        for t in [
            "300",
            "s",
            ".5s",
            "5.s",
            "1e3s",
            "+5s",
            "1.0000000001s",
            " 5s",
            "5 s",
            "0x10s",
        ] {
            assert_eq!(duration_ms("d", text(t)), Err(written_like.clone()), "{t}");
            assert_eq!(
                duration_seconds("d", text(t)),
                Err(written_like.clone()),
                "{t}"
            );
        }
        let negative = err("d", "must be a non-negative duration");
        assert_eq!(duration_ms("d", text("-1s")), Err(negative.clone()));
        assert_eq!(duration_seconds("d", text("-0.5s")), Err(negative.clone()));
        assert_eq!(duration_ms("d", text("1000000000001s")), Err(negative));
    }

    #[test]
    fn seconds_text_writes_what_float_display_wrote() {
        for (ms, text) in [
            (0, "0"),
            (1, "0.001"),
            (10, "0.01"),
            (1500, "1.5"),
            (30_000, "30"),
        ] {
            assert_eq!(super::seconds_text(ms), text);
        }
    }
}
