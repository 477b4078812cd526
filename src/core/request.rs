//! The request as the core sees it: method, `:path` and the header list, read from the host once.

/// A request's headers (names compared case-insensitively: hosts differ in case).
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    /// `:path` as received, query string included.
    pub path: &'a str,
    pub headers: &'a [(String, String)],
}

impl<'a> Request<'a> {
    /// Every value of header `name` (case-insensitive), in order.
    pub fn header_values(&self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// The query string without `?`, if any.
    pub fn query(&self) -> Option<&'a str> {
        let path = self.path;
        path.split_once('?')
            .map(|(_, q)| q.split('#').next().unwrap_or(q))
    }
}

/// A change to the request the host must apply before forwarding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderOp {
    /// Remove every value of the header.
    Remove(String),
    /// Replace every value of the header with this one (`:path` included).
    Set(String, String),
}
