//! A plugin's own model bytes, decoded natively and used to predict, as
//! `predict` does with what a model file carries. The first byte picks the
//! plugin, the second the shape of the table predicted on.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trainhost_sdk::{Categorical, Column, ColumnData, Predictions, Table};

/// Up to 7 columns, each numeric or categorical by a bit of `shape`, 5 rows
/// with missing values and out-of-range codes among them.
fn table(shape: u8) -> Table {
    let n = (shape & 7) as usize;
    let columns = (0..n)
        .map(|i| {
            let data = if shape & (8 << (i % 4)) != 0 {
                ColumnData::Categorical(Categorical { codes: vec![0, 1, u32::MAX, 2, 7], levels: vec!["a".into(), "b".into(), "c".into()] })
            } else {
                ColumnData::Numeric(vec![0.5, -1.0, f64::NAN, 1e300, f64::INFINITY])
            };
            Column { name: format!("c{i}"), data }
        })
        .collect();
    Table { rows: 5, columns }
}

fn check(predictions: Predictions, rows: usize) {
    match predictions {
        Predictions::Classes(c) => {
            assert_eq!(c.labels.len(), rows);
            if let Some(p) = c.probabilities {
                assert_eq!(p.len(), rows * c.n_classes as usize);
            }
        }
        Predictions::Values(v) => assert_eq!(v.len(), rows),
        Predictions::Clusters(c) => assert_eq!(c.len(), rows),
    }
}

fuzz_target!(|data: &[u8]| {
    let [which, shape, model @ ..] = data else { return };
    let table = table(*shape);
    let predicted = match which % 3 {
        0 => random_forest::predict(model, &table).ok(),
        1 => kmodes::predict(model, &table).ok(),
        _ => baseline::predict(model, &table).ok(),
    };
    if let Some(predictions) = predicted {
        check(predictions, table.rows as usize);
    }
    if which % 3 == 0 {
        let _ = random_forest::class_labels(model);
    }
});
