//! The only code that talks to the proxy: maps proxy-wasm callbacks onto `core::Gateway`
//! (through [`vm::Vm`], which also runs remote JWKS fetches and the requests waiting for them).
//!
//! Bad configuration: `on_configure` still returns true. On NGINX + ngx_wasm_module a false
//! return kills the worker and clients hang; answering every request 500 is fail-closed on
//! every host. The error is logged once, naming the field.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, ContextType, LogLevel};

mod metrics;
mod shared_data;
mod vm;

use crate::core::{Gateway, LocalResponse, Rejection};
use metrics::Metrics;
use vm::Vm;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    std::panic::set_hook(Box::new(|info| {
        // A panic aborts the VM; leave the reason in the proxy log first.
        let _ = proxy_wasm::hostcalls::log(LogLevel::Critical, &format!("jwtgate: panic: {info}"));
    }));
    proxy_wasm::set_root_context(|context_id| -> Box<dyn RootContext> {
        Box::new(JwtgateRoot::new(context_id))
    });
}}

/// Remote JWKS are prefetched, refreshed and retried from this timer.
const TICK: Duration = Duration::from_secs(1);

/// The configured state every request of this VM shares.
enum State {
    Unconfigured,
    Ready(Rc<Vm>),
    Invalid,
}

struct JwtgateRoot {
    context_id: u32,
    state: Rc<State>,
    metrics: Rc<RefCell<Metrics>>,
}

impl JwtgateRoot {
    fn new(context_id: u32) -> Self {
        JwtgateRoot {
            context_id,
            state: Rc::new(State::Unconfigured),
            metrics: Rc::new(RefCell::new(Metrics::default())),
        }
    }
}

impl Context for JwtgateRoot {
    fn on_http_call_response(
        &mut self,
        token: u32,
        _headers: usize,
        body: usize,
        _trailers: usize,
    ) {
        if let State::Ready(vm) = self.state.as_ref() {
            vm.on_call_response(token, body, self.context_id);
        }
    }
}

impl RootContext for JwtgateRoot {
    fn on_configure(&mut self, _plugin_configuration_size: usize) -> bool {
        let bytes = self.get_plugin_configuration().unwrap_or_default();
        self.state = Rc::new(match Gateway::from_json(&bytes) {
            Ok(gateway) => {
                hostcalls::log(LogLevel::Info, "jwtgate: configuration loaded").ok();
                let now = vm::now_ms();
                // Jitter seed for retries: differs per worker (time and context).
                let seed = now ^ (u64::from(self.context_id) << 32) ^ 0x5eed;
                let vm = Vm::new(gateway, Rc::clone(&self.metrics), seed);
                if vm.needs_timer() {
                    // The first tick prefetches every remote JWKS; ticks also answer requests
                    // whose callouts were never answered.
                    if hostcalls::set_tick_period(TICK).is_err() {
                        hostcalls::log(
                            LogLevel::Warn,
                            "jwtgate: no timer on this host; JWKS are fetched by requests only",
                        )
                        .ok();
                    }
                }
                State::Ready(Rc::new(vm))
            }
            Err(error) => {
                let line = format!(
                    "jwtgate: invalid configuration: {error}; every request will be answered 500"
                );
                hostcalls::log(LogLevel::Error, &line).ok();
                State::Invalid
            }
        });
        true
    }

    fn on_tick(&mut self) {
        if let State::Ready(vm) = self.state.as_ref() {
            vm.on_tick(self.context_id, vm::now_ms());
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(JwtgateHttp {
            context_id,
            state: Rc::clone(&self.state),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct JwtgateHttp {
    context_id: u32,
    state: Rc<State>,
}

impl Context for JwtgateHttp {
    fn on_http_call_response(
        &mut self,
        token: u32,
        _headers: usize,
        body: usize,
        _trailers: usize,
    ) {
        // An auth answer for this request, or a JWKS fetch this request started.
        if let State::Ready(vm) = self.state.as_ref() {
            vm.on_call_response(token, body, self.context_id);
        }
    }
}

impl HttpContext for JwtgateHttp {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        match self.state.as_ref() {
            State::Ready(vm) => {
                if vm.on_request(self.context_id, vm::now_ms()) {
                    Action::Continue
                } else {
                    Action::Pause
                }
            }
            State::Unconfigured | State::Invalid => {
                vm::respond(&LocalResponse::for_rejection(
                    Rejection::ConfigInvalid,
                    "jwtgate",
                ));
                Action::Pause
            }
        }
    }
}

impl Drop for JwtgateHttp {
    fn drop(&mut self) {
        if let State::Ready(vm) = self.state.as_ref() {
            vm.forget_context(self.context_id);
        }
    }
}
