//! Heap allocations per request on the engine's request path, counted by a global allocator of
//! this test binary (its own process: no other test shares the counter). The host is a minimal
//! [`HostPort`] that writes the request's header pairs over the engine's kept list
//! ([`HostPort::request_headers_into`] with [`PairsWriter`], as both adapters do), and that
//! copy is counted too; the host's own bookkeeping (setting up each request) is not. Run with
//! `--nocapture` to see the table.
//!
//! Rows: a repeated (cached) HS256 token allowed, a repeated RS256 token allowed, a denial (no
//! token), an open route, and those four in turn. The bounds asserted are the counts measured
//! when the request path stopped allocating (none), so a change that adds an allocation per
//! request fails here.
// A test (or measurement) program: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jwtgate_core::engine::Engine;
use jwtgate_core::port::{HostError, HostPort, LogLevel, PairsWriter, RawHeader};
use jwtgate_core::{Gateway, LocalResponse};
use serde_json::json;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Only the measuring thread, only while it measures, and never inside the fake host.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn counting() -> bool {
    COUNTING.try_with(Cell::get).unwrap_or(false)
}

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counting() {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counting() {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` with counting paused (the fake host's own work).
fn uncounted<T>(f: impl FnOnce() -> T) -> T {
    let was = counting();
    COUNTING.with(|c| c.set(false));
    let out = f();
    COUNTING.with(|c| c.set(was));
    out
}

/// The host: one request's headers; counts what the engine asked for.
#[derive(Default)]
struct Host {
    headers: RefCell<Vec<RawHeader>>,
    status: Cell<u32>,
    forwarded: Cell<bool>,
}

/// The engine owns its host; the test reaches the same one through this pointer.
struct Shared(&'static Host);

impl HostPort for Shared {
    fn now_ms(&self) -> Result<u64, HostError> {
        Ok(NOW * 1000)
    }
    fn log(&self, _level: LogLevel, _line: &str) {}
    fn count(&self, _name: &str) {}
    fn gauge(&self, _name: &str, _value: u64) {}
    fn histogram(&self, _name: &str, _value: u64) {}
    fn select(&self, _context: u32) -> Result<(), HostError> {
        Ok(())
    }
    fn request_headers(&self) -> Result<Vec<RawHeader>, HostError> {
        Ok(uncounted(|| self.0.headers.borrow().clone()))
    }
    fn request_headers_into(&self, pairs: &mut Vec<RawHeader>) -> Result<usize, HostError> {
        let mut out = PairsWriter::new(pairs);
        for (name, value) in self.0.headers.borrow().iter() {
            out.push(name, value);
        }
        Ok(out.finish())
    }
    fn request_pseudo(&self, _name: &str, _property: &str) -> Result<Option<Vec<u8>>, HostError> {
        Ok(None)
    }
    fn remove_header(&self, _name: &str) -> Result<(), HostError> {
        Ok(())
    }
    fn replace_header(&self, _name: &str, _value: &str) -> Result<(), HostError> {
        Ok(())
    }
    fn respond(&self, response: &LocalResponse) -> Result<(), HostError> {
        self.0.status.set(response.status);
        Ok(())
    }
    fn resume(&self) -> Result<(), HostError> {
        self.0.forwarded.set(true);
        Ok(())
    }
    fn dispatch(&self, _: &str, _: &[(&str, &str)], _: &[u8], _: u64) -> Result<u32, HostError> {
        Err(HostError(12))
    }
    fn answer_headers(&self) -> Result<Vec<RawHeader>, HostError> {
        Ok(Vec::new())
    }
    fn answer_header(&self, _name: &str) -> Option<Vec<u8>> {
        None
    }
    fn answer_body(&self, _max: usize) -> Result<Option<Vec<u8>>, HostError> {
        Ok(None)
    }
    fn shared_get(&self, _key: &str) -> Option<(Vec<u8>, u32)> {
        None
    }
    fn shared_set(&self, _key: &str, _value: &[u8], _cas: u32) -> Result<(), HostError> {
        Ok(())
    }
}

const NOW: u64 = 1_700_000_000;
const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn claims() -> String {
    json!({"iss": "https://issuer.test", "aud": "api", "sub": "alice", "exp": NOW + 300})
        .to_string()
}

fn hs256() -> String {
    use hmac::{Hmac, Mac};
    let input = format!(
        "{}.{}",
        b64(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64(claims().as_bytes())
    );
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(input.as_bytes());
    format!("{input}.{}", b64(&mac.finalize().into_bytes()))
}

fn rsa_key() -> rsa::RsaPrivateKey {
    use rsa::pkcs8::DecodePrivateKey;
    rsa::RsaPrivateKey::from_pkcs8_pem(include_str!("fixtures/rsa2048-test-only.pem")).unwrap()
}

fn rs256(key: &rsa::RsaPrivateKey) -> String {
    use rsa::signature::{SignatureEncoding, Signer};
    let input = format!(
        "{}.{}",
        b64(br#"{"alg":"RS256","typ":"JWT","kid":"r1"}"#),
        b64(claims().as_bytes())
    );
    let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key.clone());
    format!("{input}.{}", b64(&signer.sign(input.as_bytes()).to_bytes()))
}

fn config(key: &rsa::RsaPrivateKey) -> String {
    use rsa::pkcs8::{EncodePublicKey, LineEnding};
    let pem = key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let claim_headers = json!([{"header_name": "x-jwt-sub", "claim_name": "sub"},
                               {"header_name": "x-jwt-roles", "claim_name": "realm_access.roles"}]);
    json!({
        "providers": {
            "hs": {"issuer": "https://issuer.test", "audiences": ["api"],
                   "keys": [{"kid": "h1", "alg": "HS256", "secret": SECRET}],
                   "claim_to_headers": claim_headers},
            "rs": {"issuer": "https://issuer.test", "audiences": ["api"],
                   "keys": [{"kid": "r1", "alg": "RS256", "pem": pem}],
                   "claim_to_headers": claim_headers}
        },
        "rules": [
            {"match": {"prefix": "/public"}},
            {"match": {"prefix": "/hs"}, "requires": {"provider_name": "hs"}},
            {"match": {"prefix": "/rs"}, "requires": {"provider_name": "rs"}}
        ]
    })
    .to_string()
}

/// A request as a proxy hands it over: pseudo-headers, a few ordinary headers, the token.
fn headers(path: &str, token: Option<&str>) -> Vec<RawHeader> {
    let mut h: Vec<(&str, String)> = vec![
        (":method", "GET".into()),
        (":path", path.into()),
        (":authority", "api.test".into()),
        (":scheme", "http".into()),
        ("user-agent", "wrk".into()),
        ("accept", "*/*".into()),
    ];
    if let Some(t) = token {
        h.push(("authorization", format!("Bearer {t}")));
    }
    h.into_iter()
        .map(|(n, v)| (n.as_bytes().to_vec(), v.into_bytes()))
        .collect()
}

/// A request of a row: path, token, the status it must get.
type Kind<'t> = (&'static str, Option<&'t str>, u32);

/// (allocations, bytes) per request, averaged over `n` requests after a warm-up round; the
/// row's kinds of request are sent in turn.
fn per_request(engine: &mut Engine, host: &Host, kinds: &[Kind<'_>]) -> (f64, f64) {
    let n = 100u64;
    let mut context = 10u32;
    let lists: Vec<Vec<RawHeader>> = kinds
        .iter()
        .map(|(path, token, _)| headers(path, *token))
        .collect();
    let mut run = |engine: &mut Engine, i: usize| {
        let (path, _, want) = kinds[i % kinds.len()];
        uncounted(|| *host.headers.borrow_mut() = lists[i % lists.len()].clone());
        context += 1;
        host.status.set(200);
        let forward = engine.on_request(context, NOW * 1000);
        engine.forget_context(context);
        let got = if forward { 200 } else { host.status.get() };
        assert_eq!(got, want, "{path}");
    };
    for i in 0..2 * kinds.len() {
        run(engine, i);
    }
    ALLOCATIONS.store(0, Ordering::SeqCst);
    BYTES.store(0, Ordering::SeqCst);
    COUNTING.with(|c| c.set(true));
    for i in 0..n as usize {
        run(engine, i);
    }
    COUNTING.with(|c| c.set(false));
    (
        ALLOCATIONS.load(Ordering::SeqCst) as f64 / n as f64,
        BYTES.load(Ordering::SeqCst) as f64 / n as f64,
    )
}

#[test]
fn allocations_per_request_on_the_request_path() {
    let key = rsa_key();
    let gateway = Gateway::from_json(config(&key).as_bytes()).unwrap();
    let host: &'static Host = Box::leak(Box::default());
    let mut engine = Engine::new(gateway, Box::new(Shared(host)), 1);
    let (hs, rs) = (hs256(), rs256(&key));
    let (hs, rs) = (Some(hs.as_str()), Some(rs.as_str()));
    // (label, requests, most allocations per request: measured when the request path stopped
    // allocating; main at fbd94cf made 46, 46, 49 and 20, issue 19's lean path 30, 30, 21, 8).
    let rows: [(&str, &[Kind<'_>], f64); 5] = [
        ("repeated HS256 token, allowed", &[("/hs/x", hs, 200)], 0.0),
        ("repeated RS256 token, allowed", &[("/rs/x", rs, 200)], 0.0),
        ("no token, denied (401)", &[("/hs/x", None, 401)], 0.0),
        ("open route", &[("/public/x", None, 200)], 0.0),
        // What a verdict leaves is reused by the next of another kind too.
        (
            "the four above in turn",
            &[
                ("/hs/x", hs, 200),
                ("/hs/x", None, 401),
                ("/rs/x", rs, 200),
                ("/public/x", None, 200),
            ],
            0.0,
        ),
    ];
    println!("| request | allocations | bytes allocated |");
    println!("|---|---|---|");
    let mut over = Vec::new();
    for (label, kinds, most) in rows {
        let (count, bytes) = per_request(&mut engine, host, kinds);
        println!("| {label} | {count:.1} | {bytes:.0} |");
        if count > most {
            over.push(format!(
                "{label}: {count} allocations per request (was {most})"
            ));
        }
    }
    assert!(over.is_empty(), "more allocations per request: {over:?}");
}
