//! The configuration: JSON shaped like Envoy's `jwt_authn` `JwtAuthentication`, parsed once in
//! `on_configure` into a validated [`Gateway`]. Unknown fields are errors; every error names the
//! field path (`providers.auth0.keys[0].secret: …`).

mod compile;
mod raw;
#[cfg(feature = "cli")]
mod tooling;

use crate::gateway::{Gateway, Rule};
use crate::strict_json;

/// A configuration error: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

fn err(path: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        path: path.into(),
        message: message.into(),
    }
}
impl Gateway {
    /// The rules in order (for `jwtgate check`'s coverage warnings and `jwtgate explain`).
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The name of provider `index`.
    pub fn provider_name(&self, index: usize) -> Option<&str> {
        self.providers.get(index).map(|p| p.name.as_str())
    }

    /// The name of auth service `index` (`ext_auth`).
    pub fn ext_auth_name(&self, index: usize) -> Option<&str> {
        self.ext_services.get(index).map(|s| s.name.as_str())
    }

    /// Parses and validates a configuration. Any error means nothing may pass.
    pub fn from_json(bytes: &[u8]) -> Result<Gateway, ConfigError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(err("", "the configuration is empty"));
        }
        // Strict first: a provider written twice must not silently replace the first.
        let value = strict_json::parse(bytes).map_err(|e| err("", format!("invalid JSON: {e}")))?;
        let raw: raw::RawConfig = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            err(
                if path == "." { String::new() } else { path },
                e.inner().to_string(),
            )
        })?;
        compile::compile(raw)
    }
}
