//! What browsers may do with this service.
//!
//! A service on loopback is reachable from every web page the user opens.
//! Two attacks follow, and both are refused here, before any route runs:
//!
//! - **Cross-origin requests.** A page elsewhere can send a `text/plain` POST
//!   or a DELETE-free GET with side effects (a group commit) without any
//!   preflight; the browser only hides the answer. So a request that a
//!   browser marks as coming from another origin (`Origin`, or for requests
//!   without it, `Sec-Fetch-Site`) is refused with 403 unless
//!   `--cors-allowed-origins` lists that origin; listed origins get CORS
//!   headers and answered preflights. Same-origin requests (the service's own
//!   page) and clients that are not browsers (curl sends neither header) pass.
//! - **DNS rebinding.** A page's own host name can be made to resolve to
//!   127.0.0.1, making its requests same-origin. Its `Host` header still
//!   names the attacker's host, so a `Host` that is not a name of this
//!   service is refused with 421: loopback names when listening on loopback,
//!   plus `--allowed-hosts`.
//!
//! Why not a CORS crate: the decision that matters here is refusing, which
//! CORS middleware does not do (it only withholds headers, after the request
//! has run); the headers themselves are the few lines of [`Browsers::cors`].

use hyper::header::{
    HeaderMap, HeaderValue, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, HOST, ORIGIN, VARY,
};
use hyper::{Method, StatusCode};

use super::error::ApiError;
use super::response::empty_response;
use super::routes::HttpResponse;

/// Which origins and host names browsers may use.
#[derive(Debug, Clone, Default)]
pub struct Browsers {
    /// `--cors-allowed-origins`, lower case; `*` allows any.
    origins: Vec<String>,
    /// Host names a `Host` header may carry (beyond loopback names); `None`:
    /// any host.
    hosts: Option<Vec<String>>,
}

/// How long a browser may cache a preflight's answer, in seconds.
const PREFLIGHT_MAX_AGE: &str = "600";

/// The methods a cross-origin page may use.
const METHODS: &str = "GET, HEAD, POST, DELETE";

/// Response headers a page may read beyond the CORS-safelisted ones.
const EXPOSED: &str = "Retry-After, WWW-Authenticate, Allow";

impl Browsers {
    /// The policy of a service listening on a loopback address or not, with
    /// `--cors-allowed-origins` and `--allowed-hosts`.
    pub fn new(loopback: bool, origins: &[String], hosts: &[String]) -> Browsers {
        Browsers {
            origins: origins.iter().map(|o| o.to_ascii_lowercase()).collect(),
            hosts: (loopback || !hosts.is_empty())
                .then(|| hosts.iter().map(|h| h.to_ascii_lowercase()).collect()),
        }
    }

    /// Checks a request's `Host` and origin. `Ok(Some(origin))`: a listed
    /// cross origin, whose response gets CORS headers (see [`Browsers::cors`]).
    pub fn check(&self, headers: &HeaderMap) -> Result<Option<HeaderValue>, ApiError> {
        let host = headers.get(HOST).and_then(|h| h.to_str().ok());
        if let Some(host) = host {
            self.check_host(host)?;
        }
        let Some(origin) = headers.get(ORIGIN) else {
            return match headers.get("sec-fetch-site").map(HeaderValue::as_bytes) {
                Some(b"cross-site" | b"same-site")
                    if headers.get("sec-fetch-mode").map(HeaderValue::as_bytes)
                        != Some(b"navigate")
                        && !self.any_origin() =>
                {
                    Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        "cross-site request refused: a page of another site cannot call this service (list its origin in --cors-allowed-origins to allow it)",
                    ))
                }
                _ => Ok(None),
            };
        };
        let text = origin.to_str().unwrap_or_default().to_ascii_lowercase();
        if host.is_some_and(|h| same_origin(&text, h)) {
            return Ok(None);
        }
        if self.any_origin() || self.origins.contains(&text) {
            return Ok(Some(origin.clone()));
        }
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "cross-origin request from '{}' refused: pages of other origins cannot call this service unless --cors-allowed-origins lists them",
                origin.to_str().unwrap_or("(not text)")
            ),
        ))
    }

    /// A CORS preflight (`OPTIONS` with `Access-Control-Request-Method`)
    /// from a listed origin, answered; `None` for any other request.
    pub fn preflight(
        &self,
        method: &Method,
        headers: &HeaderMap,
        origin: Option<&HeaderValue>,
    ) -> Option<HttpResponse> {
        if method != Method::OPTIONS || !headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD) {
            return None;
        }
        let mut response = empty_response(StatusCode::NO_CONTENT);
        let out = response.headers_mut();
        out.insert(
            ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(METHODS),
        );
        if let Some(asked) = headers.get(ACCESS_CONTROL_REQUEST_HEADERS) {
            // Any request header is accepted: the routes ignore the ones they
            // don't know.
            out.insert(ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
        }
        out.insert(
            ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(PREFLIGHT_MAX_AGE),
        );
        Browsers::cors(&mut response, origin);
        Some(response)
    }

    /// Adds the CORS headers a listed cross origin's response needs.
    pub fn cors(response: &mut HttpResponse, origin: Option<&HeaderValue>) {
        let Some(origin) = origin else { return };
        let headers = response.headers_mut();
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        headers.insert(
            ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED),
        );
        headers.append(VARY, HeaderValue::from_static("Origin"));
    }

    fn any_origin(&self) -> bool {
        self.origins.iter().any(|o| o == "*")
    }

    /// 421 unless `host` (a `Host` header) names this service.
    fn check_host(&self, host: &str) -> Result<(), ApiError> {
        let Some(allowed) = &self.hosts else {
            return Ok(());
        };
        let host = host.to_ascii_lowercase();
        let name = host_name(&host);
        if is_loopback_name(name) || allowed.iter().any(|a| *a == host || *a == name) {
            return Ok(());
        }
        Err(ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            format!(
                "Host '{host}' is not a name of this service: use a loopback name (localhost, 127.0.0.1, [::1]) or one of --allowed-hosts"
            ),
        ))
    }
}

/// Whether `origin` (lower case) is the origin of a page served by the host
/// `host` names, on either scheme (behind a TLS proxy the page is https).
fn same_origin(origin: &str, host: &str) -> bool {
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    authority.is_some_and(|a| a.eq_ignore_ascii_case(host))
}

/// The name part of a `Host` header: without its port, brackets kept for
/// IPv6 literals.
fn host_name(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

/// Names that resolve to this machine's loopback interface whatever DNS says.
fn is_loopback_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    name == "localhost"
        || name.ends_with(".localhost")
        || name == "[::1]"
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn loopback_names_pass_and_other_hosts_are_misdirected_on_loopback() {
        let b = Browsers::new(true, &[], &[]);
        for host in [
            "localhost:8001",
            "127.0.0.1:8001",
            "127.1.2.3",
            "[::1]:8001",
            "LOCALHOST",
            "app.localhost:8001",
        ] {
            assert!(b.check(&headers(&[("host", host)])).is_ok(), "{host}");
        }
        for host in [
            "evil.example:8001",
            "localhost.evil.example",
            "10.0.0.1:8001",
        ] {
            let e = b.check(&headers(&[("host", host)])).unwrap_err();
            assert_eq!(e.status, StatusCode::MISDIRECTED_REQUEST, "{host}");
            assert!(e.message.contains(host), "{}", e.message);
        }
    }

    #[test]
    fn allowed_hosts_match_with_or_without_port_and_any_host_passes_without_them() {
        let b = Browsers::new(false, &[], &["kafka.internal".into(), "proxy:80".into()]);
        assert!(b
            .check(&headers(&[("host", "kafka.internal:8001")]))
            .is_ok());
        assert!(b.check(&headers(&[("host", "proxy:80")])).is_ok());
        assert!(b.check(&headers(&[("host", "proxy:81")])).is_err());
        assert!(b.check(&headers(&[("host", "localhost:8001")])).is_ok());
        let open = Browsers::new(false, &[], &[]);
        assert!(open.check(&headers(&[("host", "anything:1")])).is_ok());
    }

    #[test]
    fn cross_origin_requests_are_refused_unless_listed() {
        let b = Browsers::new(true, &["http://ui.localhost:3000".into()], &[]);
        let same = headers(&[
            ("host", "localhost:8001"),
            ("origin", "http://localhost:8001"),
        ]);
        assert_eq!(b.check(&same).unwrap(), None);
        let other = headers(&[
            ("host", "localhost:8001"),
            ("origin", "http://evil.example"),
        ]);
        let e = b.check(&other).unwrap_err();
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        assert!(e.message.contains("http://evil.example"), "{}", e.message);
        let listed = headers(&[
            ("host", "localhost:8001"),
            ("origin", "http://UI.localhost:3000"),
        ]);
        assert_eq!(
            b.check(&listed).unwrap().unwrap(),
            "http://UI.localhost:3000"
        );
        // A no-cors request carries no Origin, but the browser says where from.
        let image = headers(&[
            ("host", "localhost:8001"),
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "no-cors"),
        ]);
        assert_eq!(b.check(&image).unwrap_err().status, StatusCode::FORBIDDEN);
        let link = headers(&[
            ("host", "localhost:8001"),
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "navigate"),
        ]);
        assert!(b.check(&link).is_ok());
        assert!(b.check(&headers(&[("host", "localhost:8001")])).is_ok());
        let any = Browsers::new(true, &["*".into()], &[]);
        assert!(any.check(&other).unwrap().is_some());
    }

    #[test]
    fn preflights_name_the_methods_and_echo_the_headers_asked() {
        let b = Browsers::new(true, &["http://ui.localhost:3000".into()], &[]);
        let asked = headers(&[
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "authorization, content-type",
            ),
        ]);
        let origin = HeaderValue::from_static("http://ui.localhost:3000");
        let response = b
            .preflight(&Method::OPTIONS, &asked, Some(&origin))
            .unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        let h = response.headers();
        assert_eq!(h[ACCESS_CONTROL_ALLOW_ORIGIN], "http://ui.localhost:3000");
        assert_eq!(h[ACCESS_CONTROL_ALLOW_METHODS], METHODS);
        assert_eq!(
            h[ACCESS_CONTROL_ALLOW_HEADERS],
            "authorization, content-type"
        );
        assert_eq!(h[VARY], "Origin");
        assert!(b.preflight(&Method::GET, &asked, Some(&origin)).is_none());
        assert!(b
            .preflight(&Method::OPTIONS, &HeaderMap::new(), None)
            .is_none());
    }
}
