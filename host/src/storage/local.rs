//! Storage in a local directory (shared between processes of one machine).

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;

use super::{Key, Result, Stat, Storage};

pub struct LocalStorage {
    root: PathBuf,
}

impl LocalStorage {
    pub fn new(root: PathBuf) -> std::io::Result<LocalStorage> {
        std::fs::create_dir_all(&root)?;
        Ok(LocalStorage { root })
    }
}

#[async_trait]
impl Storage for LocalStorage {
    async fn put(&self, key: &Key, bytes: Bytes) -> Result<()> {
        let path = key.under(&self.root);
        // Readers never see half a file; one trip to a blocking thread for the whole write.
        Ok(crate::files::write_atomically_async(path, bytes).await?)
    }

    async fn put_file(&self, key: &Key, file: &Path) -> Result<()> {
        let path = key.under(&self.root);
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        if tokio::fs::rename(file, &path).await.is_err() {
            let tmp = crate::files::partial_path(&path);
            tokio::fs::copy(file, &tmp).await?;
            tokio::fs::rename(&tmp, &path).await?;
            let _ = tokio::fs::remove_file(file).await;
        }
        Ok(())
    }

    async fn get(&self, key: &Key) -> Result<Option<Bytes>> {
        match tokio::fs::read(key.under(&self.root)).await {
            Ok(bytes) => Ok(Some(bytes.into())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    async fn local_copy(&self, key: &Key) -> Result<Option<PathBuf>> {
        let path = key.under(&self.root);
        Ok(tokio::fs::try_exists(&path).await?.then_some(path))
    }

    async fn delete_prefix(&self, prefix: &Key) -> Result<()> {
        let path = prefix.under(&self.root);
        let result = match tokio::fs::metadata(&path).await {
            Ok(m) if m.is_dir() => tokio::fs::remove_dir_all(&path).await,
            Ok(_) => tokio::fs::remove_file(&path).await,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        };
        Ok(result?)
    }

    async fn list(&self, prefix: &Key) -> Result<Vec<String>> {
        let mut names = vec![];
        let mut dir = match tokio::fs::read_dir(prefix.under(&self.root)).await {
            Ok(dir) => dir,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(names),
            Err(e) => return Err(e.into()),
        };
        while let Some(entry) = dir.next_entry().await? {
            if let Some(name) = entry.file_name().to_str().filter(|n| !n.starts_with('.')) {
                names.push(name.to_string());
            }
        }
        names.sort();
        Ok(names)
    }

    async fn stat(&self, key: &Key) -> Result<Option<Stat>> {
        match tokio::fs::metadata(key.under(&self.root)).await {
            Ok(meta) if meta.is_file() => Ok(Some(Stat { bytes: meta.len(), modified: meta.modified()? })),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn describe(&self) -> String {
        format!("local directory {}", self.root.display())
    }
}
