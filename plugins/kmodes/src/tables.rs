//! The result table a kmodes model is returned with (contract 0.2.0): one row
//! per cluster with its size, its mode in each categorical column and, for
//! K-Prototypes, its prototype's mean in each numeric column (original units).
//!
//! Only formats what the model already holds; must not change it.

use crate::data::CatSource;
use crate::model::Model;
use trainhost_sdk::{Cell, ResultTable};

pub fn clusters(model: &Model, sizes: &[u64]) -> ResultTable {
    let (m, p) = (model.schema.cat.len(), model.schema.num.len());
    let mut columns = vec!["cluster".to_string(), "size".to_string()];
    columns.extend(model.schema.cat.iter().map(|c| c.name.clone()));
    columns.extend(model.schema.num.iter().map(|c| format!("{} (mean)", c.name)));
    let names: Vec<&str> = columns.iter().map(String::as_str).collect();
    let title = if p == 0 { "Cluster modes" } else { "Cluster prototypes: modes and means" };
    let mut table = ResultTable::new("clusters", title, &names);
    for c in 0..model.k {
        let mut row: Vec<Cell> = vec![Cell::Number(c as f64), sizes.get(c).map_or(Cell::Empty, |&s| Cell::Number(s as f64))];
        for (j, column) in model.schema.cat.iter().enumerate() {
            let level = model.modes.get(c * m + j).map(|&l| l as usize);
            row.push(match (&column.source, level) {
                (CatSource::Levels(levels), Some(l)) => levels.get(l).map_or(Cell::Empty, |s| Cell::Text(s.clone())),
                (CatSource::Values(values), Some(l)) => values.get(l).map_or(Cell::Empty, |&v| Cell::from(v)),
                (_, None) => Cell::Empty,
            });
        }
        for (j, column) in model.schema.num.iter().enumerate() {
            // Means are kept in standardised units when the columns were standardised.
            let mean = model.means.get(c * p + j).map_or(f64::NAN, |&v| v * column.scale + column.shift);
            row.push(Cell::from(mean));
        }
        table.push(row);
    }
    table
}
