//! Dataset routes: multipart upload streamed to disk under the size limit and
//! refused if its table is past the table limits, list (summaries), schema and
//! preview, delete.

use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use super::auth::{audit, Caller};
use super::wire::{to_json, DatasetBody, Deleted, DeletedBody};
use super::{ApiError, ApiResult, AppState, ErrorCode};
use crate::accounts::QuotaHit;
use crate::data::DataError;
use crate::storage::datasets::{self, DatasetError, DatasetRecord};
use crate::telemetry::COUNTERS;

/// The dataset `id` as `caller` may see it: another member's dataset answers
/// exactly as a missing one does.
pub(super) async fn visible(state: &AppState, caller: &Caller, id: &str) -> ApiResult<DatasetRecord> {
    let no_dataset = || ApiError::new(ErrorCode::DatasetNotFound, format!("no dataset `{id}`"));
    let record = datasets::get(&state.storage, id).await?.ok_or_else(no_dataset)?;
    if !caller.may_see(record.owner.as_deref()) {
        audit(caller.name(), "read_dataset", id, "denied: not the owner (answered as missing)");
        return Err(no_dataset());
    }
    Ok(record)
}

/// The upload size the caller may send: the server's limit, or their quota if smaller.
fn upload_limit(state: &AppState, caller: &Caller) -> (u64, Option<u64>) {
    let server = state.config.current().server.upload_limit_mib.saturating_mul(1 << 20);
    let quota = caller.user.as_ref().map(|u| u.quota(&state.config.current().quotas).upload_bytes).filter(|q| *q > 0 && *q < server);
    (quota.unwrap_or(server), quota)
}

fn too_large(state: &AppState, caller: &Caller, quota: Option<u64>, size: u64) -> ApiError {
    match quota {
        Some(limit) => {
            let hit = QuotaHit { quota: "upload_bytes", limit, used: size, retry_after_secs: None };
            audit(caller.name(), "upload", "dataset", "quota_exceeded: upload_bytes");
            ApiError::quota(&hit).field("file")
        }
        None => ApiError::new(
            ErrorCode::UploadTooLarge,
            format!("the file is larger than the upload limit of {} MiB", state.config.current().server.upload_limit_mib),
        )
        .field("file"),
    }
}

/// Stores the streamed file as dataset `id`, its bytes counted against the
/// caller's quota first (and given back if it is refused).
async fn store(state: &AppState, caller: &Caller, id: &str, file_name: &str, tmp: &std::path::Path, size: u64, predict_only: bool) -> ApiResult<DatasetRecord> {
    if let Some(user) = &caller.user {
        let limit = user.quota(&state.config.current().quotas).dataset_bytes;
        if let Some(hit) = state.accounts.reserve_bytes(&user.name, id, size, limit).await? {
            audit(Some(&user.name), "upload", id, "quota_exceeded: dataset_bytes");
            return Err(ApiError::quota(&hit).field("file"));
        }
    }
    let uploader = datasets::Uploader { owner: caller.name(), predict_only };
    match datasets::ingest(&state.storage, id, file_name, tmp, size, state.config.current().limits, uploader).await {
        Ok(record) => Ok(record),
        Err(e) => {
            if let Some(user) = caller.name() {
                let _ = state.accounts.release_bytes(user, id).await;
            }
            Err(match e {
                DatasetError::Data(e) => table_error(file_name, &e).field("file"),
                DatasetError::Storage(e) => e.into(),
            })
        }
    }
}

#[derive(serde::Deserialize)]
pub struct UploadParams {
    purpose: Option<String>,
}

pub async fn upload(State(state): State<AppState>, caller: Caller, Query(q): Query<UploadParams>, mut multipart: Multipart) -> ApiResult<Response> {
    let predict_only = match q.purpose.as_deref() {
        None | Some("") | Some("train") => false,
        Some("predict") => true,
        Some(other) => return Err(ApiError::new(ErrorCode::InvalidField, format!("purpose `{other}`: use train or predict")).field("purpose")),
    };
    let (limit, quota) = upload_limit(&state, &caller);
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
                    return Err(too_large(&state, &caller, quota, size));
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
        let record = match store(&state, &caller, &id, &file_name, &tmp, size, predict_only).await {
            Ok(record) => record,
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(e);
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
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let summaries: Vec<Value> = datasets::list(&state.storage)
        .await?
        .iter()
        .filter(|r| caller.may_see(r.owner.as_deref()))
        .map(|r| {
            let mut summary =
                json!({ "id": r.id, "name": r.name, "format": r.format, "sizeBytes": r.size_bytes, "rows": r.rows, "columns": r.column_count, "createdAt": r.created_at });
            if caller.shows_owner() {
                summary["owner"] = json!(r.owner);
            }
            if r.predict_only {
                summary["predictOnly"] = json!(true);
            }
            summary
        })
        .collect();
    Ok(Json(json!({ "data": summaries })))
}

pub async fn get_dataset(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let record = visible(&state, &caller, &id).await?;
    let mut data = json!(record);
    if !caller.shows_owner() {
        if let Some(object) = data.as_object_mut() {
            object.remove("owner");
        }
    }
    Ok(Json(json!({ "data": data })))
}

pub async fn delete(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let record = visible(&state, &caller, &id).await?;
    if !datasets::delete(&state.storage, &id).await? {
        return Err(ApiError::new(ErrorCode::DatasetNotFound, format!("no dataset `{id}`")));
    }
    if let Some(owner) = &record.owner {
        state.accounts.release_bytes(owner, &id).await?;
    }
    audit(caller.name(), "dataset_deleted", &id, "ok");
    // Deleted first, so that a worker stopping one of its jobs finds it gone and says so.
    let (cancelled, requested) = crate::queue::cancel_jobs_of_dataset(state.broker.as_ref(), &id).await?;
    if cancelled + requested > 0 {
        tracing::info!(dataset = %id, cancelled, cancel_requested = requested, "dataset deleted: its jobs are cancelled");
    }
    Ok(Json(to_json(&DeletedBody { data: Deleted { id, deleted: true } })))
}
