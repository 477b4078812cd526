//! Hostile bytes and hostile hosts, table-driven: each row is a configuration, a request made
//! of arbitrary bytes, the host calls the host refuses (a fault plan), the decision the filter
//! must make, and — for every row — no trap. A trap is observed as a value
//! ([`HostFailure::Trap`]), never as a harness panic: real hosts turn it into a 500 (NGINX,
//! which also *resumes* a paused request), or fail the whole VM (Envoy).
//!
//! Every row gets a fresh gateway (a trap poisons the VM). Rows with a fault also check that
//! the fault was actually injected, so no row passes because the filter never made the call.
// A test (or measurement) program: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use jwtgate_host_tests::{
    demo_rsa_jwk, hs256_token, rs256_token, shared_filter, CallAnswer, Faults, Gateway, HeaderCase,
    HostFailure, Hostcall, RawSent, Reply,
};
use proxy_wasm_host::abi::v0_2_1::types::Status;
use serde_json::{json, Value};

const NOW: u64 = 1_700_000_000;
const SECRET: &str = "0123456789abcdef0123456789abcdef";

/// Headers the filter manages: whatever the client sends under these names (any case, `_` for
/// `-`) must never reach the upstream.
const MANAGED: [&str; 2] = ["x-user-id", "x-jwt-payload"];

fn token(sub: &str) -> String {
    let claims = json!({"iss": "https://issuer.test", "aud": "api", "sub": sub, "exp": NOW + 300});
    hs256_token(
        SECRET.as_bytes(),
        r#"{"alg":"HS256","typ":"JWT","kid":"k1"}"#,
        &claims.to_string(),
    )
}

/// A token with a valid structure whose signature does not match (payload swapped).
fn forged() -> String {
    let good = token("alice");
    let other = token("mallory");
    let parts: Vec<&str> = good.split('.').collect();
    let payload = other.split('.').nth(1).unwrap();
    format!("{}.{}.{}", parts[0], payload, parts[2])
}

fn bearer(t: &str) -> Vec<u8> {
    format!("Bearer {t}").into_bytes()
}

/// The configurations the rows use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cfg {
    /// HS256 provider (claim header, payload header, token also from cookie `jwt`), `/public`
    /// open, `/ext` behind an auth service, everything else protected.
    Hs,
    /// A remote JWKS provider (RS256, demo key), workers sharing the fetched set through
    /// shared data.
    RemoteShared,
}

fn config(cfg: Cfg) -> Value {
    match cfg {
        Cfg::Hs => json!({
            "providers": {"hs": {
                "issuer": "https://issuer.test", "audiences": ["api"],
                "keys": [{"kid": "k1", "alg": "HS256", "secret": SECRET}],
                "from_headers": [{"name": "authorization", "value_prefix": "Bearer "}],
                "from_cookies": ["jwt"],
                "claim_to_headers": [{"header_name": "x-user-id", "claim_name": "sub"}],
                "forward_payload_header": "x-jwt-payload"
            }},
            "ext_auth": {"authz": {
                "http_uri": {"uri": "http://auth.test/check", "cluster": "auth", "timeout": "1s"},
                "allowed_upstream_headers": ["x-user-id"]
            }},
            "rules": [
                {"match": {"prefix": "/public"}},
                {"match": {"prefix": "/ext"}, "requires": {"ext_auth": "authz"}},
                {"match": {"prefix": "/"}, "requires": {"provider_name": "hs"}}
            ]
        }),
        Cfg::RemoteShared => json!({
            "share_jwks": true,
            "providers": {"idp": {
                "issuer": "https://issuer.test", "audiences": ["api"],
                "remote_jwks": {"http_uri": {"uri": "https://idp.test/jwks.json", "cluster": "idp", "timeout": "2s"},
                                "cache_duration": "600s"},
                "claim_to_headers": [{"header_name": "x-user-id", "claim_name": "sub"}]
            }},
            "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "idp"}}]
        }),
    }
}

fn rs_token(sub: &str) -> String {
    let claims = json!({"iss": "https://issuer.test", "aud": "api", "sub": sub, "exp": NOW + 300});
    rs256_token(
        r#"{"alg":"RS256","typ":"JWT","kid":"rs1"}"#,
        &claims.to_string(),
    )
}

fn rs_forged() -> String {
    let good = rs_token("alice");
    let other = rs_token("mallory");
    let parts: Vec<&str> = good.split('.').collect();
    format!(
        "{}.{}.{}",
        parts[0],
        other.split('.').nth(1).unwrap(),
        parts[2]
    )
}

/// What the test does after sending the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    /// Nothing: the request is decided in `on_request_headers` (or stays paused).
    Direct,
    /// The request pauses for the auth service, which allows it (200, `x-user-id: carol`).
    ExtAuthAllow,
    /// The request pauses on a cold JWKS fetch, which is answered with the demo key.
    ColdJwks,
}

/// The decision a row expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Forwarded; `x-user-id` upstream is exactly this (or absent), nothing the client sent.
    Forward(Option<&'static str>),
    /// 401 `unauthorized`, bare `Bearer realm=...` challenge.
    Missing,
    /// 401 `invalid_token` (body and `WWW-Authenticate` error).
    Invalid,
    /// 500 `server_error`, not forwarded.
    Refused,
    /// Never forwarded: held (paused, no continue) or answered 5xx.
    NotForwarded,
    /// Forwarded or refused with exactly this status (a pinned choice).
    Pinned(u32),
}

struct Row {
    name: &'static str,
    cfg: Cfg,
    path: &'static [u8],
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    faults: Faults,
    case: HeaderCase,
    flow: Flow,
    expect: Expect,
}

fn row(
    name: &'static str,
    path: &'static [u8],
    headers: Vec<(&[u8], Vec<u8>)>,
    expect: Expect,
) -> Row {
    Row {
        name,
        cfg: Cfg::Hs,
        path,
        headers: headers.into_iter().map(|(n, v)| (n.to_vec(), v)).collect(),
        faults: Faults::none(),
        case: HeaderCase::Exact,
        flow: Flow::Direct,
        expect,
    }
}

impl Row {
    fn faults(mut self, faults: Faults) -> Row {
        self.faults = faults;
        self
    }
    fn case(mut self, case: HeaderCase) -> Row {
        self.case = case;
        self
    }
    fn flow(mut self, flow: Flow) -> Row {
        self.flow = flow;
        self
    }
    fn cfg(mut self, cfg: Cfg) -> Row {
        self.cfg = cfg;
        self
    }
}

/// What happened, as a value.
#[derive(Debug)]
enum Seen {
    Replied(Reply),
    /// Still paused after the flow: never continued, never answered.
    Held,
}

fn start(cfg: Cfg) -> Gateway {
    let g = shared_filter()
        .start(&config(cfg).to_string())
        .unwrap_or_else(|e| panic!("{e}"));
    g.set_now(NOW);
    g
}

/// Runs one row on a fresh gateway: the request, then its flow. `Err` is a trap.
fn run(r: &Row) -> (Result<Seen, HostFailure>, Gateway) {
    let mut g = start(r.cfg);
    g.set_header_case(r.case);
    g.set_faults(r.faults.clone());
    let headers: Vec<(&[u8], &[u8])> = r
        .headers
        .iter()
        .map(|(n, v)| (n.as_slice(), v.as_slice()))
        .collect();
    let seen = (|| {
        let sent = g.send_bytes(b"GET", r.path, &headers)?;
        let ctx = match sent {
            RawSent::Done(reply) => return Ok(Seen::Replied(reply)),
            RawSent::Paused(ctx) => ctx,
        };
        let callouts = g.take_callouts();
        match r.flow {
            Flow::Direct => {}
            Flow::ExtAuthAllow => {
                let c = callouts.first().expect("an auth callout").clone();
                g.try_deliver(&c, CallAnswer::status(200).header(b"x-user-id", b"carol"))?;
            }
            Flow::ColdJwks => {
                let c = callouts.first().expect("a JWKS fetch").clone();
                let jwks = json!({"keys": [demo_rsa_jwk("rs1")]}).to_string();
                g.try_deliver(&c, CallAnswer::status(200).body(jwks.as_bytes()))?;
            }
        }
        match g.try_reply(ctx)? {
            Some(reply) => Ok(Seen::Replied(reply)),
            None => {
                // A held request: a tick must not release it either; then the client leaves.
                g.advance_millis(1_000);
                g.try_tick()?;
                if let Some(reply) = g.try_reply(ctx)? {
                    return Ok(Seen::Replied(reply));
                }
                g.try_cancel(ctx)?;
                Ok(Seen::Held)
            }
        }
    })();
    (seen, g)
}

fn normalised(name: &[u8]) -> String {
    String::from_utf8_lossy(name)
        .to_ascii_lowercase()
        .replace('_', "-")
}

/// Checks one row's result against its expectation; `Err` says what is wrong.
fn check(r: &Row, seen: &Result<Seen, HostFailure>, g: &Gateway) -> Result<(), String> {
    let seen = match seen {
        Err(e) => return Err(format!("TRAP: {e}")),
        Ok(seen) => seen,
    };
    if g.trapped() {
        return Err("TRAP: the VM is poisoned".into());
    }
    if !r.faults.is_empty() && g.injected().is_empty() {
        return Err(format!(
            "the fault plan was never exercised: {:?}",
            r.faults
        ));
    }
    let client_values: Vec<&[u8]> = r
        .headers
        .iter()
        .filter(|(n, _)| MANAGED.contains(&normalised(n).as_str()))
        .map(|(_, v)| v.as_slice())
        .collect();
    match (r.expect, seen) {
        (Expect::NotForwarded, Seen::Held) => Ok(()),
        (Expect::NotForwarded, Seen::Replied(reply))
            if !reply.is_forwarded() && reply.status() >= 500 =>
        {
            Ok(())
        }
        (_, Seen::Held) => Err("held (paused, never answered or continued)".into()),
        (Expect::Forward(user), Seen::Replied(reply)) => {
            let Reply::Forwarded { headers } = reply else {
                return Err(format!(
                    "not forwarded: {} {}",
                    reply.status(),
                    reply.body_text()
                ));
            };
            for (n, v) in headers {
                let name = normalised(n);
                if MANAGED.contains(&name.as_str()) && client_values.contains(&v.as_slice()) {
                    return Err(format!(
                        "the client's {}: {} reached the upstream: {:?}",
                        String::from_utf8_lossy(n),
                        String::from_utf8_lossy(v),
                        reply.outcome()
                    ));
                }
                if name == "x-user-id" && Some(v.as_slice()) != user.map(str::as_bytes) {
                    return Err(format!(
                        "x-user-id upstream {:?}, want {user:?}",
                        String::from_utf8_lossy(v)
                    ));
                }
                if name == "authorization" && r.flow != Flow::ExtAuthAllow {
                    return Err("the token reached the upstream (forward: false)".into());
                }
            }
            if let Some(user) = user {
                if reply.header_all("x-user-id") != vec![user.as_bytes()] {
                    return Err(format!("want one x-user-id: {user}: {:?}", reply.outcome()));
                }
            }
            // Bytes the filter does not manage reach the upstream unchanged.
            for (n, v) in &r.headers {
                let name = normalised(n);
                if MANAGED.contains(&name.as_str())
                    || name == "authorization"
                    || name == "cookie"
                    || r.case != HeaderCase::Exact
                {
                    continue;
                }
                if !headers.iter().any(|(hn, hv)| hn == n && hv == v) {
                    return Err(format!(
                        "{}: {:?} did not reach the upstream unchanged",
                        String::from_utf8_lossy(n),
                        v
                    ));
                }
            }
            if reply.header(":path") != Some(r.path) {
                return Err(format!("`:path` changed: {:?}", reply.header(":path")));
            }
            Ok(())
        }
        (Expect::Pinned(status), Seen::Replied(reply)) => {
            if reply.status() == status {
                Ok(())
            } else {
                Err(format!(
                    "pinned {status}, got {} {}",
                    reply.status(),
                    reply.body_text()
                ))
            }
        }
        (Expect::NotForwarded, Seen::Replied(reply)) => Err(format!(
            "must not be forwarded: got {} {}",
            reply.status(),
            reply.body_text()
        )),
        (expect, Seen::Replied(reply)) => {
            let (status, error, challenge) = match expect {
                Expect::Missing => (401, "unauthorized", Some(None)),
                Expect::Invalid => (401, "invalid_token", Some(Some("invalid_token"))),
                _ => (500, "server_error", None),
            };
            if reply.is_forwarded() || reply.status() != status {
                return Err(format!(
                    "want {status} {error}, got {} {}",
                    reply.status(),
                    reply.body_text()
                ));
            }
            let body: Value =
                serde_json::from_slice(reply.body()).map_err(|e| format!("body: {e}"))?;
            if body["error"] != error {
                return Err(format!("want error {error}: {body}"));
            }
            if let Some(code) = challenge {
                let www = reply.header_text("www-authenticate").unwrap_or_default();
                let has = |c: &str| www.contains(&format!("error=\"{c}\""));
                let ok = match code {
                    None => www.starts_with("Bearer realm=") && !www.contains("error="),
                    Some(c) => has(c),
                };
                if !ok {
                    return Err(format!("WWW-Authenticate {www:?}, want error {code:?}"));
                }
            }
            Ok(())
        }
    }
}

fn h(name: &str) -> &[u8] {
    name.as_bytes()
}

fn rows() -> Vec<Row> {
    let alice = token("alice");
    let ok = || (h("authorization"), bearer(&alice));
    let spoofs = || -> Vec<(&'static [u8], Vec<u8>)> {
        let mut v: Vec<(&'static [u8], Vec<u8>)> = Vec::new();
        for (i, name) in [
            "X-User-Id",
            "x_user_id",
            "x-user_id",
            "x-user-id",
            "X-JWT-Payload",
            "x_jwt_payload",
        ]
        .iter()
        .enumerate()
        {
            // Each one twice (duplicates), with distinct values.
            v.push((name.as_bytes(), format!("spoof-{i}-a").into_bytes()));
            v.push((name.as_bytes(), format!("spoof-{i}-b").into_bytes()));
        }
        v
    };
    let mut rows = vec![
        // --- obs-text (0x80-0xFF) in headers the filter does not need as text ---
        row(
            "latin1 x-anything, valid token",
            b"/api",
            vec![ok(), (h("x-anything"), b"caf\xE9".to_vec())],
            Expect::Forward(Some("alice")),
        ),
        row(
            "latin1 user-agent, valid token",
            b"/api",
            vec![
                ok(),
                (h("user-agent"), b"Mozilla/5.0 (\xC0\xFF\x80)".to_vec()),
            ],
            Expect::Forward(Some("alice")),
        ),
        row(
            "latin1 x-anything, no token",
            b"/api",
            vec![(h("x-anything"), b"caf\xE9".to_vec())],
            Expect::Missing,
        ),
        row(
            "latin1 other cookie, valid bearer",
            b"/api",
            vec![ok(), (h("cookie"), b"theme=caf\xE9".to_vec())],
            Expect::Forward(Some("alice")),
        ),
        row(
            "latin1 other cookie, token in cookie",
            b"/api",
            vec![(
                h("cookie"),
                [b"theme=caf\xE9; jwt=".to_vec(), alice.clone().into_bytes()].concat(),
            )],
            Expect::Forward(Some("alice")),
        ),
        row(
            "latin1 other cookie, no token",
            b"/api",
            vec![(h("cookie"), b"theme=caf\xE9".to_vec())],
            Expect::Missing,
        ),
        row(
            "latin1 on an open route",
            b"/public/x",
            vec![(h("x-anything"), b"caf\xE9".to_vec())],
            Expect::Forward(None),
        ),
        row(
            "0xFF in a header name",
            b"/api",
            vec![ok(), (b"x-\xFFname".as_slice(), b"v".to_vec())],
            Expect::Forward(Some("alice")),
        ),
        // --- raw bytes in :path (NGINX decodes %ff to 0xFF) ---
        row(
            "raw 0xFF path, open route",
            b"/public/\xFF",
            vec![],
            Expect::Forward(None),
        ),
        row(
            "raw 0xFF path, protected, no token",
            b"/api/\xFF",
            vec![],
            Expect::Missing,
        ),
        row(
            "raw 0xFF path, protected, valid token",
            b"/api/\xFF",
            vec![ok()],
            Expect::Forward(Some("alice")),
        ),
        row(
            "raw 0xE9 in the query, valid token",
            b"/api?q=caf\xE9",
            vec![ok()],
            Expect::Forward(Some("alice")),
        ),
        // --- non-UTF-8 in the token's header ---
        row(
            "non-UTF-8 bearer token",
            b"/api",
            vec![(h("authorization"), b"Bearer \xE9\xFF\x80.abc.def".to_vec())],
            Expect::Invalid,
        ),
        row(
            "valid token + trailing 0xE9",
            b"/api",
            vec![(
                h("authorization"),
                [bearer(&alice), b"\xE9".to_vec()].concat(),
            )],
            Expect::Invalid,
        ),
        row(
            "non-UTF-8 token cookie",
            b"/api",
            vec![(h("cookie"), b"jwt=\xE9\xFF.abc.def".to_vec())],
            Expect::Invalid,
        ),
        // --- duplicate Authorization ---
        row(
            "valid + forged Authorization",
            b"/api",
            vec![ok(), (h("authorization"), bearer(&forged()))],
            Expect::Invalid,
        ),
        row(
            "forged + valid Authorization",
            b"/api",
            vec![(h("authorization"), bearer(&forged())), ok()],
            Expect::Invalid,
        ),
        row(
            "two copies of one valid token",
            b"/api",
            vec![ok(), ok()],
            Expect::Pinned(DUPLICATE_SAME_TOKEN),
        ),
        // --- the host refuses calls ---
        row(
            "read headers refused, protected",
            b"/api",
            vec![ok()],
            Expect::Refused,
        )
        .faults(Faults::none().fail(Hostcall::ReadHeaders, Status::InternalFailure)),
        row(
            "read headers refused, open route",
            b"/public/x",
            vec![],
            Expect::Refused,
        )
        .faults(Faults::none().fail(Hostcall::ReadHeaders, Status::InternalFailure)),
        row(
            "header writes refused (map status), valid token",
            b"/api",
            vec![ok()],
            Expect::Refused,
        )
        .faults(Faults::none().fail(Hostcall::WriteHeaders, Status::InternalFailure)),
        row(
            "set/add/remove refused (BAD_ARGUMENT), valid token",
            b"/api",
            vec![ok()],
            Expect::Refused,
        )
        .faults(Faults::none().fail_all(
            &[
                Hostcall::SetHeader,
                Hostcall::AddHeader,
                Hostcall::RemoveHeader,
            ],
            Status::BadArgument,
        )),
        row(
            "only the 2nd header write refused, valid token",
            b"/api",
            vec![ok()],
            Expect::Refused,
        )
        .faults(Faults::none().fail_nth(Hostcall::WriteHeaders, 2, Status::BadArgument)),
        row(
            "remove refused, spoofed x-user-id on an open route",
            b"/public/x",
            vec![(h("x-user-id"), b"admin".to_vec())],
            Expect::Refused,
        )
        .faults(Faults::none().fail(Hostcall::RemoveHeader, Status::BadArgument)),
        row(
            "local response refused, no token",
            b"/api",
            vec![],
            Expect::NotForwarded,
        )
        .faults(Faults::none().fail(Hostcall::LocalResponse, Status::InternalFailure)),
        row(
            "local response refused, forged token",
            b"/api",
            vec![(h("authorization"), bearer(&forged()))],
            Expect::NotForwarded,
        )
        .faults(Faults::none().fail(Hostcall::LocalResponse, Status::BadArgument)),
        row(
            "local response and header writes refused",
            b"/api",
            vec![ok()],
            Expect::NotForwarded,
        )
        .faults(
            Faults::none()
                .fail(Hostcall::LocalResponse, Status::InternalFailure)
                .fail(Hostcall::WriteHeaders, Status::InternalFailure),
        ),
        row(
            "continue refused after ext_auth allow",
            b"/ext/x",
            vec![(h("authorization"), b"Basic YTpi".to_vec())],
            Expect::NotForwarded,
        )
        .faults(Faults::none().fail(Hostcall::ContinueStream, Status::BadArgument))
        .flow(Flow::ExtAuthAllow),
        row(
            "continue refused after a cold JWKS fetch",
            b"/api",
            vec![(h("authorization"), bearer(&rs_token("alice")))],
            Expect::NotForwarded,
        )
        .faults(Faults::none().fail(Hostcall::ContinueStream, Status::InternalFailure))
        .cfg(Cfg::RemoteShared)
        .flow(Flow::ColdJwks),
        row(
            "metrics refused, valid token",
            b"/api",
            vec![ok()],
            Expect::Forward(Some("alice")),
        )
        .faults(Faults::none().fail_all(&Hostcall::METRICS, Status::InternalFailure)),
        row(
            "metrics refused, forged token",
            b"/api",
            vec![(h("authorization"), bearer(&forged()))],
            Expect::Invalid,
        )
        .faults(Faults::none().fail_all(&Hostcall::METRICS, Status::InternalFailure)),
        row(
            "increments refused (defines ok), valid token",
            b"/api",
            vec![ok()],
            Expect::Forward(Some("alice")),
        )
        .faults(Faults::none().fail(Hostcall::IncrementMetric, Status::BadArgument)),
        row(
            "shared data refused, valid RS256 token",
            b"/api",
            vec![(h("authorization"), bearer(&rs_token("alice")))],
            Expect::Forward(Some("alice")),
        )
        .faults(Faults::none().fail_all(&Hostcall::SHARED_DATA, Status::InternalFailure))
        .cfg(Cfg::RemoteShared)
        .flow(Flow::ColdJwks),
        row(
            "shared data refused, forged RS256 token",
            b"/api",
            vec![(h("authorization"), bearer(&rs_forged()))],
            Expect::Invalid,
        )
        .faults(Faults::none().fail_all(&Hostcall::SHARED_DATA, Status::InternalFailure))
        .cfg(Cfg::RemoteShared)
        .flow(Flow::ColdJwks),
    ];
    // --- managed header spoofing: mixed case, underscores, duplicates; three host header maps ---
    for case in [
        HeaderCase::Exact,
        HeaderCase::Insensitive,
        HeaderCase::Lowercase,
    ] {
        rows.push(
            row(
                "spoofed managed headers, open route",
                b"/public/x",
                spoofs(),
                Expect::Forward(None),
            )
            .case(case),
        );
        let mut with_token = spoofs();
        with_token.insert(3, ok());
        rows.push(
            row(
                "spoofed managed headers, valid token",
                b"/api",
                with_token,
                Expect::Forward(Some("alice")),
            )
            .case(case),
        );
        rows.push(
            row(
                "spoofed managed headers, ext_auth allow",
                b"/ext/x",
                [vec![(h("authorization"), b"Basic YTpi".to_vec())], spoofs()].concat(),
                Expect::Forward(Some("carol")),
            )
            .case(case)
            .flow(Flow::ExtAuthAllow),
        );
    }
    rows
}

/// Two `Authorization` headers carrying the same valid token: pinned to what the filter does
/// (forwarded); the valid + forged pair must be refused whatever the order.
const DUPLICATE_SAME_TOKEN: u32 = 200;

#[test]
fn hostile_host_table() {
    let rows = rows();
    let mut failures = Vec::new();
    for r in &rows {
        let (seen, g) = run(r);
        let verdict = check(r, &seen, &g);
        let label = format!("{} [{:?}]", r.name, r.case);
        match verdict {
            Ok(()) => eprintln!("ok    {label}"),
            Err(why) => {
                eprintln!("FAIL  {label}: {why}");
                failures.push(format!("{label}: {why}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}
