//! Test and example helpers: a tiny CSV reader that turns a file into the
//! plugin's tables, and parameter lists with the schema's defaults filled in
//! (as the host does). Not part of the plugin.
#![allow(dead_code)]

use gbdt::*;

/// Cells read as missing in numeric columns.
const MISSING: &[&str] = &["", "NA", "na", "NaN", "nan", "?", "null"];

pub struct Csv {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

pub fn read_csv(path: &str) -> Result<Csv, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = split_line(lines.next().ok_or(format!("{path}: empty file"))?);
    let rows: Vec<Vec<String>> = lines.map(split_line).collect();
    if let Some((i, r)) = rows.iter().enumerate().find(|(_, r)| r.len() != header.len()) {
        return Err(format!("{path}: line {} has {} fields, the header {}", i + 2, r.len(), header.len()));
    }
    Ok(Csv { header, rows })
}

/// Splits on commas, honouring double quotes (no escaped quotes inside).
fn split_line(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    for ch in line.trim_end_matches('\r').chars() {
        match ch {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(String::new()),
            c => out.last_mut().expect("one field").push(c),
        }
    }
    out.into_iter().map(|s| s.trim().to_string()).collect()
}

/// Numeric if every present cell parses as a number, else categorical with
/// levels sorted (so codes do not depend on row order).
pub fn column_data(cells: &[&str], force_categorical: bool) -> ColumnData {
    let numbers: Option<Vec<f64>> = cells.iter().map(|c| if MISSING.contains(c) { Some(f64::NAN) } else { c.parse().ok() }).collect();
    match numbers {
        Some(v) if !force_categorical => ColumnData::Numeric(v),
        _ => {
            let mut levels: Vec<String> = cells.iter().filter(|c| !c.is_empty()).map(|c| c.to_string()).collect();
            levels.sort();
            levels.dedup();
            let codes = cells.iter().map(|c| levels.binary_search_by(|l| l.as_str().cmp(c)).map_or(MISSING_CODE, |i| i as u32)).collect();
            ColumnData::Categorical(Categorical { codes, levels })
        }
    }
}

impl Csv {
    pub fn column(&self, i: usize, force_categorical: bool) -> ColumnData {
        let cells: Vec<&str> = self.rows.iter().map(|r| r[i].as_str()).collect();
        column_data(&cells, force_categorical)
    }

    pub fn index(&self, name: &str) -> Result<usize, String> {
        self.header.iter().position(|h| h == name).ok_or(format!("no column {name:?} in {:?}", self.header))
    }

    /// Every column but `target` as features.
    pub fn features(&self, target: Option<usize>) -> Table {
        let columns =
            (0..self.header.len()).filter(|&i| Some(i) != target).map(|i| Column { name: self.header[i].clone(), data: self.column(i, false) }).collect();
        Table { rows: self.rows.len() as u32, columns }
    }

    pub fn labelled(&self, target: &str, task: Task) -> Result<LabelledTable, String> {
        let t = self.index(target)?;
        let data = self.column(t, task == Task::Classification);
        Ok(LabelledTable { features: self.features(Some(t)), target: Some(data) })
    }
}

fn take_column(data: &ColumnData, rows: &[usize]) -> ColumnData {
    match data {
        ColumnData::Numeric(v) => ColumnData::Numeric(rows.iter().map(|&r| v[r]).collect()),
        ColumnData::Categorical(c) => ColumnData::Categorical(Categorical { codes: rows.iter().map(|&r| c.codes[r]).collect(), levels: c.levels.clone() }),
    }
}

/// The given rows of a table (levels kept whole).
pub fn take_rows(t: &LabelledTable, rows: &[usize]) -> LabelledTable {
    let columns = t.features.columns.iter().map(|c| Column { name: c.name.clone(), data: take_column(&c.data, rows) }).collect();
    LabelledTable { features: Table { rows: rows.len() as u32, columns }, target: t.target.as_ref().map(|d| take_column(d, rows)) }
}

/// Every declared parameter at its default, then the overrides, coerced to
/// the declared kind (as the host validates and fills them).
pub fn params(overrides: &[(&str, &str)]) -> Result<Vec<Param>, String> {
    let mut out = Vec::new();
    for spec in info().params {
        let given = overrides.iter().find(|(n, _)| *n == spec.name).map(|(_, v)| *v);
        let value = match (&spec.kind, given) {
            (ParamKind::Int(s), None) => ParamValue::Int(s.default),
            (ParamKind::Float(s), None) => ParamValue::Float(s.default),
            (ParamKind::Boolean(d), None) => ParamValue::Boolean(*d),
            (ParamKind::Choice(s), None) => ParamValue::Choice(s.default.clone()),
            (ParamKind::ChoiceOrNumber(s), None) => ParamValue::Choice(s.default.clone()),
            (ParamKind::Int(_), Some(v)) => ParamValue::Int(v.parse().map_err(|_| format!("{}: not an integer: {v}", spec.name))?),
            (ParamKind::Float(_), Some(v)) => ParamValue::Float(v.parse().map_err(|_| format!("{}: not a number: {v}", spec.name))?),
            (ParamKind::Boolean(_), Some(v)) => ParamValue::Boolean(v.parse().map_err(|_| format!("{}: not true/false: {v}", spec.name))?),
            (ParamKind::Choice(_), Some(v)) => ParamValue::Choice(v.to_string()),
            (ParamKind::ChoiceOrNumber(_), Some(v)) => v.parse().map_or(ParamValue::Choice(v.to_string()), ParamValue::Float),
        };
        out.push(Param { name: spec.name.clone(), value });
    }
    if let Some((n, _)) = overrides.iter().find(|(n, _)| !out.iter().any(|p| p.name == *n)) {
        return Err(format!("unknown parameter {n}"));
    }
    Ok(out)
}

pub fn request(task: Task, train: LabelledTable, overrides: &[(&str, &str)], seed: u64) -> TrainRequest {
    TrainRequest { task, train, validation: None, params: params(overrides).expect("valid test parameters"), seed }
}
