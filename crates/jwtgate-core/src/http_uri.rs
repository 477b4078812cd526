//! An upstream HTTP endpoint, Envoy's `HttpUri` (`uri`, `cluster`, `timeout`): where remote
//! JWKS are fetched from and where `ext_auth` services are asked. Pure: the host glue turns it
//! into `dispatch_http_call` arguments.

/// A checked absolute http(s) URI with the upstream the host dispatches to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUri {
    /// The configured URI, for logs (and the remote JWKS shared-data key).
    pub uri: String,
    /// Envoy: a cluster name. ngx_wasm_module: `host:port` (the default, from the URI).
    pub upstream: String,
    pub scheme: String,
    pub authority: String,
    /// Path and query, `/` when the URI has none.
    pub path: String,
    pub timeout_ms: u64,
}

impl HttpUri {
    /// `uri` must be absolute http:// or https:// with a host and no user info, spaces or
    /// fragment; `upstream` defaults to the URI's `host:port`.
    pub fn new(uri: &str, upstream: Option<String>, timeout_ms: u64) -> Result<HttpUri, String> {
        let (scheme, rest) = uri
            .split_once("://")
            .ok_or("must be an absolute http:// or https:// URI")?;
        if scheme != "http" && scheme != "https" {
            return Err("must be an absolute http:// or https:// URI".into());
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, "/"),
        };
        let printable = |s: &str| s.bytes().all(|b| b > 0x20 && b != 0x7f);
        if authority.is_empty() || !printable(authority) || authority.contains('@') {
            return Err("the URI needs a host (no user info)".into());
        }
        if !printable(path) || path.contains('#') {
            return Err("the URI path must not contain spaces or a fragment".into());
        }
        let upstream = match upstream {
            Some(u) if u.is_empty() || !printable(&u) => {
                return Err("the cluster must be a non-empty name".into())
            }
            Some(u) => u,
            None if authority.contains(':') => authority.to_string(),
            None if scheme == "https" => format!("{authority}:443"),
            None => format!("{authority}:80"),
        };
        Ok(HttpUri {
            uri: uri.to_string(),
            upstream,
            scheme: scheme.to_string(),
            authority: authority.to_string(),
            path: path.to_string(),
            timeout_ms,
        })
    }

    /// The pseudo-headers of a `GET` to this URI (`:scheme: https` turns TLS on in
    /// ngx_wasm_module).
    pub fn get_headers(&self) -> [(&str, &str); 4] {
        [
            (":method", "GET"),
            (":path", &self.path),
            (":authority", &self.authority),
            (":scheme", &self.scheme),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_gives_upstream_authority_and_path() {
        let c = HttpUri::new("https://idp.test/jwks.json", None, 1).unwrap();
        assert_eq!(c.upstream, "idp.test:443");
        assert_eq!(c.authority, "idp.test");
        assert_eq!(c.path, "/jwks.json");
        let c = HttpUri::new("http://127.0.0.1:8081/k?x=1", Some("idp".into()), 1).unwrap();
        assert_eq!((c.upstream.as_str(), c.path.as_str()), ("idp", "/k?x=1"));
        let c = HttpUri::new("http://h", None, 1).unwrap();
        assert_eq!((c.upstream.as_str(), c.path.as_str()), ("h:80", "/"));
        for bad in [
            "idp.test/jwks",
            "ftp://h/x",
            "https:///x",
            "https://u@h/x",
            "https://h/a b",
            "https://h/a#f",
        ] {
            assert!(HttpUri::new(bad, None, 1).is_err(), "{bad}");
        }
        assert!(HttpUri::new("http://h/", Some(String::new()), 1).is_err());
    }
}
