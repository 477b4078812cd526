//! The configuration as written: serde types mirroring the JSON (Envoy `jwt_authn` names plus
//! jwtgate's extensions). Unknown fields are errors. `compile` turns them into the core's types.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::keys::SecretEncoding;
use crate::path_policy::{CaseMatching, EscapedSlashes, PathParameters, PathPolicy};

use super::read::{invalid_type, variant, Fields, Read};
use super::ConfigError;

#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(deny_unknown_fields))]
pub(super) struct RawConfig {
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) providers: BTreeMap<String, RawProvider>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) rules: Vec<RawRule>,
    /// Extension: `realm` in `WWW-Authenticate`.
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) realm: Option<String>,
    /// Extension: longest token accepted, checked before parsing.
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) max_token_bytes: Option<usize>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) bypass_cors_preflight: bool,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) strip_failure_response: bool,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) stat_prefix: Option<String>,
    /// Extension: how refusals are answered unless a rule says otherwise.
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) failure_response: Option<RawFailureResponse>,
    /// Extension: report-only for every rule.
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) dry_run: bool,
    /// Extension: bounds of the per-VM verified-token cache.
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) token_cache: Option<RawTokenCache>,
    /// Extension: status when `remote_jwks` keys are unavailable (401 or 503).
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) jwks_unavailable_status: Option<u32>,
    /// Extension: share fetched JWKS between workers through proxy-wasm shared data
    /// (ngx_wasm_module needs `shm_kv` for it).
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) share_jwks: bool,
    /// Extension: what a request whose `remote_jwks` keys are loading gets: `pause` (wait for
    /// the fetch, Envoy's behaviour) or `retry_after` (503 + `Retry-After: 1` at once; the
    /// fetch runs from the timer, so no request is paused or owns a call).
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) on_keys_loading: Option<String>,
    /// Extension: whether the host lets the filter act on one paused request from another
    /// request's callback or the timer (`proxy_set_effective_context`). `false` for NGINX +
    /// ngx_wasm_module (a no-op there: measured): implies `on_keys_loading: retry_after`, and
    /// an overdue auth call is left to the host's own timeout.
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) wake_other_requests: Option<bool>,
    /// Extension: auth services asked by `{"ext_auth": "<name>"}` requirements.
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) ext_auth: BTreeMap<String, RawExtAuth>,
    /// Extension: what happens to client-sent spellings of managed headers: `strip` (default)
    /// removes them; `reject` refuses the request (400 `managed_header_present`), for hosts
    /// where removal does not reach the upstream (NGINX + ngx_wasm_module).
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) client_managed_headers: Option<RawClientManagedHeaders>,
    /// Extension: how paths are checked and normalized before rule matching (Envoy's
    /// `normalize_path`, `merge_slashes`, `path_with_escaped_slashes_action`).
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) path_policy: PathPolicy,
}

/// `client_managed_headers`.
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(rename_all = "snake_case"))]
pub(super) enum RawClientManagedHeaders {
    Strip,
    Reject,
}

/// An auth service (the seeds' `auth_request` location).
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(deny_unknown_fields))]
pub(super) struct RawExtAuth {
    pub(super) http_uri: RawHttpUri,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) allowed_request_headers: Option<Vec<String>>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) allowed_upstream_headers: Vec<String>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) allowed_client_headers: Option<Vec<String>>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) failure_mode_allow: bool,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) status_on_error: Option<u32>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) cache: Option<RawExtAuthCache>,
}

#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(deny_unknown_fields))]
pub(super) struct RawExtAuthCache {
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) key_headers: Option<Vec<String>>,
    /// Key on the request path and query too (default `true`).
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) key_path: Option<bool>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) allow_ttl: Option<RawDuration>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) deny_ttl: Option<RawDuration>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) max_entries: Option<usize>,
}

/// Envoy's `RemoteJwks`, plus jwtgate's extensions.
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(deny_unknown_fields))]
pub(super) struct RawRemoteJwks {
    /// Where the JWKS is; or give `openid_configuration` instead.
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) http_uri: Option<RawHttpUri>,
    /// Extension (OIDC Discovery 1.0): find the JWKS through the issuer's OpenID configuration
    /// document (its `issuer` must equal the provider's; its `jwks_uri` is fetched).
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) openid_configuration: Option<RawOpenidConfiguration>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) cache_duration: Option<RawDuration>,
    /// Envoy: fetch at start instead of at the first request. jwtgate always fetches at
    /// start; `failed_refetch_duration` sets the first retry delay.
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) async_fetch: Option<RawAsyncFetch>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) retry_policy: Option<RawRetryPolicy>,
    /// Extension: how long past `cache_duration` the last good set is used while fetches fail.
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) max_stale: Option<RawDuration>,
    /// Extension: at most one refetch for an unknown `kid` per this interval.
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) kid_refetch_interval: Option<RawDuration>,
    /// Extension: largest JWKS body accepted.
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) max_body_bytes: Option<usize>,
    /// Extension: extra headers on every fetch (`[{"name", "value"}]`), e.g. an API key a WAF
    /// in front of the IdP wants; `user-agent` or `accept` here replaces jwtgate's.
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) request_headers: Vec<RawHeaderValue>,
}

#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(deny_unknown_fields))]
pub(super) struct RawHeaderValue {
    pub(super) name: String,
    pub(super) value: String,
}

#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(deny_unknown_fields))]
pub(super) struct RawOpenidConfiguration {
    /// The document's URI, cluster and timeout. Default: `<issuer>/.well-known/openid-configuration`
    /// with `cluster` and `timeout` below.
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) http_uri: Option<RawHttpUri>,
    /// Without `http_uri`: the cluster the document is fetched from.
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) cluster: Option<String>,
    /// Without `http_uri`: the timeout of each fetch.
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) timeout: Option<RawDuration>,
    /// The cluster the JWKS is fetched from (default: the document's): the document chooses
    /// the path and authority, never where the request goes.
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) jwks_cluster: Option<String>,
}

#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(deny_unknown_fields))]
pub(super) struct RawHttpUri {
    pub(super) uri: String,
    /// Envoy: a cluster name. ngx_wasm_module: `host:port`. Default: the URI's host:port.
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) cluster: Option<String>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) timeout: Option<RawDuration>,
}

#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(deny_unknown_fields))]
pub(super) struct RawAsyncFetch {
    #[cfg_attr(feature = "cli", serde(default))]
    #[allow(dead_code)]
    pub(super) fast_listener: Option<bool>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) failed_refetch_duration: Option<RawDuration>,
}

#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(deny_unknown_fields))]
pub(super) struct RawRetryPolicy {
    /// Accepted for Envoy compatibility: jwtgate retries without limit, backing off.
    #[cfg_attr(feature = "cli", serde(default))]
    #[allow(dead_code)]
    pub(super) num_retries: Option<u32>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) retry_back_off: Option<RawBackOff>,
}

#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(deny_unknown_fields))]
pub(super) struct RawBackOff {
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) base_interval: Option<RawDuration>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) max_interval: Option<RawDuration>,
}

#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(deny_unknown_fields))]
pub(super) struct RawTokenCache {
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) max_entries: Option<usize>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) max_bytes: Option<usize>,
}

#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(deny_unknown_fields))]
pub(super) struct RawFailureResponse {
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) status: Option<u32>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) content_type: Option<String>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) body: Option<String>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) redirect: Option<RawRedirect>,
}

#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(deny_unknown_fields))]
pub(super) struct RawRedirect {
    pub(super) url: String,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) param: Option<String>,
}

#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(deny_unknown_fields))]
pub(super) struct RawProvider {
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) issuer: Option<String>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) audiences: Vec<String>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) local_jwks: Option<RawDataSource>,
    /// Extension: inline secrets and PEM keys (the seeds' `auth_jwt_key`).
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) keys: Vec<RawKey>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) from_headers: Vec<RawHeader>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) from_cookies: Vec<String>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) from_params: Vec<String>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) forward: bool,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) forward_payload_header: Option<String>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) pad_forward_payload_header: bool,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) claim_to_headers: Vec<RawClaimToHeader>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) clock_skew_seconds: Option<u64>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) require_expiration: bool,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) max_lifetime: Option<RawDuration>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) remote_jwks: Option<RawRemoteJwks>,
    /// Extension: most keys one token is tried against (default 4, at most 64).
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) max_keys_per_token: Option<usize>,
    /// Extension, with `remote_jwks`: the answer when no usable key set could be had: `deny`
    /// (401) or `unavailable` (503); default: the global `jwks_unavailable_status`.
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) on_keys_unavailable: Option<RawOnKeysUnavailable>,
    /// Extension (RFC 9068 §4): accepted header `typ` values, compared as media types
    /// (case-insensitive, `application/` optional); a token without `typ` is refused.
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) typ: Option<Vec<String>>,
    /// Envoy: `sub` must match this `StringMatcher`.
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) subjects: Option<RawStringMatcher>,
    /// Extension: claim names (or paths) that must be present and not null.
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) required_claims: Vec<String>,
    /// Extension: `exact` (default) or `envoy` (jwt_verify_lib: `http://`, `https://` and one
    /// trailing `/` are ignored when audiences are compared).
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) audience_match: Option<RawAudienceMatch>,
    /// Extension (RFC 9449): tokens bound to a key, proven per request by a `DPoP` proof.
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) dpop: Option<RawDpop>,
    /// Extension (RFC 8705): tokens bound to the client certificate (`cnf.x5t#S256`).
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) mtls_binding: Option<RawMtlsBinding>,
    /// Extension (RFC 7662): opaque tokens, checked by asking the authorization server's
    /// introspection endpoint; instead of keys (`remote_jwks`, `local_jwks`, `keys`).
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) introspection: Option<RawIntrospection>,
    /// Envoy's per-provider cache size; accepted for compatibility, jwtgate's cache is per VM
    /// (`token_cache`).
    #[cfg_attr(feature = "cli", serde(default))]
    #[allow(dead_code)]
    pub(super) jwt_cache_config: Option<Value>,
}

/// A provider's `introspection` (RFC 7662).
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(deny_unknown_fields))]
pub(super) struct RawIntrospection {
    /// The introspection endpoint (`POST`).
    pub(super) http_uri: RawHttpUri,
    /// With `client_secret`: HTTP Basic client authentication (RFC 6749 §2.3.1).
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) client_id: Option<String>,
    /// Never printed by `jwtgate check`/`explain` or in errors.
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) client_secret: Option<String>,
    /// Instead of `client_id`/`client_secret`: one header (`name`, `value`) that authenticates
    /// jwtgate to the server, e.g. `authorization: Bearer …`. Its value is never printed.
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) client_auth_header: Option<RawHeaderValue>,
    /// Every one must be in the answer's space-separated `scope` (else 403).
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) required_scopes: Vec<String>,
    /// When given, the answer's `client_id` must be one of these (else 401).
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) client_ids: Vec<String>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) cache: Option<RawIntrospectionCache>,
}

/// An introspection provider's answer cache.
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(deny_unknown_fields))]
pub(super) struct RawIntrospectionCache {
    /// How long an active answer is reused, never past its `exp` (default 60s, at most 1 day;
    /// 0 turns caching of active answers off).
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) ttl: Option<RawDuration>,
    /// How long an inactive answer is reused (default 10s; 0: never).
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) negative_ttl: Option<RawDuration>,
    /// Most answers kept (default 1024; 0 turns the cache off).
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) max_entries: Option<usize>,
    /// Most bytes of answers kept (default 1 MiB).
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) max_bytes: Option<usize>,
}

/// A provider's `dpop`.
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(deny_unknown_fields))]
pub(super) struct RawDpop {
    /// Only `Authorization: DPoP` tokens are accepted; a bearer token is refused.
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) required: bool,
    /// How old a proof's `iat` may be (default 300s).
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) max_age: Option<RawDuration>,
    /// Clock difference allowed either way on `iat` (default 5s, at most 300s).
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) leeway: Option<RawDuration>,
    /// Asymmetric algorithms a proof may use (default ES256, RS256, PS256, EdDSA).
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) algs: Option<Vec<String>>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) replay_cache: Option<RawReplayCache>,
    /// `https` or `http`: the scheme clients use, compared with `htu` instead of the request's
    /// `:scheme` (TLS ended by a proxy in front, or a host that gives no `:scheme`).
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) scheme: Option<String>,
}

#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(deny_unknown_fields))]
pub(super) struct RawReplayCache {
    /// Most proofs remembered per worker (default 10000).
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) max_entries: Option<usize>,
}

/// A provider's `mtls_binding`.
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(deny_unknown_fields))]
pub(super) struct RawMtlsBinding {
    /// Every token must be certificate-bound; otherwise only bound tokens are checked.
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) required: bool,
    /// `"connection"` (the host's TLS connection) or `{"header": "x-forwarded-client-cert"}`
    /// (set by a trusted front proxy).
    pub(super) certificate_from: RawCertificateFrom,
}

#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(untagged))]
pub(super) enum RawCertificateFrom {
    Named(String),
    Header(RawCertificateHeader),
}

#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(deny_unknown_fields))]
pub(super) struct RawCertificateHeader {
    pub(super) header: String,
}

/// `on_keys_unavailable`.
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(rename_all = "snake_case"))]
pub(super) enum RawOnKeysUnavailable {
    Deny,
    Unavailable,
    /// Forward, unverified, marked with `x-jwtgate-unverified` (explicit, logged, counted).
    AllowUnverified,
}

/// `audience_match`.
#[derive(Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(rename_all = "snake_case"))]
pub(super) enum RawAudienceMatch {
    Exact,
    Envoy,
}

/// Envoy's `StringMatcher`: exactly one of `exact`, `prefix`, `suffix`, `contains`,
/// `safe_regex`; `ignore_case` for all but `safe_regex`.
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(deny_unknown_fields))]
pub(super) struct RawStringMatcher {
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) exact: Option<String>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) prefix: Option<String>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) suffix: Option<String>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) contains: Option<String>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) safe_regex: Option<RawRegex>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) ignore_case: bool,
}

#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(deny_unknown_fields))]
pub(super) struct RawDataSource {
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) inline_string: Option<String>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) inline_bytes: Option<String>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) filename: Option<String>,
}

#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(deny_unknown_fields))]
pub(super) struct RawKey {
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) kid: Option<String>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) alg: Option<String>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) secret: Option<String>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) encoding: Option<SecretEncoding>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) pem: Option<String>,
}

#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(deny_unknown_fields))]
pub(super) struct RawHeader {
    pub(super) name: String,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) value_prefix: Option<String>,
}

#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(deny_unknown_fields))]
pub(super) struct RawClaimToHeader {
    pub(super) header_name: String,
    pub(super) claim_name: String,
}

/// A protobuf JSON `Duration` ("300s", "1.5s") or plain seconds.
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(untagged))]
pub(super) enum RawDuration {
    Seconds(u64),
    Text(String),
}

#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(deny_unknown_fields))]
pub(super) struct RawRule {
    #[cfg_attr(feature = "cli", serde(rename = "match"))]
    pub(super) route: RawMatch,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) requires: Option<RawRequirement>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) failure_response: Option<RawFailureResponse>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) dry_run: Option<bool>,
}

#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(deny_unknown_fields))]
pub(super) struct RawMatch {
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) prefix: Option<String>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) path: Option<String>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) safe_regex: Option<RawRegex>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) headers: Vec<RawHeaderMatcher>,
    /// Extension: request methods (upper-case); Envoy writes these as a `:method` header match.
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) methods: Vec<String>,
}

#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(deny_unknown_fields))]
pub(super) struct RawRegex {
    pub(super) regex: String,
    /// Envoy's engine marker; accepted and ignored.
    #[cfg_attr(feature = "cli", serde(default))]
    #[allow(dead_code)]
    pub(super) google_re2: Option<Value>,
}

#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(deny_unknown_fields))]
pub(super) struct RawHeaderMatcher {
    pub(super) name: String,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) present_match: Option<bool>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) exact_match: Option<String>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) invert_match: bool,
}

#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(deny_unknown_fields))]
pub(super) struct RawRequirement {
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) provider_name: Option<String>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) provider_and_audiences: Option<RawProviderAndAudiences>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) requires_any: Option<RawRequirementList>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) requires_all: Option<RawRequirementList>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) allow_missing: Option<Value>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) allow_missing_or_failed: Option<Value>,
    /// Extension: the answer of an auth service (`ext_auth.<name>`).
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) ext_auth: Option<String>,
    /// Extension: conditions on the verified claims (with `provider_name` /
    /// `provider_and_audiences`).
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) claims: Vec<RawCondition>,
}

#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(deny_unknown_fields))]
pub(super) struct RawProviderAndAudiences {
    pub(super) provider_name: String,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) audiences: Vec<String>,
}

#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(deny_unknown_fields))]
pub(super) struct RawRequirementList {
    pub(super) requirements: Vec<RawRequirement>,
}

#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(deny_unknown_fields))]
pub(super) struct RawCondition {
    pub(super) claim: String,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) equals: Option<Value>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) one_of: Option<Vec<Value>>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) contains: Option<Value>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) all_of: Option<Vec<Value>>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) present: Option<bool>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) gt: Option<serde_json::Number>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) gte: Option<serde_json::Number>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) lt: Option<serde_json::Number>,
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) lte: Option<serde_json::Number>,
    /// 403 (default) or 401, as the seed's `auth_jwt_require … error=401|403`.
    #[cfg_attr(feature = "cli", serde(default))]
    pub(super) status: Option<u32>,
}

// Reading each type from JSON (config/read.rs): the member names are the JSON's.

impl Read for RawConfig {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let f = Fields::new(
            v,
            at,
            &[
                "providers",
                "rules",
                "realm",
                "max_token_bytes",
                "bypass_cors_preflight",
                "strip_failure_response",
                "stat_prefix",
                "failure_response",
                "dry_run",
                "token_cache",
                "jwks_unavailable_status",
                "share_jwks",
                "on_keys_loading",
                "wake_other_requests",
                "ext_auth",
                "client_managed_headers",
                "path_policy",
            ],
        )?;
        Ok(RawConfig {
            providers: f.optional("providers")?,
            rules: f.optional("rules")?,
            realm: f.optional("realm")?,
            max_token_bytes: f.optional("max_token_bytes")?,
            bypass_cors_preflight: f.optional("bypass_cors_preflight")?,
            strip_failure_response: f.optional("strip_failure_response")?,
            stat_prefix: f.optional("stat_prefix")?,
            failure_response: f.optional("failure_response")?,
            dry_run: f.optional("dry_run")?,
            token_cache: f.optional("token_cache")?,
            jwks_unavailable_status: f.optional("jwks_unavailable_status")?,
            share_jwks: f.optional("share_jwks")?,
            on_keys_loading: f.optional("on_keys_loading")?,
            wake_other_requests: f.optional("wake_other_requests")?,
            ext_auth: f.optional("ext_auth")?,
            client_managed_headers: f.optional("client_managed_headers")?,
            path_policy: f.optional("path_policy")?,
        })
    }
}

impl Read for RawExtAuth {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let f = Fields::new(
            v,
            at,
            &[
                "http_uri",
                "allowed_request_headers",
                "allowed_upstream_headers",
                "allowed_client_headers",
                "failure_mode_allow",
                "status_on_error",
                "cache",
            ],
        )?;
        Ok(RawExtAuth {
            http_uri: f.required("http_uri")?,
            allowed_request_headers: f.optional("allowed_request_headers")?,
            allowed_upstream_headers: f.optional("allowed_upstream_headers")?,
            allowed_client_headers: f.optional("allowed_client_headers")?,
            failure_mode_allow: f.optional("failure_mode_allow")?,
            status_on_error: f.optional("status_on_error")?,
            cache: f.optional("cache")?,
        })
    }
}

impl Read for RawExtAuthCache {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let f = Fields::new(
            v,
            at,
            &[
                "key_headers",
                "key_path",
                "allow_ttl",
                "deny_ttl",
                "max_entries",
            ],
        )?;
        Ok(RawExtAuthCache {
            key_headers: f.optional("key_headers")?,
            key_path: f.optional("key_path")?,
            allow_ttl: f.optional("allow_ttl")?,
            deny_ttl: f.optional("deny_ttl")?,
            max_entries: f.optional("max_entries")?,
        })
    }
}

impl Read for RawRemoteJwks {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let f = Fields::new(
            v,
            at,
            &[
                "http_uri",
                "openid_configuration",
                "cache_duration",
                "async_fetch",
                "retry_policy",
                "max_stale",
                "kid_refetch_interval",
                "max_body_bytes",
                "request_headers",
            ],
        )?;
        Ok(RawRemoteJwks {
            http_uri: f.optional("http_uri")?,
            openid_configuration: f.optional("openid_configuration")?,
            cache_duration: f.optional("cache_duration")?,
            async_fetch: f.optional("async_fetch")?,
            retry_policy: f.optional("retry_policy")?,
            max_stale: f.optional("max_stale")?,
            kid_refetch_interval: f.optional("kid_refetch_interval")?,
            max_body_bytes: f.optional("max_body_bytes")?,
            request_headers: f.optional("request_headers")?,
        })
    }
}

impl Read for RawHeaderValue {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let f = Fields::new(v, at, &["name", "value"])?;
        Ok(RawHeaderValue {
            name: f.required("name")?,
            value: f.required("value")?,
        })
    }
}

impl Read for RawOpenidConfiguration {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let f = Fields::new(v, at, &["http_uri", "cluster", "timeout", "jwks_cluster"])?;
        Ok(RawOpenidConfiguration {
            http_uri: f.optional("http_uri")?,
            cluster: f.optional("cluster")?,
            timeout: f.optional("timeout")?,
            jwks_cluster: f.optional("jwks_cluster")?,
        })
    }
}

impl Read for RawHttpUri {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let f = Fields::new(v, at, &["uri", "cluster", "timeout"])?;
        Ok(RawHttpUri {
            uri: f.required("uri")?,
            cluster: f.optional("cluster")?,
            timeout: f.optional("timeout")?,
        })
    }
}

impl Read for RawAsyncFetch {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let f = Fields::new(v, at, &["fast_listener", "failed_refetch_duration"])?;
        Ok(RawAsyncFetch {
            fast_listener: f.optional("fast_listener")?,
            failed_refetch_duration: f.optional("failed_refetch_duration")?,
        })
    }
}

impl Read for RawRetryPolicy {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let f = Fields::new(v, at, &["num_retries", "retry_back_off"])?;
        Ok(RawRetryPolicy {
            num_retries: f.optional("num_retries")?,
            retry_back_off: f.optional("retry_back_off")?,
        })
    }
}

impl Read for RawBackOff {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let f = Fields::new(v, at, &["base_interval", "max_interval"])?;
        Ok(RawBackOff {
            base_interval: f.optional("base_interval")?,
            max_interval: f.optional("max_interval")?,
        })
    }
}

impl Read for RawTokenCache {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let f = Fields::new(v, at, &["max_entries", "max_bytes"])?;
        Ok(RawTokenCache {
            max_entries: f.optional("max_entries")?,
            max_bytes: f.optional("max_bytes")?,
        })
    }
}

impl Read for RawFailureResponse {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let f = Fields::new(v, at, &["status", "content_type", "body", "redirect"])?;
        Ok(RawFailureResponse {
            status: f.optional("status")?,
            content_type: f.optional("content_type")?,
            body: f.optional("body")?,
            redirect: f.optional("redirect")?,
        })
    }
}

impl Read for RawRedirect {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let f = Fields::new(v, at, &["url", "param"])?;
        Ok(RawRedirect {
            url: f.required("url")?,
            param: f.optional("param")?,
        })
    }
}

impl Read for RawProvider {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let f = Fields::new(
            v,
            at,
            &[
                "issuer",
                "audiences",
                "local_jwks",
                "keys",
                "from_headers",
                "from_cookies",
                "from_params",
                "forward",
                "forward_payload_header",
                "pad_forward_payload_header",
                "claim_to_headers",
                "clock_skew_seconds",
                "require_expiration",
                "max_lifetime",
                "remote_jwks",
                "max_keys_per_token",
                "on_keys_unavailable",
                "typ",
                "subjects",
                "required_claims",
                "audience_match",
                "dpop",
                "mtls_binding",
                "introspection",
                "jwt_cache_config",
            ],
        )?;
        Ok(RawProvider {
            issuer: f.optional("issuer")?,
            audiences: f.optional("audiences")?,
            local_jwks: f.optional("local_jwks")?,
            keys: f.optional("keys")?,
            from_headers: f.optional("from_headers")?,
            from_cookies: f.optional("from_cookies")?,
            from_params: f.optional("from_params")?,
            forward: f.optional("forward")?,
            forward_payload_header: f.optional("forward_payload_header")?,
            pad_forward_payload_header: f.optional("pad_forward_payload_header")?,
            claim_to_headers: f.optional("claim_to_headers")?,
            clock_skew_seconds: f.optional("clock_skew_seconds")?,
            require_expiration: f.optional("require_expiration")?,
            max_lifetime: f.optional("max_lifetime")?,
            remote_jwks: f.optional("remote_jwks")?,
            max_keys_per_token: f.optional("max_keys_per_token")?,
            on_keys_unavailable: f.optional("on_keys_unavailable")?,
            typ: f.optional("typ")?,
            subjects: f.optional("subjects")?,
            required_claims: f.optional("required_claims")?,
            audience_match: f.optional("audience_match")?,
            dpop: f.optional("dpop")?,
            mtls_binding: f.optional("mtls_binding")?,
            introspection: f.optional("introspection")?,
            jwt_cache_config: f.optional("jwt_cache_config")?,
        })
    }
}

impl Read for RawDpop {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let f = Fields::new(
            v,
            at,
            &[
                "required",
                "max_age",
                "leeway",
                "algs",
                "replay_cache",
                "scheme",
            ],
        )?;
        Ok(RawDpop {
            required: f.optional("required")?,
            max_age: f.optional("max_age")?,
            leeway: f.optional("leeway")?,
            algs: f.optional("algs")?,
            replay_cache: f.optional("replay_cache")?,
            scheme: f.optional("scheme")?,
        })
    }
}

impl Read for RawReplayCache {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let f = Fields::new(v, at, &["max_entries"])?;
        Ok(RawReplayCache {
            max_entries: f.optional("max_entries")?,
        })
    }
}

impl Read for RawMtlsBinding {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let f = Fields::new(v, at, &["required", "certificate_from"])?;
        Ok(RawMtlsBinding {
            required: f.optional("required")?,
            certificate_from: f.required("certificate_from")?,
        })
    }
}

impl Read for RawCertificateHeader {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let f = Fields::new(v, at, &["header"])?;
        Ok(RawCertificateHeader {
            header: f.required("header")?,
        })
    }
}

impl Read for RawStringMatcher {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let f = Fields::new(
            v,
            at,
            &[
                "exact",
                "prefix",
                "suffix",
                "contains",
                "safe_regex",
                "ignore_case",
            ],
        )?;
        Ok(RawStringMatcher {
            exact: f.optional("exact")?,
            prefix: f.optional("prefix")?,
            suffix: f.optional("suffix")?,
            contains: f.optional("contains")?,
            safe_regex: f.optional("safe_regex")?,
            ignore_case: f.optional("ignore_case")?,
        })
    }
}

impl Read for RawDataSource {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let f = Fields::new(v, at, &["inline_string", "inline_bytes", "filename"])?;
        Ok(RawDataSource {
            inline_string: f.optional("inline_string")?,
            inline_bytes: f.optional("inline_bytes")?,
            filename: f.optional("filename")?,
        })
    }
}

impl Read for RawKey {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let f = Fields::new(v, at, &["kid", "alg", "secret", "encoding", "pem"])?;
        Ok(RawKey {
            kid: f.optional("kid")?,
            alg: f.optional("alg")?,
            secret: f.optional("secret")?,
            encoding: f.optional("encoding")?,
            pem: f.optional("pem")?,
        })
    }
}

impl Read for RawHeader {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let f = Fields::new(v, at, &["name", "value_prefix"])?;
        Ok(RawHeader {
            name: f.required("name")?,
            value_prefix: f.optional("value_prefix")?,
        })
    }
}

impl Read for RawClaimToHeader {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let f = Fields::new(v, at, &["header_name", "claim_name"])?;
        Ok(RawClaimToHeader {
            header_name: f.required("header_name")?,
            claim_name: f.required("claim_name")?,
        })
    }
}

impl Read for RawRule {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let f = Fields::new(v, at, &["match", "requires", "failure_response", "dry_run"])?;
        Ok(RawRule {
            route: f.required("match")?,
            requires: f.optional("requires")?,
            failure_response: f.optional("failure_response")?,
            dry_run: f.optional("dry_run")?,
        })
    }
}

impl Read for RawMatch {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let f = Fields::new(
            v,
            at,
            &["prefix", "path", "safe_regex", "headers", "methods"],
        )?;
        Ok(RawMatch {
            prefix: f.optional("prefix")?,
            path: f.optional("path")?,
            safe_regex: f.optional("safe_regex")?,
            headers: f.optional("headers")?,
            methods: f.optional("methods")?,
        })
    }
}

impl Read for RawRegex {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let f = Fields::new(v, at, &["regex", "google_re2"])?;
        Ok(RawRegex {
            regex: f.required("regex")?,
            google_re2: f.optional("google_re2")?,
        })
    }
}

impl Read for RawHeaderMatcher {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let f = Fields::new(
            v,
            at,
            &["name", "present_match", "exact_match", "invert_match"],
        )?;
        Ok(RawHeaderMatcher {
            name: f.required("name")?,
            present_match: f.optional("present_match")?,
            exact_match: f.optional("exact_match")?,
            invert_match: f.optional("invert_match")?,
        })
    }
}

impl Read for RawRequirement {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let f = Fields::new(
            v,
            at,
            &[
                "provider_name",
                "provider_and_audiences",
                "requires_any",
                "requires_all",
                "allow_missing",
                "allow_missing_or_failed",
                "ext_auth",
                "claims",
            ],
        )?;
        Ok(RawRequirement {
            provider_name: f.optional("provider_name")?,
            provider_and_audiences: f.optional("provider_and_audiences")?,
            requires_any: f.optional("requires_any")?,
            requires_all: f.optional("requires_all")?,
            allow_missing: f.optional("allow_missing")?,
            allow_missing_or_failed: f.optional("allow_missing_or_failed")?,
            ext_auth: f.optional("ext_auth")?,
            claims: f.optional("claims")?,
        })
    }
}

impl Read for RawProviderAndAudiences {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let f = Fields::new(v, at, &["provider_name", "audiences"])?;
        Ok(RawProviderAndAudiences {
            provider_name: f.required("provider_name")?,
            audiences: f.optional("audiences")?,
        })
    }
}

impl Read for RawRequirementList {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let f = Fields::new(v, at, &["requirements"])?;
        Ok(RawRequirementList {
            requirements: f.required("requirements")?,
        })
    }
}

impl Read for RawCondition {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let f = Fields::new(
            v,
            at,
            &[
                "claim", "equals", "one_of", "contains", "all_of", "present", "gt", "gte", "lt",
                "lte", "status",
            ],
        )?;
        Ok(RawCondition {
            claim: f.required("claim")?,
            equals: f.optional("equals")?,
            one_of: f.optional("one_of")?,
            contains: f.optional("contains")?,
            all_of: f.optional("all_of")?,
            present: f.optional("present")?,
            gt: f.optional("gt")?,
            gte: f.optional("gte")?,
            lt: f.optional("lt")?,
            lte: f.optional("lte")?,
            status: f.optional("status")?,
        })
    }
}
impl Read for RawClientManagedHeaders {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        variant(v, at, &[("strip", Self::Strip), ("reject", Self::Reject)])
    }
}

impl Read for RawOnKeysUnavailable {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        variant(
            v,
            at,
            &[
                ("deny", Self::Deny),
                ("unavailable", Self::Unavailable),
                ("allow_unverified", Self::AllowUnverified),
            ],
        )
    }
}

impl Read for RawAudienceMatch {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        variant(v, at, &[("exact", Self::Exact), ("envoy", Self::Envoy)])
    }
}

impl Read for RawCertificateFrom {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        match v {
            Value::String(s) => Ok(Self::Named(s.clone())),
            Value::Object(_) => RawCertificateHeader::read(v, at).map(Self::Header),
            _ => Err(invalid_type(v, at, "\"connection\" or {\"header\": …}")),
        }
    }
}

impl Read for RawDuration {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        match v {
            Value::String(s) => Ok(Self::Text(s.clone())),
            Value::Number(_) => u64::read(v, at).map(Self::Seconds),
            _ => Err(invalid_type(
                v,
                at,
                "seconds or a duration such as \"300s\"",
            )),
        }
    }
}

impl Read for SecretEncoding {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        variant(
            v,
            at,
            &[
                ("utf8", Self::Utf8),
                ("hex", Self::Hex),
                ("base64", Self::Base64),
                ("base64url", Self::Base64url),
            ],
        )
    }
}

impl Read for PathPolicy {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let f = Fields::new(
            v,
            at,
            &[
                "escaped_slashes",
                "path_parameters",
                "case_matching",
                "exact_path_trailing_slash",
            ],
        )?;
        Ok(PathPolicy {
            escaped_slashes: f.optional("escaped_slashes")?,
            path_parameters: f.optional("path_parameters")?,
            case_matching: f.optional("case_matching")?,
            exact_path_trailing_slash: f.optional("exact_path_trailing_slash")?,
        })
    }
}

impl Read for EscapedSlashes {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        variant(
            v,
            at,
            &[("reject", Self::Reject), ("unescape", Self::Unescape)],
        )
    }
}

impl Read for PathParameters {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        variant(v, at, &[("reject", Self::Reject), ("strip", Self::Strip)])
    }
}

impl Read for CaseMatching {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        variant(
            v,
            at,
            &[
                ("reject_ambiguous", Self::RejectAmbiguous),
                ("sensitive", Self::Sensitive),
                ("insensitive", Self::Insensitive),
            ],
        )
    }
}

impl Read for RawIntrospection {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let f = Fields::new(
            v,
            at,
            &[
                "http_uri",
                "client_id",
                "client_secret",
                "client_auth_header",
                "required_scopes",
                "client_ids",
                "cache",
            ],
        )?;
        Ok(RawIntrospection {
            http_uri: f.required("http_uri")?,
            client_id: f.optional("client_id")?,
            client_secret: f.optional("client_secret")?,
            client_auth_header: f.optional("client_auth_header")?,
            required_scopes: f.optional("required_scopes")?,
            client_ids: f.optional("client_ids")?,
            cache: f.optional("cache")?,
        })
    }
}

impl Read for RawIntrospectionCache {
    fn read(v: &Value, at: &str) -> Result<Self, ConfigError> {
        let f = Fields::new(v, at, &["ttl", "negative_ttl", "max_entries", "max_bytes"])?;
        Ok(RawIntrospectionCache {
            ttl: f.optional("ttl")?,
            negative_ttl: f.optional("negative_ttl")?,
            max_entries: f.optional("max_entries")?,
            max_bytes: f.optional("max_bytes")?,
        })
    }
}
