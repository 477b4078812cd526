//! The configuration as written: serde types mirroring the JSON (Envoy `jwt_authn` names plus
//! jwtgate's extensions). Unknown fields are errors. `compile` turns them into the core's types.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::keys::SecretEncoding;

#[derive(Deserialize)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    #[serde(default)]
    pub(super) providers: BTreeMap<String, RawProvider>,
    #[serde(default)]
    pub(super) rules: Vec<RawRule>,
    /// Extension: `realm` in `WWW-Authenticate`.
    #[serde(default)]
    pub(super) realm: Option<String>,
    /// Extension: longest token accepted, checked before parsing.
    #[serde(default)]
    pub(super) max_token_bytes: Option<usize>,
    #[serde(default)]
    pub(super) bypass_cors_preflight: bool,
    #[serde(default)]
    pub(super) strip_failure_response: bool,
    #[serde(default)]
    pub(super) stat_prefix: Option<String>,
    /// Extension: how refusals are answered unless a rule says otherwise.
    #[serde(default)]
    pub(super) failure_response: Option<RawFailureResponse>,
    /// Extension: report-only for every rule.
    #[serde(default)]
    pub(super) dry_run: bool,
    /// Extension: bounds of the per-VM verified-token cache.
    #[serde(default)]
    pub(super) token_cache: Option<RawTokenCache>,
    /// Extension: status when `remote_jwks` keys are unavailable (401 or 503).
    #[serde(default)]
    pub(super) jwks_unavailable_status: Option<u32>,
    /// Extension: share fetched JWKS between workers through proxy-wasm shared data
    /// (ngx_wasm_module needs `shm_kv` for it).
    #[serde(default)]
    pub(super) share_jwks: bool,
    /// Extension: what a request whose `remote_jwks` keys are loading gets: `pause` (wait for
    /// the fetch, Envoy's behaviour) or `retry_after` (503 + `Retry-After: 1` at once; the
    /// fetch runs from the timer, so no request is paused or owns a call).
    #[serde(default)]
    pub(super) on_keys_loading: Option<String>,
    /// Extension: whether the host lets the filter act on one paused request from another
    /// request's callback or the timer (`proxy_set_effective_context`). `false` for NGINX +
    /// ngx_wasm_module (a no-op there: measured): implies `on_keys_loading: retry_after`, and
    /// an overdue auth call is left to the host's own timeout.
    #[serde(default)]
    pub(super) wake_other_requests: Option<bool>,
    /// Extension: auth services asked by `{"ext_auth": "<name>"}` requirements.
    #[serde(default)]
    pub(super) ext_auth: BTreeMap<String, RawExtAuth>,
    /// Extension: what happens to client-sent spellings of managed headers: `strip` (default)
    /// removes them; `reject` refuses the request (400 `managed_header_present`), for hosts
    /// where removal does not reach the upstream (NGINX + ngx_wasm_module).
    #[serde(default)]
    pub(super) client_managed_headers: Option<RawClientManagedHeaders>,
    /// Extension: how paths are checked and normalized before rule matching (Envoy's
    /// `normalize_path`, `merge_slashes`, `path_with_escaped_slashes_action`).
    #[serde(default)]
    pub(super) path_policy: crate::path_policy::PathPolicy,
}

/// `client_managed_headers`.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub(super) enum RawClientManagedHeaders {
    Strip,
    Reject,
}

/// An auth service (the seeds' `auth_request` location).
#[derive(Deserialize)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(super) struct RawExtAuth {
    pub(super) http_uri: RawHttpUri,
    #[serde(default)]
    pub(super) allowed_request_headers: Option<Vec<String>>,
    #[serde(default)]
    pub(super) allowed_upstream_headers: Vec<String>,
    #[serde(default)]
    pub(super) allowed_client_headers: Option<Vec<String>>,
    #[serde(default)]
    pub(super) failure_mode_allow: bool,
    #[serde(default)]
    pub(super) status_on_error: Option<u32>,
    #[serde(default)]
    pub(super) cache: Option<RawExtAuthCache>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(super) struct RawExtAuthCache {
    #[serde(default)]
    pub(super) key_headers: Option<Vec<String>>,
    /// Key on the request path and query too (default `true`).
    #[serde(default)]
    pub(super) key_path: Option<bool>,
    #[serde(default)]
    pub(super) allow_ttl: Option<RawDuration>,
    #[serde(default)]
    pub(super) deny_ttl: Option<RawDuration>,
    #[serde(default)]
    pub(super) max_entries: Option<usize>,
}

/// Envoy's `RemoteJwks`, plus jwtgate's extensions.
#[derive(Deserialize)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(super) struct RawRemoteJwks {
    /// Where the JWKS is; or give `openid_configuration` instead.
    #[serde(default)]
    pub(super) http_uri: Option<RawHttpUri>,
    /// Extension (OIDC Discovery 1.0): find the JWKS through the issuer's OpenID configuration
    /// document (its `issuer` must equal the provider's; its `jwks_uri` is fetched).
    #[serde(default)]
    pub(super) openid_configuration: Option<RawOpenidConfiguration>,
    #[serde(default)]
    pub(super) cache_duration: Option<RawDuration>,
    /// Envoy: fetch at start instead of at the first request. jwtgate always fetches at
    /// start; `failed_refetch_duration` sets the first retry delay.
    #[serde(default)]
    pub(super) async_fetch: Option<RawAsyncFetch>,
    #[serde(default)]
    pub(super) retry_policy: Option<RawRetryPolicy>,
    /// Extension: how long past `cache_duration` the last good set is used while fetches fail.
    #[serde(default)]
    pub(super) max_stale: Option<RawDuration>,
    /// Extension: at most one refetch for an unknown `kid` per this interval.
    #[serde(default)]
    pub(super) kid_refetch_interval: Option<RawDuration>,
    /// Extension: largest JWKS body accepted.
    #[serde(default)]
    pub(super) max_body_bytes: Option<usize>,
    /// Extension: extra headers on every fetch (`[{"name", "value"}]`), e.g. an API key a WAF
    /// in front of the IdP wants; `user-agent` or `accept` here replaces jwtgate's.
    #[serde(default)]
    pub(super) request_headers: Vec<RawHeaderValue>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(super) struct RawHeaderValue {
    pub(super) name: String,
    pub(super) value: String,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(super) struct RawOpenidConfiguration {
    /// The document's URI, cluster and timeout. Default: `<issuer>/.well-known/openid-configuration`
    /// with `cluster` and `timeout` below.
    #[serde(default)]
    pub(super) http_uri: Option<RawHttpUri>,
    /// Without `http_uri`: the cluster the document is fetched from.
    #[serde(default)]
    pub(super) cluster: Option<String>,
    /// Without `http_uri`: the timeout of each fetch.
    #[serde(default)]
    pub(super) timeout: Option<RawDuration>,
    /// The cluster the JWKS is fetched from (default: the document's): the document chooses
    /// the path and authority, never where the request goes.
    #[serde(default)]
    pub(super) jwks_cluster: Option<String>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttpUri {
    pub(super) uri: String,
    /// Envoy: a cluster name. ngx_wasm_module: `host:port`. Default: the URI's host:port.
    #[serde(default)]
    pub(super) cluster: Option<String>,
    #[serde(default)]
    pub(super) timeout: Option<RawDuration>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(super) struct RawAsyncFetch {
    #[serde(default)]
    #[allow(dead_code)]
    pub(super) fast_listener: Option<bool>,
    #[serde(default)]
    pub(super) failed_refetch_duration: Option<RawDuration>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(super) struct RawRetryPolicy {
    /// Accepted for Envoy compatibility: jwtgate retries without limit, backing off.
    #[serde(default)]
    #[allow(dead_code)]
    pub(super) num_retries: Option<u32>,
    #[serde(default)]
    pub(super) retry_back_off: Option<RawBackOff>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(super) struct RawBackOff {
    #[serde(default)]
    pub(super) base_interval: Option<RawDuration>,
    #[serde(default)]
    pub(super) max_interval: Option<RawDuration>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(super) struct RawTokenCache {
    #[serde(default)]
    pub(super) max_entries: Option<usize>,
    #[serde(default)]
    pub(super) max_bytes: Option<usize>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(super) struct RawFailureResponse {
    #[serde(default)]
    pub(super) status: Option<u32>,
    #[serde(default)]
    pub(super) content_type: Option<String>,
    #[serde(default)]
    pub(super) body: Option<String>,
    #[serde(default)]
    pub(super) redirect: Option<RawRedirect>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(super) struct RawRedirect {
    pub(super) url: String,
    #[serde(default)]
    pub(super) param: Option<String>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(super) struct RawProvider {
    #[serde(default)]
    pub(super) issuer: Option<String>,
    #[serde(default)]
    pub(super) audiences: Vec<String>,
    #[serde(default)]
    pub(super) local_jwks: Option<RawDataSource>,
    /// Extension: inline secrets and PEM keys (the seeds' `auth_jwt_key`).
    #[serde(default)]
    pub(super) keys: Vec<RawKey>,
    #[serde(default)]
    pub(super) from_headers: Vec<RawHeader>,
    #[serde(default)]
    pub(super) from_cookies: Vec<String>,
    #[serde(default)]
    pub(super) from_params: Vec<String>,
    #[serde(default)]
    pub(super) forward: bool,
    #[serde(default)]
    pub(super) forward_payload_header: Option<String>,
    #[serde(default)]
    pub(super) pad_forward_payload_header: bool,
    #[serde(default)]
    pub(super) claim_to_headers: Vec<RawClaimToHeader>,
    #[serde(default)]
    pub(super) clock_skew_seconds: Option<u64>,
    #[serde(default)]
    pub(super) require_expiration: bool,
    #[serde(default)]
    pub(super) max_lifetime: Option<RawDuration>,
    #[serde(default)]
    pub(super) remote_jwks: Option<RawRemoteJwks>,
    /// Extension: most keys one token is tried against (default 4, at most 64).
    #[serde(default)]
    pub(super) max_keys_per_token: Option<usize>,
    /// Extension, with `remote_jwks`: the answer when no usable key set could be had: `deny`
    /// (401) or `unavailable` (503); default: the global `jwks_unavailable_status`.
    #[serde(default)]
    pub(super) on_keys_unavailable: Option<RawOnKeysUnavailable>,
    /// Extension (RFC 9068 §4): accepted header `typ` values, compared as media types
    /// (case-insensitive, `application/` optional); a token without `typ` is refused.
    #[serde(default)]
    pub(super) typ: Option<Vec<String>>,
    /// Envoy: `sub` must match this `StringMatcher`.
    #[serde(default)]
    pub(super) subjects: Option<RawStringMatcher>,
    /// Extension: claim names (or paths) that must be present and not null.
    #[serde(default)]
    pub(super) required_claims: Vec<String>,
    /// Extension: `exact` (default) or `envoy` (jwt_verify_lib: `http://`, `https://` and one
    /// trailing `/` are ignored when audiences are compared).
    #[serde(default)]
    pub(super) audience_match: Option<RawAudienceMatch>,
    /// Extension (RFC 9449): tokens bound to a key, proven per request by a `DPoP` proof.
    #[serde(default)]
    pub(super) dpop: Option<RawDpop>,
    /// Extension (RFC 8705): tokens bound to the client certificate (`cnf.x5t#S256`).
    #[serde(default)]
    pub(super) mtls_binding: Option<RawMtlsBinding>,
    /// Extension (RFC 7662): opaque tokens, checked by asking the authorization server's
    /// introspection endpoint; instead of keys (`remote_jwks`, `local_jwks`, `keys`).
    #[serde(default)]
    pub(super) introspection: Option<RawIntrospection>,
    /// Envoy's per-provider cache size; accepted for compatibility, jwtgate's cache is per VM
    /// (`token_cache`).
    #[serde(default)]
    #[allow(dead_code)]
    pub(super) jwt_cache_config: Option<Value>,
}

/// A provider's `introspection` (RFC 7662).
#[derive(Deserialize)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(super) struct RawIntrospection {
    /// The introspection endpoint (`POST`).
    pub(super) http_uri: RawHttpUri,
    /// With `client_secret`: HTTP Basic client authentication (RFC 6749 §2.3.1).
    #[serde(default)]
    pub(super) client_id: Option<String>,
    /// Never printed by `jwtgate check`/`explain` or in errors.
    #[serde(default)]
    pub(super) client_secret: Option<String>,
    /// Instead of `client_id`/`client_secret`: one header (`name`, `value`) that authenticates
    /// jwtgate to the server, e.g. `authorization: Bearer …`. Its value is never printed.
    #[serde(default)]
    pub(super) client_auth_header: Option<RawHeaderValue>,
    /// Every one must be in the answer's space-separated `scope` (else 403).
    #[serde(default)]
    pub(super) required_scopes: Vec<String>,
    /// When given, the answer's `client_id` must be one of these (else 401).
    #[serde(default)]
    pub(super) client_ids: Vec<String>,
    #[serde(default)]
    pub(super) cache: Option<RawIntrospectionCache>,
}

/// An introspection provider's answer cache.
#[derive(Deserialize)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(super) struct RawIntrospectionCache {
    /// How long an active answer is reused, never past its `exp` (default 60s, at most 1 day;
    /// 0 turns caching of active answers off).
    #[serde(default)]
    pub(super) ttl: Option<RawDuration>,
    /// How long an inactive answer is reused (default 10s; 0: never).
    #[serde(default)]
    pub(super) negative_ttl: Option<RawDuration>,
    /// Most answers kept (default 1024; 0 turns the cache off).
    #[serde(default)]
    pub(super) max_entries: Option<usize>,
    /// Most bytes of answers kept (default 1 MiB).
    #[serde(default)]
    pub(super) max_bytes: Option<usize>,
}

/// A provider's `dpop`.
#[derive(Deserialize)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(super) struct RawDpop {
    /// Only `Authorization: DPoP` tokens are accepted; a bearer token is refused.
    #[serde(default)]
    pub(super) required: bool,
    /// How old a proof's `iat` may be (default 300s).
    #[serde(default)]
    pub(super) max_age: Option<RawDuration>,
    /// Clock difference allowed either way on `iat` (default 5s, at most 300s).
    #[serde(default)]
    pub(super) leeway: Option<RawDuration>,
    /// Asymmetric algorithms a proof may use (default ES256, RS256, PS256, EdDSA).
    #[serde(default)]
    pub(super) algs: Option<Vec<String>>,
    #[serde(default)]
    pub(super) replay_cache: Option<RawReplayCache>,
    /// `https` or `http`: the scheme clients use, compared with `htu` instead of the request's
    /// `:scheme` (TLS ended by a proxy in front, or a host that gives no `:scheme`).
    #[serde(default)]
    pub(super) scheme: Option<String>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(super) struct RawReplayCache {
    /// Most proofs remembered per worker (default 10000).
    #[serde(default)]
    pub(super) max_entries: Option<usize>,
}

/// A provider's `mtls_binding`.
#[derive(Deserialize)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(super) struct RawMtlsBinding {
    /// Every token must be certificate-bound; otherwise only bound tokens are checked.
    #[serde(default)]
    pub(super) required: bool,
    /// `"connection"` (the host's TLS connection) or `{"header": "x-forwarded-client-cert"}`
    /// (set by a trusted front proxy).
    pub(super) certificate_from: RawCertificateFrom,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub(super) enum RawCertificateFrom {
    Named(String),
    Header(RawCertificateHeader),
}

#[derive(Deserialize)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(super) struct RawCertificateHeader {
    pub(super) header: String,
}

/// `on_keys_unavailable`.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub(super) enum RawOnKeysUnavailable {
    Deny,
    Unavailable,
    /// Forward, unverified, marked with `x-jwtgate-unverified` (explicit, logged, counted).
    AllowUnverified,
}

/// `audience_match`.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub(super) enum RawAudienceMatch {
    Exact,
    Envoy,
}

/// Envoy's `StringMatcher`: exactly one of `exact`, `prefix`, `suffix`, `contains`,
/// `safe_regex`; `ignore_case` for all but `safe_regex`.
#[derive(Deserialize)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(super) struct RawStringMatcher {
    #[serde(default)]
    pub(super) exact: Option<String>,
    #[serde(default)]
    pub(super) prefix: Option<String>,
    #[serde(default)]
    pub(super) suffix: Option<String>,
    #[serde(default)]
    pub(super) contains: Option<String>,
    #[serde(default)]
    pub(super) safe_regex: Option<RawRegex>,
    #[serde(default)]
    pub(super) ignore_case: bool,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(super) struct RawDataSource {
    #[serde(default)]
    pub(super) inline_string: Option<String>,
    #[serde(default)]
    pub(super) inline_bytes: Option<String>,
    #[serde(default)]
    pub(super) filename: Option<String>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(super) struct RawKey {
    #[serde(default)]
    pub(super) kid: Option<String>,
    #[serde(default)]
    pub(super) alg: Option<String>,
    #[serde(default)]
    pub(super) secret: Option<String>,
    #[serde(default)]
    pub(super) encoding: Option<SecretEncoding>,
    #[serde(default)]
    pub(super) pem: Option<String>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(super) struct RawHeader {
    pub(super) name: String,
    #[serde(default)]
    pub(super) value_prefix: Option<String>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(super) struct RawClaimToHeader {
    pub(super) header_name: String,
    pub(super) claim_name: String,
}

/// A protobuf JSON `Duration` ("300s", "1.5s") or plain seconds.
#[derive(Deserialize)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub(super) enum RawDuration {
    Seconds(u64),
    Text(String),
}

#[derive(Deserialize)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(super) struct RawRule {
    #[serde(rename = "match")]
    pub(super) route: RawMatch,
    #[serde(default)]
    pub(super) requires: Option<RawRequirement>,
    #[serde(default)]
    pub(super) failure_response: Option<RawFailureResponse>,
    #[serde(default)]
    pub(super) dry_run: Option<bool>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(super) struct RawMatch {
    #[serde(default)]
    pub(super) prefix: Option<String>,
    #[serde(default)]
    pub(super) path: Option<String>,
    #[serde(default)]
    pub(super) safe_regex: Option<RawRegex>,
    #[serde(default)]
    pub(super) headers: Vec<RawHeaderMatcher>,
    /// Extension: request methods (upper-case); Envoy writes these as a `:method` header match.
    #[serde(default)]
    pub(super) methods: Vec<String>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(super) struct RawRegex {
    pub(super) regex: String,
    /// Envoy's engine marker; accepted and ignored.
    #[serde(default)]
    #[allow(dead_code)]
    pub(super) google_re2: Option<Value>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(super) struct RawHeaderMatcher {
    pub(super) name: String,
    #[serde(default)]
    pub(super) present_match: Option<bool>,
    #[serde(default)]
    pub(super) exact_match: Option<String>,
    #[serde(default)]
    pub(super) invert_match: bool,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(super) struct RawRequirement {
    #[serde(default)]
    pub(super) provider_name: Option<String>,
    #[serde(default)]
    pub(super) provider_and_audiences: Option<RawProviderAndAudiences>,
    #[serde(default)]
    pub(super) requires_any: Option<RawRequirementList>,
    #[serde(default)]
    pub(super) requires_all: Option<RawRequirementList>,
    #[serde(default)]
    pub(super) allow_missing: Option<Value>,
    #[serde(default)]
    pub(super) allow_missing_or_failed: Option<Value>,
    /// Extension: the answer of an auth service (`ext_auth.<name>`).
    #[serde(default)]
    pub(super) ext_auth: Option<String>,
    /// Extension: conditions on the verified claims (with `provider_name` /
    /// `provider_and_audiences`).
    #[serde(default)]
    pub(super) claims: Vec<RawCondition>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(super) struct RawProviderAndAudiences {
    pub(super) provider_name: String,
    #[serde(default)]
    pub(super) audiences: Vec<String>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(super) struct RawRequirementList {
    pub(super) requirements: Vec<RawRequirement>,
}

#[derive(Deserialize)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub(super) struct RawCondition {
    pub(super) claim: String,
    #[serde(default)]
    pub(super) equals: Option<Value>,
    #[serde(default)]
    pub(super) one_of: Option<Vec<Value>>,
    #[serde(default)]
    pub(super) contains: Option<Value>,
    #[serde(default)]
    pub(super) all_of: Option<Vec<Value>>,
    #[serde(default)]
    pub(super) present: Option<bool>,
    #[serde(default)]
    pub(super) gt: Option<serde_json::Number>,
    #[serde(default)]
    pub(super) gte: Option<serde_json::Number>,
    #[serde(default)]
    pub(super) lt: Option<serde_json::Number>,
    #[serde(default)]
    pub(super) lte: Option<serde_json::Number>,
    /// 403 (default) or 401, as the seed's `auth_jwt_require … error=401|403`.
    #[serde(default)]
    pub(super) status: Option<u32>,
}
