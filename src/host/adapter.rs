//! The engine's [`HostPort`] on proxy-wasm: each method is one or two raw ABI calls.

use std::cell::RefCell;
use std::time::Duration;

use super::abi::{self, BufferType, MapType};
use super::metrics::Metrics;
use jwtgate_core::port::{HostError, HostPort, LogLevel, RawHeader};
use jwtgate_core::request::PEER_CERTIFICATE_SHA256;
use jwtgate_core::LocalResponse;

#[derive(Default)]
pub struct ProxyWasm {
    metrics: RefCell<Metrics>,
    /// `mtls_binding.certificate_from: connection`: each request's header list gets the
    /// client certificate's digest (one property read per request, only then).
    peer_certificate: bool,
}

impl ProxyWasm {
    pub fn new(peer_certificate: bool) -> ProxyWasm {
        ProxyWasm {
            metrics: RefCell::default(),
            peer_certificate,
        }
    }
}

impl HostPort for ProxyWasm {
    fn now_ms(&self) -> Result<u64, HostError> {
        abi::now_ms()
    }

    fn log(&self, level: LogLevel, line: &str) {
        let level = match level {
            LogLevel::Debug => abi::LogLevel::Debug,
            LogLevel::Info => abi::LogLevel::Info,
            LogLevel::Warn => abi::LogLevel::Warn,
            LogLevel::Error => abi::LogLevel::Error,
        };
        abi::log(level, line);
    }

    fn count(&self, name: &str) {
        if let Ok(mut metrics) = self.metrics.try_borrow_mut() {
            metrics.increment(name);
        }
    }

    fn define_counters(&self, names: &[String]) {
        if let Ok(mut metrics) = self.metrics.try_borrow_mut() {
            metrics.define_all(names);
        }
    }

    fn count_id(&self, id: usize, name: &str) {
        if let Ok(mut metrics) = self.metrics.try_borrow_mut() {
            metrics.increment_number(id, name);
        }
    }

    fn gauge(&self, name: &str, value: u64) {
        if let Ok(mut metrics) = self.metrics.try_borrow_mut() {
            metrics.set_gauge(name, value);
        }
    }

    fn histogram(&self, name: &str, value: u64) {
        if let Ok(mut metrics) = self.metrics.try_borrow_mut() {
            metrics.record_histogram(name, value);
        }
    }

    fn select(&self, context: u32) -> Result<(), HostError> {
        abi::set_effective_context(context)
    }

    fn request_headers(&self) -> Result<Vec<RawHeader>, HostError> {
        let mut pairs = Vec::new();
        let written = self.request_headers_into(&mut pairs)?;
        pairs.truncate(written);
        Ok(pairs)
    }

    fn request_headers_into(&self, pairs: &mut Vec<RawHeader>) -> Result<usize, HostError> {
        let mut written = abi::header_pairs_into(MapType::HttpRequestHeaders, pairs)?;
        // The reserved pseudo-header carries only what the host says about the connection:
        // any entry already listed under its name is dropped first.
        let reserved = PEER_CERTIFICATE_SHA256.as_bytes();
        let mut i = 0;
        while let Some((name, _)) = pairs.get(i).filter(|_| i < written) {
            if name.eq_ignore_ascii_case(reserved) {
                pairs.remove(i);
                written -= 1;
            } else {
                i += 1;
            }
        }
        if self.peer_certificate {
            // Envoy: hex SHA-256 of the peer certificate's DER, empty without one.
            let digest = abi::property(&["connection", "sha256_peer_certificate_digest"]);
            if let Ok(Some(hex)) = digest {
                if !hex.is_empty() {
                    pairs.insert(written, (reserved.to_vec(), hex));
                    written += 1;
                }
            }
        }
        Ok(written)
    }

    fn request_pseudo(&self, name: &str, property: &str) -> Result<Option<Vec<u8>>, HostError> {
        // ngx_wasm_module answers `:path` and `:method` lookups but leaves them out of the
        // header list; the `request.*` properties are the last resort.
        if let Some(value) = abi::header_value(MapType::HttpRequestHeaders, name)? {
            return Ok(Some(value));
        }
        Ok(abi::property(&["request", property]).ok().flatten())
    }

    fn remove_header(&self, name: &str) -> Result<(), HostError> {
        abi::remove_header(MapType::HttpRequestHeaders, name)
    }

    fn replace_header(&self, name: &str, value: &str) -> Result<(), HostError> {
        abi::replace_header(MapType::HttpRequestHeaders, name, value)
    }

    fn respond(&self, response: &LocalResponse) -> Result<(), HostError> {
        let headers = response
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()));
        abi::send_response(response.status, headers, response.body.as_bytes())
    }

    fn resume(&self) -> Result<(), HostError> {
        abi::resume_request()
    }

    fn dispatch(
        &self,
        upstream: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        timeout_ms: u64,
    ) -> Result<u32, HostError> {
        abi::http_call(upstream, headers, body, Duration::from_millis(timeout_ms))
    }

    fn answer_headers(&self) -> Result<Vec<RawHeader>, HostError> {
        abi::header_pairs(MapType::HttpCallResponseHeaders)
    }

    fn answer_header(&self, name: &str) -> Option<Vec<u8>> {
        abi::header_value(MapType::HttpCallResponseHeaders, name)
            .ok()
            .flatten()
    }

    fn answer_body(&self, max: usize) -> Result<Option<Vec<u8>>, HostError> {
        abi::buffer(BufferType::HttpCallResponseBody, max)
    }

    fn shared_get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        // Hosts answer differently (Envoy: lenient CAS; ngx_wasm_module: strict CAS, and only
        // with `shm_kv`): a refusal only means "not shared".
        abi::shared_data(key).ok().flatten()
    }

    fn shared_set(&self, key: &str, value: &[u8], cas: u32) -> Result<(), HostError> {
        abi::set_shared_data(key, value, cas)
    }
}
