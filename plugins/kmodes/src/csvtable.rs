//! A minimal CSV reader for the native example binary and the tests (the host
//! has its own loader; this one only has to agree with it on column kinds: a
//! column is numeric when every known value parses as a number).

use trainhost_sdk::*;

/// Tokens read as a missing value. "?" is how UCI files (heart_disease) mark one.
pub const MISSING_TOKENS: &[&str] = &["", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "?"];

pub struct CsvTable {
    pub names: Vec<String>,
    /// Column-major cells; None = missing.
    pub columns: Vec<Vec<Option<String>>>,
}

pub fn parse(text: &str) -> Result<CsvTable, String> {
    let mut records = split_records(text).into_iter();
    let names = records.next().ok_or("empty CSV: no header")?;
    let mut columns: Vec<Vec<Option<String>>> = vec![vec![]; names.len()];
    for (line, record) in records.enumerate() {
        if record.len() == 1 && record[0].is_empty() {
            continue; // blank line
        }
        if record.len() != names.len() {
            return Err(format!("row {} has {} fields, the header has {}", line + 2, record.len(), names.len()));
        }
        for (column, cell) in columns.iter_mut().zip(record) {
            let missing = MISSING_TOKENS.contains(&cell.trim());
            column.push(if missing { None } else { Some(cell) });
        }
    }
    Ok(CsvTable { names, columns })
}

/// Records of fields, with RFC 4180 quoting ("" inside quotes is one quote).
fn split_records(text: &str) -> Vec<Vec<String>> {
    let mut records = vec![];
    let (mut record, mut field) = (vec![], String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(ch) = chars.next() {
        match (ch, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => record.push(std::mem::take(&mut field)),
            ('\r', false) => {}
            ('\n', false) => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (c, _) => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    records
}

impl CsvTable {
    pub fn column(&self, name: &str) -> Option<&Vec<Option<String>>> {
        self.names.iter().position(|n| n == name).map(|i| &self.columns[i])
    }

    /// The feature table, leaving out `exclude` (e.g. a label column).
    pub fn to_table(&self, exclude: &[&str]) -> Table {
        let columns = self
            .names
            .iter()
            .zip(&self.columns)
            .filter(|(name, _)| !exclude.contains(&name.as_str()))
            .map(|(name, cells)| Column { name: name.clone(), data: column_data(cells) })
            .collect();
        Table { rows: self.columns.first().map_or(0, |c| c.len()) as u32, columns }
    }
}

/// Numeric when every known cell parses; otherwise categorical with sorted levels
/// (the order `np.unique` gives, so mode ties break as in the `kmodes` package).
fn column_data(cells: &[Option<String>]) -> ColumnData {
    let parsed: Option<Vec<f64>> = cells
        .iter()
        .map(|c| match c {
            None => Some(f64::NAN),
            Some(s) => s.trim().parse::<f64>().ok(),
        })
        .collect();
    if let Some(values) = parsed {
        return ColumnData::Numeric(values);
    }
    let mut levels: Vec<String> = cells.iter().flatten().cloned().collect();
    levels.sort();
    levels.dedup();
    let codes = cells.iter().map(|c| c.as_ref().map_or(MISSING_CODE, |s| levels.binary_search(s).expect("level") as u32)).collect();
    ColumnData::Categorical(Categorical { codes, levels })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_missing_tokens_and_kinds() {
        let csv = parse("a,b,c\n1,\"x,y\",?\n2.5,z,q\r\nNA,\"say \"\"hi\"\"\",q\n").unwrap();
        let table = csv.to_table(&["c"]);
        assert_eq!(table.rows, 3);
        assert_eq!(table.columns.len(), 2);
        match &table.columns[0].data {
            ColumnData::Numeric(v) => assert!(v[0] == 1.0 && v[1] == 2.5 && v[2].is_nan()),
            other => panic!("{other:?}"),
        }
        match &table.columns[1].data {
            ColumnData::Categorical(c) => {
                assert_eq!(c.levels, vec!["say \"hi\"", "x,y", "z"]);
                assert_eq!(c.codes, vec![1, 2, 0]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(csv.column("c").unwrap()[0], None);
        assert!(parse("a,b\n1\n").is_err());
    }
}
