//! Dataset records: an uploaded table stored as `datasets/{id}/data.{csv|parquet}`
//! beside `datasets/{id}/meta.json` (rows, columns with their kind, preview).

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Key, Storage, StorageError};
use crate::data::{self, ColumnProfile, DataError};

const PREVIEW_ROWS: usize = 10;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DatasetRecord {
    pub id: String,
    /// The uploaded file's name, for display only.
    pub name: String,
    pub format: String,
    pub size_bytes: u64,
    pub rows: usize,
    pub columns: Vec<ColumnProfile>,
    pub preview: Vec<serde_json::Map<String, serde_json::Value>>,
    pub created_at: i64,
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

/// Profiles an uploaded file and stores it with its record. The file is consumed.
pub async fn ingest(storage: &Arc<dyn Storage>, id: &str, name: &str, file: &Path, size: u64) -> Result<DatasetRecord, DatasetError> {
    let path = file.to_path_buf();
    let (format, profile) = tokio::task::spawn_blocking(move || {
        let df = data::read_table(&path)?;
        let mut head = [0u8; 4];
        let parquet = std::fs::File::open(&path).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head)).is_ok() && &head == b"PAR1";
        Ok::<_, DataError>((if parquet { "parquet" } else { "csv" }, data::ingest::profile(&df, PREVIEW_ROWS)))
    })
    .await
    .map_err(|e| DataError::Read(e.to_string()))??;
    let display_name: String = name.chars().filter(|c| !c.is_control()).take(200).collect();
    let record = DatasetRecord {
        id: id.to_string(),
        name: display_name,
        format: format.to_string(),
        size_bytes: size,
        rows: profile.rows,
        columns: profile.columns,
        preview: profile.preview,
        created_at: crate::ids::now_ms(),
    };
    storage.put_file(&data_key(&record)?, file).await?;
    storage.put(&meta_key(id)?, serde_json::to_vec(&record).expect("plain data").into()).await?;
    Ok(record)
}

pub async fn get(storage: &Arc<dyn Storage>, id: &str) -> Result<Option<DatasetRecord>, StorageError> {
    if !crate::ids::is_valid_id(id) {
        return Ok(None);
    }
    let Some(bytes) = storage.get(&meta_key(id)?).await? else { return Ok(None) };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| StorageError::Io(format!("dataset {id}: corrupt record: {e}")))
}

pub async fn list(storage: &Arc<dyn Storage>) -> Result<Vec<DatasetRecord>, StorageError> {
    let mut records = vec![];
    for id in storage.list(&Key::new(&["datasets"])?).await? {
        if let Some(record) = get(storage, &id).await? {
            records.push(record);
        }
    }
    records.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    Ok(records)
}

pub async fn delete(storage: &Arc<dyn Storage>, id: &str) -> Result<bool, StorageError> {
    if get(storage, id).await?.is_none() {
        return Ok(false);
    }
    storage.delete_prefix(&Key::new(&["datasets", id])?).await?;
    Ok(true)
}

pub fn model_key(job_id: &str) -> Result<Key, StorageError> {
    Key::new(&["models", &format!("{job_id}.trainhost")])
}
