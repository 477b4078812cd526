//! How a refusal is answered: RFC 6750 by default, or per rule / globally a custom status,
//! content type and body, a redirect to a login page (browser routes, the seed's
//! `error_page 401 = @login_redirect`), or Envoy's `strip_failure_response`.

use super::rejection::{LocalResponse, Rejection};

/// A configured way to answer refusals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailurePolicy {
    /// Replaces 401/403 statuses (never the 500 of a bad configuration).
    pub status: Option<u32>,
    /// `application/json` (default) or any other type, e.g. `text/plain`.
    pub content_type: Option<String>,
    /// Body template: `{status}`, `{error}`, `{error_description}` are replaced.
    pub body: Option<String>,
    /// 401 refusals become a 302 to this login page.
    pub redirect: Option<Redirect>,
    /// Envoy's `strip_failure_response`: no body, no `WWW-Authenticate`.
    pub strip: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// Absolute or relative login URL.
    pub url: String,
    /// Query parameter that carries the original request URI (URL-encoded).
    pub param: String,
}

impl FailurePolicy {
    /// The answer to `rejection` for a request to `request_uri` (`:path`, query included).
    pub fn respond(&self, rejection: Rejection, realm: &str, request_uri: &str) -> LocalResponse {
        let mut response = LocalResponse::for_rejection(rejection, realm);
        self.adjust(&mut response, rejection, request_uri);
        response
    }

    /// [`FailurePolicy::respond`] written over `response` (a previous answer): the default
    /// answer reuses its strings' capacity.
    pub fn respond_into(
        &self,
        response: &mut LocalResponse,
        rejection: Rejection,
        realm: &str,
        request_uri: &str,
    ) {
        response.write_rejection(rejection, realm);
        self.adjust(response, rejection, request_uri);
    }

    /// What this policy changes in the RFC 6750 answer to `rejection`.
    fn adjust(&self, response: &mut LocalResponse, rejection: Rejection, request_uri: &str) {
        if rejection == Rejection::ConfigInvalid {
            return;
        }
        if let (Some(redirect), 401) = (&self.redirect, rejection.status()) {
            let separator = if redirect.url.contains('?') { '&' } else { '?' };
            let location = format!(
                "{}{separator}{}={}",
                redirect.url,
                redirect.param,
                percent_encode(request_uri)
            );
            *response = LocalResponse {
                status: 302,
                headers: vec![
                    ("location".into(), location),
                    ("cache-control".into(), "no-store".into()),
                ],
                body: String::new(),
            };
            return;
        }
        // A 400 (the request itself is refused) keeps its status.
        if let (Some(status), false) = (self.status, rejection.status() == 400) {
            response.status = status;
        }
        if self.content_type.is_some() || self.body.is_some() {
            let content_type = self
                .content_type
                .clone()
                .unwrap_or_else(|| "application/json".into());
            response.body = match &self.body {
                Some(template) => template
                    .replace("{status}", &response.status.to_string())
                    .replace("{error}", rejection.body_error())
                    .replace("{error_description}", rejection.description()),
                None if content_type.starts_with("application/json") => {
                    std::mem::take(&mut response.body)
                }
                None => format!("{}\n", rejection.description()),
            };
            for (name, value) in &mut response.headers {
                if name == "content-type" {
                    *value = content_type.clone();
                }
            }
        }
        if self.strip {
            response.body.clear();
            response
                .headers
                .retain(|(n, _)| n != "www-authenticate" && n != "content-type");
        }
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header<'r>(r: &'r LocalResponse, name: &str) -> Option<&'r str> {
        r.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn default_is_rfc6750_json() {
        let r = FailurePolicy::default().respond(Rejection::Expired, "api", "/x");
        assert_eq!(r, LocalResponse::for_rejection(Rejection::Expired, "api"));
    }

    #[test]
    fn redirect_carries_the_encoded_uri_for_401_only() {
        let p = FailurePolicy {
            redirect: Some(Redirect {
                url: "https://login.test/login".into(),
                param: "redirect".into(),
            }),
            ..Default::default()
        };
        let r = p.respond(Rejection::MissingToken, "api", "/app/x?a=1&b=2");
        assert_eq!(r.status, 302);
        assert_eq!(
            header(&r, "location"),
            Some("https://login.test/login?redirect=%2Fapp%2Fx%3Fa%3D1%26b%3D2")
        );
        let r = p.respond(Rejection::ClaimsForbidden, "api", "/app");
        assert_eq!(r.status, 403);
        let q = FailurePolicy {
            redirect: Some(Redirect {
                url: "/login?lang=en".into(),
                param: "next".into(),
            }),
            ..Default::default()
        };
        let r = q.respond(Rejection::Expired, "api", "/a b");
        assert_eq!(header(&r, "location"), Some("/login?lang=en&next=%2Fa%20b"));
    }

    #[test]
    fn custom_status_type_and_body() {
        let p = FailurePolicy {
            status: Some(418),
            content_type: Some("text/plain".into()),
            body: Some("denied ({status}): {error} - {error_description}".into()),
            ..Default::default()
        };
        let r = p.respond(Rejection::Expired, "api", "/");
        assert_eq!(r.status, 418);
        assert_eq!(
            r.body,
            "denied (418): invalid_token - the token has expired"
        );
        assert_eq!(header(&r, "content-type"), Some("text/plain"));
        assert!(header(&r, "www-authenticate").is_some());
        let text = FailurePolicy {
            content_type: Some("text/plain".into()),
            ..Default::default()
        };
        assert_eq!(
            text.respond(Rejection::Expired, "api", "/").body,
            "the token has expired\n"
        );
    }

    #[test]
    fn strip_leaves_only_the_status() {
        let p = FailurePolicy {
            strip: true,
            ..Default::default()
        };
        let r = p.respond(Rejection::InvalidSignature, "api", "/");
        assert_eq!(r.status, 401);
        assert!(r.body.is_empty());
        assert!(header(&r, "www-authenticate").is_none());
    }

    #[test]
    fn configuration_errors_are_never_customised() {
        let p = FailurePolicy {
            status: Some(200),
            redirect: Some(Redirect {
                url: "/l".into(),
                param: "r".into(),
            }),
            ..Default::default()
        };
        assert_eq!(p.respond(Rejection::ConfigInvalid, "api", "/").status, 500);
    }
}
