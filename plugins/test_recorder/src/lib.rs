//! A test fixture named `recorder`: it learns nothing, but remembers every row
//! it was handed. Its model is the task and a digest of each row of the
//! training and validation tables; `predict` answers, for each row, whether it
//! was one of them (classification: class 1 if seen, else 0; regression: 1.0 or
//! 0.0; clustering: cluster 1 or 0). Its metrics are how many rows each table
//! had, and how many validation rows were also in the training table.
//!
//! The host's tests use it to prove that the rows the host judges a model on
//! never reached the plugin. A test may also mark rows the plugin must never
//! be handed, with a number column named `forbidden` that is not 0: `train`
//! refuses a table holding such a row (invalid-data), so a run that completes
//! proves no call of it received one. Owns only this bookkeeping: a row is told apart by
//! its feature values, so the tables it is used with must not repeat a row.

use std::collections::HashSet;

use trainhost_sdk::{splitmix64, ColumnData, Table, Task};

/// One row's digest: its feature values, column by column, mixed into 64 bits.
pub fn row_digest(table: &Table, row: usize) -> u64 {
    let mut state = 0u64;
    for column in &table.columns {
        let value = match &column.data {
            ColumnData::Numeric(values) => canonical_bits(values[row]),
            ColumnData::Categorical(categorical) => u64::from(categorical.codes[row]),
        };
        // splitmix64 returns the mixed value; its state only steps by a constant.
        let mut step = state ^ value;
        state = splitmix64(&mut step);
    }
    state
}

/// The same bits for every NaN, and for 0.0 and -0.0.
fn canonical_bits(x: f64) -> u64 {
    if x.is_nan() {
        f64::NAN.to_bits()
    } else if x == 0.0 {
        0
    } else {
        x.to_bits()
    }
}

/// The name of the column that marks rows `train` must never be handed.
pub const FORBIDDEN: &str = "forbidden";

/// How many rows of `table` are marked forbidden.
pub fn forbidden_rows(table: &Table) -> usize {
    let marked = |values: &Vec<f64>| values.iter().filter(|v| **v != 0.0 && !v.is_nan()).count();
    table.columns.iter().filter(|c| c.name == FORBIDDEN).map(|c| if let ColumnData::Numeric(values) = &c.data { marked(values) } else { 0 }).sum()
}

pub fn digests(table: &Table) -> Vec<u64> {
    (0..table.rows as usize).map(|row| row_digest(table, row)).collect()
}

fn task_code(task: Task) -> u8 {
    match task {
        Task::Classification => 0,
        Task::Regression => 1,
        Task::Clustering => 2,
    }
}

/// The model: the task's code, then every digest seen, little-endian.
pub fn encode_model(task: Task, seen: &HashSet<u64>) -> Vec<u8> {
    let mut sorted: Vec<u64> = seen.iter().copied().collect();
    sorted.sort_unstable();
    let mut model = vec![task_code(task)];
    sorted.iter().for_each(|d| model.extend_from_slice(&d.to_le_bytes()));
    model
}

/// The task's code and the digests of a model written by `encode_model`.
pub fn decode_model(model: &[u8]) -> Option<(u8, HashSet<u64>)> {
    let (&task, digests) = model.split_first()?;
    if digests.len() % 8 != 0 {
        return None;
    }
    Some((task, digests.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect()))
}

#[cfg(target_arch = "wasm32")]
mod component {
    use std::collections::HashSet;

    use trainhost_sdk::*;

    use super::{decode_model, digests, encode_model, forbidden_rows};

    struct Component;

    impl Guest for Component {
        fn describe() -> PluginInfo {
            PluginInfo {
                name: "recorder".into(),
                version: "0.1.0".into(),
                description: "remembers the rows it was handed (test only)".into(),
                tasks: vec![Task::Classification, Task::Regression, Task::Clustering],
                params: vec![],
            }
        }

        fn train(request: TrainRequest) -> Result<Trained, TrainError> {
            let forbidden = forbidden_rows(&request.train.features) + request.validation.as_ref().map_or(0, |v| forbidden_rows(&v.features));
            if forbidden > 0 {
                return Err(TrainError::InvalidData(format!("handed {forbidden} rows marked `forbidden`")));
            }
            let train: HashSet<u64> = digests(&request.train.features).into_iter().collect();
            let validation = request.validation.as_ref().map(|v| digests(&v.features)).unwrap_or_default();
            let overlap = validation.iter().filter(|d| train.contains(d)).count();
            let metrics = vec![
                Metric { name: "train_rows".into(), value: f64::from(request.train.features.rows) },
                Metric { name: "validation_rows".into(), value: validation.len() as f64 },
                Metric { name: "validation_rows_also_in_train".into(), value: overlap as f64 },
            ];
            let seen: HashSet<u64> = train.into_iter().chain(validation).collect();
            Ok(Trained {
                model: TrainedModel { model: encode_model(request.task, &seen), metrics, feature_importances: None, cluster_sizes: None },
                tables: vec![],
            })
        }

        /// Declares no estimate: admitted as a 0.2.0 plugin would be.
        fn estimate(task: Task, params: Vec<Param>, shape: TableShape) -> Result<Option<Cost>, TrainError> {
            no_estimate(task, &params, &shape)
        }

        fn predict(model: Vec<u8>, features: Table) -> Result<Predictions, PredictError> {
            let (task, seen) = decode_model(&model).ok_or_else(|| PredictError::InvalidModel("not a recorder model".into()))?;
            let was_seen: Vec<bool> = digests(&features).iter().map(|d| seen.contains(d)).collect();
            Ok(match task {
                0 => Predictions::Classes(ClassPredictions { labels: was_seen.iter().map(|&s| u32::from(s)).collect(), probabilities: None, n_classes: 2 }),
                1 => Predictions::Values(was_seen.iter().map(|&s| f64::from(u8::from(s))).collect()),
                _ => Predictions::Clusters(was_seen.iter().map(|&s| u32::from(s)).collect()),
            })
        }
    }

    export_plugin!(Component);
}

#[cfg(test)]
mod tests {
    use super::*;
    use trainhost_sdk::{Categorical, Column};

    fn table() -> Table {
        Table {
            rows: 3,
            columns: vec![
                Column { name: "x".into(), data: ColumnData::Numeric(vec![1.0, -0.0, f64::NAN]) },
                Column { name: "c".into(), data: ColumnData::Categorical(Categorical { codes: vec![0, 1, 0], levels: vec!["a".into(), "b".into()] }) },
            ],
        }
    }

    #[test]
    fn forbidden_rows_are_counted_only_in_a_number_column_of_that_name() {
        let mut table = table();
        assert_eq!(forbidden_rows(&table), 0);
        table.columns.push(Column { name: FORBIDDEN.into(), data: ColumnData::Numeric(vec![0.0, 1.0, f64::NAN]) });
        assert_eq!(forbidden_rows(&table), 1);
    }

    #[test]
    fn rows_are_told_apart_and_a_model_reads_back() {
        let rows = digests(&table());
        assert_eq!(rows.iter().collect::<HashSet<_>>().len(), 3);
        let many = Table { rows: 10_000, columns: vec![Column { name: "x".into(), data: ColumnData::Numeric((0..10_000).map(f64::from).collect()) }] };
        assert_eq!(digests(&many).into_iter().collect::<HashSet<_>>().len(), 10_000, "no two rows share a digest");
        let seen: HashSet<u64> = rows.into_iter().collect();
        assert_eq!(decode_model(&encode_model(Task::Regression, &seen)), Some((1, seen)));
        assert_eq!(decode_model(&[0, 1, 2]), None);
    }
}
