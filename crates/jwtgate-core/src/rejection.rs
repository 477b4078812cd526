//! Every reason a request is refused, in one place: the status, the RFC 6750 error code, the
//! client-facing text, the log/metric name. Logs, responses and metrics all derive from it.

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rejection {
    /// The route requires a token and the request carries none in any configured location.
    MissingToken,
    /// The token is longer than `max_token_bytes` (checked before any parsing).
    TokenTooLarge,
    /// Not three non-empty base64url segments, or non-canonical base64url.
    MalformedToken,
    /// The JOSE header is not a strict JSON object or has a field of the wrong type.
    MalformedHeader,
    /// `alg` is missing, `none` in any spelling, or not one of the 13 supported algorithms.
    UnsupportedAlgorithm,
    /// The header has `crit` (no extension is understood) or `b64: false`.
    UnsupportedCritical,
    /// No configured key has the token's `kid` (if any) and allows the token's `alg`.
    KeyNotFound,
    /// The signature does not verify with any candidate key.
    InvalidSignature,
    /// The payload is not a strict JSON object, or a registered claim has the wrong type.
    MalformedClaims,
    /// `exp` + clock skew is not after now.
    Expired,
    /// `nbf` is after now + clock skew.
    NotYetValid,
    /// `require_expiration` (or `max_lifetime`) is set and the token has no `exp`.
    MissingExpiration,
    /// The token's lifetime is longer than `max_lifetime`.
    LifetimeTooLong,
    /// `iss` is missing or differs from the provider's `issuer`.
    IssuerMismatch,
    /// `aud` is missing or has none of the provider's `audiences` (Envoy answers 403).
    AudienceNotAllowed,
    /// A claim condition failed (403 `insufficient_scope`).
    ClaimsForbidden,
    /// A claim condition marked `"status": 401` failed.
    ClaimsRejected,
    /// The filter's configuration is invalid: fail closed.
    ConfigInvalid,
    /// `remote_jwks`: the key set is being fetched (or a refetch for a new `kid` is allowed).
    /// Internal: the request waits for the fetch; if it cannot wait, it becomes
    /// `KeysUnavailable`.
    KeysLoading,
    /// `ext_auth`: the service has not been asked for this request yet (internal: the request
    /// pauses for the callout; if it cannot, this becomes `ExtAuthError`).
    ExtAuthPending,
    /// `ext_auth`: the service answered 401 (its `WWW-Authenticate` is passed on).
    ExtAuthUnauthorized,
    /// `ext_auth`: the service answered 403.
    ExtAuthForbidden,
    /// `ext_auth`: the service failed (other status, timeout, no connection): `status_on_error`.
    ExtAuthError,
    /// A `claim_to_headers` claim cannot be sent safely (control characters, leading or
    /// trailing whitespace, an array element with a comma …): the token is refused rather
    /// than forwarded with a header upstream parsers would read differently.
    ClaimNotForwardable,
    /// More keys could verify the token (no `kid`, or keys without `kid`) than the provider's
    /// `max_keys_per_token`: refused before any verification.
    TooManyCandidateKeys,
    /// `exp`, `nbf` or `iat` is negative or after 9999-12-31 (253402300799).
    DateOutOfRange,
    /// With `max_lifetime`: `iat` is later than now + clock skew.
    IssuedInFuture,
    /// With `max_lifetime`: `exp` is before the token's start (`iat`, else `nbf`).
    NegativeLifetime,
    /// `remote_jwks`: no usable key set (every fetch failed, or the last good set is older than
    /// `max_stale`). 401, or `jwks_unavailable_status`.
    KeysUnavailable,
    /// The host refused what the filter needs to decide (reading the request, the time) or to
    /// apply the decision (a header change): 500, never a pass.
    HostError,
    /// The request carries more than one token in the locations the rule's providers read, and
    /// one besides the one that satisfied the requirement does not verify (Envoy refuses such
    /// requests too: a forged second token must not reach the upstream).
    ExtraTokenInvalid,
    /// `client_managed_headers: reject`: the request carries a spelling of a header the filter
    /// manages (a claim header, `forward_payload_header`, an auth service's upstream header).
    /// 400, before anything else: on hosts where removing a header does not reach the upstream.
    ManagedHeaderPresent,
    /// The path has invalid percent-encoding or a control byte (raw or encoded).
    PathMalformed,
    /// `path_policy.escaped_slashes: reject`: `%2F`, `%5C` or `\` in the path.
    PathEscapedSlash,
    /// `path_policy.path_parameters: reject`: `;` or `%3B` in the path.
    PathParameters,
    /// Upstreams could resolve the path to different rules: `..` after an empty segment, or
    /// (`case_matching: reject_ambiguous`) another rule matches when letters' case is ignored.
    PathAmbiguous,
    /// A provider's `typ` allow-list: the verified token's header `typ` is missing or not one
    /// of them (an ID token where an access token, `at+jwt`, is meant).
    TypNotAllowed,
    /// A provider's `subjects` matcher: `sub` is missing or does not match.
    SubjectNotAllowed,
    /// A provider's `required_claims`: one is absent or null.
    MissingRequiredClaim,
    /// DPoP (RFC 9449): the token came as `Authorization: DPoP` and the request has no `DPoP`
    /// proof header.
    DpopProofMissing,
    /// DPoP: the proof is not one valid proof for this request (two `DPoP` headers, not a
    /// `dpop+jwt`, an algorithm not allowed, a `jwk` that is missing, private or symmetric, a bad
    /// signature, `htm`/`htu`/`iat`/`jti`/`ath` wrong or missing).
    DpopProofInvalid,
    /// DPoP: the proof's `jti` was already used within its window (per worker).
    DpopReplay,
    /// DPoP: the worker's replay cache is full of proofs still inside their window; the proof
    /// cannot be remembered, so it is refused (fail closed).
    DpopReplayCacheFull,
    /// DPoP: the access token's `cnf.jkt` is missing or is not the proof key's thumbprint.
    DpopBindingMismatch,
    /// DPoP: the provider requires DPoP and the token came with another scheme (`Bearer`).
    DpopRequired,
    /// DPoP: a DPoP-bound token (`cnf.jkt`) came as a bearer token.
    DpopBoundTokenAsBearer,
    /// mTLS-bound tokens (RFC 8705): the token is bound (`cnf.x5t#S256`, or the provider
    /// requires binding) and the request carries no client certificate.
    MtlsCertificateMissing,
    /// mTLS-bound tokens: `cnf.x5t#S256` is missing (binding required) or is not the SHA-256
    /// of the client certificate.
    MtlsBindingMismatch,
    /// Introspection (RFC 7662): the authorization server says the token is not active
    /// (revoked, expired, unknown): `active` is not `true`.
    TokenInactive,
    /// Introspection: the answer's `client_id` is not one of the provider's `client_ids`.
    ClientNotAllowed,
    /// Introspection: the token has not been asked about yet (internal: the request pauses
    /// for the call; if it cannot, this becomes `IntrospectionError`).
    IntrospectionPending,
    /// Introspection: no usable answer (timeout, no connection, a status other than 200, not a
    /// JSON object). Fails closed like unavailable keys: 401, or 503 by the provider's
    /// `on_keys_unavailable` / the global `jwks_unavailable_status`.
    IntrospectionError,
}

impl Rejection {
    /// HTTP status of the local response.
    pub fn status(self) -> u32 {
        match self {
            Rejection::ManagedHeaderPresent
            | Rejection::PathMalformed
            | Rejection::PathEscapedSlash
            | Rejection::PathParameters
            | Rejection::PathAmbiguous => 400,
            Rejection::AudienceNotAllowed | Rejection::ClaimsForbidden => 403,
            Rejection::ExtAuthForbidden => 403,
            Rejection::ConfigInvalid | Rejection::ExtAuthError | Rejection::ExtAuthPending => 500,
            Rejection::HostError => 500,
            _ => 401,
        }
    }

    /// RFC 6750 error code for `WWW-Authenticate`; `None` when the request had no credentials
    /// (RFC 6750 §3.1: no error code then) or the failure is the server's.
    pub fn bearer_error(self) -> Option<&'static str> {
        match self {
            // Not a credential problem: the request itself is refused (400, no challenge).
            _ if self.status() == 400 => None,
            Rejection::MissingToken | Rejection::ConfigInvalid | Rejection::HostError => None,
            // The auth service speaks for itself (its WWW-Authenticate is passed on).
            Rejection::ExtAuthPending
            | Rejection::ExtAuthUnauthorized
            | Rejection::ExtAuthForbidden
            | Rejection::ExtAuthError => None,
            Rejection::AudienceNotAllowed | Rejection::ClaimsForbidden => {
                Some("insufficient_scope")
            }
            _ if self.is_dpop_proof() => Some("invalid_dpop_proof"),
            _ => Some("invalid_token"),
        }
    }

    /// The `error` field of the JSON body.
    pub fn body_error(self) -> &'static str {
        match self {
            Rejection::MissingToken => "unauthorized",
            Rejection::ConfigInvalid
            | Rejection::ExtAuthError
            | Rejection::ExtAuthPending
            | Rejection::HostError => "server_error",
            Rejection::ExtAuthForbidden => "forbidden",
            _ if self.status() == 400 => "invalid_request",
            other => other.bearer_error().unwrap_or("unauthorized"),
        }
    }

    /// Generic text for the client: classes of failure, never token content.
    pub fn description(self) -> &'static str {
        match self {
            Rejection::MissingToken => "a bearer token is required",
            Rejection::TokenTooLarge => "the token is too large",
            Rejection::MalformedToken | Rejection::MalformedHeader | Rejection::MalformedClaims => {
                "the token is malformed"
            }
            Rejection::UnsupportedAlgorithm | Rejection::UnsupportedCritical => {
                "the token uses an unsupported algorithm or extension"
            }
            Rejection::KeyNotFound | Rejection::InvalidSignature => {
                "the token signature could not be verified"
            }
            Rejection::Expired => "the token has expired",
            Rejection::NotYetValid => "the token is not yet valid",
            Rejection::MissingExpiration | Rejection::LifetimeTooLong => {
                "the token lifetime is not accepted"
            }
            Rejection::IssuerMismatch => "the token issuer is not accepted",
            Rejection::AudienceNotAllowed => "the token audience is not accepted",
            Rejection::ClaimsForbidden | Rejection::ClaimsRejected => {
                "the token does not grant access to this resource"
            }
            Rejection::ClaimNotForwardable => "a token claim cannot be forwarded safely",
            Rejection::TooManyCandidateKeys => "the token does not identify its signing key",
            Rejection::DateOutOfRange => "a token date is out of range",
            Rejection::IssuedInFuture => "the token is issued in the future",
            Rejection::NegativeLifetime => "the token expires before it is issued",
            Rejection::ConfigInvalid => "the authentication gateway is misconfigured",
            Rejection::KeysLoading | Rejection::KeysUnavailable => {
                "the signing keys are not available; retry later"
            }
            Rejection::ExtAuthUnauthorized => "the credentials were not accepted",
            Rejection::ExtAuthForbidden => "access to this resource is denied",
            Rejection::ExtAuthPending | Rejection::ExtAuthError => {
                "the authorization service is not available"
            }
            Rejection::HostError => "the authentication gateway could not process the request",
            Rejection::ExtraTokenInvalid => "another token in the request could not be verified",
            Rejection::TypNotAllowed => "the token type is not accepted",
            Rejection::SubjectNotAllowed => "the token subject is not accepted",
            Rejection::MissingRequiredClaim => "the token lacks a required claim",
            Rejection::DpopProofMissing => "a DPoP proof is required",
            Rejection::DpopProofInvalid => "the DPoP proof is not valid for this request",
            Rejection::DpopReplay => "the DPoP proof was already used",
            Rejection::DpopReplayCacheFull => "the DPoP proof cannot be checked for replay now",
            Rejection::DpopBindingMismatch => "the token is not bound to the DPoP proof key",
            Rejection::DpopRequired => "the token must be sent with a DPoP proof",
            Rejection::DpopBoundTokenAsBearer => {
                "a DPoP-bound token must be sent with the DPoP scheme"
            }
            Rejection::MtlsCertificateMissing => "a client certificate is required",
            Rejection::MtlsBindingMismatch => "the token is not bound to the client certificate",
            Rejection::TokenInactive => "the token is not active",
            Rejection::ClientNotAllowed => "the token was issued to a client that is not accepted",
            Rejection::IntrospectionPending | Rejection::IntrospectionError => {
                "the token could not be checked; retry later"
            }
            Rejection::ManagedHeaderPresent => {
                "the request carries a header that only the gateway may set"
            }
            Rejection::PathMalformed
            | Rejection::PathEscapedSlash
            | Rejection::PathParameters
            | Rejection::PathAmbiguous => "the request path is not accepted",
        }
    }

    /// Stable snake_case name for logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Rejection::MissingToken => "missing_token",
            Rejection::TokenTooLarge => "token_too_large",
            Rejection::MalformedToken => "malformed_token",
            Rejection::MalformedHeader => "malformed_header",
            Rejection::UnsupportedAlgorithm => "unsupported_algorithm",
            Rejection::UnsupportedCritical => "unsupported_critical",
            Rejection::KeyNotFound => "key_not_found",
            Rejection::InvalidSignature => "invalid_signature",
            Rejection::MalformedClaims => "malformed_claims",
            Rejection::Expired => "expired",
            Rejection::NotYetValid => "not_yet_valid",
            Rejection::MissingExpiration => "missing_expiration",
            Rejection::LifetimeTooLong => "lifetime_too_long",
            Rejection::IssuerMismatch => "issuer_mismatch",
            Rejection::AudienceNotAllowed => "audience_not_allowed",
            Rejection::ClaimsForbidden => "claims_forbidden",
            Rejection::ClaimsRejected => "claims_rejected",
            Rejection::ConfigInvalid => "config_invalid",
            Rejection::KeysLoading => "keys_loading",
            Rejection::KeysUnavailable => "keys_unavailable",
            Rejection::ExtAuthPending => "ext_auth_pending",
            Rejection::ExtAuthUnauthorized => "ext_auth_unauthorized",
            Rejection::ExtAuthForbidden => "ext_auth_forbidden",
            Rejection::ExtAuthError => "ext_auth_error",
            Rejection::HostError => "host_error",
            Rejection::ClaimNotForwardable => "claim_not_forwardable",
            Rejection::TooManyCandidateKeys => "too_many_candidate_keys",
            Rejection::DateOutOfRange => "date_out_of_range",
            Rejection::IssuedInFuture => "issued_in_future",
            Rejection::NegativeLifetime => "negative_lifetime",
            Rejection::ExtraTokenInvalid => "extra_token_invalid",
            Rejection::ManagedHeaderPresent => "managed_header_present",
            Rejection::PathMalformed => "path_malformed",
            Rejection::PathEscapedSlash => "path_escaped_slash",
            Rejection::PathParameters => "path_parameters",
            Rejection::PathAmbiguous => "path_ambiguous",
            Rejection::TypNotAllowed => "typ_not_allowed",
            Rejection::SubjectNotAllowed => "subject_not_allowed",
            Rejection::MissingRequiredClaim => "missing_required_claim",
            Rejection::DpopProofMissing => "dpop_proof_missing",
            Rejection::DpopProofInvalid => "dpop_proof_invalid",
            Rejection::DpopReplay => "dpop_replay",
            Rejection::DpopReplayCacheFull => "dpop_replay_cache_full",
            Rejection::DpopBindingMismatch => "dpop_binding_mismatch",
            Rejection::DpopRequired => "dpop_required",
            Rejection::DpopBoundTokenAsBearer => "dpop_bound_token_as_bearer",
            Rejection::MtlsCertificateMissing => "mtls_certificate_missing",
            Rejection::MtlsBindingMismatch => "mtls_binding_mismatch",
            Rejection::TokenInactive => "token_inactive",
            Rejection::ClientNotAllowed => "client_not_allowed",
            Rejection::IntrospectionPending => "introspection_pending",
            Rejection::IntrospectionError => "introspection_error",
        }
    }

    /// A problem with the DPoP proof itself (RFC 9449 §7.1 `invalid_dpop_proof`).
    pub fn is_dpop_proof(self) -> bool {
        matches!(
            self,
            Rejection::DpopProofMissing
                | Rejection::DpopProofInvalid
                | Rejection::DpopReplay
                | Rejection::DpopReplayCacheFull
        )
    }

    /// Any DPoP refusal: answered with a `DPoP` challenge (RFC 9449 §7.1) and `algs`.
    pub fn is_dpop(self) -> bool {
        self.is_dpop_proof()
            || matches!(
                self,
                Rejection::DpopBindingMismatch
                    | Rejection::DpopRequired
                    | Rejection::DpopBoundTokenAsBearer
            )
    }

    /// All variants, for tests and metric registration.
    pub const ALL: [Rejection; 52] = [
        Rejection::MissingToken,
        Rejection::TokenTooLarge,
        Rejection::MalformedToken,
        Rejection::MalformedHeader,
        Rejection::UnsupportedAlgorithm,
        Rejection::UnsupportedCritical,
        Rejection::KeyNotFound,
        Rejection::InvalidSignature,
        Rejection::MalformedClaims,
        Rejection::Expired,
        Rejection::NotYetValid,
        Rejection::MissingExpiration,
        Rejection::LifetimeTooLong,
        Rejection::IssuerMismatch,
        Rejection::AudienceNotAllowed,
        Rejection::ClaimsForbidden,
        Rejection::ClaimsRejected,
        Rejection::ConfigInvalid,
        Rejection::KeysLoading,
        Rejection::KeysUnavailable,
        Rejection::ExtAuthPending,
        Rejection::ExtAuthUnauthorized,
        Rejection::ExtAuthForbidden,
        Rejection::ExtAuthError,
        Rejection::HostError,
        Rejection::ClaimNotForwardable,
        Rejection::TooManyCandidateKeys,
        Rejection::DateOutOfRange,
        Rejection::IssuedInFuture,
        Rejection::NegativeLifetime,
        Rejection::ExtraTokenInvalid,
        Rejection::ManagedHeaderPresent,
        Rejection::PathMalformed,
        Rejection::PathEscapedSlash,
        Rejection::PathParameters,
        Rejection::PathAmbiguous,
        Rejection::TypNotAllowed,
        Rejection::SubjectNotAllowed,
        Rejection::MissingRequiredClaim,
        Rejection::DpopProofMissing,
        Rejection::DpopProofInvalid,
        Rejection::DpopReplay,
        Rejection::DpopReplayCacheFull,
        Rejection::DpopBindingMismatch,
        Rejection::DpopRequired,
        Rejection::DpopBoundTokenAsBearer,
        Rejection::MtlsCertificateMissing,
        Rejection::MtlsBindingMismatch,
        Rejection::TokenInactive,
        Rejection::ClientNotAllowed,
        Rejection::IntrospectionPending,
        Rejection::IntrospectionError,
    ];
}

/// A local response the host should send instead of forwarding the request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalResponse {
    pub status: u32,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl LocalResponse {
    /// `on_keys_loading: retry_after`: the keys are being fetched; the client should retry
    /// in a second (RFC 9110 §10.2.3).
    pub fn keys_loading_retry_after() -> LocalResponse {
        let rejection = Rejection::KeysLoading;
        LocalResponse {
            status: 503,
            headers: vec![
                ("retry-after".to_string(), "1".to_string()),
                ("content-type".to_string(), "application/json".to_string()),
                ("cache-control".to_string(), "no-store".to_string()),
            ],
            body: serde_json::json!({
                "error": "temporarily_unavailable",
                "error_description": rejection.description(),
            })
            .to_string(),
        }
    }

    /// The RFC 6750 answer for `rejection`, with `realm` in `WWW-Authenticate`.
    pub fn for_rejection(rejection: Rejection, realm: &str) -> LocalResponse {
        let mut response = LocalResponse {
            headers: Vec::with_capacity(3),
            ..LocalResponse::default()
        };
        response.write_rejection(rejection, realm);
        response
    }

    /// [`LocalResponse::for_rejection`] written over this response (a previous one): its
    /// strings and header list keep their capacity, so answering like last time allocates
    /// nothing.
    pub fn write_rejection(&mut self, rejection: Rejection, realm: &str) {
        use std::fmt::Write;
        let mut len = 0;
        // A challenge only where credentials are the problem (never on 400 or 500).
        if matches!(rejection.status(), 401 | 403) {
            put_header(&mut self.headers, &mut len, "www-authenticate", |value| {
                // Writing to a String cannot fail.
                let _ = match rejection.bearer_error() {
                    Some(code) => write!(
                        value,
                        "Bearer realm=\"{realm}\", error=\"{code}\", error_description=\"{}\"",
                        rejection.description()
                    ),
                    None => write!(value, "Bearer realm=\"{realm}\""),
                };
            });
        }
        put_header(&mut self.headers, &mut len, "content-type", |value| {
            value.push_str("application/json")
        });
        put_header(&mut self.headers, &mut len, "cache-control", |value| {
            value.push_str("no-store")
        });
        self.headers.truncate(len);
        self.body.clear();
        write_json_error_body(
            &mut self.body,
            rejection.body_error(),
            rejection.description(),
        );
        self.status = rejection.status();
    }
}

/// Header number `*len` of `headers` becomes (`name`, what `value` writes into an empty
/// string), over the strings that were there.
fn put_header(
    headers: &mut Vec<(String, String)>,
    len: &mut usize,
    name: &str,
    value: impl FnOnce(&mut String),
) {
    match headers.get_mut(*len) {
        Some((old_name, old_value)) => {
            old_name.clear();
            old_name.push_str(name);
            old_value.clear();
            value(old_value);
        }
        None => {
            let mut text = String::new();
            value(&mut text);
            headers.push((name.to_string(), text));
        }
    }
    *len += 1;
}

/// `{"error":…,"error_description":…}` exactly as `serde_json` writes it, in one allocation.
#[cfg(test)]
fn json_error_body(error: &str, description: &str) -> String {
    let mut body = String::new();
    write_json_error_body(&mut body, error, description);
    body
}

/// [`json_error_body`] appended to `body` (reserving what it needs at once).
fn write_json_error_body(body: &mut String, error: &str, description: &str) {
    body.reserve(36 + error.len() + description.len());
    body.push_str("{\"error\":");
    push_json_string(body, error);
    body.push_str(",\"error_description\":");
    push_json_string(body, description);
    body.push('}');
}

/// A JSON string literal with `serde_json`'s escapes.
fn push_json_string(out: &mut String, text: &str) {
    use std::fmt::Write;
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c < ' ' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_body_is_what_serde_json_writes() {
        for r in Rejection::ALL {
            let want = serde_json::json!({
                "error": r.body_error(),
                "error_description": r.description(),
            })
            .to_string();
            assert_eq!(json_error_body(r.body_error(), r.description()), want);
        }
        let odd = "a\"b\\c\nd\re\tf\u{8}g\u{c}h\u{1}i\u{7f}é";
        let want = serde_json::json!({"error": odd, "error_description": ""}).to_string();
        assert_eq!(json_error_body(odd, ""), want);
    }

    #[test]
    fn every_rejection_has_distinct_name_and_sane_status() {
        let mut names: Vec<_> = Rejection::ALL.iter().map(|r| r.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Rejection::ALL.len());
        for r in Rejection::ALL {
            assert!(matches!(r.status(), 400 | 401 | 403 | 500), "{r:?}");
            assert!(!r.description().is_empty());
        }
    }

    #[test]
    fn missing_token_challenge_has_no_error_code() {
        let resp = LocalResponse::for_rejection(Rejection::MissingToken, "api");
        assert_eq!(resp.status, 401);
        assert_eq!(
            resp.headers[0],
            ("www-authenticate".into(), "Bearer realm=\"api\"".into())
        );
        let body: serde_json::Value = serde_json::from_str(&resp.body).unwrap();
        assert_eq!(body["error"], "unauthorized");
    }

    #[test]
    fn invalid_token_challenge_names_the_error() {
        let resp = LocalResponse::for_rejection(Rejection::Expired, "api");
        assert_eq!(resp.status, 401);
        assert_eq!(
            resp.headers[0].1,
            "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"the token has expired\""
        );
        let body: serde_json::Value = serde_json::from_str(&resp.body).unwrap();
        assert_eq!(body["error"], "invalid_token");
        assert_eq!(body["error_description"], "the token has expired");
    }

    #[test]
    fn audience_rejection_is_403_insufficient_scope() {
        let resp = LocalResponse::for_rejection(Rejection::AudienceNotAllowed, "api");
        assert_eq!(resp.status, 403);
        assert!(resp.headers[0].1.contains("error=\"insufficient_scope\""));
    }

    #[test]
    fn config_error_is_500_without_challenge() {
        let resp = LocalResponse::for_rejection(Rejection::ConfigInvalid, "api");
        assert_eq!(resp.status, 500);
        assert!(resp.headers.iter().all(|(n, _)| n != "www-authenticate"));
    }
}
