//! Runs the built `jwtgate.wasm` inside `proxy-wasm-host`, a third-party Proxy-Wasm ABI 0.2.1
//! host on wasmtime: the same path as in a proxy (plugin configuration bytes, header maps,
//! local responses, host time, logs, metrics), driven by code nobody on this project wrote.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use proxy_wasm_host::abi::v0_2_1::types::{
    Action, LogLevel, MapType, MetricType, Status, StreamType,
};
use proxy_wasm_host::abi::v0_2_1::{
    Access, CalloutId, Callouts, Clock, ContextId, Guest, GuestError, Host, HttpCall,
    HttpCallRefusal, HttpCallResponse, InMemoryStore, Invocation, LocalResponse, LogContext,
    LogSink, MetricId, PluginConfig, QueueId, SharedServices, SharedValue, Started, StreamKind,
    StreamState, VmServices,
};
use proxy_wasm_host::{Engine, HeaderMap, Limits, Module, VecHeaderMap};

/// The release filter: `$JWTGATE_WASM`, else the repository's build output.
pub fn wasm_path() -> PathBuf {
    std::env::var_os("JWTGATE_WASM")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/jwtgate.wasm"))
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
        let logs = Arc::new(Logs::default());
        let clock = Arc::new(TestClock::default());
        clock.set_millis(now.saturating_mul(1000));
        let outbox = Arc::new(Outbox::default());
        let services = VmServices::new(logs.clone())
            .with_clock(clock.clone())
            .with_shared(metrics.clone())
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
            streams: Streams::default(),
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

/// An HTTP call the filter dispatched, as the host's callout service received it.
#[derive(Debug, Clone)]
pub struct Callout {
    pub context: ContextId,
    pub id: CalloutId,
    pub upstream: String,
    pub headers: Vec<(String, String)>,
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

impl Gateway {
    /// Whether the filter accepted its configuration (`on_configure` answered true).
    pub fn is_serving(&self) -> bool {
        self.root.is_some()
    }

    /// The host clock the filter sees, in unix seconds.
    pub fn set_now(&self, unix_seconds: u64) {
        self.clock.set(unix_seconds);
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
        let root = self.root.ok_or("the filter refused its configuration")?;
        let mut map = VecHeaderMap::default();
        let authority = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("host"))
            .map_or("api.test", |(_, v)| *v);
        for (name, value) in [
            (":method", method),
            (":path", path),
            (":authority", authority),
            (":scheme", "http"),
        ]
        .iter()
        .chain(headers.iter())
        {
            map.add(name.as_bytes(), value.as_bytes())
                .map_err(|e| e.to_string())?;
        }
        let count = u32::try_from(map.len()).unwrap_or(u32::MAX);
        let mut pending = Some(Stream {
            headers: map,
            local: None,
            resumed: false,
        });
        let (result, streams) = self.guest.with(std::mem::take(&mut self.streams), |scope| {
            let ctx = scope.on_context_create(Some(root))?;
            if let Some(stream) = pending.take() {
                scope.stream_mut().0.insert(ctx, stream);
            }
            scope.expect_stream_kind(ctx, StreamKind::Http)?;
            let action = scope.on_request_headers(ctx, count, true)?;
            Ok::<(ContextId, Action), GuestError>((ctx, action))
        });
        self.streams = streams;
        let (ctx, action) = result.map_err(|e| e.to_string())?;
        if action == Action::Continue {
            if let Some(stream) = self.streams.0.get_mut(&ctx) {
                stream.resumed = true;
            }
        }
        match self.outcome(ctx) {
            Some(outcome) => Ok(Sent::Done(outcome)),
            None => Ok(Sent::Paused(ctx)),
        }
    }

    /// The outcome of request `ctx` once the filter answered or resumed it (the request then
    /// completes and its context is deleted); `None` while it is still paused.
    pub fn outcome(&mut self, ctx: ContextId) -> Option<Outcome> {
        let stream = self.streams.0.get(&ctx)?;
        if stream.local.is_none() && !stream.resumed {
            return None;
        }
        self.finish(ctx);
        let stream = self.streams.0.remove(&ctx)?;
        if let Some(local) = stream.local {
            return Some(Outcome::Local {
                status: local.status_code,
                headers: local
                    .headers
                    .iter()
                    .map(|(n, v)| (text(n), text(v)))
                    .collect(),
                body: text(&local.body),
            });
        }
        let mut forwarded = Vec::new();
        let _ = stream.headers.for_each_pair(&mut |n, v| {
            forwarded.push((text(n), text(v)));
            std::ops::ControlFlow::Continue(())
        });
        Some(Outcome::Forwarded { headers: forwarded })
    }

    /// The client went away: the paused request's context is deleted.
    pub fn cancel(&mut self, ctx: ContextId) {
        self.finish(ctx);
        self.streams.0.remove(&ctx);
    }

    fn finish(&mut self, ctx: ContextId) {
        let (result, streams) = self.guest.with(std::mem::take(&mut self.streams), |scope| {
            scope.on_done(ctx)?;
            scope.on_log(ctx)?;
            scope.on_delete(ctx)?;
            Ok::<(), GuestError>(())
        });
        self.streams = streams;
        if let Err(e) = result {
            panic!("the host failed to finish request {ctx}: {e}");
        }
    }

    /// The HTTP calls dispatched since the last call, oldest first.
    pub fn take_callouts(&self) -> Vec<Callout> {
        self.outbox
            .0
            .lock()
            .map(|mut o| std::mem::take(&mut *o))
            .unwrap_or_default()
    }

    /// Delivers an answer to a callout: `status` and `body` (plus extra headers).
    pub fn answer(&mut self, callout: &Callout, status: u32, body: &[u8]) {
        let status = status.to_string();
        let headers = vec![
            (b":status".to_vec().into(), status.into_bytes().into()),
            (
                b"content-type".to_vec().into(),
                b"application/json".to_vec().into(),
            ),
        ];
        let response = HttpCallResponse::received(headers).with_body(body.to_vec());
        self.deliver(callout, response);
    }

    /// Delivers an answer with these headers (`:status` first) and body.
    pub fn answer_with(
        &mut self,
        callout: &Callout,
        status: u32,
        headers: &[(&str, &str)],
        body: &[u8],
    ) {
        let mut pairs: Vec<(
            std::borrow::Cow<'static, [u8]>,
            std::borrow::Cow<'static, [u8]>,
        )> = vec![(
            b":status".to_vec().into(),
            status.to_string().into_bytes().into(),
        )];
        for (n, v) in headers {
            pairs.push((n.as_bytes().to_vec().into(), v.as_bytes().to_vec().into()));
        }
        let response = HttpCallResponse::received(pairs).with_body(body.to_vec());
        self.deliver(callout, response);
    }

    /// Delivers a failed callout (timeout, broken connection): no status.
    pub fn fail(&mut self, callout: &Callout) {
        self.deliver(callout, HttpCallResponse::failed());
    }

    fn deliver(&mut self, callout: &Callout, response: HttpCallResponse<'static>) {
        let (result, streams) = self.guest.with(std::mem::take(&mut self.streams), |scope| {
            scope.on_http_call_response(callout.context, callout.id, response)
        });
        self.streams = streams;
        if let Err(e) = result {
            panic!("delivering callout {:?}: {e}", callout.id);
        }
    }

    /// Runs the root's `on_tick` once (the host runs no timer by itself).
    pub fn tick(&mut self) {
        let Some(root) = self.root else { return };
        let (result, streams) = self.guest.with(std::mem::take(&mut self.streams), |scope| {
            scope.on_tick(root)
        });
        self.streams = streams;
        if let Err(e) = result {
            panic!("on_tick: {e}");
        }
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
            .0
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
    headers: VecHeaderMap,
    local: Option<LocalResponse<'static>>,
    /// The filter let it continue (`Continue`, or `proxy_continue_stream` later).
    resumed: bool,
}

/// Every open request, lent to each callback: a call acts on the request of the effective
/// context (the filter may switch it with `proxy_set_effective_context`), as in a proxy.
#[derive(Default)]
struct Streams(HashMap<ContextId, Stream>);

impl Streams {
    fn of(&mut self, call: Invocation) -> Result<&mut Stream, Status> {
        self.0.get_mut(&call.context).ok_or(Status::BadArgument)
    }
}

impl StreamState for Streams {
    fn header_map(
        &mut self,
        call: Invocation,
        _access: Access,
        map: MapType,
    ) -> Result<&mut dyn HeaderMap, Status> {
        let stream = self.of(call)?;
        match map {
            MapType::HttpRequestHeaders => Ok(&mut stream.headers),
            _ => Err(Status::NotFound),
        }
    }

    fn continue_stream(&mut self, call: Invocation, stream: StreamType) -> Result<(), Status> {
        let state = self.of(call)?;
        if stream != StreamType::HttpRequest || state.resumed || state.local.is_some() {
            return Err(Status::BadArgument);
        }
        state.resumed = true;
        Ok(())
    }

    fn send_local_response(
        &mut self,
        call: Invocation,
        response: LocalResponse<'_>,
    ) -> Result<(), Status> {
        let state = self.of(call)?;
        if state.resumed || state.local.is_some() {
            return Err(Status::BadArgument);
        }
        state.local = Some(response.into_owned());
        Ok(())
    }
}

/// The host's callout service: keeps each call for the test to answer.
#[derive(Default)]
struct Outbox(Mutex<Vec<Callout>>);

impl Callouts for Outbox {
    fn http_call(
        &self,
        call: Invocation,
        callout: CalloutId,
        request: HttpCall<'_>,
    ) -> Result<(), HttpCallRefusal> {
        if request.upstream.as_ref() == b"unknown-cluster" {
            return Err(HttpCallRefusal::UnknownUpstream);
        }
        let mut outbox = self.0.lock().map_err(|_| HttpCallRefusal::Failed)?;
        outbox.push(Callout {
            context: call.context,
            id: callout,
            upstream: text(&request.upstream),
            headers: request
                .headers
                .iter()
                .map(|(n, v)| (text(n), text(v)))
                .collect(),
            timeout_ms: request.timeout.as_millis(),
        });
        Ok(())
    }
}

#[derive(Default)]
struct Logs {
    lines: Mutex<Vec<(LogLevel, String)>>,
}

impl LogSink for Logs {
    fn log(&self, _context: LogContext<'_>, level: LogLevel, message: &[u8]) {
        if let Ok(mut lines) = self.lines.lock() {
            lines.push((level, text(message)));
        }
    }
}

/// A clock the test sets; starts at 2023-11-14T22:13:20Z (1_700_000_000).
struct TestClock {
    millis: AtomicU64,
}

impl Default for TestClock {
    fn default() -> Self {
        TestClock {
            millis: AtomicU64::new(1_700_000_000_000),
        }
    }
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
        self.millis.load(Ordering::SeqCst).saturating_mul(1_000_000)
    }

    fn monotonic_nanos(&self) -> u64 {
        self.realtime_nanos()
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
