//! What the engine needs from a proxy, as one trait: the proxy-wasm adapter (`src/host`) and
//! the native tests implement it. Every call returns the host's refusal as a value; the engine
//! decides what a refusal means (always fail closed).

use super::{HeaderOp, LocalResponse, Verdict};

/// A host's refusal (for proxy-wasm: the ABI status, e.g. 2 bad argument, 10 internal failure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostError(pub u32);

impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self.0 {
            1 => "not found",
            2 => "bad argument",
            3 => "serialization failure",
            4 => "parse failure",
            7 => "empty",
            8 => "CAS mismatch",
            10 => "internal failure",
            12 => "unimplemented",
            _ => "unknown status",
        };
        write!(f, "{name} ({})", self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// A header as the host holds it: bytes, any of 0x00–0xFF.
pub type RawHeader = (Vec<u8>, Vec<u8>);

/// The proxy, as the engine uses it. Calls about "the request" act on the request made
/// current by [`HostPort::select`] (proxy-wasm: the effective context).
pub trait HostPort {
    /// Host time, milliseconds since the epoch.
    fn now_ms(&self) -> Result<u64, HostError>;
    fn log(&self, level: LogLevel, line: &str);
    /// Whether a line at `level` would be logged: the engine formats a routine line (an
    /// allowed request's) only then. Hosts that cannot tell say yes.
    fn logs(&self, _level: LogLevel) -> bool {
        true
    }
    /// Counter `name` (the full metric name) += 1.
    fn count(&self, name: &str);
    fn gauge(&self, name: &str, value: u64);
    fn histogram(&self, name: &str, value: u64);

    /// Makes request `context` current; an error means the request is gone.
    fn select(&self, context: u32) -> Result<(), HostError>;
    /// The current request's header pairs as the host holds them (pseudo-headers included
    /// where the host lists them).
    fn request_headers(&self) -> Result<Vec<RawHeader>, HostError>;
    /// One request header or pseudo-header by name (hosts that leave `:path`/`:method` out of
    /// the list answer these), else the host's own property for it (`path`, `method`).
    fn request_pseudo(&self, name: &str, property: &str) -> Result<Option<Vec<u8>>, HostError>;
    fn remove_header(&self, name: &str) -> Result<(), HostError>;
    fn replace_header(&self, name: &str, value: &str) -> Result<(), HostError>;
    /// Answers the current request locally.
    fn respond(&self, response: &LocalResponse) -> Result<(), HostError>;
    /// Lets the current (paused) request go on upstream.
    fn resume(&self) -> Result<(), HostError>;
    /// The current request's final verdict (allow, deny or dry-run), before its header changes
    /// or local response: for hosts that expose it (NGINX's `$jwtgate_reason`, claim variables).
    fn decided(&self, _verdict: &Verdict) {}

    /// Starts an HTTP call; its answer comes back as `on_call_response(token, ...)`.
    fn dispatch(
        &self,
        upstream: &str,
        headers: &[(&str, &str)],
        timeout_ms: u64,
    ) -> Result<u32, HostError>;
    /// The answer being delivered: its headers, and up to `max` body bytes.
    fn answer_headers(&self) -> Result<Vec<RawHeader>, HostError>;
    fn answer_header(&self, name: &str) -> Option<Vec<u8>>;
    fn answer_body(&self, max: usize) -> Result<Option<Vec<u8>>, HostError>;

    /// Shared data between workers: value and CAS token.
    fn shared_get(&self, key: &str) -> Option<(Vec<u8>, u32)>;
    fn shared_set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), HostError>;
}

/// Applies a header change to the current request. Hosts differ in how they match names
/// (Envoy stores them lower-case, NGINX compares case-insensitively, others exactly), so every
/// spelling the client sent is removed by its own name first.
pub fn apply(
    host: &dyn HostPort,
    op: &HeaderOp,
    sent: &[(String, String)],
) -> Result<(), HostError> {
    let name = match op {
        HeaderOp::Remove(name) | HeaderOp::Set(name, _) => name.as_str(),
    };
    let mut others: Vec<&str> = sent
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| n.eq_ignore_ascii_case(name) && *n != name)
        .collect();
    others.sort_unstable();
    others.dedup();
    for other in others {
        host.remove_header(other)?;
    }
    match op {
        HeaderOp::Remove(_) => host.remove_header(name),
        HeaderOp::Set(_, value) => host.replace_header(name, value),
    }
}
