//! Tables: reading CSV and Parquet with polars, typing columns, encoding them
//! into the WIT table a plugin receives, the seeded train/validation split, and
//! the holdout metrics that judge every plugin the same way.
//!
//! Owns everything between a file on disk and a `contract::Table`. It must not
//! call plugins or know where files are stored.

pub mod encode;
pub mod ingest;
pub mod metrics;
pub mod ranking;
pub mod roles;
pub mod size;
pub mod split;
pub mod stats;

pub use encode::{EncodedColumn, EncodedTable, Encoding, TablePart};
pub use ingest::{read_table, read_table_within, ColumnKind, ColumnProfile, DatasetProfile, TableFormat};
pub use roles::ColumnChoices;

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
    /// Past a `[limits]` bound of the config: told before the table is decoded.
    #[error("the table is too large: {figure}, more than the limit `{limit}` = {allowed}")]
    TooLarge { limit: &'static str, allowed: String, figure: String },
    /// Columns the model needs that the table lacks, every one of them.
    #[error("the table lacks {} the model needs: {}", if .0.len() == 1 { "a column" } else { "columns" }, quoted(.0))]
    MissingColumns(Vec<String>),
    /// Values a column cannot hold, by column and row (rows counted from 1).
    #[error("{0}")]
    WrongTypes(String),
    #[error("target column `{column}`: {reason}")]
    BadTarget { column: String, reason: String },
    #[error("{0}")]
    Invalid(String),
}

fn quoted(names: &[String]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}
