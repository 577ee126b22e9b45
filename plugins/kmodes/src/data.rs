//! From the host's columnar table to the dense layout the algorithm runs on.
//!
//! Every categorical attribute gets a contiguous range of "slots" (one per
//! level, plus one last slot meaning "missing"), numbered globally across
//! attributes. Rows are stored row-major as slot numbers, so that the distance
//! kernel can look up one precomputed match word per attribute without any
//! per-attribute offset arithmetic. Numeric attributes are stored row-major as
//! f64, already standardised when asked, with NaN for missing.

use std::collections::HashMap;
use trainhost_sdk::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    KModes,
    KPrototypes,
}

/// Where a categorical attribute's levels come from.
#[derive(Clone, Debug, PartialEq)]
pub enum CatSource {
    /// A categorical column: its level strings (matched by string at predict time,
    /// so a table encoded with other codes still lands on the right level).
    Levels(Vec<String>),
    /// A numeric column clustered as categories (K-Modes): its sorted distinct values.
    Values(Vec<f64>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct CatColumn {
    pub name: String,
    pub source: CatSource,
}

impl CatColumn {
    /// Number of real levels; at least one, so that a column with no level at
    /// all still has a valid (never matching) slot for modes.
    pub fn n_levels(&self) -> usize {
        match &self.source {
            CatSource::Levels(l) => l.len().max(1),
            CatSource::Values(v) => v.len().max(1),
        }
    }
}

/// A numeric attribute; values are used as `(x - shift) / scale`.
#[derive(Clone, Debug, PartialEq)]
pub struct NumColumn {
    pub name: String,
    pub shift: f64,
    pub scale: f64,
}

/// The roles the training table's columns play, fixed at training time.
#[derive(Clone, Debug, PartialEq)]
pub struct Schema {
    pub cat: Vec<CatColumn>,
    pub num: Vec<NumColumn>,
}

impl Schema {
    /// Chooses each column's role for `algorithm`. K-Modes treats every column as
    /// categorical (a numeric column's distinct values become its levels); K-Prototypes
    /// keeps numeric columns numeric.
    pub fn from_table(table: &Table, algorithm: Algorithm, standardize: bool) -> Result<Schema, String> {
        check_lengths(table)?;
        let mut schema = Schema { cat: vec![], num: vec![] };
        for column in &table.columns {
            match (&column.data, algorithm) {
                (ColumnData::Categorical(c), _) => schema.cat.push(CatColumn { name: column.name.clone(), source: CatSource::Levels(c.levels.clone()) }),
                (ColumnData::Numeric(values), Algorithm::KModes) => {
                    schema.cat.push(CatColumn { name: column.name.clone(), source: CatSource::Values(distinct_values(values)) })
                }
                (ColumnData::Numeric(values), Algorithm::KPrototypes) => {
                    // A column with no known value is kept: every value is missing,
                    // so it adds nothing to any distance (nor to the default gamma).
                    let (mean, std) = mean_std(values.iter().copied().filter(|v| v.is_finite()));
                    let (shift, scale) = if standardize && std > 0.0 { (mean, std) } else { (0.0, 1.0) };
                    schema.num.push(NumColumn { name: column.name.clone(), shift, scale });
                }
            }
        }
        Ok(schema)
    }

    pub fn total_slots(&self) -> usize {
        self.cat.iter().map(|c| c.n_levels() + 1).sum()
    }
}

fn check_lengths(table: &Table) -> Result<(), String> {
    for column in &table.columns {
        if column.data.len() != table.rows as usize {
            return Err(format!("column '{}' has {} values but the table has {} rows", column.name, column.data.len(), table.rows));
        }
    }
    Ok(())
}

/// Sorted distinct finite values; -0.0 is folded into 0.0 so both are one category.
fn distinct_values(values: &[f64]) -> Vec<f64> {
    let mut out: Vec<f64> = values.iter().filter(|v| v.is_finite()).map(|v| v + 0.0).collect();
    out.sort_by(f64::total_cmp);
    out.dedup();
    out
}

/// Mean and population standard deviation (ddof = 0, as numpy's default that the
/// `kmodes` package uses for gamma); NaN mean when there is no value.
pub fn mean_std(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let (mut n, mut sum) = (0usize, 0.0);
    for v in values.clone() {
        n += 1;
        sum += v;
    }
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mean = sum / n as f64;
    let var = values.map(|v| (v - mean) * (v - mean)).sum::<f64>() / n as f64;
    (mean, var.sqrt())
}

/// A table in the algorithm's layout.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub n: usize,
    /// Categorical attributes per row.
    pub m: usize,
    /// Numeric attributes per row.
    pub p: usize,
    /// n × m slot numbers, row-major.
    pub cat: Vec<u32>,
    /// First slot of each attribute, plus the total at the end (m + 1 entries).
    pub offsets: Vec<u32>,
    /// The "missing" slot of each attribute (the last of its range).
    pub missing: Vec<u32>,
    /// n × p values, row-major, NaN = missing.
    pub num: Vec<f64>,
    /// Per row: does it have a missing numeric value (empty when none has).
    pub row_has_nan: Vec<bool>,
    /// Per numeric attribute: how many rows have it known, and the mean and
    /// population std of the known values (0 when none is known).
    pub num_known: Vec<usize>,
    pub col_means: Vec<f64>,
    pub col_stds: Vec<f64>,
    /// Per categorical attribute: the most frequent known slot (lowest on ties).
    pub col_modes: Vec<u32>,
    /// Per categorical attribute: how many rows have it known.
    pub col_known: Vec<usize>,
}

impl Encoded {
    pub fn slots(&self) -> usize {
        *self.offsets.last().unwrap_or(&0) as usize
    }

    pub fn cat_row(&self, i: usize) -> &[u32] {
        &self.cat[i * self.m..(i + 1) * self.m]
    }

    pub fn num_row(&self, i: usize) -> &[f64] {
        &self.num[i * self.p..(i + 1) * self.p]
    }

    pub fn has_nan(&self, i: usize) -> bool {
        !self.row_has_nan.is_empty() && self.row_has_nan[i]
    }

    /// Encodes `table` by the roles in `schema`, finding columns by name.
    pub fn encode(schema: &Schema, table: &Table) -> Result<Encoded, String> {
        check_lengths(table)?;
        let n = table.rows as usize;
        let (m, p) = (schema.cat.len(), schema.num.len());
        let mut offsets = Vec::with_capacity(m + 1);
        let mut next = 0usize;
        for c in &schema.cat {
            offsets.push(next as u32);
            next += c.n_levels() + 1;
        }
        if next > u32::MAX as usize / 2 {
            return Err("too many distinct categorical values".into());
        }
        offsets.push(next as u32);
        let missing: Vec<u32> = (0..m).map(|a| offsets[a + 1] - 1).collect();

        let mut cat = vec![0u32; n * m];
        for (a, spec) in schema.cat.iter().enumerate() {
            let data = find_column(table, &spec.name)?;
            let slots = category_slots(spec, data, offsets[a], missing[a])?;
            for (i, s) in slots.into_iter().enumerate() {
                cat[i * m + a] = s;
            }
        }
        let mut num = vec![0f64; n * p];
        for (j, spec) in schema.num.iter().enumerate() {
            match find_column(table, &spec.name)? {
                ColumnData::Numeric(values) => {
                    for (i, &v) in values.iter().enumerate() {
                        // Infinities are as unusable as NaN for a mean: both count as missing.
                        num[i * p + j] = if v.is_finite() { (v - spec.shift) / spec.scale } else { f64::NAN };
                    }
                }
                ColumnData::Categorical(_) => return Err(format!("column '{}' was numeric at training but is categorical here", spec.name)),
            }
        }
        Ok(Encoded::with_stats(n, m, p, cat, offsets, missing, num))
    }

    fn with_stats(n: usize, m: usize, p: usize, cat: Vec<u32>, offsets: Vec<u32>, missing: Vec<u32>, num: Vec<f64>) -> Encoded {
        let any_nan = num.iter().any(|v| v.is_nan());
        let row_has_nan = if any_nan && p > 0 { num.chunks_exact(p).map(|r| r.iter().any(|v| v.is_nan())).collect() } else { vec![] };
        let num_known = (0..p).map(|j| (0..n).filter(|&i| !num[i * p + j].is_nan()).count()).collect();
        let mut col_means = vec![0.0; p];
        let mut col_stds = vec![0.0; p];
        for j in 0..p {
            let known = (0..n).map(|i| num[i * p + j]).filter(|v| !v.is_nan());
            let (mean, std) = mean_std(known);
            col_means[j] = if mean.is_nan() { 0.0 } else { mean };
            col_stds[j] = if std.is_nan() { 0.0 } else { std };
        }
        let total = *offsets.last().unwrap_or(&0) as usize;
        let mut counts = vec![0usize; total];
        cat.iter().for_each(|&s| counts[s as usize] += 1);
        let col_modes = (0..m)
            .map(|a| {
                let range = offsets[a] as usize..missing[a] as usize;
                first_max(&counts[range]) as u32 + offsets[a]
            })
            .collect();
        let col_known = (0..m).map(|a| n - counts[missing[a] as usize]).collect();
        Encoded { n, m, p, cat, offsets, missing, num, row_has_nan, num_known, col_means, col_stds, col_modes, col_known }
    }
}

/// Index of the first largest value (0 for an empty slice): the `kmodes` package
/// also breaks ties between modes towards the smallest code.
pub fn first_max<T: PartialOrd + Copy>(values: &[T]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate().skip(1) {
        if *v > values[best] {
            best = i;
        }
    }
    best
}

fn find_column<'t>(table: &'t Table, name: &str) -> Result<&'t ColumnData, String> {
    table.columns.iter().find(|c| c.name == name).map(|c| &c.data).ok_or_else(|| format!("column '{name}' used at training is missing from the table"))
}

/// Slot of every row's value for one categorical attribute. Values unseen at
/// training (and missing values) get the attribute's missing slot: they match no mode.
fn category_slots(spec: &CatColumn, data: &ColumnData, offset: u32, missing: u32) -> Result<Vec<u32>, String> {
    match (&spec.source, data) {
        (CatSource::Levels(levels), ColumnData::Categorical(c)) => {
            let index: HashMap<&str, u32> = levels.iter().enumerate().rev().map(|(i, l)| (l.as_str(), i as u32)).collect();
            // Map this table's codes to the training levels once, not once per row.
            let map: Vec<u32> = c.levels.iter().map(|l| index.get(l.as_str()).map_or(missing, |&i| offset + i)).collect();
            c.codes
                .iter()
                .map(|&code| match code {
                    MISSING_CODE => Ok(missing),
                    code => map.get(code as usize).copied().ok_or_else(|| format!("column '{}' has code {code} but only {} levels", spec.name, c.levels.len())),
                })
                .collect()
        }
        (CatSource::Values(values), ColumnData::Numeric(xs)) => Ok(xs
            .iter()
            .map(|x| {
                if !x.is_finite() {
                    return missing;
                }
                values.binary_search_by(|v| v.total_cmp(&(x + 0.0))).map_or(missing, |i| offset + i as u32)
            })
            .collect()),
        (CatSource::Levels(_), ColumnData::Numeric(_)) => Err(format!("column '{}' was categorical at training but is numeric here", spec.name)),
        (CatSource::Values(_), ColumnData::Categorical(_)) => Err(format!("column '{}' was numeric at training but is categorical here", spec.name)),
    }
}
