//! The model's bytes (layout in `crate::model`): writing them, and reading
//! them back with every count, index and kind checked, so a damaged or
//! hostile model is refused with a reason instead of a trap.

use crate::model::{Feature, Model, Tree};

const MAGIC: &[u8; 4] = b"TGB1";
const VERSION: u16 = 1;
const LEAF_BIT: u16 = 0x8000;
const CATEGORICAL: u8 = 2;
const N_OBJECTIVES: u8 = 7;

pub fn to_bytes(m: &Model) -> Vec<u8> {
    let mut w = Vec::new();
    w.extend_from_slice(MAGIC);
    w.extend(VERSION.to_le_bytes());
    w.push(m.objective);
    w.push(0);
    put_u32(&mut w, m.features.len() as u32);
    for f in &m.features {
        put_str(&mut w, &f.name);
        match &f.levels {
            None => w.push(0),
            Some(levels) => {
                w.push(1);
                put_strs(&mut w, levels);
            }
        }
    }
    put_strs(&mut w, &m.classes);
    put_u32(&mut w, m.init.len() as u32);
    m.init.iter().for_each(|v| w.extend(v.to_le_bytes()));
    put_u32(&mut w, m.trees.len() as u32);
    for t in &m.trees {
        w.extend((t.feature.len() as u16).to_le_bytes());
        put_u32(&mut w, t.words.len() as u32);
        t.feature.iter().for_each(|v| w.extend(v.to_le_bytes()));
        w.extend_from_slice(&t.flags);
        t.thr.iter().for_each(|v| w.extend(v.to_le_bytes()));
        t.left.iter().chain(&t.right).for_each(|v| w.extend(v.to_le_bytes()));
        t.leaf.iter().for_each(|v| w.extend(v.to_le_bytes()));
        t.words.iter().for_each(|v| w.extend(v.to_le_bytes()));
    }
    w
}

pub fn from_bytes(bytes: &[u8]) -> Result<Model, String> {
    let mut r = Reader { bytes, at: 0 };
    if r.take(4)? != MAGIC {
        return Err("not a gbdt model (bad magic)".into());
    }
    let version = u16::from_le_bytes(r.array()?);
    if version != VERSION {
        return Err(format!("model format version {version}; this plugin reads version {VERSION}"));
    }
    let objective = r.u8()?;
    if objective >= N_OBJECTIVES {
        return Err(format!("unknown objective code {objective}"));
    }
    r.u8()?;
    let features = r.features()?;
    let classes = r.strs()?;
    let n_outputs = r.u32()? as usize;
    let want_outputs = match objective {
        0 if classes.len() == 2 => 1,
        1 if classes.len() > 2 => classes.len(),
        2..=6 if classes.is_empty() => 1,
        _ => return Err(format!("objective {objective} does not fit {} classes", classes.len())),
    };
    if n_outputs != want_outputs {
        return Err(format!("{n_outputs} outputs where the objective has {want_outputs}"));
    }
    let init = r.vec(n_outputs, f64::from_le_bytes)?;
    let n_trees = r.u32()? as usize;
    // Each tree takes at least 10 bytes: refuse counts the bytes cannot hold.
    if n_trees > r.left() / 10 {
        return Err("truncated model".into());
    }
    let mut trees = Vec::with_capacity(n_trees);
    for i in 0..n_trees {
        let tree = r.tree()?;
        check_tree(&tree, &features).map_err(|e| format!("tree {i}: {e}"))?;
        trees.push(tree);
    }
    if r.at != bytes.len() {
        return Err(format!("{} unexpected bytes after the last tree", bytes.len() - r.at));
    }
    Ok(Model { objective, classes, features, init, trees })
}

/// Every feature, child, leaf and bitset index stays in bounds, and every
/// child node comes after its parent.
fn check_tree(t: &Tree, features: &[Feature]) -> Result<(), String> {
    let n = t.feature.len();
    let n_leaves = t.leaf.len();
    for i in 0..n {
        let f = t.feature[i] as usize;
        let feature = features.get(f).ok_or_else(|| format!("node {i} uses feature {f} of {}", features.len()))?;
        for c in [t.left[i], t.right[i]] {
            let bad = if c & LEAF_BIT != 0 { (c & !LEAF_BIT) as usize >= n_leaves } else { (c as usize) <= i || c as usize >= n };
            if bad {
                return Err(format!("node {i} has a child out of range ({c})"));
            }
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
    fn left(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or("truncated model")?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        self.take(N)?.try_into().map_err(|_| "truncated model".to_string())
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
        // Each string takes at least 4 bytes.
        if n > self.left() / 4 {
            return Err("truncated model".into());
        }
        (0..n).map(|_| self.str()).collect()
    }

    fn features(&mut self) -> Result<Vec<Feature>, String> {
        let n = self.u32()? as usize;
        if n > self.left() / 5 {
            return Err("truncated model".into());
        }
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let name = self.str()?;
            let levels = match self.u8()? {
                0 => None,
                1 => Some(self.strs()?),
                k => return Err(format!("unknown feature kind {k}")),
            };
            out.push(Feature { name, levels });
        }
        Ok(out)
    }

    fn vec<T, const N: usize>(&mut self, n: usize, f: fn([u8; N]) -> T) -> Result<Vec<T>, String> {
        let raw = self.take(n.checked_mul(N).ok_or("truncated model")?)?;
        Ok(raw.chunks_exact(N).map(|c| f(c.try_into().unwrap_or([0; N]))).collect())
    }

    fn tree(&mut self) -> Result<Tree, String> {
        let n = u16::from_le_bytes(self.array()?) as usize;
        let n_words = self.u32()? as usize;
        Ok(Tree {
            feature: self.vec(n, u16::from_le_bytes)?,
            flags: self.vec(n, |[b]: [u8; 1]| b)?,
            thr: self.vec(n, f32::from_le_bytes)?,
            left: self.vec(n, u16::from_le_bytes)?,
            right: self.vec(n, u16::from_le_bytes)?,
            leaf: self.vec(n + 1, f32::from_le_bytes)?,
            words: self.vec(n_words, u32::from_le_bytes)?,
        })
    }
}
