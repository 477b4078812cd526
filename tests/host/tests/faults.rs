//! Remote calls under faults, table-driven: the remote JWKS fetch and the auth service answer
//! with odd bytes, short or missing bodies, too many keys, too large bodies, late or never; the
//! requests waiting on them must each be decided (refused / waited / answered) with the pinned
//! status and reason, nothing may stay paused, and the filter must never trap. A trap is a
//! value ([`HostFailure`]), reported as `TRAP: ...` for the row.
//!
//! Keys: the demo's RSA key (`demo/demo-rs256-*.pem`), tokens signed here with the `rsa`
//! crate, so this table does not need the PyJWT corpus.
// A test (or measurement) program: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use jwtgate_host_tests::{
    demo_rsa_jwk, rs256_token, shared_filter, CallAnswer, Callout, Faults, Gateway, HostFailure,
    Hostcall, RawSent, Reply,
};
use proxy_wasm_host::abi::v0_2_1::types::Status;
use proxy_wasm_host::abi::v0_2_1::ContextId;
use serde_json::{json, Value};

const NOW: u64 = 1_700_000_000;

type Check = Result<(), String>;

/// One row of the fault table.
type Scenario = fn() -> Check;

fn trap(e: HostFailure) -> String {
    if e.is_trap() {
        format!("TRAP: {e}")
    } else {
        format!("host refused: {e}")
    }
}

fn token_kid(kid: &str, sub: &str) -> String {
    // Valid for a day: the refresh rows move the clock past cache_duration (600 s).
    let claims =
        json!({"iss": "https://issuer.test", "aud": "api", "sub": sub, "exp": NOW + 86_400});
    rs256_token(
        &json!({"alg": "RS256", "typ": "JWT", "kid": kid}).to_string(),
        &claims.to_string(),
    )
}

fn valid() -> String {
    token_kid("rs1", "alice")
}

/// The valid token's header and signature over another payload: a bad signature.
fn forged() -> String {
    let good = valid();
    let other = token_kid("rs1", "mallory");
    let p: Vec<&str> = good.split('.').collect();
    format!("{}.{}.{}", p[0], other.split('.').nth(1).unwrap(), p[2])
}

fn jwks() -> Vec<u8> {
    json!({"keys": [demo_rsa_jwk("rs1")]})
        .to_string()
        .into_bytes()
}

fn remote(extra: Value) -> Gateway {
    let mut remote = json!({
        "http_uri": {"uri": "https://idp.test/realms/r1/jwks.json", "cluster": "idp", "timeout": "2s"},
        "cache_duration": "600s"
    });
    let mut top = json!({
        "providers": {"idp": {
            "issuer": "https://issuer.test", "audiences": ["api"],
            "claim_to_headers": [{"header_name": "x-user-id", "claim_name": "sub"}]
        }},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "idp"}}]
    });
    for (k, v) in extra.as_object().unwrap() {
        if k == "jwks_unavailable_status" || k == "share_jwks" {
            top[k] = v.clone();
        } else {
            remote[k] = v.clone();
        }
    }
    top["providers"]["idp"]["remote_jwks"] = remote;
    let g = shared_filter()
        .start(&top.to_string())
        .unwrap_or_else(|e| panic!("{e}"));
    g.set_now(NOW);
    g
}

fn ext(extra: Value) -> Gateway {
    let mut s = json!({
        "http_uri": {"uri": "http://auth.test/check", "cluster": "auth", "timeout": "1s"},
        "allowed_upstream_headers": ["x-user-id"]
    });
    for (k, v) in extra.as_object().unwrap() {
        s[k] = v.clone();
    }
    let c = json!({
        "ext_auth": {"authz": s},
        "rules": [{"match": {"prefix": "/"}, "requires": {"ext_auth": "authz"}}]
    });
    let g = shared_filter()
        .start(&c.to_string())
        .unwrap_or_else(|e| panic!("{e}"));
    g.set_now(NOW);
    g
}

fn send(g: &mut Gateway, token: &str) -> Result<RawSent, String> {
    g.try_send(
        "GET",
        "/api",
        &[("authorization", &format!("Bearer {token}"))],
    )
    .map_err(trap)
}

fn paused(g: &mut Gateway, token: &str) -> Result<ContextId, String> {
    match send(g, token)? {
        RawSent::Paused(ctx) => Ok(ctx),
        RawSent::Done(r) => Err(format!(
            "expected to wait, got {} {}",
            r.status(),
            r.body_text()
        )),
    }
}

fn done(g: &mut Gateway, token: &str) -> Result<Reply, String> {
    match send(g, token)? {
        RawSent::Done(r) => Ok(r),
        RawSent::Paused(_) => Err("paused, expected an immediate decision".into()),
    }
}

fn one_callout(g: &Gateway) -> Result<Callout, String> {
    let mut c = g.take_callouts();
    if c.len() != 1 {
        return Err(format!(
            "expected exactly one callout, got {}: {c:?}",
            c.len()
        ));
    }
    Ok(c.remove(0))
}

fn deliver(g: &mut Gateway, c: &Callout, answer: CallAnswer) -> Check {
    g.try_deliver(c, answer).map_err(trap)
}

/// A late delivery: the guest may see it, or the crate may refuse it (the callout ended with
/// its context); a trap is the only failure.
fn deliver_late(g: &mut Gateway, c: &Callout, answer: CallAnswer) -> Check {
    match g.try_deliver(c, answer) {
        Err(e) if e.is_trap() => Err(format!("TRAP: {e}")),
        _ => Ok(()),
    }
}

fn reply(g: &mut Gateway, ctx: ContextId) -> Result<Reply, String> {
    g.try_reply(ctx)
        .map_err(trap)?
        .ok_or_else(|| "still paused".to_string())
}

fn tick(g: &mut Gateway) -> Check {
    g.try_tick().map_err(trap)
}

fn alice(r: &Reply) -> Check {
    match r.header_all("x-user-id").as_slice() {
        [b"alice"] if r.is_forwarded() => Ok(()),
        _ => Err(format!(
            "want forwarded as alice, got {} {:?} {}",
            r.status(),
            r.headers(),
            r.body_text()
        )),
    }
}

/// Refused with `status`; `bearer_error`: the `WWW-Authenticate` error code it must carry.
fn refused(r: &Reply, status: u32, bearer_error: Option<&str>) -> Check {
    if r.is_forwarded() || r.status() != status {
        return Err(format!(
            "want {status}, got {} {}",
            r.status(),
            r.body_text()
        ));
    }
    if let Some(code) = bearer_error {
        let www = r.header_text("www-authenticate").unwrap_or_default();
        if !www.contains(&format!("error=\"{code}\"")) {
            return Err(format!("want WWW-Authenticate error {code}, got {www:?}"));
        }
    }
    Ok(())
}

/// Refused with one of `statuses`, never forwarded.
fn refused_any(r: &Reply, statuses: &[u32]) -> Check {
    if r.is_forwarded() || !statuses.contains(&r.status()) {
        return Err(format!(
            "want one of {statuses:?}, got {} {}",
            r.status(),
            r.body_text()
        ));
    }
    Ok(())
}

fn metric(g: &Gateway, name: &str) -> i64 {
    g.metrics().get(name).copied().unwrap_or(0)
}

fn logged(g: &Gateway, needle: &str) -> Check {
    if g.logs().iter().any(|(_, l)| l.contains(needle)) {
        Ok(())
    } else {
        Err(format!("no log line with {needle:?}: {:?}", g.logs()))
    }
}

fn nothing_paused(g: &Gateway) -> Check {
    match g.paused_count() {
        0 => Ok(()),
        n => Err(format!("{n} requests left paused")),
    }
}

/// Warm keys from the first tick's prefetch.
fn warm(g: &mut Gateway) -> Check {
    tick(g)?;
    let c = one_callout(g)?;
    deliver(g, &c, CallAnswer::status(200).body(&jwks()))?;
    alice(&done(g, &valid())?)
}

/// Past cache_duration: the next ticks start a refresh; the refresh callout.
fn refresh(g: &mut Gateway) -> Result<Callout, String> {
    g.advance_millis(600_000);
    for _ in 0..40 {
        tick(g)?;
        if let Some(c) = g.take_callouts().pop() {
            return Ok(c);
        }
        g.advance_millis(1_000);
    }
    Err("no refresh".into())
}

/// A cold fetch with a valid and a forged token waiting, answered with `answer`: both are
/// refused (no keys were ever good), the forged one as invalid, and the failure is counted.
fn cold_bad_answer(answer: CallAnswer) -> Check {
    let mut g = remote(json!({}));
    let v = paused(&mut g, &valid())?;
    let fetch = one_callout(&g)?;
    let f = paused(&mut g, &forged())?;
    deliver(&mut g, &fetch, answer)?;
    refused_any(&reply(&mut g, v)?, &[401, 503])?;
    refused_any(&reply(&mut g, f)?, &[401, 503])?;
    nothing_paused(&g)?;
    if metric(&g, "jwtgate.jwks.idp.fetch_failed") != 1 {
        return Err(format!("fetch_failed {:?}", g.metrics()));
    }
    logged(&g, "keeping the last good keys")
}

/// Good keys first, then a refresh answered with `answer`: the good keys stay (valid 200,
/// forged 401 invalid_token), the failure is counted and logged.
fn warm_bad_answer(answer: CallAnswer) -> Check {
    let mut g = remote(json!({}));
    warm(&mut g)?;
    let c = refresh(&mut g)?;
    deliver(&mut g, &c, answer)?;
    if metric(&g, "jwtgate.jwks.idp.fetch_failed") != 1 {
        return Err(format!("fetch_failed {:?}", g.metrics()));
    }
    logged(&g, "keeping the last good keys")?;
    alice(&done(&mut g, &valid())?)?;
    refused(&done(&mut g, &forged())?, 401, Some("invalid_token"))
}

fn truncated() -> Vec<u8> {
    let body = jwks();
    body[..body.len() / 2].to_vec()
}

fn jwks_truncated_cold() -> Check {
    let full = jwks().len();
    cold_bad_answer(CallAnswer::status(200).announced(full).body(&truncated()))
}

fn jwks_truncated_warm() -> Check {
    let full = jwks().len();
    warm_bad_answer(CallAnswer::status(200).announced(full).body(&truncated()))
}

/// The body is valid JSON but shorter than announced (the rest never came): not trusted.
fn jwks_short_but_parsable_warm() -> Check {
    warm_bad_answer(
        CallAnswer::status(200)
            .announced(4096)
            .body(br#"{"keys":[]}"#),
    )
}

fn jwks_no_body_cold() -> Check {
    cold_bad_answer(CallAnswer::status(200))
}

fn jwks_no_body_warm() -> Check {
    warm_bad_answer(CallAnswer::status(200).announced(512))
}

/// 0xE9 in an ordinary header of a good answer: the keys are installed as usual.
fn jwks_latin1_header() -> Check {
    let mut g = remote(json!({}));
    let v = paused(&mut g, &valid())?;
    let fetch = one_callout(&g)?;
    let f = paused(&mut g, &forged())?;
    let answer = CallAnswer::status(200)
        .header(b"content-type", b"application/json; charset=\xE9")
        .header(b"x-served-by", b"caf\xE9")
        .body(&jwks());
    deliver(&mut g, &fetch, answer)?;
    alice(&reply(&mut g, v)?)?;
    refused(&reply(&mut g, f)?, 401, Some("invalid_token"))?;
    nothing_paused(&g)
}

/// 0xE9 inside `:status`: not a status; a failed fetch, no trap.
fn jwks_latin1_status() -> Check {
    cold_bad_answer(CallAnswer::raw_status(b"2\xE90").body(&jwks()))
}

/// A failure whose `:dispatch_status` (ngx_wasm_module's reason) holds 0xE9.
fn jwks_latin1_dispatch_status() -> Check {
    cold_bad_answer(CallAnswer::status(502).header(b":dispatch_status", b"broken \xE9"))
}

/// The fetch is never answered: past timeout + grace, a tick answers every waiter (401 by
/// default); the late answer then delivered (while the answered requests are still open)
/// changes nothing.
fn jwks_never_answered_then_late(unavailable: Option<u32>) -> Check {
    let mut g = match unavailable {
        Some(s) => remote(json!({"jwks_unavailable_status": s})),
        None => remote(json!({})),
    };
    let want = unavailable.unwrap_or(401);
    let v = paused(&mut g, &valid())?;
    let fetch = one_callout(&g)?;
    let f = paused(&mut g, &forged())?;
    g.advance_millis(1_000);
    tick(&mut g)?;
    if g.paused_count() != 2 {
        return Err("answered before the timeout".into());
    }
    g.advance_millis(6_000); // timeout 2 s + grace
    tick(&mut g)?;
    let (before_v, before_f) = (g.peek(v), g.peek(f));
    let (Some(rv), Some(rf)) = (before_v.clone(), before_f.clone()) else {
        return Err(format!(
            "waiters not answered after the timeout: {before_v:?} {before_f:?}"
        ));
    };
    refused(&rv, want, None)?;
    refused(&rf, want, None)?;
    deliver_late(&mut g, &fetch, CallAnswer::status(200).body(&jwks()))?;
    if g.peek(v) != before_v || g.peek(f) != before_f {
        return Err("the late answer changed a decision".into());
    }
    refused(&reply(&mut g, v)?, want, None)?;
    refused(&reply(&mut g, f)?, want, None)?;
    nothing_paused(&g)
}

fn jwks_never_answered_401() -> Check {
    jwks_never_answered_then_late(None)
}

fn jwks_never_answered_503() -> Check {
    jwks_never_answered_then_late(Some(503))
}

/// The first tick's prefetch (made by the root) is never answered; requests wait on it; past
/// the timeout they are answered; the late answer to the root's callout is harmless.
fn jwks_prefetch_never_answered() -> Check {
    let mut g = remote(json!({}));
    tick(&mut g)?;
    let prefetch = one_callout(&g)?;
    let v = match send(&mut g, &valid())? {
        RawSent::Paused(ctx) => ctx,
        RawSent::Done(r) => return Err(format!("did not wait for the prefetch: {}", r.status())),
    };
    g.advance_millis(8_000);
    tick(&mut g)?;
    let _ = g.take_callouts(); // a retry may start; it is not answered here
    let decided = g
        .peek(v)
        .ok_or("the waiter was not answered after the timeout")?;
    refused_any(&decided, &[401, 503])?;
    deliver_late(&mut g, &prefetch, CallAnswer::status(200).body(&jwks()))?;
    if g.peek(v).as_ref() != Some(&decided) {
        return Err("the late answer changed the decision".into());
    }
    refused_any(&reply(&mut g, v)?, &[401, 503])?;
    nothing_paused(&g)
}

/// The fetching request goes away; the answer comes after: no trap; the other waiter is
/// decided once keys come.
fn jwks_answer_after_cancel() -> Check {
    let mut g = remote(json!({}));
    let fetcher = paused(&mut g, &valid())?;
    let fetch = one_callout(&g)?;
    let other = paused(&mut g, &valid())?;
    g.try_cancel(fetcher).map_err(trap)?;
    deliver_late(&mut g, &fetch, CallAnswer::status(200).body(&jwks()))?;
    // Keys came (through the late answer) or a refetch is due on the next tick.
    if g.peek(other).is_none() {
        tick(&mut g)?;
        if let Some(c) = g.take_callouts().pop() {
            deliver(&mut g, &c, CallAnswer::status(200).body(&jwks()))?;
        }
    }
    alice(&reply(&mut g, other)?)?;
    nothing_paused(&g)
}

/// 50 requests (25 valid, 25 forged) arrive while the keys are cold: one callout, then every
/// valid one forwarded, every forged one 401 invalid_token, none left paused.
fn jwks_fifty_waiters() -> Check {
    let mut g = remote(json!({}));
    let mut waiting = Vec::new();
    for i in 0..50 {
        let good = i % 2 == 0;
        let ctx = paused(&mut g, &if good { valid() } else { forged() })?;
        waiting.push((good, ctx));
    }
    let fetch = one_callout(&g)?;
    deliver(&mut g, &fetch, CallAnswer::status(200).body(&jwks()))?;
    for (good, ctx) in waiting {
        let r = reply(&mut g, ctx)?;
        if good {
            alice(&r)?;
        } else {
            refused(&r, 401, Some("invalid_token"))?;
        }
    }
    if !g.take_callouts().is_empty() {
        return Err("more than one callout".into());
    }
    nothing_paused(&g)
}

/// 200 keys: at most 64 are used (the rest skipped and logged); the first ones work.
fn jwks_two_hundred_keys() -> Check {
    let mut g = remote(json!({}));
    tick(&mut g)?;
    let c = one_callout(&g)?;
    let keys: Vec<Value> = (0..200).map(|i| demo_rsa_jwk(&format!("k{i}"))).collect();
    let body = json!({ "keys": keys }).to_string();
    deliver(&mut g, &c, CallAnswer::status(200).body(body.as_bytes()))?;
    g.advance_millis(1_000);
    tick(&mut g)?;
    let _ = g.take_callouts();
    let used = metric(&g, "jwtgate.jwks.idp.keys");
    if !(1..=64).contains(&used) {
        return Err(format!("{used} keys in use, want at most 64"));
    }
    logged(&g, "skipped")?;
    alice(&done(&mut g, &token_kid("k0", "alice"))?)
}

/// A body over `max_body_bytes` (65536): a failed fetch, logged; the good keys stay.
fn jwks_over_max_body_bytes() -> Check {
    let mut g = remote(json!({"max_body_bytes": 65536}));
    warm(&mut g)?;
    let c = refresh(&mut g)?;
    let mut keys: Vec<Value> = vec![demo_rsa_jwk("other")];
    keys.push(json!({"kty": "oct", "pad": "x".repeat(70_000)}));
    let body = json!({ "keys": keys }).to_string();
    deliver(&mut g, &c, CallAnswer::status(200).body(body.as_bytes()))?;
    if metric(&g, "jwtgate.jwks.idp.fetch_failed") != 1 {
        return Err(format!("fetch_failed {:?}", g.metrics()));
    }
    logged(&g, "keeping the last good keys")?;
    alice(&done(&mut g, &valid())?)?;
    refused(&done(&mut g, &forged())?, 401, Some("invalid_token"))
}

/// The host refuses the fetch's dispatch (INTERNAL_FAILURE): refused at once, no trap.
fn jwks_dispatch_refused() -> Check {
    let mut g = remote(json!({}));
    g.set_faults(Faults::none().fail(Hostcall::HttpCall, Status::InternalFailure));
    refused_any(&done(&mut g, &valid())?, &[401, 503])?;
    logged(&g, "refused by the host")?;
    nothing_paused(&g)
}

fn ext_send(g: &mut Gateway) -> Result<(ContextId, Callout), String> {
    let ctx = match g
        .try_send("GET", "/orders", &[("authorization", "Basic YTpi")])
        .map_err(trap)?
    {
        RawSent::Paused(ctx) => ctx,
        RawSent::Done(r) => return Err(format!("did not ask the service: {}", r.status())),
    };
    Ok((ctx, one_callout(g)?))
}

/// A denial whose challenge holds 0xE9: still the service's 401 (never forwarded).
fn ext_deny_latin1() -> Check {
    let mut g = ext(json!({}));
    let (ctx, c) = ext_send(&mut g)?;
    deliver(
        &mut g,
        &c,
        CallAnswer::status(401).header(b"www-authenticate", b"Basic realm=\"caf\xE9\""),
    )?;
    refused(&reply(&mut g, ctx)?, 401, None)?;
    nothing_paused(&g)
}

/// The same denial: the service's challenge with 0xE9 reaches the client byte for byte, or
/// not at all; never rewritten (e.g. to U+FFFD).
fn ext_deny_latin1_challenge_unchanged() -> Check {
    let mut g = ext(json!({}));
    let (ctx, c) = ext_send(&mut g)?;
    deliver(
        &mut g,
        &c,
        CallAnswer::status(401).header(b"www-authenticate", b"Basic realm=\"caf\xE9\""),
    )?;
    let r = reply(&mut g, ctx)?;
    refused(&r, 401, None)?;
    // The service's challenge is passed on byte for byte, or not at all: never rewritten.
    match r.header("www-authenticate") {
        None => {}
        Some(v) if v == b"Basic realm=\"caf\xE9\"" => {}
        Some(v) => {
            return Err(format!(
                "challenge rewritten: {:?}",
                String::from_utf8_lossy(v)
            ))
        }
    }
    nothing_paused(&g)
}

/// An allow whose header to copy upstream (`x-user-id`) holds 0xE9: not forwarded with a
/// corrupted value: refused 500.
fn ext_allow_latin1_copied() -> Check {
    let mut g = ext(json!({}));
    let (ctx, c) = ext_send(&mut g)?;
    deliver(
        &mut g,
        &c,
        CallAnswer::status(200).header(b"x-user-id", b"caf\xE9"),
    )?;
    refused(&reply(&mut g, ctx)?, 500, None)?;
    nothing_paused(&g)
}

/// An allow with 0xE9 only in a header that is not copied: forwarded as usual.
fn ext_allow_latin1_not_copied() -> Check {
    let mut g = ext(json!({}));
    let (ctx, c) = ext_send(&mut g)?;
    deliver(
        &mut g,
        &c,
        CallAnswer::status(200)
            .header(b"x-internal", b"caf\xE9")
            .header(b"x-user-id", b"alice"),
    )?;
    alice(&reply(&mut g, ctx)?)?;
    nothing_paused(&g)
}

/// 0xE9 inside the service's `:status`: an error answer (500), no trap.
fn ext_latin1_status() -> Check {
    let mut g = ext(json!({}));
    let (ctx, c) = ext_send(&mut g)?;
    deliver(&mut g, &c, CallAnswer::raw_status(b"2\xE90"))?;
    refused(&reply(&mut g, ctx)?, 500, None)?;
    nothing_paused(&g)
}

/// Never answered: past timeout + grace, the tick answers the service's error status (503
/// here); the late allow delivered afterwards (request still open) changes nothing.
fn ext_never_answered_then_late() -> Check {
    let mut g = ext(json!({"status_on_error": 503}));
    let (ctx, c) = ext_send(&mut g)?;
    tick(&mut g)?;
    if g.peek(ctx).is_some() {
        return Err("answered before the timeout".into());
    }
    g.advance_millis(3_000);
    tick(&mut g)?;
    let decided = g.peek(ctx).ok_or("not answered after the timeout")?;
    refused(&decided, 503, None)?;
    deliver_late(
        &mut g,
        &c,
        CallAnswer::status(200).header(b"x-user-id", b"alice"),
    )?;
    if g.peek(ctx).as_ref() != Some(&decided) {
        return Err("the late answer changed the decision".into());
    }
    refused(&reply(&mut g, ctx)?, 503, None)?;
    nothing_paused(&g)
}

/// The client goes away while the service is asked; its answer comes after: no trap.
fn ext_answer_after_cancel() -> Check {
    let mut g = ext(json!({}));
    let (ctx, c) = ext_send(&mut g)?;
    g.try_cancel(ctx).map_err(trap)?;
    deliver_late(
        &mut g,
        &c,
        CallAnswer::status(200).header(b"x-user-id", b"alice"),
    )?;
    // The VM still serves.
    let (next, c2) = ext_send(&mut g)?;
    deliver(&mut g, &c2, CallAnswer::status(403))?;
    refused(&reply(&mut g, next)?, 403, None)?;
    nothing_paused(&g)
}

/// The host refuses the auth callout's dispatch: the service's error status, no trap.
fn ext_dispatch_refused() -> Check {
    let mut g = ext(json!({}));
    g.set_faults(Faults::none().fail(Hostcall::HttpCall, Status::InternalFailure));
    let r = match g
        .try_send("GET", "/orders", &[("authorization", "Basic YTpi")])
        .map_err(trap)?
    {
        RawSent::Done(r) => r,
        RawSent::Paused(_) => return Err("paused on a refused dispatch".into()),
    };
    refused(&r, 500, None)?;
    nothing_paused(&g)
}

#[test]
fn remote_call_fault_table() {
    let table: Vec<(&str, Scenario)> = vec![
        (
            "JWKS truncated body (announced larger), cold",
            jwks_truncated_cold,
        ),
        (
            "JWKS truncated body (announced larger), warm",
            jwks_truncated_warm,
        ),
        (
            "JWKS short parsable body (announced larger), warm",
            jwks_short_but_parsable_warm,
        ),
        ("JWKS no body, cold", jwks_no_body_cold),
        ("JWKS no body, warm", jwks_no_body_warm),
        ("JWKS answer header with 0xE9", jwks_latin1_header),
        ("JWKS :status with 0xE9", jwks_latin1_status),
        (
            "JWKS :dispatch_status with 0xE9",
            jwks_latin1_dispatch_status,
        ),
        (
            "JWKS never answered (401) + late answer",
            jwks_never_answered_401,
        ),
        (
            "JWKS never answered (503) + late answer",
            jwks_never_answered_503,
        ),
        (
            "JWKS prefetch never answered + late answer",
            jwks_prefetch_never_answered,
        ),
        (
            "JWKS answer after the fetcher was cancelled",
            jwks_answer_after_cancel,
        ),
        ("JWKS 50 waiters on one cold fetch", jwks_fifty_waiters),
        ("JWKS with 200 keys", jwks_two_hundred_keys),
        ("JWKS body over max_body_bytes", jwks_over_max_body_bytes),
        ("JWKS dispatch refused by the host", jwks_dispatch_refused),
        ("ext_auth 401 with 0xE9 challenge", ext_deny_latin1),
        (
            "ext_auth 401 0xE9 challenge unchanged or dropped",
            ext_deny_latin1_challenge_unchanged,
        ),
        (
            "ext_auth allow, 0xE9 in a copied header",
            ext_allow_latin1_copied,
        ),
        (
            "ext_auth allow, 0xE9 in a header not copied",
            ext_allow_latin1_not_copied,
        ),
        ("ext_auth :status with 0xE9", ext_latin1_status),
        (
            "ext_auth never answered + late answer",
            ext_never_answered_then_late,
        ),
        ("ext_auth answer after cancel", ext_answer_after_cancel),
        (
            "ext_auth dispatch refused by the host",
            ext_dispatch_refused,
        ),
    ];
    let mut failures = Vec::new();
    for (name, scenario) in &table {
        match scenario() {
            Ok(()) => eprintln!("ok    {name}"),
            Err(why) => {
                eprintln!("FAIL  {name}: {why}");
                failures.push(format!("{name}: {why}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        table.len(),
        failures.join("\n")
    );
}
