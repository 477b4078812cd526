//! Remote JWKS inside a real proxy-wasm host: the filter's fetches go to the host's callout
//! service and the test plays the identity provider (scripted answers), the host clock and the
//! timer. Keys and tokens come from PyJWT (`target/corpus/cases.json`, `remote` section).
// A test (or measurement) program: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::OnceLock;

use jwtgate_host_tests::{corpus, shared_filter, Callout, Gateway, Outcome};
use serde_json::{json, Value};

const NOW: u64 = 1_700_000_000;

fn fixture() -> &'static Value {
    static FIXTURE: OnceLock<Value> = OnceLock::new();
    FIXTURE.get_or_init(|| corpus()["remote"].clone())
}

fn jwks(name: &str) -> Vec<u8> {
    fixture()[name].to_string().into_bytes()
}

fn token(name: &str) -> String {
    fixture()[name].as_str().unwrap().to_string()
}

fn config(extra: Value) -> String {
    let mut remote = json!({
        "http_uri": {"uri": "https://idp.test/realms/r1/jwks.json", "cluster": "idp", "timeout": "2s"},
        "cache_duration": "600s"
    });
    let mut top = json!({});
    for (k, v) in extra.as_object().unwrap() {
        if k == "share_jwks" || k == "jwks_unavailable_status" || k == "on_keys_loading" {
            top[k] = v.clone();
        } else {
            remote[k] = v.clone();
        }
    }
    let mut c = json!({
        "providers": {"idp": {
            "issuer": "https://issuer.test", "audiences": ["api"],
            "remote_jwks": remote,
            "claim_to_headers": [{"header_name": "x-user-id", "claim_name": "sub"}]
        }},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "idp"}}]
    });
    for (k, v) in top.as_object().unwrap() {
        c[k] = v.clone();
    }
    c.to_string()
}

fn start(extra: Value) -> Gateway {
    match shared_filter().start(&config(extra)) {
        Ok(g) => {
            g.set_now(NOW);
            g
        }
        Err(e) => panic!("{e}"),
    }
}

fn bearer(name: &str) -> String {
    format!("Bearer {}", token(name))
}

fn send(g: &mut Gateway, token_name: &str) -> jwtgate_host_tests::Sent {
    let auth = bearer(token_name);
    g.send("GET", "/api", &[("authorization", &auth)])
        .unwrap_or_else(|e| panic!("{e}"))
}

fn one_callout(g: &Gateway) -> Callout {
    let mut callouts = g.take_callouts();
    assert_eq!(callouts.len(), 1, "expected one fetch: {callouts:?}");
    callouts.remove(0)
}

fn forwarded_as_alice(outcome: &Outcome) {
    assert_eq!(outcome.status(), 200, "{outcome:?}");
    assert_eq!(outcome.header("x-user-id"), Some("alice"));
}

/// Prefetch on the first tick and install `set`.
fn warm(g: &mut Gateway, set: &str) {
    g.tick();
    let fetch = one_callout(g);
    g.answer(&fetch, 200, &jwks(set));
}

fn metric(g: &Gateway, name: &str) -> i64 {
    g.metrics().get(name).copied().unwrap_or(0)
}

#[test]
fn cold_start_pauses_requests_and_resumes_them_all_on_one_fetch() {
    let mut g = start(json!({}));
    assert_eq!(g.tick_period(), Some(std::time::Duration::from_secs(1)));
    let first = send(&mut g, "token_old").paused();
    let fetch = one_callout(&g);
    assert_eq!(fetch.upstream, "idp");
    assert_eq!(fetch.header(":method"), Some("GET"));
    assert_eq!(fetch.header(":path"), Some("/realms/r1/jwks.json"));
    assert_eq!(fetch.header(":authority"), Some("idp.test"));
    assert_eq!(fetch.header(":scheme"), Some("https"));
    assert_eq!(fetch.timeout_ms, 2000);
    let second = send(&mut g, "token_old").paused();
    let third = send(&mut g, "token_new").paused();
    assert!(
        g.take_callouts().is_empty(),
        "requests share the running fetch"
    );
    assert!(g.outcome(first).is_none());

    g.answer(&fetch, 200, &jwks("jwks_old"));
    forwarded_as_alice(&g.outcome(first).expect("resumed"));
    forwarded_as_alice(&g.outcome(second).expect("resumed"));
    // `new` is not in the set: a key published right after the fetch may be, so one refetch
    // for the unknown kid (the first token of a new key must be accepted), then refused.
    assert!(
        g.outcome(third).is_none(),
        "waits for the unknown-kid refetch"
    );
    let refetch = one_callout(&g);
    g.answer(&refetch, 200, &jwks("jwks_old"));
    let refused = g.outcome(third).expect("answered");
    assert_eq!(refused.status(), 401);
    assert_eq!(g.paused_count(), 0);
    assert_eq!(metric(&g, "jwtgate.jwks.idp.fetch_success"), 2);
    // Refetches for unknown kids: one per interval.
    assert_eq!(send(&mut g, "token_new").done().status(), 401);
    assert!(g.take_callouts().is_empty());

    forwarded_as_alice(&send(&mut g, "token_old").done());
    assert!(g.take_callouts().is_empty());
    g.tick();
    assert!(g.take_callouts().is_empty(), "nothing due");
    assert_eq!(metric(&g, "jwtgate.jwks.idp.keys"), 1);
}

#[test]
fn the_first_tick_prefetches_and_refreshes_come_before_cache_duration_ends() {
    let mut g = start(json!({}));
    g.tick();
    let prefetch = one_callout(&g);
    g.answer(&prefetch, 200, &jwks("jwks_old"));
    forwarded_as_alice(&send(&mut g, "token_old").done());

    g.advance_millis(500_000);
    g.tick();
    assert!(g.take_callouts().is_empty(), "fresh at 500 s");
    g.advance_millis(70_000); // 570 s: past the jittered 85–95% refresh point
    g.tick();
    let refresh = one_callout(&g);
    g.answer(&refresh, 200, &jwks("jwks_rotated"));
    // The rotated set arrived by refresh: the new kid works without any fetch.
    forwarded_as_alice(&send(&mut g, "token_new").done());
    assert!(g.take_callouts().is_empty());
    assert_eq!(metric(&g, "jwtgate.jwks.idp.fetch_success"), 2);
}

#[test]
fn a_new_kid_refetches_once_and_the_first_token_with_it_is_accepted() {
    let mut g = start(json!({}));
    warm(&mut g, "jwks_old");
    g.advance_millis(31_000);

    let new = send(&mut g, "token_new").paused();
    let fetch = one_callout(&g);
    let ghost = send(&mut g, "token_unknown_kid").paused();
    assert!(g.take_callouts().is_empty(), "one refetch for both kids");
    g.answer(&fetch, 200, &jwks("jwks_rotated"));
    forwarded_as_alice(&g.outcome(new).expect("resumed"));
    assert_eq!(g.outcome(ghost).expect("answered").status(), 401);

    // Rate limit: more unknown kids within 30 s of the refetch are refused at once.
    for _ in 0..5 {
        assert_eq!(send(&mut g, "token_unknown_kid").done().status(), 401);
    }
    assert!(
        g.take_callouts().is_empty(),
        "no refetch within the interval"
    );
    g.advance_millis(30_000);
    let _ghost = send(&mut g, "token_unknown_kid").paused();
    let again = one_callout(&g);
    g.answer(&again, 200, &jwks("jwks_rotated"));
    assert_eq!(g.paused_count(), 0);
}

#[test]
fn a_bad_signature_never_refetches() {
    let mut g = start(json!({}));
    warm(&mut g, "jwks_old");
    g.advance_millis(60_000);
    let outcome = send(&mut g, "token_forged_old").done();
    assert_eq!(outcome.status(), 401);
    assert!(g.take_callouts().is_empty());
}

/// One scripted answer of the identity provider.
type Answer = Box<dyn Fn(&mut Gateway, &Callout)>;

#[test]
fn bad_answers_keep_the_last_good_keys() {
    let mut g = start(json!({"max_body_bytes": 65536}));
    warm(&mut g, "jwks_old");
    let oversized = format!("{{\"keys\":[],\"pad\":\"{}\"}}", "x".repeat(70_000));
    let answers: Vec<(&str, Answer)> = vec![
        ("http_status", Box::new(|g, c| g.answer(c, 503, b"busy"))),
        (
            "not_json",
            Box::new(|g, c| g.answer(c, 200, b"<html>login</html>")),
        ),
        (
            "no_usable_keys",
            Box::new(|g, c| g.answer(c, 200, &jwks("jwks_symmetric_only"))),
        ),
        (
            "too_large",
            Box::new(move |g, c| g.answer(c, 200, oversized.as_bytes())),
        ),
        ("no_response", Box::new(|g, c| g.fail(c))),
    ];
    for (reason, answer) in &answers {
        g.advance_millis(600_000);
        // Past cache_duration, within max_stale: due now (or after the backoff).
        let mut fetch = None;
        for _ in 0..40 {
            g.tick();
            if let Some(c) = g.take_callouts().pop() {
                fetch = Some(c);
                break;
            }
            g.advance_millis(1_000);
        }
        let fetch = fetch.unwrap_or_else(|| panic!("{reason}: no refresh"));
        answer(&mut g, &fetch);
        assert_eq!(
            metric(&g, &format!("jwtgate.jwks.idp.fetch_failed.{reason}")),
            1,
            "{reason}"
        );
        forwarded_as_alice(&send(&mut g, "token_old").done());
    }
    assert_eq!(metric(&g, "jwtgate.jwks.idp.fetch_failed"), 5);
    assert!(g
        .logs()
        .iter()
        .any(|(_, line)| line.contains("keeping the last good keys")));
}

#[test]
fn unusable_members_are_skipped_logged_and_the_good_ones_used() {
    let mut g = start(json!({}));
    warm(&mut g, "jwks_mixed");
    forwarded_as_alice(&send(&mut g, "token_old").done());
    let skipped = g
        .logs()
        .iter()
        .filter(|(_, line)| line.contains("skipped"))
        .count();
    assert_eq!(skipped, 4, "{:?}", g.logs());
    // A symmetric key is never taken from the network: its kid is unknown, the refetch
    // brings the same set, and HS256 with that kid is refused.
    g.advance_millis(60_000);
    let sym = send(&mut g, "token_hs_as_sym").paused();
    let refetch = one_callout(&g);
    g.answer(&refetch, 200, &jwks("jwks_mixed"));
    assert_eq!(g.outcome(sym).expect("answered").status(), 401);
}

#[test]
fn a_failed_cold_fetch_answers_the_waiting_requests_and_backs_off() {
    let mut g = start(json!({"jwks_unavailable_status": 503}));
    let waiting = send(&mut g, "token_old").paused();
    let fetch = one_callout(&g);
    g.fail(&fetch);
    let answered = g.outcome(waiting).expect("answered, not hung");
    assert_eq!(answered.status(), 503);
    // Backing off: refused at once, no fetch storm.
    assert_eq!(send(&mut g, "token_old").done().status(), 503);
    assert!(g.take_callouts().is_empty());
    let mut retried = None;
    for _ in 0..5 {
        g.advance_millis(1_000);
        g.tick();
        if let Some(c) = g.take_callouts().pop() {
            retried = Some(c);
            break;
        }
    }
    let retry = retried.expect("a retry within the backoff");
    g.answer(&retry, 200, &jwks("jwks_old"));
    forwarded_as_alice(&send(&mut g, "token_old").done());
}

#[test]
fn a_refused_dispatch_fails_closed_without_hanging() {
    let c = config(json!({})).replace("\"cluster\":\"idp\"", "\"cluster\":\"unknown-cluster\"");
    let mut g = shared_filter().start(&c).unwrap();
    g.set_now(NOW);
    let outcome = send(&mut g, "token_old").done();
    assert_eq!(outcome.status(), 401);
    assert!(g
        .logs()
        .iter()
        .any(|(_, line)| line.contains("refused by the host") && line.contains("unknown-cluster")));
}

#[test]
fn waiting_requests_are_answered_when_no_answer_ever_comes() {
    let mut g = start(json!({}));
    let waiting = send(&mut g, "token_old").paused();
    let _lost = one_callout(&g);
    g.advance_millis(1_000);
    g.tick();
    assert!(g.outcome(waiting).is_none(), "still within the timeout");
    g.advance_millis(4_000); // timeout 2 s + 2 s grace
    g.tick();
    assert_eq!(g.outcome(waiting).expect("answered").status(), 401);
}

#[test]
fn a_cancelled_fetcher_does_not_strand_the_other_waiters() {
    let mut g = start(json!({}));
    let fetcher = send(&mut g, "token_old").paused();
    let _fetch = one_callout(&g);
    let other = send(&mut g, "token_old").paused();
    g.cancel(fetcher); // its callout ends with its context
    g.tick();
    let refetch = one_callout(&g);
    g.answer(&refetch, 200, &jwks("jwks_old"));
    forwarded_as_alice(&g.outcome(other).expect("resumed"));
}

#[test]
fn a_rotation_that_removes_a_key_flushes_tokens_it_verified() {
    let mut g = start(json!({}));
    warm(&mut g, "jwks_rotated");
    forwarded_as_alice(&send(&mut g, "token_old").done()); // now cached
    forwarded_as_alice(&send(&mut g, "token_old").done());
    g.advance_millis(600_000);
    g.tick();
    let refresh = one_callout(&g);
    let only_new = json!({"keys": [fixture()["jwks_rotated"]["keys"][1]]});
    g.answer(&refresh, 200, only_new.to_string().as_bytes());
    // The removed kid is unknown now: one refetch for it (limited per interval), then 401.
    let waiting = send(&mut g, "token_old").paused();
    let refetch = one_callout(&g);
    g.answer(&refetch, 200, only_new.to_string().as_bytes());
    assert_eq!(g.outcome(waiting).expect("answered").status(), 401);
    assert_eq!(send(&mut g, "token_old").done().status(), 401);
    forwarded_as_alice(&send(&mut g, "token_new").done());
}

#[test]
fn workers_share_one_fetch_through_shared_data() {
    let mut a = start(json!({"share_jwks": true}));
    let waiting = send(&mut a, "token_old").paused();
    let fetch = one_callout(&a);
    a.answer(&fetch, 200, &jwks("jwks_old"));
    forwarded_as_alice(&a.outcome(waiting).expect("resumed"));

    let mut b = shared_filter()
        .start_sibling(&config(json!({"share_jwks": true})), &a, NOW + 5)
        .unwrap();
    forwarded_as_alice(&send(&mut b, "token_old").done());
    b.tick();
    assert!(b.take_callouts().is_empty(), "worker B adopted A's copy");
    assert_eq!(metric(&b, "jwtgate.jwks.idp.shared_adopted"), 1);

    // Without share_jwks every worker fetches for itself.
    let mut c = shared_filter()
        .start_sibling(&config(json!({})), &a, NOW + 5)
        .unwrap();
    let _ = send(&mut c, "token_old").paused();
    assert_eq!(c.take_callouts().len(), 1);
}

#[test]
fn remote_and_inline_keys_work_side_by_side() {
    // A provider may have both: inline keys are tried first, the fetched set after.
    let mut c: Value = serde_json::from_str(&config(json!({}))).unwrap();
    c["providers"]["idp"]["local_jwks"] =
        json!({"inline_string": fixture()["jwks_old"].to_string()});
    let mut g = shared_filter().start(&c.to_string()).unwrap();
    g.set_now(NOW);
    forwarded_as_alice(&send(&mut g, "token_old").done());
    assert!(g.take_callouts().is_empty(), "inline key answered");
}

/// `on_keys_loading: retry_after` (for hosts where waking paused requests is unreliable): no
/// request pauses or dispatches; while keys load they get 503 + `Retry-After`, the timer
/// fetches, and the retry is decided with the keys.
#[test]
fn retry_after_mode_never_pauses_and_fetches_from_the_timer() {
    let mut g = start(json!({"on_keys_loading": "retry_after"}));
    let loading = send(&mut g, "token_old").done();
    assert_eq!(loading.status(), 503, "{loading:?}");
    assert_eq!(loading.header("retry-after"), Some("1"));
    assert!(loading.body().contains("temporarily_unavailable"));
    assert!(g.take_callouts().is_empty(), "a request never dispatches");
    assert!(g
        .logs()
        .iter()
        .any(|(_, line)| line.contains("keys_loading")));
    assert_eq!(metric(&g, "jwtgate.keys_loading_retry_after"), 1);

    g.tick();
    let fetch = one_callout(&g);
    // Still loading while the timer's fetch runs: answered at once, nothing paused.
    assert_eq!(send(&mut g, "token_old").done().status(), 503);
    assert_eq!(g.paused_count(), 0);
    g.answer(&fetch, 200, &jwks("jwks_old"));
    forwarded_as_alice(&send(&mut g, "token_old").done());

    // An unknown kid: 503, and the refetch for it runs from the next tick (once).
    assert_eq!(send(&mut g, "token_new").done().status(), 503);
    assert_eq!(send(&mut g, "token_new").done().status(), 503);
    assert!(g.take_callouts().is_empty());
    g.tick();
    let refetch = one_callout(&g);
    g.answer(&refetch, 200, &jwks("jwks_rotated"));
    forwarded_as_alice(&send(&mut g, "token_new").done());
    assert_eq!(g.paused_count(), 0);
}

/// The filter's own total deadline: a fetch the host never ends (ngx_wasm_module times out
/// per read only) is given up by the timer after its `timeout`, and its waiters are decided.
#[test]
fn an_unanswered_fetch_is_given_up_after_its_timeout() {
    let mut g = start(json!({}));
    // The prefetch from the timer (a request's own call ends with the request).
    g.tick();
    let fetch = one_callout(&g);
    let waiting = send(&mut g, "token_old").paused();
    assert!(g.take_callouts().is_empty(), "waits for the running fetch");
    g.advance_millis(1_500);
    g.tick();
    assert!(g.outcome(waiting).is_none(), "within the 2 s timeout");
    g.advance_millis(600);
    g.tick();
    let refused = g.outcome(waiting).expect("answered at the deadline");
    assert_eq!(refused.status(), 401);
    assert_eq!(metric(&g, "jwtgate.jwks.idp.fetch_failed.overdue"), 1);
    // The late answer finds no call: ignored, the retry backoff stands.
    g.answer(&fetch, 200, &jwks("jwks_old"));
    assert_eq!(metric(&g, "jwtgate.jwks.idp.fetch_success"), 0);
}

#[test]
fn fetches_say_jwtgate_and_carry_the_configured_headers() {
    // Default: `user-agent: jwtgate/<version>` (WAFs block fetches without one).
    let mut g = start(json!({}));
    g.tick();
    let fetch = one_callout(&g);
    let ua = fetch.header("user-agent").expect("a user-agent");
    assert_eq!(ua, jwtgate_core::remote_jwks::USER_AGENT);
    let version = ua.strip_prefix("jwtgate/").expect("jwtgate/<version>");
    assert!(
        version.split('.').count() == 3 && version.split('.').all(|p| p.parse::<u32>().is_ok()),
        "{ua}"
    );
    assert_eq!(
        fetch.header("accept"),
        Some("application/json, application/jwk-set+json")
    );

    // request_headers: sent as configured; a configured user-agent replaces jwtgate's.
    let mut g = start(json!({"request_headers": [
        {"name": "X-Api-Key", "value": "k-123"},
        {"name": "user-agent", "value": "corp-gateway/7 (jwtgate)"}]}));
    g.tick();
    let fetch = one_callout(&g);
    assert_eq!(fetch.header("x-api-key"), Some("k-123"));
    assert_eq!(fetch.header("user-agent"), Some("corp-gateway/7 (jwtgate)"));
    assert_eq!(
        fetch
            .headers
            .iter()
            .filter(|(n, _)| n == "user-agent")
            .count(),
        1
    );
    assert_eq!(fetch.header(":authority"), Some("idp.test"));
    g.answer(&fetch, 200, &jwks("jwks_old"));
    forwarded_as_alice(&send(&mut g, "token_old").done());
}

#[test]
fn a_fetch_uri_inside_the_network_is_a_load_warning() {
    let mut config: Value = serde_json::from_str(&config(json!({}))).unwrap();
    config["providers"]["idp"]["remote_jwks"]["http_uri"]["uri"] =
        json!("http://169.254.169.254/latest/meta-data/jwks");
    let g = shared_filter()
        .start(&config.to_string())
        .unwrap_or_else(|e| panic!("{e}"));
    let logs = g.logs();
    let warned: Vec<_> = logs
        .iter()
        .filter(|(_, l)| l.contains("providers.idp.remote_jwks.http_uri.uri"))
        .collect();
    assert!(
        warned
            .iter()
            .all(|(level, l)| format!("{level:?}") == "Warn"
                && l.starts_with("jwtgate: configuration: ")),
        "{warned:?}"
    );
    assert!(
        warned.iter().any(|(_, l)| l.contains("link-local")),
        "{logs:?}"
    );
    assert!(
        warned.iter().any(|(_, l)| l.contains("plain http")),
        "{warned:?}"
    );
    // The public https URI of the other tests: no such warning.
    let clean = start(json!({}));
    assert!(
        !clean
            .logs()
            .iter()
            .any(|(_, l)| l.contains("remote_jwks.http_uri.uri")),
        "{:?}",
        clean.logs()
    );
}

#[test]
fn on_keys_unavailable_is_the_providers_answer_to_an_idp_outage() {
    for (policy, global, status) in [("unavailable", None, 503), ("deny", Some(503), 401)] {
        let mut config: Value = serde_json::from_str(&config(json!({}))).unwrap();
        config["providers"]["idp"]["on_keys_unavailable"] = json!(policy);
        if let Some(global) = global {
            config["jwks_unavailable_status"] = json!(global);
        }
        let mut g = shared_filter()
            .start(&config.to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        g.set_now(NOW);
        let waiting = send(&mut g, "token_old").paused();
        let fetch = one_callout(&g);
        g.fail(&fetch);
        let answered = g.outcome(waiting).expect("answered, not hung");
        assert_eq!(answered.status(), status, "{policy}");
        assert_eq!(
            send(&mut g, "token_old").done().status(),
            status,
            "{policy}"
        );
        // Logged and counted as keys_unavailable, not as a bad token.
        assert_eq!(metric(&g, "jwtgate.denied.keys_unavailable"), 2, "{policy}");
        assert_eq!(metric(&g, "jwtgate.denied.invalid_signature"), 0);
        assert!(
            g.logs()
                .iter()
                .any(|(_, l)| l.contains(&format!("status={status} reason=keys_unavailable"))),
            "{:?}",
            g.logs()
        );
    }
}

/// OIDC discovery in the built filter: the document (derived from the issuer), then the JWKS
/// it names, through the configured clusters; a document of another issuer is a failed fetch.
#[test]
fn discovery_reads_the_issuers_document_then_its_jwks() {
    let mut c: Value = serde_json::from_str(&config(json!({}))).unwrap();
    c["providers"]["idp"]["remote_jwks"] = json!({
        "openid_configuration": {"cluster": "idp_doc", "jwks_cluster": "idp_keys", "timeout": "2s"},
        "cache_duration": "600s"});
    let mut g = shared_filter().start(&c.to_string()).unwrap();
    g.set_now(NOW);
    let waiting = send(&mut g, "token_old").paused();
    let doc = one_callout(&g);
    assert_eq!(doc.upstream, "idp_doc");
    assert_eq!(
        doc.header(":path"),
        Some("/.well-known/openid-configuration")
    );
    assert_eq!(doc.header(":authority"), Some("issuer.test"));
    let document = json!({"issuer": "https://issuer.test",
                          "jwks_uri": "https://keys.issuer.test/v1/jwks"});
    g.answer(&doc, 200, document.to_string().as_bytes());
    let fetch = one_callout(&g);
    assert_eq!(fetch.upstream, "idp_keys");
    assert_eq!(fetch.header(":path"), Some("/v1/jwks"));
    assert_eq!(fetch.header(":authority"), Some("keys.issuer.test"));
    assert!(fetch.header("user-agent").unwrap().starts_with("jwtgate/"));
    g.answer(&fetch, 200, &jwks("jwks_old"));
    forwarded_as_alice(&g.outcome(waiting).expect("resumed"));
    assert_eq!(metric(&g, "jwtgate.jwks.idp.discovered"), 1);

    // Another issuer's document: no key fetch, the request refused, the reason counted.
    let mut g = shared_filter().start(&c.to_string()).unwrap();
    g.set_now(NOW);
    let waiting = send(&mut g, "token_old").paused();
    let doc = one_callout(&g);
    let evil = json!({"issuer": "https://evil.test", "jwks_uri": "https://issuer.test/jwks"});
    g.answer(&doc, 200, evil.to_string().as_bytes());
    assert!(
        g.take_callouts().is_empty(),
        "a key fetch followed a foreign document"
    );
    assert_eq!(g.outcome(waiting).expect("answered").status(), 401);
    assert_eq!(
        metric(&g, "jwtgate.jwks.idp.fetch_failed.issuer_mismatch"),
        1
    );
}
