//! Preprocessing, learned on the training rows and replayed at predict: the
//! table's columns become the numeric design matrix the solvers see.
//!
//! - numeric: missing values take the training mean (and, when training had
//!   any, a 0/1 missing-indicator column follows); then standardised with the
//!   mean and population standard deviation of the imputed column (centred
//!   only when an intercept is fitted, so a model without one keeps its
//!   meaning);
//! - categorical: one 0/1 column per level seen in training, less the first
//!   (the reference) when the fit is unpenalised, so the design is
//!   identifiable; missing values get their own column when training had
//!   any; levels unseen in training map to the reference (all zeros).
//!
//! The design is row-major with the intercept (a column of ones) first; it is
//! built whole, or streamed block by block of rows (`Encoder`) where a caller
//! needs no more of it at a time (predicting, a Gaussian fit's moments).
//! Must not fit anything: it only encodes.

use crate::moments::Blocks;
use std::borrow::Cow;
use trainhost_sdk::{ColumnData, Table, MISSING_CODE};

/// One table column's encoding, learned on the training rows.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// `mean`: the training mean, imputed for missing values; `center`: subtracted
    /// before scaling (the mean, or 0 without an intercept).
    Numeric { name: String, mean: f64, center: f64, scale: f64, indicator: bool },
    /// `kept`: the training level of each one-hot column, in order.
    Categorical { name: String, levels: Vec<String>, kept: Vec<u32>, missing: bool },
}

/// How a design column relates to the original values, to report coefficients on their scale.
#[derive(Debug, Clone, PartialEq)]
pub struct Term {
    /// As the coefficient table shows it: the column, `column[level]` or `column (missing)`.
    pub name: String,
    /// (center, scale) of a standardised numeric column; None for 0/1 columns and the intercept.
    pub standardised: Option<(f64, f64)>,
}

/// The whole encoding: the intercept and each column's input, in design order.
#[derive(Debug, Clone, PartialEq)]
pub struct Design {
    /// Whether a column of ones comes first.
    pub intercept: bool,
    /// One per table column, in the order their design columns follow.
    pub inputs: Vec<Input>,
}

/// The intercept's term name.
pub const INTERCEPT: &str = "(intercept)";

impl Design {
    /// Learns the encoding from the training rows `rows` of `table`.
    pub fn fit(table: &Table, rows: &[u32], drop_reference: bool, intercept: bool) -> Result<Design, String> {
        let mut inputs = Vec::with_capacity(table.columns.len());
        for column in &table.columns {
            if column.data.len() != table.rows as usize {
                return Err(format!("column {:?} has {} values but the table {} rows", column.name, column.data.len(), table.rows));
            }
            let input = match &column.data {
                ColumnData::Numeric(v) => numeric_input(&column.name, v, rows, intercept),
                ColumnData::Categorical(c) => categorical_input(&column.name, &c.codes, &c.levels, rows, drop_reference)?,
            };
            inputs.push(input);
        }
        Ok(Design { intercept, inputs })
    }

    /// The design columns, in order, with how each relates to the original values.
    pub fn terms(&self) -> Vec<Term> {
        let mut terms = Vec::new();
        if self.intercept {
            terms.push(Term { name: INTERCEPT.into(), standardised: None });
        }
        for input in &self.inputs {
            match input {
                Input::Numeric { name, center, scale, indicator, .. } => {
                    terms.push(Term { name: name.clone(), standardised: Some((*center, *scale)) });
                    if *indicator {
                        terms.push(Term { name: format!("{name} (missing)"), standardised: None });
                    }
                }
                Input::Categorical { name, levels, kept, missing } => {
                    terms.extend(kept.iter().map(|&l| Term { name: format!("{name}[{}]", levels[l as usize]), standardised: None }));
                    if *missing {
                        terms.push(Term { name: format!("{name} (missing)"), standardised: None });
                    }
                }
            }
        }
        terms
    }

    /// Design columns per row.
    pub fn width(&self) -> usize {
        self.terms().len()
    }

    /// The design matrix of `rows` of `table` (all rows when None), matching
    /// columns by name, so a table built later may order or code them differently.
    pub fn encode(&self, table: &Table, rows: Option<&[u32]>) -> Result<Vec<f64>, String> {
        Ok(self.encoder(table, rows)?.dense())
    }

    /// The design of `rows` of `table` (all rows when None) handed to `each`
    /// block by block of rows, in order, each row-major: predicting needs no
    /// more of it at a time.
    pub fn encode_blocks(&self, table: &Table, rows: Option<&[u32]>, mut each: impl FnMut(&[f64])) -> Result<(), String> {
        self.encoder(table, rows)?.each_block(&mut each);
        Ok(())
    }

    /// The encoder of `rows` of `table` (all rows when None): every column
    /// found and checked here, once, so streaming the design from it cannot
    /// fail and may be repeated (a Gaussian fit makes two passes).
    pub fn encoder<'a>(&self, table: &'a Table, rows: Option<&'a [u32]>) -> Result<Encoder<'a>, String> {
        let rows = match rows {
            Some(r) => Cow::Borrowed(r),
            None => Cow::Owned((0..table.rows).collect()),
        };
        let mut sources = Vec::with_capacity(self.inputs.len());
        for input in &self.inputs {
            let name = match input {
                Input::Numeric { name, .. } | Input::Categorical { name, .. } => name,
            };
            let column = table.columns.iter().find(|c| &c.name == name).ok_or_else(|| format!("column {name:?} is missing"))?;
            if column.data.len() != table.rows as usize {
                return Err(format!("column {name:?} has {} values but the table {} rows", column.data.len(), table.rows));
            }
            sources.push(Source::new(input, &column.data)?);
        }
        let contiguous = rows.windows(2).all(|w| w[1] == w[0] + 1);
        Ok(Encoder { intercept: self.intercept, p: self.width(), sources, rows, contiguous })
    }
}

/// The design of some rows of one table, ready to stream (see `Design::encoder`).
pub struct Encoder<'a> {
    intercept: bool,
    p: usize,
    sources: Vec<Source<'a>>,
    rows: Cow<'a, [u32]>,
    /// The rows are consecutive (every row, or a target with no missing
    /// value): a block's values are then a slice of each column, read with no
    /// index in loops the compiler vectorises.
    contiguous: bool,
}

impl Encoder<'_> {
    /// The design's rows handed to `each` block by block, in order, each
    /// row-major. A block's rows stay in cache while every column is written
    /// into them.
    pub fn each_block(&self, each: &mut dyn FnMut(&[f64])) {
        let p = self.p;
        let mut buffer = vec![0.0; ENCODE_BLOCK.min(self.rows.len()) * p];
        for block in self.rows.chunks(ENCODE_BLOCK) {
            let out = &mut buffer[..block.len() * p];
            // One-hot columns are written only where they are 1.
            out.iter_mut().for_each(|v| *v = 0.0);
            let mut col = 0;
            if self.intercept {
                out.iter_mut().step_by(p).for_each(|v| *v = 1.0);
                col = 1;
            }
            let first = self.contiguous.then(|| block[0] as usize);
            for source in &self.sources {
                col += source.write(block, first, out, p, col);
            }
            each(out);
        }
    }

    /// Xθ of the rows (θ over the design's columns), handed to `each` block
    /// by block of rows, in order, without writing the design: each input adds
    /// its columns' share to the block's predictors, reading its values
    /// column-wise into a block that stays in cache. A linear fit's residual
    /// pass needs no more (the design's values are those `each_block` writes).
    pub fn each_predictor_block(&self, theta: &[f64], each: &mut dyn FnMut(&[f64])) {
        let mut eta = vec![0.0; PREDICT_BLOCK.min(self.rows.len())];
        for block in self.rows.chunks(PREDICT_BLOCK) {
            let out = &mut eta[..block.len()];
            out.fill(if self.intercept { theta[0] } else { 0.0 });
            let mut col = self.intercept as usize;
            let first = self.contiguous.then(|| block[0] as usize);
            for source in &self.sources {
                col += source.add_predictor(block, first, out, &theta[col..]);
            }
            each(out);
        }
    }

    /// The whole design, row-major, in memory.
    pub fn dense(&self) -> Vec<f64> {
        let mut x = Vec::with_capacity(self.rows.len() * self.p);
        self.each_block(&mut |block| x.extend_from_slice(block));
        x
    }
}

impl Blocks for Encoder<'_> {
    fn width(&self) -> usize {
        self.p
    }

    fn each_block(&self, each: &mut dyn FnMut(&[f64])) {
        Encoder::each_block(self, each)
    }

    fn each_predictor_block(&self, theta: &[f64], each: &mut dyn FnMut(&[f64])) {
        Encoder::each_predictor_block(self, theta, each)
    }
}

/// Rows encoded at a time: a block of the design (256 rows of 50 columns: 100 KiB) stays in cache.
const ENCODE_BLOCK: usize = 256;

/// Rows whose predictors are summed at a time (`each_predictor_block`): 16 KiB of them.
const PREDICT_BLOCK: usize = 2048;

fn numeric_input(name: &str, v: &[f64], rows: &[u32], center: bool) -> Input {
    let [sum, count] = sum_over(v, rows, |x| if x.is_finite() { [x, 1.0] } else { [0.0, 0.0] });
    let count = count as usize;
    let mean = if count > 0 { sum / count as f64 } else { 0.0 };
    // The spread of the imputed column: imputed rows sit on the mean.
    let origin = if center { mean } else { 0.0 };
    let [ss] = sum_over(v, rows, |x| [(if x.is_finite() { x } else { mean } - origin).powi(2)]);
    let sd = (ss / rows.len().max(1) as f64).sqrt();
    // A constant column keeps scale 1 (as scikit-learn's StandardScaler): it is then all zeros.
    let scale = if sd > 0.0 && sd.is_finite() { sd } else { 1.0 };
    Input::Numeric { name: name.into(), mean, center: origin, scale, indicator: count < rows.len() && count > 0 }
}

/// Σ f(v[i]) over `rows` (each of the K sums f gives), in four interleaved
/// partial sums: independent chains of additions run about four times as fast
/// as one running total, whose every addition waits for the one before (and
/// are no less accurate).
fn sum_over<const K: usize>(v: &[f64], rows: &[u32], f: impl Fn(f64) -> [f64; K]) -> [f64; K] {
    let mut s = [[0.0; K]; 4];
    let mut add = |c: &[u32]| {
        for (partial, &i) in s.iter_mut().zip(c) {
            partial.iter_mut().zip(f(v[i as usize])).for_each(|(a, b)| *a += b);
        }
    };
    // Four groups of four per turn of the loop (the same order of sums): under
    // wasmtime each loop back edge checks for interruption, spilling the sums.
    let mut turns = rows.chunks_exact(16);
    for turn in &mut turns {
        add(&turn[..4]);
        add(&turn[4..8]);
        add(&turn[8..12]);
        add(&turn[12..]);
    }
    let groups = turns.remainder().chunks_exact(4);
    let mut tail = [0.0; K];
    for &i in groups.remainder() {
        tail.iter_mut().zip(f(v[i as usize])).for_each(|(a, b)| *a += b);
    }
    groups.for_each(&mut add);
    std::array::from_fn(|k| (s[0][k] + s[1][k]) + (s[2][k] + s[3][k]) + tail[k])
}

fn categorical_input(name: &str, codes: &[u32], levels: &[String], rows: &[u32], drop_reference: bool) -> Result<Input, String> {
    let mut seen = vec![false; levels.len()];
    let mut missing = false;
    for &i in rows {
        match codes[i as usize] {
            MISSING_CODE => missing = true,
            c if (c as usize) < levels.len() => seen[c as usize] = true,
            c => return Err(format!("column {name:?}: code {c} has no level ({} levels)", levels.len())),
        }
    }
    let mut kept: Vec<u32> = (0..levels.len() as u32).filter(|&l| seen[l as usize]).collect();
    if drop_reference && !kept.is_empty() {
        kept.remove(0);
    }
    Ok(Input::Categorical { name: name.into(), levels: levels.to_vec(), kept, missing })
}

/// One input with the column it reads, checked once for the whole encoding.
enum Source<'a> {
    Numeric {
        values: &'a [f64],
        mean: f64,
        center: f64,
        scale: f64,
        indicator: bool,
    },
    /// `slot`: the one-hot column of each of this table's codes (None: reference or unseen);
    /// `missing`: the column of missing values, if training had any; `width`: the columns written.
    Categorical {
        codes: &'a [u32],
        slot: Vec<Option<usize>>,
        missing: Option<usize>,
        width: usize,
    },
}

impl<'a> Source<'a> {
    fn new(input: &Input, data: &'a ColumnData) -> Result<Source<'a>, String> {
        match (input, data) {
            (Input::Numeric { mean, center, scale, indicator, .. }, ColumnData::Numeric(v)) => {
                Ok(Source::Numeric { values: v, mean: *mean, center: *center, scale: *scale, indicator: *indicator })
            }
            (Input::Categorical { levels, kept, missing, .. }, ColumnData::Categorical(c)) => {
                let slot = c.levels.iter().map(|l| levels.iter().position(|t| t == l).and_then(|t| kept.iter().position(|&k| k as usize == t))).collect();
                Ok(Source::Categorical { codes: &c.codes, slot, missing: missing.then_some(kept.len()), width: kept.len() + *missing as usize })
            }
            (Input::Numeric { name, .. } | Input::Categorical { name, .. }, _) => {
                Err(format!("column {name:?} is numeric in one table and categorical in the other"))
            }
        }
    }

    /// Adds this input's share θᵀx of the predictor of each of `rows` to `eta`,
    /// `theta` starting at its first column; returns how many columns it has.
    /// The values are those `write` writes.
    fn add_predictor(&self, rows: &[u32], first: Option<usize>, eta: &mut [f64], theta: &[f64]) -> usize {
        match self {
            Source::Numeric { values, mean, center, scale, indicator } => {
                let (t, missing) = (theta[0], if *indicator { theta[1] } else { 0.0 });
                let term = |value: f64| if value.is_finite() { t * ((value - center) / scale) } else { t * ((mean - center) / scale) + missing };
                match first {
                    Some(f) => eta.iter_mut().zip(&values[f..f + rows.len()]).for_each(|(e, &v)| *e += term(v)),
                    None => eta.iter_mut().zip(rows).for_each(|(e, &i)| *e += term(values[i as usize])),
                }
                1 + *indicator as usize
            }
            Source::Categorical { codes, slot, missing, width } => {
                for (e, &i) in eta.iter_mut().zip(rows) {
                    let column = match codes[i as usize] {
                        MISSING_CODE => *missing,
                        code => slot.get(code as usize).copied().flatten(),
                    };
                    if let Some(s) = column {
                        *e += theta[s];
                    }
                }
                *width
            }
        }
    }

    /// Writes this input's columns of `rows` into `x` (their rows of the design, width `p`)
    /// from column `col` on; returns how many columns it wrote.
    fn write(&self, rows: &[u32], first: Option<usize>, x: &mut [f64], p: usize, col: usize) -> usize {
        match self {
            Source::Numeric { values, mean, center, scale, indicator } => {
                let put = |out: &mut [f64], value: f64| {
                    let known = value.is_finite();
                    out[col] = (if known { value } else { *mean } - center) / scale;
                    if *indicator {
                        out[col + 1] = if known { 0.0 } else { 1.0 };
                    }
                };
                match first {
                    Some(f) => x.chunks_exact_mut(p).zip(&values[f..f + rows.len()]).for_each(|(out, &v)| put(out, v)),
                    None => x.chunks_exact_mut(p).zip(rows).for_each(|(out, &i)| put(out, values[i as usize])),
                }
                1 + *indicator as usize
            }
            Source::Categorical { codes, slot, missing, width } => {
                for (out, &i) in x.chunks_exact_mut(p).zip(rows) {
                    match codes[i as usize] {
                        MISSING_CODE => {
                            if let Some(m) = missing {
                                out[col + m] = 1.0;
                            }
                        }
                        code => {
                            if let Some(Some(s)) = slot.get(code as usize) {
                                out[col + s] = 1.0;
                            }
                        }
                    }
                }
                *width
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trainhost_sdk::{Categorical, Column};

    #[test]
    fn the_predictor_blocks_are_the_design_times_theta() {
        let n = 5000u32;
        let numbers: Vec<f64> = (0..n).map(|i| if i % 7 == 3 { f64::NAN } else { (i % 13) as f64 * 0.5 - 2.0 }).collect();
        let codes: Vec<u32> = (0..n).map(|i| if i % 11 == 5 { MISSING_CODE } else { i % 3 }).collect();
        let columns = vec![
            Column { name: "x".into(), data: ColumnData::Numeric(numbers) },
            Column { name: "c".into(), data: ColumnData::Categorical(Categorical { codes, levels: vec!["a".into(), "b".into(), "c".into()] }) },
        ];
        let table = Table { rows: n, columns };
        // Every row (read as slices of the columns) and some (read through their indices).
        let (all, some): (Vec<u32>, Vec<u32>) = ((0..n).collect(), (0..n).filter(|i| i % 5 != 1).collect());
        for (rows, intercept) in [(&all, true), (&some, true), (&some, false)] {
            let design = Design::fit(&table, rows, true, intercept).unwrap();
            let encoder = design.encoder(&table, Some(rows)).unwrap();
            let p = design.width();
            assert_eq!(p, intercept as usize + 2 + 2 + 1, "number, its indicator, two levels and missing");
            let theta: Vec<f64> = (0..p).map(|j| 0.3 * j as f64 - 0.7).collect();
            let expected: Vec<f64> = encoder.dense().chunks_exact(p).map(|x| crate::kernels::dot(&theta, x)).collect();
            let mut got = Vec::new();
            encoder.each_predictor_block(&theta, &mut |eta| got.extend_from_slice(eta));
            assert_eq!(got.len(), rows.len());
            assert!(got.iter().zip(&expected).all(|(a, b)| (a - b).abs() < 1e-12), "intercept {intercept}");
        }
    }
}
