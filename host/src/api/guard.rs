//! The HTTP edge's guards, applied once around every route: the `Host`
//! allow-list (DNS rebinding), the `Origin` check of state-changing requests
//! and WebSocket upgrades (pages of other sites), the content type of JSON and
//! upload bodies, the security headers of every response, and the mapping of
//! the framework's own rejections and of handler panics to the documented
//! error JSON.
//!
//! Owns those rules. It must not look at what a route does with its request:
//! the routes validate their bodies and pick their own error codes.

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use futures::FutureExt;

use super::{ApiError, ErrorCode};
use crate::config::ServerConfig;

/// Routes that probes and scrapers call by the machine's address, whatever
/// the allow-list; they reveal no user data.
const PROBES: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// The CSP of responses that are not pages (JSON, errors, files): nothing
/// in them may run or be framed.
const NON_PAGE_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// A host name and its port, as in a `Host` header or an allow-list entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Authority {
    /// Lowercase; IPv6 addresses keep their brackets.
    name: String,
    port: Option<u16>,
}

impl Authority {
    fn parse(text: &str) -> Option<Authority> {
        let text = text.trim().to_ascii_lowercase();
        let (name, port) = match text.strip_prefix('[') {
            Some(rest) => {
                let (inside, after) = rest.split_once(']')?;
                let port = if after.is_empty() { None } else { Some(after.strip_prefix(':')?.parse().ok()?) };
                (format!("[{inside}]"), port)
            }
            None => match text.rsplit_once(':') {
                Some((name, port)) => (name.to_string(), Some(port.parse().ok()?)),
                None => (text, None),
            },
        };
        let odd = |c: char| c.is_whitespace() || matches!(c, '/' | '@' | '\\' | '?' | '#');
        (!name.is_empty() && !name.contains(odd)).then_some(Authority { name, port })
    }

    /// An entry without a port allows every port; a `Host` without one means
    /// the scheme's (`default_port`: 80, or 443 under TLS).
    fn allows(&self, host: &Authority, default_port: u16) -> bool {
        self.name == host.name && self.port.is_none_or(|port| port == host.port.unwrap_or(default_port))
    }
}

/// Which hosts and origins the server answers, from `[server]` and the bound address.
#[derive(Debug)]
pub struct EdgePolicy {
    /// None: any host ("*").
    hosts: Option<Vec<Authority>>,
    any_origin: bool,
    origins: Vec<url::Origin>,
    /// The port a `Host` without one means: 443 under TLS, else 80.
    default_port: u16,
    /// Under TLS: the `Strict-Transport-Security` value of every response.
    hsts: Option<HeaderValue>,
}

impl EdgePolicy {
    /// `tls`: whether the server speaks HTTPS (`server.tls_cert`).
    pub fn new(server: &ServerConfig, bound: SocketAddr, tls: bool) -> EdgePolicy {
        let hosts = if server.allowed_hosts.iter().any(|h| h.trim() == "*") {
            None
        } else if server.allowed_hosts.is_empty() {
            Some(default_hosts(server, bound))
        } else {
            let parsed = server.allowed_hosts.iter().filter_map(|h| {
                let entry = Authority::parse(h);
                if entry.is_none() {
                    tracing::warn!(entry = %h, "server.allowed_hosts: not a host name or host:port; ignored");
                }
                entry
            });
            Some(parsed.collect())
        };
        let origins = server.cors_origins.iter().filter(|o| o.trim() != "*").filter_map(|o| url::Url::parse(o.trim()).ok()).map(|u| u.origin()).collect();
        let hsts = (tls && server.hsts_max_age_secs > 0).then(|| HeaderValue::try_from(format!("max-age={}", server.hsts_max_age_secs)).ok()).flatten();
        let any_origin = server.cors_origins.iter().any(|o| o.trim() == "*");
        EdgePolicy { hosts, any_origin, origins, default_port: if tls { 443 } else { 80 }, hsts }
    }

    fn host_allowed(&self, host: &Authority) -> bool {
        self.hosts.as_ref().is_none_or(|hosts| hosts.iter().any(|h| h.allows(host, self.default_port)))
    }

    /// The server's own origin (`http` or `https` with the request's host, the
    /// latter behind a TLS proxy), or one of `server.cors_origins`.
    fn origin_allowed(&self, origin: &str, host: Option<&Authority>) -> bool {
        let Ok(url) = url::Url::parse(origin) else { return false };
        if !matches!(url.scheme(), "http" | "https") {
            return false;
        }
        let same_site = host.is_some_and(|host| {
            let default_port = url.port_or_known_default();
            url.host_str().map(str::to_ascii_lowercase).as_deref() == Some(host.name.as_str()) && host.port.or(default_port) == default_port
        });
        same_site || self.any_origin || self.origins.contains(&url.origin())
    }
}

/// The bind address and the localhost names, each with the bound port.
fn default_hosts(server: &ServerConfig, bound: SocketAddr) -> Vec<Authority> {
    let port = Some(bound.port());
    let bound_ip = match bound.ip() {
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    let configured = Authority::parse(&server.bind).map(|a| a.name);
    let names = ["localhost".to_string(), "127.0.0.1".to_string(), "[::1]".to_string(), bound_ip].into_iter().chain(configured);
    let mut hosts: Vec<Authority> = names.map(|name| Authority { name, port }).collect();
    hosts.dedup();
    hosts
}

/// The request's host: the URI's authority (HTTP/2, absolute form), else `Host`.
fn request_host(request: &Request) -> Result<Option<Authority>, ()> {
    let text = match request.uri().authority() {
        Some(authority) => authority.as_str().to_string(),
        None => match request.headers().get(header::HOST) {
            Some(value) => value.to_str().map_err(|_| ())?.to_string(),
            None => return Ok(None),
        },
    };
    Authority::parse(&text).map(Some).ok_or(())
}

fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    headers.get(header::UPGRADE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// `Host` against the allow-list (a request without one, which no browser
/// sends, passes); then the `Origin` of state-changing requests and WebSocket
/// upgrades. Requests without `Origin` (curl, the CLI) pass.
pub async fn check_host_and_origin(State(policy): State<Arc<EdgePolicy>>, request: Request, next: Next) -> Response {
    let host = match request_host(&request) {
        Ok(host) => host,
        Err(()) => return ApiError::new(ErrorCode::InvalidHost, "the Host header is not a host name").into_response(),
    };
    let probe = PROBES.contains(&request.uri().path());
    if let Some(host) = &host {
        if !probe && !policy.host_allowed(host) {
            let message = format!("this server does not answer for host `{}`; add it to server.allowed_hosts", host.name);
            return ApiError::new(ErrorCode::InvalidHost, message).into_response();
        }
    }
    let changes_state = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) || is_websocket_upgrade(request.headers());
    if changes_state {
        if let Some(origin) = request.headers().get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("");
            if !policy.origin_allowed(origin, host.as_ref()) {
                let message = format!("requests from pages of origin `{origin}` are refused; add it to server.cors_origins to allow them");
                return ApiError::new(ErrorCode::ForbiddenOrigin, message).into_response();
            }
        }
    }
    next.run(request).await
}

/// The essence of `Content-Type` (`application/json`), lowercase; None without one.
fn content_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?;
    let text = value.to_str().unwrap_or("?");
    Some(text.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
}

fn has_body_method(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// JSON routes: a body typed as anything but `application/json` (a form, or
/// text, which pages of other sites can send without asking) is refused. An
/// untyped body is read as JSON, as it always was.
pub async fn json_body(request: Request, next: Next) -> Response {
    match content_type(request.headers()) {
        Some(kind) if has_body_method(request.method()) && kind != "application/json" => {
            let message = format!("the body must be JSON (Content-Type: application/json), not `{kind}`");
            ApiError::new(ErrorCode::UnsupportedMediaType, message).into_response()
        }
        _ => next.run(request).await,
    }
}

/// The upload route: `multipart/form-data` only.
pub async fn multipart_body(request: Request, next: Next) -> Response {
    let kind = content_type(request.headers());
    if has_body_method(request.method()) && kind.as_deref() != Some("multipart/form-data") {
        let message = format!("send the table as multipart/form-data (field `file`), not `{}`", kind.as_deref().unwrap_or("an untyped body"));
        return ApiError::new(ErrorCode::UnsupportedMediaType, message).field("file").into_response();
    }
    next.run(request).await
}

/// Every response: no sniffing, no referrer, no framing, and a CSP (pages set
/// their own; HTML without one gets the UI's).
pub async fn security_headers(mut response: Response) -> Response {
    let is_html = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("text/html"));
    let headers = response.headers_mut();
    let csp = if is_html { super::ui::CSP } else { NON_PAGE_CSP };
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CONTENT_SECURITY_POLICY, csp),
    ] {
        headers.entry(name).or_insert(HeaderValue::from_static(value));
    }
    response
}

/// A handler's panic becomes a 500 with a request id; an error the framework
/// answered in plain text (bad path or query, wrong method, body too large,
/// not an upgrade) becomes the error JSON, with its status kept.
pub async fn errors_as_json(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let response = match AssertUnwindSafe(next.run(request)).catch_unwind().await {
        Ok(response) => response,
        Err(panic) => {
            let what = panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned()).unwrap_or_default();
            tracing::error!(panic = %what, "a request handler panicked");
            return ApiError::internal("the request failed inside the server").into_response();
        }
    };
    let status = response.status();
    let is_json = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 16 << 10).await.map(|b| String::from_utf8_lossy(&b).trim().to_string()).unwrap_or_default();
    let mut mapped = framework_error(status, &method, &parts.headers, text).into_response();
    if !status.is_server_error() {
        *mapped.status_mut() = status;
    }
    if let Some(allow) = parts.headers.get(header::ALLOW) {
        mapped.headers_mut().insert(header::ALLOW, allow.clone());
    }
    mapped
}

/// The code and words of a rejection the framework wrote as `text`.
fn framework_error(status: StatusCode, method: &Method, headers: &HeaderMap, text: String) -> ApiError {
    let or = |fallback: &str| if text.is_empty() { fallback.to_string() } else { text.clone() };
    match status {
        StatusCode::BAD_REQUEST => match text.strip_prefix("Failed to deserialize query string: ").and_then(|rest| rest.split_once(": ")) {
            Some((field, why)) => ApiError::new(ErrorCode::InvalidField, format!("query parameter `{field}`: {why}")).field(field),
            None => ApiError::new(ErrorCode::InvalidRequest, or("the request cannot be read")),
        },
        StatusCode::NOT_FOUND => ApiError::new(ErrorCode::NotFound, or("no such route; see /docs")),
        StatusCode::METHOD_NOT_ALLOWED => {
            let allowed = headers.get(header::ALLOW).and_then(|v| v.to_str().ok()).unwrap_or("");
            ApiError::new(ErrorCode::MethodNotAllowed, format!("{method} is not allowed on this route (allowed: {allowed}); see /docs"))
        }
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(ErrorCode::BodyTooLarge, format!("the request body is larger than this route accepts ({})", or("too large")))
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(ErrorCode::UnsupportedMediaType, or("unsupported content type")),
        s if s.is_server_error() => ApiError::internal(or("internal error")),
        _ => ApiError::new(ErrorCode::InvalidRequest, or("the request cannot be served")),
    }
}

/// Wraps `routes` in the guards, outermost last: the host and origin check
/// runs first of all, and every answer (its own included) leaves through the
/// error mapping and the security headers.
pub fn edge(routes: Router, policy: Arc<EdgePolicy>) -> Router {
    let hsts = policy.hsts.clone();
    routes
        .layer(axum::middleware::from_fn_with_state(policy, check_host_and_origin))
        .layer(axum::middleware::from_fn(errors_as_json))
        .layer(axum::middleware::map_response(security_headers))
        .layer(axum::middleware::map_response_with_state(hsts, strict_transport_security))
}

/// Under TLS, every response tells the browser to use only HTTPS here.
async fn strict_transport_security(State(hsts): State<Option<HeaderValue>>, mut response: Response) -> Response {
    if let Some(value) = hsts {
        response.headers_mut().insert(header::STRICT_TRANSPORT_SECURITY, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::{get, post};
    use tower::ServiceExt;

    fn policy(allowed_hosts: &[&str], cors_origins: &[&str]) -> Arc<EdgePolicy> {
        let server = ServerConfig {
            allowed_hosts: allowed_hosts.iter().map(|s| s.to_string()).collect(),
            cors_origins: cors_origins.iter().map(|s| s.to_string()).collect(),
            ..ServerConfig::default()
        };
        Arc::new(EdgePolicy::new(&server, "127.0.0.1:8080".parse().unwrap(), false))
    }

    fn app(policy: Arc<EdgePolicy>) -> Router {
        let routes = Router::new()
            .route(
                "/panic",
                get(|| async {
                    panic!("boom");
                    #[allow(unreachable_code)]
                    "never"
                }),
            )
            .route("/train", post(|| async { "ok" }).layer(axum::middleware::from_fn(json_body)))
            .route("/items", get(|axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, u32>>| async move { format!("{q:?}") }));
        edge(routes, policy)
    }

    async fn send(app: Router, request: axum::http::request::Builder, body: &'static str) -> (StatusCode, HeaderMap, serde_json::Value) {
        let response = app.oneshot(request.body(Body::from(body)).unwrap()).await.unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, headers, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
    }

    fn req(method: &str, uri: &str, host: &str) -> axum::http::request::Builder {
        Request::builder().method(method).uri(uri).header(header::HOST, host)
    }

    #[test]
    fn hosts_parse_and_match_with_and_without_ports() {
        let host = |s| Authority::parse(s).unwrap();
        assert_eq!(host("LocalHost:8080"), Authority { name: "localhost".into(), port: Some(8080) });
        assert_eq!(host("[::1]:9"), Authority { name: "[::1]".into(), port: Some(9) });
        assert!(Authority::parse("a b").is_none() && Authority::parse("x:port").is_none() && Authority::parse("").is_none());
        assert!(host("example.com").allows(&host("example.com:1234"), 80));
        assert!(host("example.com:80").allows(&host("example.com"), 80));
        assert!(!host("example.com:81").allows(&host("example.com"), 80));
        assert!(host("example.com:443").allows(&host("example.com"), 443), "under TLS a Host without a port means 443");
        assert!(!host("example.com:80").allows(&host("example.com"), 443));
    }

    #[tokio::test]
    async fn the_default_allow_list_is_localhost_on_the_bound_port() {
        let policy = policy(&[], &[]);
        for (host, status) in [("127.0.0.1:8080", 404), ("localhost:8080", 404), ("[::1]:8080", 404), ("evil.example:8080", 421), ("localhost:9999", 421)] {
            let (got, _, body) = send(app(policy.clone()), req("GET", "/nowhere", host), "").await;
            assert_eq!(got.as_u16(), status, "{host}: {body}");
        }
        let (got, _, _) = send(app(policy.clone()), req("GET", "/healthz", "10.0.0.7:8080"), "").await;
        assert_eq!(got, StatusCode::NOT_FOUND, "probes pass whatever the host");
        let (got, _, body) = send(app(policy), req("GET", "/x", "rebind.example:8080"), "").await;
        assert_eq!((got, body["error"]["code"].as_str()), (StatusCode::MISDIRECTED_REQUEST, Some("invalid_host")));
        let (got, _, _) = send(app(self::policy(&["*"], &[])), req("GET", "/x", "any.example"), "").await;
        assert_eq!(got, StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn other_origins_may_not_change_state() {
        let json = |r: axum::http::request::Builder| r.header(header::CONTENT_TYPE, "application/json");
        let host = "127.0.0.1:8080";
        let cases = [
            (None, 200),
            (Some("http://127.0.0.1:8080"), 200),
            (Some("https://127.0.0.1:8080"), 200),
            (Some("http://allowed.example"), 200),
            (Some("http://evil.example"), 403),
            (Some("http://127.0.0.1:9999"), 403),
            (Some("null"), 403),
        ];
        for (origin, status) in cases {
            let mut request = json(req("POST", "/train", host));
            if let Some(origin) = origin {
                request = request.header(header::ORIGIN, origin);
            }
            let (got, _, body) = send(app(policy(&[], &["http://allowed.example"])), request, "{}").await;
            assert_eq!(got.as_u16(), status, "{origin:?}: {body}");
            if status == 403 {
                assert_eq!(body["error"]["code"], "forbidden_origin");
            }
        }
        let upgrade = req("GET", "/items", host).header(header::ORIGIN, "http://evil.example").header(header::UPGRADE, "websocket");
        assert_eq!(send(app(policy(&[], &[])), upgrade, "").await.0, StatusCode::FORBIDDEN);
        let read = req("GET", "/items", host).header(header::ORIGIN, "http://evil.example");
        assert_eq!(send(app(policy(&[], &[])), read, "").await.0, StatusCode::OK, "reads are CORS's business");
        let any = json(req("POST", "/train", host)).header(header::ORIGIN, "http://evil.example");
        assert_eq!(send(app(policy(&[], &["*"])), any, "{}").await.0, StatusCode::OK);
    }

    #[tokio::test]
    async fn json_routes_refuse_forms_and_text() {
        for kind in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
            let request = req("POST", "/train", "localhost:8080").header(header::CONTENT_TYPE, kind);
            let (got, _, body) = send(app(policy(&[], &[])), request, "{}").await;
            assert_eq!((got, body["error"]["code"].as_str()), (StatusCode::UNSUPPORTED_MEDIA_TYPE, Some("unsupported_media_type")), "{kind}");
        }
        let typed = req("POST", "/train", "localhost:8080").header(header::CONTENT_TYPE, "Application/JSON; charset=utf-8");
        assert_eq!(send(app(policy(&[], &[])), typed, "{}").await.0, StatusCode::OK);
        assert_eq!(send(app(policy(&[], &[])), req("POST", "/train", "localhost:8080"), "{}").await.0, StatusCode::OK, "untyped: read as JSON");
    }

    #[tokio::test]
    async fn framework_rejections_and_panics_answer_the_error_json() {
        let host = "localhost:8080";
        let (status, headers, body) = send(app(policy(&[], &[])), req("PUT", "/train", host), "").await;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed")));
        assert!(headers.contains_key(header::ALLOW));
        let (status, _, body) = send(app(policy(&[], &[])), req("GET", "/items?limit=many", host), "").await;
        assert_eq!((status, body["error"]["code"].as_str(), body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_field"), Some("limit")));
        let (status, _, body) = send(app(policy(&[], &[])), req("GET", "/panic", host), "").await;
        assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::INTERNAL_SERVER_ERROR, Some("internal")));
        assert!(body["error"]["message"].as_str().unwrap().contains("request id"), "{body}");
    }

    #[tokio::test]
    async fn every_response_carries_the_security_headers() {
        for (method, uri) in [("GET", "/panic"), ("GET", "/nowhere"), ("POST", "/train")] {
            let (_, headers, _) = send(app(policy(&[], &[])), req(method, uri, "evil.example"), "").await;
            assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
            assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
            assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
            assert!(headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap().contains("frame-ancestors 'none'"));
        }
    }
}
