//! The trained forest as stored: a versioned little-endian binary of flat
//! arrays, and prediction from it.
//!
//! Layout (all integers little-endian):
//! ```text
//! "TRF1" | version u16 = 1 | task u8 (0 classification, 1 regression) | 0u8
//! n_features u32 | per feature: name str, kind u8 (0 numeric, 1 categorical),
//!                   categorical: n_levels u32, n_levels × str
//! n_classes u32 | n_classes × str (class labels; 0 for regression)
//! n_trees u32 | per tree: n_nodes u32, n_words u32, n_values u32,
//!     feature u16[n_nodes]   (65535 = leaf)
//!     flags   u8[n_nodes]    (bit 0: missing goes left, bit 1: categorical split)
//!     thr     f32[n_nodes]   (numeric: go left if x <= thr; categorical: bits of the
//!                             offset of its level bitset in `words`; regression leaf: value)
//!     index   u32[n_nodes]   (split: left child, right = left + 1; classification leaf:
//!                             offset of its n_classes probabilities in `values`, which
//!                             leaves with the same probabilities share)
//!     words   u32[n_words]   (categorical level bitsets: bit set = level goes left)
//!     values  f32[n_values]
//! str = u32 byte length + UTF-8
//! ```
//! Children always come after their parent, which the loader checks, so a
//! damaged model can neither loop nor index out of bounds.

use std::collections::HashMap;

use crate::data::{level_map, FeatureBins};
use crate::tree::{goes_left, TrainTree, LEAF};
use trainhost_sdk::{ClassPredictions, ColumnData, Predictions, Table, MISSING_CODE};

const MAGIC: &[u8; 4] = b"TRF1";
const VERSION: u16 = 1;
const LEAF16: u16 = u16::MAX;
const MISSING_LEFT: u8 = 1;
const CATEGORICAL: u8 = 2;

#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    pub name: String,
    /// Levels of a categorical feature; None for a numeric one.
    pub levels: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tree {
    pub feature: Vec<u16>,
    pub flags: Vec<u8>,
    pub thr: Vec<f32>,
    pub index: Vec<u32>,
    pub words: Vec<u32>,
    pub values: Vec<f32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// Class labels; empty for regression.
    pub classes: Vec<String>,
    pub features: Vec<Feature>,
    pub trees: Vec<Tree>,
}

impl Tree {
    /// Converts a grown tree's bin splits into value thresholds and level sets.
    pub fn from_grown(t: &TrainTree, bins: &[FeatureBins], regression: bool) -> Tree {
        let n = t.feature.len();
        let mut out =
            Tree { feature: Vec::with_capacity(n), flags: Vec::with_capacity(n), thr: Vec::with_capacity(n), index: Vec::with_capacity(n), ..Tree::default() };
        for i in 0..t.feature.len() {
            let (f, child) = (t.feature[i], t.child[i]);
            if f == LEAF {
                out.push(LEAF16, 0, if regression { t.values[child as usize] } else { 0.0 }, child);
                continue;
            }
            let missing = if goes_left(&t.bits[i], 0) { MISSING_LEFT } else { 0 };
            match &bins[f as usize] {
                fb @ FeatureBins::Numeric { .. } => out.push(f as u16, missing, fb.upper_edge(t.thr_bin[i]), child),
                FeatureBins::Categorical { level_bin, .. } => {
                    let offset = out.words.len() as u32;
                    out.words.resize(out.words.len() + level_bin.len().div_ceil(32), 0);
                    for (code, &b) in level_bin.iter().enumerate() {
                        if goes_left(&t.bits[i], b) {
                            out.words[offset as usize + code / 32] |= 1 << (code % 32);
                        }
                    }
                    out.push(f as u16, missing | CATEGORICAL, f32::from_bits(offset), child);
                }
            }
        }
        if !regression {
            out.share_leaf_values(&t.values);
        }
        out
    }

    /// Points every leaf at one stored copy of its class shares, each distinct
    /// list stored once, in the order the leaves first use them. In a fully
    /// grown tree most leaves hold one class, so most lists are the same few:
    /// on 70,000 rows and 2 classes this took a 100-tree model from
    /// 26.7 MB to 19.6 MB. The shares themselves are the grown tree's, so every
    /// prediction is the same to the bit.
    fn share_leaf_values(&mut self, grown: &[f32]) {
        let leaves = self.feature.iter().filter(|&&f| f == LEAF16).count();
        let Some(width) = grown.len().checked_div(leaves) else { return };
        let mut stored: HashMap<Vec<u32>, u32> = HashMap::new();
        for (feature, index) in self.feature.iter().zip(self.index.iter_mut()) {
            if *feature != LEAF16 {
                continue;
            }
            let shares = &grown[*index as usize..*index as usize + width];
            let key: Vec<u32> = shares.iter().map(|v| v.to_bits()).collect();
            *index = *stored.entry(key).or_insert_with(|| {
                self.values.extend_from_slice(shares);
                (self.values.len() - width) as u32
            });
        }
    }

    fn push(&mut self, feature: u16, flags: u8, thr: f32, index: u32) {
        self.feature.push(feature);
        self.flags.push(flags);
        self.thr.push(thr);
        self.index.push(index);
    }

    /// Node index of the leaf a row falls in. `row` holds the row's features
    /// as f32, with categorical codes stored as the f32's bits.
    #[inline]
    fn leaf(&self, row: &[f32], n_levels: &[u32]) -> usize {
        let mut i = 0;
        loop {
            let f = self.feature[i];
            if f == LEAF16 {
                return i;
            }
            let v = row[f as usize];
            let flags = self.flags[i];
            let left = if flags & CATEGORICAL == 0 {
                // `|` and `&`, not `||` and `&&`: no branch on the row's value,
                // which goes either way at random and would be mispredicted.
                (v <= self.thr[i]) | (v.is_nan() & (flags & MISSING_LEFT != 0))
            } else {
                let code = v.to_bits();
                if code < n_levels[f as usize] {
                    let word = self.words[self.thr[i].to_bits() as usize + (code / 32) as usize];
                    (word >> (code % 32)) & 1 == 1
                } else {
                    flags & MISSING_LEFT != 0
                }
            };
            i = self.index[i] as usize + usize::from(!left);
        }
    }
}

impl Model {
    pub fn n_classes(&self) -> usize {
        self.classes.len()
    }

    pub fn predict(&self, table: &Table) -> Result<Predictions, String> {
        let rows = table.rows as usize;
        let x = self.rows(table)?;
        let width = self.features.len();
        let row = |r: usize| &x[r * width..(r + 1) * width];
        let n_levels: Vec<u32> = self.features.iter().map(|f| f.levels.as_ref().map_or(0, |l| l.len() as u32)).collect();
        let n_trees = self.trees.len().max(1) as f64;
        let k = self.n_classes();
        if k == 0 {
            let mut sums = vec![0.0f64; rows];
            for tree in &self.trees {
                for (r, s) in sums.iter_mut().enumerate() {
                    *s += tree.thr[tree.leaf(row(r), &n_levels)] as f64;
                }
            }
            return Ok(Predictions::Values(sums.into_iter().map(|s| s / n_trees).collect()));
        }
        let mut sums = vec![0.0f64; rows * k];
        for tree in &self.trees {
            for (r, s) in sums.chunks_exact_mut(k).enumerate() {
                let at = tree.index[tree.leaf(row(r), &n_levels)] as usize;
                s.iter_mut().zip(&tree.values[at..at + k]).for_each(|(s, &p)| *s += p as f64);
            }
        }
        let labels = sums.chunks_exact(k).map(argmax).collect();
        let probabilities = sums.iter().map(|&s| (s / n_trees) as f32).collect();
        Ok(Predictions::Classes(ClassPredictions { labels, probabilities: Some(probabilities), n_classes: k as u32 }))
    }

    /// The table's columns for this model's features, matched by name, as one
    /// row-major f32 matrix (categorical codes, renumbered to the training
    /// levels, stored as bits). Row-major, because a row walks a tree reading
    /// one feature a level: its features then lie in one or two cache lines,
    /// where by columns every level's read is a table's column away.
    fn rows(&self, table: &Table) -> Result<Vec<f32>, String> {
        let rows = table.rows as usize;
        let width = self.features.len();
        let mut x = vec![0f32; rows * width];
        for (f, feature) in self.features.iter().enumerate() {
            let column = table
                .columns
                .iter()
                .find(|c| c.name == feature.name)
                .ok_or_else(|| format!("column {:?} is missing; the model was trained on it", feature.name))?;
            if column.data.len() != rows {
                return Err(format!("column {:?} has {} values but the table {rows} rows", column.name, column.data.len()));
            }
            let out = x.iter_mut().skip(f).step_by(width);
            match (&column.data, &feature.levels) {
                (ColumnData::Numeric(v), None) => out.zip(v).for_each(|(o, &v)| *o = v as f32),
                (ColumnData::Categorical(c), Some(levels)) => {
                    let map = level_map(levels, &c.levels);
                    for (o, &code) in out.zip(&c.codes) {
                        *o = f32::from_bits(map.get(code as usize).copied().unwrap_or(MISSING_CODE));
                    }
                }
                (ColumnData::Numeric(_), Some(_)) => return Err(format!("column {:?} is numeric but was categorical in training", feature.name)),
                (ColumnData::Categorical(_), None) => return Err(format!("column {:?} is categorical but was numeric in training", feature.name)),
            }
        }
        Ok(x)
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Vec::new();
        w.extend_from_slice(MAGIC);
        w.extend(VERSION.to_le_bytes());
        w.push(u8::from(self.classes.is_empty()));
        w.push(0);
        put_u32(&mut w, self.features.len() as u32);
        for f in &self.features {
            put_str(&mut w, &f.name);
            match &f.levels {
                None => w.push(0),
                Some(levels) => {
                    w.push(1);
                    put_strs(&mut w, levels);
                }
            }
        }
        put_strs(&mut w, &self.classes);
        put_u32(&mut w, self.trees.len() as u32);
        for t in &self.trees {
            for n in [t.feature.len(), t.words.len(), t.values.len()] {
                put_u32(&mut w, n as u32);
            }
            t.feature.iter().for_each(|v| w.extend(v.to_le_bytes()));
            w.extend_from_slice(&t.flags);
            t.thr.iter().for_each(|v| w.extend(v.to_le_bytes()));
            t.index.iter().for_each(|v| w.extend(v.to_le_bytes()));
            t.words.iter().for_each(|v| w.extend(v.to_le_bytes()));
            t.values.iter().for_each(|v| w.extend(v.to_le_bytes()));
        }
        w
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Model, String> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(4)? != MAGIC {
            return Err("not a random_forest model (bad magic)".into());
        }
        let version = u16::from_le_bytes(r.array()?);
        if version != VERSION {
            return Err(format!("model format version {version}; this plugin reads version {VERSION}"));
        }
        let regression = r.u8()? == 1;
        r.u8()?;
        let n_features = r.u32()? as usize;
        let mut features = Vec::new();
        for _ in 0..n_features {
            let name = r.str()?;
            let levels = match r.u8()? {
                0 => None,
                1 => Some(r.strs()?),
                k => return Err(format!("unknown feature kind {k}")),
            };
            features.push(Feature { name, levels });
        }
        let classes = r.strs()?;
        if regression != classes.is_empty() {
            return Err("the task does not match the class list".into());
        }
        let n_trees = r.u32()? as usize;
        let mut trees = Vec::new();
        for _ in 0..n_trees {
            let tree = r.tree()?;
            check_tree(&tree, &features, classes.len())?;
            trees.push(tree);
        }
        if r.at != bytes.len() {
            return Err(format!("{} unexpected bytes after the last tree", bytes.len() - r.at));
        }
        Ok(Model { classes, features, trees })
    }
}

fn argmax(row: &[f64]) -> u32 {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best as u32
}

/// Every index stays in bounds and every child follows its parent.
fn check_tree(t: &Tree, features: &[Feature], n_classes: usize) -> Result<(), String> {
    let n = t.feature.len();
    if n == 0 {
        return Err("a tree has no node".into());
    }
    for i in 0..n {
        let (f, index) = (t.feature[i], t.index[i] as usize);
        if f == LEAF16 {
            if n_classes > 0 && index + n_classes > t.values.len() {
                return Err(format!("leaf {i} points past the leaf values"));
            }
            continue;
        }
        let feature = features.get(f as usize).ok_or_else(|| format!("node {i} uses feature {f} of {}", features.len()))?;
        if index <= i || index + 1 >= n {
            return Err(format!("node {i} has children out of order ({index})"));
        }
        let categorical = t.flags[i] & CATEGORICAL != 0;
        match (&feature.levels, categorical) {
            (Some(levels), true) => {
                if t.thr[i].to_bits() as usize + levels.len().div_ceil(32) > t.words.len() {
                    return Err(format!("node {i} points past the level sets"));
                }
            }
            (None, false) => {}
            _ => return Err(format!("node {i} splits feature {f} as the wrong kind")),
        }
    }
    Ok(())
}

fn put_u32(w: &mut Vec<u8>, v: u32) {
    w.extend(v.to_le_bytes());
}

fn put_str(w: &mut Vec<u8>, s: &str) {
    put_u32(w, s.len() as u32);
    w.extend_from_slice(s.as_bytes());
}

fn put_strs(w: &mut Vec<u8>, items: &[String]) {
    put_u32(w, items.len() as u32);
    items.iter().for_each(|s| put_str(w, s));
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or("truncated model")?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        Ok(self.take(N)?.try_into().expect("take returns N bytes"))
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn str(&mut self) -> Result<String, String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| "a name is not UTF-8".to_string())
    }

    fn strs(&mut self) -> Result<Vec<String>, String> {
        let n = self.u32()? as usize;
        // Each string takes at least 4 bytes: refuse counts the bytes cannot hold.
        if n > (self.bytes.len() - self.at) / 4 {
            return Err("truncated model".into());
        }
        (0..n).map(|_| self.str()).collect()
    }

    fn vec<T, const N: usize>(&mut self, n: usize, f: fn([u8; N]) -> T) -> Result<Vec<T>, String> {
        let raw = self.take(n.checked_mul(N).ok_or("truncated model")?)?;
        Ok(raw.chunks_exact(N).map(|c| f(c.try_into().expect("N bytes"))).collect())
    }

    fn tree(&mut self) -> Result<Tree, String> {
        let (n, n_words, n_values) = (self.u32()? as usize, self.u32()? as usize, self.u32()? as usize);
        Ok(Tree {
            feature: self.vec(n, u16::from_le_bytes)?,
            flags: self.vec(n, |[b]: [u8; 1]| b)?,
            thr: self.vec(n, f32::from_le_bytes)?,
            index: self.vec(n, u32::from_le_bytes)?,
            words: self.vec(n_words, u32::from_le_bytes)?,
            values: self.vec(n_values, f32::from_le_bytes)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_with_the_same_shares_point_at_one_stored_copy() {
        // Node 0 splits into leaf 1 and split 2, which splits into leaves 3 and 4.
        let mut tree = Tree {
            feature: vec![0, LEAF16, 0, LEAF16, LEAF16],
            flags: vec![0; 5],
            thr: vec![0.5, 0.0, 1.5, 0.0, 0.0],
            index: vec![1, 0, 3, 2, 4],
            ..Tree::default()
        };
        let grown = [1.0, 0.0, 0.25, 0.75, 1.0, 0.0];
        tree.share_leaf_values(&grown);
        assert_eq!(tree.values, vec![1.0, 0.0, 0.25, 0.75], "each distinct list once, in first-use order");
        assert_eq!(tree.index, vec![1, 0, 3, 2, 0], "splits keep their children; leaves 1 and 4 share");
        for (leaf, was) in [(1, 0), (3, 2), (4, 4)] {
            let at = tree.index[leaf] as usize;
            assert_eq!(tree.values[at..at + 2], grown[was..was + 2], "leaf {leaf} predicts what it grew");
        }
    }
}
