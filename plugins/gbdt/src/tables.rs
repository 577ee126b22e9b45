//! The result table a boosted model is returned with (contract 0.2.0): one
//! row per training column, with its importance by gain, by split count and
//! by cover, most gain first.
//!
//! Only formats what training counted (result.rs); must not change it.

use crate::result::Importance;
use trainhost_sdk::{Cell, ColumnData, ResultTable, Table};

const TITLE: &str = "Feature importances: total split gain (and its share, summing to 1), number of splits, and cover \
                     (mean hessian sum of the training rows a split divides), over the trees the model keeps";

pub fn importances(train: &Table, imp: &Importance) -> ResultTable {
    let mut table = ResultTable::new("feature_importances", TITLE, &["feature", "type", "gain", "gain_share", "splits", "cover"]);
    let total: f64 = imp.gain.iter().sum();
    let n = train.columns.len().min(imp.gain.len());
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| imp.gain[b].total_cmp(&imp.gain[a]).then(imp.splits[b].cmp(&imp.splits[a])).then(a.cmp(&b)));
    for c in order {
        let column = &train.columns[c];
        let kind = match column.data {
            ColumnData::Numeric(_) => "numeric",
            ColumnData::Categorical(_) => "categorical",
        };
        let share = if total > 0.0 { imp.gain[c] / total } else { 0.0 };
        let cover = if imp.splits[c] > 0 { imp.cover[c] / imp.splits[c] as f64 } else { f64::NAN };
        table.push(vec![
            column.name.as_str().into(),
            kind.into(),
            Cell::from(imp.gain[c]),
            Cell::from(share),
            Cell::from(imp.splits[c] as f64),
            Cell::from(cover),
        ]);
    }
    table
}
