//! jwtgate's pure core: configuration, keys, token extraction, verification, claim checks, the
//! decision, and the async engine (remote JWKS, the auth callout) as a state machine behind a
//! port (`port::HostPort`). Nothing here knows about proxy-wasm or NGINX: the filter
//! (the `jwtgate` crate's src/host) and the native NGINX module (crates/jwtgate-nginx) carry
//! events in and actions out. `crypto` re-exports the verifiers written for wasm.

pub mod algorithm;
pub mod authorize;
pub mod cache;
pub mod claims;
pub mod config;
pub mod crypto;
pub mod der;
pub mod dpop;
pub mod engine;
pub mod ext_auth;
pub mod extract;
pub mod failure;
pub mod gateway;
pub mod http_uri;
pub mod id_map;
pub mod introspection;
pub mod keys;
pub mod lru;
pub mod matcher;
pub mod metrics;
pub mod mtls;
pub mod path_policy;
pub mod percent;
pub mod port;
pub mod profile;
pub mod provider;
pub mod rejection;
pub mod remote_jwks;
pub mod request;
pub mod requirement;
mod sorted;
pub mod strict_json;
pub mod token;
pub mod vm_state;

pub use config::ConfigError;
pub use gateway::{Decision, Gateway, Verdict};
pub use rejection::{LocalResponse, Rejection};
pub use request::{HeaderOp, Request};
