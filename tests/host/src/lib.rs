//! Runs the built `jwtgate.wasm` inside `proxy-wasm-host`, a third-party Proxy-Wasm ABI 0.2.1
//! host on wasmtime: the same path as in a proxy (plugin configuration bytes, header maps,
//! local responses, host time, logs, metrics), driven by code nobody on this project wrote.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use proxy_wasm_host::abi::v0_2_1::types::{Action, LogLevel, MapType, MetricType, Status};
use proxy_wasm_host::abi::v0_2_1::{
    Access, Clock, ContextId, Guest, GuestError, Host, InMemoryStore, Invocation, LocalResponse,
    LogContext, LogSink, MetricId, PluginConfig, QueueId, SharedServices, SharedValue, Started,
    StreamKind, StreamState, VmServices,
};
use proxy_wasm_host::{Engine, HeaderMap, Limits, Module, VecHeaderMap};

/// The release filter: `$JWTGATE_WASM`, else the repository's build output.
pub fn wasm_path() -> PathBuf {
    std::env::var_os("JWTGATE_WASM")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/wasm32-wasip1/release/jwtgate.wasm")
        })
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

    fn start_with(&self, config: &str, metrics: bool, limits: Limits) -> Result<Gateway, String> {
        let _ = &self.engine;
        let logs = Arc::new(Logs::default());
        let clock = Arc::new(TestClock::default());
        let metrics = Arc::new(MetricsRecorder {
            enabled: metrics,
            ..MetricsRecorder::default()
        });
        let services = VmServices::new(logs.clone())
            .with_clock(clock.clone())
            .with_shared(metrics.clone())
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
        let stream = Stream {
            headers: map,
            local: None,
        };
        let count = u32::try_from(stream.headers.len()).unwrap_or(u32::MAX);
        let (result, stream) = self.guest.with(stream, |scope| {
            let ctx = scope.on_context_create(Some(root))?;
            scope.expect_stream_kind(ctx, StreamKind::Http)?;
            let action = scope.on_request_headers(ctx, count, true)?;
            scope.on_done(ctx)?;
            scope.on_log(ctx)?;
            scope.on_delete(ctx)?;
            Ok::<Action, GuestError>(action)
        });
        let action = result.map_err(|e| e.to_string())?;
        if let Some(local) = stream.local {
            return Ok(Outcome::Local {
                status: local.status_code,
                headers: local
                    .headers
                    .iter()
                    .map(|(n, v)| (text(n), text(v)))
                    .collect(),
                body: text(&local.body),
            });
        }
        if action != Action::Continue {
            return Err(format!("paused without a local response ({action:?})"));
        }
        let mut forwarded = Vec::new();
        let _ = stream.headers.for_each_pair(&mut |n, v| {
            forwarded.push((text(n), text(v)));
            std::ops::ControlFlow::Continue(())
        });
        Ok(Outcome::Forwarded { headers: forwarded })
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

/// The request as the host lends it to the filter.
struct Stream {
    headers: VecHeaderMap,
    local: Option<LocalResponse<'static>>,
}

impl StreamState for Stream {
    fn header_map(
        &mut self,
        _call: Invocation,
        _access: Access,
        map: MapType,
    ) -> Result<&mut dyn HeaderMap, Status> {
        match map {
            MapType::HttpRequestHeaders => Ok(&mut self.headers),
            _ => Err(Status::NotFound),
        }
    }

    fn send_local_response(
        &mut self,
        _call: Invocation,
        response: LocalResponse<'_>,
    ) -> Result<(), Status> {
        self.local = Some(response.into_owned());
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
    seconds: AtomicU64,
}

impl Default for TestClock {
    fn default() -> Self {
        TestClock {
            seconds: AtomicU64::new(1_700_000_000),
        }
    }
}

impl TestClock {
    fn set(&self, seconds: u64) {
        self.seconds.store(seconds, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn realtime_nanos(&self) -> u64 {
        self.seconds
            .load(Ordering::SeqCst)
            .saturating_mul(1_000_000_000)
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
