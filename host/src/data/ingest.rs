//! Reading tables with polars and describing their columns.

use std::path::Path;

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::{size, DataError};
use crate::config::TableLimits;

/// What a column holds, as inferred from its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ColumnKind {
    Numeric,
    Categorical,
    Boolean,
    /// Free text or identifiers (about one distinct value per row): not a feature.
    Text,
    Datetime,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct ColumnProfile {
    pub name: String,
    pub kind: ColumnKind,
    pub dtype: String,
    pub missing: usize,
    pub distinct: usize,
    /// Why a job leaves this column out unless told otherwise (see `roles`);
    /// absent for a column it uses, and in records from before column roles.
    #[serde(default, rename = "excludedByDefault", skip_serializing_if = "Option::is_none")]
    pub excluded_by_default: Option<String>,
    /// Range, histogram, top levels and warnings for the dataset page (absent in older records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<super::stats::ColumnStats>,
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
        TableFormat::Parquet => contain_reader_panic(|| read_parquet(path))?,
        TableFormat::Csv => contain_reader_panic(|| read_csv(path))?,
    };
    if df.height() == 0 {
        return Err(DataError::Empty);
    }
    Ok(df)
}

/// `read_table` for a file nobody vouches for: its size is measured before it
/// is decoded and refused past `limits`, then checked again once decoded.
pub fn read_table_within(path: &Path, limits: &TableLimits) -> Result<DataFrame, DataError> {
    size::measure(path)?.check(limits)?;
    let df = read_table(path)?;
    size::decoded(&df).check(limits)?;
    Ok(df)
}

/// Runs one of polars' readers on a file nobody vouches for, turning a panic
/// inside it into a refusal: polars' Parquet footer reader `expect`s well-formed
/// thrift (a malformed statistics flag panics, found by the `parquet_ingest`
/// fuzz target), and a panic must fail the upload, not the process or thread.
pub(crate) fn contain_reader_panic<T>(read: impl FnOnce() -> Result<T, DataError>) -> Result<T, DataError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(read))
        .unwrap_or_else(|_| Err(DataError::Read("the file is malformed (its reader gave up on it); write it again".into())))
}

fn read_csv(path: &Path) -> Result<DataFrame, DataError> {
    let mut df = read_csv_with(path, CsvReadOptions::default())?;
    parse_date_columns(path, &mut df);
    Ok(df)
}

/// Reads a CSV with the one set of options both reads of a file use, on top of `extra`.
fn read_csv_with(path: &Path, extra: CsvReadOptions) -> Result<DataFrame, DataError> {
    let nulls = NullValues::AllColumns(NULL_MARKERS.iter().map(|m| PlSmallStr::from(*m)).collect());
    extra
        .with_has_header(true)
        .with_infer_schema_length(Some(10_000))
        .with_parse_options(CsvParseOptions::default().with_null_values(Some(nulls)))
        .try_into_reader_with_file_path(Some(path.to_path_buf()))
        .and_then(|reader| reader.finish())
        .map_err(|e| DataError::Read(e.to_string()))
}

/// Values of a text column looked at to decide whether it holds dates.
const DATE_SAMPLE: usize = 100;

/// Turns the text columns whose values are dates or datetimes into those types,
/// by reading just those columns again with their type given. Why not polars'
/// `try_parse_dates`: its schema inference tries dozens of date formats on
/// every text field of the first 10,000 rows (seconds on a wide categorical
/// table), where this tries the first values of each text column and stops at
/// the first one that is not a date. A column whose later values do not parse
/// stays text, as it did when polars' inference saw the odd value.
fn parse_date_columns(path: &Path, df: &mut DataFrame) {
    let fields: Vec<Field> = df.columns().iter().filter_map(|c| date_type(c).map(|dtype| Field::new(c.name().clone(), dtype))).collect();
    if fields.is_empty() {
        return;
    }
    let names: Arc<[PlSmallStr]> = fields.iter().map(|f| f.name().clone()).collect();
    // A value that does not parse becomes missing rather than failing the
    // other columns' read; such a column is then kept as text (below).
    let typed = CsvReadOptions::default().with_schema_overwrite(Some(Arc::new(Schema::from_iter(fields)))).with_columns(Some(names)).with_ignore_errors(true);
    let Ok(parsed) = read_csv_with(path, typed) else { return };
    for column in parsed.columns() {
        // A value that did not parse has become missing: that column stays text.
        let same_missing = df.column(column.name()).is_ok_and(|text| text.null_count() == column.null_count());
        if same_missing {
            let _ = df.replace(column.name().as_str(), column.clone());
        }
    }
}

/// Date or datetime when the first `DATE_SAMPLE` values of a text column all
/// read as the same one of those (polars' own rule for a column's type).
fn date_type(column: &Column) -> Option<DataType> {
    let values = column.as_materialized_series().str().ok()?;
    let mut agreed: Option<DataType> = None;
    for value in values.iter().flatten().take(DATE_SAMPLE) {
        let dtype = polars::io::csv::read::schema_inference::infer_field_schema(value, true, false);
        if !matches!(dtype, DataType::Date | DataType::Datetime(..)) || agreed.as_ref().is_some_and(|a| *a != dtype) {
            return None;
        }
        agreed = Some(dtype);
    }
    agreed
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
    } else if about_one_level_a_row(series) {
        // One level per row (an id, a name) says nothing about other rows.
        ColumnKind::Text
    } else {
        ColumnKind::Categorical
    }
}

/// Whether more than 20 values are known and at least 9 in 10 of them are
/// distinct. A text column is counted only until a tenth of its known values
/// have repeated (for a column of levels, within its first rows), not hashed
/// whole as `n_unique` would.
fn about_one_level_a_row(series: &Series) -> bool {
    let known = series.len() - series.null_count();
    if known <= 20 {
        return false;
    }
    let Ok(text) = series.str() else {
        let distinct = series.n_unique().unwrap_or(0).saturating_sub(usize::from(series.null_count() > 0));
        return distinct * 10 >= known * 9;
    };
    let mut seen = std::collections::HashSet::with_capacity(known.min(1 << 16));
    let mut repeats = 0usize;
    for value in text.iter().flatten() {
        if !seen.insert(value) {
            repeats += 1;
            // known - distinct > known / 10, so distinct * 10 < known * 9.
            if repeats * 10 > known {
                return false;
            }
        }
    }
    true
}

pub fn profile(df: &DataFrame, preview_rows: usize) -> DatasetProfile {
    let columns = df
        .columns()
        .iter()
        .map(|column| {
            let series = column.as_materialized_series();
            let (kind, distinct) = (kind_of(series), series.n_unique().unwrap_or(0));
            ColumnProfile {
                name: series.name().to_string(),
                kind,
                dtype: series.dtype().to_string(),
                missing: series.null_count() + nan_count(series),
                distinct,
                excluded_by_default: super::roles::exclusion_of(series, kind),
                stats: Some(super::stats::column_stats(series, kind, distinct)),
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

/// A preview shows at most this many columns (the first ones) ...
pub const PREVIEW_COLUMNS: usize = 50;
/// ... and at most this many characters of a text cell, then `CUT_MARKER` and the full length.
pub const PREVIEW_CELL_CHARS: usize = 200;
/// Ends a preview cell that was cut, before its length in characters.
pub const CUT_MARKER: &str = "… [cut, ";

fn preview(df: &DataFrame, rows: usize) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let head = df.head(Some(rows));
    let shown = &head.columns()[..head.width().min(PREVIEW_COLUMNS)];
    (0..head.height()).map(|i| shown.iter().map(|column| (column.name().to_string(), json_value(column.get(i).unwrap_or(AnyValue::Null)))).collect()).collect()
}

/// The preview rows within the caps above, whatever wrote them: records
/// stored before the caps existed are cut when read.
pub fn cap_preview(rows: &mut Vec<serde_json::Map<String, serde_json::Value>>, max_rows: usize) {
    rows.truncate(max_rows);
    for row in rows {
        if row.len() > PREVIEW_COLUMNS {
            // The stored order is not the table's (JSON objects are sorted), so which columns stay is arbitrary here.
            let extra: Vec<String> = row.keys().skip(PREVIEW_COLUMNS).cloned().collect();
            extra.iter().for_each(|k| drop(row.remove(k)));
        }
        row.values_mut().for_each(cap_cell);
    }
}

fn cap_cell(value: &mut serde_json::Value) {
    let serde_json::Value::String(text) = value else { return };
    let Some((end, _)) = text.char_indices().nth(PREVIEW_CELL_CHARS) else { return };
    if !text[end..].starts_with(CUT_MARKER) {
        *text = cut_at(text, end);
    }
}

fn json_value(value: AnyValue) -> serde_json::Value {
    use serde_json::Value;
    match value {
        AnyValue::Null => Value::Null,
        AnyValue::Boolean(b) => Value::Bool(b),
        AnyValue::String(s) => text_cell(s),
        AnyValue::StringOwned(s) => text_cell(&s),
        v if v.is_integer() => v.extract::<i64>().map_or(Value::Null, Value::from),
        v if v.is_float() => v.extract::<f64>().filter(|f| f.is_finite()).map_or(Value::Null, Value::from),
        other => text_cell(&other.to_string()),
    }
}

/// A preview cell of text: cut and marked past `PREVIEW_CELL_CHARS`.
fn text_cell(text: &str) -> serde_json::Value {
    serde_json::Value::String(match text.char_indices().nth(PREVIEW_CELL_CHARS) {
        Some((end, _)) => cut_at(text, end),
        None => text.to_string(),
    })
}

/// `text` up to byte `end`, marked as cut, with its full length.
fn cut_at(text: &str, end: usize) -> String {
    format!("{}{CUT_MARKER}{} characters]", &text[..end], text.chars().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_nine_distinct_values_in_ten_known_ones_counted_with_or_without_missing() {
        let column = |distinct: usize, missing: usize| {
            let mut values: Vec<Option<String>> = (0..100).map(|i| Some(format!("v{}", i % distinct))).collect();
            values.extend(std::iter::repeat_n(None, missing));
            Series::new("c".into(), values)
        };
        assert_eq!(kind_of(&column(90, 0)), ColumnKind::Text);
        assert_eq!(kind_of(&column(89, 0)), ColumnKind::Categorical);
        assert_eq!(kind_of(&column(90, 40)), ColumnKind::Text, "missing values are not levels");
        assert_eq!(kind_of(&column(3, 0)), ColumnKind::Categorical);
        // Twenty values or fewer are too few to tell.
        assert_eq!(kind_of(&Series::new("c".into(), (0..20).map(|i| format!("id{i}")).collect::<Vec<_>>())), ColumnKind::Categorical);
    }

    #[test]
    fn previews_are_capped_in_rows_columns_and_characters_and_cut_cells_are_marked() {
        let long = "é".repeat(PREVIEW_CELL_CHARS * 5);
        let columns: Vec<Column> = (0..PREVIEW_COLUMNS + 5).map(|i| Column::new(format!("c{i:03}").into(), vec![long.as_str(); 30])).collect();
        let df = DataFrame::new(30, columns).unwrap();
        let rows = profile(&df, 10).preview;
        assert_eq!((rows.len(), rows[0].len()), (10, PREVIEW_COLUMNS));
        let cell = rows[0]["c000"].as_str().unwrap();
        assert!(cell.starts_with(&long[..PREVIEW_CELL_CHARS * 2]) && cell.ends_with(&format!("{CUT_MARKER}{} characters]", PREVIEW_CELL_CHARS * 5)), "{cell}");

        // A record stored uncapped is cut once, and cutting again changes nothing.
        let mut stored: Vec<serde_json::Map<String, serde_json::Value>> =
            (0..20).map(|_| (0..PREVIEW_COLUMNS + 5).map(|i| (format!("c{i}"), serde_json::json!(long))).collect()).collect();
        cap_preview(&mut stored, 10);
        assert_eq!((stored.len(), stored[0].len()), (10, PREVIEW_COLUMNS));
        let once = stored.clone();
        cap_preview(&mut stored, 10);
        assert_eq!(stored, once);
        assert_eq!(once[0]["c0"].as_str().unwrap(), cell);
    }

    #[test]
    fn date_and_datetime_columns_are_parsed_and_text_that_only_starts_like_dates_stays_text() {
        let mut csv = String::from("day,stamp,almost,level,amount\n");
        for i in 0..300 {
            // `almost` reads as a date for far more than the sample, then holds a word.
            let almost = if i == 250 { "unknown".to_string() } else { format!("2024-02-{:02}", i % 28 + 1) };
            csv += &format!("2024-01-{:02},2024-03-{:02} 10:{:02}:00,{almost},{},{}\n", i % 28 + 1, i % 28 + 1, i % 60, ["a", "b", "c"][i % 3], i);
        }
        csv += ",,,,\n";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, csv).unwrap();
        let df = read_table(&path).unwrap();
        let kinds: Vec<(String, ColumnKind)> = df.columns().iter().map(|c| (c.name().to_string(), kind_of(c.as_materialized_series()))).collect();
        let kind = |name: &str| kinds.iter().find(|(n, _)| n == name).unwrap().1;
        assert_eq!(df.column("day").unwrap().dtype(), &DataType::Date);
        assert!(matches!(df.column("stamp").unwrap().dtype(), DataType::Datetime(..)), "{:?}", df.column("stamp").unwrap().dtype());
        assert_eq!((kind("day"), kind("stamp")), (ColumnKind::Datetime, ColumnKind::Datetime));
        assert_eq!(df.column("almost").unwrap().dtype(), &DataType::String);
        assert_eq!((kind("level"), kind("amount")), (ColumnKind::Categorical, ColumnKind::Numeric));
        // The empty last row is missing everywhere, dates included; the order of columns is kept.
        assert_eq!((df.height(), df.column("day").unwrap().null_count()), (301, 1));
        let names: Vec<&str> = df.get_column_names().iter().map(|n| n.as_str()).collect();
        assert_eq!(names, ["day", "stamp", "almost", "level", "amount"]);
    }
}
