//! Per-column statistics shown on a dataset's page: range, mean and a small
//! histogram of a number column, the most frequent levels of a category, and
//! warnings about columns that deserve a second look (high cardinality, a
//! header renamed because it was repeated).
//!
//! Owns these summaries, computed once at upload and kept in the dataset's
//! record, so each is bounded in size whatever the table. It must not decide
//! what a job uses (that is `roles`).

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::ingest::ColumnKind;

/// Bars of a number column's histogram.
pub const HISTOGRAM_BINS: usize = 12;
/// Most frequent levels kept of a category column.
pub const TOP_LEVELS: usize = 6;
/// Characters kept of a level's name.
const LEVEL_CHARS: usize = 60;

/// What the dataset page shows of one column.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ColumnStats {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    /// Rows per equal-width bin from `min` to `max` (number columns).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub histogram: Vec<u64>,
    /// The most frequent levels with their row counts, most frequent first (category columns).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Vec<serde_json::Value>>)]
    pub top_levels: Vec<(String, u64)>,
    /// Things worth checking before training on this column, in words.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The statistics of one column of kind `kind` among `rows` rows.
pub fn column_stats(series: &Series, kind: ColumnKind, distinct: usize) -> ColumnStats {
    let mut stats = match kind {
        ColumnKind::Numeric | ColumnKind::Datetime => numeric_stats(series),
        _ => ColumnStats { top_levels: top_levels(series), ..ColumnStats::default() },
    };
    let known = series.len() - series.null_count();
    if kind == ColumnKind::Categorical && known > 0 && (distinct > 1000 || (distinct > 50 && distinct * 2 > known)) {
        stats.warnings.push(format!("high cardinality: {distinct} levels over {known} rows; most levels are rare, so a model learns little from them"));
    }
    if let Some(original) = renamed_duplicate(series.name().as_str()) {
        stats.warnings.push(format!("the header `{original}` appears more than once in the file; this copy was renamed"));
    }
    stats
}

fn numeric_stats(series: &Series) -> ColumnStats {
    let Ok(values) = series.to_physical_repr().cast(&DataType::Float64) else { return ColumnStats::default() };
    let Ok(values) = values.f64().map(|ca| ca.iter().flatten().filter(|v| v.is_finite()).collect::<Vec<f64>>()) else { return ColumnStats::default() };
    if values.is_empty() {
        return ColumnStats::default();
    }
    let (min, max) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let mut histogram = vec![0u64; HISTOGRAM_BINS];
    let width = (max - min) / HISTOGRAM_BINS as f64;
    for v in &values {
        let bin = if width > 0.0 { (((v - min) / width) as usize).min(HISTOGRAM_BINS - 1) } else { 0 };
        histogram[bin] += 1;
    }
    ColumnStats { min: Some(min), max: Some(max), mean: Some(mean), histogram, ..ColumnStats::default() }
}

fn top_levels(series: &Series) -> Vec<(String, u64)> {
    let Ok(text) = series.cast(&DataType::String) else { return vec![] };
    let Ok(text) = text.str() else { return vec![] };
    let mut counts: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
    for value in text.iter().flatten() {
        *counts.entry(value).or_default() += 1;
    }
    let mut levels: Vec<(&str, u64)> = counts.into_iter().collect();
    levels.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    levels.into_iter().take(TOP_LEVELS).map(|(name, n)| (name.chars().take(LEVEL_CHARS).collect(), n)).collect()
}

/// The CSV reader renames a repeated header `x` to `x_duplicated_0`, `x_duplicated_1`, ...
fn renamed_duplicate(name: &str) -> Option<&str> {
    let (original, number) = name.rsplit_once("_duplicated_")?;
    number.parse::<u32>().ok().map(|_| original)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_get_range_mean_and_a_histogram_that_counts_every_value() {
        let series = Series::new("x".into(), [Some(0.0), Some(1.0), None, Some(11.0), Some(12.0), Some(f64::NAN)]);
        let stats = column_stats(&series, ColumnKind::Numeric, 5);
        assert_eq!((stats.min, stats.max, stats.mean), (Some(0.0), Some(12.0), Some(6.0)));
        assert_eq!(stats.histogram.len(), HISTOGRAM_BINS);
        assert_eq!(stats.histogram.iter().sum::<u64>(), 4);
        assert_eq!((stats.histogram[0], stats.histogram[1], stats.histogram[HISTOGRAM_BINS - 1]), (1, 1, 2));
        let constant = column_stats(&Series::new("c".into(), [3.0; 4]), ColumnKind::Numeric, 1);
        assert_eq!(constant.histogram[0], 4);
    }

    #[test]
    fn categories_get_their_top_levels_and_high_cardinality_is_warned() {
        let series = Series::new("colour".into(), ["red", "blue", "red", "green", "red", "blue"]);
        let stats = column_stats(&series, ColumnKind::Categorical, 3);
        assert_eq!(stats.top_levels, [("red".to_string(), 3), ("blue".to_string(), 2), ("green".to_string(), 1)]);
        assert!(stats.warnings.is_empty());
        let many: Vec<String> = (0..200).map(|i| format!("level{}", i % 120)).collect();
        let stats = column_stats(&Series::new("city".into(), many), ColumnKind::Categorical, 120);
        assert_eq!(stats.top_levels.len(), TOP_LEVELS);
        assert!(stats.warnings[0].starts_with("high cardinality: 120 levels over 200 rows"), "{:?}", stats.warnings);
    }

    #[test]
    fn a_renamed_repeated_header_is_warned() {
        let stats = column_stats(&Series::new("price_duplicated_0".into(), [1.0, 2.0]), ColumnKind::Numeric, 2);
        assert_eq!(stats.warnings, ["the header `price` appears more than once in the file; this copy was renamed"]);
        assert_eq!(renamed_duplicate("my_duplicated_notes"), None);
    }
}
