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

/// The field path (`providers.a.keys[0].secret`) of the JSON value that `text` has reached at
/// `line`/`column` (1-based, as serde reports an error: the last byte it read). An object's key
/// counts from the key to the value's end, so a misplaced or unknown field and a wrong value
/// are both named; at a closing brace the object itself is.
fn path_at(text: &[u8], line: usize, column: usize) -> String {
    enum Frame {
        Object(Option<String>),
        Array(usize),
    }
    let line_start = match line {
        0 | 1 => 0,
        _ => text
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .nth(line - 2)
            .map_or(text.len(), |(i, _)| i + 1),
    };
    let end = line_start.saturating_add(column).min(text.len());
    let mut stack: Vec<Frame> = Vec::new();
    let mut expect_key = false;
    let mut i = 0;
    while i < end {
        let Some(&byte) = text.get(i) else { break };
        match byte {
            b'{' => {
                stack.push(Frame::Object(None));
                expect_key = true;
            }
            b'[' => stack.push(Frame::Array(0)),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some(Frame::Array(index)) => *index += 1,
                Some(Frame::Object(key)) => {
                    *key = None;
                    expect_key = true;
                }
                None => {}
            },
            b'"' => {
                // The string's end: the next quote not escaped.
                let mut j = i + 1;
                while let Some(&c) = text.get(j) {
                    match c {
                        b'\\' => j += 2,
                        b'"' => break,
                        _ => j += 1,
                    }
                }
                if expect_key {
                    let key = text
                        .get(i..=j)
                        .and_then(|quoted| serde_json::from_slice::<String>(quoted).ok());
                    if let Some(Frame::Object(slot)) = stack.last_mut() {
                        *slot = key;
                    }
                    expect_key = false;
                }
                i = j;
            }
            _ => {}
        }
        i += 1;
    }
    let mut path = String::new();
    for frame in &stack {
        match frame {
            Frame::Object(Some(key)) if path.is_empty() => path.push_str(key),
            Frame::Object(Some(key)) => {
                path.push('.');
                path.push_str(key);
            }
            Frame::Object(None) => {}
            Frame::Array(index) => path.push_str(&format!("[{index}]")),
        }
    }
    path
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
        strict_json::parse(bytes).map_err(|e| err("", format!("invalid JSON: {e}")))?;
        let raw: raw::RawConfig = serde_json::from_slice(bytes).map_err(|e| {
            // serde says where in the text (line, column); the path is read off the text
            // there. (serde_path_to_error's tracking wrapper cost ~150 KB of the filter.)
            let message = e.to_string();
            let message = match message.rsplit_once(" at line ") {
                Some((message, _)) => message.to_string(),
                None => message,
            };
            err(path_at(bytes, e.line(), e.column()), message)
        })?;
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
