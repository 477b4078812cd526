//! The engine (`core::engine`) natively, behind a scripted host: the remote-JWKS and auth-call
//! lifecycle (cold start, waiters, rotation, deadlines, lost and late answers, refusals by the
//! host) as table-like tests, without a wasm build. Tokens are signed here with the RustCrypto
//! `p256` crate, not with jwtgate's own verifier code.
// A test (or measurement) program: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jwtgate_core::engine::Engine;
use jwtgate_core::port::{HostError, HostPort, LogLevel, RawHeader};
use jwtgate_core::{Gateway, LocalResponse};
use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{json, Value};

const NOW_MS: u64 = 1_700_000_000_000;
const ROOT: u32 = 1;

/// What happened to a request.
#[derive(Debug, Clone, PartialEq)]
enum Fate {
    Paused,
    Forwarded,
    Answered(u32),
}

#[derive(Debug, Clone)]
struct Call {
    token: u32,
    context: u32,
    upstream: String,
    path: String,
    /// Every header of the callout, pseudo-headers included, in order.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Shared data (value, CAS), one per proxy.
type Store = Rc<RefCell<HashMap<String, (Vec<u8>, u32)>>>;

/// A request as the host holds it: its headers, its fate, the local response's headers.
type Held = (Vec<RawHeader>, Fate, Vec<(String, String)>);

#[derive(Default)]
struct Script {
    now_ms: u64,
    current: u32,
    requests: HashMap<u32, Held>,
    /// Headers the upstream would see, by request, after it was forwarded.
    calls: Vec<Call>,
    next_token: u32,
    answer: Option<(Vec<RawHeader>, Vec<u8>)>,
    /// Shared data: one store for the workers of one proxy (`Worker::sibling`).
    shared: Store,
    logs: Vec<String>,
    counters: HashMap<String, u64>,
    /// ngx_wasm_module 3bed278: `proxy_set_effective_context` answers OK and does nothing.
    select_is_noop: bool,
    /// Calls made on a context other than the one whose callback runs (with a no-op select).
    wrong_context: u32,
    /// Refuse these operations (by name) with this status.
    refuse: HashMap<&'static str, u32>,
}

/// The scripted host; the engine holds one handle, the test another.
#[derive(Clone, Default)]
struct Host(Rc<RefCell<Script>>);

impl Host {
    fn refused(&self, op: &'static str) -> Result<(), HostError> {
        match self.0.borrow().refuse.get(op) {
            Some(status) => Err(HostError(*status)),
            None => Ok(()),
        }
    }

    fn with_request<T>(&self, f: impl FnOnce(&mut Held) -> T) -> Result<T, HostError> {
        let mut s = self.0.borrow_mut();
        let current = s.current;
        s.requests.get_mut(&current).map(f).ok_or(HostError(2))
    }
}

impl HostPort for Host {
    fn now_ms(&self) -> Result<u64, HostError> {
        self.refused("time")?;
        Ok(self.0.borrow().now_ms)
    }
    fn log(&self, _level: LogLevel, line: &str) {
        self.0.borrow_mut().logs.push(line.to_string());
    }
    fn count(&self, name: &str) {
        *self
            .0
            .borrow_mut()
            .counters
            .entry(name.to_string())
            .or_default() += 1;
    }
    fn gauge(&self, name: &str, value: u64) {
        self.0.borrow_mut().counters.insert(name.to_string(), value);
    }
    fn histogram(&self, _name: &str, _value: u64) {}
    fn select(&self, context: u32) -> Result<(), HostError> {
        let mut s = self.0.borrow_mut();
        if s.select_is_noop {
            if context != s.current {
                s.wrong_context += 1;
            }
            return Ok(());
        }
        if context != ROOT && !s.requests.contains_key(&context) {
            return Err(HostError(2));
        }
        s.current = context;
        Ok(())
    }
    fn request_headers(&self) -> Result<Vec<RawHeader>, HostError> {
        self.refused("read")?;
        self.with_request(|r| r.0.clone())
    }
    fn request_pseudo(&self, _name: &str, _property: &str) -> Result<Option<Vec<u8>>, HostError> {
        Ok(None)
    }
    fn remove_header(&self, name: &str) -> Result<(), HostError> {
        self.refused("write")?;
        self.with_request(|r| r.0.retain(|(n, _)| n.as_slice() != name.as_bytes()))
    }
    fn replace_header(&self, name: &str, value: &str) -> Result<(), HostError> {
        self.refused("write")?;
        self.with_request(|r| {
            r.0.retain(|(n, _)| n.as_slice() != name.as_bytes());
            r.0.push((name.as_bytes().to_vec(), value.as_bytes().to_vec()));
        })
    }
    fn respond(&self, response: &LocalResponse) -> Result<(), HostError> {
        self.refused("respond")?;
        self.with_request(|r| {
            if r.1 == Fate::Paused {
                r.1 = Fate::Answered(response.status);
                r.2 = response.headers.clone();
                Ok(())
            } else {
                Err(HostError(2))
            }
        })?
    }
    fn resume(&self) -> Result<(), HostError> {
        self.refused("resume")?;
        self.with_request(|r| {
            if r.1 == Fate::Paused {
                r.1 = Fate::Forwarded;
                Ok(())
            } else {
                Err(HostError(2))
            }
        })?
    }
    fn dispatch(
        &self,
        upstream: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        _timeout_ms: u64,
    ) -> Result<u32, HostError> {
        self.refused("dispatch")?;
        let mut s = self.0.borrow_mut();
        s.next_token += 1;
        let call = Call {
            token: s.next_token,
            context: s.current,
            upstream: upstream.to_string(),
            path: headers
                .iter()
                .find(|(n, _)| *n == ":path")
                .map(|(_, v)| v.to_string())
                .unwrap_or_default(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.to_vec(),
        };
        s.calls.push(call);
        Ok(s.next_token)
    }
    fn answer_headers(&self) -> Result<Vec<RawHeader>, HostError> {
        Ok(self
            .0
            .borrow()
            .answer
            .as_ref()
            .map(|a| a.0.clone())
            .unwrap_or_default())
    }
    fn answer_header(&self, name: &str) -> Option<Vec<u8>> {
        let s = self.0.borrow();
        let (headers, _) = s.answer.as_ref()?;
        headers
            .iter()
            .find(|(n, _)| n.as_slice() == name.as_bytes())
            .map(|(_, v)| v.clone())
    }
    fn answer_body(&self, max: usize) -> Result<Option<Vec<u8>>, HostError> {
        let s = self.0.borrow();
        Ok(s.answer
            .as_ref()
            .map(|(_, b)| b.iter().take(max).copied().collect()))
    }
    fn shared_get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.0.borrow().shared.borrow().get(key).cloned()
    }
    /// proxy-wasm's rule (Envoy's shared data): CAS 0 writes unconditionally, another CAS
    /// must match the stored one.
    fn shared_set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), HostError> {
        self.refused("shared")?;
        let s = self.0.borrow();
        let mut shared = s.shared.borrow_mut();
        let stored = shared.get(key).map(|(_, c)| *c);
        if cas != 0 && stored.is_some_and(|c| c != cas) {
            return Err(HostError(8));
        }
        shared.insert(
            key.to_string(),
            (value.to_vec(), stored.map_or(1, |c| c + 1)),
        );
        Ok(())
    }
}

/// A worker: the engine and the scripted host it talks to.
struct Worker {
    engine: Engine,
    host: Host,
    next_context: u32,
}

impl Worker {
    fn new(config: Value) -> Worker {
        Worker::with_store(config, Host::default(), 7)
    }

    /// Another worker of the same proxy: same configuration and clock, one shared-data store.
    fn sibling(&self, config: Value, seed: u64) -> Worker {
        let host = Host::default();
        host.0.borrow_mut().shared = Rc::clone(&self.host.0.borrow().shared);
        let w = Worker::with_store(config, host, seed);
        w.host.0.borrow_mut().now_ms = self.host.0.borrow().now_ms;
        w
    }

    fn with_store(config: Value, host: Host, seed: u64) -> Worker {
        let gateway = Gateway::from_json(config.to_string().as_bytes()).unwrap();
        host.0.borrow_mut().now_ms = NOW_MS;
        host.0.borrow_mut().current = ROOT;
        Worker {
            engine: Engine::new(gateway, Box::new(host.clone()), seed),
            host,
            next_context: 100,
        }
    }

    /// A request with `Authorization: Bearer <token>` (no header for `None`).
    fn send(&mut self, token: Option<&str>) -> u32 {
        self.next_context += 1;
        let ctx = self.next_context;
        let mut headers: Vec<RawHeader> = vec![
            (b":method".to_vec(), b"GET".to_vec()),
            (b":path".to_vec(), b"/api".to_vec()),
        ];
        if let Some(t) = token {
            headers.push((
                b"authorization".to_vec(),
                format!("Bearer {t}").into_bytes(),
            ));
        }
        self.host
            .0
            .borrow_mut()
            .requests
            .insert(ctx, (headers, Fate::Paused, vec![]));
        self.host.0.borrow_mut().current = ctx;
        let now = self.host.0.borrow().now_ms;
        if self.engine.on_request(ctx, now) {
            self.host.0.borrow_mut().requests.get_mut(&ctx).unwrap().1 = Fate::Forwarded;
        }
        ctx
    }

    fn fate(&self, ctx: u32) -> Fate {
        self.host.0.borrow().requests[&ctx].1.clone()
    }

    fn header(&self, ctx: u32, name: &str) -> Option<String> {
        let s = self.host.0.borrow();
        let (headers, _, local) = &s.requests[&ctx];
        headers
            .iter()
            .find(|(n, _)| n.as_slice() == name.as_bytes())
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .or_else(|| {
                local
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
            })
    }

    fn take_calls(&self) -> Vec<Call> {
        std::mem::take(&mut self.host.0.borrow_mut().calls)
    }

    fn one_call(&self) -> Call {
        let mut calls = self.take_calls();
        assert_eq!(calls.len(), 1, "{calls:?}");
        calls.remove(0)
    }

    /// Delivers an answer (`None` status: a failed call).
    fn answer(&mut self, call: &Call, status: Option<u32>, headers: &[(&str, &[u8])], body: &[u8]) {
        let mut pairs: Vec<RawHeader> = Vec::new();
        if let Some(status) = status {
            pairs.push((b":status".to_vec(), status.to_string().into_bytes()));
        }
        pairs.extend(
            headers
                .iter()
                .map(|(n, v)| (n.as_bytes().to_vec(), v.to_vec())),
        );
        self.host.0.borrow_mut().answer = Some((pairs, body.to_vec()));
        self.host.0.borrow_mut().current = call.context;
        self.engine
            .on_call_response(call.token, body.len(), call.context);
        self.host.0.borrow_mut().answer = None;
    }

    fn tick(&mut self) {
        self.host.0.borrow_mut().current = ROOT;
        let now = self.host.0.borrow().now_ms;
        self.engine.on_tick(ROOT, now);
    }

    fn advance(&mut self, ms: u64) {
        self.host.0.borrow_mut().now_ms += ms;
    }

    /// The client went away (the host deletes the context and cancels its calls).
    fn cancel(&mut self, ctx: u32) {
        self.host.0.borrow_mut().requests.remove(&ctx);
        self.engine.forget_context(ctx);
    }

    fn counter(&self, name: &str) -> u64 {
        self.host
            .0
            .borrow()
            .counters
            .get(name)
            .copied()
            .unwrap_or(0)
    }

    fn logged(&self, needle: &str) -> bool {
        self.host.0.borrow().logs.iter().any(|l| l.contains(needle))
    }
}

struct Keys {
    signing: SigningKey,
    kid: &'static str,
}

impl Keys {
    fn new(seed: u8, kid: &'static str) -> Keys {
        let mut bytes = [0u8; 32];
        bytes[31] = seed;
        bytes[0] = 0x11;
        Keys {
            signing: SigningKey::from_slice(&bytes).unwrap(),
            kid,
        }
    }

    fn jwk(&self) -> Value {
        let point = self.signing.verifying_key().to_encoded_point(false);
        json!({"kty": "EC", "crv": "P-256", "kid": self.kid, "alg": "ES256",
               "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()),
               "y": URL_SAFE_NO_PAD.encode(point.y().unwrap())})
    }

    fn token(&self, sub: &str) -> String {
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": self.kid});
        let claims = json!({"iss": "https://issuer.test", "aud": "api", "sub": sub,
                            "exp": NOW_MS / 1000 + 3600});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature: Signature = self.signing.sign(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }
}

fn jwks(keys: &[&Keys]) -> Vec<u8> {
    json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()})
        .to_string()
        .into_bytes()
}

fn remote(top: Value) -> Value {
    let mut c = json!({
        "providers": {"idp": {
            "issuer": "https://issuer.test", "audiences": ["api"],
            "remote_jwks": {"http_uri": {"uri": "https://idp.test/jwks.json", "cluster": "idp", "timeout": "2s"},
                            "cache_duration": "600s"},
            "claim_to_headers": [{"header_name": "x-user-id", "claim_name": "sub"}]
        }},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "idp"}}]
    });
    for (k, v) in top.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

/// A token whose signature has one byte changed (a character well inside the segment).
fn forged(keys: &Keys) -> String {
    let t = keys.token("mallory");
    let at = t.len() - 10;
    let swapped = if &t[at..=at] == "A" { "B" } else { "A" };
    format!("{}{swapped}{}", &t[..at], &t[at + 1..])
}

#[test]
fn cold_start_pauses_every_request_on_one_fetch() {
    let old = Keys::new(1, "old");
    let mut w = Worker::new(remote(json!({})));
    let a = w.send(Some(&old.token("alice")));
    let b = w.send(Some(&old.token("bob")));
    let bad = w.send(Some(&forged(&old)));
    let fetch = w.one_call();
    assert_eq!(
        (fetch.upstream.as_str(), fetch.path.as_str()),
        ("idp", "/jwks.json")
    );
    assert_eq!(fetch.context, a, "the first request dispatched");
    assert_eq!(
        [w.fate(a), w.fate(b), w.fate(bad)],
        [Fate::Paused, Fate::Paused, Fate::Paused]
    );
    w.answer(&fetch, Some(200), &[], &jwks(&[&old]));
    assert_eq!(w.fate(a), Fate::Forwarded);
    assert_eq!(w.header(a, "x-user-id").as_deref(), Some("alice"));
    assert_eq!(w.fate(b), Fate::Forwarded);
    assert_eq!(w.header(b, "x-user-id").as_deref(), Some("bob"));
    assert_eq!(w.fate(bad), Fate::Answered(401));
    assert!(w.take_calls().is_empty());
}

#[test]
fn rotation_right_after_the_cold_fetch_refetches_once_per_interval() {
    let old = Keys::new(1, "old");
    let new = Keys::new(2, "new");
    let mut w = Worker::new(remote(json!({})));
    w.tick();
    let fetch = w.one_call();
    assert_eq!(fetch.context, ROOT, "the first tick prefetches");
    w.answer(&fetch, Some(200), &[], &jwks(&[&old]));
    let first = w.send(Some(&new.token("carol")));
    let refetch = w.one_call();
    let second = w.send(Some(&new.token("dave")));
    assert!(w.take_calls().is_empty(), "one refetch for both");
    w.answer(&refetch, Some(200), &[], &jwks(&[&old, &new]));
    assert_eq!(w.fate(first), Fate::Forwarded);
    assert_eq!(w.fate(second), Fate::Forwarded);
    // Within `kid_refetch_interval` (30 s) of that refetch, another unknown kid: no fetch.
    let ghost = Keys::new(3, "ghost");
    let early = w.send(Some(&ghost.token("x")));
    assert_eq!(w.fate(early), Fate::Answered(401));
    assert!(w.take_calls().is_empty());
    // After it: one refetch, then none again within the interval.
    w.advance(30_000);
    let g1 = w.send(Some(&ghost.token("x")));
    let again = w.one_call();
    w.answer(&again, Some(200), &[], &jwks(&[&old, &new]));
    assert_eq!(w.fate(g1), Fate::Answered(401));
    let g2 = w.send(Some(&ghost.token("y")));
    assert_eq!(w.fate(g2), Fate::Answered(401));
    assert!(
        w.take_calls().is_empty(),
        "refetches for unknown kids are limited"
    );
}

/// Every way a fetch can fail leaves the waiters decided (never paused forever, never
/// forwarded) and the last good keys in place.
#[test]
fn failed_fetches_decide_their_waiters_and_keep_the_last_good_keys() {
    let old = Keys::new(1, "old");
    type Case = (&'static str, Option<u32>, Vec<u8>, usize, &'static str);
    let cases: [Case; 5] = [
        ("no answer", None, vec![], 0, "no_response"),
        ("status 500", Some(500), b"oops".to_vec(), 4, "http_status"),
        ("not json", Some(200), b"<html>".to_vec(), 6, "not_json"),
        (
            "body shorter than announced",
            Some(200),
            b"{\"keys\":[".to_vec(),
            4096,
            "truncated",
        ),
        (
            "no usable key",
            Some(200),
            b"{\"keys\":[{\"kty\":\"oct\",\"k\":\"AAAA\"}]}".to_vec(),
            35,
            "no_usable_keys",
        ),
    ];
    for (name, status, body, announced, reason) in cases {
        // Cold: the waiter is refused.
        let mut w = Worker::new(remote(json!({})));
        let ctx = w.send(Some(&old.token("alice")));
        let fetch = w.one_call();
        w.host.0.borrow_mut().answer = Some((
            status
                .map(|s| vec![(b":status".to_vec(), s.to_string().into_bytes())])
                .unwrap_or_default(),
            body.clone(),
        ));
        w.engine
            .on_call_response(fetch.token, announced, fetch.context);
        assert_eq!(w.fate(ctx), Fate::Answered(401), "{name}");
        assert_eq!(
            w.counter(&format!("jwtgate.jwks.idp.fetch_failed.{reason}")),
            1,
            "{name}: {:?}",
            w.host.0.borrow().logs
        );

        // Warm: a refresh failing the same way keeps the keys.
        let mut w = Worker::new(remote(json!({})));
        w.tick();
        let fetch = w.one_call();
        w.answer(&fetch, Some(200), &[], &jwks(&[&old]));
        w.advance(600_000);
        w.tick();
        let refresh = w.one_call();
        w.host.0.borrow_mut().answer = Some((
            status
                .map(|s| vec![(b":status".to_vec(), s.to_string().into_bytes())])
                .unwrap_or_default(),
            body.clone(),
        ));
        w.engine
            .on_call_response(refresh.token, announced, refresh.context);
        let ok = w.send(Some(&old.token("alice")));
        assert_eq!(w.fate(ok), Fate::Forwarded, "{name}: last good keys kept");
        let bad = w.send(Some(&forged(&old)));
        assert_eq!(w.fate(bad), Fate::Answered(401), "{name}");
    }
}

#[test]
fn an_overdue_fetch_is_given_up_and_a_late_answer_ignored() {
    let old = Keys::new(1, "old");
    let mut w = Worker::new(remote(json!({})));
    w.tick();
    let fetch = w.one_call();
    let ctx = w.send(Some(&old.token("alice")));
    w.advance(1_999);
    w.tick();
    assert_eq!(w.fate(ctx), Fate::Paused);
    w.advance(1);
    w.tick();
    assert_eq!(w.fate(ctx), Fate::Answered(401));
    assert_eq!(w.counter("jwtgate.jwks.idp.fetch_failed.overdue"), 1);
    w.answer(&fetch, Some(200), &[], &jwks(&[&old]));
    assert_eq!(
        w.counter("jwtgate.jwks.idp.fetch_success"),
        0,
        "late answer ignored"
    );
}

#[test]
fn a_cancelled_fetcher_does_not_strand_the_other_waiters() {
    let old = Keys::new(1, "old");
    let mut w = Worker::new(remote(json!({})));
    let first = w.send(Some(&old.token("alice")));
    let _fetch = w.one_call();
    let second = w.send(Some(&old.token("bob")));
    // The host cancels the first request's call with it.
    w.cancel(first);
    w.tick();
    let again = w.one_call();
    w.answer(&again, Some(200), &[], &jwks(&[&old]));
    assert_eq!(w.fate(second), Fate::Forwarded);
}

#[test]
fn retry_after_mode_never_pauses() {
    let old = Keys::new(1, "old");
    let mut w = Worker::new(remote(json!({"on_keys_loading": "retry_after"})));
    let ctx = w.send(Some(&old.token("alice")));
    assert_eq!(w.fate(ctx), Fate::Answered(503));
    assert_eq!(w.header(ctx, "retry-after").as_deref(), Some("1"));
    assert!(w.take_calls().is_empty(), "no request dispatches");
    w.tick();
    let fetch = w.one_call();
    assert_eq!(fetch.context, ROOT);
    w.answer(&fetch, Some(200), &[], &jwks(&[&old]));
    let ok = w.send(Some(&old.token("alice")));
    assert_eq!(w.fate(ok), Fate::Forwarded);
}

/// Host refusals: never a pass.
/// `share_jwks`: workers that start at the same moment make one fetch between them. The
/// first claims it in shared data; the second parks its requests and adopts the stored copy
/// on its next tick; a claim whose worker went silent expires with the fetch's timeout.
#[test]
fn workers_starting_together_make_one_fetch() {
    let old = Keys::new(1, "old");
    let config = remote(json!({"share_jwks": true}));
    let mut a = Worker::new(config.clone());
    let mut b = a.sibling(config.clone(), 8);
    let at_a = a.send(Some(&old.token("alice")));
    let at_b = b.send(Some(&old.token("bob")));
    let fetch = a.one_call();
    assert!(
        b.take_calls().is_empty(),
        "B fetched although A holds the claim"
    );
    assert_eq!(b.counter("jwtgate.jwks.idp.fetch_left_to_other_worker"), 1);
    assert_eq!((a.fate(at_a), b.fate(at_b)), (Fate::Paused, Fate::Paused));
    a.answer(&fetch, Some(200), &[], &jwks(&[&old]));
    assert_eq!(a.fate(at_a), Fate::Forwarded);
    // B's waiter is decided on B's tick, with A's copy.
    b.advance(300);
    b.tick();
    assert_eq!(b.fate(at_b), Fate::Forwarded);
    assert!(b.take_calls().is_empty(), "B fetched instead of adopting");
    assert_eq!(b.counter("jwtgate.jwks.idp.shared_adopted"), 1);

    // A claim is not forever: a worker that claimed and went silent (no answer, no release)
    // holds it until its timeout (2 s); then another fetches.
    let c_cfg = remote(json!({"share_jwks": true}));
    let mut c = Worker::new(c_cfg.clone());
    let mut d = c.sibling(c_cfg, 9);
    let _ = c.send(Some(&old.token("carol")));
    let _lost = c.one_call();
    let waiting = d.send(Some(&old.token("dave")));
    assert!(d.take_calls().is_empty());
    d.advance(2_001);
    d.tick();
    let fetch = d.one_call();
    d.answer(&fetch, Some(200), &[], &jwks(&[&old]));
    assert_eq!(d.fate(waiting), Fate::Forwarded);
    // A store that refuses cannot coordinate: each worker fetches for itself (never stuck).
    let mut e = Worker::new(remote(json!({"share_jwks": true})));
    e.host.0.borrow_mut().refuse.insert("shared", 10);
    let _ = e.send(Some(&old.token("erin")));
    assert_eq!(e.take_calls().len(), 1);
}

#[test]
fn host_refusals_fail_closed() {
    let old = Keys::new(1, "old");
    let rows: [(&str, u32, Fate); 4] = [
        ("read", 10, Fate::Answered(500)),
        ("write", 2, Fate::Answered(500)),
        // Cannot answer: stays paused, never forwarded.
        ("respond", 2, Fate::Paused),
        ("shared", 10, Fate::Forwarded),
    ];
    for (op, status, fate) in rows {
        let mut w = Worker::new(remote(json!({"share_jwks": true})));
        w.tick();
        let fetch = w.one_call();
        w.host.0.borrow_mut().refuse.insert(op, status);
        w.answer(&fetch, Some(200), &[], &jwks(&[&old]));
        let token = if op == "respond" {
            forged(&old)
        } else {
            old.token("alice")
        };
        let ctx = w.send(Some(&token));
        assert_eq!(w.fate(ctx), fate, "{op} refused");
    }
    // A refused resume after a wait: answered 500 instead (never forwarded).
    let mut w = Worker::new(remote(json!({})));
    let ctx = w.send(Some(&old.token("alice")));
    let fetch = w.one_call();
    w.host.0.borrow_mut().refuse.insert("resume", 2);
    w.answer(&fetch, Some(200), &[], &jwks(&[&old]));
    assert_eq!(w.fate(ctx), Fate::Answered(500));
    assert!(w.logged("refused to resume"));
}

fn ext(top: Value) -> Value {
    let mut c = json!({
        "ext_auth": {"authz": {
            "http_uri": {"uri": "http://auth.test/check", "cluster": "auth", "timeout": "1s"},
            "allowed_upstream_headers": ["x-user-id"],
            "allowed_client_headers": ["www-authenticate"],
            "cache": {"allow_ttl": "60s", "deny_ttl": "10s", "max_entries": 4}}},
        "rules": [{"match": {"prefix": "/"}, "requires": {"ext_auth": "authz"}}]
    });
    for (k, v) in top.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

#[test]
fn auth_calls_allow_deny_fail_and_time_out() {
    type Row = (
        &'static str,
        Option<u32>,
        Vec<(&'static str, &'static [u8])>,
        Fate,
    );
    let rows: Vec<Row> = vec![
        (
            "allow",
            Some(200),
            vec![("x-user-id", b"alice")],
            Fate::Forwarded,
        ),
        (
            "deny",
            Some(401),
            vec![("www-authenticate", b"Basic realm=\"caf\xe9\"")],
            Fate::Answered(401),
        ),
        ("forbidden", Some(403), vec![], Fate::Answered(403)),
        (
            "allow with altered identity",
            Some(200),
            vec![("x-user-id", b"Jos\xe9")],
            Fate::Answered(500),
        ),
        ("server error", Some(503), vec![], Fate::Answered(500)),
        ("no answer", None, vec![], Fate::Answered(500)),
    ];
    for (name, status, headers, fate) in rows {
        let mut w = Worker::new(ext(json!({})));
        let ctx = w.send(Some("opaque"));
        let call = w.one_call();
        assert_eq!(call.context, ctx);
        w.answer(&call, status, &headers, b"");
        assert_eq!(w.fate(ctx), fate, "{name}");
        if name == "allow" {
            assert_eq!(w.header(ctx, "x-user-id").as_deref(), Some("alice"));
        }
        if name == "deny" {
            assert_eq!(
                w.header(ctx, "www-authenticate"),
                None,
                "not rewritten: dropped"
            );
        }
    }
    // Overdue: answered at the deadline from the timer, the late answer ignored.
    let mut w = Worker::new(ext(json!({})));
    let ctx = w.send(Some("opaque"));
    let call = w.one_call();
    w.advance(1_000);
    w.tick();
    assert_eq!(w.fate(ctx), Fate::Answered(500));
    w.answer(&call, Some(200), &[("x-user-id", b"alice")], b"");
    assert_eq!(w.counter("jwtgate.ext_auth.authz.allowed"), 0);
}

#[test]
fn auth_answers_are_cached_per_method_and_path() {
    let mut w = Worker::new(ext(json!({})));
    let first = w.send(Some("opaque"));
    let call = w.one_call();
    w.answer(&call, Some(200), &[("x-user-id", b"alice")], b"");
    assert_eq!(w.fate(first), Fate::Forwarded);
    let again = w.send(Some("opaque"));
    assert_eq!(w.fate(again), Fate::Forwarded, "cached");
    assert!(w.take_calls().is_empty());
}

/// A host whose context switch is a no-op (ngx_wasm_module 3bed278, measured): with
/// `wake_other_requests: false` the engine never acts on a request from another request's
/// callback or from the timer, keys load without pausing anyone, and an overdue auth call is
/// left to the host's own timeout (then decided in the request's own callback).
#[test]
fn without_context_switching_nothing_acts_on_another_request() {
    let old = Keys::new(1, "old");
    let mut w = Worker::new(remote(json!({"wake_other_requests": false})));
    w.host.0.borrow_mut().select_is_noop = true;
    let a = w.send(Some(&old.token("alice")));
    let b = w.send(Some(&old.token("bob")));
    assert_eq!(
        [w.fate(a), w.fate(b)],
        [Fate::Answered(503), Fate::Answered(503)]
    );
    w.tick();
    let fetch = w.one_call();
    w.answer(&fetch, Some(200), &[], &jwks(&[&old]));
    let c = w.send(Some(&old.token("carol")));
    assert_eq!(w.fate(c), Fate::Forwarded);
    assert_eq!(w.host.0.borrow().wrong_context, 0);

    let mut w = Worker::new(ext(json!({"wake_other_requests": false})));
    w.host.0.borrow_mut().select_is_noop = true;
    let a = w.send(Some("one"));
    let call_a = w.one_call();
    let b = w.send(Some("two"));
    let call_b = w.one_call();
    w.advance(5_000);
    w.tick();
    assert_eq!(
        [w.fate(a), w.fate(b)],
        [Fate::Paused, Fate::Paused],
        "left to the host"
    );
    // The host ends the calls whenever it does (a dripping answer: ~35 s on ngx_wasm_module);
    // an allow that arrives after the deadline is a failed answer, decided in its own callback.
    w.answer(&call_b, Some(200), &[("x-user-id", b"bob")], b"");
    w.answer(&call_a, None, &[], b"");
    assert_eq!(w.fate(b), Fate::Answered(500));
    assert!(w.logged("answered after its timeout"));
    assert_eq!(w.fate(a), Fate::Answered(500));
    // In time, the same allow is honoured.
    let c = w.send(Some("three"));
    let call_c = w.one_call();
    w.advance(999);
    w.answer(&call_c, Some(200), &[("x-user-id", b"carol")], b"");
    assert_eq!(w.fate(c), Fate::Forwarded);
    assert_eq!(w.header(c, "x-user-id").as_deref(), Some("carol"));
    assert_eq!(w.host.0.borrow().wrong_context, 0);

    // The same burst on such a host with the default (Envoy) setting is what broke there:
    // the engine acts on other requests through the no-op switch.
    let mut w = Worker::new(remote(json!({})));
    w.host.0.borrow_mut().select_is_noop = true;
    let _a = w.send(Some(&old.token("alice")));
    let _b = w.send(Some(&old.token("bob")));
    let fetch = w.one_call();
    w.answer(&fetch, Some(200), &[], &jwks(&[&old]));
    assert!(w.host.0.borrow().wrong_context > 0);

    let pause = remote(json!({"wake_other_requests": false, "on_keys_loading": "pause"}));
    let error = Gateway::from_json(pause.to_string().as_bytes()).unwrap_err();
    assert!(error.to_string().contains("on_keys_loading"), "{error}");
}

/// A provider whose JWKS is found through its issuer's OpenID configuration document
/// (`<issuer>/.well-known/openid-configuration`, fetched through cluster `idp_doc`).
fn oidc(discovery: Value) -> Value {
    let mut c = remote(json!({}));
    c["providers"]["idp"]["remote_jwks"] = json!({
        "openid_configuration": discovery, "cache_duration": "600s"});
    c
}

fn document(issuer: &str, jwks_uri: &str) -> Vec<u8> {
    json!({"issuer": issuer, "jwks_uri": jwks_uri,
           "authorization_endpoint": "https://issuer.test/auth"})
    .to_string()
    .into_bytes()
}

#[test]
fn discovery_reads_the_document_then_fetches_the_jwks_it_names() {
    let old = Keys::new(1, "old");
    let mut w = Worker::new(oidc(json!({"cluster": "idp_doc", "timeout": "2s"})));
    let a = w.send(Some(&old.token("alice")));
    let doc = w.one_call();
    assert_eq!(
        (doc.upstream.as_str(), doc.path.as_str()),
        ("idp_doc", "/.well-known/openid-configuration")
    );
    let b = w.send(Some(&old.token("bob")));
    assert!(
        w.take_calls().is_empty(),
        "one document read for every waiter"
    );
    w.answer(
        &doc,
        Some(200),
        &[],
        &document("https://issuer.test", "https://issuer.test/certs?v=2"),
    );
    // The JWKS it names, through the document's cluster; the requests still wait.
    let fetch = w.one_call();
    assert_eq!(
        (fetch.upstream.as_str(), fetch.path.as_str()),
        ("idp_doc", "/certs?v=2")
    );
    assert_eq!((w.fate(a), w.fate(b)), (Fate::Paused, Fate::Paused));
    w.answer(&fetch, Some(200), &[], &jwks(&[&old]));
    assert_eq!((w.fate(a), w.fate(b)), (Fate::Forwarded, Fate::Forwarded));
    assert_eq!(w.counter("jwtgate.jwks.idp.discovered"), 1);
    assert!(w.logged("JWKS at https://issuer.test/certs?v=2"));
    // The refresh goes to the learned endpoint: the document is read once a day, not per fetch.
    w.advance(600_000);
    w.tick();
    let refresh = w.one_call();
    assert_eq!(refresh.path, "/certs?v=2");
    w.answer(&refresh, Some(200), &[], &jwks(&[&old]));
    w.advance(24 * 3_600_000);
    w.tick();
    assert_eq!(w.one_call().path, "/.well-known/openid-configuration");
}

#[test]
fn a_document_that_names_another_issuer_or_no_usable_jwks_uri_is_a_failed_fetch() {
    let old = Keys::new(1, "old");
    let rows: [(&[u8], &str); 8] = [
        (
            &document("https://evil.test", "https://issuer.test/certs"),
            "issuer_mismatch",
        ),
        // Two issuers: another parser may read the other one.
        (
            br#"{"issuer": "https://issuer.test", "issuer": "https://evil.test", "jwks_uri": "https://issuer.test/certs"}"#,
            "not_json",
        ),
        // Exactly equal: a trailing slash is another issuer (OIDC Discovery §4.3).
        (
            &document("https://issuer.test/", "https://issuer.test/certs"),
            "issuer_mismatch",
        ),
        (br#"{"issuer": "https://issuer.test"}"#, "bad_document"),
        // An https document never sends key fetches over http.
        (
            &document("https://issuer.test", "http://issuer.test/certs"),
            "bad_document",
        ),
        (&document("https://issuer.test", "/certs"), "bad_document"),
        (
            br#"{"issuer": "https://issuer.test", "jwks_uri": 7}"#,
            "bad_document",
        ),
        (b"<html>sign in</html>", "not_json"),
    ];
    for (body, failure) in rows {
        let mut w = Worker::new(oidc(json!({"cluster": "idp_doc"})));
        let ctx = w.send(Some(&old.token("alice")));
        let doc = w.one_call();
        w.answer(&doc, Some(200), &[], body);
        assert!(
            w.take_calls().is_empty(),
            "{failure}: a JWKS fetch followed"
        );
        assert_eq!(w.fate(ctx), Fate::Answered(401), "{failure}");
        assert_eq!(
            w.counter(&format!("jwtgate.jwks.idp.fetch_failed.{failure}")),
            1,
            "{failure}"
        );
        assert!(w.logged(&format!("failed: {failure}")), "{failure}");
    }
    // A document that is not 2xx, or too large, is a failed fetch like a JWKS.
    let mut w = Worker::new(oidc(json!({"cluster": "idp_doc"})));
    let ctx = w.send(Some(&old.token("alice")));
    let doc = w.one_call();
    w.answer(&doc, Some(404), &[], b"not found");
    assert_eq!(w.fate(ctx), Fate::Answered(401));
    assert_eq!(w.counter("jwtgate.jwks.idp.fetch_failed.http_status"), 1);
}

#[test]
fn the_document_chooses_the_path_never_the_cluster() {
    let old = Keys::new(1, "old");
    // The JWKS on another host: fetched through the configured jwks_cluster.
    let mut w = Worker::new(oidc(json!({
        "http_uri": {"uri": "https://issuer.test/.well-known/openid-configuration",
                     "cluster": "doc"},
        "jwks_cluster": "keys"})));
    let ctx = w.send(Some(&old.token("alice")));
    let doc = w.one_call();
    assert_eq!(doc.upstream, "doc");
    w.answer(
        &doc,
        Some(200),
        &[],
        &document("https://issuer.test", "https://keys.example.net/jwks"),
    );
    let fetch = w.one_call();
    assert_eq!(
        (fetch.upstream.as_str(), fetch.path.as_str()),
        ("keys", "/jwks")
    );
    w.answer(&fetch, Some(200), &[], &jwks(&[&old]));
    assert_eq!(w.fate(ctx), Fate::Forwarded);
    // Without jwks_cluster a JWKS on another host still goes to the document's cluster, and
    // the log says so.
    let mut w = Worker::new(oidc(json!({"cluster": "doc"})));
    let _ = w.send(Some(&old.token("alice")));
    let doc = w.one_call();
    w.answer(
        &doc,
        Some(200),
        &[],
        &document("https://issuer.test", "https://keys.example.net/jwks"),
    );
    assert_eq!(w.one_call().upstream, "doc");
    assert!(w.logged("set openid_configuration.jwks_cluster"));
}

#[test]
fn discovery_configuration_errors_name_the_field() {
    let error = |c: Value| {
        Gateway::from_json(c.to_string().as_bytes())
            .err()
            .unwrap()
            .to_string()
    };
    let mut both = oidc(json!({"cluster": "doc"}));
    both["providers"]["idp"]["remote_jwks"]["http_uri"] = json!({"uri": "https://i.test/k"});
    assert!(error(both).contains("providers.idp.remote_jwks: give `http_uri`"));
    let mut neither = remote(json!({}));
    neither["providers"]["idp"]["remote_jwks"] = json!({"cache_duration": "600s"});
    assert!(error(neither).contains("providers.idp.remote_jwks: needs `http_uri`"));
    let mut no_issuer = oidc(json!({"cluster": "doc"}));
    no_issuer["providers"]["idp"]
        .as_object_mut()
        .unwrap()
        .remove("issuer");
    assert!(error(no_issuer)
        .contains("providers.idp.remote_jwks.openid_configuration: needs the provider's `issuer`"));
    let mut not_a_url = oidc(json!({"cluster": "doc"}));
    not_a_url["providers"]["idp"]["issuer"] = json!("issuer-without-scheme");
    assert!(error(not_a_url).contains("the issuer does not make a document URI"));
    let twice = oidc(
        json!({"http_uri": {"uri": "https://issuer.test/.well-known/openid-configuration"}, "timeout": "1s"}),
    );
    assert!(error(twice).contains("give cluster and timeout inside http_uri"));
    let empty = oidc(json!({"jwks_cluster": ""}));
    assert!(error(empty).contains("openid_configuration.jwks_cluster: must be a non-empty name"));
}

// ---- Token introspection (RFC 7662) ----

const NOW_S: u64 = NOW_MS / 1000;

/// A provider `opaque` that introspects tokens at `http://127.0.0.1:9000/introspect`.
fn introspecting(extra: Value, top: Value) -> Value {
    let mut intro = json!({
        "http_uri": {"uri": "http://127.0.0.1:9000/oauth2/introspect?v=1", "cluster": "idp", "timeout": "1s"},
        "client_id": "my client:1",
        "client_secret": "p@ss:w/rd",
        "cache": {"ttl": "60s", "negative_ttl": "10s", "max_entries": 8}
    });
    for (k, v) in extra.as_object().unwrap() {
        intro[k] = v.clone();
    }
    let mut c = json!({
        "providers": {"opaque": {
            "introspection": intro,
            "issuer": "https://idp.test",
            "audiences": ["api"],
            "clock_skew_seconds": 0,
            "claim_to_headers": [{"header_name": "x-sub", "claim_name": "sub"}]}},
        "rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "opaque"}}]
    });
    for (k, v) in top.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

/// An active answer for `sub` expiring `exp_in` seconds from now, with `extra` members.
fn active(sub: &str, exp_in: i64, extra: Value) -> Vec<u8> {
    let mut a = json!({
        "active": true, "sub": sub, "iss": "https://idp.test", "aud": "api",
        "scope": "read write", "client_id": "web",
        "exp": (NOW_S as i64 + exp_in), "iat": NOW_S - 10
    });
    for (k, v) in extra.as_object().unwrap() {
        a[k] = v.clone();
    }
    a.to_string().into_bytes()
}

#[test]
fn introspection_posts_the_form_with_basic_auth_exactly() {
    let mut w = Worker::new(introspecting(json!({}), json!({})));
    let ctx = w.send(Some("tok+en/=%x~"));
    assert_eq!(w.fate(ctx), Fate::Paused);
    let call = w.one_call();
    assert_eq!(call.upstream, "idp");
    let headers: Vec<(&str, &str)> = call
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    // RFC 6749 §2.3.1: id and secret form-urlencoded, then joined by `:` and base64'd:
    // base64("my+client%3A1:p%40ss%3Aw%2Frd").
    assert_eq!(
        headers,
        [
            (":method", "POST"),
            (":path", "/oauth2/introspect?v=1"),
            (":authority", "127.0.0.1:9000"),
            (":scheme", "http"),
            ("content-type", "application/x-www-form-urlencoded"),
            ("accept", "application/json"),
            ("user-agent", concat!("jwtgate/", env!("CARGO_PKG_VERSION"))),
            (
                "authorization",
                "Basic bXkrY2xpZW50JTNBMTpwJTQwc3MlM0F3JTJGcmQ="
            ),
        ]
    );
    assert_eq!(
        String::from_utf8(call.body.clone()).unwrap(),
        "token=tok%2Ben%2F%3D%25x%7E&token_type_hint=access_token"
    );
    assert!(
        !w.host
            .0
            .borrow()
            .logs
            .iter()
            .any(|l| l.contains("tok+en") || l.contains("p@ss")),
        "neither the token nor the secret is logged"
    );
    w.answer(&call, Some(200), &[], &active("alice", 3600, json!({})));
    assert_eq!(w.fate(ctx), Fate::Forwarded);
    assert_eq!(w.header(ctx, "x-sub").as_deref(), Some("alice"));
    assert_eq!(w.counter("jwtgate.introspection.opaque.calls"), 1);
    assert_eq!(w.counter("jwtgate.introspection.opaque.active"), 1);
}

#[test]
fn a_configured_header_authenticates_instead_of_basic() {
    let mut config = introspecting(
        json!({"client_auth_header": {"name": "X-Api-Key", "value": "k-123"}}),
        json!({}),
    );
    let intro = config["providers"]["opaque"]["introspection"]
        .as_object_mut()
        .unwrap();
    intro.remove("client_id");
    intro.remove("client_secret");
    let mut w = Worker::new(config);
    w.send(Some("t1"));
    let call = w.one_call();
    assert!(call
        .headers
        .iter()
        .any(|(n, v)| n == "x-api-key" && v == "k-123"));
    assert!(!call.headers.iter().any(|(n, _)| n == "authorization"));
}

#[test]
fn active_answers_are_cached_until_exp_or_ttl() {
    let mut w = Worker::new(introspecting(json!({}), json!({})));
    let first = w.send(Some("t1"));
    let call = w.one_call();
    w.answer(&call, Some(200), &[], &active("alice", 5, json!({})));
    assert_eq!(w.fate(first), Fate::Forwarded);
    let again = w.send(Some("t1"));
    assert_eq!(w.fate(again), Fate::Forwarded, "cached");
    assert_eq!(w.header(again, "x-sub").as_deref(), Some("alice"));
    assert!(w.take_calls().is_empty());
    assert_eq!(w.counter("jwtgate.introspection.opaque.cache_hits"), 1);
    // `exp` (5 s) bounds the cache before its ttl (60 s): the token is asked about again.
    w.advance(5_000);
    let later = w.send(Some("t1"));
    assert_eq!(w.fate(later), Fate::Paused);
    let call = w.one_call();
    w.answer(&call, Some(200), &[], &active("alice", 0, json!({})));
    assert_eq!(w.fate(later), Fate::Answered(401), "expired by its exp");
    assert_eq!(w.counter("jwtgate.denied.expired"), 1);
    // Without `exp`, the ttl bounds it.
    let mut w = Worker::new(introspecting(json!({}), json!({})));
    w.send(Some("t2"));
    let call = w.one_call();
    let no_exp = json!({"active": true, "sub": "bob", "iss": "https://idp.test", "aud": "api"});
    w.answer(&call, Some(200), &[], no_exp.to_string().as_bytes());
    w.advance(59_999);
    w.send(Some("t2"));
    assert!(w.take_calls().is_empty(), "within the ttl");
    w.advance(1);
    w.send(Some("t2"));
    assert_eq!(w.take_calls().len(), 1, "the ttl ended");
}

#[test]
fn inactive_tokens_are_refused_and_cached_briefly() {
    let mut w = Worker::new(introspecting(json!({}), json!({})));
    let ctx = w.send(Some("revoked"));
    let call = w.one_call();
    w.answer(&call, Some(200), &[], br#"{"active":false}"#);
    assert_eq!(w.fate(ctx), Fate::Answered(401));
    assert!(w.logged("reason=token_inactive"));
    assert!(w
        .header(ctx, "www-authenticate")
        .unwrap()
        .contains("error=\"invalid_token\""));
    assert_eq!(w.counter("jwtgate.introspection.opaque.inactive"), 1);
    let again = w.send(Some("revoked"));
    assert_eq!(w.fate(again), Fate::Answered(401));
    assert!(w.take_calls().is_empty(), "negative cache");
    w.advance(10_000);
    w.send(Some("revoked"));
    assert_eq!(w.take_calls().len(), 1, "negative ttl over");
    assert_eq!(w.counter("jwtgate.denied.token_inactive"), 2);
}

#[test]
fn failed_introspection_fails_closed_and_is_never_cached() {
    type Row = (&'static str, Option<u32>, &'static [u8], &'static str);
    let rows: Vec<Row> = vec![
        (
            "server error",
            Some(503),
            br#"{"active":true}"#,
            "server_error",
        ),
        ("not json", Some(200), b"<html>", "not_json"),
        ("not an object", Some(200), b"[true]", "not_json"),
        ("other status", Some(401), b"{}", "status"),
        ("no answer", None, b"", "no_response"),
    ];
    for (name, status, body, kind) in rows {
        let mut w = Worker::new(introspecting(json!({}), json!({})));
        let ctx = w.send(Some("t1"));
        let call = w.one_call();
        w.answer(&call, status, &[], body);
        assert_eq!(w.fate(ctx), Fate::Answered(401), "{name}");
        assert!(w.logged("reason=introspection_error"), "{name}");
        assert_eq!(
            w.counter(&format!("jwtgate.introspection.opaque.errors.{kind}")),
            1,
            "{name}"
        );
        let again = w.send(Some("t1"));
        assert_eq!(w.fate(again), Fate::Paused, "{name}: not cached");
        assert_eq!(w.take_calls().len(), 1, "{name}");
    }
    // The provider's failure policy: `on_keys_unavailable: unavailable` answers 503.
    let mut config = introspecting(json!({}), json!({}));
    config["providers"]["opaque"]["on_keys_unavailable"] = json!("unavailable");
    let mut w = Worker::new(config);
    let ctx = w.send(Some("t1"));
    let call = w.one_call();
    w.answer(&call, Some(500), &[], b"");
    assert_eq!(w.fate(ctx), Fate::Answered(503));
    // A refused dispatch is a failure too.
    let mut w = Worker::new(introspecting(json!({}), json!({})));
    w.host.0.borrow_mut().refuse.insert("dispatch", 1);
    let ctx = w.send(Some("t1"));
    assert_eq!(w.fate(ctx), Fate::Answered(401));
    assert_eq!(
        w.counter("jwtgate.introspection.opaque.errors.dispatch_refused"),
        1
    );
}

#[test]
fn waiters_share_one_call_per_token() {
    let mut w = Worker::new(introspecting(json!({}), json!({})));
    let a = w.send(Some("t1"));
    let b = w.send(Some("t1"));
    let c = w.send(Some("t1"));
    let other = w.send(Some("t2"));
    let calls = w.take_calls();
    assert_eq!(calls.len(), 2, "one call per distinct token: {calls:?}");
    assert_eq!(calls[0].context, a);
    assert_eq!(calls[1].context, other);
    assert_eq!(w.counter("jwtgate.introspection.opaque.joined"), 2);
    w.answer(&calls[0], Some(200), &[], &active("alice", 3600, json!({})));
    for ctx in [a, b, c] {
        assert_eq!(w.fate(ctx), Fate::Forwarded);
        assert_eq!(w.header(ctx, "x-sub").as_deref(), Some("alice"));
    }
    assert_eq!(w.fate(other), Fate::Paused);
    // A failure reaches every sharer, and is not cached.
    let mut w = Worker::new(introspecting(json!({}), json!({})));
    let a = w.send(Some("t1"));
    let b = w.send(Some("t1"));
    let call = w.one_call();
    w.answer(&call, Some(502), &[], b"");
    assert_eq!(w.fate(a), Fate::Answered(401));
    assert_eq!(w.fate(b), Fate::Answered(401));
    w.send(Some("t1"));
    assert_eq!(w.take_calls().len(), 1);
}

#[test]
fn an_overdue_or_cancelled_call_does_not_strand_its_sharers() {
    let mut w = Worker::new(introspecting(json!({}), json!({})));
    let a = w.send(Some("t1"));
    let b = w.send(Some("t1"));
    let call = w.one_call();
    w.advance(1_000);
    w.tick();
    assert_eq!(w.fate(a), Fate::Answered(401));
    assert_eq!(w.fate(b), Fate::Answered(401));
    assert_eq!(
        w.counter("jwtgate.introspection.opaque.errors.no_response"),
        1
    );
    // The late answer is ignored (and caches nothing).
    w.answer(&call, Some(200), &[], &active("alice", 3600, json!({})));
    assert_eq!(w.counter("jwtgate.introspection.opaque.active"), 0);
    // The request that owned the call goes away: its sharer asks again on the next tick.
    let mut w = Worker::new(introspecting(json!({}), json!({})));
    let owner = w.send(Some("t1"));
    let sharer = w.send(Some("t1"));
    w.one_call();
    w.cancel(owner);
    w.tick();
    let call = w.one_call();
    assert_eq!(call.context, sharer);
    w.answer(&call, Some(200), &[], &active("alice", 3600, json!({})));
    assert_eq!(w.fate(sharer), Fate::Forwarded);
}

#[test]
fn introspected_claims_are_checked_like_a_jwts() {
    type Row = (&'static str, Value, Value, u32, &'static str);
    let rows: Vec<Row> = vec![
        (
            "scope missing",
            json!({"required_scopes": ["admin"]}),
            json!({}),
            403,
            "claims_forbidden",
        ),
        (
            "scopes present",
            json!({"required_scopes": ["read", "write"]}),
            json!({}),
            0,
            "",
        ),
        (
            "client not allowed",
            json!({"client_ids": ["cli"]}),
            json!({}),
            401,
            "client_not_allowed",
        ),
        (
            "client allowed",
            json!({"client_ids": ["cli", "web"]}),
            json!({}),
            0,
            "",
        ),
        (
            "audience",
            json!({}),
            json!({"aud": ["other"]}),
            403,
            "audience_not_allowed",
        ),
        (
            "issuer",
            json!({}),
            json!({"iss": "https://evil.test"}),
            401,
            "issuer_mismatch",
        ),
        (
            "expired",
            json!({}),
            json!({"exp": NOW_S - 1}),
            401,
            "expired",
        ),
        (
            "not yet valid",
            json!({}),
            json!({"nbf": NOW_S + 30}),
            401,
            "not_yet_valid",
        ),
        (
            "issued in the future",
            json!({}),
            json!({"iat": NOW_S + 30}),
            401,
            "issued_in_future",
        ),
        (
            "bad exp type",
            json!({}),
            json!({"exp": "soon"}),
            401,
            "malformed_claims",
        ),
    ];
    for (name, extra, members, status, reason) in rows {
        let mut w = Worker::new(introspecting(extra, json!({})));
        let ctx = w.send(Some("t1"));
        let call = w.one_call();
        w.answer(&call, Some(200), &[], &active("alice", 3600, members));
        if status == 0 {
            assert_eq!(w.fate(ctx), Fate::Forwarded, "{name}");
        } else {
            assert_eq!(w.fate(ctx), Fate::Answered(status), "{name}");
            assert!(w.logged(&format!("reason={reason}")), "{name}");
        }
    }
    // Claim conditions on the requirement read the answer's members.
    let config = introspecting(
        json!({}),
        json!({"rules": [{"match": {"prefix": "/"}, "requires": {"provider_name": "opaque",
            "claims": [{"claim": "scope", "contains": "admin"}]}}]}),
    );
    let mut w = Worker::new(config);
    let ctx = w.send(Some("t1"));
    let call = w.one_call();
    w.answer(&call, Some(200), &[], &active("alice", 3600, json!({})));
    assert_eq!(w.fate(ctx), Fate::Answered(403));
    assert!(w
        .header(ctx, "www-authenticate")
        .unwrap()
        .contains("insufficient_scope"));
}

#[test]
fn introspection_configuration_errors_name_the_field_and_hide_the_secret() {
    let check = |extra: Value| -> String {
        let mut config = introspecting(json!({}), json!({}));
        let intro = config["providers"]["opaque"]["introspection"]
            .as_object_mut()
            .unwrap();
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                intro.remove(k);
            } else {
                intro.insert(k.clone(), v.clone());
            }
        }
        match Gateway::from_json(config.to_string().as_bytes()) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    };
    let e = check(json!({"client_secret": "hunter2\n"}));
    assert!(
        e.contains("providers.opaque.introspection.client_secret"),
        "{e}"
    );
    assert!(!e.contains("hunter2"), "{e}");
    let e = check(json!({"client_secret": null}));
    assert!(e.contains("introspection.client_secret"), "{e}");
    let e = check(json!({"client_auth_header": {"name": "x-key", "value": "v"}}));
    assert!(e.contains("not both"), "{e}");
    let e = check(json!({"http_uri": {"uri": "ftp://idp/x"}}));
    assert!(e.contains("introspection.http_uri.uri"), "{e}");
    let e = check(json!({"required_scopes": ["a b"]}));
    assert!(e.contains("required_scopes[0]"), "{e}");
    let e = check(json!({"cache": {"ttl": "2d"}}));
    assert!(e.contains("introspection.cache.ttl"), "{e}");
    // Keys and introspection exclude each other.
    let mut config = introspecting(json!({}), json!({}));
    config["providers"]["opaque"]["keys"] =
        json!([{"kid": "k", "alg": "HS256", "secret": "0123456789abcdef0123456789abcdef"}]);
    let e = Gateway::from_json(config.to_string().as_bytes())
        .unwrap_err()
        .to_string();
    assert!(e.contains("providers.opaque.introspection"), "{e}");
    // Plain http to a host that is not local warns; the secret is not in the warning.
    let mut config = introspecting(json!({}), json!({}));
    config["providers"]["opaque"]["introspection"]["http_uri"]["uri"] =
        json!("http://idp.example.com/introspect");
    let g = Gateway::from_json(config.to_string().as_bytes()).unwrap();
    assert!(g.warnings().iter().any(
        |w| w.contains("providers.opaque.introspection.http_uri.uri") && w.contains("plain http")
    ));
    assert!(!format!("{:?}", g).contains("p@ss"));
}
