//! How large a table is once decoded, told before it is decoded: from the
//! Parquet footer (row counts, columns, values and uncompressed bytes per
//! column chunk), or from one streaming pass over a CSV file (rows and
//! columns, nothing kept). And the same figures of a decoded table, for the
//! check after reading (a footer can lie).
//!
//! Owns these figures and their comparison with `TableLimits`. It must not
//! decode a table: `ingest` does, once the figures allow it.

use std::io::Read;
use std::path::Path;

use polars::prelude::*;

use super::{DataError, TableFormat};
use crate::config::TableLimits;

const MIB: u64 = 1 << 20;

/// What a table costs the host once decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableSize {
    pub rows: u64,
    pub columns: u64,
    /// Rows × columns, or the values of nested columns if there are more.
    pub cells: u64,
    /// The decoded table in memory (an estimate before decoding).
    pub bytes: u64,
}

impl TableSize {
    /// Refuses a table past either limit, naming the limit, its value and this table's figure.
    pub fn check(&self, limits: &TableLimits) -> Result<(), DataError> {
        if self.cells > limits.max_table_cells {
            let figure = format!("{} rows × {} columns = {} cells", self.rows, self.columns, self.cells);
            return Err(DataError::TooLarge { limit: "limits.max_table_cells", allowed: limits.max_table_cells.to_string(), figure });
        }
        if self.bytes > limits.max_table_mib.saturating_mul(MIB) {
            let figure = format!("{} MiB once decoded ({} rows × {} columns)", self.bytes.div_ceil(MIB), self.rows, self.columns);
            return Err(DataError::TooLarge { limit: "limits.max_table_mib", allowed: format!("{} MiB", limits.max_table_mib), figure });
        }
        Ok(())
    }
}

fn unreadable(e: impl std::fmt::Display) -> DataError {
    DataError::Read(e.to_string())
}

/// The figures of a table file, without decoding its values.
pub fn measure(path: &Path) -> Result<TableSize, DataError> {
    match TableFormat::of_file(path) {
        TableFormat::Parquet => measure_parquet(path),
        TableFormat::Csv => measure_csv(path),
    }
}

/// Bytes one decoded value takes, and whether the column also holds its
/// values' bytes (text, binary, nested), which the uncompressed size tells.
fn value_width(dtype: &ArrowDataType) -> (u64, bool) {
    use ArrowDataType as A;
    match dtype {
        A::Boolean => (1, false),
        A::Utf8 | A::LargeUtf8 | A::Utf8View | A::Binary | A::LargeBinary | A::BinaryView | A::FixedSizeBinary(_) => (16, true),
        A::List(_) | A::LargeList(_) | A::FixedSizeList(_, _) | A::Struct(_) | A::Map(_, _) => (16, true),
        _ => (8, false),
    }
}

fn measure_parquet(path: &Path) -> Result<TableSize, DataError> {
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let mut reader = ParquetReader::new(file);
    let schema = reader.schema().map_err(unreadable)?;
    let metadata = reader.get_metadata().map_err(unreadable)?;
    let group_rows: u64 = metadata.row_groups.iter().map(|g| g.num_rows() as u64).sum();
    let rows = (metadata.num_rows as u64).max(group_rows);
    let columns = schema.len() as u64;
    let (mut values, mut bytes) = (0u64, 0u64);
    for field in schema.iter_values() {
        let (width, carries_bytes) = value_width(field.dtype());
        for chunk in metadata.row_groups.iter().filter_map(|g| g.columns_under_root_iter(&field.name)).flatten() {
            let chunk_values = u64::try_from(chunk.num_values()).unwrap_or(0);
            let chunk_bytes = if carries_bytes { u64::try_from(chunk.uncompressed_size()).unwrap_or(0) } else { 0 };
            values = values.saturating_add(chunk_values);
            bytes = bytes.saturating_add(chunk_values.saturating_mul(width)).saturating_add(chunk_bytes);
        }
    }
    let cells = rows.saturating_mul(columns).max(values);
    Ok(TableSize { rows, columns, cells, bytes: bytes.max(rows.saturating_mul(columns)) })
}

/// One pass over the bytes: the header's fields are the columns, every
/// further non-empty line a row (a line break inside quotes is not one).
fn measure_csv(path: &Path) -> Result<TableSize, DataError> {
    let mut file = std::fs::File::open(path).map_err(unreadable)?;
    let mut scan = CsvScan::default();
    let mut buffer = vec![0u8; 1 << 16];
    loop {
        let read = file.read(&mut buffer).map_err(unreadable)?;
        if read == 0 {
            break;
        }
        buffer[..read].iter().for_each(|&byte| scan.feed(byte));
    }
    scan.end_line();
    let (rows, columns) = (scan.rows, scan.header_fields);
    let cells = rows.saturating_mul(columns);
    // A decoded value takes 8 bytes (a number, or a text's view and offset) plus its text.
    Ok(TableSize { rows, columns, cells, bytes: cells.saturating_mul(8).saturating_add(scan.bytes) })
}

#[derive(Default)]
struct CsvScan {
    bytes: u64,
    header_fields: u64,
    header_done: bool,
    rows: u64,
    in_quotes: bool,
    /// A quote just closed: a second one is an escaped quote inside the field.
    quote_closed: bool,
    at_field_start: bool,
    fields_in_line: u64,
    line_has_content: bool,
}

impl CsvScan {
    fn feed(&mut self, byte: u8) {
        self.bytes += 1;
        if self.in_quotes {
            if byte == b'"' {
                self.in_quotes = false;
                self.quote_closed = true;
            }
            return;
        }
        if byte == b'"' && (self.at_field_start || self.quote_closed) {
            self.in_quotes = true;
            self.quote_closed = false;
            self.at_field_start = false;
            self.line_has_content = true;
            return;
        }
        self.quote_closed = false;
        match byte {
            b'\n' => self.end_line(),
            b',' => {
                self.fields_in_line += 1;
                self.at_field_start = true;
                self.line_has_content = true;
            }
            b'\r' => {}
            _ => {
                self.at_field_start = false;
                self.line_has_content = true;
            }
        }
    }

    fn end_line(&mut self) {
        if self.line_has_content {
            if self.header_done {
                self.rows += 1;
            } else {
                self.header_fields = self.fields_in_line + 1;
                self.header_done = true;
            }
        }
        self.fields_in_line = 0;
        self.at_field_start = true;
        self.line_has_content = false;
    }
}

/// The figures of a decoded table. Text counts the bytes of every value, as
/// encoding it copies each one, even where the reader shares a dictionary.
pub fn decoded(df: &DataFrame) -> TableSize {
    let rows = df.height() as u64;
    let columns = df.width() as u64;
    let bytes = df
        .columns()
        .iter()
        .map(|column| {
            let series = column.as_materialized_series();
            match series.str() {
                Ok(text) => rows.saturating_mul(16).saturating_add(text.iter().map(|v| v.map_or(0, str::len) as u64).sum::<u64>()),
                Err(_) => series.estimated_size() as u64,
            }
        })
        .fold(0u64, u64::saturating_add);
    TableSize { rows, columns, cells: rows.saturating_mul(columns), bytes }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(text: &str) -> TableSize {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, text).unwrap();
        measure(&path).unwrap()
    }

    #[test]
    fn csv_rows_and_columns_are_counted_without_quoted_line_breaks() {
        let size = csv("a,b,\"c,d\"\n1,\"two\nlines\",3\n\n4,\"say \"\"hi\"\"\n\",6\r\n7,8,9");
        assert_eq!((size.rows, size.columns, size.cells), (3, 3, 9));
        assert_eq!(csv("").cells, 0);
        assert_eq!(csv("x\n1\n2\n").rows, 2);
    }

    #[test]
    fn the_testdata_tables_are_measured_as_they_decode() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata");
        for name in ["iris.csv", "penguins.csv", "titanic.csv", "solar_flare.csv"] {
            let path = dir.join(name);
            let table = crate::data::read_table(&path).unwrap();
            let (before, after) = (measure(&path).unwrap(), decoded(&table));
            assert_eq!((before.rows, before.columns), (after.rows, after.columns), "{name}");
            assert!(before.check(&TableLimits::default()).is_ok() && after.check(&TableLimits::default()).is_ok(), "{name}");
        }
    }

    #[test]
    fn a_parquet_footer_tells_rows_columns_and_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let mut df = df!("x" => (0..1000).map(f64::from).collect::<Vec<_>>(), "s" => vec!["abc"; 1000]).unwrap();
        ParquetWriter::new(std::fs::File::create(&path).unwrap()).finish(&mut df).unwrap();
        let size = measure(&path).unwrap();
        assert_eq!((size.rows, size.columns, size.cells), (1000, 2, 2000));
        assert!(size.bytes >= 1000 * 8 + 1000 * 16, "{size:?}");
        let small = TableLimits { max_table_cells: 1999, max_table_mib: 1, ..TableLimits::default() };
        let err = size.check(&small).unwrap_err().to_string();
        assert!(err.contains("limits.max_table_cells") && err.contains("1999") && err.contains("2000 cells"), "{err}");
    }
}
