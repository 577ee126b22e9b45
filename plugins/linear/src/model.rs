//! The trained model as stored, and prediction from it.
//!
//! Layout (little-endian): `"TLM1" | version u16 = 1 | family u8 | symmetric u8 |
//! intercept u8 | n_levels u32 | n_classes u32 | n_classes × u32 (the target
//! level of each class) | n_inputs u32 | inputs | k u32 | p u32 | k·p × f64`,
//! where an input is `0u8 name mean center scale indicator` (numeric) or
//! `1u8 name n_levels × str n_kept × u32 missing` (categorical), str = u32
//! length + UTF-8. Coefficients are on the standardised scale the design
//! produces. The loader checks every count against the bytes left, so a
//! damaged model is refused, never indexed out of bounds.

use crate::design::{Design, Input};
use crate::family::dot;
use crate::params::Family;
use trainhost_sdk::{ClassPredictions, Predictions, Table};

const MAGIC: &[u8; 4] = b"TLM1";
const VERSION: u16 = 1;

#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub family: Family,
    /// Multinomial with one predictor per class (else class 0 is the reference).
    pub symmetric: bool,
    pub design: Design,
    /// Levels of the training target (classification), for the predictions' codes.
    pub n_levels: u32,
    /// The target level of each class the model knows (those seen in training).
    pub classes: Vec<u32>,
    /// k predictors × p design columns.
    pub k: usize,
    pub theta: Vec<f64>,
}

impl Model {
    pub fn predict(&self, table: &Table) -> Result<Predictions, String> {
        let p = self.design.width();
        if self.theta.len() != self.k * p {
            return Err(format!("the model has {} coefficients for {} predictors of {p} columns", self.theta.len(), self.k));
        }
        let rows = table.rows as usize;
        let eta = |x: &[f64], b: usize| dot(&self.theta[b * p..(b + 1) * p], x);
        // Block by block of the design: predicting never holds all of it.
        match self.family {
            Family::Gaussian | Family::Poisson => {
                let mut values = Vec::with_capacity(rows);
                let poisson = self.family == Family::Poisson;
                self.design.encode_blocks(table, None, |block| {
                    values.extend(block.chunks_exact(p).map(|x| if poisson { eta(x, 0).min(700.0).exp() } else { eta(x, 0) }))
                })?;
                Ok(Predictions::Values(values))
            }
            Family::Logistic => {
                let levels = self.n_levels as usize;
                let mut probabilities = vec![0f32; rows * levels];
                let mut labels = Vec::with_capacity(rows);
                let mut probs = vec![0.0; self.classes.len()];
                self.design.encode_blocks(table, None, |block| {
                    for x in block.chunks_exact(p) {
                        class_probabilities(self.symmetric, |b| eta(x, b), &mut probs);
                        let best = (0..probs.len()).fold(0, |b, c| if probs[c] > probs[b] { c } else { b });
                        let i = labels.len();
                        labels.push(self.classes[best]);
                        for (c, &pr) in probs.iter().enumerate() {
                            probabilities[i * levels + self.classes[c] as usize] = pr as f32;
                        }
                    }
                })?;
                Ok(Predictions::Classes(ClassPredictions { labels, probabilities: Some(probabilities), n_classes: self.n_levels }))
            }
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer(Vec::new());
        w.0.extend_from_slice(MAGIC);
        w.0.extend_from_slice(&VERSION.to_le_bytes());
        w.u8(family_code(self.family));
        w.u8(self.symmetric as u8);
        w.u8(self.design.intercept as u8);
        w.u32(self.n_levels);
        w.u32(self.classes.len() as u32);
        self.classes.iter().for_each(|&c| w.u32(c));
        w.u32(self.design.inputs.len() as u32);
        for input in &self.design.inputs {
            write_input(&mut w, input);
        }
        w.u32(self.k as u32);
        w.u32(self.design.width() as u32);
        self.theta.iter().for_each(|&t| w.f64(t));
        w.0
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Model, String> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(4)? != MAGIC {
            return Err("not a linear model (bad magic bytes)".into());
        }
        let version = u16::from_le_bytes([r.u8()?, r.u8()?]);
        if version != VERSION {
            return Err(format!("linear model version {version}; this plugin reads version {VERSION}"));
        }
        let family = match r.u8()? {
            0 => Family::Gaussian,
            1 => Family::Logistic,
            2 => Family::Poisson,
            f => return Err(format!("unknown model family {f}")),
        };
        let (symmetric, intercept) = (r.u8()? != 0, r.u8()? != 0);
        let n_levels = r.u32()?;
        let classes = (0..r.count(4)?).map(|_| r.u32()).collect::<Result<Vec<_>, _>>()?;
        if classes.iter().any(|&c| c >= n_levels) {
            return Err("a class code is past the target's levels".into());
        }
        let inputs = (0..r.count(1)?).map(|_| read_input(&mut r)).collect::<Result<Vec<_>, _>>()?;
        let design = Design { intercept, inputs };
        let (k, p) = (r.u32()? as usize, r.u32()? as usize);
        if p != design.width() || k.checked_mul(p).is_none_or(|kp| kp * 8 != r.bytes.len() - r.at) {
            return Err("the coefficient block does not match the design".into());
        }
        let theta = (0..k * p).map(|_| r.f64()).collect::<Result<Vec<_>, _>>()?;
        Ok(Model { family, symmetric, design, n_levels, classes, k, theta })
    }
}

/// Softmax over the predictors (with a fixed 0 for class 0 unless symmetric).
pub fn class_probabilities(symmetric: bool, eta: impl Fn(usize) -> f64, out: &mut [f64]) {
    let first = if symmetric { 0 } else { 1 };
    if !symmetric {
        out[0] = 0.0;
    }
    for (c, o) in out.iter_mut().enumerate().skip(first) {
        *o = eta(c - first);
    }
    let top = out.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    out.iter_mut().for_each(|o| {
        *o = (*o - top).exp();
        sum += *o;
    });
    out.iter_mut().for_each(|o| *o /= sum);
}

fn family_code(f: Family) -> u8 {
    match f {
        Family::Gaussian => 0,
        Family::Logistic => 1,
        Family::Poisson => 2,
    }
}

fn write_input(w: &mut Writer, input: &Input) {
    match input {
        Input::Numeric { name, mean, center, scale, indicator } => {
            w.u8(0);
            w.str(name);
            [*mean, *center, *scale].iter().for_each(|&v| w.f64(v));
            w.u8(*indicator as u8);
        }
        Input::Categorical { name, levels, kept, missing } => {
            w.u8(1);
            w.str(name);
            w.u32(levels.len() as u32);
            levels.iter().for_each(|l| w.str(l));
            w.u32(kept.len() as u32);
            kept.iter().for_each(|&k| w.u32(k));
            w.u8(*missing as u8);
        }
    }
}

fn read_input(r: &mut Reader) -> Result<Input, String> {
    match r.u8()? {
        0 => Ok(Input::Numeric { name: r.str()?, mean: r.f64()?, center: r.f64()?, scale: r.f64()?, indicator: r.u8()? != 0 }),
        1 => {
            let name = r.str()?;
            let levels = (0..r.count(4)?).map(|_| r.str()).collect::<Result<Vec<_>, _>>()?;
            let kept = (0..r.count(4)?).map(|_| r.u32()).collect::<Result<Vec<_>, _>>()?;
            if kept.iter().any(|&k| k as usize >= levels.len()) {
                return Err(format!("column {name:?}: a one-hot level is past its levels"));
            }
            Ok(Input::Categorical { name, levels, kept, missing: r.u8()? != 0 })
        }
        k => Err(format!("unknown input kind {k}")),
    }
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn f64(&mut self, v: f64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.0.extend_from_slice(s.as_bytes());
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or("the model is truncated")?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn f64(&mut self) -> Result<f64, String> {
        let b = self.take(8)?;
        Ok(f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    }
    fn str(&mut self) -> Result<String, String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| "a name is not UTF-8".to_string())
    }
    /// A count of items of at least `min_size` bytes each, checked against the bytes left.
    fn count(&mut self, min_size: usize) -> Result<usize, String> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_size) > self.bytes.len() - self.at {
            return Err("a count in the model is larger than the model".into());
        }
        Ok(n)
    }
}
