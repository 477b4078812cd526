//! Route matching: which rule applies to a request. Matching sees the canonical path of
//! `path_policy` (`super::path_policy`) so that `/public/../admin`, `//admin`, `/%61dmin` or
//! `/public/..;/admin` cannot slip past a rule for `/admin`.

use super::request::Request;

/// Which requests a rule applies to (Envoy's `RouteMatch`: path, headers; plus `methods`).
#[derive(Debug, Clone)]
pub struct RouteMatch {
    pub path: PathMatch,
    /// Upper-case methods; empty: any.
    pub methods: Vec<String>,
    /// All must match.
    pub headers: Vec<HeaderMatch>,
}

/// How a rule matches the request path: Envoy's `prefix`, `path` and `safe_regex` forms.
#[derive(Debug, Clone)]
pub enum PathMatch {
    Prefix(String),
    Exact(String),
    /// Must match the whole path (as Envoy's RE2 full match); anchored when compiled.
    Regex(regex_lite::Regex),
}

/// Envoy's `HeaderMatcher`, the `present_match` and `exact_match` forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderMatch {
    pub name: String,
    pub kind: HeaderMatchKind,
    pub invert: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderMatchKind {
    Present(bool),
    Exact(String),
}

/// How `prefix` and `path` rules compare (from `path_policy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Compare {
    /// ASCII letters compare case-insensitively.
    pub ignore_case: bool,
    /// `path` rules also match with (or without) one trailing `/`.
    pub trailing_slash: bool,
}

impl RouteMatch {
    /// `normalized` must be the canonical path of `req.path` (`PathPolicy::canonical`).
    /// Methods compare case-sensitively (RFC 9110 §9.1); a `GET` rule also covers `HEAD`,
    /// which upstreams answer with their `GET` handler.
    pub fn matches(&self, req: &Request<'_>, normalized: &str, compare: Compare) -> bool {
        self.path.matches(normalized, compare)
            && (self.methods.is_empty()
                || self
                    .methods
                    .iter()
                    .any(|m| m == req.method || (m == "GET" && req.method == "HEAD")))
            && self.headers.iter().all(|h| h.matches(req))
    }
}

impl PathMatch {
    /// `normalized` must be a canonical path (`PathPolicy::canonical`). Regexes see it as it
    /// is (write `(?i)` for case-insensitive ones).
    pub fn matches(&self, normalized: &str, compare: Compare) -> bool {
        let same = |a: &[u8], b: &[u8]| {
            if compare.ignore_case {
                a.eq_ignore_ascii_case(b)
            } else {
                a == b
            }
        };
        match self {
            PathMatch::Prefix(prefix) => normalized
                .as_bytes()
                .get(..prefix.len())
                .is_some_and(|head| same(head, prefix.as_bytes())),
            PathMatch::Exact(path) => {
                let trim = |p: &'_ str| -> usize {
                    if compare.trailing_slash && p.len() > 1 && p.ends_with('/') {
                        p.len() - 1
                    } else {
                        p.len()
                    }
                };
                let (a, b) = (normalized.as_bytes(), path.as_bytes());
                match (a.get(..trim(normalized)), b.get(..trim(path))) {
                    (Some(a), Some(b)) => same(a, b),
                    _ => false,
                }
            }
            PathMatch::Regex(re) => re.is_match(normalized),
        }
    }
}

impl HeaderMatch {
    fn matches(&self, req: &Request<'_>) -> bool {
        let hit = match &self.kind {
            HeaderMatchKind::Present(want) => req.has_header(&self.name) == *want,
            HeaderMatchKind::Exact(value) => req.header_values(&self.name).any(|v| v == value),
        };
        hit != self.invert
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_matches_the_whole_path() {
        let re = PathMatch::Regex(regex_lite::Regex::new("^(?:/users/[0-9]+)$").unwrap());
        let c = Compare::default();
        assert!(re.matches("/users/42", c));
        assert!(!re.matches("/users/42/x", c));
        assert!(!re.matches("/x/users/42", c));
    }

    #[test]
    fn methods_and_headers() {
        let headers = vec![("X-Env".to_string(), "prod".to_string())];
        let get = Request {
            method: "GET",
            path: "/",
            headers: &headers,
        };
        let post = Request {
            method: "POST",
            ..get
        };
        let rule = |methods: &[&str], h: Vec<HeaderMatch>| RouteMatch {
            path: PathMatch::Prefix("/".into()),
            methods: methods.iter().map(|m| m.to_string()).collect(),
            headers: h,
        };
        assert!(rule(&[], vec![]).matches(&get, "/", Compare::default()));
        assert!(rule(&["GET", "HEAD"], vec![]).matches(&get, "/", Compare::default()));
        assert!(!rule(&["GET"], vec![]).matches(&post, "/", Compare::default()));
        let exact = |v: &str, invert| HeaderMatch {
            name: "x-env".into(),
            kind: HeaderMatchKind::Exact(v.into()),
            invert,
        };
        assert!(rule(&[], vec![exact("prod", false)]).matches(&get, "/", Compare::default()));
        assert!(!rule(&[], vec![exact("dev", false)]).matches(&get, "/", Compare::default()));
        assert!(rule(&[], vec![exact("dev", true)]).matches(&get, "/", Compare::default()));
        let present = |p| HeaderMatch {
            name: "x-env".into(),
            kind: HeaderMatchKind::Present(p),
            invert: false,
        };
        assert!(rule(&[], vec![present(true)]).matches(&get, "/", Compare::default()));
        assert!(!rule(&[], vec![present(false)]).matches(&get, "/", Compare::default()));
    }

    #[test]
    fn prefix_and_exact() {
        let p = PathMatch::Prefix("/api".into());
        assert!(p.matches("/api", Compare::default()));
        assert!(p.matches("/api/x", Compare::default()));
        assert!(
            p.matches("/apix", Compare::default()),
            "Envoy prefix semantics: plain string prefix"
        );
        assert!(!p.matches("/API", Compare::default()));
        let e = PathMatch::Exact("/health".into());
        assert!(e.matches("/health", Compare::default()));
        assert!(!e.matches("/health/", Compare::default()));
    }

    #[test]
    fn case_and_trailing_slash_options() {
        let p = PathMatch::Prefix("/admin/".into());
        let ci = Compare {
            ignore_case: true,
            ..Compare::default()
        };
        assert!(!p.matches("/ADMIN/x", Compare::default()));
        assert!(p.matches("/ADMIN/x", ci));
        assert!(!p.matches("/ADMI", ci));
        assert!(
            !p.matches("/\u{e9}", ci),
            "short multi-byte paths compare as bytes"
        );
        let e = PathMatch::Exact("/health".into());
        let ts = Compare {
            trailing_slash: true,
            ..Compare::default()
        };
        assert!(e.matches("/health/", ts));
        assert!(e.matches("/health", ts));
        assert!(!e.matches("/health//", ts));
        assert!(!e.matches("/Health/", ts));
        assert!(PathMatch::Exact("/a/".into()).matches("/a", ts));
        assert!(PathMatch::Exact("/".into()).matches("/", ts));
    }

    #[test]
    fn head_is_covered_by_get_and_methods_are_case_sensitive() {
        let rule = RouteMatch {
            path: PathMatch::Prefix("/".into()),
            methods: vec!["GET".into()],
            headers: vec![],
        };
        let req = |method| Request {
            method,
            path: "/",
            headers: &[],
        };
        assert!(rule.matches(&req("GET"), "/", Compare::default()));
        assert!(rule.matches(&req("HEAD"), "/", Compare::default()));
        assert!(!rule.matches(&req("get"), "/", Compare::default()));
        assert!(!rule.matches(&req("head"), "/", Compare::default()));
        assert!(!rule.matches(&req("POST"), "/", Compare::default()));
    }
}
