//! Raw scores of a table's rows from a loaded model: the fast path of
//! prediction. Owns matching the table's columns to the model's features and
//! walking the trees; must not change the model (model.rs, codec.rs own it)
//! nor turn raw scores into probabilities (model.rs does).
//!
//! Why it is shaped this way: a tree's branches are unpredictable, so walking
//! one row to its leaf then the next stalls the CPU at every node. Here the
//! trees are flattened into one array of nodes (leaves included, pointing at
//! themselves) and a block of rows walks a tree together, one level at a
//! time, choosing each next node without a branch: the rows' walks are
//! independent, so their loads overlap. A block's features are converted
//! once (f32, categorical codes renumbered to the training levels), so the
//! whole table is never copied.

use crate::data::level_map;
use crate::model::{Feature, Model, Tree, CATEGORICAL, LEAF_BIT, MISSING_LEFT};
use trainhost_sdk::{ColumnData, Table, MISSING_CODE};

/// Rows that walk a tree together: their features (28 × 256 × 4 bytes for a
/// table like the benchmark's) and node cursors stay in the L1 cache.
const BLOCK: usize = 256;

const NUMERIC: u8 = 0;
const NUMERIC_MISSING_LEFT: u8 = 1;
const LEVELS: u8 = 2;
const LEAF: u8 = 3;

/// One node of the flattened forest. `next[1]` is the left child, `next[0]`
/// the right one; a leaf's are itself and `value` is its output.
#[derive(Clone, Copy)]
struct Node {
    /// Numeric threshold (left if x <= thr), a categorical split's offset in
    /// `Flat::words`, or a leaf's value (as f32 bits for the offset).
    value: f32,
    feature: u32,
    kind: u8,
    next: [u32; 2],
}

/// Every tree's nodes in one array: tree t's internal nodes are
/// `roots[t]..ends[t]`, its leaves follow them.
struct Flat {
    nodes: Vec<Node>,
    roots: Vec<u32>,
    ends: Vec<u32>,
    words: Vec<u32>,
    n_levels: Vec<u32>,
    categorical: bool,
}

impl Flat {
    fn new(model: &Model) -> Flat {
        let n_levels: Vec<u32> = model.features.iter().map(|f| f.levels.as_ref().map_or(0, |l| l.len() as u32)).collect();
        let total: usize = model.trees.iter().map(|t| t.feature.len() + t.leaf.len()).sum();
        let mut flat = Flat { nodes: Vec::with_capacity(total), roots: Vec::new(), ends: Vec::new(), words: Vec::new(), n_levels, categorical: false };
        model.trees.iter().for_each(|t| flat.push(t));
        flat
    }

    /// Appends one tree (already checked by the loader: every child and
    /// bitset index in bounds), its leaves after its internal nodes.
    fn push(&mut self, t: &Tree) {
        let base = self.nodes.len() as u32;
        let n = t.feature.len() as u32;
        let word_base = self.words.len() as u32;
        self.words.extend(&t.words);
        let at = |c: u16| if c & LEAF_BIT != 0 { base + n + u32::from(c & !LEAF_BIT) } else { base + u32::from(c) };
        for i in 0..t.feature.len() {
            let (kind, value) = if t.flags[i] & CATEGORICAL != 0 {
                self.categorical = true;
                (LEVELS, f32::from_bits(word_base + t.thr[i].to_bits()))
            } else if t.flags[i] & MISSING_LEFT != 0 {
                (NUMERIC_MISSING_LEFT, t.thr[i])
            } else {
                (NUMERIC, t.thr[i])
            };
            self.nodes.push(Node { value, feature: u32::from(t.feature[i]), kind, next: [at(t.right[i]), at(t.left[i])] });
        }
        for (l, &v) in t.leaf.iter().enumerate() {
            let me = base + n + l as u32;
            self.nodes.push(Node { value: v, feature: 0, kind: LEAF, next: [me, me] });
        }
        self.roots.push(base);
        self.ends.push(base + n);
    }

    /// Whether a row whose feature value is `v` goes left at node `n`.
    #[inline(always)]
    fn left<const CAT: bool>(&self, n: &Node, v: f32) -> bool {
        if CAT && n.kind == LEVELS {
            let code = v.to_bits();
            let f = n.feature as usize;
            let offset = n.value.to_bits() as usize;
            // Unseen and missing levels (codes past the training levels) go right.
            return code < self.n_levels[f] && (self.words[offset + (code / 32) as usize] >> (code % 32)) & 1 == 1;
        }
        // NaN fails `v <= thr`; a node whose missing values go left takes it anyway.
        (v <= n.value) | (v.is_nan() & (n.kind == NUMERIC_MISSING_LEFT))
    }

    /// Adds tree `t`'s leaf values for the block's rows (`x` row-major,
    /// `width` values a row) to `sums`. `active` lists the rows still inside
    /// the tree: a row that reaches its leaf drops out (a branch-free
    /// compaction), so a level costs only the rows still walking.
    fn add_tree<const CAT: bool>(&self, t: usize, x: &[f32], width: usize, walk: &mut Walk, sums: &mut [f64]) {
        let (root, end) = (self.roots[t], self.ends[t]);
        let b = sums.len();
        let cursor = &mut walk.cursor[..b];
        cursor.fill(root);
        if root < end {
            let active = &mut walk.active[..b];
            active.iter_mut().enumerate().for_each(|(i, a)| *a = i as u32);
            let mut n_active = b;
            while n_active > 0 {
                let mut kept = 0;
                for i in 0..n_active {
                    let r = active[i] as usize;
                    let n = &self.nodes[cursor[r] as usize];
                    let v = x[r * width + n.feature as usize];
                    let next = n.next[usize::from(self.left::<CAT>(n, v))];
                    cursor[r] = next;
                    active[kept] = r as u32;
                    kept += usize::from(next < end);
                }
                n_active = kept;
            }
        }
        for (s, &c) in sums.iter_mut().zip(cursor.iter()) {
            *s += f64::from(self.nodes[c as usize].value);
        }
    }
}

/// A block's walk state: each row's current node, and the rows not yet at a leaf.
struct Walk {
    cursor: Vec<u32>,
    active: Vec<u32>,
}

/// A model feature's column in the table.
enum Input<'a> {
    Numeric(&'a [f64]),
    /// The table's codes and, per table level, the training level's code.
    Levels(&'a [u32], Vec<u32>),
}

impl Input<'_> {
    /// Writes rows `start..start + out.len() / width` of this feature into
    /// column `f` of the row-major block `out`.
    fn fill(&self, start: usize, f: usize, width: usize, out: &mut [f32]) {
        let cells = out.iter_mut().skip(f).step_by(width);
        match self {
            Input::Numeric(v) => cells.zip(&v[start..]).for_each(|(o, &v)| *o = v as f32),
            Input::Levels(codes, map) => {
                for (o, &code) in cells.zip(&codes[start..]) {
                    *o = f32::from_bits(map.get(code as usize).copied().unwrap_or(MISSING_CODE));
                }
            }
        }
    }
}

/// The table's column for each of the model's features, matched by name.
fn inputs<'a>(features: &[Feature], table: &'a Table) -> Result<Vec<Input<'a>>, String> {
    let rows = table.rows as usize;
    let mut out = Vec::with_capacity(features.len());
    for feature in features {
        let column = table
            .columns
            .iter()
            .find(|c| c.name == feature.name)
            .ok_or_else(|| format!("column {:?} is missing; the model was trained on it", feature.name))?;
        if column.data.len() != rows {
            return Err(format!("column {:?} has {} values but the table {rows} rows", column.name, column.data.len()));
        }
        out.push(match (&column.data, &feature.levels) {
            (ColumnData::Numeric(v), None) => Input::Numeric(v),
            (ColumnData::Categorical(c), Some(levels)) => Input::Levels(&c.codes, level_map(levels, &c.levels)),
            (ColumnData::Numeric(_), Some(_)) => return Err(format!("column {:?} is numeric but was categorical in training", feature.name)),
            (ColumnData::Categorical(_), None) => return Err(format!("column {:?} is categorical but was numeric in training", feature.name)),
        });
    }
    Ok(out)
}

/// Raw scores, output-major (`raw[output * rows + row]`): the starting
/// scores plus every tree (tree t adds to output t % outputs).
pub fn raw_scores(model: &Model, table: &Table) -> Result<Vec<f64>, String> {
    let rows = table.rows as usize;
    let inputs = inputs(&model.features, table)?;
    let flat = Flat::new(model);
    let width = model.features.len().max(1);
    let k = model.init.len();
    let mut raw = vec![0.0f64; rows * k];
    let mut x = vec![0f32; BLOCK * width];
    let mut walk = Walk { cursor: vec![0; BLOCK], active: vec![0; BLOCK] };
    let mut sums = vec![0.0f64; BLOCK * k];
    for start in (0..rows).step_by(BLOCK) {
        let b = BLOCK.min(rows - start);
        let x = &mut x[..b * width];
        inputs.iter().enumerate().for_each(|(f, input)| input.fill(start, f, width, x));
        for (c, &init) in model.init.iter().enumerate() {
            sums[c * BLOCK..c * BLOCK + b].fill(init);
        }
        for t in 0..model.trees.len() {
            let s = &mut sums[(t % k) * BLOCK..(t % k) * BLOCK + b];
            if flat.categorical {
                flat.add_tree::<true>(t, x, width, &mut walk, s);
            } else {
                flat.add_tree::<false>(t, x, width, &mut walk, s);
            }
        }
        for c in 0..k {
            raw[c * rows + start..c * rows + start + b].copy_from_slice(&sums[c * BLOCK..c * BLOCK + b]);
        }
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;
    use trainhost_sdk::{Categorical, Column};

    /// A random valid tree of at most `max_nodes` nodes over feature 0
    /// (numeric) and 1 (categorical, 40 levels): nodes are numbered as they
    /// are created, so a child always comes after its parent.
    fn random_tree(rng: &mut Rng, max_nodes: usize) -> Tree {
        let mut t = Tree::default();
        let (mut made, mut leaves) = (usize::from(max_nodes > 0), 0u16);
        let mut i = 0;
        while i < made {
            let mut kids = [0u16; 2];
            for k in &mut kids {
                *k = if made < max_nodes && rng.below(3) > 0 {
                    made += 1;
                    (made - 1) as u16
                } else {
                    leaves += 1;
                    LEAF_BIT | (leaves - 1)
                };
            }
            let categorical = rng.below(3) == 0;
            t.feature.push(u16::from(categorical));
            t.flags.push(if categorical { CATEGORICAL } else { rng.below(2) as u8 * MISSING_LEFT });
            if categorical {
                t.thr.push(f32::from_bits(t.words.len() as u32));
                t.words.extend([rng.next_u64() as u32, rng.next_u64() as u32]);
            } else {
                t.thr.push(rng.below(100) as f32 / 10.0 - 5.0);
            }
            t.left.push(kids[0]);
            t.right.push(kids[1]);
            i += 1;
        }
        t.leaf = (0..leaves.max(1)).map(|l| f32::from(l) * 0.25 - 1.0).collect();
        t
    }

    /// The plain walk, one row at a time, as the format defines it.
    fn walk(t: &Tree, x: f32, code: u32) -> f32 {
        if t.feature.is_empty() {
            return t.leaf[0];
        }
        let mut i = 0;
        loop {
            let left = if t.flags[i] & CATEGORICAL != 0 {
                code < 40 && (t.words[t.thr[i].to_bits() as usize + (code / 32) as usize] >> (code % 32)) & 1 == 1
            } else {
                x <= t.thr[i] || (x.is_nan() && t.flags[i] & MISSING_LEFT != 0)
            };
            let c = if left { t.left[i] } else { t.right[i] };
            if c & LEAF_BIT != 0 {
                return t.leaf[(c & !LEAF_BIT) as usize];
            }
            i = c as usize;
        }
    }

    #[test]
    fn block_walk_matches_the_plain_walk() {
        let mut rng = Rng::new(7, 0, 0);
        let levels: Vec<String> = (0..40).map(|l| format!("l{l}")).collect();
        let mut trees: Vec<Tree> = (0..60).map(|i| random_tree(&mut rng, i % 20)).collect();
        trees.push(Tree { leaf: vec![0.5], ..Tree::default() });
        let features = vec![Feature { name: "x".into(), levels: None }, Feature { name: "c".into(), levels: Some(levels.clone()) }];
        let model = Model { objective: 1, classes: vec!["a".into(), "b".into(), "c".into()], features, init: vec![0.1, -0.2, 0.3], trees };
        let model = crate::codec::from_bytes(&crate::codec::to_bytes(&model)).expect("the loader accepts the random trees");
        // 700 rows: blocks of 256 and a partial one; some values missing, some levels unseen.
        let rows = 700;
        let x: Vec<f64> = (0..rows).map(|r| if r % 11 == 0 { f64::NAN } else { rng.below(120) as f64 / 10.0 - 6.0 }).collect();
        let mut table_levels = levels.clone();
        table_levels.reverse();
        table_levels.push("never seen".into());
        let codes: Vec<u32> = (0..rows).map(|r| if r % 13 == 0 { MISSING_CODE } else { rng.below(41) as u32 }).collect();
        let table = Table {
            rows: rows as u32,
            columns: vec![
                Column { name: "c".into(), data: ColumnData::Categorical(Categorical { codes: codes.clone(), levels: table_levels }) },
                Column { name: "x".into(), data: ColumnData::Numeric(x.clone()) },
            ],
        };
        let raw = raw_scores(&model, &table).expect("scores");
        for r in 0..rows {
            // The table's levels are reversed: code c is training level 39 - c; 40 is unseen.
            let code = match codes[r] {
                MISSING_CODE | 40 => MISSING_CODE,
                c => 39 - c,
            };
            for k in 0..3 {
                let want: f64 = model.init[k] + model.trees.iter().skip(k).step_by(3).map(|t| f64::from(walk(t, x[r] as f32, code))).sum::<f64>();
                assert!((raw[k * rows + r] - want).abs() < 1e-9, "row {r} output {k}: {} vs {want}", raw[k * rows + r]);
            }
        }
    }
}
