//! Route matching: which rule applies to a request. Matching sees a normalized path so that
//! `/public/../admin`, `//admin` or `/%61dmin` cannot slip past a rule for `/admin`; the path
//! forwarded upstream is never changed by this.

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

impl RouteMatch {
    /// `normalized` must come from [`normalize_path`] of `req.path`.
    pub fn matches(&self, req: &Request<'_>, normalized: &str) -> bool {
        self.path.matches(normalized)
            && (self.methods.is_empty() || self.methods.iter().any(|m| m == req.method))
            && self.headers.iter().all(|h| h.matches(req))
    }
}

impl PathMatch {
    /// `normalized` must come from [`normalize_path`].
    pub fn matches(&self, normalized: &str) -> bool {
        match self {
            PathMatch::Prefix(prefix) => normalized.starts_with(prefix.as_str()),
            PathMatch::Exact(path) => normalized == path,
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

/// The path used for matching: query and fragment dropped, `%XX` of unreserved characters
/// decoded (RFC 3986 §6.2.2.2), repeated slashes merged, `.` and `..` segments removed
/// (§5.2.4). Encoded `/`, `\` and other reserved escapes stay encoded.
pub fn normalize_path(raw: &str) -> String {
    let path = raw.split(['?', '#']).next().unwrap_or("");
    let decoded = decode_unreserved(path);
    let mut out: Vec<&str> = Vec::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let trailing_slash = decoded.ends_with('/')
        || decoded.ends_with("/.")
        || decoded.ends_with("/..")
        || decoded == "."
        || decoded == "..";
    let mut normalized = String::with_capacity(decoded.len() + 1);
    for s in &out {
        normalized.push('/');
        normalized.push_str(s);
    }
    if normalized.is_empty() || trailing_slash {
        normalized.push('/');
    }
    normalized
}

fn decode_unreserved(path: &str) -> String {
    super::percent::decode_where(path, super::percent::is_unreserved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_table() {
        for (raw, want) in [
            ("/", "/"),
            ("", "/"),
            ("/api", "/api"),
            ("/api/", "/api/"),
            ("/api?x=/public", "/api"),
            ("/public/../admin", "/admin"),
            ("/public/%2e%2e/admin", "/admin"),
            ("/public/%2E%2E/admin", "/admin"),
            ("//admin", "/admin"),
            ("/a/./b//c", "/a/b/c"),
            ("/%61dmin", "/admin"),
            ("/a%2Fb", "/a%2Fb"),
            ("/../../etc", "/etc"),
            ("/a/b/..", "/a/"),
            ("/caf\u{e9}/x", "/caf\u{e9}/x"),
            ("/x#frag", "/x"),
        ] {
            assert_eq!(normalize_path(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn regex_matches_the_whole_path() {
        let re = PathMatch::Regex(regex_lite::Regex::new("^(?:/users/[0-9]+)$").unwrap());
        assert!(re.matches("/users/42"));
        assert!(!re.matches("/users/42/x"));
        assert!(!re.matches("/x/users/42"));
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
        assert!(rule(&[], vec![]).matches(&get, "/"));
        assert!(rule(&["GET", "HEAD"], vec![]).matches(&get, "/"));
        assert!(!rule(&["GET"], vec![]).matches(&post, "/"));
        let exact = |v: &str, invert| HeaderMatch {
            name: "x-env".into(),
            kind: HeaderMatchKind::Exact(v.into()),
            invert,
        };
        assert!(rule(&[], vec![exact("prod", false)]).matches(&get, "/"));
        assert!(!rule(&[], vec![exact("dev", false)]).matches(&get, "/"));
        assert!(rule(&[], vec![exact("dev", true)]).matches(&get, "/"));
        let present = |p| HeaderMatch {
            name: "x-env".into(),
            kind: HeaderMatchKind::Present(p),
            invert: false,
        };
        assert!(rule(&[], vec![present(true)]).matches(&get, "/"));
        assert!(!rule(&[], vec![present(false)]).matches(&get, "/"));
    }

    #[test]
    fn prefix_and_exact() {
        let p = PathMatch::Prefix("/api".into());
        assert!(p.matches("/api"));
        assert!(p.matches("/api/x"));
        assert!(
            p.matches("/apix"),
            "Envoy prefix semantics: plain string prefix"
        );
        assert!(!p.matches("/API"));
        let e = PathMatch::Exact("/health".into());
        assert!(e.matches("/health"));
        assert!(!e.matches("/health/"));
    }

    #[test]
    fn traversal_cannot_reach_a_protected_prefix_through_a_public_one() {
        let public = PathMatch::Prefix("/public".into());
        assert!(!public.matches(&normalize_path("/public/../admin")));
        assert!(!public.matches(&normalize_path("/public/%2e%2e/admin")));
    }

    #[test]
    fn hostile_bytes_do_not_panic() {
        for raw in ["%", "%e", "/%", "/\u{1F600}%", "/%c3", "/\u{ff}%2", "/%%%%"] {
            let _ = normalize_path(raw);
        }
    }
}
