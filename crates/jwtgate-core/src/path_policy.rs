//! The path rule matching sees (`path_policy`), modeled on Envoy's `normalize_path`,
//! `merge_slashes` and `path_with_escaped_slashes_action`: one canonical form that no common
//! upstream resolves to a different resource. What upstreams disagree on is refused (400, a
//! reason per kind) or, where configured, normalized — and then the normalized path is what is
//! forwarded, so the upstream sees exactly the path the rule was chosen for.
//!
//! - invalid percent-encoding, control bytes (raw or encoded): `path_malformed`. (A raw space or
//!   `#` is an ordinary byte: NGINX hands the filter its decoded URI, where `%20` is a space;
//!   Envoy never passes either.)
//! - `%2F`, `%5C` and `\` (upstreams that decode `%2F`; IIS, which reads `\` as `/`):
//!   `path_escaped_slash`, or with `escaped_slashes: unescape` turned into `/`.
//! - `;` and `%3B` (Tomcat, Jetty and Spring drop `;…` path parameters, so `/public/..;/admin`
//!   is `/admin` there): `path_parameters`, or with `path_parameters: strip` removed up to the
//!   next `/`.
//! - `..` right after an empty segment (`/admin//../x`: `/admin/x` by RFC 3986, `/x` where
//!   slashes are merged first, as NGINX does): `path_ambiguous`.
//!
//! Every other escape is decoded (`%61dmin` is `admin`, `%C3%A9` is `é`) except `%3F`, `%23`,
//! `%25`, which stay encoded (upper-case hex); bytes that are not UTF-8 (the host encodes raw
//! ones as `%XX`) stay `%XX`. Dot segments are resolved and repeated slashes merged.

use std::borrow::Cow;

use super::rejection::Rejection;

/// `path_policy` (top level of the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(default, deny_unknown_fields))]
pub struct PathPolicy {
    /// `%2F`, `%5C` and `\` in the path: `reject` (400 `path_escaped_slash`, default) or
    /// `unescape` (match and forward them as `/`).
    pub escaped_slashes: EscapedSlashes,
    /// `;` or `%3B` in the path: `reject` (400 `path_parameters`, default) or `strip` (match
    /// and forward without the `;…` part of each segment).
    pub path_parameters: PathParameters,
    /// How `prefix` and `path` rules compare letters: `reject_ambiguous` (default: compared
    /// case-sensitively, and a path whose case-insensitive match picks another rule is refused
    /// 400 `path_ambiguous`), `sensitive` (Envoy's) or `insensitive`.
    pub case_matching: CaseMatching,
    /// `path` rules also match the path with (or without) one trailing `/`.
    pub exact_path_trailing_slash: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(rename_all = "snake_case"))]
pub enum EscapedSlashes {
    #[default]
    Reject,
    Unescape,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(rename_all = "snake_case"))]
pub enum PathParameters {
    #[default]
    Reject,
    Strip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "cli", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "cli", serde(rename_all = "snake_case"))]
pub enum CaseMatching {
    #[default]
    RejectAmbiguous,
    Sensitive,
    Insensitive,
}

/// The path a request is matched on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchPath {
    /// Canonical: starts with `/`, no dot segments, no empty segments, escapes decoded.
    pub path: String,
    /// When the policy changed what the path means (`unescape`, `strip`): the canonical path,
    /// encoded for the wire, to forward instead of the client's (query kept as sent).
    pub forward: Option<String>,
}

/// What to do with one kind of delimiter while decoding.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Treat {
    Refuse,
    Convert,
    Keep,
}

impl PathPolicy {
    /// The canonical matching path of `raw` (`:path`, query included), or why it is refused.
    pub fn canonical(&self, raw: &str) -> Result<MatchPath, Rejection> {
        let path = raw.split('?').next().unwrap_or("");
        let slashes = match self.escaped_slashes {
            EscapedSlashes::Reject => Treat::Refuse,
            EscapedSlashes::Unescape => Treat::Convert,
        };
        let params = match self.path_parameters {
            PathParameters::Reject => Treat::Refuse,
            PathParameters::Strip => Treat::Convert,
        };
        let (bytes, changed) = decode(path, slashes, params)?;
        let resolved = resolve(&bytes)?;
        let path = to_text(&resolved);
        let forward = changed.then(|| wire(&path));
        Ok(MatchPath { path, forward })
    }
}

impl PathPolicy {
    /// [`PathPolicy::canonical`]'s (path, forward) without a copy when the path is canonical
    /// already, as most are (no escape, no `\\` or `;`, no control byte, no dot or empty
    /// segment): then it is matched as sent and nothing is forwarded instead.
    pub fn matching<'p>(&self, raw: &'p str) -> Result<(Cow<'p, str>, Option<String>), Rejection> {
        let path = raw.split('?').next().unwrap_or("");
        if is_canonical(path) {
            return Ok((Cow::Borrowed(path), None));
        }
        let matched = self.canonical(raw)?;
        Ok((Cow::Owned(matched.path), matched.forward))
    }
}

/// Whether `path` (no query) is its own canonical form under every policy: it starts with `/`,
/// holds nothing `decode` changes or refuses, and nothing `resolve` changes (a `.` or `..`
/// segment, an empty one before the last).
fn is_canonical(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    if path
        .bytes()
        .any(|b| matches!(b, b'%' | b'\\' | b';' | 0..=0x1f | 0x7f))
    {
        return false;
    }
    let mut segments = rest.split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if (segment.is_empty() && !last) || segment == "." || segment == ".." {
            return false;
        }
    }
    true
}

/// A rule's `prefix` / `path` in the canonical form requests are matched in (escapes decoded
/// the same way; nothing else changes). `None`: invalid percent-encoding.
pub fn canonical_rule_path(path: &str) -> Option<String> {
    let (bytes, _) = decode(path, Treat::Keep, Treat::Keep).ok()?;
    Some(to_text(&bytes))
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn push_escape(out: &mut Vec<u8>, v: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push(b'%');
    out.extend(HEX.get(usize::from(v >> 4)));
    out.extend(HEX.get(usize::from(v & 15)));
}

/// Decodes escapes, checks bytes; `slashes` for `%2F` `%5C` `\`, `params` for `;` `%3B`
/// (`Convert`: the parameter is dropped up to the next `/`, as Tomcat does before decoding).
/// Returns the bytes and whether a delimiter was converted. Then resolves dot segments.
fn decode(path: &str, slashes: Treat, params: Treat) -> Result<(Vec<u8>, bool), Rejection> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut changed = false;
    let mut in_parameter = false;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        i += 1;
        let (value, escaped) = if b == b'%' {
            let high = bytes.get(i).copied().and_then(hex);
            let low = bytes.get(i + 1).copied().and_then(hex);
            let (Some(h), Some(l)) = (high, low) else {
                return Err(Rejection::PathMalformed);
            };
            i += 2;
            (h << 4 | l, true)
        } else {
            (b, false)
        };
        match value {
            0..=0x1f | 0x7f => return Err(Rejection::PathMalformed),
            b'/' if !escaped => {
                in_parameter = false;
                out.push(b'/');
            }
            _ if in_parameter => {}
            b'/' | b'\\' => match slashes {
                Treat::Refuse => return Err(Rejection::PathEscapedSlash),
                Treat::Convert => {
                    out.push(b'/');
                    changed = true;
                }
                Treat::Keep if escaped => push_escape(&mut out, value),
                Treat::Keep => out.push(value),
            },
            b';' => match params {
                Treat::Refuse => return Err(Rejection::PathParameters),
                Treat::Convert => {
                    in_parameter = true;
                    changed = true;
                }
                Treat::Keep if escaped => push_escape(&mut out, value),
                Treat::Keep => out.push(value),
            },
            b'?' | b'#' | b'%' if escaped => push_escape(&mut out, value),
            _ => out.push(value),
        }
    }
    Ok((out, changed))
}

/// Resolves `.` and `..`, merges repeated slashes; a `..` after an empty segment is ambiguous
/// (RFC 3986 keeps the empty segment, NGINX merges slashes first: `/admin//../x` is `/admin/x`
/// to one and `/x` to the other).
fn resolve(bytes: &[u8]) -> Result<Vec<u8>, Rejection> {
    let parts: Vec<&[u8]> = bytes.split(|&b| b == b'/').collect();
    // A path without a leading `/` (`*`, ``) is read as if it had one.
    let body = match parts.split_first() {
        Some((&[], rest)) => rest.to_vec(),
        _ => parts,
    };
    let mut stack: Vec<&[u8]> = Vec::new();
    let mut trailing = false;
    let last = body.len().saturating_sub(1);
    for (i, segment) in body.iter().enumerate() {
        let is_last = i == last;
        match *segment {
            b"." => trailing = is_last,
            b".." => {
                if stack.last().is_some_and(|s| s.is_empty()) {
                    return Err(Rejection::PathAmbiguous);
                }
                stack.pop();
                trailing = is_last;
            }
            b"" if is_last => trailing = true,
            s => {
                stack.push(s);
                trailing = false;
            }
        }
    }
    let mut out = Vec::with_capacity(bytes.len() + 1);
    for segment in stack.iter().filter(|s| !s.is_empty()) {
        out.push(b'/');
        out.extend_from_slice(segment);
    }
    if out.is_empty() || trailing {
        out.push(b'/');
    }
    Ok(out)
}

/// Bytes as text: UTF-8 kept, any other byte as `%XX`.
fn to_text(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    loop {
        match std::str::from_utf8(rest) {
            Ok(valid) => {
                out.push_str(valid);
                return out;
            }
            Err(e) => {
                let (valid, after) = rest.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                let bad = e.error_len().unwrap_or(after.len()).min(after.len());
                let (invalid, tail) = after.split_at(bad);
                let mut escaped = Vec::with_capacity(invalid.len() * 3);
                for &b in invalid {
                    push_escape(&mut escaped, b);
                }
                out.push_str(std::str::from_utf8(&escaped).unwrap_or_default());
                rest = tail;
            }
        }
    }
}

/// A canonical path encoded for the request line: unreserved, sub-delims, `:`, `@`, `/` and
/// the escapes it already has stay; everything else becomes `%XX`.
fn wire(path: &str) -> String {
    let mut out = Vec::with_capacity(path.len());
    for &b in path.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&b) {
            out.push(b);
        } else {
            push_escape(&mut out, b);
        }
    }
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lenient() -> PathPolicy {
        PathPolicy {
            escaped_slashes: EscapedSlashes::Unescape,
            path_parameters: PathParameters::Strip,
            ..PathPolicy::default()
        }
    }

    #[test]
    fn canonical_table() {
        let strict = PathPolicy::default();
        for (raw, want) in [
            ("/", "/"),
            ("", "/"),
            ("*", "/*"),
            ("/api", "/api"),
            ("/api/", "/api/"),
            ("/api?x=/public;%2F", "/api"),
            ("/public/../admin", "/admin"),
            ("/public/%2e%2e/admin", "/admin"),
            ("/public/%2E%2E/admin", "/admin"),
            ("//admin", "/admin"),
            ("/a/./b//c", "/a/b/c"),
            ("/%61dmin", "/admin"),
            ("/../../etc", "/etc"),
            ("/a/b/..", "/a/"),
            ("/a/.", "/a/"),
            ("/caf\u{e9}/x", "/caf\u{e9}/x"),
            ("/caf%C3%A9/x", "/caf\u{e9}/x"),
            ("/caf%c3%a9/x", "/caf\u{e9}/x"),
            ("/x/%FF/%c3", "/x/%FF/%C3"),
            ("/a%3fb%23c%25d", "/a%3Fb%23c%25d"),
            ("/a%20b!$'()*+,=:@", "/a b!$'()*+,=:@"),
            ("/a b#c", "/a b#c"),
        ] {
            assert_eq!(
                strict.canonical(raw).map(|m| m.path),
                Ok(want.to_string()),
                "{raw:?}"
            );
            assert_eq!(
                strict.canonical(raw).map(|m| m.forward),
                Ok(None),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn refusals_by_kind() {
        let strict = PathPolicy::default();
        for (raw, want) in [
            ("/a%2Fb", Rejection::PathEscapedSlash),
            ("/a%2fb", Rejection::PathEscapedSlash),
            ("/a%5Cb", Rejection::PathEscapedSlash),
            ("/a\\b", Rejection::PathEscapedSlash),
            ("/a;b", Rejection::PathParameters),
            ("/a%3Bb", Rejection::PathParameters),
            ("/a%3bb", Rejection::PathParameters),
            ("/%", Rejection::PathMalformed),
            ("/%4", Rejection::PathMalformed),
            ("/%zz", Rejection::PathMalformed),
            ("/%+f", Rejection::PathMalformed),
            ("/a%00", Rejection::PathMalformed),
            ("/a%0A", Rejection::PathMalformed),
            ("/a\u{7f}", Rejection::PathMalformed),
            ("/admin//../x", Rejection::PathAmbiguous),
            ("/admin/.//./../x", Rejection::PathAmbiguous),
        ] {
            assert_eq!(strict.canonical(raw), Err(want), "{raw:?}");
        }
    }

    #[test]
    fn unescape_and_strip_normalize_and_forward_what_was_matched() {
        for (raw, path, forward) in [
            ("/content/..;/admin/users", "/admin/users", "/admin/users"),
            ("/content/..%2fadmin/users", "/admin/users", "/admin/users"),
            ("/content/..\\admin/users", "/admin/users", "/admin/users"),
            ("/content/..%5Cadmin/users", "/admin/users", "/admin/users"),
            ("/admin;/users", "/admin/users", "/admin/users"),
            ("/a;jsessionid=1/b;v=2?q=1", "/a/b", "/a/b"),
            ("/admin;%2F..%2F..%2Fcontent", "/admin", "/admin"),
            ("/content/..%3B/admin", "/admin", "/admin"),
            ("/a;x/b c#d", "/a/b c#d", "/a/b%20c%23d"),
            (
                "/caf\u{e9};x/%FF%20",
                "/caf\u{e9}/%FF ",
                "/caf%C3%A9/%FF%20",
            ),
        ] {
            let m = lenient().canonical(raw).unwrap();
            assert_eq!(m.path, path, "{raw:?}");
            assert_eq!(m.forward.as_deref(), Some(forward), "{raw:?}");
        }
        // Nothing to change: nothing forwarded differently.
        assert_eq!(lenient().canonical("/a/../b").unwrap().forward, None);
    }

    #[test]
    fn rule_paths_use_the_same_escapes() {
        assert_eq!(
            canonical_rule_path("/caf%c3%a9/").as_deref(),
            Some("/caf\u{e9}/")
        );
        assert_eq!(
            canonical_rule_path("/%61pi;x%2f").as_deref(),
            Some("/api;x%2F")
        );
        assert_eq!(canonical_rule_path("/%zz"), None);
    }

    #[test]
    fn matching_borrows_only_what_canonical_would_return_unchanged() {
        for raw in [
            "/",
            "",
            "*",
            "/api",
            "/api/",
            "/api?x=/public;%2F",
            "/a//b",
            "//",
            "/a/",
            "/a/.",
            "/a/./b",
            "/a/..",
            "/..",
            "/.",
            "/.a/b..",
            "/a/...",
            "/a%2Fb",
            "/a\\b",
            "/a;b",
            "/a%3bb",
            "/a%61",
            "/a\u{7f}",
            "/a\u{1}b",
            "/caf\u{e9}/x",
            "/a b#c",
            "a/b",
            "/x?a=%2F",
            "/admin//../x",
            "/a//",
        ] {
            for policy in [PathPolicy::default(), lenient()] {
                let want = policy.canonical(raw).map(|m| (m.path, m.forward));
                let got = policy
                    .matching(raw)
                    .map(|(path, forward)| (path.into_owned(), forward));
                assert_eq!(got, want, "{raw:?}");
            }
        }
        assert!(matches!(
            PathPolicy::default().matching("/api/x?y=1"),
            Ok((Cow::Borrowed("/api/x"), None))
        ));
    }

    #[test]
    fn hostile_bytes_do_not_panic() {
        for raw in [
            "%",
            "%e",
            "/%",
            "/\u{1F600}%",
            "/%c3",
            "/\u{ff}%2",
            "/%%%%",
            "/%F0%9F%98",
        ] {
            let _ = PathPolicy::default().canonical(raw);
            let _ = lenient().canonical(raw);
        }
    }
}
