//! Which columns a model learns from, and why the others are left out.
//!
//! Two sources decide: the defaults, which leave out the columns that cannot
//! help a model or that quietly leak the answer (every value missing, free text
//! or identifiers, a constant, a row index), and the user's `ColumnChoices`
//! (`excludeColumns`, `columnKinds`). The same function serves the dataset's
//! profile (so the user reads the note before training) and the encoding a job
//! fits (so the job does what the note said).
//!
//! Owns these rules and their wording. It must not read files or encode values.

use std::collections::BTreeMap;

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::ingest::{kind_of, ColumnKind};

/// Tables smaller than this have no default exclusions but the sure ones
/// (every value missing): on a handful of rows, "unique" and "consecutive" happen by chance.
const MIN_ROWS_FOR_GUESSING: usize = 20;

/// The user's say over the columns: some left out, some given a kind other
/// than the inferred one (a number read as a category, or back). A column
/// given a kind is used even if the defaults would leave it out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ColumnChoices {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_columns: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub column_kinds: BTreeMap<String, ColumnKind>,
}

/// What becomes of one (non-target) column.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnRole {
    Feature(ColumnKind),
    LeftOut(String),
}

impl ColumnChoices {
    /// The role of `series` under these choices and the defaults.
    pub fn role_of(&self, series: &Series) -> ColumnRole {
        let name = series.name().as_str();
        if self.exclude_columns.iter().any(|c| c == name) {
            return ColumnRole::LeftOut("left out by the request (excludeColumns)".into());
        }
        if series.null_count() == series.len() {
            return ColumnRole::LeftOut("every value is missing".into());
        }
        if let Some(kind) = self.column_kinds.get(name) {
            return ColumnRole::Feature(*kind);
        }
        let kind = kind_of(series);
        match exclusion_of(series, kind) {
            Some(reason) => ColumnRole::LeftOut(reason),
            None => ColumnRole::Feature(kind),
        }
    }
}

/// Why the defaults leave this column out, if they do: said so that the user
/// knows how to bring it back.
pub fn default_exclusion(series: &Series) -> Option<String> {
    exclusion_of(series, kind_of(series))
}

/// `default_exclusion` of a column whose inferred kind is known.
pub(crate) fn exclusion_of(series: &Series, kind: ColumnKind) -> Option<String> {
    const BRING_BACK: &str = "give it a kind in columnKinds to use it anyway";
    if series.null_count() == series.len() {
        return Some("every value is missing".into());
    }
    if series.len() < MIN_ROWS_FOR_GUESSING {
        return None;
    }
    if kind == ColumnKind::Text {
        return Some(format!("text or identifier: about one distinct value per row; {BRING_BACK}"));
    }
    if is_constant(series) {
        return Some(format!("constant: the same value in every row, so it cannot tell rows apart; {BRING_BACK}"));
    }
    if is_row_index(series) {
        return Some(format!("row index: unique consecutive integers, which only number the rows (on a sorted table they leak the target); {BRING_BACK}"));
    }
    None
}

fn is_constant(series: &Series) -> bool {
    series.null_count() == 0 && !has_distinct_extremes(series) && series.n_unique().is_ok_and(|n| n == 1)
}

/// Whether a column holds two distinct values for sure, found without the
/// hash or sort of every row `n_unique` makes: a number column's smallest and
/// largest values differ, or a text column has a value unlike its first (most
/// columns do within a few rows). False for other columns and when unsure
/// (they are counted).
fn has_distinct_extremes(series: &Series) -> bool {
    if let Ok(text) = series.str() {
        let mut values = text.iter();
        let first = values.next().flatten();
        return values.any(|v| v != first);
    }
    if !series.dtype().is_primitive_numeric() {
        return false;
    }
    match (series.min_reduce(), series.max_reduce()) {
        (Ok(min), Ok(max)) => !min.is_null() && !max.is_null() && min != max,
        _ => false,
    }
}

/// Unique integers with no gap and no missing value: 0..n, 1..n, or any
/// shifted run, in whatever order the rows are.
fn is_row_index(series: &Series) -> bool {
    if !series.dtype().is_integer() || series.null_count() > 0 {
        return false;
    }
    let Ok(values) = series.cast(&DataType::Float64) else { return false };
    let (Ok(Some(min)), Ok(Some(max))) = (values.min::<f64>(), values.max::<f64>()) else { return false };
    // The range first: one pass, and most integer columns fail it; counting
    // distinct values (a hash or sort of every row) only for those that pass.
    max - min + 1.0 == series.len() as f64 && series.n_unique().ok() == Some(series.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str, values: Vec<i64>) -> Series {
        Series::new(name.into(), values)
    }

    #[test]
    fn a_shuffled_run_of_integers_is_a_row_index_but_gapped_ids_are_not() {
        let mut shuffled: Vec<i64> = (1..=50).collect();
        shuffled.reverse();
        shuffled.swap(3, 40);
        assert!(default_exclusion(&series("rownames", shuffled)).unwrap().starts_with("row index"));
        assert!(default_exclusion(&series("zero_based", (0..50).collect())).unwrap().starts_with("row index"));
        // Unique but with gaps: a measurement as likely as an id; kept.
        assert_eq!(default_exclusion(&series("price", (0..50).map(|i| i * 7 + 3).collect())), None);
        // A repeat: not an index.
        let mut repeated: Vec<i64> = (0..50).collect();
        repeated[10] = 11;
        assert_eq!(default_exclusion(&series("count", repeated)), None);
        // Too few rows to tell.
        assert_eq!(default_exclusion(&series("small", (0..10).collect())), None);
    }

    #[test]
    fn constants_and_empty_columns_are_left_out_and_a_kind_brings_one_back() {
        assert!(default_exclusion(&series("same", vec![4; 30])).unwrap().starts_with("constant"));
        // Text: the same word in every row is a constant; one other word at the end is not.
        let mut words = vec!["yes"; 30];
        assert!(default_exclusion(&Series::new("word".into(), words.clone())).unwrap().starts_with("constant"));
        words[29] = "no";
        assert_eq!(default_exclusion(&Series::new("word".into(), words)), None);
        let empty = Series::new_null("empty".into(), 30);
        assert_eq!(default_exclusion(&empty).as_deref(), Some("every value is missing"));
        let choices = ColumnChoices { column_kinds: [("same".to_string(), ColumnKind::Categorical)].into(), ..Default::default() };
        assert_eq!(choices.role_of(&series("same", vec![4; 30])), ColumnRole::Feature(ColumnKind::Categorical));
        // Nothing brings back a column with no values.
        let choices = ColumnChoices { column_kinds: [("empty".to_string(), ColumnKind::Numeric)].into(), ..Default::default() };
        assert!(matches!(choices.role_of(&empty), ColumnRole::LeftOut(_)));
    }

    #[test]
    fn an_excluded_column_is_left_out_whatever_its_kind() {
        let choices = ColumnChoices { exclude_columns: vec!["x".into()], ..Default::default() };
        let role = choices.role_of(&Series::new("x".into(), vec![1.5f64, 2.5, 0.5]));
        assert_eq!(role, ColumnRole::LeftOut("left out by the request (excludeColumns)".into()));
        let kept = ColumnChoices::default().role_of(&Series::new("y".into(), vec![1.5f64, 2.5, 0.5]));
        assert_eq!(kept, ColumnRole::Feature(ColumnKind::Numeric));
    }
}
