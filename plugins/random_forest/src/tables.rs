//! The result table a forest is returned with (contract 0.2.0): each feature's
//! importance, what kind of importance it is, and the column's type, most
//! important first.
//!
//! Only formats what training computed; must not change it.

use crate::model::Model;
use trainhost_sdk::{Cell, ResultTable};

/// How the importances are computed (forest.rs): each tree's weighted impurity
/// decrease per feature, normalised per tree, averaged, normalised to sum 1.
const KIND: &str = "mean decrease in impurity";

pub fn importances(model: &Model, importances: &[f64]) -> ResultTable {
    let mut table =
        ResultTable::new("feature_importances", "Feature importances (mean decrease in impurity, summing to 1)", &["feature", "type", "importance", "kind"]);
    let mut order: Vec<usize> = (0..model.features.len().min(importances.len())).collect();
    order.sort_by(|&a, &b| importances[b].total_cmp(&importances[a]).then(a.cmp(&b)));
    for f in order {
        let feature = &model.features[f];
        let kind = if feature.levels.is_some() { "categorical" } else { "numeric" };
        table.push(vec![feature.name.as_str().into(), kind.into(), Cell::from(importances[f]), KIND.into()]);
    }
    table
}
