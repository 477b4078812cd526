//! The only code that talks to the proxy. `exports` receives the host's callbacks and routes
//! them to the configured engine (`core::engine`) of their root context; `adapter` is the
//! engine's port onto the host; `abi` is every call back into the host. No proxy-wasm SDK: its wrappers and its dispatcher panic on host surprises (a header
//! byte above 0x7F, an unexpected status, an unknown context or call token), and a panic is a
//! trap — an outage on Envoy, a pass on NGINX + ngx_wasm_module for a paused request.
//!
//! Bad configuration: `on_configure` still returns true. On NGINX + ngx_wasm_module a false
//! return kills the worker and clients hang; answering every request 500 is fail-closed on
//! every host. The error is logged once, naming the field.

mod abi;
mod adapter;
mod exports;
mod metrics;
