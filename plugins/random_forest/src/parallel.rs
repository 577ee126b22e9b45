//! The forest grown by several instances of one job (contract 0.4.0): how
//! the ranks' trees, importances and scores come together on rank 0 so that
//! the model is, byte for byte, the one a single instance grows.
//!
//! Owns the exchange format between ranks (never stored: a part lives for
//! one gather). Growing trees is `forest`'s; this module only combines.

use crate::data::Prepared;
use crate::forest::{self, Grown};
use crate::model::{Model, Tree};
use crate::params::Settings;
use trainhost_sdk::team::Team;
use trainhost_sdk::TrainError;

/// At most this many instances per job: beyond it the trees per instance
/// get too few to repay an instance's copy of the table.
pub const MAX_INSTANCES: u32 = 64;

/// How random_forest trains in parallel: a copy of every row per instance, trees split by rank.
#[cfg(feature = "parallel")]
pub fn describe() -> Option<trainhost_sdk::team::Parallelism> {
    Some(trainhost_sdk::team::Parallelism { rows: trainhost_sdk::team::Rows::Copy, max_instances: MAX_INSTANCES })
}

fn failed(why: String) -> TrainError {
    TrainError::Failed(format!("combining the instances' trees: {why}"))
}

/// Rank 0 ends with every tree in tree order and the importances added up
/// in tree order; the other ranks keep their own trees. (The out-of-bag and
/// validation scores were added up at the forest's last report.)
pub(crate) fn combine(team: &dyn Team, data: &Prepared, settings: &Settings, grown: &mut Grown) -> Result<(), TrainError> {
    let (features, classes) = forest::header(data);
    let part =
        Part { trees: std::mem::take(&mut grown.trees), per_tree: std::mem::take(&mut grown.per_tree), depth: grown.depth_sum, leaves: grown.leaves_sum };
    let parts = team.gather(&part.to_bytes(features.clone(), classes.clone())).map_err(failed)?;
    if team.rank() != 0 {
        grown.trees = part.trees;
        return Ok(());
    }
    let mut parts: Vec<Part> = parts.iter().map(|bytes| Part::from_bytes(bytes)).collect::<Result<_, _>>().map_err(failed)?;
    let size = parts.len();
    grown.depth_sum = parts.iter().map(|p| p.depth).sum();
    grown.leaves_sum = parts.iter().map(|p| p.leaves).sum();
    let mut trees = Vec::with_capacity(settings.n_trees);
    for t in 0..settings.n_trees {
        let part = &mut parts[t % size];
        let (tree, importance) = (part.trees.get_mut(t / size), part.per_tree.get(t / size));
        let (Some(tree), Some(importance)) = (tree, importance) else { return Err(failed(format!("tree {t} is missing"))) };
        trees.push(std::mem::take(tree));
        grown.importance.iter_mut().zip(importance).for_each(|(total, v)| *total += v);
    }
    grown.trees = trees;
    Ok(())
}

/// One rank's trees (in its order: t = rank, rank + K, ...) with their
/// normalised importances, depths and leaves.
struct Part {
    trees: Vec<Tree>,
    per_tree: Vec<Vec<f64>>,
    depth: usize,
    leaves: usize,
}

impl Part {
    /// The trees as a model (its own reader checks them on the way back),
    /// then the counts and each tree's importances.
    fn to_bytes(&self, features: Vec<crate::model::Feature>, classes: Vec<String>) -> Vec<u8> {
        let model = Model { classes, features, trees: self.trees.clone() }.to_bytes();
        let mut out = Vec::with_capacity(model.len() + 16 + self.per_tree.iter().map(|v| v.len() * 8).sum::<usize>());
        out.extend((model.len() as u64).to_le_bytes());
        out.extend(&model);
        out.extend((self.depth as u64).to_le_bytes());
        out.extend((self.leaves as u64).to_le_bytes());
        for tree in &self.per_tree {
            tree.iter().for_each(|v| out.extend(v.to_le_bytes()));
        }
        out
    }

    fn from_bytes(bytes: &[u8]) -> Result<Part, String> {
        let word = |at: usize| -> Result<u64, String> {
            let slice = bytes.get(at..at + 8).ok_or("a part ends early")?;
            Ok(u64::from_le_bytes(slice.try_into().map_err(|_| "a part ends early")?))
        };
        let len = word(0)? as usize;
        let model = Model::from_bytes(bytes.get(8..8 + len).ok_or("a part ends early")?)?;
        let (depth, leaves) = (word(8 + len)? as usize, word(16 + len)? as usize);
        let rest = &bytes[24 + len..];
        let n = model.features.len();
        if rest.len() != model.trees.len() * n * 8 {
            return Err("a part's importances do not match its trees".into());
        }
        let values: Vec<f64> = rest.chunks_exact(8).map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])).collect();
        let per_tree = if n == 0 { vec![Vec::new(); model.trees.len()] } else { values.chunks(n).map(<[f64]>::to_vec).collect() };
        Ok(Part { trees: model.trees, per_tree, depth, leaves })
    }
}
