//! The configuration: JSON shaped like Envoy's `jwt_authn` `JwtAuthentication`, parsed once in
//! `on_configure` into a validated [`Gateway`]. Unknown fields are errors; every error names the
//! field path (`providers.auth0.keys[0].secret: …`).

mod compile;
mod raw;
mod read;
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
        // Strict: a provider written twice must not silently replace the first.
        let value = strict_json::parse(bytes).map_err(|e| err("", format!("invalid JSON: {e}")))?;
        let raw = <raw::RawConfig as read::Read>::read(&value, "")?;
        compile::compile(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(json: &str) -> ConfigError {
        Gateway::from_json(json.as_bytes()).err().unwrap()
    }

    #[test]
    fn errors_name_the_path_across_lines_escapes_and_arrays() {
        let e =
            error("{\n  \"providers\": {\n    \"a\\\"b\": {\n      \"issuer\": 5\n    }\n  }\n}");
        assert_eq!(e.path, "providers.a\"b.issuer", "{e}");
        let e = error(
            r#"{"rules": [{"match": {"prefix": "/"}}, {"match": {"prefix": "/"}, "requires": {"requires_any": {"requirements": [{"provider_name": "x"}, {"provider_name": 3}]}}}]}"#,
        );
        assert_eq!(
            e.path, "rules[1].requires.requires_any.requirements[1].provider_name",
            "{e}"
        );
        let e =
            error(r#"{"providers": {"a": {"issuer": "i", "from_headers": [{"name": "x"}, {}]}}}"#);
        assert_eq!(e.path, "providers.a.from_headers[1]", "{e}");
        assert!(e.message.starts_with("missing field `name`"), "{e}");
        assert!(!e.message.contains(" at line "), "{e}");
        let e = error(r#"{"realm": 1}"#);
        assert_eq!(
            (e.path.as_str(), e.message.as_str()),
            ("realm", "invalid type: integer `1`, expected a string")
        );
    }
}
