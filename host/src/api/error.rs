//! The errors the API answers with: every code clients can see, its wire
//! string and its HTTP status (which follows from the code), and the one
//! place an error becomes a response:
//! `{"error": {"code", "message", "field"?}}`.
//!
//! Owns the codes and that JSON. It must not decide when a request is wrong:
//! the routes and `validate` do, and pick a code here.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::queue::BrokerError;
use crate::storage::StorageError;

/// Every error code of the API. The wire strings are the older contract's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The body is not JSON.
    InvalidJson,
    /// The body is JSON, but not an object.
    InvalidBody,
    /// A field or query parameter of the wrong type or value.
    InvalidField,
    /// A number field (`seed`, `validationFraction`) of the wrong type or out
    /// of range: the same wire code as `InvalidField`, but 422, as it always was.
    InvalidNumber,
    MissingField,
    InvalidUpload,
    UnsupportedFormat,
    UploadTooLarge,
    /// A table past the `[limits]` of the config, told before it is decoded.
    TableTooLarge,
    InvalidTable,
    InvalidTask,
    UnsupportedTask,
    InvalidParameter,
    UnknownPlugin,
    PluginDisabled,
    PluginUnavailable,
    UnknownColumn,
    InvalidTarget,
    /// `excludeColumns` or `columnKinds` that cannot apply to the dataset.
    InvalidColumns,
    InvalidRows,
    /// The plugin's own estimate of a job is past its memory or time limit.
    OverPluginLimits,
    PredictFailed,
    JobNotFound,
    DatasetNotFound,
    ModelNotFound,
    /// No such route or UI file.
    NotFound,
    /// The job changed hands meanwhile.
    Conflict,
    JobFinished,
    ModelNotReady,
    BrokerUnavailable,
    NotReady,
    Internal,
    /// A request the framework could not read (bad path or query, not an upgrade).
    InvalidRequest,
    MethodNotAllowed,
    /// A body above the route's limit (uploads have their own `UploadTooLarge`).
    BodyTooLarge,
    /// A body of a content type the route does not take.
    UnsupportedMediaType,
    /// A state-changing request or WebSocket from a page of another origin.
    ForbiddenOrigin,
    /// A `Host` outside `server.allowed_hosts` (DNS rebinding).
    InvalidHost,
    /// No token, or one that is unknown, expired or revoked, or of a disabled user.
    Unauthorized,
    /// A member on an admin route; a cookie-carried change without the CSRF header.
    Forbidden,
    /// Over one of the caller's quotas (the answer names it, its limit and use).
    QuotaExceeded,
    /// Too many failed authentications from one address.
    RateLimited,
    UserNotFound,
    UserExists,
    SweepNotFound,
    /// A cancel of a sweep that has already ended.
    SweepFinished,
}

impl ErrorCode {
    /// The `code` clients read.
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            InvalidJson => "invalid_json",
            InvalidBody => "invalid_body",
            InvalidField | InvalidNumber => "invalid_field",
            MissingField => "missing_field",
            InvalidUpload => "invalid_upload",
            UnsupportedFormat => "unsupported_format",
            UploadTooLarge => "upload_too_large",
            TableTooLarge => "table_too_large",
            InvalidTable => "invalid_table",
            InvalidTask => "invalid_task",
            UnsupportedTask => "unsupported_task",
            InvalidParameter => "invalid_parameter",
            UnknownPlugin => "unknown_plugin",
            PluginDisabled => "plugin_disabled",
            PluginUnavailable => "plugin_unavailable",
            UnknownColumn => "unknown_column",
            InvalidTarget => "invalid_target",
            InvalidColumns => "invalid_columns",
            InvalidRows => "invalid_rows",
            OverPluginLimits => "over_plugin_limits",
            PredictFailed => "predict_failed",
            JobNotFound => "job_not_found",
            DatasetNotFound => "dataset_not_found",
            ModelNotFound => "model_not_found",
            NotFound => "not_found",
            Conflict => "conflict",
            JobFinished => "job_finished",
            ModelNotReady => "model_not_ready",
            BrokerUnavailable => "broker_unavailable",
            NotReady => "not_ready",
            Internal => "internal",
            InvalidRequest => "invalid_request",
            MethodNotAllowed => "method_not_allowed",
            BodyTooLarge => "body_too_large",
            UnsupportedMediaType => "unsupported_media_type",
            ForbiddenOrigin => "forbidden_origin",
            InvalidHost => "invalid_host",
            Unauthorized => "unauthorized",
            Forbidden => "forbidden",
            QuotaExceeded => "quota_exceeded",
            RateLimited => "rate_limited",
            UserNotFound => "user_not_found",
            UserExists => "user_exists",
            SweepNotFound => "sweep_not_found",
            SweepFinished => "sweep_finished",
        }
    }

    pub fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            InvalidJson | InvalidBody | InvalidField | MissingField | InvalidUpload | InvalidRequest => StatusCode::BAD_REQUEST,
            UnsupportedFormat | UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            UploadTooLarge | BodyTooLarge | TableTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ForbiddenOrigin | Forbidden => StatusCode::FORBIDDEN,
            Unauthorized => StatusCode::UNAUTHORIZED,
            QuotaExceeded | RateLimited => StatusCode::TOO_MANY_REQUESTS,
            InvalidHost => StatusCode::MISDIRECTED_REQUEST,
            InvalidNumber | InvalidTable | InvalidTask | UnsupportedTask | InvalidParameter | UnknownPlugin | PluginDisabled | PluginUnavailable
            | UnknownColumn | InvalidTarget | InvalidColumns | InvalidRows | OverPluginLimits | PredictFailed => StatusCode::UNPROCESSABLE_ENTITY,
            JobNotFound | DatasetNotFound | ModelNotFound | NotFound | UserNotFound | SweepNotFound => StatusCode::NOT_FOUND,
            Conflict | JobFinished | ModelNotReady | UserExists | SweepFinished => StatusCode::CONFLICT,
            BrokerUnavailable | NotReady => StatusCode::SERVICE_UNAVAILABLE,
            Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An error answer: a code, what to fix, and the request field it concerns.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub field: Option<String>,
    /// More members of the `error` object (a quota's name, limit and use).
    pub details: Option<serde_json::Map<String, serde_json::Value>>,
    /// Seconds for a `Retry-After` header, where waiting helps.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError { code, message: message.into(), field: None, details: None, retry_after: None }
    }

    /// Over `hit`'s quota: 429 naming it, its limit and use, with `Retry-After` when waiting helps.
    pub fn quota(hit: &crate::accounts::QuotaHit) -> ApiError {
        let wait = hit.retry_after_secs.map(|s| format!("; try again in {s} s")).unwrap_or_default();
        let message = format!("quota `{}` exceeded: the limit is {} and {} is in use{wait}", hit.quota, hit.limit, hit.used);
        let mut details = serde_json::Map::new();
        details.insert("quota".into(), json!(hit.quota));
        details.insert("limit".into(), json!(hit.limit));
        details.insert("used".into(), json!(hit.used));
        ApiError { details: Some(details), retry_after: hit.retry_after_secs, ..ApiError::new(ErrorCode::QuotaExceeded, message) }
    }

    pub fn field(mut self, field: impl Into<String>) -> ApiError {
        self.field = Some(field.into());
        self
    }

    pub fn internal(message: impl std::fmt::Display) -> ApiError {
        ApiError::new(ErrorCode::Internal, message.to_string())
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }
}

impl From<BrokerError> for ApiError {
    fn from(e: BrokerError) -> Self {
        match e {
            BrokerError::NotFound(id) => ApiError::new(ErrorCode::JobNotFound, format!("no job {id}")),
            BrokerError::Stale(_) => ApiError::new(ErrorCode::Conflict, e.to_string()),
            BrokerError::Backend(_) | BrokerError::DataLost(_) => ApiError::new(ErrorCode::BrokerUnavailable, e.to_string()),
            // Still "not found", with the reason it can no longer be found.
            BrokerError::Lost(_) => ApiError::new(ErrorCode::JobNotFound, e.to_string()),
        }
    }
}

impl From<crate::accounts::AccountError> for ApiError {
    fn from(e: crate::accounts::AccountError) -> Self {
        use crate::accounts::AccountError;
        match e {
            AccountError::Exists(name) => ApiError::new(ErrorCode::UserExists, format!("user `{name}` already exists")).field("name"),
            AccountError::NoUser(name) => ApiError::new(ErrorCode::UserNotFound, format!("no user `{name}`")),
            AccountError::Broker(e) => e.into(),
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        ApiError::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut message = self.message;
        if status.is_server_error() {
            let request_id = uuid::Uuid::new_v4().to_string();
            tracing::error!(request_id = %request_id, code = self.code.as_str(), error = %message, "server fault");
            message = format!("{message} (request id {request_id})");
        }
        let body = super::wire::ErrorBody { error: super::wire::ErrorDetail { code: self.code.as_str().to_string(), message, field: self.field } };
        let mut body = super::wire::to_json(&body);
        // Figures a refusal names besides its message (a quota's limit and use).
        for (key, value) in self.details.into_iter().flatten() {
            body["error"][key] = value;
        }
        let mut response = (status, Json(body)).into_response();
        if self.code == ErrorCode::Unauthorized {
            response.headers_mut().insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer realm=\"trainhost\""));
        }
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, secs.into());
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_follows_from_the_code() {
        assert_eq!(ErrorCode::MissingField.status(), StatusCode::BAD_REQUEST);
        assert_eq!(ErrorCode::InvalidParameter.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(ErrorCode::DatasetNotFound.status(), StatusCode::NOT_FOUND);
        assert_eq!(ErrorCode::BrokerUnavailable.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!((ErrorCode::InvalidField.as_str(), ErrorCode::InvalidNumber.as_str()), ("invalid_field", "invalid_field"));
        assert_eq!((ErrorCode::InvalidField.status(), ErrorCode::InvalidNumber.status()), (StatusCode::BAD_REQUEST, StatusCode::UNPROCESSABLE_ENTITY));
    }
}
