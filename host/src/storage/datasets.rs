//! Dataset records: an uploaded table stored as `datasets/{id}/data.{csv|parquet}`
//! beside `datasets/{id}/meta.json` (rows, columns with their kind, a capped
//! preview), their summaries for listing, and the one way back from an id to
//! its table (`load_table`, within the table limits), for the API and the
//! workers alike.
//!
//! Owns these keys and the record's JSON. It must not decide what a caller
//! answers when a dataset is missing: `LoadError` says what went wrong, the
//! API turns it into a status, a worker into a failure message.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Key, Storage, StorageError};
use polars::prelude::DataFrame;

use crate::config::TableLimits;
use crate::data::{self, ColumnProfile, DataError, TableFormat};

const PREVIEW_ROWS: usize = 10;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatasetRecord {
    pub id: String,
    /// The uploaded file's name, for display only.
    pub name: String,
    pub format: String,
    pub size_bytes: u64,
    pub rows: usize,
    pub columns: Vec<ColumnProfile>,
    /// The first rows (at most 10, 50 columns, 200 characters a cell), one object per row.
    #[schema(value_type = Vec<Object>)]
    pub preview: Vec<serde_json::Map<String, serde_json::Value>>,
    pub created_at: i64,
    /// The user who uploaded it; None for uploads from before accounts (or
    /// `auth.mode = "none"`), which only admins see.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Uploaded only to predict on (`POST /datasets?purpose=predict`): listed
    /// as such, and never the train form's default. Absent otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub predict_only: bool,
}

/// Who uploaded a table, and what for.
#[derive(Debug, Clone, Copy, Default)]
pub struct Uploader<'a> {
    pub owner: Option<&'a str>,
    pub predict_only: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

fn meta_key(id: &str) -> Result<Key, StorageError> {
    Key::new(&["datasets", id, "meta.json"])
}

pub fn data_key(record: &DatasetRecord) -> Result<Key, StorageError> {
    Key::new(&["datasets", &record.id, &format!("data.{}", record.format)])
}

/// What a list of datasets shows of each: no column profiles, no preview.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatasetSummary {
    pub id: String,
    pub name: String,
    pub format: String,
    pub size_bytes: u64,
    pub rows: usize,
    /// How many columns: the profiles are counted as they are skipped, not kept.
    #[serde(rename = "columns", deserialize_with = "count_items")]
    pub column_count: usize,
    pub created_at: i64,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub predict_only: bool,
}

fn count_items<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<usize, D::Error> {
    Ok(Vec::<serde::de::IgnoredAny>::deserialize(deserializer)?.len())
}

/// Profiles an uploaded file and stores it with its record. The file is
/// consumed. A table past `limits` is refused before it is decoded, and nothing is stored.
pub async fn ingest(
    storage: &Arc<dyn Storage>,
    id: &str,
    name: &str,
    file: &Path,
    size: u64,
    limits: TableLimits,
    uploader: Uploader<'_>,
) -> Result<DatasetRecord, DatasetError> {
    let path = file.to_path_buf();
    let (format, profile) = tokio::task::spawn_blocking(move || {
        let df = data::read_table_within(&path, &limits)?;
        Ok::<_, DataError>((TableFormat::of_file(&path), data::ingest::profile(&df, PREVIEW_ROWS)))
    })
    .await
    .map_err(|e| DataError::Read(e.to_string()))??;
    let display_name: String = name.chars().filter(|c| !c.is_control()).take(200).collect();
    let record = DatasetRecord {
        id: id.to_string(),
        name: display_name,
        format: format.as_str().to_string(),
        size_bytes: size,
        rows: profile.rows,
        columns: profile.columns,
        preview: profile.preview,
        created_at: crate::ids::now_ms(),
        owner: uploader.owner.map(str::to_string),
        predict_only: uploader.predict_only,
    };
    storage.put_file(&data_key(&record)?, file).await?;
    storage.put(&meta_key(id)?, serde_json::to_vec(&record).expect("plain data").into()).await?;
    Ok(record)
}

/// Why `load_table` has no table to give.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// No record: never uploaded, deleted, or not a dataset id at all.
    #[error("dataset {0} no longer exists")]
    NotFound(String),
    /// The record is there but its data file is not.
    #[error("dataset {0} no longer exists")]
    NoData(String),
    #[error("dataset {id}: {source}")]
    Unreadable { id: String, source: DataError },
    #[error("reading dataset {id} failed: {reason}")]
    ReaderFailed { id: String, reason: String },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// The table of dataset `id`, read from a local copy of its data file
/// (on a blocking thread: parsing a large table takes a while), refused
/// before it is decoded if it is past `limits`.
pub async fn load_table(storage: &Arc<dyn Storage>, id: &str, limits: TableLimits) -> Result<DataFrame, LoadError> {
    let record = get(storage, id).await?.ok_or_else(|| LoadError::NotFound(id.to_string()))?;
    let path = storage.local_copy(&data_key(&record)?).await?.ok_or_else(|| LoadError::NoData(id.to_string()))?;
    match tokio::task::spawn_blocking(move || data::read_table_within(&path, &limits)).await {
        Ok(Ok(table)) => Ok(table),
        Ok(Err(source)) => Err(LoadError::Unreadable { id: id.to_string(), source }),
        Err(e) => Err(LoadError::ReaderFailed { id: id.to_string(), reason: e.to_string() }),
    }
}

pub async fn get(storage: &Arc<dyn Storage>, id: &str) -> Result<Option<DatasetRecord>, StorageError> {
    let Some(mut record) = read_record::<DatasetRecord>(storage, id).await? else { return Ok(None) };
    // Records stored before previews were capped are cut as they are read.
    data::ingest::cap_preview(&mut record.preview, PREVIEW_ROWS);
    Ok(Some(record))
}

async fn read_record<T: serde::de::DeserializeOwned>(storage: &Arc<dyn Storage>, id: &str) -> Result<Option<T>, StorageError> {
    if !crate::ids::is_valid_id(id) {
        return Ok(None);
    }
    let Some(bytes) = storage.get(&meta_key(id)?).await? else { return Ok(None) };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| StorageError::Io(format!("dataset {id}: corrupt record: {e}")))
}

/// Every dataset's summary, newest first.
pub async fn list(storage: &Arc<dyn Storage>) -> Result<Vec<DatasetSummary>, StorageError> {
    let mut summaries = vec![];
    for id in storage.list(&Key::new(&["datasets"])?).await? {
        if let Some(summary) = read_record::<DatasetSummary>(storage, &id).await? {
            summaries.push(summary);
        }
    }
    summaries.sort_by_key(|s| std::cmp::Reverse(s.created_at));
    Ok(summaries)
}

pub async fn delete(storage: &Arc<dyn Storage>, id: &str) -> Result<bool, StorageError> {
    if read_record::<serde::de::IgnoredAny>(storage, id).await?.is_none() {
        return Ok(false);
    }
    storage.delete_prefix(&Key::new(&["datasets", id])?).await?;
    Ok(true)
}

pub fn model_key(job_id: &str) -> Result<Key, StorageError> {
    Key::new(&["models", &format!("{job_id}.trainhost")])
}
