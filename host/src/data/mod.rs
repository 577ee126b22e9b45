//! Tables: reading CSV and Parquet with polars, typing columns, encoding them
//! into the WIT table a plugin receives, the seeded train/validation split, and
//! the holdout metrics that judge every plugin the same way.
//!
//! Owns everything between a file on disk and a `contract::Table`. It must not
//! call plugins or know where files are stored.

pub mod encode;
pub mod ingest;
pub mod metrics;
pub mod split;

pub use encode::{EncodedColumn, EncodedTable, Encoding};
pub use ingest::{read_table, ColumnKind, ColumnProfile, DatasetProfile, TableFormat};

/// A table the user gave us cannot be used as asked.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read the table: {0}")]
    Read(String),
    #[error("unsupported file type `{0}`: upload a .csv or .parquet file")]
    UnsupportedFormat(String),
    #[error("the table has no rows")]
    Empty,
    #[error("column `{0}` is not in the table")]
    MissingColumn(String),
    #[error("target column `{column}`: {reason}")]
    BadTarget { column: String, reason: String },
    #[error("{0}")]
    Invalid(String),
}
