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

impl HttpUri {
    /// The URI's host: the authority without a port, an IPv6 literal without its brackets,
    /// lower-case.
    pub fn host(&self) -> String {
        let a = self.authority.as_str();
        let host = match a.strip_prefix('[') {
            Some(rest) => rest.split(']').next().unwrap_or(rest),
            None => a.rsplit_once(':').map_or(a, |(h, _)| h),
        };
        host.to_ascii_lowercase()
    }

    /// What an operator should know about fetching keys from this URI (`jwtgate check` and the
    /// filter's load-time warnings; never an error: a sidecar IdP on loopback is legitimate).
    /// A configured URI that reaches loopback, link-local / cloud metadata or private
    /// addresses is what an SSRF through configuration looks like (Istio CVE-2026-41413), and
    /// keys fetched over plain `http` from another host can be replaced on the way.
    pub fn fetch_concerns(&self) -> Vec<&'static str> {
        let host = self.host();
        let class = classify_host(&host);
        let mut concerns = Vec::new();
        match class {
            HostClass::Loopback => concerns.push("points at a loopback address"),
            HostClass::LinkLocal => concerns.push(
                "points at a link-local address (169.254.0.0/16, fe80::/10: cloud metadata services live there)",
            ),
            HostClass::Private => concerns.push(
                "points at a private address (10/8, 172.16/12, 192.168/16, fc00::/7)",
            ),
            HostClass::Unspecified => concerns.push("points at an unspecified address (0.0.0.0, ::)"),
            HostClass::OddNumeric => concerns.push(
                "has a numeric host that is not a dotted IPv4 address (resolvers may read it as one)",
            ),
            HostClass::Public => {}
        }
        if self.scheme == "http" && class != HostClass::Loopback {
            concerns.push(
                "uses plain http to a host that is not local: keys can be replaced in transit",
            );
        }
        concerns
    }
}

/// What kind of address a URI's host is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostClass {
    Loopback,
    LinkLocal,
    Private,
    Unspecified,
    /// `2130706433`, `0x7f.1`, `017700000001`: not the dotted form, read as IPv4 by some
    /// resolvers.
    OddNumeric,
    /// A DNS name or a public address.
    Public,
}

/// Classifies a host (lower-case, IPv6 without brackets).
pub fn classify_host(host: &str) -> HostClass {
    use std::net::{Ipv4Addr, Ipv6Addr};
    let v4 = |ip: Ipv4Addr| {
        let [a, b, ..] = ip.octets();
        if ip.is_loopback() {
            HostClass::Loopback
        } else if ip.is_link_local() {
            HostClass::LinkLocal
        } else if ip.is_private() {
            HostClass::Private
        } else if a == 0 {
            HostClass::Unspecified
        } else if a == 100 && (64..128).contains(&b) {
            // 100.64.0.0/10, carrier-grade NAT: not reachable from outside either.
            HostClass::Private
        } else {
            HostClass::Public
        }
    };
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return v4(ip);
    }
    if let Ok(ip) = host.parse::<Ipv6Addr>() {
        if let Some(mapped) = ip.to_ipv4_mapped() {
            return v4(mapped);
        }
        let first = ip.segments().first().copied().unwrap_or(0);
        return if ip.is_loopback() {
            HostClass::Loopback
        } else if ip.is_unspecified() {
            HostClass::Unspecified
        } else if first & 0xffc0 == 0xfe80 {
            HostClass::LinkLocal
        } else if first & 0xfe00 == 0xfc00 {
            HostClass::Private
        } else {
            HostClass::Public
        };
    }
    if host == "localhost" || host.ends_with(".localhost") {
        return HostClass::Loopback;
    }
    if host == "metadata.google.internal" || host == "metadata" {
        return HostClass::LinkLocal;
    }
    // Only digits, dots and hex prefixes, yet not a dotted quad: `2130706433`, `0x7f.0.0.1`.
    let numeric = host.split('.').all(|part| {
        let hex = part
            .strip_prefix("0x")
            .is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
        hex || (!part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
    });
    if numeric {
        return HostClass::OddNumeric;
    }
    HostClass::Public
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_classified() {
        for (host, class) in [
            ("127.0.0.1", HostClass::Loopback),
            ("127.1.2.3", HostClass::Loopback),
            ("::1", HostClass::Loopback),
            ("localhost", HostClass::Loopback),
            ("keys.localhost", HostClass::Loopback),
            ("169.254.169.254", HostClass::LinkLocal),
            ("fe80::1", HostClass::LinkLocal),
            ("febf::1", HostClass::LinkLocal),
            ("metadata.google.internal", HostClass::LinkLocal),
            ("::ffff:169.254.169.254", HostClass::LinkLocal),
            ("10.1.2.3", HostClass::Private),
            ("172.16.0.1", HostClass::Private),
            ("172.31.255.255", HostClass::Private),
            ("192.168.1.1", HostClass::Private),
            ("fd00::1", HostClass::Private),
            ("fc00::1", HostClass::Private),
            ("100.64.0.1", HostClass::Private),
            ("0.0.0.0", HostClass::Unspecified),
            ("::", HostClass::Unspecified),
            ("2130706433", HostClass::OddNumeric),
            ("0x7f.0.0.1", HostClass::OddNumeric),
            ("172.32.0.1", HostClass::Public),
            ("8.8.8.8", HostClass::Public),
            ("2001:db8::1", HostClass::Public),
            ("idp.example.com", HostClass::Public),
            ("10.example.com", HostClass::Public),
        ] {
            assert_eq!(classify_host(host), class, "{host}");
        }
    }

    #[test]
    fn fetch_concerns() {
        let concerns = |uri: &str| HttpUri::new(uri, None, 1).unwrap().fetch_concerns();
        assert!(concerns("https://idp.example.com/jwks").is_empty());
        assert!(concerns("http://127.0.0.1:8080/jwks").len() == 1);
        assert!(concerns("https://localhost/jwks")[0].contains("loopback"));
        assert!(concerns("http://[::1]:9/jwks")[0].contains("loopback"));
        let metadata = concerns("http://169.254.169.254/latest/meta-data");
        assert_eq!(metadata.len(), 2, "{metadata:?}");
        assert!(metadata[0].contains("link-local"));
        assert!(metadata[1].contains("plain http"));
        assert!(concerns("https://[fd00::5]:8443/k")[0].contains("private"));
        assert_eq!(
            concerns("http://idp.example.com/jwks"),
            ["uses plain http to a host that is not local: keys can be replaced in transit"]
        );
        assert_eq!(
            HttpUri::new("https://[FE80::1]:443/k", None, 1)
                .unwrap()
                .host(),
            "fe80::1"
        );
        assert_eq!(
            HttpUri::new("https://Idp.Test:8443/k", None, 1)
                .unwrap()
                .host(),
            "idp.test"
        );
    }

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
