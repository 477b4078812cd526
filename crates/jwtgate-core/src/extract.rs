//! Where a provider looks for its token: headers (with a scheme prefix such as `Bearer `),
//! cookies and query parameters, in that order. Also how to remove the token once verified
//! (`forward: false`).

use std::borrow::Cow;

use super::request::{HeaderOp, OpsWriter, Request};

/// One configured token location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Header `name` (lower-case); the value must start with `prefix`, compared
    /// case-insensitively (RFC 9110 §11.1: auth schemes are case-insensitive; Envoy compares
    /// `value_prefix` case-sensitively and so misses `bearer …`).
    Header {
        name: String,
        prefix: String,
    },
    Cookie(String),
    Param(String),
}

impl Source {
    /// Human-readable location, for `jwtgate explain`.
    pub fn describe(&self) -> String {
        match self {
            Source::Header { name, prefix } if prefix.is_empty() => format!("header {name}"),
            Source::Header { name, prefix } => format!("header {name} (prefix {prefix:?})"),
            Source::Cookie(name) => format!("cookie {name}"),
            Source::Param(name) => format!("query parameter {name}"),
        }
    }

    /// The default when a provider names no location: `Authorization: Bearer <token>`.
    /// Unlike Envoy, the `access_token` query parameter is not a default: URLs end up in logs
    /// and caches (RFC 6750 §5.3); configure `from_params` to opt in.
    pub fn default_sources() -> Vec<Source> {
        vec![Source::Header {
            name: "authorization".into(),
            prefix: "Bearer ".into(),
        }]
    }
}

/// A token found in a request, and where. The token is borrowed from the request unless
/// decoding changed it (a percent-encoded query parameter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found<'a> {
    pub token: Cow<'a, str>,
    pub source: &'a Source,
    /// Position of `source` in the provider's list.
    pub index: usize,
}

/// The first token found in `sources` order. A header whose value does not carry the prefix
/// (e.g. `Authorization: Basic …`) holds no token for this source.
pub fn find<'a>(sources: &'a [Source], req: &Request<'a>) -> Option<Found<'a>> {
    find_all(sources, req).next()
}

/// Every token found, one per source at most, in `sources` order.
pub fn find_all<'a>(
    sources: &'a [Source],
    req: &Request<'a>,
) -> impl Iterator<Item = Found<'a>> + 'a {
    let req = *req;
    sources
        .iter()
        .enumerate()
        .filter_map(move |(index, source)| {
            let token = match source {
                Source::Header { name, prefix } => req
                    .header_values(name)
                    .find_map(|value| strip_prefix_ci(value, prefix))
                    .map(Cow::Borrowed),
                Source::Cookie(name) => req
                    .header_values("cookie")
                    .find_map(|header| cookie_value(header, name))
                    .map(Cow::Borrowed),
                Source::Param(name) => req.query().and_then(|q| query_value(q, name)),
            }?;
            Some(Found {
                token,
                source,
                index,
            })
        })
}

/// Every token in the request, in `sources` order: every value of a header that carries the
/// prefix, every cookie of that name in every `Cookie` header, every query parameter of that
/// name. Envoy verifies each token a request carries; so does jwtgate (a forged second token
/// must never ride along with a valid first one). Found as iterated: nothing is collected.
pub fn find_every<'a>(
    sources: &'a [Source],
    req: &Request<'a>,
) -> impl Iterator<Item = Found<'a>> + 'a {
    Every {
        sources,
        req: *req,
        index: 0,
        header: 0,
        offset: 0,
    }
}

/// [`find_every`]'s iterator: where it is in `sources`, in the header list and in the text
/// (a `Cookie` header or the query) being split.
struct Every<'a> {
    sources: &'a [Source],
    req: Request<'a>,
    index: usize,
    header: usize,
    offset: usize,
}

impl<'a> Iterator for Every<'a> {
    type Item = Found<'a>;

    fn next(&mut self) -> Option<Found<'a>> {
        loop {
            let source = self.sources.get(self.index)?;
            if let Some(token) = self.next_in(source) {
                return Some(Found {
                    token,
                    source,
                    index: self.index,
                });
            }
            self.index += 1;
            self.header = 0;
            self.offset = 0;
        }
    }
}

impl<'a> Every<'a> {
    /// The next token of `source` (the current one), if any.
    fn next_in(&mut self, source: &'a Source) -> Option<Cow<'a, str>> {
        let headers = self.req.headers;
        match source {
            Source::Header { name, prefix } => {
                while let Some((n, value)) = headers.get(self.header) {
                    self.header += 1;
                    if n.eq_ignore_ascii_case(name) {
                        if let Some(token) = strip_prefix_ci(value, prefix) {
                            return Some(Cow::Borrowed(token));
                        }
                    }
                }
                None
            }
            Source::Cookie(name) => {
                while let Some((n, header)) = headers.get(self.header) {
                    if n.eq_ignore_ascii_case("cookie") {
                        while let Some(pair) = next_piece(header, &mut self.offset, ';') {
                            if let Some(value) = cookie_pair(pair, name) {
                                return Some(Cow::Borrowed(value));
                            }
                        }
                    }
                    self.header += 1;
                    self.offset = 0;
                }
                None
            }
            Source::Param(name) => {
                let query = self.req.query()?;
                while let Some(pair) = next_piece(query, &mut self.offset, '&') {
                    if let Some(value) = param_pair(pair, name) {
                        return Some(value);
                    }
                }
                None
            }
        }
    }
}

/// The piece of `text` that starts at `*offset` and ends before the next `separator` (as
/// `split` yields them), moving `*offset` past it; `None` after the last piece.
fn next_piece<'t>(text: &'t str, offset: &mut usize, separator: char) -> Option<&'t str> {
    let rest = text.get(*offset..)?;
    let piece = rest.split(separator).next().unwrap_or(rest);
    *offset = offset
        .saturating_add(piece.len())
        .saturating_add(separator.len_utf8());
    Some(piece)
}

/// `value` after `prefix` (ASCII case-insensitive). A prefix that is an auth scheme
/// (`Bearer`, `Bearer `) needs a space after the scheme, accepts any run of spaces/tabs there,
/// and a bare scheme yields an empty token, which then fails as malformed instead of being
/// treated as "no token". Other prefixes (`token=`) are stripped as they are.
fn strip_prefix_ci<'v>(value: &'v str, prefix: &str) -> Option<&'v str> {
    let value = value.trim_matches([' ', '\t']);
    let scheme = prefix.trim_end_matches([' ', '\t']);
    let head = value.get(..scheme.len())?;
    if !head.eq_ignore_ascii_case(scheme) {
        return None;
    }
    let rest = value.get(scheme.len()..)?;
    let is_scheme_word = scheme.ends_with(|c: char| c.is_ascii_alphanumeric());
    if is_scheme_word {
        if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
            return None; // "Bearerx…" is another scheme
        }
        return Some(rest.trim_start_matches([' ', '\t']));
    }
    if scheme.len() == prefix.len() {
        Some(rest)
    } else {
        Some(rest.trim_start_matches([' ', '\t']))
    }
}

fn cookie_value<'h>(header: &'h str, name: &'h str) -> Option<&'h str> {
    cookie_values(header, name).next()
}

fn cookie_values<'h>(header: &'h str, name: &'h str) -> impl Iterator<Item = &'h str> + 'h {
    header
        .split(';')
        .filter_map(move |pair| cookie_pair(pair, name))
}

/// The value of cookie `pair` (`name=value`, spaces and quotes around the value dropped) if
/// it is cookie `name`'s.
fn cookie_pair<'h>(pair: &'h str, name: &str) -> Option<&'h str> {
    let (n, v) = pair.trim().split_once('=')?;
    (n.trim() == name).then(|| {
        let v = v.trim();
        v.strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v)
    })
}

fn query_value<'q>(query: &'q str, name: &'q str) -> Option<Cow<'q, str>> {
    query_values(query, name).next()
}

fn query_values<'q>(query: &'q str, name: &'q str) -> impl Iterator<Item = Cow<'q, str>> + 'q {
    query
        .split('&')
        .filter_map(move |pair| param_pair(pair, name))
}

/// The decoded value of query `pair` (`name=value`, or `name` alone) if it is parameter
/// `name`'s.
fn param_pair<'q>(pair: &'q str, name: &str) -> Option<Cow<'q, str>> {
    let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
    (decoded(n) == name).then(|| decoded(v))
}

/// [`percent_decode`], borrowing text without `%` (which decoding leaves as it is).
fn decoded(s: &str) -> Cow<'_, str> {
    if s.contains('%') {
        Cow::Owned(percent_decode(s))
    } else {
        Cow::Borrowed(s)
    }
}

/// Percent-decodes `%XX` (invalid escapes stay literal). `+` is left alone: it is not part of
/// any base64url token, so a `+` in a token fails verification rather than becoming a space.
pub fn percent_decode(s: &str) -> String {
    super::percent::decode_where(s, |_| true)
}

/// The request change that removes a verified token from where it was found
/// (`forward: false`, Envoy's default).
pub fn removal(source: &Source, req: &Request<'_>) -> Option<HeaderOp> {
    removals(&[source], req, None).into_iter().next()
}

/// The request changes that remove tokens from all of `sources` at once: one `Remove` per
/// header, one change of `cookie` for all cookies, one change of `:path` for all query
/// parameters (separate changes would each start from the original and undo each other).
/// `path`: the path part to forward instead of the request's own (a normalized path), if any;
/// it is combined into the same `:path` change.
pub fn removals(sources: &[&Source], req: &Request<'_>, path: Option<&str>) -> Vec<HeaderOp> {
    let mut ops = OpsWriter::default();
    removals_into(sources.iter().copied(), req, path, &mut ops);
    ops.finish(&mut Vec::new())
}

/// [`removals`], appended to `ops`.
pub fn removals_into<'s>(
    sources: impl IntoIterator<Item = &'s Source>,
    req: &Request<'_>,
    path: Option<&str>,
    ops: &mut OpsWriter,
) {
    let start = ops.len();
    let mut cookies: Vec<&str> = Vec::new();
    let mut params: Vec<&str> = Vec::new();
    for source in sources {
        match source {
            Source::Header { name, .. } => {
                let written = ops.ops().get(start..).unwrap_or(&[]);
                if !written
                    .iter()
                    .any(|op| matches!(op, HeaderOp::Remove(n) if n == name))
                {
                    ops.remove(name);
                }
            }
            Source::Cookie(name) => cookies.push(name),
            Source::Param(name) => params.push(name),
        }
    }
    if !cookies.is_empty() && req.has_header("cookie") {
        let kept: Vec<&str> = req
            .header_values("cookie")
            .flat_map(|h| h.split(';'))
            .map(str::trim)
            .filter(|pair| {
                let n = pair.split_once('=').map_or(pair.trim(), |(n, _)| n.trim());
                !pair.is_empty() && !cookies.contains(&n)
            })
            .collect();
        if kept.is_empty() {
            ops.remove("cookie");
        } else {
            ops.set("cookie", &kept.join("; "));
        }
    }
    let (own_path, query) = match req.path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (req.path, None),
    };
    let strip_params = !params.is_empty() && query.is_some();
    if strip_params || path.is_some() {
        let base = path.unwrap_or(own_path);
        let query = match query {
            Some(q) if strip_params => {
                let kept: Vec<&str> = q
                    .split('&')
                    .filter(|pair| {
                        let n = pair.split_once('=').map_or(*pair, |(n, _)| n);
                        !pair.is_empty() && !params.contains(&percent_decode(n).as_str())
                    })
                    .collect();
                (!kept.is_empty()).then(|| kept.join("&"))
            }
            // Without parameters to strip, the query stays exactly as sent.
            other => other.map(str::to_string),
        };
        let new_path = match query {
            Some(q) => format!("{base}?{q}"),
            None => base.to_string(),
        };
        ops.set(":path", &new_path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn req<'a>(path: &'a str, h: &'a [(String, String)]) -> Request<'a> {
        Request {
            method: "GET",
            path,
            headers: h,
        }
    }

    fn bearer() -> Vec<Source> {
        Source::default_sources()
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        for value in [
            "Bearer abc",
            "bearer abc",
            "BEARER abc",
            "bEaReR   abc",
            "Bearer\tabc",
            " Bearer abc ",
        ] {
            let h = headers(&[("Authorization", value)]);
            let sources = bearer();
            let found = find(&sources, &req("/", &h)).unwrap();
            assert_eq!(found.token, "abc", "{value:?}");
        }
    }

    #[test]
    fn other_schemes_are_not_tokens() {
        for value in ["Basic dXNlcjpwYXNz", "Bearerabc", "Token abc", "", "Bear"] {
            let h = headers(&[("authorization", value)]);
            let sources = bearer();
            assert_eq!(find(&sources, &req("/", &h)), None, "{value:?}");
        }
    }

    #[test]
    fn bare_scheme_gives_an_empty_token() {
        for value in ["Bearer", "Bearer ", "bearer   "] {
            let h = headers(&[("authorization", value)]);
            let sources = bearer();
            assert_eq!(
                find(&sources, &req("/", &h)).unwrap().token,
                "",
                "{value:?}"
            );
        }
    }

    #[test]
    fn configured_value_prefix_is_case_insensitive_too() {
        let sources = vec![Source::Header {
            name: "x-token".into(),
            prefix: "JWT=".into(),
        }];
        let h = headers(&[("X-Token", "jwt=abc")]);
        assert_eq!(find(&sources, &req("/", &h)).unwrap().token, "abc");
        let no_prefix = vec![Source::Header {
            name: "x-token".into(),
            prefix: String::new(),
        }];
        assert_eq!(find(&no_prefix, &req("/", &h)).unwrap().token, "jwt=abc");
    }

    #[test]
    fn scheme_prefix_without_trailing_space_still_needs_a_boundary() {
        let sources = vec![Source::Header {
            name: "authorization".into(),
            prefix: "Bearer".into(),
        }];
        let h = headers(&[("authorization", "bearer  abc")]);
        assert_eq!(find(&sources, &req("/", &h)).unwrap().token, "abc");
        let h = headers(&[("authorization", "Bearerabc")]);
        assert_eq!(find(&sources, &req("/", &h)), None);
    }

    #[test]
    fn second_header_value_is_searched() {
        let h = headers(&[("authorization", "Basic x"), ("authorization", "Bearer t")]);
        let sources = bearer();
        assert_eq!(find(&sources, &req("/", &h)).unwrap().token, "t");
    }

    #[test]
    fn cookies_by_exact_name() {
        let sources = vec![Source::Cookie("session".into())];
        let h = headers(&[("cookie", "a=1; xsession=no; session=\"tok\"; b=2")]);
        assert_eq!(find(&sources, &req("/", &h)).unwrap().token, "tok");
        let h = headers(&[("cookie", "a=1"), ("Cookie", "session=t2")]);
        assert_eq!(find(&sources, &req("/", &h)).unwrap().token, "t2");
        let h = headers(&[("cookie", "sessions=x")]);
        assert_eq!(find(&sources, &req("/", &h)), None);
    }

    #[test]
    fn params_by_name_percent_decoded() {
        let sources = vec![Source::Param("access_token".into())];
        let h = headers(&[]);
        assert_eq!(
            find(&sources, &req("/x?a=1&access_token=a%2Eb.c&z", &h))
                .unwrap()
                .token,
            "a.b.c"
        );
        assert_eq!(find(&sources, &req("/x?access_tokens=1", &h)), None);
        assert_eq!(find(&sources, &req("/x", &h)), None);
        assert_eq!(
            find(&sources, &req("/x?access_token=t#frag", &h))
                .unwrap()
                .token,
            "t"
        );
    }

    #[test]
    fn order_is_headers_then_as_configured() {
        let sources = vec![
            Source::Header {
                name: "authorization".into(),
                prefix: "Bearer ".into(),
            },
            Source::Param("t".into()),
        ];
        let h = headers(&[("authorization", "Bearer fromheader")]);
        assert_eq!(
            find(&sources, &req("/?t=fromparam", &h)).unwrap().token,
            "fromheader"
        );
        let h = headers(&[]);
        assert_eq!(
            find(&sources, &req("/?t=fromparam", &h)).unwrap().token,
            "fromparam"
        );
    }

    #[test]
    fn removal_from_each_source() {
        let sources = vec![Source::Cookie("s".into()), Source::Param("t".into())];
        let h = headers(&[("cookie", "a=1; s=tok; b=2")]);
        let r = req("/p?x=1&t=tok&y=2", &h);
        let found = find(&sources, &r).unwrap();
        assert_eq!(
            removal(found.source, &r),
            Some(HeaderOp::Set("cookie".into(), "a=1; b=2".into()))
        );
        let h = headers(&[("cookie", "s=tok")]);
        let r = req("/p?x=1&t=tok&y=2", &h);
        let found = find(&sources, &r).unwrap();
        assert_eq!(
            removal(found.source, &r),
            Some(HeaderOp::Remove("cookie".into()))
        );
        let h = headers(&[]);
        let r = req("/p?x=1&t=tok&y=2", &h);
        let found = find(&sources, &r).unwrap();
        assert_eq!(
            removal(found.source, &r),
            Some(HeaderOp::Set(":path".into(), "/p?x=1&y=2".into()))
        );
        let r = req("/p?t=tok", &h);
        let found = find(&sources, &r).unwrap();
        assert_eq!(
            removal(found.source, &r),
            Some(HeaderOp::Set(":path".into(), "/p".into()))
        );
        let h = headers(&[("authorization", "Bearer x")]);
        let r = req("/", &h);
        let b = bearer();
        let found = find(&b, &r).unwrap();
        assert_eq!(
            removal(found.source, &r),
            Some(HeaderOp::Remove("authorization".into()))
        );
    }

    #[test]
    fn every_token_of_every_source_in_order() {
        let sources = vec![
            Source::Header {
                name: "authorization".into(),
                prefix: "Bearer ".into(),
            },
            Source::Cookie("t".into()),
            Source::Param("t".into()),
        ];
        let h = headers(&[
            ("Authorization", "Bearer a1"),
            ("cookie", "x=1; t=c1;; t=\"c2\";"),
            ("authorization", "Basic no"),
            ("COOKIE", "t=c3"),
            ("authorization", "bearer a2"),
            ("cookie", ""),
        ]);
        let r = req("/p?t=q1&&t&u=2&t=q%2E2&", &h);
        let every: Vec<(String, usize)> = find_every(&sources, &r)
            .map(|f| (f.token.into_owned(), f.index))
            .collect();
        let want = [
            ("a1", 0),
            ("a2", 0),
            ("c1", 1),
            ("c2", 1),
            ("c3", 1),
            ("q1", 2),
            ("", 2),
            ("q.2", 2),
        ];
        let want: Vec<(String, usize)> = want.iter().map(|(t, i)| (t.to_string(), *i)).collect();
        assert_eq!(every, want);
        // Each source as the split iterators read it.
        let by_split: Vec<String> = cookie_values("x=1; t=c1;; t=\"c2\";", "t")
            .map(str::to_string)
            .chain(query_values("t=q1&&t&u=2&t=q%2E2&", "t").map(Cow::into_owned))
            .collect();
        assert_eq!(by_split, ["c1", "c2", "q1", "", "q.2"]);
        assert_eq!(find_every(&sources, &req("/p", &[])).count(), 0);
    }
}
