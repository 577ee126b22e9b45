//! A plugin exactly as one was written before contract 0.3.0: bindings of the
//! frozen `wit/v0.2/plugin.wit` (trainhost:plugin@0.2.0), no SDK, one result
//! table, no cost estimate (0.2.0 has none). It predicts the training mean or
//! the majority class, so a job on it completes; the host tests prove such a
//! plugin still loads, trains and is admitted as before.
#![cfg(target_arch = "wasm32")]
wit_bindgen::generate!({ path: "../../wit/v0.2", world: "trainhost:plugin/plugin@0.2.0", generate_all });

use exports::trainhost::plugin0_2_0::trainer::{Guest, Trained};
use trainhost::plugin0_1_0::host::report_epoch;
use trainhost::plugin0_1_0::types::*;
use trainhost::plugin0_2_0::tables::{Cell, ResultTable};

struct Component;

const MISSING: u32 = u32::MAX;

impl Guest for Component {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "test_contract_v020".into(),
            version: "0.2.0".into(),
            description: "contract 0.2.0 fixture: mean or majority class".into(),
            tasks: vec![Task::Classification, Task::Regression],
            params: vec![],
        }
    }

    fn train(request: TrainRequest) -> Result<Trained, TrainError> {
        let rows = request.train.features.rows;
        let model = match request.train.target {
            Some(ColumnData::Numeric(v)) => {
                let known: Vec<f64> = v.into_iter().filter(|x| x.is_finite()).collect();
                let mean = known.iter().sum::<f64>() / known.len().max(1) as f64;
                let mut bytes = vec![0u8];
                bytes.extend(mean.to_le_bytes());
                bytes
            }
            Some(ColumnData::Categorical(c)) => {
                let mut counts = vec![0u32; c.levels.len()];
                for &k in c.codes.iter().filter(|&&k| k != MISSING) {
                    if let Some(n) = counts.get_mut(k as usize) {
                        *n += 1;
                    }
                }
                let best = (0..counts.len()).max_by_key(|&i| counts[i]).unwrap_or(0) as u32;
                let mut bytes = vec![1u8];
                bytes.extend(best.to_le_bytes());
                bytes.extend((c.levels.len() as u32).to_le_bytes());
                bytes
            }
            None => return Err(TrainError::InvalidData("this fixture needs a target".into())),
        };
        report_epoch(1, 1, &[]);
        let table = ResultTable {
            name: "fixture".into(),
            title: "Rows trained on".into(),
            columns: vec!["rows".into()],
            rows: vec![vec![Cell::Number(f64::from(rows))]],
        };
        Ok(Trained { model: TrainedModel { model, metrics: vec![], feature_importances: None, cluster_sizes: None }, tables: vec![table] })
    }

    fn predict(model: Vec<u8>, features: Table) -> Result<Predictions, PredictError> {
        let rows = features.rows as usize;
        let word = |at: usize| model.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        match model.first() {
            Some(0) if model.len() == 9 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&model[1..9]);
                Ok(Predictions::Values(vec![f64::from_le_bytes(b); rows]))
            }
            Some(1) => match (word(1), word(5)) {
                (Some(label), Some(n)) => Ok(Predictions::Classes(ClassPredictions { labels: vec![label; rows], probabilities: None, n_classes: n })),
                _ => Err(PredictError::InvalidModel("truncated".into())),
            },
            _ => Err(PredictError::InvalidModel("not a model of this fixture".into())),
        }
    }
}

export!(Component);
