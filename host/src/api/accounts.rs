//! Account routes: `GET /me`; the web UI's sign-in (`POST /auth/session`
//! exchanges a token for a session cookie, `DELETE /auth/session` ends it);
//! and the admin API under `/admin` (and `/api/admin`): users, their role,
//! quota and `disabled` flag, and their tokens.
//!
//! Owns these routes' wire shapes. It must not store anything itself (the
//! account store does) nor decide who is calling (`auth` does).

use axum::body::Bytes;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{self, audit, Caller};
use super::{ApiError, ApiResult, AppState, ErrorCode};
use crate::accounts::{self, is_valid_name, QuotaOverrides, Role, User};

fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    let text = if body.is_empty() { b"{}".as_slice() } else { body };
    serde_json::from_slice(text).map_err(|e| ApiError::new(ErrorCode::InvalidBody, format!("the body is not what this route takes: {e}")))
}

async fn user_json(state: &AppState, user: &User) -> ApiResult<Value> {
    let usage = state.accounts.usage(&user.name).await?;
    Ok(json!({
        "name": user.name,
        "role": user.role,
        "disabled": user.disabled,
        "quota": user.quota(&state.config.current().quotas),
        "quotaOverrides": user.quota,
        "usage": usage,
        "createdAt": user.created_at,
    }))
}

/// `GET /me`: who the caller is, with quota and usage (and the session's
/// CSRF value, for a page signed in by cookie).
pub async fn me(State(state): State<AppState>, caller: Caller, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let Some(user) = &caller.user else {
        return Ok(Json(json!({ "data": { "name": null, "role": "admin", "auth": "none" } })));
    };
    let mut data = user_json(&state, user).await?;
    if caller.by_cookie {
        data["csrf"] = json!(auth::session_cookie(&headers).map(|t| auth::csrf_of(&t)));
    }
    Ok(Json(json!({ "data": data })))
}

#[derive(Deserialize)]
struct SessionRequest {
    token: Option<String>,
}

fn cookie(value: &str, max_age_secs: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}", auth::SESSION_COOKIE)
}

/// `POST /auth/session`: a token (bearer header or `{"token"}`) for a session cookie.
pub async fn start_session(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let address = peer.map(|p| p.0 .0.ip());
    auth::refuse_if_blocked(&state, address, "session")?;
    let given = match auth::bearer(&headers) {
        Some(token) => Some(token),
        None => parse_body::<SessionRequest>(&body)?.token,
    };
    let token = given.ok_or_else(|| ApiError::new(ErrorCode::MissingField, "send the token as `Authorization: Bearer` or `{\"token\"}`").field("token"))?;
    let Some((user, _)) = auth::user_of(&state, token.trim()).await? else {
        auth::count_failure(&state, address);
        audit(None, "login", "session", "denied");
        return Err(ApiError::new(ErrorCode::Unauthorized, "the token is unknown, expired or revoked, or its user is disabled"));
    };
    let hours = state.config.current().auth.session_hours.clamp(0.01, 24.0 * 365.0);
    let expires_at = crate::ids::now_ms() + (hours * 3_600_000.0) as i64;
    let session = accounts::issue_token(state.accounts.as_ref(), &user.name, Some(expires_at), true).await?;
    audit(Some(&user.name), "login", "session", "ok");
    let body = json!({ "data": { "name": user.name, "role": user.role, "csrf": auth::csrf_of(&session), "expiresAt": expires_at } });
    let set_cookie = cookie(&session, (hours * 3600.0) as u64, state.tls);
    Ok((StatusCode::CREATED, [(header::SET_COOKIE, set_cookie)], Json(body)).into_response())
}

/// `DELETE /auth/session`: revokes the cookie's session and clears the cookie.
pub async fn end_session(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    if let Some(token) = auth::session_cookie(&headers) {
        let hash = accounts::hash_token(&token);
        if let Some(record) = state.accounts.token(&hash).await?.filter(|t| t.session) {
            state.accounts.revoke_token(&hash).await?;
            audit(Some(&record.user), "logout", "session", "ok");
        }
    }
    Ok(([(header::SET_COOKIE, cookie("", 0, state.tls))], Json(json!({ "data": { "signedOut": true } }))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    name: Option<String>,
    role: Option<String>,
}

fn role_of(text: &str) -> ApiResult<Role> {
    Role::parse(text).ok_or_else(|| ApiError::new(ErrorCode::InvalidField, format!("role `{text}`: use admin or member")).field("role"))
}

/// `POST /admin/users {"name","role"}` -> 201 with the user's first token.
pub async fn create_user(State(state): State<AppState>, caller: Caller, body: Bytes) -> ApiResult<Response> {
    caller.require_admin()?;
    let request: NewUser = parse_body(&body)?;
    let name = request.name.ok_or_else(|| ApiError::new(ErrorCode::MissingField, "`name` is required").field("name"))?;
    if !is_valid_name(&name) {
        return Err(ApiError::new(ErrorCode::InvalidField, "`name`: 1-64 of a-z, 0-9, `.`, `_`, `-`, starting with a letter or digit").field("name"));
    }
    let role = role_of(request.role.as_deref().unwrap_or("member"))?;
    state.accounts.create_user(&User::new(&name, role)).await?;
    let token = accounts::issue_token(state.accounts.as_ref(), &name, None, false).await?;
    audit(caller.name(), "user_created", &name, role.as_str());
    Ok((StatusCode::CREATED, Json(json!({ "data": { "name": name, "role": role, "token": token } }))).into_response())
}

/// `GET /admin/users`.
pub async fn list_users(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    caller.require_admin()?;
    let mut users = vec![];
    for user in state.accounts.users().await? {
        users.push(user_json(&state, &user).await?);
    }
    Ok(Json(json!({ "data": users })))
}

async fn existing(state: &AppState, name: &str) -> ApiResult<User> {
    let user = if is_valid_name(name) { state.accounts.user(name).await? } else { None };
    user.ok_or_else(|| ApiError::new(ErrorCode::UserNotFound, format!("no user `{name}`")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserChange {
    role: Option<String>,
    disabled: Option<bool>,
    quota: Option<QuotaOverrides>,
}

/// `PATCH /admin/users/{name}`: `role`, `disabled`, `quota` (each optional).
pub async fn update_user(State(state): State<AppState>, caller: Caller, Path(name): Path<String>, body: Bytes) -> ApiResult<Json<Value>> {
    caller.require_admin()?;
    let change: UserChange = parse_body(&body)?;
    let mut user = existing(&state, &name).await?;
    if let Some(role) = &change.role {
        user.role = role_of(role)?;
    }
    if let Some(disabled) = change.disabled {
        user.disabled = disabled;
    }
    if let Some(quota) = change.quota {
        user.quota = quota;
    }
    state.accounts.update_user(&user).await?;
    let what = serde_json::to_string(&json!({ "role": change.role, "disabled": change.disabled, "quota": change.quota })).unwrap_or_default();
    audit(caller.name(), "user_changed", &name, &what);
    Ok(Json(json!({ "data": user_json(&state, &user).await? })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewToken {
    expires_in_hours: Option<f64>,
}

/// `POST /admin/users/{name}/tokens` -> 201 with a new token (`{"expiresInHours"}` optional).
pub async fn create_token(State(state): State<AppState>, caller: Caller, Path(name): Path<String>, body: Bytes) -> ApiResult<Response> {
    caller.require_admin()?;
    let request: NewToken = parse_body(&body)?;
    let user = existing(&state, &name).await?;
    let expires_at = match request.expires_in_hours {
        None => None,
        Some(h) if h.is_finite() && h > 0.0 => Some(crate::ids::now_ms() + (h.min(24.0 * 365.0 * 100.0) * 3_600_000.0) as i64),
        Some(_) => return Err(ApiError::new(ErrorCode::InvalidNumber, "`expiresInHours` must be a positive number").field("expiresInHours")),
    };
    let token = accounts::issue_token(state.accounts.as_ref(), &user.name, expires_at, false).await?;
    audit(caller.name(), "token_created", &name, "ok");
    Ok((StatusCode::CREATED, Json(json!({ "data": { "name": user.name, "token": token, "expiresAt": expires_at } }))).into_response())
}

/// `DELETE /admin/users/{name}/tokens`: revokes every token (and session) of the user.
pub async fn revoke_tokens(State(state): State<AppState>, caller: Caller, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    caller.require_admin()?;
    let user = existing(&state, &name).await?;
    let revoked = state.accounts.revoke_tokens(&user.name).await?;
    audit(caller.name(), "tokens_revoked", &name, &revoked.to_string());
    Ok(Json(json!({ "data": { "name": user.name, "revoked": revoked } })))
}
