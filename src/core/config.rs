//! The configuration: JSON shaped like Envoy's `jwt_authn` `JwtAuthentication`, parsed once in
//! `on_configure` into a validated [`Gateway`]. Unknown fields are errors; every error names the
//! field path (`providers.auth0.keys[0].secret: …`).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::algorithm::Alg;
use super::authorize::{ClaimOp, Condition};
use super::claims::ClaimPolicy;
use super::ext_auth::{CachePolicy, ExtAuthService};
use super::extract::Source;
use super::failure::{FailurePolicy, Redirect};
use super::gateway::{Gateway, Rule};
use super::http_uri::HttpUri;
use super::keys::{Key, SecretEncoding};
use super::matcher::{HeaderMatch, HeaderMatchKind, PathMatch, RouteMatch};
use super::provider::Provider;
use super::rejection::Rejection;
use super::remote_jwks::RemoteJwks;
use super::requirement::Requirement;
use super::strict_json;
use super::token::DEFAULT_MAX_TOKEN_BYTES;

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
/// Deepest requirement tree accepted (`requires_any` / `requires_all` nesting).
const MAX_REQUIREMENT_DEPTH: usize = 8;

/// A configuration error: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

fn err(path: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        path: path.into(),
        message: message.into(),
    }
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    providers: BTreeMap<String, RawProvider>,
    #[serde(default)]
    rules: Vec<RawRule>,
    /// Extension: `realm` in `WWW-Authenticate`.
    #[serde(default)]
    realm: Option<String>,
    /// Extension: longest token accepted, checked before parsing.
    #[serde(default)]
    max_token_bytes: Option<usize>,
    #[serde(default)]
    bypass_cors_preflight: bool,
    #[serde(default)]
    strip_failure_response: bool,
    #[serde(default)]
    stat_prefix: Option<String>,
    /// Extension: how refusals are answered unless a rule says otherwise.
    #[serde(default)]
    failure_response: Option<RawFailureResponse>,
    /// Extension: report-only for every rule.
    #[serde(default)]
    dry_run: bool,
    /// Extension: bounds of the per-VM verified-token cache.
    #[serde(default)]
    token_cache: Option<RawTokenCache>,
    /// Extension: status when `remote_jwks` keys are unavailable (401 or 503).
    #[serde(default)]
    jwks_unavailable_status: Option<u32>,
    /// Extension: share fetched JWKS between workers through proxy-wasm shared data
    /// (ngx_wasm_module needs `shm_kv` for it).
    #[serde(default)]
    share_jwks: bool,
    /// Extension: what a request whose `remote_jwks` keys are loading gets: `pause` (wait for
    /// the fetch, Envoy's behaviour) or `retry_after` (503 + `Retry-After: 1` at once; the
    /// fetch runs from the timer, so no request is paused or owns a call).
    #[serde(default)]
    on_keys_loading: Option<String>,
    /// Extension: whether the host lets the filter act on one paused request from another
    /// request's callback or the timer (`proxy_set_effective_context`). `false` for NGINX +
    /// ngx_wasm_module (a no-op there: measured): implies `on_keys_loading: retry_after`, and
    /// an overdue auth call is left to the host's own timeout.
    #[serde(default)]
    wake_other_requests: Option<bool>,
    /// Extension: auth services asked by `{"ext_auth": "<name>"}` requirements.
    #[serde(default)]
    ext_auth: BTreeMap<String, RawExtAuth>,
    /// Extension: what happens to client-sent spellings of managed headers: `strip` (default)
    /// removes them; `reject` refuses the request (400 `managed_header_present`), for hosts
    /// where removal does not reach the upstream (NGINX + ngx_wasm_module).
    #[serde(default)]
    client_managed_headers: Option<RawClientManagedHeaders>,
    /// Extension: how paths are checked and normalized before rule matching (Envoy's
    /// `normalize_path`, `merge_slashes`, `path_with_escaped_slashes_action`).
    #[serde(default)]
    path_policy: super::path_policy::PathPolicy,
}

/// `client_managed_headers`.
#[derive(Deserialize, schemars::JsonSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum RawClientManagedHeaders {
    Strip,
    Reject,
}

/// An auth service (the seeds' `auth_request` location).
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawExtAuth {
    http_uri: RawHttpUri,
    #[serde(default)]
    allowed_request_headers: Option<Vec<String>>,
    #[serde(default)]
    allowed_upstream_headers: Vec<String>,
    #[serde(default)]
    allowed_client_headers: Option<Vec<String>>,
    #[serde(default)]
    failure_mode_allow: bool,
    #[serde(default)]
    status_on_error: Option<u32>,
    #[serde(default)]
    cache: Option<RawExtAuthCache>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawExtAuthCache {
    #[serde(default)]
    key_headers: Option<Vec<String>>,
    /// Key on the request path and query too (default `true`).
    #[serde(default)]
    key_path: Option<bool>,
    #[serde(default)]
    allow_ttl: Option<RawDuration>,
    #[serde(default)]
    deny_ttl: Option<RawDuration>,
    #[serde(default)]
    max_entries: Option<usize>,
}

/// Envoy's `RemoteJwks`, plus jwtgate's extensions.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawRemoteJwks {
    http_uri: RawHttpUri,
    #[serde(default)]
    cache_duration: Option<RawDuration>,
    /// Envoy: fetch at start instead of at the first request. jwtgate always fetches at
    /// start; `failed_refetch_duration` sets the first retry delay.
    #[serde(default)]
    async_fetch: Option<RawAsyncFetch>,
    #[serde(default)]
    retry_policy: Option<RawRetryPolicy>,
    /// Extension: how long past `cache_duration` the last good set is used while fetches fail.
    #[serde(default)]
    max_stale: Option<RawDuration>,
    /// Extension: at most one refetch for an unknown `kid` per this interval.
    #[serde(default)]
    kid_refetch_interval: Option<RawDuration>,
    /// Extension: largest JWKS body accepted.
    #[serde(default)]
    max_body_bytes: Option<usize>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawHttpUri {
    uri: String,
    /// Envoy: a cluster name. ngx_wasm_module: `host:port`. Default: the URI's host:port.
    #[serde(default)]
    cluster: Option<String>,
    #[serde(default)]
    timeout: Option<RawDuration>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawAsyncFetch {
    #[serde(default)]
    #[allow(dead_code)]
    fast_listener: Option<bool>,
    #[serde(default)]
    failed_refetch_duration: Option<RawDuration>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawRetryPolicy {
    /// Accepted for Envoy compatibility: jwtgate retries without limit, backing off.
    #[serde(default)]
    #[allow(dead_code)]
    num_retries: Option<u32>,
    #[serde(default)]
    retry_back_off: Option<RawBackOff>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawBackOff {
    #[serde(default)]
    base_interval: Option<RawDuration>,
    #[serde(default)]
    max_interval: Option<RawDuration>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawTokenCache {
    #[serde(default)]
    max_entries: Option<usize>,
    #[serde(default)]
    max_bytes: Option<usize>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawFailureResponse {
    #[serde(default)]
    status: Option<u32>,
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    redirect: Option<RawRedirect>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawRedirect {
    url: String,
    #[serde(default)]
    param: Option<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    audiences: Vec<String>,
    #[serde(default)]
    local_jwks: Option<RawDataSource>,
    /// Extension: inline secrets and PEM keys (the seeds' `auth_jwt_key`).
    #[serde(default)]
    keys: Vec<RawKey>,
    #[serde(default)]
    from_headers: Vec<RawHeader>,
    #[serde(default)]
    from_cookies: Vec<String>,
    #[serde(default)]
    from_params: Vec<String>,
    #[serde(default)]
    forward: bool,
    #[serde(default)]
    forward_payload_header: Option<String>,
    #[serde(default)]
    pad_forward_payload_header: bool,
    #[serde(default)]
    claim_to_headers: Vec<RawClaimToHeader>,
    #[serde(default)]
    clock_skew_seconds: Option<u64>,
    #[serde(default)]
    require_expiration: bool,
    #[serde(default)]
    max_lifetime: Option<RawDuration>,
    #[serde(default)]
    remote_jwks: Option<RawRemoteJwks>,
    /// Extension: most keys one token is tried against (default 4, at most 64).
    #[serde(default)]
    max_keys_per_token: Option<usize>,
    /// Envoy's per-provider cache size; accepted for compatibility, jwtgate's cache is per VM
    /// (`token_cache`).
    #[serde(default)]
    #[allow(dead_code)]
    jwt_cache_config: Option<Value>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawDataSource {
    #[serde(default)]
    inline_string: Option<String>,
    #[serde(default)]
    inline_bytes: Option<String>,
    #[serde(default)]
    filename: Option<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawKey {
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    alg: Option<String>,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    encoding: Option<SecretEncoding>,
    #[serde(default)]
    pem: Option<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawHeader {
    name: String,
    #[serde(default)]
    value_prefix: Option<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawClaimToHeader {
    header_name: String,
    claim_name: String,
}

/// A protobuf JSON `Duration` ("300s", "1.5s") or plain seconds.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
enum RawDuration {
    Seconds(u64),
    Text(String),
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(rename = "match")]
    route: RawMatch,
    #[serde(default)]
    requires: Option<RawRequirement>,
    #[serde(default)]
    failure_response: Option<RawFailureResponse>,
    #[serde(default)]
    dry_run: Option<bool>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawMatch {
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    safe_regex: Option<RawRegex>,
    #[serde(default)]
    headers: Vec<RawHeaderMatcher>,
    /// Extension: request methods (upper-case); Envoy writes these as a `:method` header match.
    #[serde(default)]
    methods: Vec<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawRegex {
    regex: String,
    /// Envoy's engine marker; accepted and ignored.
    #[serde(default)]
    #[allow(dead_code)]
    google_re2: Option<Value>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawHeaderMatcher {
    name: String,
    #[serde(default)]
    present_match: Option<bool>,
    #[serde(default)]
    exact_match: Option<String>,
    #[serde(default)]
    invert_match: bool,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawRequirement {
    #[serde(default)]
    provider_name: Option<String>,
    #[serde(default)]
    provider_and_audiences: Option<RawProviderAndAudiences>,
    #[serde(default)]
    requires_any: Option<RawRequirementList>,
    #[serde(default)]
    requires_all: Option<RawRequirementList>,
    #[serde(default)]
    allow_missing: Option<Value>,
    #[serde(default)]
    allow_missing_or_failed: Option<Value>,
    /// Extension: the answer of an auth service (`ext_auth.<name>`).
    #[serde(default)]
    ext_auth: Option<String>,
    /// Extension: conditions on the verified claims (with `provider_name` /
    /// `provider_and_audiences`).
    #[serde(default)]
    claims: Vec<RawCondition>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawProviderAndAudiences {
    provider_name: String,
    #[serde(default)]
    audiences: Vec<String>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawRequirementList {
    requirements: Vec<RawRequirement>,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct RawCondition {
    claim: String,
    #[serde(default)]
    equals: Option<Value>,
    #[serde(default)]
    one_of: Option<Vec<Value>>,
    #[serde(default)]
    contains: Option<Value>,
    #[serde(default)]
    all_of: Option<Vec<Value>>,
    #[serde(default)]
    present: Option<bool>,
    #[serde(default)]
    gt: Option<serde_json::Number>,
    #[serde(default)]
    gte: Option<serde_json::Number>,
    #[serde(default)]
    lt: Option<serde_json::Number>,
    #[serde(default)]
    lte: Option<serde_json::Number>,
    /// 403 (default) or 401, as the seed's `auth_jwt_require … error=401|403`.
    #[serde(default)]
    status: Option<u32>,
}

impl Gateway {
    /// The rules in order (for `jwtgate check`'s coverage warnings and `jwtgate explain`).
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The name of provider `index`.
    pub fn provider_name(&self, index: usize) -> Option<&str> {
        self.providers.get(index).map(|p| p.name.as_str())
    }

    /// The name of auth service `index` (`ext_auth`).
    pub fn ext_auth_name(&self, index: usize) -> Option<&str> {
        self.ext_services.get(index).map(|s| s.name.as_str())
    }

    /// Parses and validates a configuration. Any error means nothing may pass.
    pub fn from_json(bytes: &[u8]) -> Result<Gateway, ConfigError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(err("", "the configuration is empty"));
        }
        // Strict first: a provider written twice must not silently replace the first.
        let value = strict_json::parse(bytes).map_err(|e| err("", format!("invalid JSON: {e}")))?;
        let raw: RawConfig = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            err(
                if path == "." { String::new() } else { path },
                e.inner().to_string(),
            )
        })?;
        compile(raw)
    }
}

impl Gateway {
    /// The configuration's JSON Schema (Draft 4, as Kong's `config_schema` wants), generated
    /// from the types the parser uses. The parser stays the authority (it checks values the
    /// schema cannot: key material, regexes, header names, cross-references).
    pub fn json_schema() -> Value {
        let settings = schemars::gen::SchemaSettings::draft07().with(|s| {
            s.option_add_null_type = false;
        });
        let schema = settings
            .into_generator()
            .into_root_schema_for::<RawConfig>();
        let mut value = serde_json::to_value(schema).unwrap_or(Value::Null);
        draft4(&mut value);
        if let Value::Object(map) = &mut value {
            map.insert(
                "$schema".into(),
                Value::String("http://json-schema.org/draft-04/schema#".into()),
            );
            map.insert(
                "title".into(),
                Value::String("jwtgate configuration".into()),
            );
        }
        value
    }

    /// Every error of a configuration, not just the first (for `jwtgate check`): the top level,
    /// each provider, each auth service and each rule are checked on their own (rules against
    /// stand-in providers of the same names), then the whole. Empty: the configuration is valid.
    pub fn check_all(bytes: &[u8]) -> Vec<ConfigError> {
        let whole = match Gateway::from_json(bytes) {
            Ok(_) => return Vec::new(),
            Err(e) => e,
        };
        let Ok(Value::Object(root)) = strict_json::parse(bytes) else {
            return vec![whole];
        };
        let object = |key: &str| match root.get(key) {
            None => Some(serde_json::Map::new()),
            Some(Value::Object(map)) => Some(map.clone()),
            Some(_) => None,
        };
        let (Some(providers), Some(services)) = (object("providers"), object("ext_auth")) else {
            return vec![whole];
        };
        let rules = match root.get("rules") {
            None => Vec::new(),
            Some(Value::Array(list)) => list.clone(),
            Some(_) => return vec![whole],
        };
        let check = |config: Value| Gateway::from_json(config.to_string().as_bytes()).err();
        let mut errors = Vec::new();

        // The top level field by field: the parser stops at its first error, so one wrong
        // field must not hide the next.
        let mut top = root.clone();
        top.remove("providers");
        top.remove("ext_auth");
        top.remove("rules");
        let top_errors: Vec<ConfigError> = top
            .iter()
            .filter_map(|(key, value)| check(serde_json::json!({key: value})))
            .collect();
        match top_errors.is_empty() {
            true => errors.extend(check(Value::Object(top))),
            false => errors.extend(top_errors),
        }
        for (name, provider) in &providers {
            errors.extend(provider_errors(name, provider));
        }
        for (name, service) in &services {
            errors.extend(check(serde_json::json!({"ext_auth": {name: service}})));
        }
        // Stand-ins, so a rule is judged on its own and not on its providers' errors.
        let stub_providers: serde_json::Map<String, Value> = providers
            .keys()
            .map(|name| {
                let secret = "stand-in-secret-of-at-least-32-bytes";
                (
                    name.clone(),
                    serde_json::json!({"keys": [{"alg": "HS256", "secret": secret}]}),
                )
            })
            .collect();
        let stub_services: serde_json::Map<String, Value> = services
            .keys()
            .map(|name| {
                let uri = serde_json::json!({"uri": "http://stand-in/"});
                (name.clone(), serde_json::json!({"http_uri": uri}))
            })
            .collect();
        for (i, rule) in rules.iter().enumerate() {
            let config = serde_json::json!({
                "providers": stub_providers, "ext_auth": stub_services, "rules": [rule]});
            if let Some(mut e) = check(config) {
                if let Some(rest) = e.path.strip_prefix("rules[0]") {
                    e.path = format!("rules[{i}]{rest}");
                }
                errors.push(e);
            }
        }
        if errors.is_empty() {
            errors.push(whole); // a conflict between parts (e.g. a header read and set)
        }
        errors.dedup_by(|a, b| a.path == b.path && a.message == b.message);
        errors
    }
}

/// Every error of one provider (for [`Gateway::check_all`]). The parser stops at a provider's
/// first error (a type error stops it before any value is looked at), so each key of `keys`,
/// `local_jwks`, `remote_jwks` and every other field is checked on its own, beside a stand-in
/// key; the provider as a whole decides only when no part fails (a conflict between fields).
fn provider_errors(name: &str, provider: &Value) -> Vec<ConfigError> {
    let check = |p: Value| {
        Gateway::from_json(
            serde_json::json!({"providers": {name: p}})
                .to_string()
                .as_bytes(),
        )
        .err()
    };
    let Some(whole) = check(provider.clone()) else {
        return Vec::new();
    };
    let Value::Object(fields) = provider else {
        return vec![whole];
    };
    let stand_in =
        serde_json::json!([{"alg": "HS256", "secret": "stand-in-secret-of-at-least-32-bytes"}]);
    let at = format!("providers.{name}");
    let mut errors = Vec::new();
    for (field, value) in fields {
        match (field.as_str(), value) {
            ("keys", Value::Array(keys)) => {
                for (i, key) in keys.iter().enumerate() {
                    if let Some(mut e) = check(serde_json::json!({"keys": [key]})) {
                        if let Some(rest) = e.path.strip_prefix(&format!("{at}.keys[0]")) {
                            e.path = format!("{at}.keys[{i}]{rest}");
                        }
                        errors.push(e);
                    }
                }
            }
            ("keys" | "local_jwks" | "remote_jwks", _) => {
                errors.extend(check(serde_json::json!({field: value})));
            }
            _ => errors.extend(check(serde_json::json!({field: value, "keys": stand_in}))),
        }
    }
    if errors.is_empty() {
        errors.push(whole); // no key at all, too many keys, or fields in conflict
    }
    errors
}

/// Draft 4 has no boolean schemas: `true` becomes `{}`, `false` `{"not": {}}` wherever a schema
/// stands (`additionalProperties: false` stays, Draft 4 allows it).
fn draft4(schema: &mut Value) {
    fn fix(v: &mut Value) {
        match v {
            Value::Bool(true) => *v = Value::Object(serde_json::Map::new()),
            Value::Bool(false) => *v = serde_json::json!({"not": {}}),
            _ => draft4(v),
        }
    }
    let Value::Object(map) = schema else { return };
    for (key, value) in map.iter_mut() {
        match (key.as_str(), value) {
            ("properties" | "definitions" | "patternProperties", Value::Object(children)) => {
                children.values_mut().for_each(fix)
            }
            ("anyOf" | "allOf" | "oneOf", Value::Array(list)) => list.iter_mut().for_each(fix),
            ("items" | "additionalItems" | "not", v) => fix(v),
            ("additionalProperties", v @ Value::Object(_)) => draft4(v),
            _ => {}
        }
    }
}

fn compile(raw: RawConfig) -> Result<Gateway, ConfigError> {
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
    for (name, p) in raw.providers {
        providers.push(compile_provider(&format!("providers.{name}"), name, p)?);
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
    managed_headers.sort();
    managed_headers.dedup();
    for p in &providers {
        for source in &p.sources {
            if let Source::Header { name, .. } = source {
                if managed_headers
                    .iter()
                    .any(|m| super::gateway::same_variable(m, name))
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
    managed_headers.sort();
    managed_headers.dedup();

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
        let route = route_match(&format!("{at}.match"), r.route)?;
        let requires = r
            .requires
            .map(|req| requirement(&format!("{at}.requires"), req, &providers, &ext_services, 0))
            .transpose()?;
        let failure = match r.failure_response {
            Some(f) => failure_policy(
                &format!("{at}.failure_response"),
                f,
                raw.strip_failure_response,
            )?,
            None => global_failure.clone(),
        };
        rules.push(Rule {
            route,
            requires,
            failure,
            dry_run: r.dry_run.unwrap_or(raw.dry_run),
        });
    }

    let token_cache = (
        raw.token_cache
            .as_ref()
            .and_then(|c| c.max_entries)
            .unwrap_or(super::cache::DEFAULT_MAX_ENTRIES),
        raw.token_cache
            .as_ref()
            .and_then(|c| c.max_bytes)
            .unwrap_or(super::cache::DEFAULT_MAX_BYTES),
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
    let warnings = providers
        .iter()
        .filter_map(|p| p.remote.as_ref())
        .flat_map(|r| r.warnings.iter().cloned())
        .collect();

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
            PathMatch::Prefix(check_route_path(&format!("{at}.prefix"), prefix)?)
        }
        (None, Some(path), None) => {
            PathMatch::Exact(check_route_path(&format!("{at}.path"), path)?)
        }
        (None, None, Some(re)) => PathMatch::Regex(
            // Envoy's safe_regex must match the whole path.
            regex_lite::Regex::new(&format!("^(?:{})$", re.regex)).map_err(|e| {
                err(
                    format!("{at}.safe_regex.regex"),
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
            format!("{at}.claims"),
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
                        format!("{at}.ext_auth"),
                        format!("no ext_auth service named `{name}`"),
                    )
                })?,
        )
    } else {
        Requirement::AllowMissingOrFailed
    })
}

fn condition(at: &str, c: RawCondition) -> Result<Condition, ConfigError> {
    if c.claim.is_empty() {
        return Err(err(format!("{at}.claim"), "must not be empty"));
    }
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
        Some(_) => return Err(err(format!("{at}.status"), "must be 401 or 403")),
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
            return Err(err(format!("{at}.status"), "must be a 4xx or 5xx status"));
        }
    }
    if let Some(ct) = &f.content_type {
        if ct.is_empty() || ct.bytes().any(|b| b < 0x20 || b == 0x7f) {
            return Err(err(
                format!("{at}.content_type"),
                "not a valid content type",
            ));
        }
    }
    let redirect = match f.redirect {
        None => None,
        Some(r) => {
            let printable = |s: &str| !s.is_empty() && s.bytes().all(|b| b > 0x20 && b != 0x7f);
            if !printable(&r.url) {
                return Err(err(
                    format!("{at}.redirect.url"),
                    "must be a URL without spaces",
                ));
            }
            let param = r.param.unwrap_or_else(|| "redirect".into());
            if !printable(&param) || param.contains(['&', '=', '#', '?']) {
                return Err(err(
                    format!("{at}.redirect.param"),
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
    super::path_policy::canonical_rule_path(&path)
        .ok_or_else(|| err(at, "invalid percent-encoding"))
}

fn compile_provider(at: &str, name: String, p: RawProvider) -> Result<Provider, ConfigError> {
    if let Some(issuer) = &p.issuer {
        if issuer.is_empty() {
            return Err(err(
                format!("{at}.issuer"),
                "must not be empty (omit it to skip the check)",
            ));
        }
    }
    let mut keys = Vec::new();
    if let Some(jwks) = p.local_jwks {
        keys.extend(jwks_keys(&format!("{at}.local_jwks"), jwks)?);
    }
    for (i, k) in p.keys.into_iter().enumerate() {
        keys.push(inline_key(&format!("{at}.keys[{i}]"), k)?);
    }
    let remote = p
        .remote_jwks
        .map(|r| remote_jwks(&format!("{at}.remote_jwks"), r))
        .transpose()?;
    if keys.len() > super::keys::MAX_KEYS_PER_JWKS {
        return Err(err(
            at,
            format!(
                "{} keys configured; at most {} per provider",
                keys.len(),
                super::keys::MAX_KEYS_PER_JWKS
            ),
        ));
    }
    let max_keys_per_token = p
        .max_keys_per_token
        .unwrap_or(super::provider::DEFAULT_MAX_KEYS_PER_TOKEN);
    if !(1..=super::keys::MAX_KEYS_PER_JWKS).contains(&max_keys_per_token) {
        return Err(err(
            format!("{at}.max_keys_per_token"),
            format!("must be between 1 and {}", super::keys::MAX_KEYS_PER_JWKS),
        ));
    }
    if keys.is_empty() && remote.is_none() {
        return Err(err(
            at,
            "no usable key: set `remote_jwks`, `local_jwks` or `keys`",
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

    let forward_payload_header = p
        .forward_payload_header
        .map(|h| settable_header(&format!("{at}.forward_payload_header"), &h))
        .transpose()?;
    let mut claim_to_headers = Vec::new();
    for (i, c) in p.claim_to_headers.into_iter().enumerate() {
        let header = settable_header(
            &format!("{at}.claim_to_headers[{i}].header_name"),
            &c.header_name,
        )?;
        if c.claim_name.is_empty() {
            return Err(err(
                format!("{at}.claim_to_headers[{i}].claim_name"),
                "must not be empty",
            ));
        }
        claim_to_headers.push((header, c.claim_name));
    }

    let max_lifetime_seconds = p
        .max_lifetime
        .map(|d| duration_seconds(&format!("{at}.max_lifetime"), d))
        .transpose()?;

    Ok(Provider {
        name,
        policy: ClaimPolicy {
            issuer: p.issuer,
            audiences: p.audiences,
            clock_skew_seconds: p.clock_skew_seconds.unwrap_or(DEFAULT_CLOCK_SKEW_SECONDS),
            require_expiration: p.require_expiration,
            max_lifetime_seconds,
        },
        keys,
        remote,
        sources,
        forward: p.forward,
        forward_payload_header,
        pad_forward_payload_header: p.pad_forward_payload_header,
        claim_to_headers,
        max_keys_per_token,
    })
}

fn jwks_keys(at: &str, source: RawDataSource) -> Result<Vec<Key>, ConfigError> {
    let text = match (source.inline_string, source.inline_bytes, source.filename) {
        (Some(s), None, None) => s,
        (None, Some(b64), None) => {
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|_| err(format!("{at}.inline_bytes"), "not valid base64"))?;
            String::from_utf8(bytes).map_err(|_| err(format!("{at}.inline_bytes"), "not UTF-8"))?
        }
        (None, None, Some(_)) => {
            return Err(err(
                format!("{at}.filename"),
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
            format!("{at}.inline_string"),
            format!("invalid JWKS JSON: {e}"),
        )
    })?;
    let list =
        super::keys::jwks_members(&jwks).map_err(|e| err(format!("{at}.inline_string"), e))?;
    let mut keys = Vec::new();
    for (i, jwk) in list.iter().enumerate() {
        let Value::Object(jwk) = jwk else {
            return Err(err(format!("{at}.keys[{i}]"), "a JWK must be an object"));
        };
        match Key::from_jwk(jwk) {
            Ok(Some(key)) => keys.push(key),
            Ok(None) => {} // not a signature key jwtgate uses: skipped, as Envoy does
            Err(e) => return Err(err(format!("{at}.keys[{i}]"), e)),
        }
    }
    if keys.is_empty() {
        return Err(err(at, "the JWKS has no usable signature key"));
    }
    Ok(keys)
}

fn inline_key(at: &str, k: RawKey) -> Result<Key, ConfigError> {
    let alg = match &k.alg {
        None => None,
        Some(name) => Some(Alg::from_name(name).ok_or_else(|| {
            err(
                format!("{at}.alg"),
                format!("`{name}` is not a supported algorithm"),
            )
        })?),
    };
    match (k.secret, k.pem) {
        (Some(secret), None) => {
            let alg = alg.ok_or_else(|| err(format!("{at}.alg"), "required with `secret`"))?;
            Key::from_secret(
                k.kid,
                alg,
                &secret,
                k.encoding.unwrap_or(SecretEncoding::Utf8),
            )
            .map_err(|e| err(format!("{at}.secret"), e))
        }
        (None, Some(pem)) => {
            if k.encoding.is_some() {
                return Err(err(format!("{at}.encoding"), "only applies to `secret`"));
            }
            Key::from_pem(k.kid, alg, &pem).map_err(|e| err(format!("{at}.pem"), e))
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
            let ms = duration_ms(&format!("{at}.http_uri.timeout"), d)?;
            if !(10..=60_000).contains(&ms) {
                return Err(err(
                    format!("{at}.http_uri.timeout"),
                    "must be between 0.01s and 60s",
                ));
            }
            ms
        }
    };
    HttpUri::new(&h.uri, h.cluster, timeout_ms).map_err(|e| err(format!("{at}.http_uri.uri"), e))
}

fn remote_jwks(at: &str, r: RawRemoteJwks) -> Result<RemoteJwks, ConfigError> {
    let mut remote = RemoteJwks::new(http_uri(
        at,
        r.http_uri,
        super::remote_jwks::DEFAULT_TIMEOUT_MS,
    )?);
    let ms = |field: &str, d: Option<RawDuration>, min: u64, max: u64| {
        let path = format!("{at}.{field}");
        d.map(|d| {
            let ms = duration_ms(&path, d)?;
            if !(min..=max).contains(&ms) {
                return Err(err(
                    path,
                    format!(
                        "must be between {}s and {}s",
                        min as f64 / 1000.0,
                        max / 1000
                    ),
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
        use super::remote_jwks::{MAX_CACHE_DURATION_MS, MIN_CACHE_DURATION_MS};
        let path = format!("{at}.cache_duration");
        let asked = duration_ms(&path, d)?;
        let used = asked.clamp(MIN_CACHE_DURATION_MS, MAX_CACHE_DURATION_MS);
        if used != asked {
            remote.warnings.push(format!(
                "{path}: {}s is {} than jwtgate allows; using {}s",
                asked as f64 / 1000.0,
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
            format!("{at}.retry_policy.retry_back_off.max_interval"),
            "must not be shorter than the base interval",
        ));
    }
    if let Some(bytes) = r.max_body_bytes {
        if !(1024..=4 * 1024 * 1024).contains(&bytes) {
            return Err(err(
                format!("{at}.max_body_bytes"),
                "must be between 1024 and 4194304",
            ));
        }
        remote.max_body_bytes = bytes;
    }
    Ok(remote)
}

fn ext_auth_service(at: &str, name: String, e: RawExtAuth) -> Result<ExtAuthService, ConfigError> {
    let endpoint = http_uri(at, e.http_uri, super::ext_auth::DEFAULT_TIMEOUT_MS)?;
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
        .unwrap_or(super::ext_auth::DEFAULT_STATUS_ON_ERROR);
    if !(400..=599).contains(&status_on_error) {
        return Err(err(
            format!("{at}.status_on_error"),
            "must be a 4xx or 5xx status",
        ));
    }
    let cache = match e.cache {
        None => None,
        Some(c) => {
            let ttl = |field: &str, d: Option<RawDuration>, default: u64| {
                let path = format!("{at}.cache.{field}");
                match d.map(|d| duration_ms(&path, d)).transpose()? {
                    None => Ok(default),
                    Some(ms) if ms > MAX_CACHE_TTL_MS => Err(err(
                        path,
                        format!("must be at most {}s", MAX_CACHE_TTL_MS / 1000),
                    )),
                    Some(ms) => Ok(ms),
                }
            };
            let max_entries = c
                .max_entries
                .unwrap_or(super::ext_auth::DEFAULT_CACHE_ENTRIES);
            if max_entries > MAX_CACHE_ENTRIES {
                return Err(err(
                    format!("{at}.cache.max_entries"),
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
                    super::ext_auth::DEFAULT_ALLOW_TTL_MS,
                )?,
                deny_ttl_ms: ttl("deny_ttl", c.deny_ttl, super::ext_auth::DEFAULT_DENY_TTL_MS)?,
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

fn duration_ms(at: &str, d: RawDuration) -> Result<u64, ConfigError> {
    match d {
        RawDuration::Seconds(s) => Ok(s.saturating_mul(1000)),
        RawDuration::Text(text) => {
            let number = text
                .strip_suffix('s')
                .ok_or_else(|| err(at, "a duration is written like \"300s\""))?;
            let seconds: f64 = number
                .parse()
                .map_err(|_| err(at, "a duration is written like \"300s\""))?;
            if !seconds.is_finite() || !(0.0..=1e12).contains(&seconds) {
                return Err(err(at, "must be a non-negative duration"));
            }
            Ok((seconds * 1000.0).round() as u64)
        }
    }
}

fn duration_seconds(at: &str, d: RawDuration) -> Result<u64, ConfigError> {
    match d {
        RawDuration::Seconds(s) => Ok(s),
        RawDuration::Text(text) => {
            let number = text
                .strip_suffix('s')
                .ok_or_else(|| err(at, "a duration is written like \"300s\""))?;
            let seconds: f64 = number
                .parse()
                .map_err(|_| err(at, "a duration is written like \"300s\""))?;
            if !seconds.is_finite() || seconds < 0.0 {
                return Err(err(at, "must be a non-negative duration"));
            }
            Ok(seconds.floor() as u64)
        }
    }
}
