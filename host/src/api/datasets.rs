//! Dataset routes: multipart upload streamed to disk under the size limit and
//! refused if its table is past the table limits, list (summaries), schema and
//! preview, delete.

use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use super::wire::{to_json, DatasetBody, DatasetListBody, Deleted, DeletedBody};
use super::{ApiError, ApiResult, AppState, ErrorCode};
use crate::data::DataError;
use crate::storage::datasets::{self, DatasetError};
use crate::telemetry::COUNTERS;

pub async fn upload(State(state): State<AppState>, mut multipart: Multipart) -> ApiResult<Response> {
    let limit = state.config.server.upload_limit_mib.saturating_mul(1 << 20);
    let bad_multipart = |e: axum::extract::multipart::MultipartError| ApiError::new(ErrorCode::InvalidUpload, format!("cannot read the upload: {e}"));
    while let Some(mut field) = multipart.next_field().await.map_err(bad_multipart)? {
        let Some(file_name) = field.file_name().map(str::to_string) else { continue };
        let lower = file_name.to_ascii_lowercase();
        if !(lower.ends_with(".csv") || lower.ends_with(".parquet") || lower.ends_with(".pq")) {
            return Err(ApiError::new(ErrorCode::UnsupportedFormat, format!("`{file_name}`: upload a .csv or .parquet file")).field("file"));
        }
        tokio::fs::create_dir_all(&state.upload_dir).await.map_err(ApiError::internal)?;
        let id = uuid::Uuid::new_v4().to_string();
        let tmp = state.upload_dir.join(format!("upload-{id}"));
        let mut out = tokio::fs::File::create(&tmp).await.map_err(ApiError::internal)?;
        let mut size: u64 = 0;
        let streamed: ApiResult<()> = async {
            while let Some(chunk) = field.chunk().await.map_err(bad_multipart)? {
                size += chunk.len() as u64;
                if size > limit {
                    return Err(ApiError::new(
                        ErrorCode::UploadTooLarge,
                        format!("the file is larger than the upload limit of {} MiB", state.config.server.upload_limit_mib),
                    )
                    .field("file"));
                }
                out.write_all(&chunk).await.map_err(ApiError::internal)?;
            }
            out.flush().await.map_err(ApiError::internal)?;
            Ok(())
        }
        .await;
        drop(out);
        if let Err(e) = streamed {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
        let record = match datasets::ingest(&state.storage, &id, &file_name, &tmp, size, state.config.limits).await {
            Ok(record) => record,
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(match e {
                    DatasetError::Data(e) => table_error(&file_name, &e).field("file"),
                    DatasetError::Storage(e) => e.into(),
                });
            }
        };
        COUNTERS.datasets_uploaded.inc();
        return Ok((StatusCode::CREATED, Json(to_json(&DatasetBody { data: record }))).into_response());
    }
    Err(ApiError::new(ErrorCode::MissingField, "send the table as a multipart form field named `file` (with a file name)").field("file"))
}

/// Why an uploaded file's table is refused.
fn table_error(file_name: &str, e: &DataError) -> ApiError {
    let code = if matches!(e, DataError::TooLarge { .. }) { ErrorCode::TableTooLarge } else { ErrorCode::InvalidTable };
    ApiError::new(code, format!("`{file_name}`: {e}"))
}

/// Summaries only: `columns` is a count here; `GET /datasets/{id}` has the profiles and the preview.
pub async fn list(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    Ok(Json(to_json(&DatasetListBody { data: datasets::list(&state.storage).await? })))
}

pub async fn get_dataset(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let record = datasets::get(&state.storage, &id).await?.ok_or_else(|| ApiError::new(ErrorCode::DatasetNotFound, format!("no dataset `{id}`")))?;
    Ok(Json(to_json(&DatasetBody { data: record })))
}

pub async fn delete(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    if !datasets::delete(&state.storage, &id).await? {
        return Err(ApiError::new(ErrorCode::DatasetNotFound, format!("no dataset `{id}`")));
    }
    // Deleted first, so that a worker stopping one of its jobs finds it gone and says so.
    let (cancelled, requested) = crate::queue::cancel_jobs_of_dataset(state.broker.as_ref(), &id).await?;
    if cancelled + requested > 0 {
        tracing::info!(dataset = %id, cancelled, cancel_requested = requested, "dataset deleted: its jobs are cancelled");
    }
    Ok(Json(to_json(&DeletedBody { data: Deleted { id, deleted: true } })))
}
