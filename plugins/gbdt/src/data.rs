//! Turns the request's columns into what the trees are grown on: one byte per
//! value (its bin), stored feature-major, and the target as numbers.
//!
//! Bin 0 of every feature holds its missing values (and, for a categorical
//! one, levels unseen or too rare to keep); a split sends bin 0 wherever it
//! scores best, which is how every split learns a default direction. Values
//! are compared as f32 here and at prediction, so the model's f32 thresholds
//! route every value exactly as training did. Must not know about trees.

use crate::shard::{self, RowShard};
use std::ops::Range;
use trainhost_sdk::team::Team;
use trainhost_sdk::{ColumnData, LabelledTable, Table, Task, MISSING_CODE};

pub const MISSING_BIN: u8 = 0;
/// Bin edges come from an even subsample of at most this many rows (LightGBM's
/// `bin_construct_sample_cnt`): quantiles of 200k values are as good as of all.
const BIN_SAMPLE: usize = 200_000;
pub const MAX_CLASSES: usize = 1024;
/// Fewest sampled values a bin of a few-valued feature holds (LightGBM's default).
const MIN_DATA_IN_BIN: usize = 3;

#[derive(Debug, Clone, PartialEq)]
pub enum FeatureBins {
    /// `edges[j]`: inclusive upper bound of bin j+1; the last bin is unbounded.
    Numeric { edges: Vec<f32> },
    /// `level_bin[code]`: the bin of each training level (0: not kept).
    Categorical { levels: Vec<String>, level_bin: Vec<u8> },
}

impl FeatureBins {
    /// Bins including the missing bin (at most 256).
    pub fn n_bins(&self) -> usize {
        match self {
            FeatureBins::Numeric { edges } => edges.len() + 2,
            FeatureBins::Categorical { level_bin, .. } => level_bin.iter().copied().max().unwrap_or(0) as usize + 1,
        }
    }

    pub fn is_categorical(&self) -> bool {
        matches!(self, FeatureBins::Categorical { .. })
    }
}

/// The bin of a numeric value: 1 + the number of edges below it.
#[inline]
pub fn numeric_bin(edges: &[f32], x: f64) -> u8 {
    let x = x as f32;
    if x.is_nan() {
        return MISSING_BIN;
    }
    1 + edges.partition_point(|&e| e < x) as u8
}

/// A binned table: feature f of row i at `bins[f * rows + i]`.
pub struct Binned {
    pub rows: usize,
    pub bins: Vec<u8>,
    pub features: Vec<FeatureBins>,
}

impl Binned {
    #[inline]
    pub fn col(&self, f: usize) -> &[u8] {
        &self.bins[f * self.rows..(f + 1) * self.rows]
    }
}

/// The training rows, binned, with their target (class code or value).
pub struct Prepared {
    /// The column each binned feature reads (a wide categorical column feeds several).
    pub names: Vec<String>,
    /// The training table's column index of each binned feature.
    pub column_of: Vec<usize>,
    /// The training table's column names.
    pub columns: Vec<String>,
    pub binned: Binned,
    pub y: Vec<f64>,
    /// Class labels; empty for regression.
    pub classes: Vec<String>,
    /// Rows left out because their target was missing (over every instance).
    pub dropped: usize,
    /// Where this instance's rows sit among the job's.
    pub rows: RowShard,
}

/// Prepares this instance's training rows; with several instances, each
/// holding a shard, the bins are the ones every row together gives (see `shard`).
pub fn prepare(table: &LabelledTable, task: Task, max_bins: usize, team: &dyn Team) -> Result<Prepared, String> {
    let features = &table.features;
    check_shape(features)?;
    let target = table.target.as_ref().ok_or("the request has no target column")?;
    if target.len() != features.rows as usize {
        return Err(format!("the target has {} values but the table {} rows", target.len(), features.rows));
    }
    let (keep, y, classes) = prepare_target(target, task)?;
    let rows = shard::locate(team, keep.len(), features.rows as usize - keep.len())?;
    if rows.total == 0 {
        return Err("every target value is missing; there is nothing to learn from".into());
    }
    let columns = features.columns.iter().map(|c| c.name.clone()).collect();
    let (binned, names, column_of) = bin_table(features, &keep, max_bins, &rows, team)?;
    Ok(Prepared { names, column_of, columns, binned, y, classes, dropped: rows.dropped, rows })
}

fn check_shape(table: &Table) -> Result<(), String> {
    if table.columns.is_empty() {
        return Err("the table has no feature column".into());
    }
    if table.columns.len() >= u16::MAX as usize {
        return Err(format!("{} feature columns; at most 65534 are supported", table.columns.len()));
    }
    for c in &table.columns {
        if c.data.len() != table.rows as usize {
            return Err(format!("column {:?} has {} values but the table {} rows", c.name, c.data.len(), table.rows));
        }
    }
    Ok(())
}

type TargetParts = (Vec<u32>, Vec<f64>, Vec<String>);

/// Rows with a known target, the target on those rows, and the class labels.
fn prepare_target(target: &ColumnData, task: Task) -> Result<TargetParts, String> {
    let (keep, y, classes): TargetParts = match (task, target) {
        (Task::Classification, ColumnData::Categorical(c)) => {
            if c.levels.len() > MAX_CLASSES {
                return Err(format!("the target has {} classes; at most {MAX_CLASSES} are supported", c.levels.len()));
            }
            if let Some(bad) = c.codes.iter().find(|&&k| k != MISSING_CODE && k as usize >= c.levels.len()) {
                return Err(format!("target code {bad} has no level ({} levels)", c.levels.len()));
            }
            let keep: Vec<u32> = (0..c.codes.len() as u32).filter(|&i| c.codes[i as usize] != MISSING_CODE).collect();
            let y = keep.iter().map(|&i| f64::from(c.codes[i as usize])).collect();
            (keep, y, c.levels.clone())
        }
        (Task::Regression, ColumnData::Numeric(v)) => {
            let keep: Vec<u32> = (0..v.len() as u32).filter(|&i| v[i as usize].is_finite()).collect();
            let y = keep.iter().map(|&i| v[i as usize]).collect();
            (keep, y, Vec::new())
        }
        (Task::Classification, _) => return Err("classification needs a categorical target; this one is numeric".into()),
        (Task::Regression, _) => return Err("regression needs a numeric target; this one is categorical".into()),
        (Task::Clustering, _) => return Err("gbdt does not do clustering; use classification or regression".into()),
    };
    if task == Task::Classification && classes.len() < 2 {
        return Err(format!("the target has {} class; classification needs at least 2", classes.len()));
    }
    Ok((keep, y, classes))
}

/// Bins every column. A categorical column with more levels than one
/// feature's bins hold becomes several features over the same column, each
/// with its own `maxBins` levels (most frequent first), so no level is lost
/// for want of a bin (LightGBM keeps such levels too).
fn bin_table(table: &Table, keep: &[u32], max_bins: usize, rows: &RowShard, team: &dyn Team) -> Result<(Binned, Vec<String>, Vec<usize>), String> {
    let mut sketches = Vec::with_capacity(table.columns.len());
    for column in &table.columns {
        sketches.push(match &column.data {
            ColumnData::Numeric(v) => shard::Sketch::Sample(numeric_sample(v, keep, rows)),
            ColumnData::Categorical(c) => shard::Sketch::Counts(level_counts(&c.codes, &c.levels, keep).map_err(|e| format!("column {:?}: {e}", column.name))?),
        });
    }
    let agreed = shard::agree(team, sketches, max_bins)?;
    let n = keep.len();
    let (mut cols, mut features, mut names, mut column_of) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (f, (column, agreed)) in table.columns.iter().zip(agreed).enumerate() {
        let parts = match (&column.data, agreed) {
            (ColumnData::Numeric(v), shard::Agreed::Edges(edges)) => {
                let mut out = vec![0u8; n];
                out.iter_mut().zip(keep).for_each(|(o, &i)| *o = numeric_bin(&edges, v[i as usize]));
                vec![(FeatureBins::Numeric { edges }, out)]
            }
            (ColumnData::Categorical(c), shard::Agreed::Counts(counts)) => categorical_features(&c.codes, &c.levels, keep, &counts, max_bins),
            _ => return Err(format!("column {:?} is numeric in one instance's rows and categorical in another's", column.name)),
        };
        for (fb, out) in parts {
            features.push(fb);
            cols.push(out);
            names.push(column.name.clone());
            column_of.push(f);
        }
    }
    if features.len() >= u16::MAX as usize {
        return Err(format!("{} features after splitting wide categorical columns; at most 65534 are supported", features.len()));
    }
    let bins = cols.concat();
    Ok((Binned { rows: n, bins, features }, names, column_of))
}

/// The values bin edges are cut from: an even subsample of the job's rows
/// (every `step`-th by the row's place among all instances' rows), unsorted.
fn numeric_sample(values: &[f64], keep: &[u32], rows: &RowShard) -> Vec<f32> {
    let step = rows.total.div_ceil(BIN_SAMPLE).max(1);
    let first = (step - rows.offset % step) % step;
    keep.iter().skip(first).step_by(step).map(|&i| values[i as usize] as f32).filter(|x| !x.is_nan()).collect()
}

/// Upper edges of the bins of a numeric feature from its sampled values.
pub fn numeric_edges(mut sample: Vec<f32>, max_bins: usize) -> Vec<f32> {
    sample.sort_unstable_by(f32::total_cmp);
    quantile_edges(&sample, max_bins)
}

/// Upper edges of at most `max_bins` bins of about equal counts. With few
/// distinct values each gets its own bin; a value heavier than a bin's share
/// gets a bin to itself and the rest are spread over the bins left.
pub fn quantile_edges(sorted: &[f32], max_bins: usize) -> Vec<f32> {
    let mut distinct: Vec<(f32, usize)> = Vec::new();
    for &x in sorted {
        match distinct.last_mut() {
            Some((v, n)) if *v == x => *n += 1,
            _ => distinct.push((x, 1)),
        }
    }
    if distinct.len() <= max_bins {
        // A bin per value, but none with fewer than MIN_DATA_IN_BIN rows
        // (LightGBM's min_data_in_bin): on small tables one-row bins overfit.
        let mut edges = Vec::new();
        let mut in_bin = 0;
        for w in distinct.windows(2) {
            in_bin += w[0].1;
            if in_bin >= MIN_DATA_IN_BIN {
                edges.push(midpoint(w[0].0, w[1].0));
                in_bin = 0;
            }
        }
        return edges;
    }
    let mut edges = Vec::with_capacity(max_bins);
    let (mut remaining, mut in_bin) = (sorted.len() as f64, 0usize);
    for (i, w) in distinct.windows(2).enumerate() {
        in_bin += w[0].1;
        let share = remaining / (max_bins - edges.len()) as f64;
        // Cut now if this bin is full, or if the next value alone would overfill it.
        let next_heavy = (w[1].1 as f64) >= share && in_bin > 0;
        let values_left = distinct.len() - i - 1;
        if in_bin as f64 >= share || next_heavy || values_left <= max_bins - 1 - edges.len() {
            edges.push(midpoint(w[0].0, w[1].0));
            remaining -= in_bin as f64;
            in_bin = 0;
            if edges.len() + 1 >= max_bins {
                break;
            }
        }
    }
    edges
}

/// A value in [a, b) so that a goes left and b right of `x <= edge`.
fn midpoint(a: f32, b: f32) -> f32 {
    let m = ((f64::from(a) + f64::from(b)) / 2.0) as f32;
    if m >= a && m < b {
        m
    } else {
        a
    }
}

/// Most wide-categorical features one column may become (4080 levels at 255 bins).
const MAX_PARTS: usize = 16;

/// How many of the kept rows hold each level.
fn level_counts(codes: &[u32], levels: &[String], keep: &[u32]) -> Result<Vec<i64>, String> {
    let mut counts = vec![0i64; levels.len()];
    for &i in keep {
        match codes[i as usize] {
            MISSING_CODE => {}
            c if (c as usize) < levels.len() => counts[c as usize] += 1,
            c => return Err(format!("code {c} has no level ({} levels)", levels.len())),
        }
    }
    Ok(counts)
}

/// The features of a categorical column given its levels' counts over the job's rows.
fn categorical_features(codes: &[u32], levels: &[String], keep: &[u32], counts: &[i64], max_bins: usize) -> Vec<(FeatureBins, Vec<u8>)> {
    // Most frequent levels first, max_bins to a feature; bin 0 holds the rest.
    let mut order: Vec<usize> = (0..levels.len()).filter(|&l| counts[l] > 0).collect();
    order.sort_by(|&a, &b| counts[b].cmp(&counts[a]).then(a.cmp(&b)));
    let mut out = Vec::new();
    for chunk in order.chunks(max_bins).take(MAX_PARTS) {
        let mut level_bin = vec![MISSING_BIN; levels.len()];
        chunk.iter().enumerate().for_each(|(rank, &l)| level_bin[l] = (1 + rank) as u8);
        let bins = keep.iter().map(|&i| level_bin.get(codes[i as usize] as usize).copied().unwrap_or(MISSING_BIN)).collect();
        out.push((FeatureBins::Categorical { levels: levels.to_vec(), level_bin }, bins));
    }
    if out.is_empty() {
        out.push((FeatureBins::Categorical { levels: levels.to_vec(), level_bin: vec![MISSING_BIN; levels.len()] }, vec![MISSING_BIN; keep.len()]));
    }
    out
}

/// For each level of `other`, its code among the `train` levels (MISSING_CODE
/// if unknown): tables built at different times need not number levels alike.
pub fn level_map(train: &[String], other: &[String]) -> Vec<u32> {
    if train == other {
        return (0..train.len() as u32).collect();
    }
    let mut sorted: Vec<(&str, u32)> = train.iter().enumerate().map(|(i, l)| (l.as_str(), i as u32)).collect();
    sorted.sort_unstable();
    other.iter().map(|l| sorted.binary_search_by(|(t, _)| (*t).cmp(l.as_str())).map_or(MISSING_CODE, |p| sorted[p].1)).collect()
}

/// Bins rows `keep` of another table (validation) with the training bins,
/// matching columns by name.
pub fn bin_other(table: &Table, keep: Range<usize>, names: &[String], features: &[FeatureBins]) -> Result<Binned, String> {
    let whole = table.rows as usize;
    if keep.end > whole {
        return Err(format!("rows {keep:?} of a table of {whole} rows"));
    }
    let rows = keep.len();
    let mut bins = vec![0u8; rows * names.len()];
    for (f, (name, fb)) in names.iter().zip(features).enumerate() {
        let column = table.columns.iter().find(|c| &c.name == name).ok_or_else(|| format!("column {name:?} is missing"))?;
        if column.data.len() != whole {
            return Err(format!("column {name:?} has {} values but the table {whole} rows", column.data.len()));
        }
        let out = &mut bins[f * rows..(f + 1) * rows];
        match (&column.data, fb) {
            (ColumnData::Numeric(v), FeatureBins::Numeric { edges }) => out.iter_mut().zip(&v[keep.clone()]).for_each(|(o, &x)| *o = numeric_bin(edges, x)),
            (ColumnData::Categorical(c), FeatureBins::Categorical { levels, level_bin }) => {
                let map = level_map(levels, &c.levels);
                for (o, &code) in out.iter_mut().zip(&c.codes[keep.clone()]) {
                    let train_code = map.get(code as usize).copied().unwrap_or(MISSING_CODE);
                    *o = level_bin.get(train_code as usize).copied().unwrap_or(MISSING_BIN);
                }
            }
            _ => return Err(format!("column {name:?} is numeric in one table and categorical in the other")),
        }
    }
    Ok(Binned { rows, bins, features: features.to_vec() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_distinct_values_get_a_bin_each() {
        let edges = quantile_edges(&[1.0, 1.0, 1.0, 2.0, 2.0, 2.0, 3.0, 3.0, 3.0], 255);
        assert_eq!(edges, vec![1.5, 2.5]);
        assert_eq!(quantile_edges(&[1.0, 2.0, 2.0, 3.0, 4.0, 4.0, 5.0], 255), vec![2.5, 4.5], "at least 3 values a bin");
        assert_eq!(numeric_bin(&edges, 1.0), 1);
        assert_eq!(numeric_bin(&edges, 2.0), 2);
        assert_eq!(numeric_bin(&edges, 9.0), 3);
        assert_eq!(numeric_bin(&edges, f64::NAN), MISSING_BIN);
    }

    #[test]
    fn many_values_make_balanced_bins_and_heavy_values_their_own() {
        let sorted: Vec<f32> = (0..10_000).map(|i| i as f32).collect();
        let edges = quantile_edges(&sorted, 10);
        assert_eq!(edges.len(), 9);
        let mut counts = [0usize; 11];
        sorted.iter().for_each(|&x| counts[numeric_bin(&edges, f64::from(x)) as usize] += 1);
        assert!(counts[1..].iter().all(|&c| (900..=1100).contains(&c)), "{counts:?}");
        let mut heavy: Vec<f32> = vec![0.0; 5000];
        heavy.extend((1..5000).map(|i| i as f32));
        let edges = quantile_edges(&heavy, 10);
        assert_eq!(numeric_bin(&edges, 0.0), 1);
        assert_eq!(numeric_bin(&edges, 1.0), 2, "zero has a bin of its own: {edges:?}");
    }

    #[test]
    fn wide_categorical_columns_become_several_features_losing_no_level() {
        let levels: Vec<String> = (0..300).map(|i| format!("l{i}")).collect();
        let codes: Vec<u32> = (0..3000).map(|i| (i % 300) as u32).collect();
        let keep: Vec<u32> = (0..3000).collect();
        let counts = level_counts(&codes, &levels, &keep).unwrap_or_default();
        let parts = categorical_features(&codes, &levels, &keep, &counts, 255);
        assert_eq!(parts.len(), 2);
        for code in 0..300usize {
            let bins: Vec<u8> = parts.iter().map(|(_, b)| b[code]).collect();
            assert_eq!(bins.iter().filter(|&&b| b != MISSING_BIN).count(), 1, "level {code} has a bin in exactly one part");
        }
    }

    #[test]
    fn levels_map_by_name() {
        let train: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let other: Vec<String> = ["c", "z", "a"].iter().map(|s| s.to_string()).collect();
        assert_eq!(level_map(&train, &other), vec![2, MISSING_CODE, 0]);
    }
}
