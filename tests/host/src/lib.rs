//! Runs the built `jwtgate.wasm` inside `proxy-wasm-host`, a third-party Proxy-Wasm ABI 0.2.1
//! host on wasmtime: the same path as in a proxy (plugin configuration bytes, header maps,
//! local responses, host time, logs, metrics), driven by code nobody on this project wrote.
// The test harness: a failed check panics (that is the failed test).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use proxy_wasm_host::abi::v0_2_1::types::{
    Action, LogLevel, MapType, MetricType, Status, StreamType,
};
use proxy_wasm_host::abi::v0_2_1::{
    Access, CalloutId, Callouts, Clock, ContextId, Guest, GuestError, HeaderPairs, Host, HttpCall,
    HttpCallRefusal, HttpCallResponse, InMemoryStore, Invocation, LocalResponse, LogContext,
    LogSink, MetricId, PluginConfig, QueueId, SharedServices, SharedValue, Started, StreamKind,
    StreamState, VmServices,
};
use proxy_wasm_host::{Engine, Error, HeaderMap, Limits, Module, NotAllowed, PairVisitor};

/// The release filter: `$JWTGATE_WASM`, else the repository's build output.
pub fn wasm_path() -> PathBuf {
    std::env::var_os("JWTGATE_WASM")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/jwtgate.wasm"))
}

/// The PyJWT corpus (tests/corpus/gen.py): `$JWTGATE_CORPUS`, else the repository's
/// target/corpus/cases.json. Panics (a failed test) when it cannot be read: never a skip.
#[allow(clippy::panic)]
pub fn corpus() -> serde_json::Value {
    let path = std::env::var("JWTGATE_CORPUS").unwrap_or_else(|_| {
        format!(
            "{}/../../target/corpus/cases.json",
            env!("CARGO_MANIFEST_DIR")
        )
    });
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read the corpus at {path} ({e}); run `make corpus`"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("corpus JSON at {path}: {e}"))
}

/// The release filter compiled once per test process.
pub fn shared_filter() -> &'static Filter {
    static FILTER: OnceLock<Filter> = OnceLock::new();
    FILTER.get_or_init(|| match Filter::load(&wasm_path()) {
        Ok(filter) => filter,
        Err(e) => panic!("{e}"),
    })
}

/// A gateway of the shared filter configured with `config`, its clock at `now` (tests).
pub fn start_at(config: &str, now: u64) -> Gateway {
    match shared_filter().start(config) {
        Ok(gateway) => {
            gateway.set_now(now);
            gateway
        }
        Err(e) => panic!("start: {e}"),
    }
}

/// An HS256 token over the given header and claims JSON, signed with the `hmac` crate: tokens
/// for tests and the demo that do not come from jwtgate's own code.
pub fn hs256_token(secret: &[u8], header: &str, claims: &str) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use hmac::{Hmac, Mac};
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let mut mac = match Hmac::<sha2::Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(e) => panic!("hmac: {e}"),
    };
    mac.update(input.as_bytes());
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    )
}

/// The demo's RSA-2048 key pair (`demo/demo-rs256-*.pem`): RS256 tokens and a JWKS for the
/// remote-JWKS tests that do not depend on the PyJWT corpus.
pub fn demo_rsa_pem(private: bool) -> String {
    let name = if private {
        "demo-rs256-private.pem"
    } else {
        "demo-rs256-public.pem"
    };
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("demo")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// An RS256 token over the given header and claims JSON, signed with the `rsa` crate and the
/// demo's private key.
pub fn rs256_token(header: &str, claims: &str) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::signature::{SignatureEncoding, Signer};
    static KEY: OnceLock<rsa::pkcs1v15::SigningKey<sha2::Sha256>> = OnceLock::new();
    let key = KEY.get_or_init(|| {
        let private = rsa::RsaPrivateKey::from_pkcs8_pem(&demo_rsa_pem(true))
            .unwrap_or_else(|e| panic!("demo key: {e}"));
        rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(private)
    });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let signature = key.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
}

/// The demo's public key as one JWKS member (`kty` RSA, `alg` RS256, `use` sig) with `kid`.
pub fn demo_rsa_jwk(kid: &str) -> serde_json::Value {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use rsa::pkcs8::DecodePublicKey;
    use rsa::traits::PublicKeyParts;
    let public = rsa::RsaPublicKey::from_public_key_pem(&demo_rsa_pem(false))
        .unwrap_or_else(|e| panic!("demo public key: {e}"));
    serde_json::json!({
        "kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
        "n": URL_SAFE_NO_PAD.encode(public.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(public.e().to_bytes_be()),
    })
}

/// A compiled filter: compile once, start as many gateways as needed.
pub struct Filter {
    engine: Engine,
    module: Module,
    host: Host,
}

impl Filter {
    pub fn load(path: &Path) -> Result<Filter, String> {
        let bytes = std::fs::read(path).map_err(|e| {
            format!(
                "cannot read {} ({e}); run `make build` first",
                path.display()
            )
        })?;
        let engine = Engine::new().map_err(|e| e.to_string())?;
        let module = Module::new(&engine, &bytes).map_err(|e| e.to_string())?;
        let host = Host::new(&engine).map_err(|e| e.to_string())?;
        Ok(Filter {
            engine,
            module,
            host,
        })
    }

    /// A new VM of the filter, configured with `config` (the plugin configuration bytes).
    pub fn start(&self, config: &str) -> Result<Gateway, String> {
        self.start_with(config, true, Limits::default())
    }

    /// The same on a host that refuses metric calls (older ngx_wasm_module builds).
    pub fn start_without_metrics(&self, config: &str) -> Result<Gateway, String> {
        self.start_with(config, false, Limits::default())
    }

    /// The same with the VM's linear memory capped at `memory_bytes`.
    pub fn start_with_memory_limit(
        &self,
        config: &str,
        memory_bytes: usize,
    ) -> Result<Gateway, String> {
        self.start_with(
            config,
            true,
            Limits::default().with_memory_bytes(memory_bytes),
        )
    }

    /// A second VM (another worker) of the same plugin: same shared data and metrics store,
    /// clock set to `now`.
    pub fn start_sibling(&self, config: &str, of: &Gateway, now: u64) -> Result<Gateway, String> {
        self.start_full(config, Arc::clone(&of.metrics), Limits::default(), now)
    }

    fn start_with(&self, config: &str, metrics: bool, limits: Limits) -> Result<Gateway, String> {
        let metrics = Arc::new(MetricsRecorder {
            enabled: metrics,
            ..MetricsRecorder::default()
        });
        self.start_full(config, metrics, limits, 1_700_000_000)
    }

    fn start_full(
        &self,
        config: &str,
        metrics: Arc<MetricsRecorder>,
        limits: Limits,
        now: u64,
    ) -> Result<Gateway, String> {
        let _ = &self.engine;
        let plan = Arc::new(FaultPlan::default());
        let logs = Arc::new(Logs {
            lines: Mutex::default(),
            plan: Arc::clone(&plan),
        });
        let clock = Arc::new(TestClock {
            millis: AtomicU64::new(0),
            plan: Arc::clone(&plan),
        });
        clock.set_millis(now.saturating_mul(1000));
        let outbox = Arc::new(Outbox {
            calls: Mutex::default(),
            plan: Arc::clone(&plan),
        });
        let shared = Arc::new(FaultyShared {
            inner: Arc::clone(&metrics),
            plan: Arc::clone(&plan),
        });
        let services = VmServices::new(logs.clone())
            .with_clock(clock.clone())
            .with_shared(shared)
            .with_callouts(outbox.clone())
            .with_log_level(LogLevel::Trace);
        let mut guest =
            Guest::new(&self.host, &self.module, services, &limits).map_err(|e| e.to_string())?;
        let started = guest
            .start(PluginConfig::new().with_configuration(config.as_bytes().to_vec()))
            .map_err(|e| e.to_string())?;
        let root = match started {
            Started::Serving(root) => Some(root),
            _ => None,
        };
        Ok(Gateway {
            guest,
            root,
            logs,
            clock,
            metrics,
            outbox,
            streams: Streams::new(Arc::clone(&plan)),
            plan,
        })
    }
}

/// One configured VM of the filter.
pub struct Gateway {
    guest: Guest,
    /// `None` when `on_vm_start` or `on_configure` answered false.
    root: Option<ContextId>,
    logs: Arc<Logs>,
    clock: Arc<TestClock>,
    metrics: Arc<MetricsRecorder>,
    outbox: Arc<Outbox>,
    /// The host calls this gateway refuses (hostile-host mode), shared by its streams, its
    /// callout service and its shared data/metrics service.
    plan: Arc<FaultPlan>,
    /// Requests the filter paused, by context.
    streams: Streams,
}

/// A request sent through the filter: answered or forwarded at once, or paused.
#[derive(Debug)]
pub enum Sent {
    Done(Outcome),
    Paused(ContextId),
}

impl Sent {
    /// The outcome of a request that did not pause (panics otherwise).
    pub fn done(self) -> Outcome {
        match self {
            Sent::Done(outcome) => outcome,
            Sent::Paused(ctx) => panic!("request {ctx} paused"),
        }
    }

    /// The context of a paused request (panics otherwise).
    pub fn paused(self) -> ContextId {
        match self {
            Sent::Paused(ctx) => ctx,
            Sent::Done(outcome) => panic!("request did not pause: {outcome:?}"),
        }
    }
}

/// The same as [`Sent`] with the bytes exactly as the host holds them ([`Reply`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawSent {
    Done(Reply),
    Paused(ContextId),
}

impl RawSent {
    /// The reply of a request that did not pause (panics otherwise).
    pub fn done(self) -> Reply {
        match self {
            RawSent::Done(reply) => reply,
            RawSent::Paused(ctx) => panic!("request {ctx} paused"),
        }
    }

    /// The context of a paused request (panics otherwise).
    pub fn paused(self) -> ContextId {
        match self {
            RawSent::Paused(ctx) => ctx,
            RawSent::Done(reply) => panic!("request did not pause: {reply:?}"),
        }
    }
}

/// An HTTP call the filter dispatched, as the host's callout service received it.
#[derive(Debug, Clone)]
pub struct Callout {
    pub context: ContextId,
    pub id: CalloutId,
    pub upstream: String,
    pub headers: Vec<(String, String)>,
    /// The request body, as the host received it (empty: none).
    pub body: Vec<u8>,
    pub timeout_ms: u128,
}

impl Callout {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What happened to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The filter answered itself.
    Local {
        status: u32,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// The request went on; these are the headers the upstream would see (`:path` included).
    Forwarded { headers: Vec<(String, String)> },
}

impl Outcome {
    /// 200 stands for "forwarded upstream".
    pub fn status(&self) -> u32 {
        match self {
            Outcome::Local { status, .. } => *status,
            Outcome::Forwarded { .. } => 200,
        }
    }

    /// First value of a header (names compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        let headers = match self {
            Outcome::Local { headers, .. } | Outcome::Forwarded { headers } => headers,
        };
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn body(&self) -> &str {
        match self {
            Outcome::Local { body, .. } => body,
            Outcome::Forwarded { .. } => "",
        }
    }
}

/// Header pairs as bytes.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// What happened to a request, byte for byte (an [`Outcome`] is its lossy text form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The filter answered itself.
    Local {
        status: u32,
        headers: Pairs,
        body: Vec<u8>,
    },
    /// The request went on; these are the header pairs the upstream would see, in order.
    Forwarded { headers: Pairs },
}

impl Reply {
    /// 200 stands for "forwarded upstream".
    pub fn status(&self) -> u32 {
        match self {
            Reply::Local { status, .. } => *status,
            Reply::Forwarded { .. } => 200,
        }
    }

    pub fn is_forwarded(&self) -> bool {
        matches!(self, Reply::Forwarded { .. })
    }

    /// Every header pair (of the local response, or forwarded upstream).
    pub fn headers(&self) -> &Pairs {
        match self {
            Reply::Local { headers, .. } | Reply::Forwarded { headers } => headers,
        }
    }

    /// First value of a header (names compared ASCII-case-insensitively).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.header_all(name).into_iter().next()
    }

    /// The first value as (lossy) text.
    pub fn header_text(&self, name: &str) -> Option<String> {
        self.header(name).map(text)
    }

    /// Every value of a header, in order (names compared ASCII-case-insensitively).
    pub fn header_all(&self, name: &str) -> Vec<&[u8]> {
        self.headers()
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.as_slice())
            .collect()
    }

    pub fn body(&self) -> &[u8] {
        match self {
            Reply::Local { body, .. } => body,
            Reply::Forwarded { .. } => b"",
        }
    }

    pub fn body_text(&self) -> String {
        text(self.body())
    }

    /// The lossy text form the `&str` API returns.
    pub fn outcome(&self) -> Outcome {
        let lossy = |pairs: &Pairs| pairs.iter().map(|(n, v)| (text(n), text(v))).collect();
        match self {
            Reply::Local {
                status,
                headers,
                body,
            } => Outcome::Local {
                status: *status,
                headers: lossy(headers),
                body: text(body),
            },
            Reply::Forwarded { headers } => Outcome::Forwarded {
                headers: lossy(headers),
            },
        }
    }
}

/// How a callback of the filter failed, as a value (no panic in the harness).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostFailure {
    /// The guest trapped (a panic, `unreachable`, a limit, `proc_exit`): the VM is poisoned,
    /// as a real host would fail it (Envoy: the whole VM; NGINX: 500, or resumes a paused
    /// request). The text holds the trap and the filter's last `panic` log line if any.
    Trap(String),
    /// An earlier trap poisoned the VM: every later callback is refused.
    Poisoned,
    /// The host library refused the call before the guest ran (e.g. a delivery for a
    /// callout that is no longer open).
    Refused(String),
}

impl HostFailure {
    /// A trap, now or earlier.
    pub fn is_trap(&self) -> bool {
        matches!(self, HostFailure::Trap(_) | HostFailure::Poisoned)
    }
}

impl std::fmt::Display for HostFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HostFailure::Trap(why) => f.write_str(why),
            HostFailure::Poisoned => f.write_str("the guest is poisoned by an earlier trap"),
            HostFailure::Refused(why) => write!(f, "the host refused the call: {why}"),
        }
    }
}

/// A host call the harness can refuse: the keys of a [`Faults`] plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hostcall {
    /// Any read of the request header map (`proxy_get_header_map_pairs`/`_size`/`_value`):
    /// the host answers the fault's status instead of the map.
    ReadHeaders,
    /// Any write to the request header map (add, replace, remove, set pairs): the host
    /// answers the fault's status instead of the map.
    WriteHeaders,
    /// `proxy_replace_header_map_value` / `proxy_set_header_map_pairs`: the map refuses the
    /// write (the crate always reports `BAD_ARGUMENT`; the fault's status is not used).
    SetHeader,
    /// `proxy_add_header_map_value`: the map refuses (`BAD_ARGUMENT`).
    AddHeader,
    /// `proxy_remove_header_map_value`: the map refuses (`BAD_ARGUMENT`).
    RemoveHeader,
    /// `proxy_send_local_response`: refused, nothing is sent.
    LocalResponse,
    /// `proxy_continue_stream`: refused, the request stays paused.
    ContinueStream,
    /// `proxy_http_call`: refused. The crate's callout service can only say `BAD_ARGUMENT`
    /// (a fault status of `BadArgument`) or `INTERNAL_FAILURE` (any other status).
    HttpCall,
    GetSharedData,
    SetSharedData,
    DefineMetric,
    IncrementMetric,
    RecordMetric,
    GetMetric,
}

impl Hostcall {
    pub const SHARED_DATA: [Hostcall; 2] = [Hostcall::GetSharedData, Hostcall::SetSharedData];
    pub const METRICS: [Hostcall; 4] = [
        Hostcall::DefineMetric,
        Hostcall::IncrementMetric,
        Hostcall::RecordMetric,
        Hostcall::GetMetric,
    ];
    pub const HEADER_WRITES: [Hostcall; 4] = [
        Hostcall::WriteHeaders,
        Hostcall::SetHeader,
        Hostcall::AddHeader,
        Hostcall::RemoveHeader,
    ];
}

/// One refusal: the status the host answers, on every call or only on the `only_nth` one
/// (1-based, counted per [`Hostcall`] since [`Gateway::set_faults`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault {
    pub status: Status,
    pub only_nth: Option<u32>,
}

/// A fault plan: which host calls the gateway refuses, and how.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults(BTreeMap<Hostcall, Fault>);

impl Faults {
    /// Nothing refused (a well-behaved host).
    pub fn none() -> Faults {
        Faults::default()
    }

    /// Refuse every `call` with `status`.
    pub fn fail(mut self, call: Hostcall, status: Status) -> Faults {
        self.0.insert(
            call,
            Fault {
                status,
                only_nth: None,
            },
        );
        self
    }

    /// Refuse only the `n`-th `call` (1-based) with `status`.
    pub fn fail_nth(mut self, call: Hostcall, n: u32, status: Status) -> Faults {
        self.0.insert(
            call,
            Fault {
                status,
                only_nth: Some(n),
            },
        );
        self
    }

    /// Refuse every call of each kind in `calls` with `status`.
    pub fn fail_all(mut self, calls: &[Hostcall], status: Status) -> Faults {
        for call in calls {
            self = self.fail(*call, status);
        }
        self
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn get(&self, call: Hostcall) -> Option<Fault> {
        self.0.get(&call).copied()
    }
}

/// How the host's request header map compares names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HeaderCase {
    /// Byte-exact names (the crate's `VecHeaderMap`; the harness default).
    #[default]
    Exact,
    /// Names kept as sent, looked up, replaced and removed ASCII-case-insensitively (NGINX).
    Insensitive,
    /// Names lower-cased when the request arrives (Envoy), then byte-exact.
    Lowercase,
}

/// An answer to a callout, byte for byte: status, headers, body, or no response at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallAnswer {
    failed: bool,
    headers: Pairs,
    body: Vec<u8>,
    trailers: Pairs,
}

impl CallAnswer {
    /// A response with this `:status`.
    pub fn status(status: u32) -> CallAnswer {
        CallAnswer::raw_status(status.to_string().as_bytes())
    }

    /// A response whose `:status` is these bytes (not necessarily a number).
    pub fn raw_status(status: &[u8]) -> CallAnswer {
        CallAnswer {
            failed: false,
            headers: vec![(b":status".to_vec(), status.to_vec())],
            body: Vec::new(),
            trailers: Vec::new(),
        }
    }

    /// A response with these header pairs exactly (`:status` only if among them). The crate
    /// refuses to deliver a received response with no header at all.
    pub fn with_headers(headers: &[(&[u8], &[u8])]) -> CallAnswer {
        CallAnswer {
            failed: false,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_vec(), v.to_vec()))
                .collect(),
            body: Vec::new(),
            trailers: Vec::new(),
        }
    }

    /// No response (timeout, reset, refused connection): the ABI's header count of zero.
    pub fn failed() -> CallAnswer {
        CallAnswer {
            failed: true,
            headers: Vec::new(),
            body: Vec::new(),
            trailers: Vec::new(),
        }
    }

    /// One more header pair, any bytes.
    pub fn header(mut self, name: &[u8], value: &[u8]) -> CallAnswer {
        self.headers.push((name.to_vec(), value.to_vec()));
        self
    }

    /// The body (the ABI's body size is always this length).
    pub fn body(mut self, body: &[u8]) -> CallAnswer {
        self.body = body.to_vec();
        self
    }

    /// A `content-length` header announcing `bytes`, whatever the body's real length: a
    /// truncated (or padded) answer as a proxy that passes it on would show it. The crate
    /// gives the guest the real body length; it cannot announce another one in the ABI.
    pub fn announced(self, bytes: usize) -> CallAnswer {
        self.header(b"content-length", bytes.to_string().as_bytes())
    }

    /// One trailer pair.
    pub fn trailer(mut self, name: &[u8], value: &[u8]) -> CallAnswer {
        self.trailers.push((name.to_vec(), value.to_vec()));
        self
    }

    fn into_response(self) -> HttpCallResponse<'static> {
        if self.failed {
            return HttpCallResponse::failed();
        }
        let owned = |pairs: Pairs| -> HeaderPairs<'static> {
            pairs
                .into_iter()
                .map(|(n, v)| (Cow::Owned(n), Cow::Owned(v)))
                .collect()
        };
        HttpCallResponse::received(owned(self.headers))
            .with_body(self.body)
            .with_trailers(owned(self.trailers))
    }
}

impl Gateway {
    /// Whether the filter accepted its configuration (`on_configure` answered true).
    pub fn is_serving(&self) -> bool {
        self.root.is_some()
    }

    /// Whether a trap poisoned the VM (every later callback is refused).
    pub fn trapped(&self) -> bool {
        self.guest.is_poisoned()
    }

    /// The host clock the filter sees, in unix seconds.
    pub fn set_now(&self, unix_seconds: u64) {
        self.clock.set(unix_seconds);
    }

    /// Hostile-host mode: from now on the host refuses the calls in `faults` (counts of
    /// calls start again from zero).
    pub fn set_faults(&self, faults: Faults) {
        self.plan.reset(faults);
    }

    /// Every host call the filter made since the last [`Gateway::reset_host_calls`] (or
    /// start), by ABI function: each header-map read or write, `proxy_get_property`,
    /// `proxy_continue_stream`, `proxy_send_local_response`, the clock (`proxy_get_current_time_nanoseconds` and
    /// WASI's clock), `proxy_log`, metrics, shared data and `proxy_http_call`. The crate serves a
    /// few calls without asking the harness (`proxy_set_effective_context`,
    /// `proxy_set_tick_period_milliseconds`, `proxy_get_log_level`, configuration and call-answer
    /// buffers): those are not counted.
    pub fn host_calls(&self) -> BTreeMap<&'static str, u64> {
        self.plan.calls()
    }

    /// The total of [`Gateway::host_calls`].
    pub fn host_call_count(&self) -> u64 {
        self.plan.calls().values().sum()
    }

    /// Starts counting host calls from zero.
    pub fn reset_host_calls(&self) {
        self.plan.reset_calls();
    }

    /// How many `call`s the filter made since the last [`Gateway::set_faults`] (or start).
    pub fn hostcalls(&self, call: Hostcall) -> u32 {
        self.plan.seen(call)
    }

    /// The refusals actually injected since the last [`Gateway::set_faults`]: which call, its
    /// number, the status.
    pub fn injected(&self) -> Vec<(Hostcall, u32, Status)> {
        self.plan.injected()
    }

    /// How the host's request header map compares names (for requests sent from now on).
    pub fn set_header_case(&mut self, case: HeaderCase) {
        self.streams.case = case;
    }

    /// Runs one request through the filter's whole HTTP lifecycle.
    pub fn request(&mut self, method: &str, path: &str, headers: &[(&str, &str)]) -> Outcome {
        match self.try_request(method, path, headers) {
            Ok(outcome) => outcome,
            Err(e) => panic!("the host failed the request: {e}"),
        }
    }

    pub fn try_request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Outcome, String> {
        match self.send(method, path, headers)? {
            Sent::Done(outcome) => Ok(outcome),
            Sent::Paused(ctx) => {
                self.cancel(ctx);
                Err("paused without a local response (Pause)".into())
            }
        }
    }

    /// Sends a request's headers through the filter. A request the filter pauses stays open:
    /// see [`Gateway::outcome`], [`Gateway::cancel`].
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Sent, String> {
        match self.try_send(method, path, headers) {
            Ok(RawSent::Done(reply)) => Ok(Sent::Done(reply.outcome())),
            Ok(RawSent::Paused(ctx)) => Ok(Sent::Paused(ctx)),
            Err(e) => Err(e.to_string()),
        }
    }

    /// [`Gateway::send`] with a trap (or any host failure) as a value.
    pub fn try_send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<RawSent, HostFailure> {
        let pairs: Vec<(&[u8], &[u8])> = headers
            .iter()
            .map(|(n, v)| (n.as_bytes(), v.as_bytes()))
            .collect();
        self.send_bytes(method.as_bytes(), path.as_bytes(), &pairs)
    }

    /// Sends a request whose method, `:path`, header names and values are arbitrary bytes
    /// (obs-text, invalid UTF-8, raw 0xFF in the path as NGINX decodes `%ff`, ...).
    /// `:authority` is the `host` header's value if any, else `api.test`.
    pub fn send_bytes(
        &mut self,
        method: &[u8],
        path: &[u8],
        headers: &[(&[u8], &[u8])],
    ) -> Result<RawSent, HostFailure> {
        let root = self
            .root
            .ok_or_else(|| HostFailure::Refused("the filter refused its configuration".into()))?;
        let authority: &[u8] = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(b"host"))
            .map_or(b"api.test", |(_, v)| v);
        let pseudo: [(&[u8], &[u8]); 4] = [
            (b":method", method),
            (b":path", path),
            (b":authority", authority),
            (b":scheme", b"http"),
        ];
        let case = self.streams.case;
        let mut map = HostMap {
            pairs: Vec::new(),
            case,
            plan: Arc::clone(&self.plan),
        };
        for (name, value) in pseudo.iter().chain(headers.iter()) {
            let name = if case == HeaderCase::Lowercase {
                name.to_ascii_lowercase()
            } else {
                name.to_vec()
            };
            map.pairs.push((name, value.to_vec()));
        }
        let count = u32::try_from(map.pairs.len()).unwrap_or(u32::MAX);
        let mut pending = Some(Stream {
            headers: map,
            local: None,
            resumed: false,
        });
        let (result, streams) = self.guest.with(std::mem::take(&mut self.streams), |scope| {
            let ctx = scope.on_context_create(Some(root))?;
            if let Some(stream) = pending.take() {
                scope.stream_mut().open.insert(ctx, stream);
            }
            scope.expect_stream_kind(ctx, StreamKind::Http)?;
            let action = scope.on_request_headers(ctx, count, true)?;
            Ok::<(ContextId, Action), GuestError>((ctx, action))
        });
        self.streams = streams;
        let (ctx, action) = result.map_err(|e| self.failure(e))?;
        if action == Action::Continue {
            if let Some(stream) = self.streams.open.get_mut(&ctx) {
                stream.resumed = true;
            }
        }
        match self.try_reply(ctx)? {
            Some(reply) => Ok(RawSent::Done(reply)),
            None => Ok(RawSent::Paused(ctx)),
        }
    }

    /// The outcome of request `ctx` once the filter answered or resumed it (the request then
    /// completes and its context is deleted); `None` while it is still paused.
    pub fn outcome(&mut self, ctx: ContextId) -> Option<Outcome> {
        match self.try_reply(ctx) {
            Ok(reply) => reply.map(|r| r.outcome()),
            Err(e) => panic!("the host failed to finish request {ctx}: {e}"),
        }
    }

    /// [`Gateway::outcome`] byte for byte, with a trap while finishing the request
    /// (`on_done`/`on_log`/`on_delete`, and the failures the crate delivers for the
    /// request's open callouts) as a value.
    pub fn try_reply(&mut self, ctx: ContextId) -> Result<Option<Reply>, HostFailure> {
        let Some(reply) = self.peek(ctx) else {
            return Ok(None);
        };
        let finished = self.try_finish(ctx);
        self.streams.open.remove(&ctx);
        finished.map(|()| Some(reply))
    }

    /// What the filter decided for request `ctx` so far, without completing the request:
    /// `None` while it is paused (or unknown).
    pub fn peek(&self, ctx: ContextId) -> Option<Reply> {
        let stream = self.streams.open.get(&ctx)?;
        if stream.local.is_none() && !stream.resumed {
            return None;
        }
        Some(stream.reply())
    }

    /// The client went away: the paused request's context is deleted.
    pub fn cancel(&mut self, ctx: ContextId) {
        if let Err(e) = self.try_cancel(ctx) {
            panic!("the host failed to finish request {ctx}: {e}");
        }
    }

    /// [`Gateway::cancel`] with a trap as a value.
    pub fn try_cancel(&mut self, ctx: ContextId) -> Result<(), HostFailure> {
        let finished = self.try_finish(ctx);
        self.streams.open.remove(&ctx);
        finished
    }

    fn try_finish(&mut self, ctx: ContextId) -> Result<(), HostFailure> {
        let (result, streams) = self.guest.with(std::mem::take(&mut self.streams), |scope| {
            scope.on_done(ctx)?;
            scope.on_log(ctx)?;
            scope.on_delete(ctx)?;
            Ok::<(), GuestError>(())
        });
        self.streams = streams;
        result.map_err(|e| self.failure(e))
    }

    fn failure(&self, error: GuestError) -> HostFailure {
        match error {
            GuestError::Runtime(Error::Poisoned) => HostFailure::Poisoned,
            GuestError::Runtime(
                e @ (Error::Trap { .. } | Error::LimitExceeded { .. } | Error::GuestExit { .. }),
            ) => {
                let panic = self
                    .logs()
                    .into_iter()
                    .rev()
                    .find(|(_, line)| line.contains("panic"))
                    .map(|(_, line)| format!(" [{line}]"))
                    .unwrap_or_default();
                HostFailure::Trap(format!("{e}{panic}"))
            }
            other => HostFailure::Refused(other.to_string()),
        }
    }

    /// The HTTP calls dispatched since the last call, oldest first.
    pub fn take_callouts(&self) -> Vec<Callout> {
        self.outbox
            .calls
            .lock()
            .map(|mut o| std::mem::take(&mut *o))
            .unwrap_or_default()
    }

    /// Delivers an answer to a callout: `status` and `body` (plus extra headers).
    pub fn answer(&mut self, callout: &Callout, status: u32, body: &[u8]) {
        let answer = CallAnswer::status(status)
            .header(b"content-type", b"application/json")
            .body(body);
        self.deliver(callout, answer);
    }

    /// Delivers an answer with these headers (`:status` first) and body.
    pub fn answer_with(
        &mut self,
        callout: &Callout,
        status: u32,
        headers: &[(&str, &str)],
        body: &[u8],
    ) {
        let mut answer = CallAnswer::status(status).body(body);
        for (n, v) in headers {
            answer = answer.header(n.as_bytes(), v.as_bytes());
        }
        self.deliver(callout, answer);
    }

    /// Delivers a failed callout (timeout, broken connection): no status.
    pub fn fail(&mut self, callout: &Callout) {
        self.deliver(callout, CallAnswer::failed());
    }

    fn deliver(&mut self, callout: &Callout, answer: CallAnswer) {
        if let Err(e) = self.try_deliver(callout, answer) {
            panic!("delivering callout {:?}: {e}", callout.id);
        }
    }

    /// Delivers any answer (raw bytes, odd bodies, no response) to a callout, with a trap
    /// (or the crate's refusal, e.g. for a callout that ended with its context) as a value.
    pub fn try_deliver(
        &mut self,
        callout: &Callout,
        answer: CallAnswer,
    ) -> Result<(), HostFailure> {
        let response = answer.into_response();
        let (result, streams) = self.guest.with(std::mem::take(&mut self.streams), |scope| {
            scope.on_http_call_response(callout.context, callout.id, response)
        });
        self.streams = streams;
        result.map_err(|e| self.failure(e))
    }

    /// Runs the root's `on_tick` once (the host runs no timer by itself).
    pub fn tick(&mut self) {
        if let Err(e) = self.try_tick() {
            panic!("on_tick: {e}");
        }
    }

    /// [`Gateway::tick`] with a trap as a value.
    pub fn try_tick(&mut self) -> Result<(), HostFailure> {
        let Some(root) = self.root else { return Ok(()) };
        let (result, streams) = self.guest.with(std::mem::take(&mut self.streams), |scope| {
            scope.on_tick(root)
        });
        self.streams = streams;
        result.map_err(|e| self.failure(e))
    }

    /// The tick period the root asked for.
    pub fn tick_period(&self) -> Option<std::time::Duration> {
        self.root.and_then(|root| self.guest.tick_period(root))
    }

    /// Moves the host clock forward.
    pub fn advance_millis(&self, millis: u64) {
        self.clock.advance_millis(millis);
    }

    /// Number of requests still paused.
    pub fn paused_count(&self) -> usize {
        self.streams
            .open
            .values()
            .filter(|s| s.local.is_none() && !s.resumed)
            .count()
    }

    /// Every log line so far, with its level.
    pub fn logs(&self) -> Vec<(LogLevel, String)> {
        self.logs
            .lines
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    pub fn clear_logs(&self) {
        if let Ok(mut lines) = self.logs.lines.lock() {
            lines.clear();
        }
    }

    /// Counter values by full metric name.
    pub fn metrics(&self) -> HashMap<String, i64> {
        self.metrics.snapshot()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One request as the host holds it.
struct Stream {
    headers: HostMap,
    local: Option<LocalResponse<'static>>,
    /// The filter let it continue (`Continue`, or `proxy_continue_stream` later).
    resumed: bool,
}

impl Stream {
    fn reply(&self) -> Reply {
        if let Some(local) = &self.local {
            return Reply::Local {
                status: local.status_code,
                headers: local
                    .headers
                    .iter()
                    .map(|(n, v)| (n.to_vec(), v.to_vec()))
                    .collect(),
                body: local.body.to_vec(),
            };
        }
        Reply::Forwarded {
            headers: self.headers.pairs.clone(),
        }
    }
}

/// The request header map: byte pairs in order, names compared as [`HeaderCase`] says, and
/// writes refused as the fault plan says.
struct HostMap {
    pairs: Pairs,
    case: HeaderCase,
    plan: Arc<FaultPlan>,
}

impl HostMap {
    fn same(&self, a: &[u8], b: &[u8]) -> bool {
        match self.case {
            HeaderCase::Insensitive => a.eq_ignore_ascii_case(b),
            HeaderCase::Exact | HeaderCase::Lowercase => a == b,
        }
    }

    fn allow(&self, call: Hostcall) -> Result<(), NotAllowed> {
        self.plan.check(call).map_err(|_| NotAllowed)
    }
}

impl HeaderMap for HostMap {
    fn get(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        // `header_map` counted a read of the whole map; this one was a single value.
        self.plan.uncount("proxy_get_header_map_pairs");
        self.plan.count("proxy_get_header_map_value");
        self.pairs
            .iter()
            .find(|(n, _)| self.same(n, key))
            .map(|(_, v)| Cow::Borrowed(v.as_slice()))
    }

    fn for_each_pair(&self, f: &mut PairVisitor<'_>) -> std::ops::ControlFlow<()> {
        for (n, v) in &self.pairs {
            f(n, v)?;
        }
        std::ops::ControlFlow::Continue(())
    }

    fn set(&mut self, key: &[u8], value: &[u8]) -> Result<(), NotAllowed> {
        self.plan.count("proxy_replace_header_map_value");
        self.allow(Hostcall::SetHeader)?;
        match self.pairs.iter().position(|(n, _)| self.same(n, key)) {
            Some(first) => {
                self.pairs[first].1 = value.to_vec();
                let mut index = 0;
                let case = self.case;
                self.pairs.retain(|(n, _)| {
                    let keep = index <= first
                        || !(match case {
                            HeaderCase::Insensitive => n.eq_ignore_ascii_case(key),
                            _ => n == key,
                        });
                    index += 1;
                    keep
                });
            }
            None => self.pairs.push((key.to_vec(), value.to_vec())),
        }
        Ok(())
    }

    fn add(&mut self, key: &[u8], value: &[u8]) -> Result<(), NotAllowed> {
        self.plan.count("proxy_add_header_map_value");
        self.allow(Hostcall::AddHeader)?;
        self.pairs.push((key.to_vec(), value.to_vec()));
        Ok(())
    }

    fn remove(&mut self, key: &[u8]) -> Result<(), NotAllowed> {
        self.plan.count("proxy_remove_header_map_value");
        self.allow(Hostcall::RemoveHeader)?;
        let case = self.case;
        self.pairs.retain(|(n, _)| match case {
            HeaderCase::Insensitive => !n.eq_ignore_ascii_case(key),
            _ => n != key,
        });
        Ok(())
    }

    fn replace_all(&mut self, pairs: &[(&[u8], &[u8])]) -> Result<(), NotAllowed> {
        self.plan.count("proxy_set_header_map_pairs");
        self.allow(Hostcall::SetHeader)?;
        self.pairs = pairs
            .iter()
            .map(|(n, v)| (n.to_vec(), v.to_vec()))
            .collect();
        Ok(())
    }

    fn len(&self) -> usize {
        self.pairs.len()
    }
}

/// Every open request, lent to each callback: a call acts on the request of the effective
/// context (the filter may switch it with `proxy_set_effective_context`), as in a proxy.
#[derive(Default)]
struct Streams {
    open: HashMap<ContextId, Stream>,
    case: HeaderCase,
    plan: Arc<FaultPlan>,
}

impl Streams {
    fn new(plan: Arc<FaultPlan>) -> Streams {
        Streams {
            open: HashMap::new(),
            case: HeaderCase::default(),
            plan,
        }
    }

    fn of(&mut self, call: Invocation) -> Result<&mut Stream, Status> {
        self.open.get_mut(&call.context).ok_or(Status::BadArgument)
    }
}

impl StreamState for Streams {
    fn header_map(
        &mut self,
        call: Invocation,
        access: Access,
        map: MapType,
    ) -> Result<&mut dyn HeaderMap, Status> {
        let plan = Arc::clone(&self.plan);
        let stream = self.of(call)?;
        match map {
            MapType::HttpRequestHeaders => {
                // One read per call: `proxy_get_header_map_pairs` (or `_size`), unless the
                // map's `get` says it was `proxy_get_header_map_value`. Writes are counted by
                // the map's methods.
                if access == Access::Read {
                    plan.count("proxy_get_header_map_pairs");
                }
                plan.check(match access {
                    Access::Read => Hostcall::ReadHeaders,
                    Access::Write => Hostcall::WriteHeaders,
                })?;
                Ok(&mut stream.headers)
            }
            _ => Err(Status::NotFound),
        }
    }

    fn continue_stream(&mut self, call: Invocation, stream: StreamType) -> Result<(), Status> {
        let plan = Arc::clone(&self.plan);
        plan.count("proxy_continue_stream");
        let state = self.of(call)?;
        if stream != StreamType::HttpRequest || state.resumed || state.local.is_some() {
            return Err(Status::BadArgument);
        }
        plan.check(Hostcall::ContinueStream)?;
        state.resumed = true;
        Ok(())
    }

    fn send_local_response(
        &mut self,
        call: Invocation,
        response: LocalResponse<'_>,
    ) -> Result<(), Status> {
        let plan = Arc::clone(&self.plan);
        plan.count("proxy_send_local_response");
        let state = self.of(call)?;
        if state.resumed || state.local.is_some() {
            return Err(Status::BadArgument);
        }
        plan.check(Hostcall::LocalResponse)?;
        state.local = Some(response.into_owned());
        Ok(())
    }

    /// No property but the crate's own: counted, then `NOT_FOUND` (the crate's default).
    fn property(
        &mut self,
        _call: Invocation,
        _path: &[&[u8]],
        _out: &mut Vec<u8>,
    ) -> Result<(), Status> {
        self.plan.count("proxy_get_property");
        Err(Status::NotFound)
    }
}

/// The fault plan of one gateway, with counts of the calls it saw.
#[derive(Default)]
struct FaultPlan(Mutex<PlanState>);

#[derive(Default)]
struct PlanState {
    faults: Faults,
    seen: HashMap<Hostcall, u32>,
    injected: Vec<(Hostcall, u32, Status)>,
    /// Host calls by ABI function name (not reset with the faults).
    calls: BTreeMap<&'static str, u64>,
}

impl FaultPlan {
    /// Counts `call`; its status if the plan refuses it.
    fn check(&self, call: Hostcall) -> Result<(), Status> {
        let Ok(mut state) = self.0.lock() else {
            return Ok(());
        };
        let count = state.seen.entry(call).or_insert(0);
        *count += 1;
        let n = *count;
        let Some(fault) = state.faults.get(call) else {
            return Ok(());
        };
        if fault.only_nth.is_some_and(|only| only != n) {
            return Ok(());
        }
        state.injected.push((call, n, fault.status));
        Err(fault.status)
    }

    fn reset(&self, faults: Faults) {
        if let Ok(mut state) = self.0.lock() {
            let calls = std::mem::take(&mut state.calls);
            *state = PlanState {
                faults,
                calls,
                ..PlanState::default()
            };
        }
    }

    /// Counts one host call of ABI function `name`.
    fn count(&self, name: &'static str) {
        if let Ok(mut state) = self.0.lock() {
            *state.calls.entry(name).or_insert(0) += 1;
        }
    }

    fn uncount(&self, name: &'static str) {
        if let Ok(mut state) = self.0.lock() {
            if let Some(n) = state.calls.get_mut(name) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    state.calls.remove(name);
                }
            }
        }
    }

    fn calls(&self) -> BTreeMap<&'static str, u64> {
        self.0.lock().map(|s| s.calls.clone()).unwrap_or_default()
    }

    fn reset_calls(&self) {
        if let Ok(mut state) = self.0.lock() {
            state.calls.clear();
        }
    }

    fn seen(&self, call: Hostcall) -> u32 {
        self.0
            .lock()
            .map(|s| s.seen.get(&call).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    fn injected(&self) -> Vec<(Hostcall, u32, Status)> {
        self.0
            .lock()
            .map(|s| s.injected.clone())
            .unwrap_or_default()
    }
}

/// The host's callout service: keeps each call for the test to answer.
struct Outbox {
    calls: Mutex<Vec<Callout>>,
    plan: Arc<FaultPlan>,
}

impl Callouts for Outbox {
    fn http_call(
        &self,
        call: Invocation,
        callout: CalloutId,
        request: HttpCall<'_>,
    ) -> Result<(), HttpCallRefusal> {
        self.plan.count("proxy_http_call");
        if request.upstream.as_ref() == b"unknown-cluster" {
            return Err(HttpCallRefusal::UnknownUpstream);
        }
        if let Err(status) = self.plan.check(Hostcall::HttpCall) {
            return Err(match status {
                Status::BadArgument => HttpCallRefusal::UnknownUpstream,
                _ => HttpCallRefusal::Failed,
            });
        }
        let mut outbox = self.calls.lock().map_err(|_| HttpCallRefusal::Failed)?;
        outbox.push(Callout {
            context: call.context,
            id: callout,
            upstream: text(&request.upstream),
            headers: request
                .headers
                .iter()
                .map(|(n, v)| (text(n), text(v)))
                .collect(),
            body: request.body.to_vec(),
            timeout_ms: request.timeout.as_millis(),
        });
        Ok(())
    }
}

/// The shared data and metrics service of one gateway: its siblings' common store, with this
/// gateway's refusals in front.
struct FaultyShared {
    inner: Arc<MetricsRecorder>,
    plan: Arc<FaultPlan>,
}

impl SharedServices for FaultyShared {
    fn get_shared_data(
        &self,
        call: Invocation,
        vm_id: &[u8],
        key: &[u8],
    ) -> Result<SharedValue, Status> {
        self.plan.count("proxy_get_shared_data");
        self.plan.check(Hostcall::GetSharedData)?;
        self.inner.get_shared_data(call, vm_id, key)
    }

    fn set_shared_data(
        &self,
        call: Invocation,
        vm_id: &[u8],
        key: &[u8],
        value: &[u8],
        cas: Option<u32>,
    ) -> Result<(), Status> {
        self.plan.count("proxy_set_shared_data");
        self.plan.check(Hostcall::SetSharedData)?;
        self.inner.set_shared_data(call, vm_id, key, value, cas)
    }

    fn register_shared_queue(
        &self,
        call: Invocation,
        vm_id: &[u8],
        name: &[u8],
    ) -> Result<QueueId, Status> {
        self.inner.register_shared_queue(call, vm_id, name)
    }

    fn resolve_shared_queue(
        &self,
        call: Invocation,
        vm_id: &[u8],
        name: &[u8],
    ) -> Result<QueueId, Status> {
        self.inner.resolve_shared_queue(call, vm_id, name)
    }

    fn enqueue_shared_queue(
        &self,
        call: Invocation,
        queue: QueueId,
        value: &[u8],
    ) -> Result<(), Status> {
        self.inner.enqueue_shared_queue(call, queue, value)
    }

    fn dequeue_shared_queue(&self, call: Invocation, queue: QueueId) -> Result<Vec<u8>, Status> {
        self.inner.dequeue_shared_queue(call, queue)
    }

    fn define_metric(
        &self,
        call: Invocation,
        vm_id: &[u8],
        kind: MetricType,
        name: &[u8],
    ) -> Result<MetricId, Status> {
        self.plan.count("proxy_define_metric");
        self.plan.check(Hostcall::DefineMetric)?;
        self.inner.define_metric(call, vm_id, kind, name)
    }

    fn record_metric(&self, call: Invocation, metric: MetricId, value: u64) -> Result<(), Status> {
        self.plan.count("proxy_record_metric");
        self.plan.check(Hostcall::RecordMetric)?;
        self.inner.record_metric(call, metric, value)
    }

    fn increment_metric(
        &self,
        call: Invocation,
        metric: MetricId,
        delta: i64,
    ) -> Result<(), Status> {
        self.plan.count("proxy_increment_metric");
        self.plan.check(Hostcall::IncrementMetric)?;
        self.inner.increment_metric(call, metric, delta)
    }

    fn get_metric(&self, call: Invocation, metric: MetricId) -> Result<u64, Status> {
        self.plan.count("proxy_get_metric");
        self.plan.check(Hostcall::GetMetric)?;
        self.inner.get_metric(call, metric)
    }
}

struct Logs {
    lines: Mutex<Vec<(LogLevel, String)>>,
    /// Counts the host calls.
    plan: Arc<FaultPlan>,
}

impl LogSink for Logs {
    fn log(&self, _context: LogContext<'_>, level: LogLevel, message: &[u8]) {
        self.plan.count("proxy_log");
        if let Ok(mut lines) = self.lines.lock() {
            lines.push((level, text(message)));
        }
    }
}

/// A clock the test sets; starts at 2023-11-14T22:13:20Z (1_700_000_000).
struct TestClock {
    millis: AtomicU64,
    /// Counts the host calls.
    plan: Arc<FaultPlan>,
}

impl TestClock {
    fn set(&self, seconds: u64) {
        self.set_millis(seconds.saturating_mul(1000));
    }

    fn set_millis(&self, millis: u64) {
        self.millis.store(millis, Ordering::SeqCst);
    }

    fn advance_millis(&self, millis: u64) {
        self.millis.fetch_add(millis, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn realtime_nanos(&self) -> u64 {
        self.plan.count("proxy_get_current_time_nanoseconds");
        self.millis.load(Ordering::SeqCst).saturating_mul(1_000_000)
    }

    fn monotonic_nanos(&self) -> u64 {
        self.plan.count("wasi clock_time_get (monotonic)");
        self.millis.load(Ordering::SeqCst).saturating_mul(1_000_000)
    }
}

/// The host's in-memory shared data and queues, with metrics kept where tests can read them
/// (the in-memory store gives no read of metrics).
#[derive(Default)]
struct MetricsRecorder {
    /// false: metric calls answer NOT_FOUND, as a host without metrics.
    enabled: bool,
    inner: InMemoryStore,
    metrics: Mutex<(Vec<String>, HashMap<String, i64>)>,
}

impl MetricsRecorder {
    fn snapshot(&self) -> HashMap<String, i64> {
        self.metrics.lock().map(|m| m.1.clone()).unwrap_or_default()
    }
}

impl SharedServices for MetricsRecorder {
    fn get_shared_data(
        &self,
        call: Invocation,
        vm_id: &[u8],
        key: &[u8],
    ) -> Result<SharedValue, Status> {
        self.inner.get_shared_data(call, vm_id, key)
    }

    fn set_shared_data(
        &self,
        call: Invocation,
        vm_id: &[u8],
        key: &[u8],
        value: &[u8],
        cas: Option<u32>,
    ) -> Result<(), Status> {
        self.inner.set_shared_data(call, vm_id, key, value, cas)
    }

    fn register_shared_queue(
        &self,
        call: Invocation,
        vm_id: &[u8],
        name: &[u8],
    ) -> Result<QueueId, Status> {
        self.inner.register_shared_queue(call, vm_id, name)
    }

    fn resolve_shared_queue(
        &self,
        call: Invocation,
        vm_id: &[u8],
        name: &[u8],
    ) -> Result<QueueId, Status> {
        self.inner.resolve_shared_queue(call, vm_id, name)
    }

    fn enqueue_shared_queue(
        &self,
        call: Invocation,
        queue: QueueId,
        value: &[u8],
    ) -> Result<(), Status> {
        self.inner.enqueue_shared_queue(call, queue, value)
    }

    fn dequeue_shared_queue(&self, call: Invocation, queue: QueueId) -> Result<Vec<u8>, Status> {
        self.inner.dequeue_shared_queue(call, queue)
    }

    fn define_metric(
        &self,
        call: Invocation,
        vm_id: &[u8],
        kind: MetricType,
        name: &[u8],
    ) -> Result<MetricId, Status> {
        if !self.enabled {
            return Err(Status::NotFound);
        }
        let id = self.inner.define_metric(call, vm_id, kind, name)?;
        if let Ok(mut m) = self.metrics.lock() {
            let index = id.get() as usize;
            if m.0.len() <= index {
                m.0.resize(index + 1, String::new());
            }
            m.0[index] = text(name);
            m.1.entry(text(name)).or_insert(0);
        }
        Ok(id)
    }

    fn record_metric(&self, call: Invocation, metric: MetricId, value: u64) -> Result<(), Status> {
        self.inner.record_metric(call, metric, value)?;
        if let Ok(mut m) = self.metrics.lock() {
            if let Some(name) = m.0.get(metric.get() as usize).cloned() {
                m.1.insert(name, value as i64);
            }
        }
        Ok(())
    }

    fn increment_metric(
        &self,
        call: Invocation,
        metric: MetricId,
        delta: i64,
    ) -> Result<(), Status> {
        self.inner.increment_metric(call, metric, delta)?;
        if let Ok(mut m) = self.metrics.lock() {
            if let Some(name) = m.0.get(metric.get() as usize).cloned() {
                *m.1.entry(name).or_insert(0) += delta;
            }
        }
        Ok(())
    }

    fn get_metric(&self, call: Invocation, metric: MetricId) -> Result<u64, Status> {
        self.inner.get_metric(call, metric)
    }
}
