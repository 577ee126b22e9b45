//! Test and example helpers: a small CSV reader that builds the plugin's
//! tables the way the host types columns (numbers, else sorted levels), and
//! parameter lists with the schema's defaults filled in, as the host fills
//! them. Not part of the plugin.
#![allow(dead_code)]

use linear::*;

/// Cells read as missing.
const MISSING: &[&str] = &["", "NA", "nan", "NaN", "?"];

pub struct Csv {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

pub fn read_csv(path: &str) -> Result<Csv, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = split(lines.next().ok_or(format!("{path}: empty"))?);
    let rows: Vec<Vec<String>> = lines.map(split).collect();
    if let Some(i) = rows.iter().position(|r| r.len() != header.len()) {
        return Err(format!("{path}: line {} has {} fields, the header {}", i + 2, rows[i].len(), header.len()));
    }
    Ok(Csv { header, rows })
}

fn split(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    for ch in line.trim_end_matches('\r').chars() {
        match ch {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(String::new()),
            c => out.last_mut().expect("a field").push(c),
        }
    }
    out.into_iter().map(|s| s.trim().to_string()).collect()
}

impl Csv {
    pub fn column(&self, i: usize, categorical: bool) -> ColumnData {
        let cells: Vec<&str> = self.rows.iter().map(|r| r[i].as_str()).collect();
        let numbers: Option<Vec<f64>> = cells.iter().map(|c| if MISSING.contains(c) { Some(f64::NAN) } else { c.parse().ok() }).collect();
        match numbers {
            Some(v) if !categorical => ColumnData::Numeric(v),
            _ => {
                let mut levels: Vec<String> = cells.iter().filter(|c| !MISSING.contains(c)).map(|c| c.to_string()).collect();
                levels.sort();
                levels.dedup();
                let codes = cells.iter().map(|c| levels.iter().position(|l| l == c).map_or(MISSING_CODE, |p| p as u32)).collect();
                ColumnData::Categorical(Categorical { codes, levels })
            }
        }
    }

    pub fn index(&self, name: &str) -> usize {
        self.header.iter().position(|h| h == name).unwrap_or_else(|| panic!("no column {name:?}"))
    }

    /// Every column but the target; `categorical` names columns to read as levels even if numeric.
    pub fn table(&self, target: &str, task: Task, categorical: &[&str]) -> LabelledTable {
        let t = self.index(target);
        let columns = (0..self.header.len())
            .filter(|&i| i != t)
            .map(|i| Column { name: self.header[i].clone(), data: self.column(i, categorical.contains(&self.header[i].as_str())) })
            .collect();
        let features = Table { rows: self.rows.len() as u32, columns };
        LabelledTable { features, target: Some(self.column(t, task == Task::Classification)) }
    }
}

pub fn load(name: &str, target: &str, task: Task, categorical: &[&str]) -> LabelledTable {
    let path = format!("{}/testdata/{name}.csv", env!("CARGO_MANIFEST_DIR"));
    read_csv(&path).expect("test table").table(target, task, categorical)
}

/// Every declared parameter at its default, then the overrides, coerced to the declared kind.
pub fn params(overrides: &[(&str, &str)]) -> Result<Vec<Param>, String> {
    let mut out = Vec::new();
    for spec in info().params {
        let given = overrides.iter().find(|(n, _)| *n == spec.name).map(|(_, v)| *v);
        let bad = |v: &str| format!("{}: bad value {v}", spec.name);
        let value = match (&spec.kind, given) {
            (ParamKind::Int(s), None) => ParamValue::Int(s.default),
            (ParamKind::Float(s), None) => ParamValue::Float(s.default),
            (ParamKind::Boolean(d), None) => ParamValue::Boolean(*d),
            (ParamKind::Choice(s), None) => ParamValue::Choice(s.default.clone()),
            (ParamKind::ChoiceOrNumber(s), None) => ParamValue::Choice(s.default.clone()),
            (ParamKind::Int(_), Some(v)) => ParamValue::Int(v.parse().map_err(|_| bad(v))?),
            (ParamKind::Float(_), Some(v)) => ParamValue::Float(v.parse().map_err(|_| bad(v))?),
            (ParamKind::Boolean(_), Some(v)) => ParamValue::Boolean(v.parse().map_err(|_| bad(v))?),
            (ParamKind::Choice(_) | ParamKind::ChoiceOrNumber(_), Some(v)) => ParamValue::Choice(v.to_string()),
        };
        out.push(Param { name: spec.name.clone(), value });
    }
    match overrides.iter().find(|(n, _)| !out.iter().any(|p| p.name == *n)) {
        Some((n, _)) => Err(format!("unknown parameter {n}")),
        None => Ok(out),
    }
}

pub fn request(task: Task, train: LabelledTable, overrides: &[(&str, &str)]) -> TrainRequest {
    TrainRequest { task, train, validation: None, params: params(overrides).expect("valid test parameters"), seed: 0 }
}

/// Fits without progress reports.
pub fn fit_table(task: Task, train: LabelledTable, overrides: &[(&str, &str)]) -> Fitted {
    linear::fit(&request(task, train, overrides), &mut NoProgress).expect("the fit succeeds")
}

pub fn coefficient<'a>(f: &'a Fitted, term: &str) -> &'a Coefficient {
    f.coefficients.iter().find(|c| c.term == term).unwrap_or_else(|| panic!("no term {term:?}"))
}

pub fn metric(f: &Fitted, name: &str) -> f64 {
    f.model.metrics.iter().find(|m| m.name == name).unwrap_or_else(|| panic!("no metric {name}")).value
}

/// |a - b| within `rel` of |b| (or of 1e-12 near zero).
pub fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-12)
}

#[track_caller]
pub fn assert_close(what: &str, a: f64, b: f64, rel: f64) {
    assert!(close(a, b, rel), "{what}: {a:e} vs expected {b:e} (relative {:e})", (a - b).abs() / b.abs());
}
