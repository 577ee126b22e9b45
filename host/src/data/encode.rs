//! From polars columns to the plugin's columnar table, and back to labels.
//!
//! An `Encoding` is fitted once on the training file and stored with the model,
//! so predictions on a new file use the same columns, the same category codes
//! and the same target levels.

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::ingest::{ColumnKind, ColumnProfile};
use super::roles::{ColumnChoices, ColumnRole};
use super::DataError;
use crate::contract::{self, Task, MISSING_CODE};

/// How one feature column is turned into plugin input.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FeatureEncoding {
    pub name: String,
    pub kind: ColumnKind,
    /// Category levels, in code order (empty for numeric and datetime columns).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub levels: Vec<String>,
}

impl FeatureEncoding {
    /// Whether the column is given as category codes (else as numbers).
    fn is_coded(&self) -> bool {
        !matches!(self.kind, ColumnKind::Numeric | ColumnKind::Datetime)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TargetEncoding {
    pub name: String,
    /// Class labels in code order, for classification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub levels: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SkippedColumn {
    pub name: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Encoding {
    pub task: String,
    pub features: Vec<FeatureEncoding>,
    pub target: Option<TargetEncoding>,
    pub skipped: Vec<SkippedColumn>,
}

/// One encoded column: numbers with NaN for missing, or codes with `MISSING_CODE`.
#[derive(Debug, Clone, PartialEq)]
pub enum EncodedColumn {
    Numeric(Vec<f64>),
    Codes(Vec<u32>),
}

impl EncodedColumn {
    fn take(&self, rows: &[usize]) -> EncodedColumn {
        match self {
            EncodedColumn::Numeric(v) => EncodedColumn::Numeric(gather(v, rows)),
            EncodedColumn::Codes(v) => EncodedColumn::Codes(gather(v, rows)),
        }
    }

    fn is_missing(&self, row: usize) -> bool {
        match self {
            EncodedColumn::Numeric(v) => !v[row].is_finite(),
            EncodedColumn::Codes(v) => v[row] == MISSING_CODE,
        }
    }
}

/// Feature columns (in `Encoding::features` order) plus the target, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedTable {
    pub rows: usize,
    pub features: Vec<EncodedColumn>,
    pub target: Option<EncodedColumn>,
}

impl EncodedTable {
    pub fn take(&self, rows: &[usize]) -> EncodedTable {
        EncodedTable { rows: rows.len(), features: self.features.iter().map(|c| c.take(rows)).collect(), target: self.target.as_ref().map(|c| c.take(rows)) }
    }

    /// The rows `rows` (in table order, as the split gives them) as a view
    /// that copies nothing: the plugin's tables are gathered from it straight
    /// into the contract (`Encoding::part_to_contract`), and only its target
    /// is copied, for the metrics. `rows` covering the table is the table itself.
    pub fn part<'a>(&'a self, rows: &'a [usize]) -> TablePart<'a> {
        debug_assert!(rows.windows(2).all(|w| w[0] < w[1]) && rows.last().is_none_or(|&last| last < self.rows));
        TablePart { table: self, rows: (rows.len() != self.rows).then_some(rows) }
    }

    /// Every row, as a part.
    pub fn whole(&self) -> TablePart<'_> {
        TablePart { table: self, rows: None }
    }

    /// Class codes of the target, for stratification and metrics.
    pub fn target_codes(&self) -> Option<&[u32]> {
        match &self.target {
            Some(EncodedColumn::Codes(codes)) => Some(codes),
            _ => None,
        }
    }

    pub fn target_values(&self) -> Option<&[f64]> {
        match &self.target {
            Some(EncodedColumn::Numeric(values)) => Some(values),
            _ => None,
        }
    }
}

/// Some rows of an `EncodedTable`, by index, or all of them (`rows: None`).
#[derive(Debug, Clone, Copy)]
pub struct TablePart<'a> {
    table: &'a EncodedTable,
    rows: Option<&'a [usize]>,
}

/// A whole table as a part (what the metrics of a table of its own are computed on).
impl<'a> From<&'a EncodedTable> for TablePart<'a> {
    fn from(table: &'a EncodedTable) -> TablePart<'a> {
        table.whole()
    }
}

impl<'a> TablePart<'a> {
    /// How many rows the part has.
    pub fn rows(&self) -> usize {
        self.rows.map_or(self.table.rows, <[usize]>::len)
    }

    /// The part's rows of one column: borrowed when the part is the whole table.
    fn column<T: Copy>(&self, values: &'a [T]) -> std::borrow::Cow<'a, [T]> {
        match self.rows {
            None => std::borrow::Cow::Borrowed(values),
            Some(rows) => std::borrow::Cow::Owned(gather(values, rows)),
        }
    }

    /// Class codes of the target of these rows (see `EncodedTable::target_codes`).
    pub fn target_codes(&self) -> Option<std::borrow::Cow<'a, [u32]>> {
        self.table.target_codes().map(|codes| self.column(codes))
    }

    /// Numeric target values of these rows (see `EncodedTable::target_values`).
    pub fn target_values(&self) -> Option<std::borrow::Cow<'a, [f64]>> {
        self.table.target_values().map(|values| self.column(values))
    }

    /// The rows as a table of their own: the table itself when the part is
    /// all of it (clustering, which is never split), else a copy.
    pub fn to_table(&self) -> std::borrow::Cow<'a, EncodedTable> {
        match self.rows {
            None => std::borrow::Cow::Borrowed(self.table),
            Some(rows) => std::borrow::Cow::Owned(self.table.take(rows)),
        }
    }
}

/// `values` at `rows`, in that order.
fn gather<T: Copy>(values: &[T], rows: &[usize]) -> Vec<T> {
    let mut out = Vec::with_capacity(rows.len());
    out.extend(rows.iter().map(|&i| values[i]));
    out
}

fn series<'a>(df: &'a DataFrame, name: &str) -> Result<&'a Series, DataError> {
    df.column(name).map(|c| c.as_materialized_series()).map_err(|_| DataError::MissingColumn(name.to_string()))
}

/// Sorted distinct non-missing values of a column, as text. Deduplicated
/// through a set first, so the (costly, text-parsing) sort sees each level once
/// rather than every row.
fn levels_of(series: &Series) -> Result<Vec<String>, DataError> {
    let text = text_column(series)?;
    let ca = text.str().map_err(|e| DataError::Invalid(e.to_string()))?;
    let distinct: foldhash::HashSet<&str> = ca.iter().flatten().map(str::trim).filter(|s| !s.is_empty()).collect();
    let mut levels: Vec<String> = distinct.into_iter().map(str::to_string).collect();
    levels.sort_by(|a, b| natural_order(a, b));
    Ok(levels)
}

/// Numbers sort as numbers ("2" before "10") and before every other level,
/// which sorts as text; equal numbers written differently ("1", "1.0") by their
/// text. A total order, as `sort_by` requires: comparing numbers as numbers
/// only when both parse made "10" < "1a" < "2" < "10" a cycle, which panics the
/// sort (found by the `csv_ingest` fuzz target).
fn natural_order(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.total_cmp(&y).then_with(|| a.cmp(b)),
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Err(_), Err(_)) => a.cmp(b),
    }
}

fn text_column(series: &Series) -> Result<Series, DataError> {
    series.cast(&DataType::String).map_err(|e| DataError::Invalid(e.to_string()))
}

/// Every value as a float, NaN for missing; dates and times as seconds.
/// Read chunk by chunk from polars' arrays (a slice copy where no value is
/// missing), not value by value through an iterator.
fn numeric_values(series: &Series) -> Result<Vec<f64>, DataError> {
    let seconds_per_unit = match series.dtype() {
        DataType::Date => Some(86_400.0),
        DataType::Datetime(TimeUnit::Milliseconds, _) => Some(1e-3),
        DataType::Datetime(TimeUnit::Microseconds, _) => Some(1e-6),
        DataType::Datetime(TimeUnit::Nanoseconds, _) => Some(1e-9),
        DataType::Time => Some(1e-9),
        DataType::Duration(_) => Some(1e-6),
        _ => None,
    };
    let physical = if seconds_per_unit.is_some() { series.to_physical_repr().into_owned() } else { series.clone() };
    let floats = physical.cast(&DataType::Float64).map_err(|e| DataError::Invalid(e.to_string()))?;
    let ca = floats.f64().map_err(|e| DataError::Invalid(e.to_string()))?;
    let mut out = Vec::with_capacity(ca.len());
    for array in ca.downcast_iter() {
        let start = out.len();
        out.extend_from_slice(array.values().as_slice());
        if let Some(validity) = array.validity().filter(|v| v.unset_bits() > 0) {
            for (value, valid) in out[start..].iter_mut().zip(validity.iter()) {
                if !valid {
                    *value = f64::NAN;
                }
            }
        }
    }
    if let Some(scale) = seconds_per_unit {
        out.iter_mut().for_each(|v| *v *= scale);
    }
    Ok(out)
}

fn codes(series: &Series, levels: &[String]) -> Result<Vec<u32>, DataError> {
    // foldhash: several times SipHash's speed on short text, seeded at random per
    // process; weaker against crafted keys than SipHash, but a table's levels are
    // bounded by `[limits]` and each is hashed a bounded number of times.
    let index: foldhash::HashMap<&str, u32> = levels.iter().enumerate().map(|(i, l)| (l.as_str(), i as u32)).collect();
    let text = text_column(series)?;
    let ca = text.str().map_err(|e| DataError::Invalid(e.to_string()))?;
    Ok(ca.iter().map(|v| v.and_then(|s| index.get(s.trim()).copied()).unwrap_or(MISSING_CODE)).collect())
}

/// `levels_of` and `codes` in one pass, each cell hashed once: rows are coded
/// in the order their levels first appear, then renumbered into the levels'
/// sorted order (the same levels and codes as the two passes give).
fn levels_and_codes(series: &Series) -> Result<(Vec<String>, Vec<u32>), DataError> {
    let text = text_column(series)?;
    let ca = text.str().map_err(|e| DataError::Invalid(e.to_string()))?;
    let mut first_seen: Vec<&str> = Vec::new();
    let mut index: foldhash::HashMap<&str, u32> = foldhash::HashMap::default();
    let mut codes = Vec::with_capacity(ca.len());
    for value in ca.iter() {
        let code = match value.map(str::trim).filter(|s| !s.is_empty()) {
            None => MISSING_CODE,
            Some(level) => *index.entry(level).or_insert_with(|| {
                first_seen.push(level);
                (first_seen.len() - 1) as u32
            }),
        };
        codes.push(code);
    }
    let mut order: Vec<usize> = (0..first_seen.len()).collect();
    order.sort_by(|&a, &b| natural_order(first_seen[a], first_seen[b]));
    let mut sorted_code = vec![0u32; order.len()];
    for (sorted, &first) in order.iter().enumerate() {
        sorted_code[first] = sorted as u32;
    }
    codes.iter_mut().filter(|c| **c != MISSING_CODE).for_each(|c| *c = sorted_code[*c as usize]);
    Ok((order.iter().map(|&i| first_seen[i].to_string()).collect(), codes))
}

/// `work` on every item, on up to the machine's cores (each thread takes the
/// next item left), the answers in the items' order. The training path's
/// columns are independent, and polars reads the file on every core already.
fn each_on_the_cores<T: Sync, R: Send>(items: &[T], work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(items.len());
    if threads <= 1 {
        return items.iter().map(work).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let span = tracing::Span::current();
    let mut answers: Vec<(usize, R)> = std::thread::scope(|scope| {
        let take = || {
            let _entered = span.enter();
            let mut mine = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(item) = items.get(i) else { return mine };
                mine.push((i, work(item)));
            }
        };
        let handles: Vec<_> = (0..threads).map(|_| scope.spawn(take)).collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))).collect()
    });
    answers.sort_by_key(|(i, _)| *i);
    answers.into_iter().map(|(_, answer)| answer).collect()
}

impl Encoding {
    /// Decides which columns become features and how (by the defaults and the
    /// user's `choices`, see `roles`), and how the target is coded.
    pub fn fit(df: &DataFrame, target: Option<&str>, task: Task, choices: &ColumnChoices) -> Result<Encoding, DataError> {
        let mut encoding = Self::plan(df, target, task, choices)?;
        for feature in encoding.features.iter_mut().filter(|f| f.is_coded()) {
            feature.levels = levels_of(series(df, &feature.name)?)?;
        }
        Ok(encoding)
    }

    /// `fit`, then `encode(df, true)`, in one pass over each column (a
    /// category's cells hashed once, not twice), the columns side by side on
    /// the machine's cores: the training path's. The same encoding and table.
    pub fn fit_encode(df: &DataFrame, target: Option<&str>, task: Task, choices: &ColumnChoices) -> Result<(Encoding, EncodedTable), DataError> {
        let mut encoding = Self::plan(df, target, task, choices)?;
        let encoded = each_on_the_cores(&encoding.features, |f| -> Result<(Vec<String>, EncodedColumn), DataError> {
            let s = series(df, &f.name)?;
            if f.is_coded() {
                let (levels, codes) = levels_and_codes(s)?;
                Ok((levels, EncodedColumn::Codes(codes)))
            } else {
                Ok((Vec::new(), EncodedColumn::Numeric(numeric_values(s)?)))
            }
        });
        let mut features = Vec::with_capacity(encoded.len());
        for (feature, answer) in encoding.features.iter_mut().zip(encoded) {
            let (levels, column) = answer?;
            feature.levels = levels;
            features.push(column);
        }
        let table = encoding.with_target(df, features, true)?;
        Ok((encoding, table))
    }

    /// Which columns become features and as what (categories with their
    /// levels still to find), and the target's coding.
    fn plan(df: &DataFrame, target: Option<&str>, task: Task, choices: &ColumnChoices) -> Result<Encoding, DataError> {
        let target = match (task, target.map(str::trim).filter(|t| !t.is_empty())) {
            (Task::Clustering, _) => None,
            (_, None) => return Err(DataError::Invalid(format!("{} needs a target column", task.as_str()))),
            (_, Some(name)) => Some(fit_target(series(df, name)?, task)?),
        };
        let mut features = Vec::new();
        let mut skipped = Vec::new();
        for column in df.columns() {
            let s = column.as_materialized_series();
            let name = s.name().to_string();
            if target.as_ref().is_some_and(|t| t.name == name) {
                continue;
            }
            match choices.role_of(s) {
                ColumnRole::LeftOut(reason) => skipped.push(SkippedColumn { name, reason }),
                ColumnRole::Feature(kind @ (ColumnKind::Numeric | ColumnKind::Datetime)) => features.push(FeatureEncoding { name, kind, levels: vec![] }),
                // Text given a kind of its own is a category with many levels.
                ColumnRole::Feature(ColumnKind::Text) => features.push(FeatureEncoding { name, kind: ColumnKind::Categorical, levels: vec![] }),
                ColumnRole::Feature(kind) => features.push(FeatureEncoding { name, kind, levels: vec![] }),
            }
        }
        if features.is_empty() {
            return Err(DataError::Invalid("no usable feature column is left besides the target".into()));
        }
        Ok(Encoding { task: task.as_str().to_string(), features, target, skipped })
    }

    /// The feature columns `fit` could keep, told from a dataset's profile (no
    /// table at hand: the API's check at submit): all but the target, the
    /// columns the request leaves out and text not given a kind, each with the
    /// kind the request gives it. Columns the defaults leave out (constant, a
    /// row index, no value) are kept here, so the number of features is never
    /// under-told to a plugin checking a count.
    pub fn features_of_profile(columns: &[ColumnProfile], target: Option<&str>, choices: &ColumnChoices) -> Vec<(String, ColumnKind)> {
        columns
            .iter()
            .filter(|c| Some(c.name.as_str()) != target.map(str::trim) && !choices.exclude_columns.contains(&c.name))
            .filter_map(|c| match choices.column_kinds.get(&c.name) {
                Some(kind) => Some((c.name.clone(), *kind)),
                None => (c.kind != ColumnKind::Text).then(|| (c.name.clone(), c.kind)),
            })
            .collect()
    }

    /// Encodes the feature columns (and the target, if the table has it).
    /// Rows whose target is missing are dropped when `require_target` is set.
    pub fn encode(&self, df: &DataFrame, require_target: bool) -> Result<EncodedTable, DataError> {
        let features = self
            .features
            .iter()
            .map(|f| {
                let s = series(df, &f.name)?;
                Ok(if f.is_coded() { EncodedColumn::Codes(codes(s, &f.levels)?) } else { EncodedColumn::Numeric(numeric_values(s)?) })
            })
            .collect::<Result<Vec<_>, DataError>>()?;
        self.with_target(df, features, require_target)
    }

    /// The encoded features with the target beside them (when wanted), less
    /// the rows whose target is missing.
    fn with_target(&self, df: &DataFrame, features: Vec<EncodedColumn>, require_target: bool) -> Result<EncodedTable, DataError> {
        let target = match (&self.target, require_target) {
            (Some(t), true) => Some(encode_target(series(df, &t.name)?, t)?),
            _ => None,
        };
        let table = EncodedTable { rows: df.height(), features, target };
        let Some(target) = &table.target else { return Ok(table) };
        let known: Vec<usize> = (0..table.rows).filter(|&i| !target.is_missing(i)).collect();
        if known.is_empty() {
            return Err(DataError::BadTarget { column: self.target_name().to_string(), reason: "every value is missing".into() });
        }
        Ok(if known.len() == table.rows { table } else { table.take(&known) })
    }

    /// Refuses a table to predict on that lacks feature columns (every one is
    /// named) or whose number or date columns hold other values (the first
    /// few are named, by column and row), rather than reading those as missing.
    pub fn check_prediction_table(&self, df: &DataFrame) -> Result<(), DataError> {
        let missing: Vec<String> = self.features.iter().filter(|f| df.column(&f.name).is_err()).map(|f| f.name.clone()).collect();
        if !missing.is_empty() {
            return Err(DataError::MissingColumns(missing));
        }
        let mut found = WrongValues::default();
        for feature in self.features.iter().filter(|f| matches!(f.kind, ColumnKind::Numeric | ColumnKind::Datetime)) {
            found.collect(&feature.name, feature.kind, series(df, &feature.name)?);
        }
        found.into_result()
    }

    /// The target column of every row, missing values included.
    pub fn encode_target(&self, df: &DataFrame) -> Result<EncodedColumn, DataError> {
        let target = self.target.as_ref().ok_or_else(|| DataError::Invalid("this encoding has no target".into()))?;
        encode_target(series(df, &target.name)?, target)
    }

    pub fn target_name(&self) -> &str {
        self.target.as_ref().map_or("", |t| t.name.as_str())
    }

    pub fn class_labels(&self) -> Option<&[String]> {
        self.target.as_ref().and_then(|t| t.levels.as_deref())
    }

    /// The plugin's view of these rows.
    pub fn to_contract(&self, table: &EncodedTable) -> contract::LabelledTable {
        self.part_to_contract(table.whole())
    }

    /// The plugin's view of a part of a table, gathered from the encoded
    /// columns in one copy (no intermediate table).
    pub fn part_to_contract(&self, part: TablePart<'_>) -> contract::LabelledTable {
        let target = part.table.target.as_ref().map(|t| column_data(t, part, self.class_labels().unwrap_or_default()));
        contract::LabelledTable { features: self.part_features(part), target }
    }

    /// The feature columns of `part_to_contract`, without the target (what `predict` receives).
    pub fn part_features(&self, part: TablePart<'_>) -> contract::Table {
        let columns = self
            .features
            .iter()
            .zip(&part.table.features)
            .map(|(f, column)| contract::Column { name: f.name.clone(), data: column_data(column, part, &f.levels) })
            .collect();
        contract::Table { rows: part.rows() as u32, columns }
    }
}

fn column_data(column: &EncodedColumn, part: TablePart<'_>, levels: &[String]) -> contract::ColumnData {
    match column {
        EncodedColumn::Numeric(v) => contract::ColumnData::Numeric(part.column(v).into_owned()),
        EncodedColumn::Codes(c) => contract::ColumnData::Categorical(contract::Categorical { codes: part.column(c).into_owned(), levels: levels.to_vec() }),
    }
}

/// Values of number and date columns that are neither, as found: a count and the first few.
#[derive(Default)]
struct WrongValues {
    total: usize,
    first: Vec<String>,
}

impl WrongValues {
    const LISTED: usize = 5;

    fn collect(&mut self, name: &str, kind: ColumnKind, s: &Series) {
        let expected = if kind == ColumnKind::Datetime { "dates or numbers" } else { "numbers" };
        let (count, first) = wrong_typed_rows(s, Self::LISTED - self.first.len());
        self.total += count;
        for row in first {
            let value = s.get(row).map(|v| shown_value(&v)).unwrap_or_default();
            self.first.push(format!("column `{name}` holds {expected}, but row {} has {value}", row + 1));
        }
    }

    fn into_result(self) -> Result<(), DataError> {
        if self.total == 0 {
            return Ok(());
        }
        let more = self.total - self.first.len();
        let tail = if more > 0 { format!(" (and {more} more)") } else { String::new() };
        Err(DataError::WrongTypes(format!("{}{tail}; rows are counted from 1", self.first.join("; "))))
    }
}

/// How many rows of a column meant to hold numbers (or dates) have a value
/// that is not missing but would read as missing (text that is no number,
/// booleans, lists), and the first `keep` of them.
fn wrong_typed_rows(s: &Series, keep: usize) -> (usize, Vec<usize>) {
    let dtype = s.dtype();
    if dtype.is_primitive_numeric() || dtype.is_temporal() || dtype.is_null() {
        return (0, vec![]);
    }
    let present = |row: usize| !matches!(s.get(row), Ok(AnyValue::Null));
    let blank = |row: usize| matches!(s.get(row), Ok(AnyValue::String(t)) if t.trim().is_empty());
    let numbers = if dtype.is_bool() { None } else { s.cast(&DataType::Float64).ok() };
    let readable = |row: usize| numbers.as_ref().is_some_and(|n| !matches!(n.get(row), Ok(AnyValue::Null)));
    let mut wrong = (0..s.len()).filter(|&row| present(row) && !blank(row) && !readable(row));
    let first: Vec<usize> = wrong.by_ref().take(keep).collect();
    (first.len() + wrong.count(), first)
}

fn shown_value(value: &AnyValue) -> String {
    let text = match value {
        AnyValue::String(t) => format!("{t:?}"),
        AnyValue::StringOwned(t) => format!("{:?}", t.as_str()),
        other => other.to_string(),
    };
    match text.char_indices().nth(40) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text,
    }
}

fn fit_target(s: &Series, task: Task) -> Result<TargetEncoding, DataError> {
    let name = s.name().to_string();
    let bad = |reason: &str| DataError::BadTarget { column: name.clone(), reason: reason.to_string() };
    match task {
        Task::Regression => {
            if !(s.dtype().is_primitive_numeric() || s.dtype().is_bool()) {
                return Err(bad("regression needs a numeric target; choose classification for labels"));
            }
            Ok(TargetEncoding { name, levels: None })
        }
        _ => {
            let levels = levels_of(s)?;
            if levels.len() < 2 {
                return Err(bad("classification needs at least two classes"));
            }
            if levels.len() > 1000 || (s.dtype().is_float() && levels.len() * 2 > s.len()) {
                return Err(bad(&format!("{} distinct values is too many classes; is this a regression target?", levels.len())));
            }
            Ok(TargetEncoding { name, levels: Some(levels) })
        }
    }
}

fn encode_target(s: &Series, target: &TargetEncoding) -> Result<EncodedColumn, DataError> {
    match &target.levels {
        Some(levels) => Ok(EncodedColumn::Codes(codes(s, levels)?)),
        None => Ok(EncodedColumn::Numeric(numeric_values(s)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> DataFrame {
        df!(
            "id" => (0..30).map(|i| format!("row{i}")).collect::<Vec<_>>(),
            "x" => (0..30).map(|i| if i == 3 { None } else { Some(i as f64) }).collect::<Vec<_>>(),
            "colour" => (0..30).map(|i| if i == 5 { None } else { Some(["red", "blue"][i % 2]) }).collect::<Vec<_>>(),
            "label" => (0..30).map(|i| if i == 7 { None } else { Some(["10", "2", "x"][i % 3]) }).collect::<Vec<_>>(),
        )
        .unwrap()
    }

    #[test]
    fn ids_are_skipped_and_categories_coded() {
        let df = frame();
        let enc = Encoding::fit(&df, Some("label"), Task::Classification, &ColumnChoices::default()).unwrap();
        assert_eq!(enc.skipped[0].name, "id");
        assert_eq!(enc.features.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), ["x", "colour"]);
        assert_eq!(enc.features[1].levels, ["blue", "red"]);
        // Numbers sort numerically among class labels.
        assert_eq!(enc.class_labels().unwrap(), ["2", "10", "x"]);
        let table = enc.encode(&df, true).unwrap();
        // The row with a missing label is dropped; missing features stay missing.
        assert_eq!(table.rows, 29);
        assert!(matches!(&table.features[0], EncodedColumn::Numeric(v) if v[3].is_nan()));
        assert!(matches!(&table.features[1], EncodedColumn::Codes(c) if c[5] == MISSING_CODE && c[0] == 1));
    }

    #[test]
    fn one_pass_encoding_gives_what_fit_then_encode_give() {
        // Blanks, padded levels, numbers as text, a missing target and more columns than cores.
        let padded = |i: usize| [" 2", "10", "", "b ", "1a", "2"][i % 6];
        let df = df!(
            "x" => (0..40).map(|i| if i == 3 { None } else { Some(i as f64 * 0.5) }).collect::<Vec<_>>(),
            "colour" => (0..40).map(|i| if i == 5 { None } else { Some(["red", "blue", "green"][i % 3]) }).collect::<Vec<_>>(),
            "padded" => (0..40).map(padded).collect::<Vec<_>>(),
            "n" => (0..40).map(|i| (i % 4) as i64).collect::<Vec<_>>(),
            "label" => (0..40).map(|i| if i == 7 { None } else { Some(["10", "2", "x"][i % 3]) }).collect::<Vec<_>>(),
        )
        .unwrap();
        let kinds = ColumnChoices { column_kinds: [("n".to_string(), ColumnKind::Categorical)].into(), ..ColumnChoices::default() };
        for (target, task) in [(Some("label"), Task::Classification), (Some("x"), Task::Regression), (None, Task::Clustering)] {
            let fitted = Encoding::fit(&df, target, task, &kinds).unwrap();
            let encoded = fitted.encode(&df, true).unwrap();
            let (one_pass, table) = Encoding::fit_encode(&df, target, task, &kinds).unwrap();
            assert_eq!(one_pass, fitted, "{task:?}");
            assert_eq!(table.rows, encoded.rows);
            assert_eq!(table.target, encoded.target);
            for (a, b) in table.features.iter().zip(&encoded.features) {
                match (a, b) {
                    (EncodedColumn::Numeric(a), EncodedColumn::Numeric(b)) => assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())),
                    _ => assert_eq!(a, b),
                }
            }
        }
        let padded_levels = &Encoding::fit(&df, None, Task::Clustering, &kinds).unwrap().features[2].levels;
        assert_eq!(padded_levels, &["2", "10", "1a", "b"]);
    }

    #[test]
    fn unknown_levels_at_prediction_become_missing() {
        let enc = Encoding::fit(&frame(), Some("label"), Task::Classification, &ColumnChoices::default()).unwrap();
        let new = df!("x" => [1.0], "colour" => ["green"]).unwrap();
        let table = enc.encode(&new, false).unwrap();
        assert!(matches!(&table.features[1], EncodedColumn::Codes(c) if c[0] == MISSING_CODE));
        assert!(table.target.is_none());
    }

    #[test]
    fn regression_refuses_a_text_target_and_names_the_fix() {
        let err = Encoding::fit(&frame(), Some("colour"), Task::Regression, &ColumnChoices::default()).unwrap_err();
        assert!(err.to_string().contains("choose classification"), "{err}");
        let err = Encoding::fit(&frame(), Some("nope"), Task::Regression, &ColumnChoices::default()).unwrap_err();
        assert!(matches!(err, DataError::MissingColumn(_)));
    }

    #[test]
    fn prediction_tables_with_wrong_typed_cells_or_missing_columns_are_refused() {
        let enc = Encoding::fit(&frame(), Some("label"), Task::Classification, &ColumnChoices::default()).unwrap();
        let text = df!("x" => ["1.5", "abc", "", "7", "yes"], "colour" => ["red"; 5]).unwrap();
        let err = enc.check_prediction_table(&text).unwrap_err().to_string();
        assert!(err.contains("column `x` holds numbers, but row 2 has \"abc\"") && err.contains("row 5 has \"yes\""), "{err}");
        assert!(!err.contains("row 1 ") && !err.contains("row 3 ") && !err.contains("row 4 "), "numbers and blanks pass: {err}");
        let flags = df!("x" => (0..8).map(|i| i % 2 == 0).collect::<Vec<_>>(), "colour" => ["red"; 8]).unwrap();
        let err = enc.check_prediction_table(&flags).unwrap_err().to_string();
        assert!(err.contains("row 1 has true") && err.contains("(and 3 more)"), "{err}");
        let err = enc.check_prediction_table(&df!("other" => [1.0]).unwrap()).unwrap_err();
        assert_eq!(err.to_string(), "the table lacks columns the model needs: `x`, `colour`");
        assert!(enc.check_prediction_table(&df!("x" => [1.0], "colour" => [true]).unwrap()).is_ok(), "a category column takes any value");
    }

    #[test]
    fn levels_sort_in_a_total_order_numbers_first() {
        // "10" < "1a" < "2" < "10" under the old order: a cycle, and a panic in `sort_by`.
        let levels = levels_of(&Series::new("c".into(), ["2", "1a", "10", "b", "1.0", "1", "10"])).unwrap();
        assert_eq!(levels, ["1", "1.0", "2", "10", "1a", "b"]);
    }

    #[test]
    fn the_fuzzed_csv_whose_levels_broke_the_sort_encodes() {
        // Found by the csv_ingest fuzz target: Encoding::fit panicked on this upload.
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/hostile/levels-without-total-order.csv");
        let df = crate::data::read_table(&path).unwrap();
        let target = df.get_column_names().last().unwrap().to_string();
        for (target, task) in [(None, Task::Clustering), (Some(target.as_str()), Task::Classification)] {
            if let Ok(enc) = Encoding::fit(&df, target, task, &ColumnChoices::default()) {
                assert!(enc.features.iter().all(|f| f.levels.windows(2).all(|w| natural_order(&w[0], &w[1]).is_lt())));
            }
        }
    }
}
