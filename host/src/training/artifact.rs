//! The model file a user downloads: a JSON header (which plugin, which
//! contract, how columns were encoded, with what parameters) followed by the
//! plugin's own model bytes, untouched.

use serde::{Deserialize, Serialize};

use crate::data::metrics::Metrics;
use crate::data::Encoding;

const MAGIC: &[u8; 16] = b"TRAINHOST-MODEL\n";
pub const FORMAT: u32 = 1;
/// A header larger than this is not one we wrote.
const MAX_HEADER: usize = 64 << 20;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ArtifactHeader {
    pub format: u32,
    pub contract: String,
    pub plugin: String,
    pub plugin_version: String,
    pub plugin_sha256: String,
    pub task: String,
    pub encoding: Encoding,
    pub params: serde_json::Map<String, serde_json::Value>,
    pub seed: u64,
    pub metrics: Metrics,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelArtifact {
    pub header: ArtifactHeader,
    pub model: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("not a trainhost model file")]
    NotAModel,
    #[error("model file format {0} is newer than this host understands ({FORMAT})")]
    Format(u32),
    #[error("the model file is truncated or corrupt: {0}")]
    Corrupt(String),
}

impl ModelArtifact {
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = serde_json::to_vec(&self.header).expect("the header is plain data");
        let mut out = Vec::with_capacity(MAGIC.len() + 4 + header.len() + self.model.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&self.model);
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<ModelArtifact, ArtifactError> {
        let rest = bytes.strip_prefix(MAGIC.as_slice()).ok_or(ArtifactError::NotAModel)?;
        let len_bytes: [u8; 4] = rest.get(..4).and_then(|b| b.try_into().ok()).ok_or_else(|| ArtifactError::Corrupt("no header length".into()))?;
        let len = u32::from_le_bytes(len_bytes) as usize;
        if len > MAX_HEADER || rest.len() < 4 + len {
            return Err(ArtifactError::Corrupt(format!("header of {len} bytes does not fit the file")));
        }
        let header: ArtifactHeader = serde_json::from_slice(&rest[4..4 + len]).map_err(|e| ArtifactError::Corrupt(e.to_string()))?;
        if header.format > FORMAT {
            return Err(ArtifactError::Format(header.format));
        }
        Ok(ModelArtifact { header, model: rest[4 + len..].to_vec() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact() -> ModelArtifact {
        ModelArtifact {
            header: ArtifactHeader {
                format: FORMAT,
                contract: "0.1.0".into(),
                plugin: "baseline".into(),
                plugin_version: "0.1.0".into(),
                plugin_sha256: "ab".into(),
                task: "classification".into(),
                encoding: Encoding { task: "classification".into(), features: vec![], target: None, skipped: vec![] },
                params: Default::default(),
                seed: 3,
                metrics: Metrics::default(),
            },
            model: vec![1, 2, 3, 0, 255],
        }
    }

    #[test]
    fn round_trip() {
        let a = artifact();
        assert_eq!(ModelArtifact::from_bytes(&a.to_bytes()).unwrap(), a);
    }

    #[test]
    fn truncation_and_garbage_are_refused() {
        let bytes = artifact().to_bytes();
        assert!(matches!(ModelArtifact::from_bytes(&bytes[..30]), Err(ArtifactError::Corrupt(_))));
        assert!(matches!(ModelArtifact::from_bytes(b"PK\x03\x04 zip"), Err(ArtifactError::NotAModel)));
    }
}
