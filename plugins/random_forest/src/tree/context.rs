//! What every tree of a forest is grown with, fixed for the whole forest: a
//! view of the binned matrix and the target, and the growth limits taken from
//! the parameters. Owns no buffer and nothing that changes while a tree grows.

use crate::data::{Binned, Target};
use crate::params::Settings;

/// The binned matrix and the target, with what is derived from them once.
pub struct DataView<'a> {
    pub binned: &'a Binned,
    pub target: &'a Target,
    /// 0 for regression.
    pub n_classes: usize,
    pub has_categorical: bool,
}

impl<'a> DataView<'a> {
    pub fn new(binned: &'a Binned, target: &'a Target) -> DataView<'a> {
        DataView { binned, target, n_classes: target.n_classes(), has_categorical: binned.features.iter().any(|f| f.is_categorical()) }
    }

    pub fn n_features(&self) -> usize {
        self.binned.features.len()
    }

    pub fn rows(&self) -> usize {
        self.binned.rows
    }

    pub fn col(&self, f: usize) -> &'a [u8] {
        self.binned.col(f)
    }

    pub fn n_bins(&self, f: usize) -> usize {
        self.binned.n_bins[f]
    }

    pub fn is_categorical(&self, f: usize) -> bool {
        self.binned.features[f].is_categorical()
    }

    /// Statistics per bin: [samples, weight, class weights... | weighted target sum].
    pub fn stats_width(&self) -> usize {
        if self.n_classes == 0 {
            3
        } else {
            2 + self.n_classes
        }
    }
}

/// When a node may be split, and how many features each split examines.
pub struct Limits {
    /// usize::MAX when unlimited.
    pub max_depth: usize,
    pub min_samples_split: usize,
    pub min_samples_leaf: usize,
    /// Non-constant features examined per split.
    pub mtry: usize,
}

impl Limits {
    pub fn new(settings: &Settings, n_features: usize) -> Limits {
        Limits {
            max_depth: settings.max_depth,
            min_samples_split: settings.min_samples_split,
            min_samples_leaf: settings.min_samples_leaf,
            mtry: settings.max_features.resolve(n_features),
        }
    }

    /// Whether a node of `n` distinct samples at `depth` may be split, before
    /// looking at its targets.
    pub fn allows_split(&self, n: usize, depth: usize) -> bool {
        depth < self.max_depth && n >= self.min_samples_split && n >= 2 * self.min_samples_leaf
    }
}
