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
        }
    }

    pub fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            InvalidJson | InvalidBody | InvalidField | MissingField | InvalidUpload | InvalidRequest => StatusCode::BAD_REQUEST,
            UnsupportedFormat | UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            UploadTooLarge | BodyTooLarge | TableTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ForbiddenOrigin => StatusCode::FORBIDDEN,
            InvalidHost => StatusCode::MISDIRECTED_REQUEST,
            InvalidNumber | InvalidTable | InvalidTask | UnsupportedTask | InvalidParameter | UnknownPlugin | PluginDisabled | PluginUnavailable
            | UnknownColumn | InvalidTarget | InvalidColumns | InvalidRows | PredictFailed => StatusCode::UNPROCESSABLE_ENTITY,
            JobNotFound | DatasetNotFound | ModelNotFound | NotFound => StatusCode::NOT_FOUND,
            Conflict | JobFinished | ModelNotReady => StatusCode::CONFLICT,
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
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError { code, message: message.into(), field: None }
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
        (status, Json(super::wire::to_json(&body))).into_response()
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
