//! Who is calling: one middleware in front of every route that reads the
//! caller's credentials (an `Authorization: Bearer` token, the web UI's
//! session cookie, or `?access_token=` on a WebSocket), looks the token's hash
//! up in the account store on every request (no cache: a revoked token stops
//! at once on every node), and hands the handlers a `Caller`. Only the open
//! paths (`is_open`) go through without one; `/metrics` needs an admin or
//! `auth.metrics_token`. Failed attempts are counted per client address and
//! refused past `auth.failed_per_minute`. Every decision goes to the `audit`
//! log.
//!
//! Owns credentials, the session cookie's CSRF rule and the `Caller`. It must
//! not decide what a caller may see of an object: the routes do, with
//! `Caller::may_see`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use parking_lot::Mutex;
use sha2::{Digest, Sha256};

use super::{ApiError, AppState, ErrorCode};
use crate::accounts::{hash_token, Role, User};
use crate::config::AuthMode;

/// The web UI's session cookie.
pub const SESSION_COOKIE: &str = "trainhost_session";
/// The header a cookie-carried change must carry (`csrf_of` the session).
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The user a request acts as.
#[derive(Debug, Clone)]
pub struct Caller {
    /// None under `auth.mode = "none"`: no accounts, everything visible.
    pub user: Option<User>,
    /// The hash of the token used, to end a session.
    pub token_hash: Option<String>,
    /// Whether the token came in the session cookie.
    pub by_cookie: bool,
}

impl Caller {
    fn anonymous() -> Caller {
        Caller { user: None, token_hash: None, by_cookie: false }
    }

    pub fn is_admin(&self) -> bool {
        self.user.as_ref().is_none_or(|u| u.role == Role::Admin)
    }

    /// The name objects are recorded under; None without accounts.
    pub fn name(&self) -> Option<&str> {
        self.user.as_ref().map(|u| u.name.as_str())
    }

    /// Whether an object owned by `owner` exists for this caller: admins (and
    /// everyone without accounts) see all, members their own only.
    pub fn may_see(&self, owner: Option<&str>) -> bool {
        self.is_admin() || (owner.is_some() && owner == self.name())
    }

    /// Whether listings show owners (admins, with accounts on).
    pub fn shows_owner(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.role == Role::Admin)
    }

    /// The owner filter of a listing: a member's own, an admin's none.
    pub fn owner_filter(&self) -> Option<String> {
        if self.is_admin() {
            None
        } else {
            self.name().map(str::to_string)
        }
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(ApiError::new(ErrorCode::Forbidden, "this needs an admin"))
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    /// Set by `authenticate`; a route that has none was reached without it,
    /// which is refused rather than served to nobody in particular.
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(unauthorized)
    }
}

fn unauthorized() -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, "sign in: send `Authorization: Bearer <token>` (see /docs)")
}

/// Paths served without a token: probes, the API description and the UI's
/// files (the UI then signs in), and the sign-in itself.
pub fn is_open(path: &str) -> bool {
    matches!(path, "/healthz" | "/readyz" | "/docs" | "/openapi.json" | "/" | "/auth/session") || path.starts_with("/ui/")
}

/// The CSRF value of a session: derived from its token, which the page's
/// scripts never see (HttpOnly), so a page of another site cannot make it.
pub fn csrf_of(token: &str) -> String {
    hex::encode(Sha256::digest(format!("trainhost-csrf:{token}").as_bytes()))
}

/// Failed authentications per client address in the current minute.
#[derive(Default)]
pub struct FailedAttempts {
    by_address: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl FailedAttempts {
    fn blocked(&self, address: IpAddr, limit: u32) -> bool {
        let by_address = self.by_address.lock();
        by_address.get(&address).is_some_and(|(since, count)| since.elapsed() < Duration::from_secs(60) && *count >= limit)
    }

    fn count(&self, address: IpAddr) {
        let mut by_address = self.by_address.lock();
        if by_address.len() > 100_000 {
            by_address.retain(|_, (since, _)| since.elapsed() < Duration::from_secs(60));
        }
        let entry = by_address.entry(address).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= Duration::from_secs(60) {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }
}

/// One line of the audit log: who, did what, to what, and how it went.
pub fn audit(user: Option<&str>, action: &str, object: &str, outcome: &str) {
    tracing::info!(target: "audit", user = user.unwrap_or("-"), action, object, outcome, "audit");
}

/// Where the request's token came from.
enum Credential {
    Bearer(String),
    Cookie(String),
    Query(String),
}

impl Credential {
    fn token(&self) -> &str {
        match self {
            Credential::Bearer(t) | Credential::Cookie(t) | Credential::Query(t) => t,
        }
    }
}

pub fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string())
}

pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == SESSION_COOKIE && !value.is_empty()).then(|| value.to_string())
    })
}

/// `?access_token=` of a WebSocket upgrade (browsers cannot set headers on one).
fn query_token(request: &Request) -> Option<String> {
    if !request.uri().path().starts_with("/ws/") {
        return None;
    }
    request.uri().query()?.split('&').find_map(|pair| pair.strip_prefix("access_token=").map(str::to_string))
}

fn credential(request: &Request) -> Option<Credential> {
    if let Some(token) = bearer(request.headers()) {
        return Some(Credential::Bearer(token));
    }
    if let Some(token) = session_cookie(request.headers()) {
        return Some(Credential::Cookie(token));
    }
    query_token(request).map(Credential::Query)
}

/// The user a token names, if it is live and its user enabled.
pub async fn user_of(state: &AppState, token: &str) -> Result<Option<(User, String)>, ApiError> {
    let hash = hash_token(token);
    let record = match state.accounts.token(&hash).await? {
        Some(record) => record,
        None if rebootstrapped(state, token).await? => match state.accounts.token(&hash).await? {
            Some(record) => record,
            None => return Ok(None),
        },
        None => return Ok(None),
    };
    if !record.is_live(crate::ids::now_ms()) {
        return Ok(None);
    }
    let Some(user) = state.accounts.user(&record.user).await? else { return Ok(None) };
    Ok((!user.disabled).then_some((user, hash)))
}

/// The configured bootstrap token, when no admin exists (the store lost its
/// data: a Redis restarted without persistence), creates the admin again, as
/// a start would.
async fn rebootstrapped(state: &AppState, token: &str) -> Result<bool, ApiError> {
    let config = state.config.current();
    let given = config.auth.bootstrap_token.trim();
    if given.is_empty() || !equal_in_constant_time(token, given) || crate::accounts::has_admin(state.accounts.as_ref()).await? {
        return Ok(false);
    }
    tracing::warn!("no admin exists any more (the account store lost its data?): creating it again with the configured bootstrap token");
    crate::accounts::bootstrap(state.accounts.as_ref(), Some(given)).await?;
    audit(Some(crate::accounts::BOOTSTRAP_ADMIN), "bootstrap", "admin", "recreated");
    Ok(true)
}

fn client_address(request: &Request) -> Option<IpAddr> {
    request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
}

fn equal_in_constant_time(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The middleware: see the module's comment.
pub async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    // One snapshot for the whole decision: a reload may swap the config meanwhile.
    let config = state.config.current();
    if config.auth.mode == AuthMode::None {
        request.extensions_mut().insert(Caller::anonymous());
        return next.run(request).await;
    }
    let path = request.uri().path().to_string();
    if is_open(&path) {
        return next.run(request).await;
    }
    let credential = credential(&request);
    let metrics_token = &config.auth.metrics_token;
    if path == "/metrics" && !metrics_token.is_empty() && credential.as_ref().is_some_and(|c| equal_in_constant_time(c.token(), metrics_token)) {
        return next.run(request).await;
    }
    let asked = Asked {
        address: client_address(&request),
        changes_state: changes_state(request.method()),
        csrf: request.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string),
        path,
    };
    match resolve(&state, asked, credential).await {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(e) => e.into_response(),
    }
}

/// What `resolve` needs of the request (taken out of it: a request body is
/// not `Sync`, so the request cannot be held across the store's awaits).
struct Asked {
    address: Option<IpAddr>,
    changes_state: bool,
    csrf: Option<String>,
    path: String,
}

/// The caller of an authenticated request, or the refusal.
async fn resolve(state: &AppState, asked: Asked, credential: Option<Credential>) -> Result<Caller, ApiError> {
    let Asked { address, changes_state, csrf, path } = asked;
    let path = path.as_str();
    refuse_if_blocked(state, address, path)?;
    let Some(credential) = credential else {
        return Err(unauthorized());
    };
    let Some((user, hash)) = user_of(state, credential.token()).await? else {
        count_failure(state, address);
        audit(None, "authenticate", path, "denied: unknown, expired or revoked token, or disabled user");
        return Err(ApiError::new(ErrorCode::Unauthorized, "the token is unknown, expired or revoked, or its user is disabled"));
    };
    let by_cookie = matches!(credential, Credential::Cookie(_));
    if by_cookie && changes_state && !equal_in_constant_time(csrf.as_deref().unwrap_or(""), &csrf_of(credential.token())) {
        audit(Some(&user.name), "csrf", path, "denied");
        return Err(ApiError::new(ErrorCode::Forbidden, format!("a change made with the session cookie needs the `{CSRF_HEADER}` header of the session")));
    }
    if (path == "/metrics" || is_admin_path(path)) && user.role != Role::Admin {
        audit(Some(&user.name), "admin", path, "denied");
        return Err(ApiError::new(ErrorCode::Forbidden, "this needs an admin"));
    }
    Ok(Caller { user: Some(user), token_hash: Some(hash), by_cookie })
}

/// 429 while `address` has used up its failed attempts of the minute.
pub fn refuse_if_blocked(state: &AppState, address: Option<IpAddr>, what: &str) -> Result<(), ApiError> {
    let limit = state.config.current().auth.failed_per_minute.max(1);
    if address.is_some_and(|a| state.failed.blocked(a, limit)) {
        audit(None, "authenticate", what, "rate_limited");
        return Err(ApiError { retry_after: Some(60), ..ApiError::new(ErrorCode::RateLimited, "too many failed sign-ins from this address; wait a minute") });
    }
    Ok(())
}

pub fn count_failure(state: &AppState, address: Option<IpAddr>) {
    if let Some(address) = address {
        state.failed.count(address);
    }
}

pub fn is_admin_path(path: &str) -> bool {
    ["/admin", "/api/admin"].iter().any(|p| path == *p || path.starts_with(&format!("{p}/")))
}

fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The handle on the failed-attempt counter kept in `AppState`.
pub type Failed = Arc<FailedAttempts>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_paths_are_few() {
        for open in ["/healthz", "/readyz", "/docs", "/openapi.json", "/", "/ui/app.js", "/auth/session"] {
            assert!(is_open(open), "{open}");
        }
        for closed in ["/jobs", "/api/jobs", "/datasets", "/metrics", "/ws/x", "/admin/users", "/me", "/plugins", "/uix"] {
            assert!(!is_open(closed), "{closed}");
        }
    }

    #[test]
    fn cookies_and_bearer_tokens_are_read() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, "a=b; trainhost_session=th_1; c=d".parse().unwrap());
        headers.insert(header::AUTHORIZATION, "Bearer th_2".parse().unwrap());
        assert_eq!(session_cookie(&headers).as_deref(), Some("th_1"));
        assert_eq!(bearer(&headers).as_deref(), Some("th_2"));
        assert!(equal_in_constant_time("abc", "abc") && !equal_in_constant_time("abc", "abd") && !equal_in_constant_time("a", "ab"));
    }

    #[test]
    fn failed_attempts_block_past_the_limit() {
        let failed = FailedAttempts::default();
        let address: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert!(!failed.blocked(address, 3));
            failed.count(address);
        }
        assert!(failed.blocked(address, 3));
        assert!(!failed.blocked("10.0.0.2".parse().unwrap(), 3));
    }

    #[test]
    fn members_see_their_own_only() {
        let member = Caller { user: Some(User::new("m", Role::Member)), token_hash: None, by_cookie: false };
        assert!(member.may_see(Some("m")) && !member.may_see(Some("o")) && !member.may_see(None));
        let admin = Caller { user: Some(User::new("a", Role::Admin)), token_hash: None, by_cookie: false };
        assert!(admin.may_see(Some("o")) && admin.may_see(None) && admin.shows_owner());
        assert!(Caller::anonymous().may_see(None) && !Caller::anonymous().shows_owner());
    }
}
