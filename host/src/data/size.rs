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

use polars::io::parquet::metadata::FileMetadata;
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
        TableFormat::Parquet => super::ingest::contain_reader_panic(|| measure_parquet(path)),
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
    check_parquet_footer(&mut std::fs::File::open(path).map_err(unreadable)?)?;
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
    let paged = check_parquet_pages(&mut std::fs::File::open(path).map_err(unreadable)?, metadata)?;
    Ok(TableSize { rows, columns, cells, bytes: bytes.max(rows.saturating_mul(columns)).max(paged) })
}

/// Decodes the footer with a thrift reader that charges every list against the
/// footer's own size before polars reads it: polars' footer reader reserves
/// whatever length a list declares, and one declaring 141 GB aborted the
/// process (found by the `parquet_ingest` fuzz target). Each element is charged
/// a word, so the slack covers honest footers of small elements.
fn check_parquet_footer(file: &mut std::fs::File) -> Result<(), DataError> {
    use polars_parquet_format::thrift::protocol::TCompactInputProtocol;
    use std::io::{Seek, SeekFrom};
    let malformed = |why: &str| DataError::Read(format!("the Parquet footer is malformed ({why}); write the file again"));
    let file_len = file.metadata().map_err(unreadable)?.len();
    let mut tail = [0u8; 8];
    file.seek(SeekFrom::End(-8)).and_then(|_| file.read_exact(&mut tail)).map_err(|_| malformed("the file is too short"))?;
    let footer_len = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if &tail[4..] != b"PAR1" || footer_len + 12 > file_len {
        return Err(malformed("its length does not fit the file"));
    }
    let mut footer = Vec::new();
    file.seek(SeekFrom::Start(file_len - 8 - footer_len)).map_err(unreadable)?;
    file.by_ref().take(footer_len).read_to_end(&mut footer).map_err(unreadable)?;
    let budget = footer.len().saturating_mul(32).max(1 << 16);
    let mut protocol = TCompactInputProtocol::new(footer.as_slice(), budget);
    polars_parquet_format::FileMetaData::read_from_in_protocol(&mut protocol).map_err(|e| malformed(&e.to_string()))?;
    Ok(())
}

/// Reads every page header (not the pages) and refuses a file whose headers
/// contradict its footer: a page of negative or more values than its column
/// chunk holds, or of a negative size. The decoder sizes its buffers from these
/// headers, so one lying header would otherwise ask the allocator for exabytes
/// and abort the process (found by the `parquet_ingest` fuzz target). Returns
/// the uncompressed bytes the pages declare, a floor for the decoded size.
fn check_parquet_pages(file: &mut std::fs::File, metadata: &FileMetadata) -> Result<u64, DataError> {
    use std::io::{Seek, SeekFrom};
    let file_len = file.metadata().map_err(unreadable)?.len();
    let mut declared = 0u64;
    for (group, row_group) in metadata.row_groups.iter().enumerate() {
        for chunk in row_group.parquet_columns() {
            let column = chunk.descriptor().path_in_schema.join(".");
            let range = chunk.byte_range();
            let (start, end) = (range.start.min(file_len), range.end.min(file_len));
            let mut bytes = Vec::new();
            file.seek(SeekFrom::Start(start)).map_err(unreadable)?;
            file.by_ref().take(end - start).read_to_end(&mut bytes).map_err(unreadable)?;
            let chunk_values = u64::try_from(chunk.num_values()).unwrap_or(0);
            declared =
                declared
                    .saturating_add(check_chunk_pages(&bytes, chunk_values).map_err(|why| {
                        DataError::Read(format!("Parquet column `{column}` (row group {group}): {why}; the file is corrupt, write it again"))
                    })?);
        }
    }
    Ok(declared)
}

/// The page headers of one column chunk's bytes, up to the chunk's value count.
fn check_chunk_pages(bytes: &[u8], chunk_values: u64) -> Result<u64, String> {
    use polars_parquet_format::thrift::protocol::TCompactInputProtocol;
    let mut cursor = std::io::Cursor::new(bytes);
    let (mut seen, mut declared) = (0u64, 0u64);
    while seen < chunk_values && (cursor.position() as usize) < bytes.len() {
        let left = bytes.len() - cursor.position() as usize;
        let mut protocol = TCompactInputProtocol::new(&mut cursor, left);
        let header = polars_parquet_format::PageHeader::read_from_in_protocol(&mut protocol).map_err(|e| format!("unreadable page header ({e})"))?;
        let count = |n: i32, what: &str| u64::try_from(n).map_err(|_| format!("a page header declares {n} {what}"));
        let uncompressed = count(header.uncompressed_page_size, "bytes uncompressed")?;
        let compressed = count(header.compressed_page_size, "bytes compressed")?;
        let values = match (&header.data_page_header, &header.data_page_header_v2, &header.dictionary_page_header) {
            (Some(v1), _, _) => count(v1.num_values, "values")?,
            (None, Some(v2), _) => count(v2.num_values, "values")?,
            (None, None, Some(dict)) if count(dict.num_values, "dictionary entries")? > chunk_values.max(1) => {
                return Err(format!("a dictionary page declares {} entries for a chunk of {chunk_values} values", dict.num_values));
            }
            _ => 0,
        };
        seen = seen.saturating_add(values);
        if seen > chunk_values {
            return Err(format!("its pages declare at least {seen} values, its footer {chunk_values}"));
        }
        declared = declared.saturating_add(uncompressed);
        cursor.set_position(cursor.position().saturating_add(compressed));
    }
    Ok(declared)
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
        scan.feed_block(&buffer[..read]);
    }
    scan.end_line();
    let (rows, columns) = (scan.rows, scan.header_fields);
    let cells = rows.saturating_mul(columns);
    // A decoded value takes 8 bytes (a number, or a text's view and offset) plus its text.
    Ok(TableSize { rows, columns, cells, bytes: cells.saturating_mul(8).saturating_add(scan.bytes) })
}

#[derive(Debug, Default, Clone, PartialEq)]
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
    /// `feed` of every byte, in order. Past the header, a block without a
    /// quote (outside quotes) only has its line ends to count: they are found
    /// with memchr's SIMD search instead of one state change per byte (the
    /// byte loop took half as long as polars' whole parse of the same file).
    fn feed_block(&mut self, block: &[u8]) {
        if self.header_done && !self.in_quotes && memchr::memchr(b'"', block).is_none() {
            self.feed_unquoted(block);
        } else {
            block.iter().for_each(|&byte| self.feed(byte));
        }
    }

    /// The state `feed` would leave, for a block holding no quote.
    fn feed_unquoted(&mut self, block: &[u8]) {
        let content = |part: &[u8]| part.iter().any(|&b| b != b'\r');
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', block) {
            self.line_has_content |= content(&block[start..end]);
            self.end_line();
            start = end + 1;
        }
        let tail = &block[start..];
        self.line_has_content |= content(tail);
        if let Some(&last) = tail.iter().rev().find(|&&b| b != b'\r') {
            self.at_field_start = last == b',';
        }
        self.fields_in_line += tail.iter().filter(|&&b| b == b',').count() as u64;
        self.bytes += block.len() as u64;
        if !block.is_empty() {
            self.quote_closed = false;
        }
    }

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
    fn the_block_scan_leaves_the_state_the_byte_scan_does() {
        // Random text over the bytes that matter, cut into random blocks.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for case in 0..400 {
            let alphabet: &[u8] = if case % 2 == 0 { b"ab,\n\r\"" } else { b"ab,,\n\n\r" };
            let text: Vec<u8> = (0..next(300)).map(|_| alphabet[next(alphabet.len() as u64) as usize]).collect();
            let mut bytewise = CsvScan::default();
            text.iter().for_each(|&b| bytewise.feed(b));
            let mut blockwise = CsvScan::default();
            let mut rest = text.as_slice();
            while !rest.is_empty() {
                let (block, tail) = rest.split_at((next(40) as usize + 1).min(rest.len()));
                blockwise.feed_block(block);
                rest = tail;
            }
            assert_eq!(blockwise, bytewise, "case {case}: {:?}", String::from_utf8_lossy(&text));
        }
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

    #[test]
    fn a_parquet_page_header_that_contradicts_its_footer_is_refused_before_decoding() {
        // Found by the parquet_ingest fuzz target: a data page declaring a negative
        // value count made the decoder ask for 2^61 bytes, which aborts the process.
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/hostile/page-with-negative-value-count.parquet");
        let err = measure(&path).unwrap_err().to_string();
        assert!(err.contains("Parquet column") && err.contains("a page header declares -") && err.contains("corrupt"), "{err}");
        let err = crate::data::read_table_within(&path, &TableLimits::default()).unwrap_err().to_string();
        assert!(err.contains("page header"), "{err}");
    }

    #[test]
    fn honest_parquet_pages_pass_and_floor_the_decoded_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.parquet");
        let mut df = df!("x" => (0..5000).map(f64::from).collect::<Vec<_>>(), "s" => (0..5000).map(|i| format!("v{}", i % 7)).collect::<Vec<_>>()).unwrap();
        ParquetWriter::new(std::fs::File::create(&path).unwrap()).with_row_group_size(Some(1000)).finish(&mut df).unwrap();
        let mut file = std::fs::File::open(&path).unwrap();
        let metadata = ParquetReader::new(std::fs::File::open(&path).unwrap()).get_metadata().unwrap().clone();
        let declared = check_parquet_pages(&mut file, &metadata).unwrap();
        assert!(declared >= 5000 * 8, "the numeric column's pages alone hold 40,000 bytes: {declared}");
        assert_eq!(crate::data::read_table(&path).unwrap().height(), 5000);
    }

    #[test]
    fn a_parquet_footer_that_panics_its_reader_is_refused() {
        // Found by the parquet_ingest fuzz target: polars' footer reader `expect`s
        // a well-formed thrift bool in column statistics and panicked on this file.
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/hostile/footer-with-malformed-statistics.parquet");
        let err = measure(&path).unwrap_err().to_string();
        assert!(err.contains("malformed"), "{err}");
        let err = crate::data::read_table(&path).unwrap_err().to_string();
        assert!(err.contains("malformed"), "{err}");
    }

    #[test]
    fn a_parquet_footer_declaring_a_list_larger_than_itself_is_refused() {
        // Found by the parquet_ingest fuzz target: a footer list declaring 141 GB of
        // elements made polars' footer reader ask for them at once and abort.
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/hostile/footer-with-huge-list.parquet");
        let err = measure(&path).unwrap_err().to_string();
        assert!(err.contains("malformed"), "{err}");
        for name in ["iris.csv", "penguins.csv"] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("t.parquet");
            let mut df = crate::data::read_table(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata").join(name)).unwrap();
            ParquetWriter::new(std::fs::File::create(&path).unwrap()).with_row_group_size(Some(7)).finish(&mut df).unwrap();
            assert_eq!(measure(&path).unwrap().rows, df.height() as u64, "an honest footer of many row groups passes: {name}");
        }
    }
}
