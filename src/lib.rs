//! jwtgate: a JSON Web Token gate for proxy-wasm hosts (Envoy/Istio, NGINX ngx_wasm_module,
//! Kong). `core` decides; `host` is the only code that talks to the proxy; `crypto` holds the
//! signature algorithms jwt-compact lacks.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod core;
pub mod crypto;

#[cfg(target_arch = "wasm32")]
mod host;
