//! Reading tables with polars and describing their columns.

use std::path::Path;

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::DataError;

/// What a column holds, as inferred from its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnKind {
    Numeric,
    Categorical,
    Boolean,
    /// Free text or identifiers (about one distinct value per row): not a feature.
    Text,
    Datetime,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ColumnProfile {
    pub name: String,
    pub kind: ColumnKind,
    pub dtype: String,
    pub missing: usize,
    pub distinct: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DatasetProfile {
    pub rows: usize,
    pub columns: Vec<ColumnProfile>,
    /// The first rows, one JSON object per row.
    pub preview: Vec<serde_json::Map<String, serde_json::Value>>,
}

/// Markers that mean "no value" in the tables people actually upload.
const NULL_MARKERS: [&str; 7] = ["", "NA", "N/A", "NaN", "nan", "null", "?"];

/// How a table file is written. Told by its first bytes, never by its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    Csv,
    Parquet,
}

impl TableFormat {
    /// Parquet files start with `PAR1`; anything else (an unreadable file
    /// included) is read as CSV, whose reader then says what is wrong.
    pub fn of_file(path: &Path) -> TableFormat {
        let mut head = [0u8; 4];
        let read = std::fs::File::open(path).and_then(|mut file| std::io::Read::read_exact(&mut file, &mut head));
        if read.is_ok() && &head == b"PAR1" {
            TableFormat::Parquet
        } else {
            TableFormat::Csv
        }
    }

    /// The name stored in a dataset record and used as its file extension.
    pub fn as_str(self) -> &'static str {
        match self {
            TableFormat::Csv => "csv",
            TableFormat::Parquet => "parquet",
        }
    }
}

/// Reads a CSV or Parquet file, chosen by its first bytes.
pub fn read_table(path: &Path) -> Result<DataFrame, DataError> {
    let df = match TableFormat::of_file(path) {
        TableFormat::Parquet => read_parquet(path)?,
        TableFormat::Csv => read_csv(path)?,
    };
    if df.height() == 0 {
        return Err(DataError::Empty);
    }
    Ok(df)
}

fn read_csv(path: &Path) -> Result<DataFrame, DataError> {
    let nulls = NullValues::AllColumns(NULL_MARKERS.iter().map(|m| PlSmallStr::from(*m)).collect());
    CsvReadOptions::default()
        .with_has_header(true)
        .with_infer_schema_length(Some(10_000))
        .with_parse_options(CsvParseOptions::default().with_try_parse_dates(true).with_null_values(Some(nulls)))
        .try_into_reader_with_file_path(Some(path.to_path_buf()))
        .and_then(|reader| reader.finish())
        .map_err(|e| DataError::Read(e.to_string()))
}

fn read_parquet(path: &Path) -> Result<DataFrame, DataError> {
    let file = std::fs::File::open(path).map_err(|e| DataError::Read(e.to_string()))?;
    ParquetReader::new(file).finish().map_err(|e| DataError::Read(e.to_string()))
}

/// Infers a column's kind from its dtype and, for strings, from how many
/// distinct values it has.
pub fn kind_of(series: &Series) -> ColumnKind {
    let dtype = series.dtype();
    if dtype.is_bool() {
        ColumnKind::Boolean
    } else if dtype.is_primitive_numeric() {
        ColumnKind::Numeric
    } else if dtype.is_temporal() {
        ColumnKind::Datetime
    } else {
        let known = series.len() - series.null_count();
        let distinct = series.n_unique().unwrap_or(0).saturating_sub(usize::from(series.null_count() > 0));
        // One level per row (an id, a name) says nothing about other rows.
        if known > 20 && distinct * 10 >= known * 9 {
            ColumnKind::Text
        } else {
            ColumnKind::Categorical
        }
    }
}

pub fn profile(df: &DataFrame, preview_rows: usize) -> DatasetProfile {
    let columns = df
        .columns()
        .iter()
        .map(|column| {
            let series = column.as_materialized_series();
            ColumnProfile {
                name: series.name().to_string(),
                kind: kind_of(series),
                dtype: series.dtype().to_string(),
                missing: series.null_count() + nan_count(series),
                distinct: series.n_unique().unwrap_or(0),
            }
        })
        .collect();
    DatasetProfile { rows: df.height(), columns, preview: preview(df, preview_rows) }
}

fn nan_count(series: &Series) -> usize {
    if !series.dtype().is_float() {
        return 0;
    }
    series.cast(&DataType::Float64).ok().and_then(|s| s.f64().ok().map(|ca| ca.iter().filter(|v| v.is_some_and(f64::is_nan)).count())).unwrap_or(0)
}

fn preview(df: &DataFrame, rows: usize) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let head = df.head(Some(rows));
    (0..head.height())
        .map(|i| head.columns().iter().map(|column| (column.name().to_string(), json_value(column.get(i).unwrap_or(AnyValue::Null)))).collect())
        .collect()
}

fn json_value(value: AnyValue) -> serde_json::Value {
    use serde_json::Value;
    match value {
        AnyValue::Null => Value::Null,
        AnyValue::Boolean(b) => Value::Bool(b),
        AnyValue::String(s) => Value::String(s.to_string()),
        AnyValue::StringOwned(s) => Value::String(s.to_string()),
        v if v.is_integer() => v.extract::<i64>().map_or(Value::Null, Value::from),
        v if v.is_float() => v.extract::<f64>().filter(|f| f.is_finite()).map_or(Value::Null, Value::from),
        other => Value::String(other.to_string()),
    }
}
