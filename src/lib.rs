//! jwtgate.wasm: the proxy-wasm filter. The decision and the async work live in
//! `jwtgate-core` (crates/jwtgate-core), which knows no host; `host` is the only code that
//! talks to the proxy: it carries the host's events into the core's engine and executes what
//! the engine asks for. Natively the crate is empty.

#[cfg(target_arch = "wasm32")]
mod host;
