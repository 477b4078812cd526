//! The only code that talks to the proxy: maps proxy-wasm callbacks onto `core::Gateway`.
//!
//! Bad configuration: `on_configure` still returns true. On NGINX + ngx_wasm_module a false
//! return kills the worker and clients hang; answering every request 500 is fail-closed on
//! every host. The error is logged once, naming the field.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::UNIX_EPOCH;

use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};

mod metrics;

use crate::core::cache::TokenCache;
use crate::core::{Decision, Gateway, HeaderOp, LocalResponse, Rejection, Request};
use metrics::Metrics;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    std::panic::set_hook(Box::new(|info| {
        // A panic aborts the VM; leave the reason in the proxy log first.
        let _ = proxy_wasm::hostcalls::log(LogLevel::Critical, &format!("jwtgate: panic: {info}"));
    }));
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(JwtgateRoot::default()) });
}}

/// The configured state every request of this VM shares.
enum State {
    Unconfigured,
    /// The gateway and its verified-token cache (new with every configuration).
    Ready(Rc<Gateway>, Rc<RefCell<TokenCache>>),
    Invalid,
}

struct JwtgateRoot {
    state: Rc<State>,
    metrics: Rc<RefCell<Metrics>>,
}

impl Default for JwtgateRoot {
    fn default() -> Self {
        JwtgateRoot {
            state: Rc::new(State::Unconfigured),
            metrics: Rc::new(RefCell::new(Metrics::default())),
        }
    }
}

impl Context for JwtgateRoot {}

impl RootContext for JwtgateRoot {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let bytes = self.get_plugin_configuration().unwrap_or_default();
        self.state = Rc::new(match Gateway::from_json(&bytes) {
            Ok(gateway) => {
                proxy_wasm::hostcalls::log(LogLevel::Info, "jwtgate: configuration loaded").ok();
                let cache = Rc::new(RefCell::new(gateway.new_token_cache()));
                State::Ready(Rc::new(gateway), cache)
            }
            Err(error) => {
                let line = format!(
                    "jwtgate: invalid configuration: {error}; every request will be answered 500"
                );
                proxy_wasm::hostcalls::log(LogLevel::Error, &line).ok();
                State::Invalid
            }
        });
        true
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(JwtgateHttp {
            state: Rc::clone(&self.state),
            metrics: Rc::clone(&self.metrics),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct JwtgateHttp {
    state: Rc<State>,
    metrics: Rc<RefCell<Metrics>>,
}

impl Context for JwtgateHttp {}

impl HttpContext for JwtgateHttp {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let (gateway, cache) = match self.state.as_ref() {
            State::Ready(gateway, cache) => (Rc::clone(gateway), Rc::clone(cache)),
            State::Unconfigured | State::Invalid => {
                self.respond(&LocalResponse::for_rejection(
                    Rejection::ConfigInvalid,
                    "jwtgate",
                ));
                return Action::Pause;
            }
        };
        let headers = self.get_http_request_headers();
        // Pseudo-headers one by one: ngx_wasm_module answers `:path` and `:method` lookups but
        // leaves them out of the header list.
        let path = self
            .get_http_request_header(":path")
            .or_else(|| self.property_text(&["request", "path"]))
            .unwrap_or_else(|| "/".into());
        let method = self
            .get_http_request_header(":method")
            .or_else(|| self.property_text(&["request", "method"]))
            .unwrap_or_default();
        // Time only from the host (proxy_get_current_time_nanoseconds), never a WASI clock.
        let now = self
            .get_current_time()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());

        let request = Request {
            method: &method,
            path: &path,
            headers: &headers,
        };
        let verdict = match cache.try_borrow_mut() {
            Ok(mut cache) => gateway.decide_cached(&request, now, &mut cache),
            Err(_) => gateway.decide(&request, now),
        };
        if let Ok(mut metrics) = self.metrics.try_borrow_mut() {
            for name in verdict.metrics() {
                metrics.increment(gateway.stat_prefix(), &name);
            }
        }
        match &verdict.decision {
            Decision::Forward(ops) => {
                // Dry-run refusals are reported like denials; passes only at debug.
                let level = if verdict.dry_run {
                    LogLevel::Info
                } else {
                    LogLevel::Debug
                };
                if verdict.rule.is_some() {
                    proxy_wasm::hostcalls::log(level, &verdict.log_line(&method, &path)).ok();
                }
                for op in ops {
                    match op {
                        HeaderOp::Remove(name) => self.set_http_request_header(name, None),
                        HeaderOp::Set(name, value) => {
                            self.set_http_request_header(name, Some(value))
                        }
                    }
                }
                Action::Continue
            }
            Decision::Respond(response) => {
                proxy_wasm::hostcalls::log(LogLevel::Info, &verdict.log_line(&method, &path)).ok();
                self.respond(response);
                Action::Pause
            }
        }
    }
}

impl JwtgateHttp {
    fn respond(&self, response: &LocalResponse) {
        let headers: Vec<(&str, &str)> = response
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        self.send_http_response(response.status, headers, Some(response.body.as_bytes()));
    }

    fn property_text(&self, path: &[&str]) -> Option<String> {
        self.get_property(path.to_vec())
            .and_then(|bytes| String::from_utf8(bytes).ok())
    }
}
