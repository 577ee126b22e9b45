//! Turns the request's columns into what the trees are grown on: one byte per
//! value (its bin), column-major, and a compact target.
//!
//! Bin 0 of every feature holds the missing values; a split sends bin 0 left
//! or right like any other bin, which is how each split learns a direction
//! for missing values. Numeric values are compared as f32 both here and at
//! prediction, so a model's f32 thresholds route every value exactly as
//! training did.

use trainhost_sdk::{ColumnData, LabelledTable, Table, Task, MISSING_CODE};

pub const MISSING_BIN: u8 = 0;
/// Above this many rows, bin edges are computed on an even subsample: quantiles
/// of 200k values are as good as of all of them and sorting stays cheap.
const BIN_SAMPLE: usize = 200_000;
/// Beyond this many classes the per-bin histograms would not fit a cache line budget.
pub const MAX_CLASSES: usize = 4096;

#[derive(Debug, Clone)]
pub enum FeatureBins {
    /// `edges[j]` is the inclusive upper bound of bin j+1; the last bin is unbounded.
    Numeric { edges: Vec<f32> },
    /// `level_bin[code]`: the bin of each level (0 for levels never seen in training).
    Categorical { levels: Vec<String>, level_bin: Vec<u8> },
}

impl FeatureBins {
    /// Bins including the missing bin.
    pub fn n_bins(&self) -> usize {
        match self {
            FeatureBins::Numeric { edges } => edges.len() + 2,
            FeatureBins::Categorical { level_bin, .. } => level_bin.iter().copied().max().unwrap_or(0) as usize + 1,
        }
    }

    pub fn is_categorical(&self) -> bool {
        matches!(self, FeatureBins::Categorical { .. })
    }

    /// Upper bound of value bin `bin` as the f32 threshold of `x <= t`.
    pub fn upper_edge(&self, bin: u8) -> f32 {
        match self {
            FeatureBins::Numeric { edges } => edges.get(bin as usize - 1).copied().unwrap_or(f32::INFINITY),
            FeatureBins::Categorical { .. } => f32::NAN,
        }
    }
}

pub fn numeric_bin(edges: &[f32], x: f64) -> u8 {
    let x = x as f32;
    if x.is_nan() {
        return MISSING_BIN;
    }
    1 + edges.partition_point(|&e| e < x) as u8
}

/// The binned training matrix.
pub struct Binned {
    pub rows: usize,
    /// Column-major: feature f of row i at `bins[f * rows + i]`.
    pub bins: Vec<u8>,
    pub features: Vec<FeatureBins>,
    pub n_bins: Vec<usize>,
}

impl Binned {
    pub fn col(&self, f: usize) -> &[u8] {
        &self.bins[f * self.rows..(f + 1) * self.rows]
    }
}

pub enum Target {
    Classes { y: Vec<u32>, levels: Vec<String> },
    Values(Vec<f64>),
}

impl Target {
    pub fn n_classes(&self) -> usize {
        match self {
            Target::Classes { levels, .. } => levels.len(),
            Target::Values(_) => 0,
        }
    }
}

pub struct Prepared {
    pub names: Vec<String>,
    pub binned: Binned,
    pub target: Target,
    /// Rows dropped because their target was missing.
    pub dropped: usize,
}

pub fn prepare(table: &LabelledTable, task: Task, max_bins: usize) -> Result<Prepared, String> {
    let features = &table.features;
    check_shape(features)?;
    let target = table.target.as_ref().ok_or("the request has no target column")?;
    if target.len() != features.rows as usize {
        return Err(format!("the target has {} values but the table {} rows", target.len(), features.rows));
    }
    let (keep, target) = prepare_target(target, task)?;
    let names = features.columns.iter().map(|c| c.name.clone()).collect();
    let binned = bin_table(features, &keep, max_bins)?;
    Ok(Prepared { names, binned, target, dropped: features.rows as usize - keep.len() })
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

/// Rows with a known target, and the target on those rows.
fn prepare_target(target: &ColumnData, task: Task) -> Result<(Vec<u32>, Target), String> {
    match (task, target) {
        (Task::Classification, ColumnData::Categorical(c)) => {
            if c.levels.len() > MAX_CLASSES {
                return Err(format!("the target has {} classes; at most {MAX_CLASSES} are supported", c.levels.len()));
            }
            if let Some(bad) = c.codes.iter().find(|&&k| k != MISSING_CODE && k as usize >= c.levels.len()) {
                return Err(format!("target code {bad} has no level ({} levels)", c.levels.len()));
            }
            let keep: Vec<u32> = (0..c.codes.len() as u32).filter(|&i| c.codes[i as usize] != MISSING_CODE).collect();
            let y = keep.iter().map(|&i| c.codes[i as usize]).collect();
            nonempty(&keep)?;
            Ok((keep, Target::Classes { y, levels: c.levels.clone() }))
        }
        (Task::Regression, ColumnData::Numeric(v)) => {
            let keep: Vec<u32> = (0..v.len() as u32).filter(|&i| v[i as usize].is_finite()).collect();
            nonempty(&keep)?;
            Ok((keep.clone(), Target::Values(keep.iter().map(|&i| v[i as usize]).collect())))
        }
        (Task::Classification, _) => Err("classification needs a categorical target; this one is numeric".into()),
        (Task::Regression, _) => Err("regression needs a numeric target; this one is categorical".into()),
        (Task::Clustering, _) => Err("random_forest does not do clustering; use classification or regression".into()),
    }
}

fn nonempty(keep: &[u32]) -> Result<(), String> {
    if keep.is_empty() {
        return Err("every target value is missing; there is nothing to learn from".into());
    }
    Ok(())
}

fn bin_table(table: &Table, keep: &[u32], max_bins: usize) -> Result<Binned, String> {
    let rows = keep.len();
    let mut bins = vec![0u8; rows * table.columns.len()];
    let mut features = Vec::with_capacity(table.columns.len());
    for (f, column) in table.columns.iter().enumerate() {
        let out = &mut bins[f * rows..(f + 1) * rows];
        let fb = match &column.data {
            ColumnData::Numeric(v) => numeric_feature(v, keep, max_bins, out),
            ColumnData::Categorical(c) => {
                categorical_feature(&c.codes, &c.levels, keep, max_bins, out).map_err(|e| format!("column {:?}: {e}", column.name))?
            }
        };
        features.push(fb);
    }
    let n_bins = features.iter().map(FeatureBins::n_bins).collect();
    Ok(Binned { rows, bins, features, n_bins })
}

fn numeric_feature(values: &[f64], keep: &[u32], max_bins: usize, out: &mut [u8]) -> FeatureBins {
    let step = keep.len().div_ceil(BIN_SAMPLE).max(1);
    let mut sample: Vec<f32> = keep.iter().step_by(step).map(|&i| values[i as usize] as f32).filter(|x| !x.is_nan()).collect();
    sample.sort_unstable_by(f32::total_cmp);
    let edges = quantile_edges(&sample, max_bins);
    for (o, &i) in out.iter_mut().zip(keep) {
        *o = numeric_bin(&edges, values[i as usize]);
    }
    FeatureBins::Numeric { edges }
}

/// Upper edges of at most `max_bins` bins holding about equal numbers of
/// values. When there are few distinct values each gets its own bin and the
/// edge sits midway to the next one, as an exact splitter would place it.
pub fn quantile_edges(sorted: &[f32], max_bins: usize) -> Vec<f32> {
    let mut distinct: Vec<(f32, usize)> = Vec::new();
    for &x in sorted {
        match distinct.last_mut() {
            Some((v, n)) if *v == x => *n += 1,
            _ => distinct.push((x, 1)),
        }
    }
    let mut edges = Vec::new();
    if distinct.len() <= 1 {
        return edges;
    }
    let total = sorted.len() as f64;
    let mut seen = 0usize;
    let mut next_cut = total / max_bins as f64;
    for w in distinct.windows(2) {
        seen += w[0].1;
        let few = distinct.len() <= max_bins;
        if few || seen as f64 >= next_cut {
            edges.push(midpoint(w[0].0, w[1].0));
            if edges.len() + 1 >= max_bins {
                break;
            }
            // Spread the remaining values over the remaining bins, so one heavy
            // value does not leave the last bins empty.
            next_cut = seen as f64 + (total - seen as f64) / (max_bins - edges.len()) as f64;
        }
    }
    edges
}

/// A value in [a, b) so that a goes left and b goes right of `x <= edge`.
fn midpoint(a: f32, b: f32) -> f32 {
    let m = ((a as f64 + b as f64) / 2.0) as f32;
    if m >= a && m < b {
        m
    } else {
        a
    }
}

fn categorical_feature(codes: &[u32], levels: &[String], keep: &[u32], max_bins: usize, out: &mut [u8]) -> Result<FeatureBins, String> {
    let mut counts = vec![0usize; levels.len()];
    for &i in keep {
        match codes[i as usize] {
            MISSING_CODE => {}
            c if (c as usize) < levels.len() => counts[c as usize] += 1,
            c => return Err(format!("code {c} has no level ({} levels)", levels.len())),
        }
    }
    // Most frequent levels first; beyond max_bins the rarest share the last bin.
    let mut order: Vec<usize> = (0..levels.len()).filter(|&l| counts[l] > 0).collect();
    order.sort_by(|&a, &b| counts[b].cmp(&counts[a]).then(a.cmp(&b)));
    let mut level_bin = vec![MISSING_BIN; levels.len()];
    for (rank, &l) in order.iter().enumerate() {
        level_bin[l] = (1 + rank.min(max_bins - 1)) as u8;
    }
    for (o, &i) in out.iter_mut().zip(keep) {
        *o = level_bin.get(codes[i as usize] as usize).copied().unwrap_or(MISSING_BIN);
    }
    Ok(FeatureBins::Categorical { levels: levels.to_vec(), level_bin })
}

/// For each level of `other`, its code among `train` levels (MISSING_CODE if unknown):
/// tables built at different times need not number their levels alike.
pub fn level_map(train: &[String], other: &[String]) -> Vec<u32> {
    if train == other {
        return (0..train.len() as u32).collect();
    }
    other.iter().map(|l| train.iter().position(|t| t == l).map_or(MISSING_CODE, |p| p as u32)).collect()
}

/// Bins another table (validation) with the training bins, matching columns by name.
pub fn bin_other(table: &Table, names: &[String], features: &[FeatureBins]) -> Result<Binned, String> {
    let rows = table.rows as usize;
    let mut bins = vec![0u8; rows * names.len()];
    for (f, (name, fb)) in names.iter().zip(features).enumerate() {
        let column = table.columns.iter().find(|c| &c.name == name).ok_or_else(|| format!("column {name:?} is missing"))?;
        if column.data.len() != rows {
            return Err(format!("column {name:?} has {} values but the table {rows} rows", column.data.len()));
        }
        let out = &mut bins[f * rows..(f + 1) * rows];
        match (&column.data, fb) {
            (ColumnData::Numeric(v), FeatureBins::Numeric { edges }) => {
                out.iter_mut().zip(v).for_each(|(o, &x)| *o = numeric_bin(edges, x));
            }
            (ColumnData::Categorical(c), FeatureBins::Categorical { levels, level_bin }) => {
                let map = level_map(levels, &c.levels);
                for (o, &code) in out.iter_mut().zip(&c.codes) {
                    let train_code = map.get(code as usize).copied().unwrap_or(MISSING_CODE);
                    *o = level_bin.get(train_code as usize).copied().unwrap_or(MISSING_BIN);
                }
            }
            _ => return Err(format!("column {name:?} is numeric in one table and categorical in the other")),
        }
    }
    let n_bins = features.iter().map(FeatureBins::n_bins).collect();
    Ok(Binned { rows, bins, features: features.to_vec(), n_bins })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_distinct_values_get_one_bin_each_with_midpoint_edges() {
        let edges = quantile_edges(&[1.0, 1.0, 2.0, 3.0, 3.0], 255);
        assert_eq!(edges, vec![1.5, 2.5]);
        assert_eq!(numeric_bin(&edges, 1.0), 1);
        assert_eq!(numeric_bin(&edges, 2.0), 2);
        assert_eq!(numeric_bin(&edges, 9.0), 3);
        assert_eq!(numeric_bin(&edges, f64::NAN), MISSING_BIN);
    }

    #[test]
    fn many_values_make_balanced_quantile_bins() {
        let sorted: Vec<f32> = (0..10_000).map(|i| i as f32).collect();
        let edges = quantile_edges(&sorted, 10);
        assert_eq!(edges.len(), 9);
        let mut counts = [0usize; 11];
        sorted.iter().for_each(|&x| counts[numeric_bin(&edges, x as f64) as usize] += 1);
        assert!(counts[1..].iter().all(|&c| (990..=1010).contains(&c)), "{counts:?}");
    }
}
